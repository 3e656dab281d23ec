//! Payments on the local runtime: the simulated providers' side of the conversation.
//!
//! - [`WebhookSigner`] signs events exactly as Stripe, Razorpay and PayPal do, with the secrets
//!   this runtime verifies against (kept in the data dir unless set in the environment); for
//!   PayPal with a certificate generated here and trusted only by this runtime.
//! - `GET /dev/payments/{order_id}` tells a sender what a provider would know of an order's
//!   payment (reference, payment id, amount, refunds). Local only: not mounted on Lambda.
//! - [`send_webhook`] is `customiseyou-local send-webhook …`, the local `stripe trigger`.
//! - [`confirm_refunds`] answers each refund the simulator takes with the provider's signed
//!   refund webhook, as the real providers would a moment later.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use cy_data::Store;
use cy_data::orders::get_order;
use cy_domain::order::Order;
use cy_domain::payment::PaymentProvider;
use cy_domain::payment::RefundState;
use cy_domain::{Error, Money, OrderId, RefundId, Timestamp};
use cy_http::{ApiResult, Json};
use cy_payments::certs::{LocalCertificates, TestCertificate};
use cy_payments::events::{SampleFacts, sample_event};
use cy_payments::{RefundAccepted, RefundRequest, SimulatedPayments};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use crate::StartError;

/// Where the local PayPal certificate is "published": a PayPal host, so the verifier's host
/// rule is the same as on AWS; only this runtime's certificate source answers for it.
pub const LOCAL_PAYPAL_CERT_URL: &str = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-customiseyou-local";

/// The secrets a provider shares with us, as this runtime knows them.
#[derive(Clone)]
pub struct WebhookSigner {
    pub stripe_secret: String,
    pub razorpay_secret: String,
    pub paypal_webhook_id: String,
    paypal_key_pem: String,
    paypal_cert_pem: String,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner { .. }")
    }
}

impl WebhookSigner {
    /// The webhook secrets from the environment (`STRIPE_WEBHOOK_SECRET`,
    /// `RAZORPAY_WEBHOOK_SECRET`, `PAYPAL_WEBHOOK_ID`) or kept in `data_dir`, and the local
    /// PayPal certificate (made once and kept there).
    pub fn load(data_dir: &Path) -> Result<WebhookSigner, StartError> {
        let var = cy_payments::env_setting;
        let stripe_secret = match var("STRIPE_WEBHOOK_SECRET") {
            // While rolling, the first one signs.
            Some(v) => v.split(',').next().unwrap_or_default().trim().to_owned(),
            None => format!("whsec_{}", crate::kept_secret(data_dir, "stripe-webhook-secret")?),
        };
        let razorpay_secret = match var("RAZORPAY_WEBHOOK_SECRET") {
            Some(v) => v,
            None => crate::kept_secret(data_dir, "razorpay-webhook-secret")?,
        };
        let paypal_webhook_id = match var("PAYPAL_WEBHOOK_ID") {
            Some(v) => v,
            None => {
                let kept = crate::kept_secret(data_dir, "paypal-webhook-id")?;
                format!("WH-LOCAL-{}", kept.chars().filter(char::is_ascii_alphanumeric).take(17).collect::<String>())
            }
        };
        let (key, cert) = (data_dir.join("paypal-local-key.pem"), data_dir.join("paypal-local-cert.pem"));
        let (paypal_key_pem, paypal_cert_pem) = match (std::fs::read_to_string(&key), std::fs::read_to_string(&cert)) {
            (Ok(k), Ok(c)) => (k, c),
            _ => {
                let made = TestCertificate::generate().map_err(|e| format!("local PayPal certificate: {e}"))?;
                std::fs::write(&key, &made.key_pkcs8_pem)?;
                std::fs::write(&cert, &made.cert_pem)?;
                (made.key_pkcs8_pem, made.cert_pem)
            }
        };
        Ok(WebhookSigner { stripe_secret, razorpay_secret, paypal_webhook_id, paypal_key_pem, paypal_cert_pem })
    }

    /// The certificate source this runtime verifies PayPal deliveries with.
    pub fn certificates(&self) -> LocalCertificates {
        LocalCertificates::new([(LOCAL_PAYPAL_CERT_URL.to_owned(), self.paypal_cert_pem.clone())])
    }

