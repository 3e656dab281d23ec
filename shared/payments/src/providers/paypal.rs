//! PayPal: Orders v2 (create, capture) and Payments v2 (refund), JSON bodies, with an OAuth2
//! client-credentials token.
//!
//! We create an order and send the customer to its approval page; once they come back we
//! capture it. Every POST carries a `PayPal-Request-Id` derived from our ids, so PayPal answers
//! a retry with the first request's result instead of acting twice.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Currency, Money, OrderId};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Mutex;

use super::{decode, endpoint, ensure_provider, send};
use crate::{Capture, Collected, PaymentError, PaymentGateway, PaymentIntent, RefundAccepted, RefundRequest};

const NAME: &str = "paypal";

/// A token this close to its expiry is replaced rather than used: a call started with it could
/// still be under way when it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

pub struct Paypal {
    client: reqwest::Client,
    base_url: String,
    client_id: String,
    client_secret: String,
    return_url: String,
    cancel_url: String,
    /// The access token, shared by all calls. Held while a new one is fetched, so concurrent
    /// calls wait for that one rather than each fetching their own.
    token: Mutex<Option<Token>>,
}

struct Token {
    value: String,
    expires_at: Instant,
}

impl Paypal {
    /// `base_url` is `https://api-m.paypal.com` (live) or `https://api-m.sandbox.paypal.com`;
    /// `return_url` and `cancel_url` are where PayPal sends the customer after approving or
    /// cancelling.
    pub fn new(
        client: reqwest::Client,
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        return_url: impl Into<String>,
        cancel_url: impl Into<String>,
    ) -> Self {
        Paypal {
            client,
            base_url: base_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            return_url: return_url.into(),
            cancel_url: cancel_url.into(),
            token: Mutex::new(None),
        }
    }

