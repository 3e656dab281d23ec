//! The providers' HTTP APIs: the Stripe, Razorpay and PayPal adapters of [`PaymentGateway`],
//! [`Providers`] (which sends each call to the adapter of the provider it names) and
//! [`ProviderSettings`], the one place that reads their configuration from the environment.
//!
//! The three adapters share one reading of a provider's answer, so they classify failures
//! alike: could not connect, 429 or 5xx → [`PaymentError::Unavailable`] (not taken, retry);
//! timed out or lost after sending, a 2xx we cannot read → [`PaymentError::Unknown`] (it may
//! have acted: retry with the same idempotency key, never assume success); 401/403 →
//! [`PaymentError::NotConfigured`]; any other 4xx → [`PaymentError::Declined`] with the
//! provider's own code.

pub mod paypal;
pub mod razorpay;
pub mod stripe;

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Money, OrderId};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::{Capture, Collected, PaymentError, PaymentGateway, PaymentIntent, RefundAccepted, RefundRequest};

/// How long one call to a provider may take, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A provider that does not accept a connection within this is unreachable. Failing fast is
/// safe: nothing was sent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The HTTP client the adapters share (one connection pool). Fails only if the TLS backend
/// cannot start, which is a broken deployment rather than something to retry.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, PaymentError> {
    cy_outbound::https_client()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        // The providers' APIs never redirect; following one would re-send a POST that moves
        // money, possibly as a GET or somewhere else. A 3xx is an answer we cannot read.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| PaymentError::NotConfigured(format!("cannot build the HTTP client: {}", chain(&e))))
}

/// All three providers behind one [`PaymentGateway`]: each call goes to the adapter of the
/// provider it names, and a provider not configured here answers `NotConfigured`.
#[derive(Clone, Default)]
pub struct Providers {
    pub stripe: Option<Arc<dyn PaymentGateway>>,
    pub razorpay: Option<Arc<dyn PaymentGateway>>,
    pub paypal: Option<Arc<dyn PaymentGateway>>,
}

impl Providers {
    fn gateway(&self, provider: PaymentProvider) -> Result<&dyn PaymentGateway, PaymentError> {
        let gateway = match provider {
            PaymentProvider::Stripe => &self.stripe,
            PaymentProvider::Razorpay => &self.razorpay,
            PaymentProvider::Paypal => &self.paypal,
        };
        gateway.as_deref().ok_or_else(|| PaymentError::NotConfigured(format!("{provider:?} is not configured here")))
    }
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("stripe", &self.stripe.is_some())
            .field("razorpay", &self.razorpay.is_some())
            .field("paypal", &self.paypal.is_some())
            .finish()
    }
}

#[async_trait]
impl PaymentGateway for Providers {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError> {
        self.gateway(provider)?.create_payment(provider, order, amount).await
    }

    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
        amount: Money,
    ) -> Result<Option<Capture>, PaymentError> {
        self.gateway(provider)?.capture_payment(provider, order, reference, amount).await
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError> {
        self.gateway(request.provider)?.refund(request).await
    }

    async fn collected(&self, provider: PaymentProvider, payment_id: &str) -> Result<Option<Collected>, PaymentError> {
        self.gateway(provider)?.collected(provider, payment_id).await
    }

    async fn close_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
    ) -> Result<(), PaymentError> {
        self.gateway(provider)?.close_payment(provider, order, reference).await
    }
}

/// The providers' credentials and API addresses. Secrets never show in `Debug`.
#[derive(Clone, PartialEq)]
pub struct ProviderSettings {
    pub stripe_secret_key: Option<String>,
    pub stripe_api_base: String,
    pub razorpay_key_id: Option<String>,
    pub razorpay_key_secret: Option<String>,
    pub razorpay_api_base: String,
    pub paypal_client_id: Option<String>,
    pub paypal_client_secret: Option<String>,
    /// Live by default; the sandbox is `https://api-m.sandbox.paypal.com`.
    pub paypal_api_base: String,
    /// Where PayPal sends the customer back after approving, and after cancelling.
    pub paypal_return_url: Option<String>,
    pub paypal_cancel_url: Option<String>,
}

