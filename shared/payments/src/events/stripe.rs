//! Stripe: `payment_intent.*`, `charge.refunded` and `refund.*` events, their samples and the
//! `Stripe-Signature` a sender computes.

use super::*;

pub(super) const TYPES: &[&str] =
    &["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "refund.failed"];

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

pub(super) fn sample(event_type: &str, facts: &SampleFacts, event_id: &str, created: i64) -> Option<Value> {
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

/// The `Stripe-Signature` header value Stripe would send for `body` at `timestamp`.
pub fn sign_stripe(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::tests::{money, order, refund};

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
}
