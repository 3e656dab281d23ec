//! Providers' webhook payloads, once verified ([`crate::webhooks`]), turned into
//! [`ProviderEvent`]s; and realistic sample payloads of each provider's shape, with the signing
//! their senders use, for `send-webhook`, the local runtime and tests.
//!
//! Parsing is lenient where providers are (they add fields; optional fields come and go, and
//! Razorpay sends an empty `notes` as `[]`) and strict where it matters: an event we act on
//! without its ids, amount or currency is an error, never an event with a guessed value.
//! Amounts are integer minor units (Stripe, Razorpay) or exact decimal strings (PayPal); no
//! floating point is involved.

use cy_domain::order::PaymentProvider;
use cy_domain::payment::{PaymentLookup, ProviderEvent, ProviderEventKind};
use cy_domain::{Currency, Money, OrderId, RefundId};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the payload is not the JSON expected: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the payload lacks {0}")]
    Missing(&'static str),
    #[error("{field} is invalid: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("there is no sample {provider:?} event of type {event_type:?}")]
    UnsupportedSample { provider: PaymentProvider, event_type: String },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ParseError {
    ParseError::Invalid { field, message: message.into() }
}

/// Key-value notes: Stripe `metadata`, Razorpay `notes`. Razorpay sends `[]` (PHP's empty
/// array) when there are none, so an empty array and `null` both mean "no notes".
#[derive(Debug, Default)]
struct Notes(Map<String, Value>);

impl<'de> Deserialize<'de> for Notes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => Ok(Notes(map)),
            Value::Null => Ok(Notes::default()),
            Value::Array(items) if items.is_empty() => Ok(Notes::default()),
            _ => Err(serde::de::Error::custom("notes must be an object")),
        }
    }
}

impl Notes {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Our order id, if one we could have written is there (anything else is not ours).
    fn order_id(&self) -> Option<OrderId> {
        self.get("order_id").and_then(|raw| OrderId::parse(raw).ok())
    }
}

/// Our refund id, if `raw` is one: a provider may carry other text in the same place (a
/// dashboard refund of a PayPal capture keeps the capture's invoice id, say).
fn our_refund_id(raw: Option<&str>) -> Option<String> {
    raw.and_then(|raw| RefundId::parse(raw).ok()).map(|id| id.as_str().to_owned())
}

/// Integer minor units in a currency named in any case (Stripe writes `inr`).
fn minor_units(amount: Option<i64>, currency: &str, field: &'static str) -> Result<Money, ParseError> {
    let amount = amount.ok_or(ParseError::Missing(field))?;
    let currency = Currency::parse(&currency.to_ascii_uppercase()).map_err(|e| invalid("currency", e.message))?;
    Money::non_negative(amount, currency).map_err(|e| invalid(field, e.message))
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ParseError> {
    Ok(serde_json::from_value(value)?)
}

fn event(
    provider: PaymentProvider,
    event_id: String,
    event_type: String,
    lookup: PaymentLookup,
    kind: ProviderEventKind,
) -> ProviderEvent {
    ProviderEvent { provider, event_id, event_type, lookup, kind, occurred_at: None }
}

// ---------------------------------------------------------------------------------------------
// Stripe

#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    data: StripeData,
}

#[derive(Default, Deserialize)]
struct StripeData {
    #[serde(default)]
    object: Value,
}

#[derive(Deserialize)]
struct StripePaymentIntent {
    id: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    metadata: Notes,
    #[serde(default)]
    last_payment_error: Option<StripeError>,
}

#[derive(Deserialize)]
struct StripeError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct StripeCharge {
    id: String,
    #[serde(default)]
    amount_refunded: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    metadata: Notes,
    /// Present on older API versions only (no longer expanded since 2022-11-15).
    #[serde(default)]
    refunds: Option<StripeList<StripeRefund>>,
}

#[derive(Deserialize)]
struct StripeList<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

#[derive(Deserialize)]
struct StripeRefund {
    #[serde(default)]
    created: i64,
    #[serde(default)]
    metadata: Notes,
}

/// A Refund object as `refund.*` and `charge.refund.updated` events carry it.
#[derive(Deserialize)]
struct StripeRefundObject {
    id: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    charge: Option<String>,
    #[serde(default)]
    metadata: Notes,
}

/// Parses a verified Stripe event.
pub fn parse_stripe(body: &[u8]) -> Result<ProviderEvent, ParseError> {
    let StripeEvent { id, event_type, created, data } = serde_json::from_slice(body)?;
    let (lookup, kind) = match event_type.as_str() {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let intent: StripePaymentIntent = from_value(data.object)?;
            let kind = if event_type == "payment_intent.succeeded" {
                // `amount_received` is what was collected; older payloads may only have `amount`.
                let received = intent.amount_received.or(intent.amount);
                ProviderEventKind::Succeeded {
                    amount: minor_units(received, &intent.currency, "data.object.amount_received")?,
                }
            } else {
                let error = intent.last_payment_error.as_ref();
                let reason = error.and_then(|e| e.message.clone().or_else(|| e.code.clone()));
                ProviderEventKind::Failed { reason: reason.unwrap_or_else(|| "payment failed".into()) }
            };
            let lookup = PaymentLookup {
                reference: Some(intent.id.clone()),
                payment_id: Some(intent.id),
                order_id: intent.metadata.order_id(),
            };
            (lookup, kind)
        }
        "charge.refunded" => {
            let charge: StripeCharge = from_value(data.object)?;
            let amount = minor_units(charge.amount_refunded, &charge.currency, "data.object.amount_refunded")?;
            // Stripe lists refunds newest first; `created` decides, the first listed wins a tie.
            let newest = charge.refunds.as_ref().and_then(|list| list.data.iter().rev().max_by_key(|r| r.created));
            let kind = ProviderEventKind::Refunded {
                refund_key: charge.id,
                amount,
                our_refund_id: our_refund_id(newest.and_then(|r| r.metadata.get("refund_id"))),
            };
            let lookup = PaymentLookup {
                reference: charge.payment_intent.clone(),
                payment_id: charge.payment_intent,
                order_id: charge.metadata.order_id(),
            };
            (lookup, kind)
        }
        // A refund's later life. Its success is confirmed by `charge.refunded`; only a failure
        // (a closed card, say: the money comes back to our balance) is news here.
        "refund.failed" | "refund.updated" | "charge.refund.updated" => {
            let refund: StripeRefundObject = from_value(data.object)?;
            if !matches!(refund.status.as_deref(), Some("failed" | "canceled")) {
                return Ok(event(
                    PaymentProvider::Stripe,
                    id,
                    event_type,
                    PaymentLookup::default(),
                    ProviderEventKind::Ignored,
                ));
            }
            let kind = ProviderEventKind::RefundFailed {
                amount: minor_units(refund.amount, &refund.currency, "data.object.amount")?,
                our_refund_id: our_refund_id(refund.metadata.get("refund_id")),
                reason: refund.failure_reason.or(refund.status).unwrap_or_else(|| "failed".into()),
                provider_refund_id: refund.id,
                charge: refund.charge,
            };
            let lookup = PaymentLookup {
                reference: refund.payment_intent.clone(),
                payment_id: refund.payment_intent,
                order_id: refund.metadata.order_id(),
            };
            (lookup, kind)
        }
        _ => (PaymentLookup::default(), ProviderEventKind::Ignored),
    };
    Ok(ProviderEvent { occurred_at: created, ..event(PaymentProvider::Stripe, id, event_type, lookup, kind) })
}

// ---------------------------------------------------------------------------------------------
// Razorpay

#[derive(Deserialize)]
struct RazorpayEvent {
    event: String,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    payload: Map<String, Value>,
    #[serde(default)]
    created_at: Option<i64>,
}

impl RazorpayEvent {
    /// `payload.<name>.entity`, if there.
    fn entity(&self, name: &str) -> Option<&Value> {
        self.payload.get(name).and_then(|p| p.get("entity"))
    }

    fn required<T: DeserializeOwned>(&self, name: &str, missing: &'static str) -> Result<T, ParseError> {
        from_value(self.entity(name).cloned().ok_or(ParseError::Missing(missing))?)
    }
}

#[derive(Deserialize)]
struct RazorpayPayment {
    id: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    notes: Notes,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_reason: Option<String>,
}

#[derive(Deserialize)]
struct RazorpayRefund {
    id: String,
    #[serde(default)]
    payment_id: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    notes: Notes,
}