impl Default for ProviderSettings {
    /// The live API addresses and no credentials: no provider configured.
    fn default() -> Self {
        ProviderSettings {
            stripe_secret_key: None,
            stripe_api_base: "https://api.stripe.com".to_owned(),
            razorpay_key_id: None,
            razorpay_key_secret: None,
            razorpay_api_base: "https://api.razorpay.com".to_owned(),
            paypal_client_id: None,
            paypal_client_secret: None,
            paypal_api_base: "https://api-m.paypal.com".to_owned(),
            paypal_return_url: None,
            paypal_cancel_url: None,
        }
    }
}

impl ProviderSettings {
    /// Reads `STRIPE_SECRET_KEY`, `STRIPE_API_BASE`, `RAZORPAY_KEY_ID`, `RAZORPAY_KEY_SECRET`,
    /// `RAZORPAY_API_BASE`, `PAYPAL_CLIENT_ID`, `PAYPAL_CLIENT_SECRET`, `PAYPAL_API_BASE`,
    /// `PAYPAL_RETURN_URL` and `PAYPAL_CANCEL_URL`. A variable that is empty or `-` counts as unset
    /// (deployment templates often define every variable, empty).
    pub fn from_env() -> ProviderSettings {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> ProviderSettings {
        let get = |name: &str| crate::setting(var(name));
        let defaults = ProviderSettings::default();
        ProviderSettings {
            stripe_secret_key: get("STRIPE_SECRET_KEY"),
            stripe_api_base: get("STRIPE_API_BASE").unwrap_or(defaults.stripe_api_base),
            razorpay_key_id: get("RAZORPAY_KEY_ID"),
            razorpay_key_secret: get("RAZORPAY_KEY_SECRET"),
            razorpay_api_base: get("RAZORPAY_API_BASE").unwrap_or(defaults.razorpay_api_base),
            paypal_client_id: get("PAYPAL_CLIENT_ID"),
            paypal_client_secret: get("PAYPAL_CLIENT_SECRET"),
            paypal_api_base: get("PAYPAL_API_BASE").unwrap_or(defaults.paypal_api_base),
            paypal_return_url: get("PAYPAL_RETURN_URL"),
            paypal_cancel_url: get("PAYPAL_CANCEL_URL"),
        }
    }

    /// An adapter for each provider whose credentials are set, all sharing `client`.
    pub fn providers(&self, client: reqwest::Client) -> Providers {
        let stripe = self.stripe_secret_key.as_ref().map(|key| {
            Arc::new(stripe::Stripe::new(client.clone(), &self.stripe_api_base, key)) as Arc<dyn PaymentGateway>
        });
        let razorpay = self.razorpay_keys().map(|(id, secret)| {
            Arc::new(razorpay::Razorpay::new(client.clone(), &self.razorpay_api_base, id, secret))
                as Arc<dyn PaymentGateway>
        });
        let paypal = self.paypal_keys().map(|(id, secret, return_url, cancel_url)| {
            Arc::new(paypal::Paypal::new(client.clone(), &self.paypal_api_base, id, secret, return_url, cancel_url))
                as Arc<dyn PaymentGateway>
        });
        Providers { stripe, razorpay, paypal }
    }

    /// Whether at least one provider has its credentials set.
    pub fn any_configured(&self) -> bool {
        self.stripe_secret_key.is_some() || self.razorpay_keys().is_some() || self.paypal_keys().is_some()
    }

    fn razorpay_keys(&self) -> Option<(&str, &str)> {
        Some((self.razorpay_key_id.as_deref()?, self.razorpay_key_secret.as_deref()?))
    }

    /// PayPal needs the pages to send the customer back to as well as its credentials: without
    /// them the customer would be stranded on PayPal after paying.
    fn paypal_keys(&self) -> Option<(&str, &str, &str, &str)> {
        let keys = (self.paypal_client_id.as_deref()?, self.paypal_client_secret.as_deref()?);
        match (self.paypal_return_url.as_deref(), self.paypal_cancel_url.as_deref()) {
            (Some(return_url), Some(cancel_url)) => Some((keys.0, keys.1, return_url, cancel_url)),
            _ => {
                tracing::warn!("PayPal credentials are set without PAYPAL_RETURN_URL and PAYPAL_CANCEL_URL: disabled");
                None
            }
        }
    }
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<String>| if s.is_some() { "<redacted>" } else { "<unset>" };
        f.debug_struct("ProviderSettings")
            .field("stripe_secret_key", &secret(&self.stripe_secret_key))
            .field("stripe_api_base", &self.stripe_api_base)
            .field("razorpay_key_id", &self.razorpay_key_id)
            .field("razorpay_key_secret", &secret(&self.razorpay_key_secret))
            .field("razorpay_api_base", &self.razorpay_api_base)
            .field("paypal_client_id", &self.paypal_client_id)
            .field("paypal_client_secret", &secret(&self.paypal_client_secret))
            .field("paypal_api_base", &self.paypal_api_base)
            .field("paypal_return_url", &self.paypal_return_url)
            .field("paypal_cancel_url", &self.paypal_cancel_url)
            .finish()
    }
}