    /// The headers a provider would send with `body`, signed now.
    pub fn headers(&self, provider: PaymentProvider, body: &[u8]) -> Result<Vec<(String, String)>, StartError> {
        let now = Timestamp::now();
        Ok(match provider {
            PaymentProvider::Stripe => vec![(
                "stripe-signature".to_owned(),
                cy_payments::events::sign_stripe(body, &self.stripe_secret, now.unix()),
            )],
            PaymentProvider::Razorpay => vec![
                ("x-razorpay-signature".to_owned(), cy_payments::events::sign_razorpay(body, &self.razorpay_secret)),
                ("x-razorpay-event-id".to_owned(), format!("evt_local{}", ulid::Ulid::new())),
            ],
            PaymentProvider::Paypal => {
                let transmission_id = ulid::Ulid::new().to_string().to_lowercase();
                self.paypal_headers(body, &transmission_id, now)?
            }
        })
    }

    /// PayPal's headers for a transmission of `body` with this id, sent at `at`.
    pub fn paypal_headers(
        &self,
        body: &[u8],
        transmission_id: &str,
        at: Timestamp,
    ) -> Result<Vec<(String, String)>, StartError> {
        let headers = cy_payments::certs::sign_paypal(
            &self.paypal_key_pem,
            transmission_id,
            &at.to_string(),
            &self.paypal_webhook_id,
            body,
            LOCAL_PAYPAL_CERT_URL,
        )
        .map_err(|e| e.to_string())?;
        Ok(headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A signed delivery of `body` to this runtime's webhook endpoint for `provider`.
    pub fn request(&self, provider: PaymentProvider, body: Vec<u8>) -> Result<http::Request<Body>, StartError> {
        let headers = self.headers(provider, &body)?;
        delivery(provider, body, &headers)
    }
}

/// A delivery of `body` with `headers` (a provider's retry sends the very same ones).
pub fn delivery(
    provider: PaymentProvider,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> Result<http::Request<Body>, StartError> {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("/webhooks/{}", provider.as_str()))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    Ok(request.body(Body::from(body))?)
}

impl WebhookSigner {}

/// What a provider knows of an order's payment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentFacts {
    pub order_id: OrderId,
    pub provider: PaymentProvider,
    pub status: String,
    pub reference: String,
    pub payment_id: String,
    pub amount: Money,
    /// Refunded so far, counting refunds the provider has taken but not yet confirmed
    /// (Stripe reports a charge's cumulative refunded amount).
    pub refunded_including_taken: Money,
    /// The newest refund the provider has taken (or we asked for), if any.
    pub latest_refund: Option<RefundFacts>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefundFacts {
    pub refund_id: RefundId,
    pub provider_refund_id: Option<String>,
    pub amount: Money,
}

/// What the simulated provider knows of `order`'s payment.
pub fn facts(order: &Order, simulator: &SimulatedPayments) -> Result<PaymentFacts, Error> {
    let payment = order.payment.as_ref();
    let reference =
        payment.map(|p| p.reference.clone()).unwrap_or_else(|| simulator.reference(order.payment_provider, &order.id));
    let payment_id = payment
        .and_then(|p| p.payment_id.clone())
        .unwrap_or_else(|| simulator.payment_id(order.payment_provider, &order.id));
    let currency = order.total.currency;
    let mut refunded = payment.map(|p| p.refunded).unwrap_or(Money::zero(currency));
    let mut latest_refund = None;
    for refund in payment.map(|p| p.refunds.as_slice()).unwrap_or_default() {
        if refund.state == RefundState::Submitted {
            refunded = refunded.checked_add(refund.amount)?;
        }
        if refund.state != RefundState::Failed {
            latest_refund = Some(RefundFacts {
                refund_id: refund.id.clone(),
                provider_refund_id: refund.provider_refund_id.clone(),
                amount: refund.amount,
            });
        }
    }
    Ok(PaymentFacts {
        order_id: order.id.clone(),
        provider: order.payment_provider,
        status: order.status.as_str().to_owned(),
        reference,
        payment_id,
        amount: order.total,
        refunded_including_taken: refunded,
        latest_refund,
    })
}

#[derive(Clone)]
struct DevState {
    store: Arc<dyn Store>,
    simulator: Arc<SimulatedPayments>,
    payments: cy_api::payments::Payments,
}

/// `GET /dev/payments/{order_id}`: the facts a sender needs. `GET /dev/paypal/approve?token=`:
/// the simulated PayPal approval page an order's `redirect_url` points at. Local only.
pub fn dev_router(
    store: Arc<dyn Store>,
    simulator: Arc<SimulatedPayments>,
    payments: cy_api::payments::Payments,
) -> Router {
    Router::new()
        .route("/dev/payments/{order_id}", get(dev_facts))
        .route("/dev/paypal/approve", get(dev_paypal_approve))
        .with_state(DevState { store, simulator, payments })
}

#[derive(Deserialize)]
struct ApproveParams {
    token: String,
}

/// The customer "approves" on the simulated PayPal page: PayPal then tells us the order was
/// approved (we capture) and, the capture done, that it completed — the two webhooks a real
/// approval brings, applied in-process (they come from this runtime, so nothing to verify).
async fn dev_paypal_approve(
    State(dev): State<DevState>,
    axum::extract::Query(params): axum::extract::Query<ApproveParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let order = cy_data::payments::order_by_payment_ref(dev.store.as_ref(), PaymentProvider::Paypal, &params.token)
        .await?
        .ok_or_else(|| Error::not_found("The PayPal order"))?;
    let mut outcome = "ignored";
    for event_type in ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"] {
        let order = get_order(dev.store.as_ref(), &order.id).await?.ok_or_else(Error::internal)?;
        let body = event_body(PaymentProvider::Paypal, event_type, &facts(&order, &dev.simulator)?, None)
            .map_err(|_| Error::internal())?;
        let event = cy_payments::events::parse_paypal(&body).map_err(|_| Error::internal())?;
        outcome = dev.payments.apply(&event).await?.label();
    }
    let order = get_order(dev.store.as_ref(), &order.id).await?.ok_or_else(Error::internal)?;
    Ok(Json(serde_json::json!({"order_id": order.id, "status": order.status, "outcome": outcome})))
}

async fn dev_facts(State(dev): State<DevState>, UrlPath(order_id): UrlPath<String>) -> ApiResult<Json<PaymentFacts>> {
    let id = OrderId::parse(&order_id)?;
    let order = get_order(dev.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The order"))?;
    Ok(Json(facts(&order, &dev.simulator)?))
}

/// The event body a provider would send for `facts`. For refund events the amount is the
/// refund's (Stripe: the charge's cumulative refunded amount), unless `amount` overrides it.
pub fn event_body(
    provider: PaymentProvider,
    event_type: &str,
    facts: &PaymentFacts,
    amount: Option<Money>,
) -> Result<Vec<u8>, StartError> {
    let refund = facts.latest_refund.as_ref();
    let is_refund = event_type.contains("refund") || event_type.contains("REFUND");
    // A refund with none of ours taken is one made in the provider's dashboard: all of it.
    let default_amount = match (is_refund, provider, refund) {
        // Stripe's `charge.refunded` carries the charge's cumulative `amount_refunded`.
        (true, PaymentProvider::Stripe, Some(_)) if event_type == "charge.refunded" => facts.refunded_including_taken,
        (true, _, Some(r)) => r.amount,
        _ => facts.amount,
    };
    let sample = SampleFacts {
        order_id: facts.order_id.clone(),
        reference: facts.reference.clone(),
        payment_id: facts.payment_id.clone(),
        amount: amount.unwrap_or(default_amount),
        refund_id: refund.map(|r| r.refund_id.clone()),
        provider_refund_id: refund
            .and_then(|r| r.provider_refund_id.clone())
            .unwrap_or_else(|| format!("re_local{}", ulid::Ulid::new())),
    };
    let event_id = match provider {
        PaymentProvider::Stripe => format!("evt_local{}", ulid::Ulid::new()),
        PaymentProvider::Razorpay => String::new(),
        PaymentProvider::Paypal => format!("WH-LOCAL-{}", ulid::Ulid::new()),
    };
    Ok(sample_event(provider, event_type, &sample, &event_id, Timestamp::now().unix())?)
}

/// Confirms each refund the simulator takes with the provider's signed refund webhook,
/// delivered to `router` (this runtime), as the provider would shortly after.
pub async fn confirm_refunds(
    router: Router,
    store: Arc<dyn Store>,
    simulator: Arc<SimulatedPayments>,
    signer: WebhookSigner,
    mut taken: tokio::sync::mpsc::UnboundedReceiver<(RefundRequest, RefundAccepted)>,
) {
    while let Some((request, _accepted)) = taken.recv().await {
        // The provider answers a moment later, by which time we have noted that it took it.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let result = async {
            let order = get_order(store.as_ref(), &request.order_id).await?.ok_or("the order is gone")?;
            let facts = facts(&order, &simulator)?;
            let event_type = match request.provider {
                PaymentProvider::Stripe => "charge.refunded",
                PaymentProvider::Razorpay => "refund.processed",
                PaymentProvider::Paypal => "PAYMENT.CAPTURE.REFUNDED",
            };
            let mut facts = facts;
            if let Some(r) = facts.latest_refund.as_mut().filter(|r| r.refund_id != request.refund_id) {
                // Confirm the refund that was taken, not whichever is newest.
                r.refund_id = request.refund_id.clone();
                r.amount = request.amount;
            }
            let body = event_body(request.provider, event_type, &facts, None)?;
            let answer = router.clone().oneshot(signer.request(request.provider, body)?).await?;
            Ok::<_, StartError>(answer.status())
        }
        .await;
        match result {
            Ok(status) => {
                tracing::info!(order_id = %request.order_id, refund_id = %request.refund_id, %status, "simulated refund confirmed")
            }
            Err(e) => tracing::warn!(order_id = %request.order_id, error = %e, "simulated refund confirmation failed"),
        }
    }
}

/// `customiseyou-local send-webhook <provider> <event type> --order <id>`: builds the event a
/// provider would send for that order, signs it with this runtime's secrets (the data dir's,
/// or the environment's) and posts it to the running runtime at `url`. Prints the answer.
pub async fn send_webhook(
    url: &str,
    data_dir: &Path,
    provider: PaymentProvider,
    event_type: &str,
    order: &OrderId,
    amount: Option<i64>,
) -> Result<(u16, String), StartError> {
    let signer = WebhookSigner::load(data_dir)?;
    let client = reqwest::Client::new();
    let url = url.trim_end_matches('/');
    let answer = client.get(format!("{url}/dev/payments/{order}")).send().await?;
    if !answer.status().is_success() {
        return Err(format!("{url} does not know order {order}: {}", answer.text().await.unwrap_or_default()).into());
    }
    let facts: PaymentFacts = answer.json().await?;
    if facts.provider != provider {
        return Err(format!("order {order} is paid with {}, not {}", facts.provider.as_str(), provider.as_str()).into());
    }
    let amount = amount.map(|a| Money::new(a, facts.amount.currency)).transpose()?;
    let body = event_body(provider, event_type, &facts, amount)?;
    let mut request =
        client.post(format!("{url}/webhooks/{}", provider.as_str())).header("content-type", "application/json");
    for (name, value) in signer.headers(provider, &body)? {
        request = request.header(name, value);
    }
    let answer = request.body(body).send().await?;
    Ok((answer.status().as_u16(), answer.text().await.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime and a later `send-webhook` process load the same kept secrets and key: what
    /// one signs, the other verifies.
    #[tokio::test]
    async fn a_signer_loaded_again_from_the_data_dir_signs_what_the_runtime_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = WebhookSigner::load(dir.path()).unwrap();
        let sender = WebhookSigner::load(dir.path()).unwrap();
        assert_eq!(runtime.paypal_webhook_id, sender.paypal_webhook_id);
        let body = br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}"#;
        let headers = sender.headers(PaymentProvider::Paypal, body).unwrap();
        let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let paypal = cy_payments::webhooks::PaypalHeaders {
            transmission_id: get("paypal-transmission-id"),
            transmission_time: get("paypal-transmission-time"),
            transmission_sig: get("paypal-transmission-sig"),
            cert_url: get("paypal-cert-url"),
            auth_algo: get("paypal-auth-algo"),
        };
        let verified = cy_payments::webhooks::verify_paypal(
            &paypal,
            body,
            &runtime.paypal_webhook_id,
            &runtime.certificates(),
            Timestamp::now().unix(),
        )
        .await;
        assert_eq!(verified, Ok(()));
    }
}