    /// A token valid for at least [`TOKEN_MARGIN`], fetched if the cached one is not.
    async fn token(&self) -> Result<String, PaymentError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() + TOKEN_MARGIN < t.expires_at) {
            return Ok(token.value.clone());
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets `used` after PayPal refused it, unless another call has already replaced it.
    async fn drop_token(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, PaymentError> {
        // Fetching a token moves no money and the call it is for has not been sent yet, so any
        // failure here means "nothing happened": a lost answer is Unavailable, not Unknown, and
        // a refusal is our credentials' fault, not a decline.
        let nothing_happened = |e: PaymentError| match e {
            PaymentError::Unknown(m) => PaymentError::Unavailable(format!("fetching a token: {m}")),
            PaymentError::Declined { code, message } => {
                PaymentError::NotConfigured(format!("token refused: {code}: {message}"))
            }
            other => other,
        };
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: u64,
        }
        let request = self
            .client
            .post(endpoint(&self.base_url, &["v1", "oauth2", "token"])?)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")]);
        let reply = send(NAME, request).await.map_err(nothing_happened)?;
        let answer: TokenAnswer = decode(NAME, &reply, refusal).map_err(nothing_happened)?;
        let now = Instant::now();
        Ok(Token {
            value: answer.access_token,
            // An absurd lifetime that overflows the clock is treated as already expired.
            expires_at: now.checked_add(Duration::from_secs(answer.expires_in)).unwrap_or(now),
        })
    }

    /// POSTs `body` with a bearer token. If PayPal refuses the token (revoked, or expired
    /// early), it did not act on the call: fetch a new token and send the call once more.
    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<T, PaymentError> {
        self.call(reqwest::Method::POST, segments, headers, Some(body)).await
    }

    /// GETs a resource with a bearer token (as [`Self::post`]).
    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, PaymentError> {
        self.call(reqwest::Method::GET, segments, &[], None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, PaymentError> {
        let url = endpoint(&self.base_url, segments)?;
        let request = |token: &str| {
            let mut request = self.client.request(method.clone(), url.clone()).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request
        };
        let token = self.token().await?;
        let mut reply = send(NAME, request(&token)).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            tracing::info!("PayPal refused its access token; fetching a new one");
            self.drop_token(&token).await;
            reply = send(NAME, request(&self.token().await?)).await?;
        }
        decode(NAME, &reply, refusal).map_err(|e| match e {
            // A call with this request id is still being processed: this one was not taken.
            PaymentError::Declined { code, message } if code == "PREVIOUS_REQUEST_IN_PROGRESS" => {
                PaymentError::Unavailable(format!("paypal: {code}: {message}"))
            }
            other => other,
        })
    }
}

impl fmt::Debug for Paypal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paypal")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("return_url", &self.return_url)
            .field("cancel_url", &self.cancel_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct OrderAnswer {
    id: String,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Deserialize)]
struct Link {
    href: String,
    rel: String,
}

#[derive(Deserialize)]
struct CaptureAnswer {
    purchase_units: Vec<CapturedUnit>,
}

#[derive(Deserialize)]
struct CapturedUnit {
    payments: CapturedPayments,
}

#[derive(Deserialize)]
struct CapturedPayments {
    captures: Vec<CaptureDetail>,
}

#[derive(Deserialize)]
struct CaptureDetail {
    id: String,
    status: String,
    amount: Amount,
    #[serde(default)]
    status_details: Option<StatusDetails>,
}

#[derive(Deserialize)]
struct StatusDetails {
    reason: String,
}

#[derive(Deserialize)]
struct Amount {
    currency_code: String,
    value: String,
}

/// `GET /v2/payments/captures/{id}`: what PayPal itself says of a capture.
#[derive(Deserialize)]
struct CaptureResource {
    id: String,
    status: String,
    amount: Amount,
    #[serde(default)]
    custom_id: Option<String>,
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    name: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    debug_id: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    issue: String,
    #[serde(default)]
    description: Option<String>,
}

/// PayPal's `{"name", "message", "details": [{"issue", "description"}], "debug_id"}`: the first
/// issue (`INSTRUMENT_DECLINED`) says more than the name (`UNPROCESSABLE_ENTITY`). The debug id
/// is what PayPal's support asks for.
fn refusal(body: &[u8]) -> Option<(String, String)> {
    let error: ErrorBody = serde_json::from_slice(body).ok()?;
    let first = error.details.into_iter().next();
    let code = first.as_ref().map_or(error.name, |d| d.issue.clone());
    let mut message = first.and_then(|d| d.description).unwrap_or(error.message);
    if let Some(debug_id) = error.debug_id {
        message.push_str(&format!(" (debug_id {debug_id})"));
    }
    Some((code, message))
}

/// PayPal's `{"currency_code", "value"}` for `amount`: a decimal string in major units, exact.
fn amount_json(amount: Money) -> serde_json::Value {
    json!({"currency_code": amount.currency.code(), "value": amount.to_decimal_string()})
}

#[async_trait]
impl PaymentGateway for Paypal {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError> {
        ensure_provider(PaymentProvider::Paypal, provider)?;
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": order.as_str(),
                "custom_id": order.as_str(),
                "amount": amount_json(amount),
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": self.return_url,
                "cancel_url": self.cancel_url,
                "user_action": "PAY_NOW",
            }}},
        });
        let request_id = format!("cy-order-{}", order.as_str());
        let answer: OrderAnswer =
            self.post(&["v2", "checkout", "orders"], &[("PayPal-Request-Id", &request_id)], &body).await?;
        // With a payment source PayPal names the page "payer-action"; without, "approve".
        let link = |rel: &str| answer.links.iter().find(|l| l.rel == rel).map(|l| l.href.clone());
        let redirect_url = link("payer-action").or_else(|| link("approve")).ok_or_else(|| {
            PaymentError::Unknown(format!("paypal: order {} came without an approval link", answer.id))
        })?;
        Ok(PaymentIntent {
            provider,
            reference: answer.id,
            amount,
            client_secret: None,
            redirect_url: Some(redirect_url),
        })
    }

    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
        amount: Money,
    ) -> Result<Option<Capture>, PaymentError> {
        ensure_provider(PaymentProvider::Paypal, provider)?;
        let request_id = format!("cy-capture-{}", order.as_str());
        let headers = [("PayPal-Request-Id", request_id.as_str()), ("Prefer", "return=representation")];
        let answer: CaptureAnswer =
            self.post(&["v2", "checkout", "orders", reference, "capture"], &headers, &json!({})).await?;
        let unreadable = |what: &str| PaymentError::Unknown(format!("paypal: capture of {reference}: {what}"));
        let capture = answer
            .purchase_units
            .into_iter()
            .next()
            .and_then(|unit| unit.payments.captures.into_iter().next())
            .ok_or_else(|| unreadable("no capture in the answer"))?;
        let currency = Currency::parse(&capture.amount.currency_code).map_err(|_| unreadable("unknown currency"))?;
        let captured =
            Money::parse_decimal(&capture.amount.value, currency).map_err(|_| unreadable("unreadable amount"))?;
        if captured != amount {
            // Not ours to judge here: the caller compares the capture with the order.
            tracing::warn!(order = order.as_str(), "PayPal captured another amount than the order expects");
        }
        let completed = match capture.status.as_str() {
            "COMPLETED" => true,
            "DECLINED" | "FAILED" => {
                return Err(PaymentError::Declined {
                    code: capture.status,
                    message: capture.status_details.map_or_else(|| "the capture was refused".to_owned(), |d| d.reason),
                });
            }
            // "PENDING" (held for review, eCheck…): its webhook will say how it ends.
            _ => false,
        };
        Ok(Some(Capture { payment_id: capture.id, amount: captured, completed }))
    }

    /// What PayPal's API says of capture `payment_id` (its webhook's signature binds the body
    /// only through a CRC32, so the API is what a capture is believed from). An id PayPal does
    /// not know is declined (`RESOURCE_NOT_FOUND`).
    async fn collected(&self, provider: PaymentProvider, payment_id: &str) -> Result<Option<Collected>, PaymentError> {
        ensure_provider(PaymentProvider::Paypal, provider)?;
        let capture: CaptureResource = self.get(&["v2", "payments", "captures", payment_id]).await?;
        let unreadable = |what: &str| PaymentError::Unknown(format!("paypal: capture {payment_id}: {what}"));
        let currency = Currency::parse(&capture.amount.currency_code).map_err(|_| unreadable("unknown currency"))?;
        let amount =
            Money::parse_decimal(&capture.amount.value, currency).map_err(|_| unreadable("unreadable amount"))?;
        Ok(Some(Collected {
            payment_id: capture.id,
            // PARTIALLY_REFUNDED and REFUNDED were completed first.
            completed: matches!(capture.status.as_str(), "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED"),
            amount,
            order_id: capture.custom_id.as_deref().and_then(|id| OrderId::parse(id).ok()),
        }))
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError> {
        ensure_provider(PaymentProvider::Paypal, request.provider)?;
        let body = json!({
            "amount": amount_json(request.amount),
            "invoice_id": request.refund_id.as_str(),
            "custom_id": request.order_id.as_str(),
        });
        let request_id = format!("cy-refund-{}", request.refund_id.as_str());
        let segments = ["v2", "payments", "captures", request.payment_id.as_str(), "refund"];
        let answer: RefundAnswer = self.post(&segments, &[("PayPal-Request-Id", &request_id)], &body).await?;
        let completed = match answer.status.as_str() {
            "COMPLETED" => true,
            "CANCELLED" | "FAILED" => {
                return Err(PaymentError::Declined {
                    code: answer.status,
                    message: format!("PayPal refund {} did not go through", answer.id),
                });
            }
            // "PENDING": its webhook will say how it ends.
            _ => false,
        };
        Ok(RefundAccepted { provider_refund_id: answer.id, completed })
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{basic_auth, bearer_token, body_json, body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::testing::{client, closed_port, ids, impatient_client, money};
    use super::*;

    const CLIENT_ID: &str = "pp_client";
    const SECRET: &str = "pp_secret";
    const TOKEN_PATH: &str = "/v1/oauth2/token";

    fn paypal(base: String) -> Paypal {
        Paypal::new(client(), base, CLIENT_ID, SECRET, "https://shop.example/paid", "https://shop.example/cancelled")
    }

    fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "scope": "https://uri.paypal.com/services/payments/payment", "access_token": token,
            "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": expires_in
        }))
    }

    /// A token endpoint that checks our credentials and is to be called `times` times.
    async fn mount_token(server: &MockServer, token: &str, expires_in: u64, times: u64) {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(basic_auth(CLIENT_ID, SECRET))
            .and(header("Content-Type", "application/x-www-form-urlencoded"))
            .and(body_string("grant_type=client_credentials"))
            .respond_with(token_answer(token, expires_in))
            .expect(times)
            .mount(server)
            .await;
    }

    fn order_answer(id: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "status": "PAYER_ACTION_REQUIRED",
            "links": [
                {"href": format!("https://api-m.paypal.com/v2/checkout/orders/{id}"), "rel": "self", "method": "GET"},
                {"href": format!("https://www.paypal.com/checkoutnow?token={id}"), "rel": "payer-action", "method": "GET"}
            ]
        }))
    }

    fn capture_answer(status: &str, currency: &str, value: &str) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "id": "5O190127TN364715T", "status": "COMPLETED",
            "purchase_units": [{"reference_id": "x", "payments": {"captures": [{
                "id": "3C679366HH908993F", "status": status,
                "amount": {"currency_code": currency, "value": value}, "final_capture": true
            }]}}]
        }))
    }

    fn refund_request(amount: Money) -> RefundRequest {
        let (order_id, refund_id) = ids();
        RefundRequest {
            provider: PaymentProvider::Paypal,
            order_id,
            refund_id,
            payment_id: "3C679366HH908993F".to_owned(),
            amount,
        }
    }

    /// A refund against a server whose token endpoint works and whose refund answers `answer`.
    async fn refund_answered(answer: ResponseTemplate) -> Result<RefundAccepted, PaymentError> {
        let server = MockServer::start().await;
        mount_token(&server, "A", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/v2/payments/captures/3C679366HH908993F/refund"))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        paypal(server.uri()).refund(&refund_request(money(500, "USD"))).await
    }

    #[tokio::test]
    async fn create_payment_renders_exact_decimal_amounts_and_returns_the_approval_page() {
        for (amount, value) in [(money(1234, "USD"), "12.34"), (money(1299, "JPY"), "1299"), (money(5, "EUR"), "0.05")]
        {
            let server = MockServer::start().await;
            let (order, _) = ids();
            mount_token(&server, "A", 3600, 1).await;
            Mock::given(method("POST"))
                .and(path("/v2/checkout/orders"))
                .and(bearer_token("A"))
                .and(header("PayPal-Request-Id", format!("cy-order-{order}")))
                .and(body_json(json!({
                    "intent": "CAPTURE",
                    "purchase_units": [{
                        "reference_id": order.as_str(),
                        "custom_id": order.as_str(),
                        "amount": {"currency_code": amount.currency.code(), "value": value},
                    }],
                    "payment_source": {"paypal": {"experience_context": {
                        "return_url": "https://shop.example/paid",
                        "cancel_url": "https://shop.example/cancelled",
                        "user_action": "PAY_NOW",
                    }}},
                })))
                .respond_with(order_answer("5O190127TN364715T"))
                .expect(1)
                .mount(&server)
                .await;

            let intent = paypal(server.uri()).create_payment(PaymentProvider::Paypal, &order, amount).await;
            assert_eq!(
                intent,
                Ok(PaymentIntent {
                    provider: PaymentProvider::Paypal,
                    reference: "5O190127TN364715T".to_owned(),
                    amount,
                    client_secret: None,
                    redirect_url: Some("https://www.paypal.com/checkoutnow?token=5O190127TN364715T".to_owned()),
                })
            );
        }
    }

    #[tokio::test]
    async fn capture_reads_the_captured_amount_exactly() {
        let cases = [
            ("COMPLETED", "USD", "12.34", money(1234, "USD"), true),
            ("PENDING", "JPY", "1299", money(1299, "JPY"), false),
        ];
        for (status, currency, value, expected, completed) in cases {
            let server = MockServer::start().await;
            let (order, _) = ids();
            mount_token(&server, "A", 3600, 1).await;
            Mock::given(method("POST"))
                .and(path("/v2/checkout/orders/5O190127TN364715T/capture"))
                .and(bearer_token("A"))
                .and(header("PayPal-Request-Id", format!("cy-capture-{order}")))
                .and(header("Prefer", "return=representation"))
                .and(body_json(json!({})))
                .respond_with(capture_answer(status, currency, value))
                .expect(1)
                .mount(&server)
                .await;
            let capture = paypal(server.uri())
                .capture_payment(PaymentProvider::Paypal, &order, "5O190127TN364715T", expected)
                .await;
            assert_eq!(
                capture,
                Ok(Some(Capture { payment_id: "3C679366HH908993F".to_owned(), amount: expected, completed }))
            );
        }
    }

    #[tokio::test]
    async fn a_declined_capture_or_unreadable_amount_is_not_a_success() {
        for (status, value, declined) in [("DECLINED", "12.34", true), ("COMPLETED", "12.345", false)] {
            let server = MockServer::start().await;
            let (order, _) = ids();
            mount_token(&server, "A", 3600, 1).await;
            Mock::given(method("POST"))
                .respond_with(capture_answer(status, "USD", value))
                .expect(1)
                .mount(&server)
                .await;
            let result =
                paypal(server.uri()).capture_payment(PaymentProvider::Paypal, &order, "O1", money(1234, "USD")).await;
            if declined {
                assert!(
                    matches!(&result, Err(PaymentError::Declined { code, .. }) if code == "DECLINED"),
                    "{result:?}"
                );
            } else {
                assert!(matches!(result, Err(PaymentError::Unknown(_))), "{result:?}");
            }
        }
    }

    #[tokio::test]
    async fn refund_sends_the_same_request_id_on_every_retry() {
        let server = MockServer::start().await;
        let request = refund_request(money(1299, "JPY"));
        mount_token(&server, "A", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/v2/payments/captures/3C679366HH908993F/refund"))
            .and(bearer_token("A"))
            .and(header("PayPal-Request-Id", format!("cy-refund-{}", request.refund_id)))
            .and(body_json(json!({
                "amount": {"value": "1299", "currency_code": "JPY"},
                "invoice_id": request.refund_id.as_str(),
                "custom_id": request.order_id.as_str(),
            })))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"id": "1JU08902781691411", "status": "PENDING"})),
            )
            .expect(2)
            .mount(&server)
            .await;

        let paypal = paypal(server.uri());
        for _ in 0..2 {
            assert_eq!(
                paypal.refund(&request).await,
                Ok(RefundAccepted { provider_refund_id: "1JU08902781691411".to_owned(), completed: false })
            );
        }
    }

    #[tokio::test]
    async fn refund_statuses_map_to_completion_or_decline() {
        let ok = |status: &str| ResponseTemplate::new(201).set_body_json(json!({"id": "R1", "status": status}));
        assert!(refund_answered(ok("COMPLETED")).await.unwrap().completed);
        assert!(!refund_answered(ok("PENDING")).await.unwrap().completed);
        for status in ["CANCELLED", "FAILED"] {
            assert!(matches!(
                refund_answered(ok(status)).await,
                Err(PaymentError::Declined { code, .. }) if code == status
            ));
        }
    }

    #[tokio::test]
    async fn an_instrument_decline_is_a_decline_with_the_issue_as_code() {
        let answer = ResponseTemplate::new(422).set_body_json(json!({
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "debug_id": "f5a0c1e3b6d2c",
            "details": [{"issue": "INSTRUMENT_DECLINED", "description": "The instrument presented was either declined by the processor or bank."}]
        }));
        assert_eq!(
            refund_answered(answer).await,
            Err(PaymentError::Declined {
                code: "INSTRUMENT_DECLINED".to_owned(),
                message:
                    "The instrument presented was either declined by the processor or bank. (debug_id f5a0c1e3b6d2c)"
                        .to_owned(),
            })
        );
        // Without details, the name is the code.
        let answer = ResponseTemplate::new(400).set_body_json(json!({"name": "INVALID_REQUEST", "message": "Bad."}));
        assert!(matches!(
            refund_answered(answer).await,
            Err(PaymentError::Declined { code, .. }) if code == "INVALID_REQUEST"
        ));
        // The same request id still being processed: not taken, retry later.
        let answer = ResponseTemplate::new(422).set_body_json(json!({
            "name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "PREVIOUS_REQUEST_IN_PROGRESS"}]
        }));
        assert!(matches!(refund_answered(answer).await, Err(PaymentError::Unavailable(_))));
    }

    #[tokio::test]
    async fn failures_map_to_typed_errors() {
        let unavailable = |r: &Result<RefundAccepted, PaymentError>| matches!(r, Err(PaymentError::Unavailable(_)));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(500)).await));
        assert!(unavailable(&refund_answered(ResponseTemplate::new(429)).await));
        assert!(matches!(refund_answered(ResponseTemplate::new(403)).await, Err(PaymentError::NotConfigured(_))));
        let garbage = ResponseTemplate::new(201).set_body_string("not json");
        assert!(matches!(refund_answered(garbage).await, Err(PaymentError::Unknown(_))));
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_timeout_is_unknown_but_a_slow_token_is_unavailable() {
        let server = MockServer::start().await;
        mount_token(&server, "A", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/v2/payments/captures/3C679366HH908993F/refund"))
            // A valid answer, so only the timeout can make this fail.
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": "R1", "status": "COMPLETED"}))
                    .set_delay(Duration::from_secs(2)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let paypal = Paypal::new(impatient_client(), server.uri(), CLIENT_ID, SECRET, "r", "c");
        let result = paypal.refund(&refund_request(money(500, "USD"))).await;
        assert!(matches!(result, Err(PaymentError::Unknown(_))), "{result:?}");

        // A lost token answer means the refund itself was never sent.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(token_answer("A", 3600).set_delay(Duration::from_secs(2)))
            .expect(1)
            .mount(&server)
            .await;
        let paypal = Paypal::new(impatient_client(), server.uri(), CLIENT_ID, SECRET, "r", "c");
        let result = paypal.refund(&refund_request(money(500, "USD"))).await;
        assert!(matches!(result, Err(PaymentError::Unavailable(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let result = paypal(closed_port()).refund(&refund_request(money(500, "USD"))).await;
        assert!(matches!(result, Err(PaymentError::Unavailable(_))), "{result:?}");
    }

    #[tokio::test]
    async fn the_token_is_fetched_once_for_many_calls() {
        let server = MockServer::start().await;
        mount_token(&server, "A", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .and(bearer_token("A"))
            .respond_with(order_answer("O1"))
            .expect(2)
            .mount(&server)
            .await;
        let paypal = paypal(server.uri());
        for _ in 0..2 {
            let (order, _) = ids();
            paypal.create_payment(PaymentProvider::Paypal, &order, money(100, "USD")).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_token_about_to_expire_is_replaced() {
        let server = MockServer::start().await;
        // 30 s is inside the 60 s margin: stale as soon as it arrives.
        mount_token(&server, "A", 30, 2).await;
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .and(bearer_token("A"))
            .respond_with(order_answer("O1"))
            .expect(2)
            .mount(&server)
            .await;
        let paypal = paypal(server.uri());
        for _ in 0..2 {
            let (order, _) = ids();
            paypal.create_payment(PaymentProvider::Paypal, &order, money(100, "USD")).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_and_the_call_sent_once_more() {
        let server = MockServer::start().await;
        let (order, _) = ids();
        // The first token answered is "A", every later one "B".
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(token_answer("A", 3600))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        mount_token(&server, "B", 3600, 1).await;
        let request_id = format!("cy-order-{order}");
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .and(bearer_token("A"))
            .and(header("PayPal-Request-Id", request_id.as_str()))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_token", "error_description": "Token signature verification failed"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .and(bearer_token("B"))
            .and(header("PayPal-Request-Id", request_id.as_str()))
            .respond_with(order_answer("O1"))
            .expect(1)
            .mount(&server)
            .await;

        let intent = paypal(server.uri()).create_payment(PaymentProvider::Paypal, &order, money(100, "USD")).await;
        assert_eq!(intent.map(|i| i.reference), Ok("O1".to_owned()));
    }

    #[tokio::test]
    async fn a_token_refused_twice_is_not_configured() {
        let server = MockServer::start().await;
        mount_token(&server, "A", 3600, 2).await;
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .respond_with(ResponseTemplate::new(401))
            .expect(2)
            .mount(&server)
            .await;
        let (order, _) = ids();
        let result = paypal(server.uri()).create_payment(PaymentProvider::Paypal, &order, money(100, "USD")).await;
        assert_eq!(result, Err(PaymentError::NotConfigured("credentials refused".to_owned())));
    }

    #[tokio::test]
    async fn refused_credentials_at_the_token_endpoint_are_not_configured() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client", "error_description": "Client Authentication failed"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let result = paypal(server.uri()).refund(&refund_request(money(500, "USD"))).await;
        assert!(matches!(result, Err(PaymentError::NotConfigured(_))), "{result:?}");
    }

    #[test]
    fn debug_hides_the_client_secret() {
        let shown = format!("{:?}", paypal("https://api-m.paypal.com".to_owned()));
        assert!(!shown.contains(SECRET) && shown.contains(CLIENT_ID), "{shown}");
    }

    #[tokio::test]
    async fn a_capture_is_read_back_from_paypals_api() {
        let server = MockServer::start().await;
        mount_token(&server, "A21AA", 3600, 1).await;
        Mock::given(method("GET"))
            .and(path("/v2/payments/captures/3C679366HH908993F"))
            .and(header("authorization", "Bearer A21AA"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "3C679366HH908993F",
                "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "20.99"},
                "custom_id": "ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V"})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/payments/captures/FORGED"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"name": "RESOURCE_NOT_FOUND",
                "message": "The specified resource does not exist.", "details": [{"issue": "INVALID_RESOURCE_ID"}]})))
            .mount(&server)
            .await;
        let paypal = paypal(server.uri());
        let got = paypal.collected(PaymentProvider::Paypal, "3C679366HH908993F").await.unwrap().unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            got,
            Collected {
                payment_id: "3C679366HH908993F".into(),
                completed: true,
                amount: Money::new(2_099, usd).unwrap(),
                order_id: Some(OrderId::parse("ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V").unwrap()),
            }
        );
        let forged = paypal.collected(PaymentProvider::Paypal, "FORGED").await.unwrap_err();
        assert!(
            matches!(forged, PaymentError::Declined { ref code, .. } if code == "INVALID_RESOURCE_ID"),
            "{forged:?}"
        );
    }
}