/// A refund event's lookup and its refund: the payment's order is in the payment entity, when
/// Razorpay sends it along.
fn razorpay_refund(parsed: &RazorpayEvent) -> Result<(PaymentLookup, RazorpayRefund), ParseError> {
    let refund: RazorpayRefund = parsed.required("refund", "payload.refund.entity")?;
    let order = parsed.entity("payment").and_then(|p| p.get("order_id")).and_then(Value::as_str);
    let lookup = PaymentLookup {
        reference: order.map(str::to_owned),
        payment_id: refund.payment_id.clone(),
        order_id: refund.notes.order_id(),
    };
    Ok((lookup, refund))
}

/// Parses a verified Razorpay event. `event_id_header` is `x-razorpay-event-id`; without it the
/// id is `"<event>:<entity id>"`, which names the same thing since a payment is captured once
/// and a refund processed once.
pub fn parse_razorpay(body: &[u8], event_id_header: Option<&str>) -> Result<ProviderEvent, ParseError> {
    let parsed: RazorpayEvent = serde_json::from_slice(body)?;
    let (entity_id, lookup, kind) = match parsed.event.as_str() {
        "payment.captured" | "payment.failed" => {
            let payment: RazorpayPayment = parsed.required("payment", "payload.payment.entity")?;
            let kind = if parsed.event == "payment.captured" {
                ProviderEventKind::Succeeded {
                    amount: minor_units(payment.amount, &payment.currency, "payload.payment.entity.amount")?,
                }
            } else {
                let reason = payment.error_description.or(payment.error_reason);
                ProviderEventKind::Failed { reason: reason.unwrap_or_else(|| "payment failed".into()) }
            };
            let lookup = PaymentLookup {
                reference: payment.order_id,
                payment_id: Some(payment.id.clone()),
                order_id: payment.notes.order_id(),
            };
            (Some(payment.id), lookup, kind)
        }
        "refund.processed" | "refund.failed" => {
            let (lookup, refund) = razorpay_refund(&parsed)?;
            let amount = minor_units(refund.amount, &refund.currency, "payload.refund.entity.amount")?;
            let ours = our_refund_id(refund.notes.get("refund_id"));
            let kind = if parsed.event == "refund.processed" {
                ProviderEventKind::Refunded { refund_key: refund.id.clone(), amount, our_refund_id: ours }
            } else {
                ProviderEventKind::RefundFailed {
                    provider_refund_id: refund.id.clone(),
                    charge: None,
                    amount,
                    our_refund_id: ours,
                    reason: "the refund failed at Razorpay".into(),
                }
            };
            (Some(refund.id), lookup, kind)
        }
        _ => {
            // Still give ignored events a stable id: the first entity they carry.
            let first = parsed.contains.first().and_then(|name| parsed.entity(name));
            let id = first.and_then(|e| e.get("id")).and_then(Value::as_str).map(str::to_owned);
            (id, PaymentLookup::default(), ProviderEventKind::Ignored)
        }
    };
    let event_id = match event_id_header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(header) => header.to_owned(),
        None => match (entity_id, parsed.created_at) {
            (Some(entity), _) => format!("{}:{entity}", parsed.event),
            (None, Some(created)) => format!("{}:{created}", parsed.event),
            (None, None) => return Err(ParseError::Missing("x-razorpay-event-id")),
        },
    };
    Ok(event(PaymentProvider::Razorpay, event_id, parsed.event, lookup, kind))
}

// ---------------------------------------------------------------------------------------------
// PayPal

#[derive(Deserialize)]
struct PaypalEvent {
    id: String,
    event_type: String,
    #[serde(default)]
    resource: Value,
}

#[derive(Deserialize)]
struct PaypalAmount {
    currency_code: String,
    value: String,
}

impl PaypalAmount {
    fn money(amount: Option<PaypalAmount>, field: &'static str) -> Result<Money, ParseError> {
        let amount = amount.ok_or(ParseError::Missing(field))?;
        let currency = Currency::parse(&amount.currency_code).map_err(|e| invalid("currency_code", e.message))?;
        Money::parse_decimal(&amount.value, currency).map_err(|e| invalid(field, e.message))
    }
}

#[derive(Deserialize)]
struct PaypalOrder {
    id: String,
    #[serde(default)]
    purchase_units: Vec<PaypalPurchaseUnit>,
}

#[derive(Deserialize)]
struct PaypalPurchaseUnit {
    #[serde(default)]
    amount: Option<PaypalAmount>,
    #[serde(default)]
    custom_id: Option<String>,
}

#[derive(Deserialize)]
struct PaypalCapture {
    id: String,
    #[serde(default)]
    amount: Option<PaypalAmount>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    supplementary_data: Option<PaypalSupplementaryData>,
    #[serde(default)]
    status_details: Option<PaypalStatusDetails>,
    #[serde(default)]
    links: Vec<PaypalLink>,
}

#[derive(Deserialize)]
struct PaypalSupplementaryData {
    #[serde(default)]
    related_ids: Option<PaypalRelatedIds>,
}

#[derive(Deserialize)]
struct PaypalRelatedIds {
    #[serde(default)]
    order_id: Option<String>,
}

#[derive(Deserialize)]
struct PaypalStatusDetails {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct PaypalRefund {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    amount: Option<PaypalAmount>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    invoice_id: Option<String>,
    #[serde(default)]
    links: Vec<PaypalLink>,
}

#[derive(Deserialize)]
struct PaypalLink {
    #[serde(default)]
    href: String,
    #[serde(default)]
    rel: String,
}

/// The id at the end of the `up` link when it points at a `collection` (`captures`, `orders`):
/// `https://api.paypal.com/v2/payments/captures/<id>` → `<id>`.
fn up_link_id(links: &[PaypalLink], collection: &str) -> Option<String> {
    let up = links.iter().find(|l| l.rel == "up")?;
    let url = url::Url::parse(&up.href).ok()?;
    let mut segments = url.path_segments()?.rev();
    let id = segments.next().filter(|id| !id.is_empty())?;
    (segments.next() == Some(collection)).then(|| id.to_owned())
}

fn our_order_id(custom_id: Option<&str>) -> Option<OrderId> {
    custom_id.and_then(|raw| OrderId::parse(raw).ok())
}

/// Parses a verified PayPal event (Orders v2 / Payments v2 resources).
pub fn parse_paypal(body: &[u8]) -> Result<ProviderEvent, ParseError> {
    let PaypalEvent { id, event_type, resource } = serde_json::from_slice(body)?;
    let (lookup, kind) = match event_type.as_str() {
        "CHECKOUT.ORDER.APPROVED" => {
            let order: PaypalOrder = from_value(resource)?;
            let unit = order.purchase_units.into_iter().next().ok_or(ParseError::Missing("resource.purchase_units"))?;
            let amount = PaypalAmount::money(unit.amount, "resource.purchase_units[0].amount")?;
            let lookup = PaymentLookup {
                reference: Some(order.id),
                payment_id: None,
                order_id: our_order_id(unit.custom_id.as_deref()),
            };
            (lookup, ProviderEventKind::Approved { amount })
        }
        "PAYMENT.CAPTURE.COMPLETED" | "PAYMENT.CAPTURE.DENIED" => {
            let capture: PaypalCapture = from_value(resource)?;
            let kind = if event_type == "PAYMENT.CAPTURE.COMPLETED" {
                ProviderEventKind::Succeeded { amount: PaypalAmount::money(capture.amount, "resource.amount")? }
            } else {
                let reason = capture.status_details.and_then(|d| d.reason);
                ProviderEventKind::Failed { reason: reason.unwrap_or_else(|| "DENIED".into()) }
            };
            // The order id is in `supplementary_data`; older payloads only link to it (`up`).
            let related = capture.supplementary_data.and_then(|s| s.related_ids).and_then(|r| r.order_id);
            let lookup = PaymentLookup {
                reference: related.or_else(|| up_link_id(&capture.links, "orders")),
                payment_id: Some(capture.id),
                order_id: our_order_id(capture.custom_id.as_deref()),
            };
            (lookup, kind)
        }
        "PAYMENT.CAPTURE.REFUNDED" => {
            let refund: PaypalRefund = from_value(resource)?;
            let amount = PaypalAmount::money(refund.amount, "resource.amount")?;
            let lookup = PaymentLookup {
                reference: None,
                payment_id: up_link_id(&refund.links, "captures"),
                order_id: our_order_id(refund.custom_id.as_deref()),
            };
            let ours = our_refund_id(refund.invoice_id.as_deref());
            // The refund's own status says whether the money went back: only COMPLETED
            // confirms; PENDING is not news yet; FAILED and CANCELLED mean it did not.
            let kind = match refund.status.as_deref() {
                None | Some("COMPLETED") => {
                    ProviderEventKind::Refunded { refund_key: refund.id, amount, our_refund_id: ours }
                }
                Some(status @ ("FAILED" | "CANCELLED")) => ProviderEventKind::RefundFailed {
                    provider_refund_id: refund.id,
                    charge: None,
                    amount,
                    our_refund_id: ours,
                    reason: format!("the refund is {status} at PayPal"),
                },
                Some(_) => ProviderEventKind::Ignored,
            };
            (lookup, kind)
        }
        _ => (PaymentLookup::default(), ProviderEventKind::Ignored),
    };
    Ok(event(PaymentProvider::Paypal, id, event_type, lookup, kind))
}

// ---------------------------------------------------------------------------------------------
// Samples

/// What a sample event is about.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleFacts {
    pub order_id: OrderId,
    /// The reference we got when opening the payment: Stripe PaymentIntent id (also its
    /// payment id: Stripe has no other), Razorpay order id, PayPal order id.
    pub reference: String,
    /// Razorpay payment id, PayPal capture id (not used for Stripe).
    pub payment_id: String,
    /// The payment's amount, or the refund's for refund events.
    pub amount: Money,
    /// Our refund id, attached to the refund as we do when we ask for one (`None`: a refund
    /// made in the provider's dashboard).
    pub refund_id: Option<RefundId>,
    /// The provider's id of the refund (`re_…`, `rfnd_…`, PayPal refund id).
    pub provider_refund_id: String,
}

