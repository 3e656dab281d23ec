//! Payments as facts: what a provider told us (a [`ProviderEvent`], already verified and
//! normalised from the provider's own format) and the money side of an order (a [`Payment`]
//! with its [`Refund`]s). Nothing here knows an order: what a fact means for one is
//! [`crate::settlement`]. No provider formats and no I/O here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::{Error, Money, OrderId, RefundId, Timestamp, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentProvider {
    Stripe,
    Razorpay,
    Paypal,
}

impl PaymentProvider {
    pub const ALL: [PaymentProvider; 3] = [PaymentProvider::Stripe, PaymentProvider::Razorpay, PaymentProvider::Paypal];

    /// The provider's name as the contract spells it (`payment_provider`, webhook paths).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::Stripe => "stripe",
            PaymentProvider::Razorpay => "razorpay",
            PaymentProvider::Paypal => "paypal",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| Error::bad_request("must be stripe, razorpay or paypal"))
    }
}

/// How an event points at its payment. Providers name it differently; any one that resolves
/// is enough, and every one present must agree with the order it resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderEvent {
    pub provider: PaymentProvider,
    /// The provider's id of this event (Stripe `evt_…`, Razorpay `x-razorpay-event-id`,
    /// PayPal `WH-…`): the same event delivered again carries the same id.
    pub event_id: String,
    /// The provider's own name of the event type (`payment_intent.succeeded`, …), for logs.
    pub event_type: String,
    pub lookup: PaymentLookup,
    pub kind: ProviderEventKind,
    /// When the provider says the event happened (epoch seconds), where it says so. Orders
    /// Stripe's cumulative refund totals: the latest one wins, not the largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// with `amount` that refund's. The refunded total of a payment is the sum over keys: per
    /// refund the largest amount seen, so repeats cannot inflate it; per Stripe charge the
    /// latest total (by [`ProviderEvent::occurred_at`]), since a failed refund lowers it.
    Refunded {
        refund_key: String,
        amount: Money,
        /// Our refund id, when the refund was ours (we attach it to every refund we request).
        our_refund_id: Option<String>,
    },
    /// A refund did not reach the customer after all (Stripe `refund.failed`, Razorpay
    /// `refund.failed`, a PayPal refund `FAILED`/`CANCELLED`): the money is back with us.
    RefundFailed {
        /// The provider's id of the refund.
        provider_refund_id: String,
        /// Stripe: the charge whose cumulative total counted it (see [`Self::Refunded`]).
        charge: Option<String>,
        amount: Money,
        /// Our refund id, when the refund was ours.
        our_refund_id: Option<String>,
        reason: String,
    },
    /// An event type we do not act on (acknowledged and ignored).
    Ignored,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Recorded; not yet taken by the provider (the request is (re)sent until it is).
    Requested,
    /// The provider took it; its webhook will confirm.
    Submitted,
    /// The provider confirmed the money went back.
    Confirmed,
    /// The provider refused it for good.
    Failed,
}

/// Part of a line refunded: `quantity` units of line `line` (its index in the order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundedLine {
    pub line: usize,
    pub quantity: u32,
    pub amount: Money,
}

/// A refund we asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: RefundId,
    pub amount: Money,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundedLine>,
    /// The seller whose part's shipping this refund includes (a part called off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_of: Option<UserId>,
    /// A cancellation: once confirmed, the order ends `refunded`.
    pub cancels_order: bool,
    pub requested_at: Timestamp,
    pub requested_by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_refund_id: Option<String>,
    pub state: RefundState,
    /// What it took back from each seller's earnings, recorded when it was (so a refund that
    /// fails gives back exactly that).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seller_debits: Vec<crate::earnings::SellerDebit>,
}

impl Refund {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, RefundState::Requested | RefundState::Submitted)
    }

    /// The whole order's refund (neither lines nor a part's shipping named).
    pub fn is_whole(&self) -> bool {
        self.lines.is_empty() && self.shipping_of.is_none()
    }
}

/// An order's payment: opened with the provider's reference, then what was collected and what
/// went back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// What the provider collected; `None` until it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<Money>,
    /// Confirmed refunds: the sum of `refunded_by_key` (see [`ProviderEventKind::Refunded`]).
    pub refunded: Money,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refunded_by_key: BTreeMap<String, i64>,
    /// When each cumulative key (a Stripe charge) last changed, by the provider's clock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refunded_as_of: BTreeMap<String, i64>,
    /// The provider ids of refunds reported failed: a failed refund never counts again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub failed_refunds: std::collections::BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<Refund>,
}

impl Payment {
    pub fn opened(reference: String, currency: crate::Currency) -> Payment {
        Payment {
            reference,
            payment_id: None,
            captured: None,
            refunded: Money::zero(currency),
            refunded_by_key: BTreeMap::new(),
            refunded_as_of: BTreeMap::new(),
            failed_refunds: std::collections::BTreeSet::new(),
            refunds: Vec::new(),
        }
    }

    /// The refunded total: the sum of what each key confirms (with `with` as that key's).
    pub(crate) fn net_refunded(&self, with: Option<(&str, i64)>) -> Result<Money, Error> {
        let mut by_key = self.refunded_by_key.clone();
        if let Some((key, amount)) = with {
            by_key.insert(key.to_owned(), amount);
        }
        let total = by_key.values().try_fold(0i64, |acc, a| acc.checked_add(*a)).ok_or_else(Error::internal)?;
        Money::new(total.max(0), self.refunded.currency)
    }

    /// Refunds asked for and not yet confirmed or refused.
    pub fn open_refunds(&self) -> impl Iterator<Item = &Refund> {
        self.refunds.iter().filter(|r| r.is_open())
    }

    /// What can still be refunded: collected, less confirmed and open refunds.
    pub fn refundable(&self) -> Result<Money, Error> {
        let Some(captured) = self.captured else { return Ok(Money::zero(self.refunded.currency)) };
        let open = self.open_refunds().try_fold(Money::zero(captured.currency), |acc, r| acc.checked_add(r.amount))?;
        let left = captured.checked_sub(self.refunded)?.checked_sub(open)?;
        Ok(if left.amount < 0 { Money::zero(captured.currency) } else { left })
    }

    /// A cancellation waiting for its refund: the order must not be worked on meanwhile.
    pub fn cancellation_pending(&self) -> bool {
        self.refunds.iter().any(|r| r.cancels_order && r.is_open())
    }

    /// Marks our refunds confirmed that the refunded total now covers (oldest first), and the
    /// one the provider named.
    pub(crate) fn confirm_covered(&mut self, named: Option<&str>) {
        let mut running = 0i64;
        for refund in self.refunds.iter_mut().filter(|r| r.state != RefundState::Failed) {
            running = running.saturating_add(refund.amount.amount);
            let named_here = named.is_some_and(|n| n == refund.id.as_str());
            if refund.is_open() && (running <= self.refunded.amount || named_here) {
                refund.state = RefundState::Confirmed;
            }
        }
    }
}