// ---- Shared by the adapters ----

/// An adapter serves one provider; being handed another's call is a wiring mistake, answered
/// as "not configured" rather than sent to the wrong API.
fn ensure_provider(serves: PaymentProvider, asked: PaymentProvider) -> Result<(), PaymentError> {
    if serves == asked {
        Ok(())
    } else {
        Err(PaymentError::NotConfigured(format!("the {serves:?} adapter was asked to act for {asked:?}")))
    }
}

/// `base` with `segments` appended as path segments, each percent-encoded, so an id passed
/// along (a payment id, an order reference) cannot change which endpoint is called.
fn endpoint(base: &str, segments: &[&str]) -> Result<url::Url, PaymentError> {
    // The url crate drops "." and ".." segments, which would silently call another endpoint.
    if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
        return Err(PaymentError::Declined {
            code: "invalid_reference".to_owned(),
            message: format!("{bad:?} is not a valid provider reference"),
        });
    }
    let not_configured = || PaymentError::NotConfigured(format!("{base:?} is not a usable API address"));
    let mut url = url::Url::parse(base).map_err(|_| not_configured())?;
    url.path_segments_mut().map_err(|()| not_configured())?.pop_if_empty().extend(segments);
    Ok(url)
}

/// A provider's answer, read whole.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

/// Sends `request` and reads the answer, mapping what went wrong in transport.
async fn send(provider: &'static str, request: reqwest::RequestBuilder) -> Result<Reply, PaymentError> {
    let response = request.send().await.map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    match response.bytes().await {
        Ok(body) => Ok(Reply { status, body: body.to_vec() }),
        // It answered 2xx, so it acted, and we lost how: only the body could tell.
        Err(e) if status.is_success() => {
            let error = PaymentError::Unknown(format!("{provider}: reading the answer failed: {}", chain(&e)));
            tracing::warn!(provider, status = status.as_u16(), %error, "payment provider call failed");
            Err(error)
        }
        // A refusal is classified by its status; its body only adds detail.
        Err(_) => Ok(Reply { status, body: Vec::new() }),
    }
}

