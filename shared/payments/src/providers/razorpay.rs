//! Razorpay: Orders and Refunds, JSON bodies, HTTP basic auth with the key id and secret.
//!
//! We open a Razorpay order; the customer pays it in Razorpay Checkout, the account captures
//! payments automatically, and the webhook reports the payment.

use std::fmt;

use async_trait::async_trait;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Money, OrderId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{decode, endpoint, ensure_provider, send};
use crate::{Capture, PaymentError, PaymentGateway, PaymentIntent, RefundAccepted, RefundRequest};

const NAME: &str = "razorpay";

#[derive(Clone)]
pub struct Razorpay {
    client: reqwest::Client,
    base_url: String,
    key_id: String,
    key_secret: String,
}

impl Razorpay {
    /// `base_url` is `https://api.razorpay.com` outside tests.
    pub fn new(
        client: reqwest::Client,
        base_url: impl Into<String>,
        key_id: impl Into<String>,
        key_secret: impl Into<String>,
    ) -> Self {
        Razorpay { client, base_url: base_url.into(), key_id: key_id.into(), key_secret: key_secret.into() }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<T, PaymentError> {
        let mut request = self
            .client
            .post(endpoint(&self.base_url, segments)?)
            .basic_auth(&self.key_id, Some(&self.key_secret))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        decode(NAME, &send(NAME, request).await?, refusal)
    }
}

impl fmt::Debug for Razorpay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Razorpay")
            .field("base_url", &self.base_url)
            .field("key_id", &self.key_id)
            .field("key_secret", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct OrderAnswer {
    id: String,
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Razorpay's `{"error": {"code": "BAD_REQUEST_ERROR", "description", "reason"}}`; the
/// reason, when given, is the finer detail (`insufficient_funds`), kept in the message.
fn refusal(body: &[u8]) -> Option<(String, String)> {
    let ErrorBody { error } = serde_json::from_slice(body).ok()?;
    let message = match error.reason {
        Some(reason) if !reason.is_empty() && reason != "NA" => format!("{} ({reason})", error.description),
        _ => error.description,
    };
    Some((error.code, message))
}

#[async_trait]
impl PaymentGateway for Razorpay {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError> {
        ensure_provider(PaymentProvider::Razorpay, provider)?;
        // Razorpay takes no idempotency key for orders. None is needed: an order only names
        // what to pay and moves no money, so a retry at worst leaves an unused order behind,
        // and the payment made against the order we hand out is the one its webhook reports.
        let body = json!({
            "amount": amount.amount,
            "currency": amount.currency.code(),
            "receipt": order.as_str(),
            "notes": {"order_id": order.as_str()},
        });
        let answer: OrderAnswer = self.post(&["v1", "orders"], &[], &body).await?;
        Ok(PaymentIntent { provider, reference: answer.id, amount, client_secret: None, redirect_url: None })
    }

    /// The account captures authorised payments on its own: nothing to do.
    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        _order: &OrderId,
        _reference: &str,
        _amount: Money,
    ) -> Result<Option<Capture>, PaymentError> {
        ensure_provider(PaymentProvider::Razorpay, provider)?;
        Ok(None)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError> {
        ensure_provider(PaymentProvider::Razorpay, request.provider)?;
        let refund_id = request.refund_id.as_str();
        let body = json!({
            "amount": request.amount.amount,
            "speed": "normal",
            "receipt": refund_id,
            "notes": {"order_id": request.order_id.as_str(), "refund_id": refund_id},
        });
        let segments = ["v1", "payments", request.payment_id.as_str(), "refund"];
        let answer: RefundAnswer = self.post(&segments, &[("X-Refund-Idempotency", refund_id)], &body).await?;
        let completed = match answer.status.as_str() {
            "processed" => true,
            "failed" => {
                return Err(PaymentError::Declined {
                    code: "refund_failed".to_owned(),
                    message: format!("Razorpay refund {} failed", answer.id),
                });
            }
            // "pending", or a status newer than this code: its webhook will say how it ends.
            _ => false,
        };
        Ok(RefundAccepted { provider_refund_id: answer.id, completed })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::{basic_auth, body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::testing::{client, closed_port, ids, impatient_client, money};
    use super::*;

    const KEY_ID: &str = "rzp_test_id";
    const KEY_SECRET: &str = "rzp_test_secret";

    fn razorpay(base: String) -> Razorpay {
        Razorpay::new(client(), base, KEY_ID, KEY_SECRET)
    }

    fn refund_request() -> RefundRequest {
        let (order_id, refund_id) = ids();
        RefundRequest {
            provider: PaymentProvider::Razorpay,
            order_id,
            refund_id,
            payment_id: "pay_29QQoUBi66xm2f".to_owned(),
            amount: money(50_000, "INR"),
        }
    }

    async fn refund_answered(answer: ResponseTemplate) -> Result<RefundAccepted, PaymentError> {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer).expect(1).mount(&server).await;
        razorpay(server.uri()).refund(&refund_request()).await
    }

    #[tokio::test]
    async fn create_payment_opens_a_razorpay_order() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        Mock::given(method("POST"))
            .and(path("/v1/orders"))
            .and(basic_auth(KEY_ID, KEY_SECRET))
            .and(body_json(json!({
                "amount": 129_900, "currency": "INR", "receipt": order.as_str(), "notes": {"order_id": order.as_str()}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "order_EKwxwAgItmmXdp", "entity": "order", "amount": 129_900, "currency": "INR", "status": "created"
            })))
            .expect(1)
            .mount(&server)
            .await;

        let intent =
            razorpay(server.uri()).create_payment(PaymentProvider::Razorpay, &order, money(129_900, "INR")).await;
        assert_eq!(
            intent,
            Ok(PaymentIntent {
                provider: PaymentProvider::Razorpay,
                reference: "order_EKwxwAgItmmXdp".to_owned(),
                amount: money(129_900, "INR"),
                client_secret: None,
                redirect_url: None,
            })
        );
    }

    #[tokio::test]
    async fn capture_is_automatic() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        let capture =
            razorpay(server.uri()).capture_payment(PaymentProvider::Razorpay, &order, "order_1", money(1, "INR")).await;
        assert_eq!(capture, Ok(None));
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn refund_sends_the_same_idempotency_key_on_every_retry() {
        let server = MockServer::start().await;
        let request = refund_request();
        Mock::given(method("POST"))
            .and(path("/v1/payments/pay_29QQoUBi66xm2f/refund"))
            .and(basic_auth(KEY_ID, KEY_SECRET))
            .and(header("X-Refund-Idempotency", request.refund_id.as_str()))
            .and(body_json(json!({
                "amount": 50_000,
                "speed": "normal",
                "receipt": request.refund_id.as_str(),
                "notes": {"order_id": request.order_id.as_str(), "refund_id": request.refund_id.as_str()},
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "rfnd_FP8QHiV938haTz", "entity": "refund", "amount": 50_000, "status": "pending"
            })))
            .expect(2)
            .mount(&server)
            .await;

        let razorpay = razorpay(server.uri());
        for _ in 0..2 {
            assert_eq!(
                razorpay.refund(&request).await,
                Ok(RefundAccepted { provider_refund_id: "rfnd_FP8QHiV938haTz".to_owned(), completed: false })
            );
        }
    }

    #[tokio::test]
    async fn refund_statuses_map_to_completion_or_decline() {
        let ok = |status: &str| ResponseTemplate::new(200).set_body_json(json!({"id": "rfnd_1", "status": status}));
        assert!(refund_answered(ok("processed")).await.unwrap().completed);
        assert!(!refund_answered(ok("pending")).await.unwrap().completed);
        assert!(matches!(
            refund_answered(ok("failed")).await,
            Err(PaymentError::Declined { code, .. }) if code == "refund_failed"
        ));
    }

    #[tokio::test]
    async fn bad_requests_are_declines_with_razorpays_code() {
        let answer = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "The refund amount provided is greater than amount captured",
            "source": "business", "step": "payment_initiation", "reason": "input_validation_failed"
        }}));
        assert_eq!(
            refund_answered(answer).await,
            Err(PaymentError::Declined {
                code: "BAD_REQUEST_ERROR".to_owned(),
                message: "The refund amount provided is greater than amount captured (input_validation_failed)"
                    .to_owned(),
            })
        );
    }

    #[tokio::test]
    async fn failures_map_to_typed_errors() {
        let unavailable = |r: &Result<RefundAccepted, PaymentError>| matches!(r, Err(PaymentError::Unavailable(_)));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(503)).await));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(429)).await));
        assert_eq!(
            refund_answered(ResponseTemplate::new(401)).await,
            Err(PaymentError::NotConfigured("credentials refused".to_owned()))
        );
        let garbage = ResponseTemplate::new(200).set_body_string("{\"id\": ");
        assert!(matches!(refund_answered(garbage).await, Err(PaymentError::Unknown(_))));
        // A 4xx whose body is not Razorpay's still declines, with the status as the code.
        assert!(matches!(
            refund_answered(ResponseTemplate::new(404)).await,
            Err(PaymentError::Declined { code, .. }) if code == "http_404"
        ));
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_timeout_is_unknown() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            // A valid answer, so only the timeout can make this fail.
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "rfnd_1", "status": "processed"}))
                    .set_delay(Duration::from_secs(2)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let razorpay = Razorpay::new(impatient_client(), server.uri(), KEY_ID, KEY_SECRET);
        let result = razorpay.refund(&refund_request()).await;
        assert!(matches!(result, Err(PaymentError::Unknown(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let result = razorpay(closed_port()).refund(&refund_request()).await;
        assert!(matches!(result, Err(PaymentError::Unavailable(_))), "{result:?}");
    }

    #[test]
    fn debug_hides_the_key_secret() {
        let shown = format!("{:?}", razorpay("https://api.razorpay.com".to_owned()));
        assert!(!shown.contains(KEY_SECRET) && shown.contains(KEY_ID), "{shown}");
    }
}
