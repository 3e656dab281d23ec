//! Payments: the providers' webhooks ([`webhooks`], function `payment-webhook`), verified on
//! the raw body before anything else is read, then applied exactly once (`cy_data::payments`);
//! and the money follow-ups other functions share: capturing approved PayPal payments, sending
//! refunds ([`refunds`]), closing the payment of an order called off unpaid.

use std::sync::Arc;

use cy_data::Store;
use cy_data::payments::{self as records, EventOutcome};
use cy_domain::order::Order;
use cy_domain::payment::{PaymentLookup, ProviderEvent, ProviderEventKind};
use cy_domain::settlement::{Decision, decide};
use cy_domain::{Error, Timestamp};
use cy_payments::{PaymentError, PaymentGateway};

mod gateway;
mod refunds;
mod webhooks;

pub use gateway::gateway_from_env;
pub use webhooks::{Api, WebhookSecrets, Webhooks, router, routes};

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
        let confirmed = match self.confirm_collection(event).await? {
            Confirmed::As(event) => *event,
            Confirmed::Refused(reason) => {
                let order = records::order_for_event(self.store.as_ref(), event).await?;
                return records::flag(self.store.as_ref(), event, order, reason, Timestamp::now()).await;
            }
        };
        let event = &confirmed;
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

    /// A collection a webhook reports, as the provider's API confirms it (PayPal: its signature
    /// binds the body only by CRC32, so the capture is read back and its API's amount is the
    /// one applied). A capture PayPal does not know, or that is not its order's, is refused and
    /// flagged; one its API does not show completed is answered 503, so PayPal delivers again.
    async fn confirm_collection(&self, event: &ProviderEvent) -> Result<Confirmed, Error> {
        let ProviderEventKind::Succeeded { amount: reported } = event.kind else {
            return Ok(Confirmed::As(Box::new(event.clone())));
        };
        let Some(payment_id) = event.lookup.payment_id.as_deref() else {
            return Ok(Confirmed::As(Box::new(event.clone())));
        };
        let collected = match self.gateway.collected(event.provider, payment_id).await {
            Ok(None) => return Ok(Confirmed::As(Box::new(event.clone()))),
            Ok(Some(collected)) => collected,
            Err(PaymentError::Declined { code, message }) => {
                return Ok(Confirmed::Refused(format!(
                    "the provider does not confirm payment {payment_id}: {code}: {message}"
                )));
            }
            Err(e) => {
                tracing::warn!(payment_id, error = %e, "confirming a collection failed; the provider will deliver again");
                return Err(Error::unavailable(30));
            }
        };
        if let (Some(theirs), Some(reported)) = (&collected.order_id, &event.lookup.order_id)
            && theirs != reported
        {
            return Ok(Confirmed::Refused(format!("payment {payment_id} belongs to another order at the provider")));
        }
        if collected.amount != reported {
            // The body was altered on the way (its signature covers it only by CRC32), or the
            // provider contradicts itself: either way not applied, and an admin looks.
            return Ok(Confirmed::Refused(format!(
                "the delivery says payment {payment_id} collected {} {}, the provider's API says {} {}",
                reported.to_decimal_string(),
                reported.currency,
                collected.amount.to_decimal_string(),
                collected.amount.currency
            )));
        }
        if !collected.completed {
            // Reported completed, not completed at its API (yet): the provider delivers again.
            tracing::warn!(payment_id, "a collection reported before its API says it completed; asking for a retry");
            return Err(Error::unavailable(60));
        }
        let mut confirmed = event.clone();
        confirmed.kind = ProviderEventKind::Succeeded { amount: collected.amount };
        // The order the provider's API names is checked against the order found (`decide`).
        if collected.order_id.is_some() {
            confirmed.lookup.order_id = collected.order_id;
        }
        Ok(Confirmed::As(Box::new(confirmed)))
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

    /// Closes the payment of an order called off before its money came (expired, or cancelled
    /// unpaid), so the provider refuses a late attempt rather than collecting it for us to
    /// refund. Best effort: a failure is logged (`false`), and a payment that arrives anyway is
    /// refunded.
    pub async fn close_payment(&self, order: &Order) -> bool {
        let Some(payment) = order.payment.as_ref().filter(|p| p.captured.is_none()) else { return true };
        match self.gateway.close_payment(order.payment_provider, &order.id, &payment.reference).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(order_id = %order.id, error = %e, "closing the payment failed; a late payment is refunded");
                false
            }
        }
    }
}

/// A reported collection after it was read back from the provider.
enum Confirmed {
    /// Apply this (with the provider's amount).
    As(Box<ProviderEvent>),
    /// Refuse and flag it, for this reason.
    Refused(String),
}

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