const STRIPE_TYPES: &[&str] =
    &["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "refund.failed"];
const RAZORPAY_TYPES: &[&str] = &["payment.captured", "payment.failed", "refund.processed", "refund.failed"];
const PAYPAL_TYPES: &[&str] =
    &["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.REFUNDED"];

/// The event types [`sample_event`] can build for `provider` (the ones we act on).
pub fn event_types(provider: PaymentProvider) -> &'static [&'static str] {
    match provider {
        PaymentProvider::Stripe => STRIPE_TYPES,
        PaymentProvider::Razorpay => RAZORPAY_TYPES,
        PaymentProvider::Paypal => PAYPAL_TYPES,
    }
}

/// A realistic payload of `event_type` in `provider`'s own shape, as its webhook would deliver
/// it (the fields real events carry, trimmed of the ones nobody reads).
pub fn sample_event(
    provider: PaymentProvider,
    event_type: &str,
    facts: &SampleFacts,
    event_id: &str,
    created_unix: i64,
) -> Result<Vec<u8>, ParseError> {
    let unsupported = || ParseError::UnsupportedSample { provider, event_type: event_type.to_owned() };
    let payload = match provider {
        PaymentProvider::Stripe => stripe_sample(event_type, facts, event_id, created_unix),
        PaymentProvider::Razorpay => razorpay_sample(event_type, facts, created_unix),
        PaymentProvider::Paypal => paypal_sample(event_type, facts, event_id, created_unix)?,
    };
    Ok(serde_json::to_vec(&payload.ok_or_else(unsupported)?)?)
}

/// An id suffix derived from `seed`, so the objects a sample invents (charges, payment
/// methods) are stable for the same facts.
fn derived_id(seed: &str, what: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(what.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(seed.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..7])
}

fn stripe_sample(event_type: &str, facts: &SampleFacts, event_id: &str, created: i64) -> Option<Value> {
    let intent = &facts.reference;
    let currency = facts.amount.currency.code().to_ascii_lowercase();
    let amount = facts.amount.amount;
    let charge = format!("ch_{}", derived_id(intent, "charge"));
    let metadata = json!({"order_id": facts.order_id.as_str()});
    let object = match event_type {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let succeeded = event_type == "payment_intent.succeeded";
            let error = (!succeeded).then(|| {
                json!({
                    "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                    "message": "Your card was declined.", "charge": charge,
                })
            });
            json!({
                "id": intent, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
                "amount_received": if succeeded { amount } else { 0 }, "capture_method": "automatic",
                "confirmation_method": "automatic", "created": created - 30, "currency": currency,
                "customer": null, "description": null, "last_payment_error": error,
                "latest_charge": charge, "livemode": false, "metadata": metadata,
                "payment_method": format!("pm_{}", derived_id(intent, "payment_method")),
                "payment_method_types": ["card"],
                "status": if succeeded { "succeeded" } else { "requires_payment_method" },
            })
        }
        "refund.failed" => json!({
            "id": facts.provider_refund_id, "object": "refund", "amount": amount, "charge": charge,
            "created": created - 600, "currency": currency, "failure_reason": "expired_or_canceled_card",
            "failure_balance_transaction": format!("txn_{}", derived_id(&facts.provider_refund_id, "failure")),
            "metadata": refund_metadata(facts), "payment_intent": intent,
            "reason": "requested_by_customer", "status": "failed",
        }),
        "charge.refunded" => {
            let refund_metadata = refund_metadata(facts);
            json!({
                "id": charge, "object": "charge", "amount": amount, "amount_captured": amount,
                "amount_refunded": amount, "captured": true, "created": created - 3600, "currency": currency,
                "livemode": false, "metadata": metadata, "paid": true, "payment_intent": intent,
                "refunded": true, "status": "succeeded",
                "refunds": {
                    "object": "list", "has_more": false, "total_count": 1,
                    "url": format!("/v1/charges/{charge}/refunds"),
                    "data": [{
                        "id": facts.provider_refund_id, "object": "refund", "amount": amount,
                        "charge": charge, "created": created, "currency": currency,
                        "metadata": refund_metadata, "payment_intent": intent,
                        "reason": "requested_by_customer", "status": "succeeded",
                    }],
                },
            })
        }
        _ => return None,
    };
    Some(json!({
        "id": event_id, "object": "event", "api_version": "2024-06-20", "created": created,
        "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type, "data": {"object": object},
    }))
}

/// The metadata we attach to a refund we ask Stripe for (none on a dashboard refund).
fn refund_metadata(facts: &SampleFacts) -> Value {
    match &facts.refund_id {
        Some(id) => json!({"refund_id": id.as_str(), "order_id": facts.order_id.as_str()}),
        None => json!({}),
    }
}

fn razorpay_sample(event_type: &str, facts: &SampleFacts, created: i64) -> Option<Value> {
    let currency = facts.amount.currency.code();
    let notes = json!({"order_id": facts.order_id.as_str()});
    let payment = |status: &str, amount_refunded: i64, failed: bool| {
        json!({
            "id": facts.payment_id, "entity": "payment", "amount": facts.amount.amount, "currency": currency,
            "status": status, "order_id": facts.reference, "invoice_id": null, "international": false,
            "method": "upi", "amount_refunded": amount_refunded,
            "refund_status": if amount_refunded > 0 { json!("partial") } else { Value::Null },
            "captured": !failed, "description": null, "card_id": null, "bank": null, "wallet": null,
            "vpa": "success@razorpay", "email": "customer@example.com", "contact": "+919000090000",
            "notes": notes, "fee": if failed { Value::Null } else { json!(facts.amount.amount / 50) },
            "tax": if failed { Value::Null } else { json!(0) },
            "error_code": if failed { json!("BAD_REQUEST_ERROR") } else { Value::Null },
            "error_description": if failed { json!("Payment was unsuccessful as the UPI app declined it.") } else { Value::Null },
            "error_source": if failed { json!("customer") } else { Value::Null },
            "error_step": if failed { json!("payment_authorization") } else { Value::Null },
            "error_reason": if failed { json!("payment_failed") } else { Value::Null },
            "acquirer_data": {"rrn": null}, "created_at": created - 60,
        })
    };
    let (contains, payload) = match event_type {
        "payment.captured" => (json!(["payment"]), json!({"payment": {"entity": payment("captured", 0, false)}})),
        "payment.failed" => (json!(["payment"]), json!({"payment": {"entity": payment("failed", 0, true)}})),
        "refund.processed" | "refund.failed" => {
            let processed = event_type == "refund.processed";
            // Razorpay's quirk, kept on purpose: no notes are sent as `[]`, not `{}`.
            let refund_notes = match &facts.refund_id {
                Some(id) => json!({"refund_id": id.as_str(), "order_id": facts.order_id.as_str()}),
                None => json!([]),
            };
            let refund = json!({
                "id": facts.provider_refund_id, "entity": "refund", "amount": facts.amount.amount,
                "currency": currency, "payment_id": facts.payment_id, "notes": refund_notes,
                "receipt": facts.refund_id.as_ref().map(RefundId::as_str), "acquirer_data": {"arn": null},
                "created_at": created, "batch_id": null,
                "status": if processed { "processed" } else { "failed" },
                "speed_processed": "normal", "speed_requested": "normal",
            });
            // A failed refund's amount is back on the payment: nothing refunded on it.
            let refunded = if processed { facts.amount.amount } else { 0 };
            let payload = json!({
                "refund": {"entity": refund},
                "payment": {"entity": payment("captured", refunded, false)},
            });
            (json!(["refund", "payment"]), payload)
        }
        _ => return None,
    };
    Some(json!({
        "entity": "event", "account_id": "acc_SampleAccount01", "event": event_type,
        "contains": contains, "payload": payload, "created_at": created,
    }))
}

