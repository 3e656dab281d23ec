//! Razorpay: `payment.*` and `refund.*` events, their samples and the `X-Razorpay-Signature` a
//! sender computes.

use super::*;

pub(super) const TYPES: &[&str] = &["payment.captured", "payment.failed", "refund.processed", "refund.failed"];

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

pub(super) fn sample(event_type: &str, facts: &SampleFacts, created: i64) -> Option<Value> {
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
    use crate::events::tests::{facts, money, order};

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
}
