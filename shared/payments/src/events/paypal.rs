//! PayPal: `CHECKOUT.ORDER.APPROVED` and `PAYMENT.CAPTURE.*` events and their samples (PayPal
//! signs with a certificate: see [`crate::certs`]).

use super::*;

pub(super) const TYPES: &[&str] =
    &["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.REFUNDED"];

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

pub(super) fn sample(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::tests::{money, order, refund};

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
