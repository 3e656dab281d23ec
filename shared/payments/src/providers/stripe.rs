//! Stripe: PaymentIntents and Refunds, form-encoded, on a pinned API version.
//!
//! The customer pays in the browser with the PaymentIntent's client secret; Stripe captures on
//! its own and its webhook reports the payment. Every POST carries an `Idempotency-Key`
//! derived from our ids. Stripe remembers a key for 24 hours and replays the first answer to
//! it, including a 500.

use std::fmt;

use async_trait::async_trait;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Money, OrderId};
use serde::Deserialize;

use super::{decode, endpoint, ensure_provider, send};
use crate::{Capture, PaymentError, PaymentGateway, PaymentIntent, RefundAccepted, RefundRequest};

/// The API version our requests and their reading are written against. Pinned, so a change
/// of the account's default version cannot change the answers under us.
pub const API_VERSION: &str = "2024-06-20";

const NAME: &str = "stripe";

#[derive(Clone)]
pub struct Stripe {
    client: reqwest::Client,
    base_url: String,
    secret_key: String,
}

impl Stripe {
    /// `base_url` is `https://api.stripe.com` outside tests.
    pub fn new(client: reqwest::Client, base_url: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Stripe { client, base_url: base_url.into(), secret_key: secret_key.into() }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        idempotency_key: &str,
        form: &[(&str, String)],
    ) -> Result<T, PaymentError> {
        let request = self
            .client
            .post(endpoint(&self.base_url, segments)?)
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .form(form);
        decode(NAME, &send(NAME, request).await?, refusal)
    }
}

impl fmt::Debug for Stripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripe").field("base_url", &self.base_url).field("secret_key", &"<redacted>").finish()
    }
}

#[derive(Deserialize)]
struct IntentAnswer {
    id: String,
    client_secret: String,
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
    status: String,
    #[serde(default)]
    failure_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

/// Stripe's `{"error": {...}}`: a card error's `decline_code` (`insufficient_funds`) says more
/// than its `code` (`card_declined`).
fn refusal(body: &[u8]) -> Option<(String, String)> {
    let ErrorBody { error } = serde_json::from_slice(body).ok()?;
    let code = error.decline_code.or(error.code).or(error.kind)?;
    Some((code, error.message.unwrap_or_default()))
}

#[async_trait]
impl PaymentGateway for Stripe {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError> {
        ensure_provider(PaymentProvider::Stripe, provider)?;
        let form = [
            ("amount", amount.amount.to_string()),
            ("currency", amount.currency.code().to_ascii_lowercase()),
            ("metadata[order_id]", order.as_str().to_owned()),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
        ];
        let key = format!("cy-pi-{}", order.as_str());
        let answer: IntentAnswer = self.post(&["v1", "payment_intents"], &key, &form).await?;
        Ok(PaymentIntent {
            provider,
            reference: answer.id,
            amount,
            client_secret: Some(answer.client_secret),
            redirect_url: None,
        })
    }

    /// PaymentIntents capture automatically: nothing to do.
    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        _order: &OrderId,
        _reference: &str,
        _amount: Money,
    ) -> Result<Option<Capture>, PaymentError> {
        ensure_provider(PaymentProvider::Stripe, provider)?;
        Ok(None)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError> {
        ensure_provider(PaymentProvider::Stripe, request.provider)?;
        let form = [
            ("payment_intent", request.payment_id.clone()),
            ("amount", request.amount.amount.to_string()),
            ("metadata[order_id]", request.order_id.as_str().to_owned()),
            ("metadata[refund_id]", request.refund_id.as_str().to_owned()),
        ];
        let key = format!("cy-refund-{}", request.refund_id.as_str());
        let answer: RefundAnswer = self.post(&["v1", "refunds"], &key, &form).await?;
        let completed = match answer.status.as_str() {
            "succeeded" => true,
            "failed" | "canceled" => {
                return Err(PaymentError::Declined {
                    code: answer.failure_reason.unwrap_or_else(|| format!("refund_{}", answer.status)),
                    message: format!("Stripe refund {} is {}", answer.id, answer.status),
                });
            }
            // "pending", "requires_action", or a status newer than our API version: the
            // refund exists and its webhook will say how it ends.
            _ => false,
        };
        Ok(RefundAccepted { provider_refund_id: answer.id, completed })
    }

    /// Cancels the PaymentIntent: Stripe then refuses to confirm it. One that succeeded
    /// meanwhile is a decline (`payment_intent_unexpected_state`): its webhook refunds it.
    async fn close_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
    ) -> Result<(), PaymentError> {
        ensure_provider(PaymentProvider::Stripe, provider)?;
        let key = format!("cy-pi-cancel-{}", order.as_str());
        let form = [("cancellation_reason", "abandoned".to_owned())];
        let _: serde_json::Value = self.post(&["v1", "payment_intents", reference, "cancel"], &key, &form).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::testing::{client, closed_port, form, ids, impatient_client, money};
    use super::*;

    const KEY: &str = "sk_test_123";

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.sort();
        pairs
    }

