//! Providers' webhook payloads, once verified ([`crate::webhooks`]), turned into
//! [`ProviderEvent`]s; and realistic sample payloads of each provider's shape, with the signing
//! their senders use, for `send-webhook`, the local runtime and tests.
//!
//! Parsing is lenient where providers are (they add fields; optional fields come and go, and
//! Razorpay sends an empty `notes` as `[]`) and strict where it matters: an event we act on
//! without its ids, amount or currency is an error, never an event with a guessed value.
//! Amounts are integer minor units (Stripe, Razorpay) or exact decimal strings (PayPal); no
//! floating point is involved.
//!
//! One file per provider ([`stripe`], [`razorpay`], [`paypal`]): its payload types, its parser,
//! its samples and its signing; what they share is here.

mod paypal;
mod razorpay;
mod stripe;

pub use paypal::parse_paypal;
pub use razorpay::{parse_razorpay, sign_razorpay};
pub use stripe::{parse_stripe, sign_stripe};

use cy_domain::payment::{PaymentLookup, PaymentProvider, ProviderEvent, ProviderEventKind};
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

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> ParseError {
    ParseError::Invalid { field, message: message.into() }
}

/// Key-value notes: Stripe `metadata`, Razorpay `notes`. Razorpay sends `[]` (PHP's empty
/// array) when there are none, so an empty array and `null` both mean "no notes".
#[derive(Debug, Default)]
pub(crate) struct Notes(Map<String, Value>);

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
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Our order id, if one we could have written is there (anything else is not ours).
    pub(crate) fn order_id(&self) -> Option<OrderId> {
        self.get("order_id").and_then(|raw| OrderId::parse(raw).ok())
    }
}

/// Our refund id, if `raw` is one: a provider may carry other text in the same place (a
/// dashboard refund of a PayPal capture keeps the capture's invoice id, say).
pub(crate) fn our_refund_id(raw: Option<&str>) -> Option<String> {
    raw.and_then(|raw| RefundId::parse(raw).ok()).map(|id| id.as_str().to_owned())
}

/// Integer minor units in a currency named in any case (Stripe writes `inr`).
pub(crate) fn minor_units(amount: Option<i64>, currency: &str, field: &'static str) -> Result<Money, ParseError> {
    let amount = amount.ok_or(ParseError::Missing(field))?;
    let currency = Currency::parse(&currency.to_ascii_uppercase()).map_err(|e| invalid("currency", e.message))?;
    Money::non_negative(amount, currency).map_err(|e| invalid(field, e.message))
}

pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ParseError> {
    Ok(serde_json::from_value(value)?)
}

pub(crate) fn event(
    provider: PaymentProvider,
    event_id: String,
    event_type: String,
    lookup: PaymentLookup,
    kind: ProviderEventKind,
) -> ProviderEvent {
    ProviderEvent { provider, event_id, event_type, lookup, kind, occurred_at: None }
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

/// The event types [`sample_event`] can build for `provider` (the ones we act on).
pub fn event_types(provider: PaymentProvider) -> &'static [&'static str] {
    match provider {
        PaymentProvider::Stripe => stripe::TYPES,
        PaymentProvider::Razorpay => razorpay::TYPES,
        PaymentProvider::Paypal => paypal::TYPES,
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
        PaymentProvider::Stripe => stripe::sample(event_type, facts, event_id, created_unix),
        PaymentProvider::Razorpay => razorpay::sample(event_type, facts, created_unix),
        PaymentProvider::Paypal => paypal::sample(event_type, facts, event_id, created_unix)?,
    };
    Ok(serde_json::to_vec(&payload.ok_or_else(unsupported)?)?)
}

/// An id suffix derived from `seed`, so the objects a sample invents (charges, payment
/// methods) are stable for the same facts.
pub(crate) fn derived_id(seed: &str, what: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(what.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(seed.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..7])
}

/// The metadata we attach to a refund we ask for (none on a dashboard refund).
pub(crate) fn refund_metadata(facts: &SampleFacts) -> Value {
    match &facts.refund_id {
        Some(id) => json!({"refund_id": id.as_str(), "order_id": facts.order_id.as_str()}),
        None => json!({}),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::webhooks::{STRIPE_TOLERANCE_SECS, verify_razorpay, verify_stripe};

    pub(crate) fn money(amount: i64, currency: &str) -> Money {
        Money::new(amount, Currency::parse(currency).unwrap()).unwrap()
    }

    pub(crate) fn order() -> OrderId {
        OrderId::parse("ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V").unwrap()
    }

    pub(crate) fn refund() -> RefundId {
        RefundId::parse("rfd_01JD8X9ZPQ3M4N5P6Q7R8S9T0W").unwrap()
    }

    pub(crate) fn facts(provider: PaymentProvider) -> SampleFacts {
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
}
