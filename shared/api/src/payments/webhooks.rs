//! Function `payment-webhook`: the providers' webhooks, verified on the raw body before
//! anything else is read, then applied exactly once (`cy_data::payments`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use cy_data::payments as payment_records;
use cy_domain::Error;
use cy_domain::Timestamp;
use cy_domain::payment::{PaymentProvider, ProviderEvent};
use cy_http::extract::read_body;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, ErrorBody, Json};
use cy_payments::certs::CertificateSource;
use cy_payments::events::{parse_paypal, parse_razorpay, parse_stripe};
use cy_payments::webhooks::{PaypalHeaders, Refused, verify_paypal, verify_razorpay, verify_stripe};
use serde_json::{Value, json};

use super::Payments;

/// What the webhook endpoints are configured with (from the environment locally, from
/// Secrets Manager through the template on AWS). None of it is ever logged.
pub struct WebhookSecrets {
    /// Stripe signing secrets: the current one and, while rolling, the previous one.
    pub stripe: Vec<String>,
    pub stripe_tolerance_secs: i64,
    pub razorpay: Option<String>,
    pub paypal_webhook_id: Option<String>,
}

impl WebhookSecrets {
    /// `STRIPE_WEBHOOK_SECRET` (several comma-separated while rolling),
    /// `STRIPE_WEBHOOK_TOLERANCE_SECS` (default 300), `RAZORPAY_WEBHOOK_SECRET`,
    /// `PAYPAL_WEBHOOK_ID`. A provider left unset refuses its webhooks.
    pub fn from_env() -> Result<Self, String> {
        let var = cy_payments::env_setting;
        let stripe = var("STRIPE_WEBHOOK_SECRET")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let stripe_tolerance_secs = match var("STRIPE_WEBHOOK_TOLERANCE_SECS") {
            Some(v) => v.parse().map_err(|_| "STRIPE_WEBHOOK_TOLERANCE_SECS must be a number of seconds")?,
            None => cy_payments::webhooks::STRIPE_TOLERANCE_SECS,
        };
        Ok(WebhookSecrets {
            stripe,
            stripe_tolerance_secs,
            razorpay: var("RAZORPAY_WEBHOOK_SECRET"),
            paypal_webhook_id: var("PAYPAL_WEBHOOK_ID"),
        })
    }
}

#[derive(Clone)]
pub struct Webhooks {
    pub payments: Payments,
    pub secrets: Arc<WebhookSecrets>,
    pub certificates: Arc<dyn CertificateSource>,
}

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(stripe, razorpay, paypal), components(schemas(WebhookAnswer)))]
pub struct Api;

pub fn router(webhooks: Webhooks) -> Router {
    routes(webhooks).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(webhooks: Webhooks) -> Routes {
    route!(Routes::new(), stripe, razorpay, paypal).with_state(webhooks)
}

/// What every webhook answers, for the document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Documentation only: the handlers answer through `ApiResult`.
enum WebhookAnswers {
    /// Acknowledged (also a duplicate, an ignored type, a flagged event)
    #[response(status = 200)]
    Acknowledged(WebhookAnswer),
    /// The signature does not verify, or the payload is malformed
    #[response(status = 400)]
    Refused(ErrorBody),
    /// Not configured, or a dependency is down: the provider retries
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What a webhook answers: applied, ignored, a duplicate, or flagged for admins.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // The answer is built as JSON; this is its documented shape.
struct WebhookAnswer {
    received: bool,
    #[schema(pattern = "^(applied|ignored|duplicate|flagged)$")]
    outcome: String,
    order_id: Option<cy_domain::OrderId>,
    status: Option<cy_domain::order::OrderStatus>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refused(provider: &str, why: Refused) -> Error {
    tracing::warn!(provider, reason = %why, "webhook refused");
    match why {
        // Not the sender's fault: PayPal retries, and by then the certificate may be reachable.
        Refused::CertificateUnavailable => Error::unavailable(60),
        why => Error::invalid("signature", why.to_string()),
    }
}

fn not_configured(provider: &str) -> Error {
    // The provider retries for days: an operator can still set the secret and lose nothing.
    tracing::error!(provider, "webhook secret not configured; refusing until it is");
    Error::unavailable(300)
}

fn malformed(e: impl std::fmt::Display) -> Error {
    Error::invalid("body", format!("is not an event we can read: {e}"))
}

async fn answer(payments: &Payments, event: ProviderEvent) -> ApiResult<Json<Value>> {
    let outcome = payments.apply(&event).await?;
    tracing::info!(provider = ?event.provider, event_id = %event.event_id, event_type = %event.event_type,
        outcome = outcome.label(), "webhook");
    let mut body = json!({"received": true, "outcome": outcome.label()});
    if let Some(order) = outcome.order() {
        body["order_id"] = json!(order.id);
        body["status"] = json!(order.status);
    }
    Ok(Json(body))
}

/// The provider's event, verified on the raw body, applied exactly once.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "payments",
    request_body(content = Object, description = "The provider's event, as it sends it"),
    params(("Stripe-Signature" = String, Header, description = "`t=…,v1=…`: HMAC-SHA256 of `{t}.{body}` with the webhook secret")),
    responses(WebhookAnswers))]
async fn stripe(State(hooks): State<Webhooks>, headers: HeaderMap, body: Body) -> ApiResult<Json<Value>> {
    let body = read_body(body).await?;
    if hooks.secrets.stripe.is_empty() {
        return Err(not_configured("stripe").into());
    }
    let secrets: Vec<&str> = hooks.secrets.stripe.iter().map(String::as_str).collect();
    let now = Timestamp::now().unix();
    verify_stripe(header(&headers, "stripe-signature"), &body, &secrets, now, hooks.secrets.stripe_tolerance_secs)
        .map_err(|why| refused("stripe", why))?;
    let event = parse_stripe(&body).map_err(malformed)?;
    answer(&hooks.payments, event).await
}

/// The provider's event, verified on the raw body, applied exactly once.
#[utoipa::path(post, path = "/webhooks/razorpay", tag = "payments",
    request_body(content = Object, description = "The provider's event, as it sends it"),
    params(("X-Razorpay-Signature" = String, Header, description = "Hex HMAC-SHA256 of the body with the webhook secret")),
    responses(WebhookAnswers))]