fn paypal_sample(
    event_type: &str,
    facts: &SampleFacts,
    event_id: &str,
    created: i64,
) -> Result<Option<Value>, ParseError> {
    let rfc3339 = |unix: i64| -> Result<String, ParseError> {
        let at = time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| invalid("created", e.to_string()))?;
        at.format(&time::format_description::well_known::Rfc3339).map_err(|e| invalid("created", e.to_string()))
    };
    let (now, earlier) = (rfc3339(created)?, rfc3339(created - 60)?);
    let api = "https://api.sandbox.paypal.com";
    let amount = json!({"currency_code": facts.amount.currency.code(), "value": facts.amount.to_decimal_string()});
    let shown = format!("{} {}", facts.amount.to_decimal_string(), facts.amount.currency.code());
    let (order, capture) = (&facts.reference, &facts.payment_id);
    let order_id = facts.order_id.as_str();
    let (resource_type, summary, resource) = match event_type {
        "CHECKOUT.ORDER.APPROVED" => {
            let resource = json!({
                "id": order, "intent": "CAPTURE", "status": "APPROVED", "create_time": earlier,
                "purchase_units": [{
                    "reference_id": "default", "amount": amount, "custom_id": order_id,
                    "payee": {"email_address": "merchant@example.com", "merchant_id": "SAMPLEMERCHANT1"},
                }],
                "payer": {
                    "name": {"given_name": "Sample", "surname": "Buyer"},
                    "email_address": "buyer@example.com", "payer_id": "SAMPLEPAYER01", "address": {"country_code": "IN"},
                },
                "links": [
                    {"href": format!("{api}/v2/checkout/orders/{order}"), "rel": "self", "method": "GET"},
                    {"href": format!("{api}/v2/checkout/orders/{order}/capture"), "rel": "capture", "method": "POST"},
                ],
            });
            ("checkout-order", "An order has been approved by buyer".to_owned(), resource)
        }
        "PAYMENT.CAPTURE.COMPLETED" | "PAYMENT.CAPTURE.DENIED" => {
            let completed = event_type == "PAYMENT.CAPTURE.COMPLETED";
            let mut resource = json!({
                "id": capture, "amount": amount, "final_capture": true, "custom_id": order_id,
                "status": if completed { "COMPLETED" } else { "DECLINED" },
                "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
                "supplementary_data": {"related_ids": {"order_id": order}},
                "create_time": earlier, "update_time": now,
                "links": [
                    {"href": format!("{api}/v2/payments/captures/{capture}"), "rel": "self", "method": "GET"},
                    {"href": format!("{api}/v2/payments/captures/{capture}/refund"), "rel": "refund", "method": "POST"},
                    {"href": format!("{api}/v2/checkout/orders/{order}"), "rel": "up", "method": "GET"},
                ],
            });
            if !completed {
                resource["status_details"] = json!({"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"});
            }
            let summary = if completed {
                format!("Payment completed for {shown}")
            } else {
                format!("Payment denied for {shown}")
            };
            ("capture", summary, resource)
        }
        "PAYMENT.CAPTURE.REFUNDED" => {
            let refund = &facts.provider_refund_id;
            let resource = json!({
                "id": refund, "amount": amount, "status": "COMPLETED", "custom_id": order_id,
                "invoice_id": facts.refund_id.as_ref().map(RefundId::as_str),
                "seller_payable_breakdown": {"gross_amount": amount, "net_amount": amount, "total_refunded_amount": amount},
                "create_time": now, "update_time": now,
                "links": [
                    {"href": format!("{api}/v2/payments/refunds/{refund}"), "rel": "self", "method": "GET"},
                    {"href": format!("{api}/v2/payments/captures/{capture}"), "rel": "up", "method": "GET"},
                ],
            });
            ("refund", format!("A {shown} capture payment was refunded"), resource)
        }
        _ => return Ok(None),
    };
    Ok(Some(json!({
        "id": event_id, "event_version": "1.0", "create_time": now, "resource_type": resource_type,
        "resource_version": "2.0", "event_type": event_type, "summary": summary, "resource": resource,
        "links": [
            {"href": format!("{api}/v1/notifications/webhooks-events/{event_id}"), "rel": "self", "method": "GET"},
            {"href": format!("{api}/v1/notifications/webhooks-events/{event_id}/resend"), "rel": "resend", "method": "POST"},
        ],
    })))
}

