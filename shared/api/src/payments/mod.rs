//! Function `payment-webhook`: the providers' webhooks, verified on the raw body before
//! anything else is read, then applied exactly once (`cy_data::payments`). Also the money
//! follow-ups other functions share: sending refunds, capturing approved PayPal payments, and
//! the sweep that (re)sends refunds a crash or an outage left unsent.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use cy_data::Store;
use cy_data::orders::get_order;
use cy_data::payments::{self as records, EventOutcome};
use cy_domain::order::Order;
use cy_domain::payment::{PaymentLookup, ProviderEvent, ProviderEventKind, RefundState};
use cy_domain::settlement::{Decision, decide};
use cy_domain::{Error, Timestamp};
use cy_http::extract::read_body;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, ErrorBody, Json};
use cy_payments::certs::CertificateSource;
use cy_payments::events::{parse_paypal, parse_razorpay, parse_stripe};
use cy_payments::webhooks::{PaypalHeaders, Refused, verify_paypal, verify_razorpay, verify_stripe};
use cy_payments::{PaymentError, PaymentGateway, RefundRequest};
use serde_json::{Value, json};

/// The money side shared by the webhook, orders and the scheduled sweep.
#[derive(Clone)]
pub struct Payments {
    pub store: Arc<dyn Store>,
    pub gateway: Arc<dyn PaymentGateway>,
}

impl Payments {
    /// Applies a verified event, then does what it asks for: capture an approved PayPal
    /// payment, send the refunds it recorded (e.g. for a payment that arrived after its order
    /// expired). Follow-ups are idempotent and also run for a repeated delivery, so a provider's
    /// retry finishes what an outage interrupted.
    pub async fn apply(&self, event: &ProviderEvent) -> Result<EventOutcome, Error> {
        check_ids(event)?;
        if matches!(event.kind, ProviderEventKind::Approved { .. })
            && let Some(outcome) = self.capture_approved(event).await?
        {
            return Ok(outcome);
        }
        let outcome = records::apply_provider_event(self.store.as_ref(), event).await?;
        let order = match outcome.order() {
            Some(order) => Some(order.clone()),
            None => records::order_for_event(self.store.as_ref(), event).await?,
        };
        if let Some(order) = order {
            self.send_refunds(&order).await;
        }
        Ok(outcome)
    }

    /// PayPal: the customer approved; capture (idempotent per order) and, if the money is
    /// collected at once, apply that as the payment's success. Approvals are not claimed: a
    /// repeated one captures again, which PayPal answers with the same capture.
    /// `None` when the approval is for the general path (flag, nothing to do).
    async fn capture_approved(&self, event: &ProviderEvent) -> Result<Option<EventOutcome>, Error> {
        let Some(order) = records::order_for_event(self.store.as_ref(), event).await? else { return Ok(None) };
        let Decision::Apply(change) = decide(&order, event, Timestamp::now())? else { return Ok(None) };
        if !change.capture {
            return Ok(None);
        }
        let reference = change.payment.reference.clone();
        let captured = self.gateway.capture_payment(order.payment_provider, &order.id, &reference, order.total).await;
        let synthetic = |kind, payment_id: Option<String>, id: String| ProviderEvent {
            provider: event.provider,
            event_id: id,
            event_type: format!("{} (capture)", event.event_type),
            lookup: PaymentLookup { reference: Some(reference.clone()), payment_id, order_id: Some(order.id.clone()) },
            kind,
            occurred_at: event.occurred_at,
        };
        let follow = match captured {
            Ok(Some(capture)) if capture.completed => synthetic(
                ProviderEventKind::Succeeded { amount: capture.amount },
                Some(capture.payment_id.clone()),
                format!("capture:{}", capture.payment_id),
            ),
            // Pending or nothing to capture: the capture's own webhook will tell.
            Ok(_) => return Ok(Some(EventOutcome::Nothing { reason: "capture requested".into(), order: Some(order) })),
            Err(PaymentError::Declined { code, message }) => synthetic(
                ProviderEventKind::Failed { reason: format!("{code}: {message}") },
                None,
                format!("capture-declined:{reference}"),
            ),
            Err(e) => {
                tracing::warn!(order_id = %order.id, error = %e, "capture failed; PayPal will deliver the approval again");
                return Err(Error::unavailable(30));
            }
        };
        Ok(Some(records::apply_provider_event(self.store.as_ref(), &follow).await?))
    }

