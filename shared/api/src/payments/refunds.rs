//! Refunds we asked for, sent to their providers: right after they are recorded, again on
//! every later delivery for the order, and by the sweep (`crate::jobs`) until a provider has
//! answered each one.

use cy_data::payments as records;
use cy_domain::order::Order;
use cy_domain::payment::RefundState;
use cy_payments::{PaymentError, RefundRequest};

use super::Payments;

impl Payments {
    /// Sends the order's refunds that no provider has taken yet, noting each answer. A refund
    /// the provider cannot take now stays due, and so do the order's others (the sweep and later
    /// deliveries retry them with the same idempotency keys); one it refuses for good is marked
    /// failed. Returns how many were taken.
    pub async fn send_refunds(&self, order: &Order) -> usize {
        self.send_refunds_reporting(order).await.0
    }

    /// [`Self::send_refunds`], also telling whether the provider could not be reached (then
    /// the order's other refunds were not tried either).
    pub(crate) async fn send_refunds_reporting(&self, order: &Order) -> (usize, bool) {
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
}