/// The `Stripe-Signature` header value Stripe would send for `body` at `timestamp`.
pub fn sign_stripe(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `X-Razorpay-Signature` header value (hex HMAC-SHA256 of the body under the webhook
/// secret).
pub fn sign_razorpay(body: &[u8], secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{STRIPE_TOLERANCE_SECS, verify_razorpay, verify_stripe};

    fn money(amount: i64, currency: &str) -> Money {
        Money::new(amount, Currency::parse(currency).unwrap()).unwrap()
    }

    fn order() -> OrderId {
        OrderId::parse("ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V").unwrap()
    }

    fn refund() -> RefundId {
        RefundId::parse("rfd_01JD8X9ZPQ3M4N5P6Q7R8S9T0W").unwrap()
    }

    fn facts(provider: PaymentProvider) -> SampleFacts {
        let (reference, payment_id, provider_refund_id, amount) = match provider {
            PaymentProvider::Stripe => ("pi_3Sample0123", "pi_3Sample0123", "re_3Sample0123", money(173_800, "INR")),
            PaymentProvider::Razorpay => {
                ("order_Sample0123", "pay_Sample0123", "rfnd_Sample0123", money(173_800, "INR"))
            }
            PaymentProvider::Paypal => {
                ("5O190127TN364715T", "3C679366HH908993F", "1JU08902781691411", money(2_099, "USD"))
            }
        };
        SampleFacts {
            order_id: order(),
            reference: reference.into(),
            payment_id: payment_id.into(),
            amount,
            refund_id: Some(refund()),
            provider_refund_id: provider_refund_id.into(),
        }
    }

    fn parse(provider: PaymentProvider, body: &[u8]) -> Result<ProviderEvent, ParseError> {
        match provider {
            PaymentProvider::Stripe => parse_stripe(body),
            PaymentProvider::Razorpay => parse_razorpay(body, Some("evt_header_id")),
            PaymentProvider::Paypal => parse_paypal(body),
        }
    }

    /// What each sample must parse back into.
    fn expected(provider: PaymentProvider, event_type: &str, f: &SampleFacts) -> (PaymentLookup, ProviderEventKind) {
        use PaymentProvider::*;
        let ours = Some(f.order_id.clone());
        let some = |s: &str| Some(s.to_owned());
        let our_refund = f.refund_id.as_ref().map(|r| r.as_str().to_owned());
        let lookup = |reference: Option<String>, payment_id: Option<String>, order_id: Option<OrderId>| PaymentLookup {
            reference,
            payment_id,
            order_id,
        };
        match (provider, event_type) {
            (Stripe, "payment_intent.succeeded") => (
                lookup(some(&f.reference), some(&f.reference), ours),
                ProviderEventKind::Succeeded { amount: f.amount },
            ),
            (Stripe, "payment_intent.payment_failed") => (
                lookup(some(&f.reference), some(&f.reference), ours),
                ProviderEventKind::Failed { reason: "Your card was declined.".into() },
            ),
            (Stripe, "charge.refunded") => (
                lookup(some(&f.reference), some(&f.reference), ours),
                ProviderEventKind::Refunded {
                    refund_key: format!("ch_{}", derived_id(&f.reference, "charge")),
                    amount: f.amount,
                    our_refund_id: our_refund,
                },
            ),
            (Stripe, "refund.failed") => (
                lookup(some(&f.reference), some(&f.reference), f.refund_id.as_ref().map(|_| f.order_id.clone())),
                ProviderEventKind::RefundFailed {
                    provider_refund_id: f.provider_refund_id.clone(),
                    charge: Some(format!("ch_{}", derived_id(&f.reference, "charge"))),
                    amount: f.amount,
                    our_refund_id: our_refund,
                    reason: "expired_or_canceled_card".into(),
                },
            ),
            (Razorpay, "refund.failed") => (
                lookup(some(&f.reference), some(&f.payment_id), f.refund_id.as_ref().map(|_| f.order_id.clone())),
                ProviderEventKind::RefundFailed {
                    provider_refund_id: f.provider_refund_id.clone(),
                    charge: None,
                    amount: f.amount,
                    our_refund_id: our_refund,
                    reason: "the refund failed at Razorpay".into(),
                },
            ),
            (Razorpay, "payment.captured") => (
                lookup(some(&f.reference), some(&f.payment_id), ours),
                ProviderEventKind::Succeeded { amount: f.amount },
            ),
            (Razorpay, "payment.failed") => (
                lookup(some(&f.reference), some(&f.payment_id), ours),
                ProviderEventKind::Failed { reason: "Payment was unsuccessful as the UPI app declined it.".into() },
            ),
            (Razorpay, "refund.processed") => (
                lookup(some(&f.reference), some(&f.payment_id), f.refund_id.as_ref().map(|_| f.order_id.clone())),
                ProviderEventKind::Refunded {
                    refund_key: f.provider_refund_id.clone(),
                    amount: f.amount,
                    our_refund_id: our_refund,
                },
            ),
            (Paypal, "CHECKOUT.ORDER.APPROVED") => {
                (lookup(some(&f.reference), None, ours), ProviderEventKind::Approved { amount: f.amount })
            }
            (Paypal, "PAYMENT.CAPTURE.COMPLETED") => (
                lookup(some(&f.reference), some(&f.payment_id), ours),
                ProviderEventKind::Succeeded { amount: f.amount },
            ),
            (Paypal, "PAYMENT.CAPTURE.DENIED") => (
                lookup(some(&f.reference), some(&f.payment_id), ours),
                ProviderEventKind::Failed { reason: "DECLINED_BY_RISK_FRAUD_FILTERS".into() },
            ),
            (Paypal, "PAYMENT.CAPTURE.REFUNDED") => (
                lookup(None, some(&f.payment_id), ours),
                ProviderEventKind::Refunded {
                    refund_key: f.provider_refund_id.clone(),
                    amount: f.amount,
                    our_refund_id: our_refund,
                },
            ),
            other => panic!("no expectation for {other:?}"),
        }
    }

    const PROVIDERS: [PaymentProvider; 3] =
        [PaymentProvider::Stripe, PaymentProvider::Razorpay, PaymentProvider::Paypal];

    #[test]
    fn every_sample_parses_back_into_the_event_it_describes() {
        for provider in PROVIDERS {
            for with_our_refund in [true, false] {
                let mut f = facts(provider);
                if !with_our_refund {
                    f.refund_id = None;
                }
                for &event_type in event_types(provider) {
                    let body = sample_event(provider, event_type, &f, "WH-SAMPLE-1", 1_764_150_000).unwrap();
                    let parsed = parse(provider, &body).unwrap_or_else(|e| panic!("{provider:?} {event_type}: {e}"));
                    let (lookup, kind) = expected(provider, event_type, &f);
                    let event_id = if provider == PaymentProvider::Razorpay { "evt_header_id" } else { "WH-SAMPLE-1" };
                    assert_eq!(
                        parsed,
                        ProviderEvent {
                            provider,
                            event_id: event_id.into(),
                            event_type: event_type.into(),
                            lookup,
                            kind,
                            // Stripe's events carry their time; the others' are not read.
                            occurred_at: (provider == PaymentProvider::Stripe).then_some(1_764_150_000),
                        },
                        "{provider:?} {event_type} (our refund: {with_our_refund})"
                    );
                }
            }
        }
    }

    #[test]
    fn samples_have_each_providers_real_shape() {
        let stripe = |t| -> Value {
            serde_json::from_slice(
                &sample_event(PaymentProvider::Stripe, t, &facts(PaymentProvider::Stripe), "evt_1", 1).unwrap(),
            )
            .unwrap()
        };
        let succeeded = stripe("payment_intent.succeeded");
        assert_eq!(succeeded["object"], "event");
        assert_eq!(succeeded["livemode"], false);
        assert_eq!(succeeded["data"]["object"]["object"], "payment_intent");
        assert_eq!(succeeded["data"]["object"]["currency"], "inr");
        assert_eq!(succeeded["data"]["object"]["status"], "succeeded");
        let refunded = stripe("charge.refunded");
        assert_eq!(refunded["data"]["object"]["object"], "charge");
        assert_eq!(refunded["data"]["object"]["refunds"]["data"][0]["metadata"]["refund_id"], refund().as_str());

        let mut f = facts(PaymentProvider::Razorpay);
        f.refund_id = None;
        let razorpay: Value =
            serde_json::from_slice(&sample_event(PaymentProvider::Razorpay, "refund.processed", &f, "", 1).unwrap())
                .unwrap();
        assert_eq!(razorpay["entity"], "event");
        assert_eq!(razorpay["contains"], json!(["refund", "payment"]));
        assert_eq!(razorpay["payload"]["refund"]["entity"]["notes"], json!([]), "Razorpay's empty notes");

        let f = facts(PaymentProvider::Paypal);
        let paypal: Value = serde_json::from_slice(
            &sample_event(PaymentProvider::Paypal, "PAYMENT.CAPTURE.REFUNDED", &f, "WH-1", 0).unwrap(),
        )
        .unwrap();
        assert_eq!(paypal["create_time"], "1970-01-01T00:00:00Z");
        assert_eq!(paypal["resource"]["amount"], json!({"currency_code": "USD", "value": "20.99"}));
        let up = &paypal["resource"]["links"][1];
        assert_eq!(up["rel"], "up");
        assert_eq!(up["href"], "https://api.sandbox.paypal.com/v2/payments/captures/3C679366HH908993F");
    }

    #[test]
    fn unknown_sample_types_are_errors() {
        for provider in PROVIDERS {
            let err = sample_event(provider, "customer.created", &facts(provider), "x", 0).unwrap_err();
            assert!(matches!(err, ParseError::UnsupportedSample { .. }), "{err}");
        }
        // Another provider's type is unknown too.
        assert!(
            sample_event(PaymentProvider::Paypal, "charge.refunded", &facts(PaymentProvider::Paypal), "x", 0).is_err()
        );
    }

    // Vectors from the webhooks tests, computed independently (Python's hmac/hashlib).
    const STRIPE_BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_123","amount":173800,"currency":"inr","metadata":{"order_id":"ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V"}}}}"#;
    const RAZORPAY_BODY: &[u8] = br#"{"entity":"event","event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_29QQoUBi66xm2f","amount":173800,"currency":"INR","order_id":"order_sim0123"}}}}"#;

    #[test]
    fn signing_matches_independent_vectors_and_the_verifiers() {
        let t = 1_795_594_509;
        let header = sign_stripe(STRIPE_BODY, "whsec_test_0123456789abcdef", t);
        assert_eq!(header, format!("t={t},v1=1178a34dfdf7864af7a258cd64e44307067d9ac62b9dd59fa3b9456228fdd611"));
        assert_eq!(
            verify_stripe(Some(&header), STRIPE_BODY, &["whsec_test_0123456789abcdef"], t, STRIPE_TOLERANCE_SECS),
            Ok(())
        );
        let sig = sign_razorpay(RAZORPAY_BODY, "rzp_webhook_secret_42");
        assert_eq!(sig, "a2f051fe9e31ceb7ff19560465cdf4b6cd6ef6d3b830bc60a9620d27d3e3db97");
        assert_eq!(verify_razorpay(Some(&sig), RAZORPAY_BODY, "rzp_webhook_secret_42"), Ok(()));

        // And for the samples themselves.
        let body =
            sample_event(PaymentProvider::Stripe, "charge.refunded", &facts(PaymentProvider::Stripe), "evt_2", t)
                .unwrap();
        assert_eq!(verify_stripe(Some(&sign_stripe(&body, "whsec_x", t)), &body, &["whsec_x"], t, 300), Ok(()));
        let body =
            sample_event(PaymentProvider::Razorpay, "payment.captured", &facts(PaymentProvider::Razorpay), "", t)
                .unwrap();
        assert_eq!(verify_razorpay(Some(&sign_razorpay(&body, "s")), &body, "s"), Ok(()));
    }

    #[test]
    fn stripe_failure_reasons_fall_back_from_message_to_code() {
        let failed = |error: Value| {
            let body = json!({"id": "evt_1", "type": "payment_intent.payment_failed",
                "data": {"object": {"id": "pi_1", "object": "payment_intent", "last_payment_error": error}}});
            parse_stripe(body.to_string().as_bytes()).unwrap().kind
        };
        let reason = |r: &str| ProviderEventKind::Failed { reason: r.into() };
        assert_eq!(
            failed(json!({"message": "Insufficient funds.", "code": "card_declined"})),
            reason("Insufficient funds.")
        );
        assert_eq!(failed(json!({"code": "expired_card"})), reason("expired_card"));
        assert_eq!(failed(Value::Null), reason("payment failed"));
    }

    #[test]
    fn stripe_refunds_name_our_newest_refund_and_the_cumulative_amount() {
        let body = json!({"id": "evt_1", "type": "charge.refunded", "data": {"object": {
        "id": "ch_1", "object": "charge", "amount": 10000, "amount_refunded": 7000, "currency": "usd",
        "payment_intent": "pi_1", "metadata": {"order_id": order().as_str()},
        "refunds": {"object": "list", "data": [
            {"id": "re_2", "created": 200, "metadata": {"refund_id": refund().as_str()}},
            {"id": "re_1", "created": 100, "metadata": {"refund_id": "rfd_01JD8X9ZPQ3M4N5P6Q7R8S9T0A"}},
        ]}}}});
        let event = parse_stripe(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            event.kind,
            ProviderEventKind::Refunded {
                refund_key: "ch_1".into(),
                amount: money(7000, "USD"),
                our_refund_id: Some(refund().as_str().into())
            }
        );
        assert_eq!(event.lookup.payment_id.as_deref(), Some("pi_1"));
        assert_eq!(event.lookup.order_id, Some(order()));
    }

    #[test]
    fn razorpay_notes_may_be_an_object_or_an_empty_array() {
        let captured = |notes: Value| {
            let body = json!({"entity": "event", "event": "payment.captured", "contains": ["payment"],
                "payload": {"payment": {"entity": {"id": "pay_1", "order_id": "order_1", "amount": 500,
                "currency": "INR", "notes": notes}}}, "created_at": 1});
            parse_razorpay(body.to_string().as_bytes(), None)
        };
        assert_eq!(captured(json!({"order_id": order().as_str()})).unwrap().lookup.order_id, Some(order()));
        assert_eq!(captured(json!([])).unwrap().lookup.order_id, None);
        assert_eq!(captured(Value::Null).unwrap().lookup.order_id, None);
        assert_eq!(captured(json!({"order_id": "15"})).unwrap().lookup.order_id, None, "not one of ours");
        assert!(matches!(captured(json!("text")), Err(ParseError::Json(_))));
    }

    #[test]
    fn razorpay_event_ids_come_from_the_header_or_the_entity() {
        let body =
            sample_event(PaymentProvider::Razorpay, "payment.captured", &facts(PaymentProvider::Razorpay), "", 5)
                .unwrap();
        assert_eq!(parse_razorpay(&body, Some("Hs8XaSGc9YnYxz")).unwrap().event_id, "Hs8XaSGc9YnYxz");
        assert_eq!(parse_razorpay(&body, None).unwrap().event_id, "payment.captured:pay_Sample0123");
        assert_eq!(parse_razorpay(&body, Some(" ")).unwrap().event_id, "payment.captured:pay_Sample0123");
        let body =
            sample_event(PaymentProvider::Razorpay, "refund.processed", &facts(PaymentProvider::Razorpay), "", 5)
                .unwrap();
        assert_eq!(parse_razorpay(&body, None).unwrap().event_id, "refund.processed:rfnd_Sample0123");
        let ignored = br#"{"entity":"event","event":"order.paid","contains":["payment","order"],"payload":{"payment":{"entity":{"id":"pay_9"}}},"created_at":7}"#;
        let event = parse_razorpay(ignored, None).unwrap();
        assert_eq!((event.event_id.as_str(), event.kind), ("order.paid:pay_9", ProviderEventKind::Ignored));
        let bare = br#"{"event":"account.updated","created_at":7}"#;
        assert_eq!(parse_razorpay(bare, None).unwrap().event_id, "account.updated:7");
        assert!(matches!(parse_razorpay(br#"{"event":"account.updated"}"#, None), Err(ParseError::Missing(_))));
    }

    #[test]
    fn other_event_types_are_ignored() {
        let stripe =
            parse_stripe(br#"{"id":"evt_9","type":"customer.created","data":{"object":{"id":"cus_1"}}}"#).unwrap();
        assert_eq!((stripe.event_id.as_str(), &stripe.kind), ("evt_9", &ProviderEventKind::Ignored));
        assert_eq!(stripe.lookup, PaymentLookup::default());
        let paypal =
            parse_paypal(br#"{"id":"WH-9","event_type":"PAYMENT.CAPTURE.PENDING","resource":{"id":"X"}}"#).unwrap();
        assert_eq!(
            (paypal.event_type.as_str(), &paypal.kind),
            ("PAYMENT.CAPTURE.PENDING", &ProviderEventKind::Ignored)
        );
    }

    /// Stripe's refund events only matter when the refund failed (its success is confirmed by
    /// `charge.refunded`); PayPal's refund event confirms only a COMPLETED refund.
    #[test]
    fn refund_events_are_news_only_when_the_refund_failed_or_completed() {
        let stripe = |status: &str| {
            let body = json!({"id": "evt_1", "type": "refund.updated", "data": {"object": {
                "id": "re_1", "object": "refund", "amount": 500, "currency": "inr", "status": status,
                "payment_intent": "pi_1", "metadata": {}}}});
            parse_stripe(&serde_json::to_vec(&body).unwrap()).unwrap().kind
        };
        assert_eq!(stripe("succeeded"), ProviderEventKind::Ignored);
        assert_eq!(stripe("pending"), ProviderEventKind::Ignored);
        for status in ["failed", "canceled"] {
            assert!(
                matches!(&stripe(status), ProviderEventKind::RefundFailed { provider_refund_id, amount, .. }
                    if provider_refund_id == "re_1" && amount.amount == 500),
                "{status}"
            );
        }
        let f = facts(PaymentProvider::Paypal);
        let paypal = |status: &str| {
            let body = sample_event(PaymentProvider::Paypal, "PAYMENT.CAPTURE.REFUNDED", &f, "WH-1", 1).unwrap();
            let mut event: Value = serde_json::from_slice(&body).unwrap();
            event["resource"]["status"] = json!(status);
            parse_paypal(&serde_json::to_vec(&event).unwrap()).unwrap().kind
        };
        assert!(matches!(paypal("COMPLETED"), ProviderEventKind::Refunded { .. }));
        assert_eq!(paypal("PENDING"), ProviderEventKind::Ignored);
        for status in ["FAILED", "CANCELLED"] {
            assert!(matches!(paypal(status), ProviderEventKind::RefundFailed { .. }), "{status}");
        }
    }

    #[test]
    fn malformed_payloads_are_typed_errors() {
        assert!(matches!(parse_stripe(b"not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse_stripe(br#"{"type":"payment_intent.succeeded"}"#), Err(ParseError::Json(_))));
        let intent = |object: Value| {
            let body = json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": object}});
            parse_stripe(body.to_string().as_bytes())
        };
        assert!(matches!(intent(json!({"id": "pi_1", "currency": "usd"})), Err(ParseError::Missing(_))));
        assert!(matches!(
            intent(json!({"id": "pi_1", "amount": 5, "currency": "xyz"})),
            Err(ParseError::Invalid { .. })
        ));
        assert!(matches!(
            intent(json!({"id": "pi_1", "amount": -5, "currency": "usd"})),
            Err(ParseError::Invalid { .. })
        ));
        assert!(matches!(intent(json!({"id": "pi_1", "amount": 1.5, "currency": "usd"})), Err(ParseError::Json(_))));
        assert!(matches!(intent(json!({"amount": 5, "currency": "usd"})), Err(ParseError::Json(_))));

        let refunded = br#"{"entity":"event","event":"refund.processed","payload":{}}"#;
        assert!(matches!(parse_razorpay(refunded, Some("e")), Err(ParseError::Missing("payload.refund.entity"))));

        let capture = |amount: Value| {
            let body = json!({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {"id": "C1", "amount": amount}});
            parse_paypal(body.to_string().as_bytes())
        };
        assert!(capture(json!({"currency_code": "USD", "value": "10.00"})).is_ok());
        for bad in [
            json!({"currency_code": "USD", "value": "10.001"}),
            json!({"currency_code": "USD", "value": "1e3"}),
            json!({"currency_code": "usd", "value": "10.00"}),
            json!({"currency_code": "JPY", "value": "10.5"}),
        ] {
            assert!(matches!(capture(bad.clone()), Err(ParseError::Invalid { .. })), "{bad}");
        }
        assert!(matches!(capture(json!({"currency_code": "USD", "value": 10})), Err(ParseError::Json(_))));
        assert!(matches!(capture(Value::Null), Err(ParseError::Missing("resource.amount"))));
        let approved =
            br#"{"id":"WH-1","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"O1","purchase_units":[]}}"#;
        assert!(matches!(parse_paypal(approved), Err(ParseError::Missing(_))));
    }

    #[test]
    fn no_prefix_of_a_sample_makes_a_parser_panic() {
        for provider in PROVIDERS {
            for &event_type in event_types(provider) {
                let body = sample_event(provider, event_type, &facts(provider), "WH-1", 1_764_150_000).unwrap();
                for end in 0..body.len() {
                    let _ =
                        (parse_stripe(&body[..end]), parse_razorpay(&body[..end], None), parse_paypal(&body[..end]));
                }
            }
        }
    }

    // Published examples, trimmed to the fields that matter and some around them (nothing
    // added but where noted). Ids, amounts and currencies are the published ones.

    /// Stripe `payment_intent.succeeded` (API 2025-04-30.basil, Stripe CLI trigger).
    const STRIPE_SUCCEEDED: &str = r#"{
      "id": "evt_3RSCTURftwXmfGNu1s7yE2wW", "object": "event", "api_version": "2025-04-30.basil",
      "created": 1748071606,
      "data": {"object": {
        "id": "pi_3RSCTURftwXmfGNu1Htv3in3", "object": "payment_intent", "amount": 19900,
        "amount_capturable": 0, "amount_details": {"tip": {}}, "amount_received": 19900,
        "application": null, "automatic_payment_methods": {"allow_redirects": "always", "enabled": true},
        "canceled_at": null, "capture_method": "automatic", "currency": "usd", "customer": null,
        "last_payment_error": null, "livemode": false, "metadata": {}, "status": "succeeded"
      }},
      "livemode": false, "type": "payment_intent.succeeded"
    }"#;

    /// Stripe `charge.refunded` (API 2020-08-27, from a PHP log): `metadata` shows as `[]`, there
    /// is no PaymentIntent, and the refunds list is expanded (its entry is cut short there).
    const STRIPE_CHARGE_REFUNDED: &str = r#"{
      "id": "evt_00000000000000", "created": 1326853478, "livemode": false, "type": "charge.refunded",
      "object": "event", "request": null, "pending_webhooks": 1, "api_version": "2020-08-27",
      "data": {"object": {
        "id": "ch_00000000000000", "object": "charge", "amount": 34393, "amount_captured": 34393,
        "amount_refunded": 34393, "captured": true, "created": 1621027984, "currency": "usd",
        "customer": "cus_00000000000000", "metadata": [], "paid": true, "payment_intent": null,
        "refunded": true,
        "refunds": {"object": "list", "data": [{
          "id": "re_00000000000000", "object": "refund", "amount": 34393,
          "balance_transaction": "txn_00000000000000"
        }]}
      }}
    }"#;

    /// Razorpay `payment.captured` (a delivery logged in 2018).
    const RAZORPAY_CAPTURED: &str = r#"{
      "entity": "event", "account_id": "acc_BaKtSrzkVIcegp", "event": "payment.captured",
      "contains": ["payment"],
      "payload": {"payment": {"entity": {
        "id": "pay_Beg2OGSn3xCU9q", "entity": "payment", "amount": 122, "currency": "INR",
        "status": "captured", "order_id": "order_Beg2FvMMrg9uDi", "invoice_id": "inv_Beg2FsjxSNQHsW",
        "international": false, "method": "card", "amount_refunded": 0, "refund_status": null,
        "captured": true, "description": "Plan 3", "card_id": "card_Beg2PSBeajxy0A",
        "card": {"id": "card_Beg2PSBeajxy0A", "entity": "card", "last4": "5558", "network": "MasterCard",
                 "type": "credit", "international": false, "emi": false},
        "bank": null, "wallet": null, "vpa": null, "customer_id": "cust_BcHdvjtZGJCs6a",
        "notes": {"serverSubscriptionId": "5c2b0818ff9fec2935f6cd73"}, "fee": 5, "tax": 0,
        "error_code": null, "error_description": null, "created_at": 1546324001
      }}}
    }"#;

    /// Razorpay `refund.processed` (2021): both `notes` are `[]`.
    const RAZORPAY_REFUND_PROCESSED: &str = r#"{
      "entity": "event", "account_id": "acc_C22WOuBW79sh0n", "event": "refund.processed",
      "contains": ["refund", "payment"],
      "payload": {
        "refund": {"entity": {
          "id": "rfnd_Heax5rxucwf2aS", "entity": "refund", "amount": 4000, "currency": "INR",
          "payment_id": "pay_HeGCvvjQIAjsvZ", "notes": [], "receipt": null, "acquirer_data": {"arn": null},
          "created_at": 1627528610, "batch_id": null, "status": "processed",
          "speed_processed": "normal", "speed_requested": "normal"
        }},
        "payment": {"entity": {
          "id": "pay_HeGCvvjQIAjsvZ", "entity": "payment", "amount": 4000, "currency": "INR",
          "status": "refunded", "order_id": "order_HeGCnjDGqpe5oW", "invoice_id": null,
          "international": true, "method": "card", "amount_refunded": 4000, "refund_status": "full",
          "captured": true, "notes": [], "fee": 120, "tax": 0, "error_code": null,
          "error_description": null, "error_source": null, "error_step": null, "error_reason": null,
          "acquirer_data": {"auth_code": "932066"}, "created_at": 1627455556
        }}
      },
      "created_at": 1627528610
    }"#;

    /// PayPal `PAYMENT.CAPTURE.COMPLETED` (sandbox, 2022) with `supplementary_data`.
    const PAYPAL_CAPTURE_COMPLETED: &str = r#"{
      "id": "WH-2CL46544TB770421K-5VB92446WP7345818", "create_time": "2022-02-02T00:23:12.336Z",
      "resource_type": "capture", "event_type": "PAYMENT.CAPTURE.COMPLETED",
      "summary": "Payment completed for $ 100.0 USD",
      "resource": {
        "disbursement_mode": "INSTANT", "amount": {"value": "100.00", "currency_code": "USD"},
        "seller_protection": {"status": "NOT_ELIGIBLE"},
        "supplementary_data": {"related_ids": {"order_id": "89T257400V0473133"}},
        "update_time": "2022-02-02T00:22:38Z", "create_time": "2022-02-02T00:22:38Z", "final_capture": true,
        "seller_receivable_breakdown": {
          "paypal_fee": {"value": "3.98", "currency_code": "USD"},
          "gross_amount": {"value": "100.00", "currency_code": "USD"},
          "net_amount": {"value": "96.02", "currency_code": "USD"}
        },
        "processor_response": {"cvv_code": "M", "response_code": "0000", "avs_code": "A"},
        "links": [
          {"method": "GET", "rel": "self", "href": "https://api.sandbox.paypal.com/v2/payments/captures/29Y24445UY2083144"},
          {"method": "POST", "rel": "refund", "href": "https://api.sandbox.paypal.com/v2/payments/captures/29Y24445UY2083144/refund"},
          {"method": "GET", "rel": "up", "href": "https://api.sandbox.paypal.com/v2/checkout/orders/89T257400V0473133"}
        ],
        "id": "29Y24445UY2083144", "status": "COMPLETED"
      },
      "links": [{"href": "https://api.sandbox.paypal.com/v1/notifications/webhooks-events/WH-2CL46544TB770421K-5VB92446WP7345818", "rel": "self", "method": "GET", "encType": "application/json"}],
      "event_version": "1.0", "resource_version": "2.0"
    }"#;

    /// PayPal's own older sample: no `supplementary_data`, and `up` is an authorization.
    const PAYPAL_CAPTURE_COMPLETED_OLD: &str = r#"{
      "id": "WH-58D329510W468432D-8HN650336L201105X", "create_time": "2019-02-14T21:50:07.940Z",
      "resource_type": "capture", "event_type": "PAYMENT.CAPTURE.COMPLETED",
      "summary": "Payment completed for $ 2.51 USD",
      "resource": {
        "amount": {"currency_code": "USD", "value": "2.51"}, "final_capture": true,
        "seller_receivable_breakdown": {"gross_amount": {"currency_code": "USD", "value": "2.51"}},
        "links": [
          {"href": "https://api.paypal.com/v2/payments/captures/27M47624FP291604U", "rel": "self", "method": "GET"},
          {"href": "https://api.paypal.com/v2/payments/authorizations/7W5147081L658180V", "rel": "up", "method": "GET"}
        ],
        "id": "27M47624FP291604U", "status": "COMPLETED"
      }
    }"#;

    /// PayPal `CHECKOUT.ORDER.APPROVED` (sandbox, 2022).
    const PAYPAL_ORDER_APPROVED: &str = r#"{
      "id": "WH-62W810145R7409724-8CH11354TY024302T", "event_version": "1.0",
      "create_time": "2022-10-21T06:42:32.606Z", "resource_type": "checkout-order", "resource_version": "2.0",
      "event_type": "CHECKOUT.ORDER.APPROVED", "summary": "An order has been approved by buyer",
      "resource": {
        "create_time": "2022-10-21T06:27:07Z",
        "purchase_units": [{
          "reference_id": "default", "amount": {"currency_code": "USD", "value": "4999.81"},
          "payee": {"email_address": "sb-gsncy21794962@business.example.com", "merchant_id": "3SQBR4YEWZ4BA"},
          "shipping": {"name": {"full_name": "John Doe"}, "address": {"country_code": "US"}}
        }],
        "links": [{"href": "https://api.sandbox.paypal.com/v2/checkout/orders/9JL52742K01513702", "rel": "self", "method": "GET"}],
        "id": "9JL52742K01513702", "payment_source": {"paypal": {}}, "intent": "CAPTURE", "status": "APPROVED"
      }
    }"#;

    /// PayPal `PAYMENT.CAPTURE.REFUNDED` in the Payments v2 refund shape (no published sample
    /// was found; fields as the refund resource documents them, ids of ours).
    const PAYPAL_CAPTURE_REFUNDED: &str = r#"{
      "id": "WH-1GE84257G0350133W-6RW800890C634293G", "event_version": "1.0",
      "create_time": "2024-03-08T11:20:12.115Z", "resource_type": "refund", "resource_version": "2.0",
      "event_type": "PAYMENT.CAPTURE.REFUNDED", "summary": "A $ 15.50 USD capture payment was refunded",
      "resource": {
        "seller_payable_breakdown": {
          "gross_amount": {"currency_code": "USD", "value": "15.50"},
          "paypal_fee": {"currency_code": "USD", "value": "0.00"},
          "net_amount": {"currency_code": "USD", "value": "15.50"},
          "total_refunded_amount": {"currency_code": "USD", "value": "15.50"}
        },
        "amount": {"currency_code": "USD", "value": "15.50"},
        "invoice_id": "rfd_01JD8X9ZPQ3M4N5P6Q7R8S9T0W", "custom_id": "ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V",
        "update_time": "2024-03-08T03:20:08-08:00", "create_time": "2024-03-08T03:20:08-08:00",
        "links": [
          {"href": "https://api.paypal.com/v2/payments/refunds/1JU08902781691411", "rel": "self", "method": "GET"},
          {"href": "https://api.paypal.com/v2/payments/captures/2GG279541U471931P", "rel": "up", "method": "GET"}
        ],
        "id": "1JU08902781691411", "status": "COMPLETED"
      }
    }"#;

    #[test]
    fn published_stripe_examples_parse() {
        let event = parse_stripe(STRIPE_SUCCEEDED.as_bytes()).unwrap();
        assert_eq!(event.event_id, "evt_3RSCTURftwXmfGNu1s7yE2wW");
        assert_eq!(event.lookup.reference.as_deref(), Some("pi_3RSCTURftwXmfGNu1Htv3in3"));
        assert_eq!(event.lookup.order_id, None);
        assert_eq!(event.kind, ProviderEventKind::Succeeded { amount: money(19_900, "USD") });

        let event = parse_stripe(STRIPE_CHARGE_REFUNDED.as_bytes()).unwrap();
        assert_eq!(event.lookup, PaymentLookup::default(), "a charge without PaymentIntent names nothing of ours");
        assert_eq!(
            event.kind,
            ProviderEventKind::Refunded {
                refund_key: "ch_00000000000000".into(),
                amount: money(34_393, "USD"),
                our_refund_id: None
            }
        );
    }

    #[test]
    fn published_razorpay_examples_parse() {
        let event = parse_razorpay(RAZORPAY_CAPTURED.as_bytes(), None).unwrap();
        assert_eq!(event.event_id, "payment.captured:pay_Beg2OGSn3xCU9q");
        assert_eq!(
            event.lookup,
            PaymentLookup {
                reference: Some("order_Beg2FvMMrg9uDi".into()),
                payment_id: Some("pay_Beg2OGSn3xCU9q".into()),
                order_id: None
            }
        );
        assert_eq!(event.kind, ProviderEventKind::Succeeded { amount: money(122, "INR") });

        let event = parse_razorpay(RAZORPAY_REFUND_PROCESSED.as_bytes(), Some("HeaxE0Wc4kbqGF")).unwrap();
        assert_eq!(event.event_id, "HeaxE0Wc4kbqGF");
        assert_eq!(
            event.lookup,
            PaymentLookup {
                reference: Some("order_HeGCnjDGqpe5oW".into()),
                payment_id: Some("pay_HeGCvvjQIAjsvZ".into()),
                order_id: None
            }
        );
        assert_eq!(
            event.kind,
            ProviderEventKind::Refunded {
                refund_key: "rfnd_Heax5rxucwf2aS".into(),
                amount: money(4000, "INR"),
                our_refund_id: None
            }
        );
    }

    #[test]
    fn published_paypal_examples_parse() {
        let event = parse_paypal(PAYPAL_CAPTURE_COMPLETED.as_bytes()).unwrap();
        assert_eq!(event.event_id, "WH-2CL46544TB770421K-5VB92446WP7345818");
        assert_eq!(
            event.lookup,
            PaymentLookup {
                reference: Some("89T257400V0473133".into()),
                payment_id: Some("29Y24445UY2083144".into()),
                order_id: None
            }
        );
        assert_eq!(event.kind, ProviderEventKind::Succeeded { amount: money(10_000, "USD") });

        let event = parse_paypal(PAYPAL_CAPTURE_COMPLETED_OLD.as_bytes()).unwrap();
        assert_eq!(event.lookup.reference, None, "an authorization is not an order");
        assert_eq!(event.lookup.payment_id.as_deref(), Some("27M47624FP291604U"));
        assert_eq!(event.kind, ProviderEventKind::Succeeded { amount: money(251, "USD") });

        let event = parse_paypal(PAYPAL_ORDER_APPROVED.as_bytes()).unwrap();
        assert_eq!(event.lookup.reference.as_deref(), Some("9JL52742K01513702"));
        assert_eq!(event.kind, ProviderEventKind::Approved { amount: money(499_981, "USD") });

        let event = parse_paypal(PAYPAL_CAPTURE_REFUNDED.as_bytes()).unwrap();
        assert_eq!(
            event.lookup,
            PaymentLookup { reference: None, payment_id: Some("2GG279541U471931P".into()), order_id: Some(order()) }
        );
        assert_eq!(
            event.kind,
            ProviderEventKind::Refunded {
                refund_key: "1JU08902781691411".into(),
                amount: money(1550, "USD"),
                our_refund_id: Some(refund().as_str().into())
            }
        );
    }

    #[test]
    fn a_paypal_refund_names_the_capture_only_through_a_captures_link() {
        let with_up = |href: &str| {
            let body = json!({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {
                "id": "R1", "amount": {"currency_code": "USD", "value": "1.00"}, "invoice_id": "INV-7",
                "links": [{"href": href, "rel": "up", "method": "GET"}]}});
            parse_paypal(body.to_string().as_bytes()).unwrap()
        };
        let event = with_up("https://api.paypal.com/v2/payments/captures/CAP1");
        assert_eq!(event.lookup.payment_id.as_deref(), Some("CAP1"));
        assert!(matches!(event.kind, ProviderEventKind::Refunded { our_refund_id: None, .. }), "INV-7 is not ours");
        assert_eq!(with_up("https://api.paypal.com/v2/payments/captures/").lookup.payment_id, None);
        assert_eq!(with_up("https://api.paypal.com/v2/payments/authorizations/A1").lookup.payment_id, None);
        assert_eq!(with_up("not a url").lookup.payment_id, None);
    }
}
