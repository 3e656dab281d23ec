//! Payments as the domain sees them: what a provider told us (a [`ProviderEvent`], already
//! verified and normalised from the provider's own format) and what it means for an order.
//! No provider formats and no I/O here.

use serde::{Deserialize, Serialize};

use crate::order::PaymentProvider;
use crate::{Money, OrderId};

/// How an event points at its payment. Providers name it differently; any one that resolves
/// is enough, and every one present must agree with the order it resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLookup {
    /// The reference we got when opening the payment: Stripe PaymentIntent id (`pi_…`),
    /// Razorpay order id (`order_…`), PayPal order id.
    pub reference: Option<String>,
    /// The provider's id of the money actually collected, known once it is: Stripe
    /// PaymentIntent id, Razorpay payment id (`pay_…`), PayPal capture id.
    pub payment_id: Option<String>,
    /// Our order id as we attached it to the payment (Stripe `metadata.order_id`, Razorpay
    /// `notes.order_id`, PayPal `custom_id`). Signed by the provider along with the rest.
    pub order_id: Option<OrderId>,
}

/// A verified provider event, in our terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderEvent {
    pub provider: PaymentProvider,
    /// The provider's id of this event (Stripe `evt_…`, Razorpay `x-razorpay-event-id`,
    /// PayPal `WH-…`): the same event delivered again carries the same id.
    pub event_id: String,
    /// The provider's own name of the event type (`payment_intent.succeeded`, …), for logs.
    pub event_type: String,
    pub lookup: PaymentLookup,
    pub kind: ProviderEventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderEventKind {
    /// The customer approved a payment that we must still capture (PayPal
    /// `CHECKOUT.ORDER.APPROVED`). `amount` is what was approved.
    Approved { amount: Money },
    /// Money was collected: `amount` in the event's currency.
    Succeeded { amount: Money },
    /// The attempt failed (declined, abandoned). `reason` is the provider's, for the timeline.
    Failed { reason: String },
    /// Money went back. `refund_key` names what `amount` measures: for Stripe the charge, with
    /// `amount` the charge's cumulative `amount_refunded`; for Razorpay and PayPal one refund,
    /// with `amount` that refund's. Either way the refunded total of a payment is the sum over
    /// keys of the largest amount seen per key, so repeats and reordering cannot inflate it.
    Refunded {
        refund_key: String,
        amount: Money,
        /// Our refund id, when the refund was ours (we attach it to every refund we request).
        our_refund_id: Option<String>,
    },
    /// An event type we do not act on (acknowledged and ignored).
    Ignored,
}