    fn refund_request(payment_id: &str) -> RefundRequest {
        let (order_id, refund_id) = ids();
        RefundRequest {
            provider: PaymentProvider::Stripe,
            order_id,
            refund_id,
            payment_id: payment_id.to_owned(),
            amount: money(500, "USD"),
        }
    }

    /// A refund against a server that answers every request with `answer`.
    async fn refund_answered(answer: ResponseTemplate) -> Result<RefundAccepted, PaymentError> {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer).expect(1).mount(&server).await;
        Stripe::new(client(), server.uri(), KEY).refund(&refund_request("pi_1")).await
    }

    #[tokio::test]
    async fn create_payment_opens_a_payment_intent() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .and(header("Authorization", format!("Bearer {KEY}")))
            .and(header("Stripe-Version", "2024-06-20"))
            .and(header("Idempotency-Key", format!("cy-pi-{order}")))
            .and(header("Content-Type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "client_secret": "pi_1_secret_2", "status": "requires_payment_method"
            })))
            .expect(1)
            .mount(&server)
            .await;

        let stripe = Stripe::new(client(), server.uri(), KEY);
        let intent = stripe.create_payment(PaymentProvider::Stripe, &order, money(129_900, "INR")).await.unwrap();
        assert_eq!(
            intent,
            PaymentIntent {
                provider: PaymentProvider::Stripe,
                reference: "pi_1".to_owned(),
                amount: money(129_900, "INR"),
                client_secret: Some("pi_1_secret_2".to_owned()),
                redirect_url: None,
            }
        );
        let sent = &server.received_requests().await.unwrap()[0];
        assert_eq!(
            form(&sent.body),
            pairs(&[
                ("amount", "129900"),
                ("currency", "inr"),
                ("metadata[order_id]", order.as_str()),
                ("automatic_payment_methods[enabled]", "true"),
            ])
        );
    }

    #[tokio::test]
    async fn closing_cancels_the_payment_intent_once_per_order() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_1/cancel"))
            .and(header("Authorization", format!("Bearer {KEY}")))
            .and(header("Idempotency-Key", format!("cy-pi-cancel-{order}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "status": "canceled"})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_paid/cancel"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
                "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                "message": "You cannot cancel this PaymentIntent because it has a status of succeeded."}})))
            .mount(&server)
            .await;
        let stripe = Stripe::new(client(), server.uri(), KEY);
        assert_eq!(stripe.close_payment(PaymentProvider::Stripe, &order, "pi_1").await, Ok(()));
        let sent = &server.received_requests().await.unwrap()[0];
        assert_eq!(form(&sent.body), pairs(&[("cancellation_reason", "abandoned")]));
        let paid = stripe.close_payment(PaymentProvider::Stripe, &order, "pi_paid").await;
        assert!(
            matches!(&paid, Err(PaymentError::Declined { code, .. }) if code == "payment_intent_unexpected_state"),
            "{paid:?}"
        );
    }

    #[tokio::test]
    async fn capture_is_stripes_own_business() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        let stripe = Stripe::new(client(), server.uri(), KEY);
        let capture = stripe.capture_payment(PaymentProvider::Stripe, &order, "pi_1", money(1, "USD")).await;
        assert_eq!(capture, Ok(None));
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn refund_sends_the_same_idempotency_key_on_every_retry() {
        let server = MockServer::start().await;
        let request = refund_request("pi_1");
        Mock::given(method("POST"))
            .and(path("/v1/refunds"))
            .and(header("Authorization", format!("Bearer {KEY}")))
            .and(header("Stripe-Version", "2024-06-20"))
            .and(header("Idempotency-Key", format!("cy-refund-{}", request.refund_id)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "re_1", "status": "pending"})))
            .expect(2)
            .mount(&server)
            .await;

        let stripe = Stripe::new(client(), server.uri(), KEY);
        for _ in 0..2 {
            let accepted = stripe.refund(&request).await.unwrap();
            assert_eq!(accepted, RefundAccepted { provider_refund_id: "re_1".to_owned(), completed: false });
        }
        for sent in server.received_requests().await.unwrap() {
            assert_eq!(
                form(&sent.body),
                pairs(&[
                    ("payment_intent", "pi_1"),
                    ("amount", "500"),
                    ("metadata[order_id]", request.order_id.as_str()),
                    ("metadata[refund_id]", request.refund_id.as_str()),
                ])
            );
        }
    }

    #[tokio::test]
    async fn refund_statuses_map_to_completion_or_decline() {
        let ok = |status: &str| ResponseTemplate::new(200).set_body_json(json!({"id": "re_1", "status": status}));
        assert!(refund_answered(ok("succeeded")).await.unwrap().completed);
        assert!(!refund_answered(ok("requires_action")).await.unwrap().completed);
        let failed = ResponseTemplate::new(200)
            .set_body_json(json!({"id": "re_1", "status": "failed", "failure_reason": "expired_or_canceled_card"}));
        assert!(matches!(
            refund_answered(failed).await,
            Err(PaymentError::Declined { code, .. }) if code == "expired_or_canceled_card"
        ));
        assert!(matches!(
            refund_answered(ok("canceled")).await,
            Err(PaymentError::Declined { code, .. }) if code == "refund_canceled"
        ));
    }

    #[tokio::test]
    async fn card_errors_are_declines_with_stripes_code() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {
                "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds."
            }})))
            .expect(1)
            .mount(&server)
            .await;
        let stripe = Stripe::new(client(), server.uri(), KEY);
        let result = stripe.create_payment(PaymentProvider::Stripe, &order, money(100, "USD")).await;
        assert_eq!(
            result,
            Err(PaymentError::Declined {
                code: "insufficient_funds".to_owned(),
                message: "Your card has insufficient funds.".to_owned()
            })
        );

        let declined = ResponseTemplate::new(402)
            .set_body_json(json!({"error": {"type": "card_error", "code": "card_declined", "message": "Declined."}}));
        assert!(matches!(
            refund_answered(declined).await,
            Err(PaymentError::Declined { code, .. }) if code == "card_declined"
        ));
    }

    #[tokio::test]
    async fn failures_map_to_typed_errors() {
        let unavailable = |r: &Result<RefundAccepted, PaymentError>| matches!(r, Err(PaymentError::Unavailable(_)));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(500)).await));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(429)).await));
        assert_eq!(
            refund_answered(ResponseTemplate::new(401)).await,
            Err(PaymentError::NotConfigured("credentials refused".to_owned()))
        );
        let garbage = ResponseTemplate::new(200).set_body_string("<html>oops</html>");
        assert!(matches!(refund_answered(garbage).await, Err(PaymentError::Unknown(_))));
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_timeout_is_unknown() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            // A valid answer, so only the timeout can make this fail.
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "re_1", "status": "succeeded"}))
                    .set_delay(Duration::from_secs(2)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let result = Stripe::new(impatient_client(), server.uri(), KEY).refund(&refund_request("pi_1")).await;
        assert!(matches!(result, Err(PaymentError::Unknown(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let (order, _) = ids();
        let stripe = Stripe::new(client(), closed_port(), KEY);
        let result = stripe.create_payment(PaymentProvider::Stripe, &order, money(100, "USD")).await;
        assert!(matches!(result, Err(PaymentError::Unavailable(_))), "{result:?}");
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let shown = format!("{:?}", Stripe::new(client(), "https://api.stripe.com", KEY));
        assert!(!shown.contains(KEY), "{shown}");
    }
}