fn transport_error(provider: &'static str, e: &reqwest::Error) -> PaymentError {
    let what = chain(e);
    let error = if e.is_builder() {
        PaymentError::NotConfigured(format!("{provider}: the request cannot be built: {what}"))
    } else if e.is_connect() {
        // No connection (refused, DNS, TLS handshake, connect timeout): nothing was sent.
        PaymentError::Unavailable(format!("{provider}: {what}"))
    } else {
        // Timed out or lost the connection once the request may have gone out.
        PaymentError::Unknown(format!("{provider}: {what}"))
    };
    tracing::warn!(provider, %error, "payment provider call failed");
    error
}

/// A provider's error body read as its error code and message, if it can be.
type ReadRefusal = fn(&[u8]) -> Option<(String, String)>;

/// Reads a 2xx answer as `T`, or classifies the failure.
fn decode<T: DeserializeOwned>(provider: &'static str, reply: &Reply, refusal: ReadRefusal) -> Result<T, PaymentError> {
    let status = reply.status;
    if status.is_success() {
        return serde_json::from_slice(&reply.body).map_err(|e| {
            let error = PaymentError::Unknown(format!("{provider}: unreadable answer ({status}): {e}"));
            tracing::warn!(provider, status = status.as_u16(), %error, "payment provider call failed");
            error
        });
    }
    let error = match status {
        // 409: another request with the same idempotency key is still in flight (Stripe), so
        // this one was not taken; asking again later gets that request's result.
        StatusCode::TOO_MANY_REQUESTS | StatusCode::CONFLICT => {
            PaymentError::Unavailable(format!("{provider} answered {status}"))
        }
        s if s.is_server_error() => PaymentError::Unavailable(format!("{provider} answered {status}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            PaymentError::NotConfigured("credentials refused".to_owned())
        }
        s if s.is_client_error() => {
            let (code, message) = refusal(&reply.body).unwrap_or_else(|| {
                (format!("http_{}", s.as_u16()), s.canonical_reason().unwrap_or("refused").to_owned())
            });
            PaymentError::Declined { code, message }
        }
        // 1xx/3xx: not an answer these APIs give; whether it acted is unknown.
        _ => PaymentError::Unknown(format!("{provider} answered {status}")),
    };
    if matches!(error, PaymentError::Declined { .. }) {
        tracing::info!(provider, status = status.as_u16(), %error, "payment provider refused");
    } else {
        tracing::warn!(provider, status = status.as_u16(), %error, "payment provider call failed");
    }
    Err(error)
}

/// An error with its causes: reqwest's own message alone ("error sending request") says
/// little.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the adapters' tests.

    use std::time::Duration;

    use cy_domain::money::Currency;
    use cy_domain::{Money, OrderId, RefundId};

    pub fn money(amount: i64, currency: &str) -> Money {
        Money::new(amount, Currency::parse(currency).unwrap()).unwrap()
    }

    pub fn client() -> reqwest::Client {
        super::http_client(Duration::from_secs(5)).unwrap()
    }

    /// A client that gives up after 200 ms, for answers delayed past it.
    pub fn impatient_client() -> reqwest::Client {
        super::http_client(Duration::from_millis(200)).unwrap()
    }

    /// An address where nothing listens: connecting is refused.
    pub fn closed_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}")
    }

    pub fn ids() -> (OrderId, RefundId) {
        (OrderId::generate(), RefundId::generate())
    }

    /// A received form-encoded body as sorted (name, value) pairs.
    pub fn form(body: &[u8]) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = url::form_urlencoded::parse(body).into_owned().collect();
        pairs.sort();
        pairs
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::testing::{ids, money};
    use super::*;
    use crate::SimulatedPayments;

    #[tokio::test]
    async fn providers_dispatch_on_the_named_provider() {
        let sim: Arc<dyn PaymentGateway> = Arc::new(SimulatedPayments::new(b"k", "http://localhost"));
        let providers = Providers { stripe: Some(sim.clone()), razorpay: None, paypal: Some(sim) };
        let (order, refund_id) = ids();
        let usd = money(1234, "USD");

        let intent = providers.create_payment(PaymentProvider::Stripe, &order, usd).await.unwrap();
        assert_eq!(intent.provider, PaymentProvider::Stripe);
        let capture = providers.capture_payment(PaymentProvider::Paypal, &order, "REF", usd).await.unwrap();
        assert!(capture.is_some());

        let absent = providers.create_payment(PaymentProvider::Razorpay, &order, usd).await;
        assert!(matches!(absent, Err(PaymentError::NotConfigured(_))), "{absent:?}");
        let absent = providers.capture_payment(PaymentProvider::Razorpay, &order, "x", usd).await;
        assert!(matches!(absent, Err(PaymentError::NotConfigured(_))), "{absent:?}");
        let request = RefundRequest {
            provider: PaymentProvider::Razorpay,
            order_id: order,
            refund_id,
            payment_id: "pay_1".to_owned(),
            amount: usd,
        };
        assert!(matches!(providers.refund(&request).await, Err(PaymentError::NotConfigured(_))));
        let request = RefundRequest { provider: PaymentProvider::Stripe, ..request };
        assert!(providers.refund(&request).await.is_ok());
    }

    #[test]
    fn settings_read_the_environment_and_configure_only_complete_providers() {
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            ProviderSettings::from_vars(move |name| map.get(name).cloned())
        };

        let none = vars(&[("STRIPE_SECRET_KEY", "  "), ("RAZORPAY_KEY_ID", "rzp_id")]);
        assert_eq!(none, ProviderSettings { razorpay_key_id: Some("rzp_id".to_owned()), ..Default::default() });
        assert!(!none.any_configured());
        let providers = none.providers(testing::client());
        assert!(providers.stripe.is_none() && providers.razorpay.is_none() && providers.paypal.is_none());

        // PayPal without its return pages stays off.
        let paypal_half = vars(&[("PAYPAL_CLIENT_ID", "id"), ("PAYPAL_CLIENT_SECRET", "secret")]);
        assert!(!paypal_half.any_configured());

        let all = vars(&[
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_API_BASE", "http://127.0.0.1:1"),
            ("RAZORPAY_KEY_ID", "rzp_id"),
            ("RAZORPAY_KEY_SECRET", "rzp_secret"),
            ("PAYPAL_CLIENT_ID", "pp_id"),
            ("PAYPAL_CLIENT_SECRET", "pp_secret"),
            ("PAYPAL_API_BASE", "https://api-m.sandbox.paypal.com"),
            ("PAYPAL_RETURN_URL", "https://shop.example/paid"),
            ("PAYPAL_CANCEL_URL", "https://shop.example/cancelled"),
        ]);
        assert!(all.any_configured());
        assert_eq!(all.stripe_api_base, "http://127.0.0.1:1");
        assert_eq!(all.razorpay_api_base, "https://api.razorpay.com");
        assert_eq!(all.paypal_api_base, "https://api-m.sandbox.paypal.com");
        let providers = all.providers(testing::client());
        assert!(providers.stripe.is_some() && providers.razorpay.is_some() && providers.paypal.is_some());

        let shown = format!("{all:?}");
        for secret in ["sk_test_1", "rzp_secret", "pp_secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("rzp_id"), "ids are not secret: {shown}");
    }

    #[test]
    fn endpoints_encode_ids_and_refuse_dot_segments() {
        let url = endpoint("https://api.example/", &["v1", "payments", "pay_1?x=/y", "refund"]).unwrap();
        assert_eq!(url.as_str(), "https://api.example/v1/payments/pay_1%3Fx=%2Fy/refund");
        let url = endpoint("http://127.0.0.1:9/prefix", &["v1", "orders"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/prefix/v1/orders");
        for bad in ["", ".", ".."] {
            assert!(matches!(endpoint("https://api.example", &["v1", bad]), Err(PaymentError::Declined { .. })));
        }
        assert!(matches!(endpoint("not a url", &["v1"]), Err(PaymentError::NotConfigured(_))));
    }
}