async fn razorpay(State(hooks): State<Webhooks>, headers: HeaderMap, body: Body) -> ApiResult<Json<Value>> {
    let body = read_body(body).await?;
    let Some(secret) = &hooks.secrets.razorpay else { return Err(not_configured("razorpay").into()) };
    verify_razorpay(header(&headers, "x-razorpay-signature"), &body, secret).map_err(|why| refused("razorpay", why))?;
    let event = parse_razorpay(&body, header(&headers, "x-razorpay-event-id")).map_err(malformed)?;
    answer(&hooks.payments, event).await
}

/// The provider's event, verified on the raw body, applied exactly once.
#[utoipa::path(post, path = "/webhooks/paypal", tag = "payments",
    request_body(content = Object, description = "The provider's event, as it sends it"),
    params(("PAYPAL-TRANSMISSION-SIG" = String, Header, description = "SHA256withRSA over `transmission_id|time|webhook_id|crc32(body)`, with `PAYPAL-CERT-URL` and the other `PAYPAL-*` headers")),
    responses(WebhookAnswers))]
async fn paypal(State(hooks): State<Webhooks>, headers: HeaderMap, body: Body) -> ApiResult<Json<Value>> {
    let body = read_body(body).await?;
    let Some(webhook_id) = &hooks.secrets.paypal_webhook_id else { return Err(not_configured("paypal").into()) };
    let paypal_headers = PaypalHeaders {
        transmission_id: header(&headers, "paypal-transmission-id"),
        transmission_time: header(&headers, "paypal-transmission-time"),
        transmission_sig: header(&headers, "paypal-transmission-sig"),
        cert_url: header(&headers, "paypal-cert-url"),
        auth_algo: header(&headers, "paypal-auth-algo"),
    };
    let now = Timestamp::now();
    verify_paypal(&paypal_headers, &body, webhook_id, hooks.certificates.as_ref(), now.unix())
        .await
        .map_err(|why| refused("paypal", why))?;
    let event = parse_paypal(&body).map_err(malformed)?;
    // Each transmission is applied once: a replay of the very same one (within the time
    // tolerance, after which it is stale) changes nothing — an approval included, which is not
    // claimed as an event.
    let transmission = paypal_headers.transmission_id.unwrap_or_default().trim();
    if transmission.len() > 255 || !transmission.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid("PAYPAL-TRANSMISSION-ID", "is not a transmission id").into());
    }
    let store = hooks.payments.store.as_ref();
    if !payment_records::claim_transmission(store, PaymentProvider::Paypal, transmission, now).await? {
        tracing::info!(transmission, event_id = %event.event_id, "a PayPal transmission delivered again");
        return Ok(Json(json!({"received": true, "outcome": "duplicate"})));
    }
    let answered = answer(&hooks.payments, event).await;
    if answered.is_err() {
        // PayPal retries a delivery we could not take: let its retry through.
        if let Err(e) = payment_records::release_transmission(store, PaymentProvider::Paypal, transmission).await {
            tracing::warn!(transmission, error = %e.message, "forgetting a failed transmission failed");
        }
    }
    answered
}