    /// Sends the order's refunds that no provider has taken yet, noting each answer. A refund
    /// the provider cannot take now stays due, and so do the order's others (the sweep and later
    /// deliveries retry them with the same idempotency keys); one it refuses for good is marked
    /// failed. Returns how many were taken.
    pub async fn send_refunds(&self, order: &Order) -> usize {
        self.send_refunds_reporting(order).await.0
    }

    /// [`Self::send_refunds`], also telling whether the provider could not be reached (then
    /// the order's other refunds were not tried either).
    async fn send_refunds_reporting(&self, order: &Order) -> (usize, bool) {
        let Some(payment) = &order.payment else { return (0, false) };
        let mut sent = 0;
        for refund in payment.refunds.iter().filter(|r| r.state == RefundState::Requested) {
            let request = RefundRequest {
                provider: order.payment_provider,
                order_id: order.id.clone(),
                refund_id: refund.id.clone(),
                payment_id: payment.payment_id.clone().unwrap_or_else(|| payment.reference.clone()),
                amount: refund.amount,
            };
            let answer = match self.gateway.refund(&request).await {
                Ok(accepted) => Ok(accepted.provider_refund_id),
                Err(PaymentError::Declined { code, message }) => Err(format!("{code}: {message}")),
                Err(e) => {
                    tracing::warn!(order_id = %order.id, refund_id = %refund.id, error = %e, "refund not sent yet; it stays due");
                    return (sent, true);
                }
            };
            let taken = answer.is_ok();
            match records::settle_refund_request(self.store.as_ref(), &order.id, &refund.id, answer).await {
                Ok(_) => sent += usize::from(taken),
                Err(e) => {
                    tracing::warn!(order_id = %order.id, refund_id = %refund.id, error = %e, "noting the refund's answer failed; the sweep retries")
                }
            }
        }
        (sent, false)
    }

    /// Closes the payment of an order called off before its money came (expired, or cancelled
    /// unpaid), so the provider refuses a late attempt rather than collecting it for us to
    /// refund. Best effort: a failure is logged, and a payment that arrives anyway is refunded.
    pub async fn close_payment(&self, order: &Order) {
        let Some(payment) = order.payment.as_ref().filter(|p| p.captured.is_none()) else { return };
        if let Err(e) = self.gateway.close_payment(order.payment_provider, &order.id, &payment.reference).await {
            tracing::warn!(order_id = %order.id, error = %e, "closing the payment failed; a late payment is refunded");
        }
    }

    /// The reservation sweep: cancels unpaid orders whose reservation ended (their stock back)
    /// and closes their payments. Returns how many it cancelled.
    pub async fn expire_reservations(&self, now: Timestamp) -> Result<usize, Error> {
        let expired = cy_data::orders::expire_reservations(self.store.as_ref(), now).await?;
        for order in &expired {
            self.close_payment(order).await;
        }
        Ok(expired.len())
    }

    /// The sweep (scheduled, with the reservation sweep): sends the refunds still due, oldest
    /// first, page by page, at most [`SWEEP_BUDGET`] a run. A provider that could not be
    /// reached is not asked again in the same run, so one provider's outage (each attempt may
    /// wait out a timeout) holds back neither the run nor the other providers' refunds.
    pub async fn sweep_refunds(&self) -> Result<usize, Error> {
        // `tried` counts refunds asked for (the budget); `read`, entries read, skipped ones
        // included, bounded higher so a long outage's backlog cannot make a run endless.
        let (mut sent, mut tried, mut read) = (0, 0, 0);
        let mut unreachable: Vec<cy_domain::payment::PaymentProvider> = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = records::refunds_due_page(self.store.as_ref(), 100, cursor).await?;
            for due in page {
                read += 1;
                let Some(order) = get_order(self.store.as_ref(), &due.order_id).await? else { continue };
                if unreachable.contains(&order.payment_provider) {
                    continue;
                }
                tried += 1;
                let open = order
                    .payment
                    .as_ref()
                    .and_then(|p| p.refunds.iter().find(|r| r.id == due.refund_id))
                    .is_some_and(|r| r.state == RefundState::Requested);
                if open {
                    let (n, down) = self.send_refunds_reporting(&order).await;
                    sent += n;
                    if down {
                        unreachable.push(order.payment_provider);
                    }
                } else if let Err(e) =
                    records::settle_refund_request(self.store.as_ref(), &order.id, &due.refund_id, Ok(String::new()))
                        .await
                {
                    // Answered already (the entry outlived its refund's answer); the next run
                    // clears it.
                    tracing::warn!(order_id = %order.id, refund_id = %due.refund_id, error = %e, "clearing a due entry failed");
                }
            }
            match next {
                Some(next) if tried < SWEEP_BUDGET && read < 10 * SWEEP_BUDGET => cursor = Some(next),
                _ => break,
            }
        }
        Ok(sent)
    }
}

/// How many due refunds one sweep asks providers for, at most (and it reads at most ten times
/// as many entries, skipping those of a provider that is down): a run ends well within its
/// function's timeout, and the next (a minute later) goes on.
pub const SWEEP_BUDGET: usize = 1000;

/// Provider ids become parts of our keys: refuse anything that is not a short printable id.
fn check_ids(event: &ProviderEvent) -> Result<(), Error> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_graphic());
    let PaymentLookup { reference, payment_id, .. } = &event.lookup;
    let all = std::iter::once(Some(&event.event_id)).chain([reference.as_ref(), payment_id.as_ref()]).flatten();
    for id in all {
        if !ok(id) {
            return Err(Error::invalid("event", "carries an id that is empty, too long or not printable"));
        }
    }
    Ok(())
}

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
    verify_paypal(&paypal_headers, &body, webhook_id, hooks.certificates.as_ref(), Timestamp::now().unix())
        .await
        .map_err(|why| refused("paypal", why))?;
    let event = parse_paypal(&body).map_err(malformed)?;
    answer(&hooks.payments, event).await
}

/// The payment gateway of a Lambda: the providers configured in the environment (see
/// `cy_payments::providers::ProviderSettings`), or — on a stage with none configured and
/// `PAYMENT_SIMULATOR_SECRET` set — the simulator. Neither configured is an error at start.
pub fn gateway_from_env() -> Result<Arc<dyn PaymentGateway>, String> {
    let settings = cy_payments::providers::ProviderSettings::from_env();
    if settings.any_configured() {
        let client =
            cy_payments::providers::http_client(cy_payments::providers::DEFAULT_TIMEOUT).map_err(|e| e.to_string())?;
        return Ok(Arc::new(settings.providers(client)));
    }
    match cy_payments::env_setting("PAYMENT_SIMULATOR_SECRET") {
        Some(secret) => {
            tracing::warn!("no payment provider configured: payments are SIMULATED on this stage");
            Ok(Arc::new(cy_payments::SimulatedPayments::new(secret.as_bytes(), "")))
        }
        None => Err("no payment provider is configured (STRIPE_SECRET_KEY, RAZORPAY_KEY_ID/…, PAYPAL_CLIENT_ID/…) \
                     and PAYMENT_SIMULATOR_SECRET is not set"
            .to_owned()),
    }
}
