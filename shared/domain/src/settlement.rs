//! Settlement: what a payment fact means for an order. [`decide`] turns a verified provider
//! event into a change of the order (a status move, the payment's new state, a refund to send,
//! a flag for admins); [`plan_refund`] plans a refund a person asks for. Pure: no I/O.

use crate::actor::Actor;
use crate::order::{Order, OrderStatus, allowed};
use crate::payment::{Payment, PaymentProvider, ProviderEvent, ProviderEventKind, Refund, RefundState, RefundedLine};
use crate::{Error, ErrorCode, Money, RefundId, Timestamp, UserId};

/// What an event does to its order.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Apply(Box<PaymentChange>),
    /// Refused and flagged for admins (amount or currency mismatch, foreign payment).
    Flag(String),
    /// Nothing to change (a stale or repeated fact); acknowledged.
    Nothing(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PaymentChange {
    /// The status move, if any.
    pub to: Option<OrderStatus>,
    /// The payment after the event.
    pub payment: Payment,
    /// For the timeline and the order event.
    pub note: String,
    /// PayPal: the customer approved; capture now.
    pub capture: bool,
    /// Applied, and an admin must also look at it (a refund that failed): flagged in the same
    /// transaction.
    pub flag: Option<String>,
}

fn mismatch(what: &str, got: Money, expected: Money) -> String {
    format!(
        "{what} {} {} differs from the order's {} {}",
        got.to_decimal_string(),
        got.currency,
        expected.to_decimal_string(),
        expected.currency
    )
}

/// Whether the event's payment is this order's: every id it carries must agree. The payment
/// id (the money collected) is compared for refunds only: attempts before the collection have
/// their own ids (a customer may fail once and pay with another attempt), and a second
/// collection is judged by [`decide`].
fn lookup_matches(order: &Order, event: &ProviderEvent) -> bool {
    let mut lookup = event.lookup.clone();
    if !matches!(event.kind, ProviderEventKind::Refunded { .. } | ProviderEventKind::RefundFailed { .. }) {
        lookup.payment_id = None;
    }
    let lookup = &lookup;
    if lookup.order_id.as_ref().is_some_and(|o| *o != order.id) {
        return false;
    }
    match &order.payment {
        Some(p) => {
            let reference_ok = lookup.reference.as_ref().is_none_or(|r| *r == p.reference);
            let payment_id_ok = match (&lookup.payment_id, &p.payment_id) {
                (Some(theirs), Some(ours)) => theirs == ours || *theirs == p.reference,
                _ => true,
            };
            let named = lookup.reference.is_some() || lookup.payment_id.is_some() || lookup.order_id.is_some();
            reference_ok && payment_id_ok && named
        }
        // Found only through the order id we attached: that id must be there.
        None => lookup.order_id.as_ref() == Some(&order.id),
    }
}

/// A refund of everything still refundable, asked by the system.
fn automatic_refund(payment: &Payment, reason: &str, now: Timestamp) -> Result<Refund, Error> {
    Ok(Refund {
        id: RefundId::generate(),
        amount: payment.refundable()?,
        reason: reason.to_owned(),
        lines: Vec::new(),
        shipping_of: None,
        cancels_order: true,
        requested_at: now,
        requested_by: Actor::System,
        requested_by_id: None,
        provider_refund_id: None,
        state: RefundState::Requested,
        seller_debits: Vec::new(),
    })
}

/// What a verified provider event does to `order`.
pub fn decide(order: &Order, event: &ProviderEvent, now: Timestamp) -> Result<Decision, Error> {
    use OrderStatus::*;
    if event.kind == ProviderEventKind::Ignored {
        return Ok(Decision::Nothing(format!("{} is not an event we act on", event.event_type)));
    }
    if event.provider != order.payment_provider {
        return Ok(Decision::Flag(format!(
            "a {:?} event for an order paid with {:?}",
            event.provider, order.payment_provider
        )));
    }
    if !lookup_matches(order, event) {
        return Ok(Decision::Flag("the event names a payment that is not this order's".to_owned()));
    }
    let currency = order.total.currency;
    let mut payment = order
        .payment
        .clone()
        .unwrap_or_else(|| Payment::opened(event.lookup.reference.clone().unwrap_or_default(), currency));
    let apply = |to, payment, note: String| {
        Ok(Decision::Apply(Box::new(PaymentChange { to, payment, note, capture: false, flag: None })))
    };
    match &event.kind {
        ProviderEventKind::Ignored => Ok(Decision::Nothing("ignored".to_owned())),
        ProviderEventKind::Approved { amount } => {
            if *amount != order.total {
                return Ok(Decision::Flag(mismatch("approved amount", *amount, order.total)));
            }
            // Never collect money for an order that was called off (expired) meanwhile.
            if payment.captured.is_some() || !matches!(order.status, PendingPayment | PaymentFailed) {
                return Ok(Decision::Nothing(format!("not capturing: the order is {}", order.status.as_str())));
            }
            Ok(Decision::Apply(Box::new(PaymentChange {
                to: None,
                payment,
                note: "approved by the customer; capturing".to_owned(),
                capture: true,
                flag: None,
            })))
        }
        ProviderEventKind::Succeeded { amount } => {
            if *amount != order.total {
                return Ok(Decision::Flag(mismatch("paid amount", *amount, order.total)));
            }
            if payment.captured.is_some() {
                let other = match (&event.lookup.payment_id, &payment.payment_id) {
                    (Some(theirs), Some(ours)) => theirs != ours,
                    _ => false,
                };
                if other {
                    // The customer paid twice (two attempts both captured): keep one, and let
                    // an admin refund the other from the provider's dashboard.
                    return Ok(Decision::Flag("a second payment was collected for this order".to_owned()));
                }
                return Ok(Decision::Nothing("the payment is already recorded".to_owned()));
            }
            payment.captured = Some(*amount);
            if let Some(id) = &event.lookup.payment_id {
                payment.payment_id = Some(id.clone());
            }
            match order.status {
                PendingPayment | PaymentFailed => apply(Some(Paid), payment, "payment received".to_owned()),
                _ => refund_instead(payment, now, "the order was cancelled before its payment arrived"),
            }
        }
        ProviderEventKind::Failed { reason } => match order.status {
            PendingPayment if payment.captured.is_none() => {
                apply(Some(PaymentFailed), payment, format!("payment failed: {reason}"))
            }
            status => {
                Ok(Decision::Nothing(format!("a failed attempt no longer matters: the order is {}", status.as_str())))
            }
        },
        ProviderEventKind::Refunded { refund_key, amount, our_refund_id } => {
            if amount.currency != currency {
                return Ok(Decision::Flag(mismatch("refunded amount", *amount, order.total)));
            }
            // A refund confirmed before its capture was seen: the capture happened, for the
            // order's total (the only amount we would have accepted).
            let captured = payment.captured.unwrap_or(order.total);
            if payment.failed_refunds.contains(refund_key) {
                return Ok(Decision::Nothing("that refund failed; it no longer counts".to_owned()));
            }
            let before = payment.refunded_by_key.get(refund_key).copied().unwrap_or(0);
            if event.provider == PaymentProvider::Stripe {
                // A charge's cumulative total: the latest wins (a failed refund lowers it);
                // within one second of the provider's clock, the larger.
                let (at, seen) = (event.occurred_at.unwrap_or(0), payment.refunded_as_of.get(refund_key).copied());
                let newer = match seen {
                    None => amount.amount > before,
                    Some(seen) => at > seen || (at == seen && amount.amount > before),
                };
                if !newer || amount.amount == before {
                    return Ok(Decision::Nothing("the refund total is already recorded (or older)".to_owned()));
                }
                payment.refunded_as_of.insert(refund_key.clone(), at.max(seen.unwrap_or(0)));
            } else if amount.amount <= before {
                return Ok(Decision::Nothing("the refund is already recorded".to_owned()));
            }
            let refunded = payment.net_refunded(Some((refund_key, amount.amount)))?.amount;
            if refunded > captured.amount {
                return Ok(Decision::Flag(format!(
                    "refunds of {} would exceed the {} collected",
                    Money { amount: refunded, currency }.to_decimal_string(),
                    captured.to_decimal_string()
                )));
            }
            payment.captured = Some(captured);
            payment.refunded_by_key.insert(refund_key.clone(), amount.amount);
            payment.refunded = Money::new(refunded, currency)?;
            payment.confirm_covered(our_refund_id.as_deref());
            if refunded == captured.amount {
                let to = (order.status != Refunded
                    && allowed(order.status, Refunded).is_some_and(|w| w.contains(&Actor::System)))
                .then_some(Refunded);
                apply(to, payment, "refunded in full".to_owned())
            } else {
                let to = matches!(order.status, PendingPayment | PaymentFailed).then_some(Paid);
                let note = format!(
                    "refunded {} of {} {}",
                    payment.refunded.to_decimal_string(),
                    captured.to_decimal_string(),
                    currency
                );
                apply(to, payment, note)
            }
        }
        ProviderEventKind::RefundFailed { provider_refund_id, charge, amount, our_refund_id, reason } => {
            if amount.currency != currency {
                return Ok(Decision::Flag(mismatch("failed refund", *amount, order.total)));
            }
            let failure = RefundFailure {
                provider_refund_id,
                charge: charge.as_deref(),
                amount: *amount,
                ours: our_refund_id.as_deref(),
                reason,
                at: event.occurred_at,
            };
            refund_failed(order, payment, &failure)
        }
    }
}

/// What a provider said of a refund that failed.
struct RefundFailure<'a> {
    provider_refund_id: &'a str,
    /// Stripe: the charge whose cumulative total counted it.
    charge: Option<&'a str>,
    amount: Money,
    ours: Option<&'a str>,
    reason: &'a str,
    at: Option<i64>,
}

/// A refund failed at the provider: ours is marked failed (a cancellation waiting for it no
/// longer holds the order), what was counted for it is taken back out of the refunded total,
/// and admins are told: the customer is owed money that did not reach them. The order's status
/// does not move back on its own (a `refunded` order stays so); an admin decides what next.
fn refund_failed(order: &Order, mut payment: Payment, f: &RefundFailure<'_>) -> Result<Decision, Error> {
    if payment.failed_refunds.contains(f.provider_refund_id) {
        return Ok(Decision::Nothing("the refund's failure is already recorded".to_owned()));
    }
    let shown = format!("{} {}", f.amount.to_decimal_string(), f.amount.currency);
    let ours = payment.refunds.iter_mut().find(|r| {
        f.ours.is_some_and(|id| id == r.id.as_str()) || r.provider_refund_id.as_deref() == Some(f.provider_refund_id)
    });
    let counted_under = f.charge.unwrap_or(f.provider_refund_id);
    let named = match ours {
        Some(refund) => {
            refund.state = RefundState::Failed;
            refund.id.as_str().to_owned()
        }
        // A refund made in the provider's dashboard, counted when it was confirmed.
        None if payment.refunded_by_key.contains_key(counted_under) => f.provider_refund_id.to_owned(),
        None => {
            let id = f.provider_refund_id;
            return Ok(Decision::Flag(format!("refund {id} of {shown} failed at the provider; it is not one we know")));
        }
    };
    match f.charge {
        // Razorpay and PayPal confirm each refund under its own id: that confirmation goes.
        None => {
            payment.refunded_by_key.remove(f.provider_refund_id);
        }
        // Stripe's charge total counted it: it comes off, as of the failure (an older total
        // delivered late no longer counts; the next refund's total does).
        Some(charge) => {
            if let Some(total) = payment.refunded_by_key.get_mut(charge) {
                *total = (*total - f.amount.amount).max(0);
            }
            // Also when no total was seen yet: one from before the failure must not count it.
            let seen = payment.refunded_as_of.get(charge).copied().unwrap_or(0);
            payment.refunded_as_of.insert(charge.to_owned(), f.at.unwrap_or(seen).max(seen));
        }
    }
    payment.failed_refunds.insert(f.provider_refund_id.to_owned());
    payment.refunded = payment.net_refunded(None)?;
    let note = format!("refund {named} failed at the provider: {}", f.reason);
    let flag = format!("{note}; {shown} did not reach the customer (the order is {})", order.status.as_str());
    Ok(Decision::Apply(Box::new(PaymentChange { to: None, payment, note, capture: false, flag: Some(flag) })))
}

/// The money came, but the order will not be fulfilled (it was cancelled, or its stock was sold
/// after its payment failed): keep the record, move nothing, and give the money back.
pub fn refund_instead(mut payment: Payment, now: Timestamp, reason: &str) -> Result<Decision, Error> {
    let refund = automatic_refund(&payment, reason, now)?;
    let note = format!("{reason}; refunding {} {}", refund.amount.to_decimal_string(), refund.amount.currency);
    payment.refunds.push(refund);
    Ok(Decision::Apply(Box::new(PaymentChange { to: None, payment, note, capture: false, flag: None })))
}

/// Whether `actor` may call the whole `order` off once its money was collected (which refunds
/// everything left): the customer until any part is processing, an admin until any part is
/// completed (a completed part is its seller's to be paid for: an admin refunds its lines, or
/// calls off the other parts one by one).
pub fn may_cancel_with_refund(order: &Order, actor: Actor) -> bool {
    use OrderStatus::*;
    match actor {
        Actor::Customer => order.status == Paid && order.customer_may_cancel(),
        Actor::Admin => may_refund_lines(order) && !order.fulfilments.iter().any(|f| f.status == Completed),
        Actor::Seller | Actor::System => false,
    }
}

/// Whether an admin may refund units of an order's lines: once it is paid and until every
/// part has ended — a completed order too (goodwill, a dispute settled): what it takes from a
/// seller already paid out leaves their balance below zero, and their next payout nets it.
pub fn may_refund_lines(order: &Order) -> bool {
    use OrderStatus::*;
    matches!(order.status, Paid | Processing | Shipped | Delivered | ReturnRequested | Returned | Completed)
}

/// What a refund asks for: everything left (a cancellation), units of some lines, or what is
/// left of one seller's part.
#[derive(Clone, Debug, PartialEq)]
pub enum RefundAsk {
    Everything,
    Lines(Vec<(usize, u32)>),
    /// Every unit of `seller`'s lines not yet refunded, and that part's shipping when
    /// `with_shipping` (a part called off; a return keeps the shipping, which was done).
    Fulfilment {
        seller: UserId,
        with_shipping: bool,
    },
}

/// Lines' refunds already asked for (not failed), as `(units, amount)` of line `index`.
fn refunded_of_line(payment: &Payment, also: &[RefundedLine], index: usize) -> (u32, i64) {
    let before = payment
        .refunds
        .iter()
        .filter(|r| r.state != RefundState::Failed)
        .flat_map(|r| r.lines.iter())
        .chain(also.iter())
        .filter(|l| l.line == index);
    before.fold((0, 0), |(units, amount), l| (units + l.quantity, amount + l.amount.amount))
}

/// The refunds of `asked` units of lines: each line's price less its discount share plus its
/// tax, pro rata, the last units taking what is left so the parts add up exactly. 400 naming
/// `lines[n]` for a line or quantity the order does not have (left).
fn plan_lines(order: &Order, payment: &Payment, asked: &[(usize, u32)]) -> Result<(Money, Vec<RefundedLine>), Error> {
    let currency = order.total.currency;
    let mut lines = Vec::new();
    let mut total = Money::zero(currency);
    for (n, &(index, quantity)) in asked.iter().enumerate() {
        let field = format!("lines[{n}]");
        let line = order.lines.get(index).ok_or_else(|| Error::invalid(&field, "the order has no such line"))?;
        let (done_units, done_amount) = refunded_of_line(payment, &lines, index);
        let left_units = line.quantity.saturating_sub(done_units);
        if quantity == 0 || quantity > left_units {
            return Err(Error::invalid(&field, format!("quantity must be 1 to {left_units} (units not yet refunded)")));
        }
        let charged = line.line_total.checked_sub(line.discount)?.checked_add(line.tax)?;
        let part = if quantity == left_units {
            charged.amount - done_amount
        } else {
            share_half_even(charged.amount, quantity, line.quantity)
        };
        let part = Money::non_negative(part, currency)?;
        total = total.checked_add(part)?;
        lines.push(RefundedLine { line: index, quantity, amount: part });
    }
    Ok((total, lines))
}

/// Plans a refund of `order` asked by `actor`: the refund and the payment holding it.
/// 409 if nothing was collected or nothing is left to refund; 400 for a line or quantity the
/// order does not have (left).
pub fn plan_refund(
    order: &Order,
    ask: &RefundAsk,
    reason: &str,
    actor: Actor,
    actor_id: Option<&UserId>,
    now: Timestamp,
) -> Result<(Payment, Refund), Error> {
    let nothing =
        || Error::conflict(ErrorCode::InvalidTransition, "There is nothing paid left to refund on this order.");
    let Some(mut payment) = order.payment.clone().filter(|p| p.captured.is_some()) else { return Err(nothing()) };
    let refundable = payment.refundable()?;
    let (amount, lines, shipping_of) = match ask {
        RefundAsk::Everything => (refundable, Vec::new(), None),
        RefundAsk::Lines(asked) => {
            if asked.is_empty() {
                return Err(Error::invalid("lines", "name at least one line"));
            }
            let (total, lines) = plan_lines(order, &payment, asked)?;
            (total, lines, None)
        }
        RefundAsk::Fulfilment { seller, with_shipping } => {
            let part =
                order.fulfilment(seller).ok_or_else(|| Error::invalid("seller_id", "is not a seller of this order"))?;
            let left: Vec<(usize, u32)> = part
                .line_indexes
                .iter()
                .filter_map(|&i| {
                    let quantity = order.lines.get(i)?.quantity;
                    let left = quantity.saturating_sub(refunded_of_line(&payment, &[], i).0);
                    (left > 0).then_some((i, left))
                })
                .collect();
            let (mut total, lines) = plan_lines(order, &payment, &left)?;
            let shipping_refunded = payment
                .refunds
                .iter()
                .any(|r| r.state != RefundState::Failed && r.shipping_of.as_ref() == Some(seller));
            let shipping = (*with_shipping && !shipping_refunded && part.shipping.amount > 0).then_some(part.shipping);
            if let Some(shipping) = shipping {
                total = total.checked_add(shipping)?;
            }
            (total, lines, shipping.map(|_| seller.clone()))
        }
    };
    if amount.amount <= 0 || amount.amount > refundable.amount {
        return Err(nothing());
    }
    let refund = Refund {
        id: RefundId::generate(),
        amount,
        reason: reason.to_owned(),
        cancels_order: *ask == RefundAsk::Everything,
        lines,
        shipping_of,
        requested_at: now,
        requested_by: actor,
        requested_by_id: actor_id.cloned(),
        provider_refund_id: None,
        state: RefundState::Requested,
        seller_debits: Vec::new(),
    };
    payment.refunds.push(refund.clone());
    Ok((payment, refund))
}

/// `amount × part / whole`, rounded half to even, in integers.
pub(crate) fn share_half_even(amount: i64, part: u32, whole: u32) -> i64 {
    let (n, d) = (i128::from(amount) * i128::from(part), i128::from(whole.max(1)));
    let (q, r) = (n / d, n % d);
    let twice = 2 * r;
    let q = if twice > d || (twice == d && q % 2 != 0) { q + 1 } else { q };
    i64::try_from(q).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::PaymentLookup;
    use crate::{Currency, OrderId, UserId};
    use serde_json::json;

    fn inr(amount: i64) -> Money {
        Money::new(amount, Currency::parse("INR").unwrap()).unwrap()
    }

    /// An order of 3 units at 10 000 with 1 500 discount and 1 200 tax on its one line, plus
    /// 500 shipping: total 10 200 + 500 = 30 000 − 1 500 + 1 200 + 500 = 30 200.
    fn order(status: OrderStatus, captured: bool) -> Order {
        let line = json!({"product_id": crate::ProductId::generate(), "seller_id": UserId::generate(), "title": "Mug",
            "quantity": 3, "customizations": {}, "unit_price": inr(10_000), "customization_total": inr(0),
            "line_total": inr(30_000), "discount": inr(1_500), "tax": inr(1_200)});
        let now = Timestamp::now();
        let mut order: Order = serde_json::from_value(json!({
            "id": OrderId::generate(), "customer_id": UserId::generate(), "status": status, "lines": [line],
            "subtotal": inr(30_000), "discount": inr(1_500), "shipping": inr(500), "tax": inr(1_200), "total": inr(30_200),
            "address": {"id": crate::AddressId::generate(), "name": "Asha", "line1": "12 MG Road", "city": "Bengaluru",
                "postal_code": "560001", "country": "IN", "created_at": now, "updated_at": now, "version": 1},
            "payment_provider": "razorpay", "reserved_until": now, "created_at": now, "updated_at": now, "version": 2
        }))
        .unwrap();
        order.fulfilments = crate::order::fulfilment::split(
            &order.lines,
            &std::collections::BTreeMap::from([(order.lines[0].seller_id.clone(), inr(500))]),
            status,
            now,
        )
        .unwrap();
        let mut payment = Payment::opened("order_R1".into(), Currency::parse("INR").unwrap());
        if captured {
            payment.captured = Some(inr(30_200));
            payment.payment_id = Some("pay_P1".into());
        }
        order.payment = Some(payment);
        order
    }

    fn event(kind: ProviderEventKind, payment_id: Option<&str>) -> ProviderEvent {
        ProviderEvent {
            provider: PaymentProvider::Razorpay,
            event_id: "evt".into(),
            event_type: "test".into(),
            lookup: PaymentLookup {
                reference: Some("order_R1".into()),
                payment_id: payment_id.map(str::to_owned),
                order_id: None,
            },
            kind,
            occurred_at: None,
        }
    }

    fn refunded(key: &str, amount: i64) -> ProviderEventKind {
        ProviderEventKind::Refunded { refund_key: key.into(), amount: inr(amount), our_refund_id: None }
    }

    fn applied(decision: Decision) -> PaymentChange {
        match decision {
            Decision::Apply(change) => *change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn line_refunds_add_up_to_exactly_what_the_line_cost() {
        let mut order = order(OrderStatus::Paid, true);
        let now = Timestamp::now();
        let mut parts = Vec::new();
        for _ in 0..3 {
            let (payment, refund) =
                plan_refund(&order, &RefundAsk::Lines(vec![(0, 1)]), "chipped", Actor::Admin, None, now).unwrap();
            parts.push(refund.amount.amount);
            order.payment = Some(payment);
        }
        // 29 700 over three units: 9 900 each, the last taking what is left.
        assert_eq!(parts, vec![9_900, 9_900, 9_900]);
        let err = plan_refund(&order, &RefundAsk::Lines(vec![(0, 1)]), "again", Actor::Admin, None, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed, "no units left on the line");
        // What is left for a cancellation is the shipping.
        let (_, rest) = plan_refund(&order, &RefundAsk::Everything, "cancel", Actor::Admin, None, now).unwrap();
        assert_eq!(rest.amount.amount, 500);
        assert_eq!(share_half_even(29_701, 1, 3), 9_900);
        assert_eq!(share_half_even(5, 1, 2), 2, "half to even");
        assert_eq!(share_half_even(7, 1, 2), 4, "half to even");
    }

    #[test]
    fn nothing_collected_means_nothing_to_refund() {
        let order = order(OrderStatus::PendingPayment, false);
        let err = plan_refund(&order, &RefundAsk::Everything, "x", Actor::Admin, None, Timestamp::now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTransition);
    }

    #[test]
    fn refund_totals_take_the_largest_amount_per_key_so_repeats_and_reordering_cannot_inflate_them() {
        let mut order = order(OrderStatus::Paid, true);
        let now = Timestamp::now();
        // Stripe-style cumulative amounts for one charge, delivered out of order.
        for (amount, expect) in [(20_000, Some(20_000)), (10_000, None), (20_000, None), (30_200, Some(30_200))] {
            match decide(&order, &event(refunded("ch_1", amount), Some("pay_P1")), now).unwrap() {
                Decision::Apply(change) => {
                    assert_eq!(Some(change.payment.refunded.amount), expect);
                    order.payment = Some(change.payment);
                    if let Some(to) = change.to {
                        order.status = to;
                    }
                }
                Decision::Nothing(_) => assert_eq!(expect, None, "{amount} should have applied"),
                Decision::Flag(reason) => panic!("{reason}"),
            }
        }
        assert_eq!(order.status, OrderStatus::Refunded);
        // More than was collected is refused.
        let order = self::order(OrderStatus::Paid, true);
        let over = decide(&order, &event(refunded("rfnd_1", 30_201), Some("pay_P1")), now).unwrap();
        assert!(matches!(over, Decision::Flag(_)), "{over:?}");
    }

    fn refund_failed(provider_refund_id: &str, amount: i64) -> ProviderEventKind {
        ProviderEventKind::RefundFailed {
            provider_refund_id: provider_refund_id.into(),
            charge: None,
            amount: inr(amount),
            our_refund_id: None,
            reason: "card closed".into(),
        }
    }

    /// Applies `kind` to `order` as a webhook would; the change, which must be one.
    fn apply(order: &mut Order, kind: ProviderEventKind) -> PaymentChange {
        let change = applied(decide(order, &event(kind, Some("pay_P1")), Timestamp::now()).unwrap());
        order.payment = Some(change.payment.clone());
        if let Some(to) = change.to {
            order.status = to;
        }
        change
    }

    #[test]
    fn a_failed_refund_is_taken_back_out_of_the_total_flagged_and_never_counted_again() {
        // Razorpay keys confirmations per refund: the failed one's goes.
        let mut order = order(OrderStatus::Paid, true);
        apply(&mut order, refunded("rfnd_1", 10_000));
        apply(&mut order, refunded("rfnd_2", 5_000));
        let change = apply(&mut order, refund_failed("rfnd_1", 10_000));
        assert!(change.flag.as_deref().is_some_and(|f| f.contains("did not reach the customer")), "{change:?}");
        assert_eq!(order.payment.as_ref().unwrap().refunded.amount, 5_000);
        let now = Timestamp::now();
        for kind in [refund_failed("rfnd_1", 10_000), refunded("rfnd_1", 10_000)] {
            let again = decide(&order, &event(kind, Some("pay_P1")), now).unwrap();
            assert!(matches!(again, Decision::Nothing(_)), "{again:?}");
        }
        // A refund nobody knows failing is for admins, and changes nothing.
        let unknown = decide(&order, &event(refund_failed("rfnd_9", 1_000), Some("pay_P1")), now).unwrap();
        assert!(matches!(unknown, Decision::Flag(_)), "{unknown:?}");

        // Stripe confirms per charge with its cumulative total, which a failed refund lowers:
        // the failure's amount comes off as of its time, a total from before it delivered late
        // adds nothing, and the retried refund's total (the same figure, later) counts.
        let mut order = self::order(OrderStatus::Paid, true);
        order.payment_provider = PaymentProvider::Stripe;
        let stripe = |kind, at: i64| ProviderEvent {
            provider: PaymentProvider::Stripe,
            occurred_at: Some(at),
            ..event(kind, Some("pay_P1"))
        };
        let plan = |order: &mut Order| {
            let (payment, refund) =
                plan_refund(order, &RefundAsk::Lines(vec![(0, 1)]), "x", Actor::Admin, None, now).unwrap();
            order.payment = Some(payment);
            refund
        };
        let step = |order: &mut Order, kind, at| {
            let change = applied(decide(order, &stripe(kind, at), now).unwrap());
            order.payment = Some(change.payment.clone());
            change
        };
        let refund = plan(&mut order);
        step(&mut order, refunded("ch_1", 9_900), 100);
        assert_eq!(order.payment.as_ref().unwrap().refunds[0].state, RefundState::Confirmed);
        let failed = ProviderEventKind::RefundFailed {
            provider_refund_id: "re_1".into(),
            charge: Some("ch_1".into()),
            amount: inr(9_900),
            our_refund_id: Some(refund.id.as_str().into()),
            reason: "expired_or_canceled_card".into(),
        };
        step(&mut order, failed, 200);
        let payment = order.payment.as_ref().unwrap();
        assert_eq!((payment.refunded.amount, payment.refunds[0].state), (0, RefundState::Failed));
        let stale = decide(&order, &stripe(refunded("ch_1", 9_900), 150), now).unwrap();
        assert!(matches!(stale, Decision::Nothing(_)), "{stale:?}");
        plan(&mut order);
        step(&mut order, refunded("ch_1", 9_900), 300);
        let payment = order.payment.as_ref().unwrap();
        assert_eq!((payment.refunded.amount, payment.refunds[1].state), (9_900, RefundState::Confirmed));
    }

    #[test]
    fn events_for_another_payment_or_amount_are_flagged_not_applied() {
        let now = Timestamp::now();
        let pending = order(OrderStatus::PendingPayment, false);
        let paid = |amount| event(ProviderEventKind::Succeeded { amount: inr(amount) }, Some("pay_P1"));
        assert!(matches!(decide(&pending, &paid(30_199), now).unwrap(), Decision::Flag(_)));
        let usd = ProviderEventKind::Succeeded { amount: Money::new(30_200, Currency::parse("USD").unwrap()).unwrap() };
        assert!(matches!(decide(&pending, &event(usd, None), now).unwrap(), Decision::Flag(_)));
        let mut other = paid(30_200);
        other.lookup.reference = Some("order_OTHER".into());
        assert!(matches!(decide(&pending, &other, now).unwrap(), Decision::Flag(_)));
        assert_eq!(applied(decide(&pending, &paid(30_200), now).unwrap()).to, Some(OrderStatus::Paid));
        // A second, different collection for a paid order is flagged; the same one is nothing.
        let done = order(OrderStatus::Paid, true);
        let mut second = paid(30_200);
        second.lookup.payment_id = Some("pay_P2".into());
        assert!(matches!(decide(&done, &second, now).unwrap(), Decision::Flag(_)));
        assert!(matches!(decide(&done, &paid(30_200), now).unwrap(), Decision::Nothing(_)));
        // A refund of another collection is not this order's.
        assert!(matches!(decide(&done, &event(refunded("r", 100), Some("pay_P2")), now).unwrap(), Decision::Flag(_)));
    }

    #[test]
    fn money_for_a_cancelled_order_is_recorded_and_refunded_and_approvals_are_not_captured() {
        let now = Timestamp::now();
        let cancelled = order(OrderStatus::Cancelled, false);
        let paid = event(ProviderEventKind::Succeeded { amount: inr(30_200) }, Some("pay_P1"));
        let change = applied(decide(&cancelled, &paid, now).unwrap());
        assert_eq!(change.to, None);
        assert_eq!(change.payment.captured, Some(inr(30_200)));
        assert_eq!(change.payment.refunds.len(), 1);
        assert_eq!(
            (change.payment.refunds[0].amount, change.payment.refunds[0].state),
            (inr(30_200), RefundState::Requested)
        );
        let approved = event(ProviderEventKind::Approved { amount: inr(30_200) }, None);
        assert!(matches!(decide(&cancelled, &approved, now).unwrap(), Decision::Nothing(_)));
        let pending = order(OrderStatus::PendingPayment, false);
        assert!(applied(decide(&pending, &approved, now).unwrap()).capture);
    }

    #[test]
    fn only_the_customer_before_processing_and_admins_before_completion_cancel_with_a_refund() {
        use OrderStatus::*;
        let at = |status| {
            let mut o = order(status, true);
            o.status = status;
            for f in &mut o.fulfilments {
                f.status = status;
            }
            o
        };
        assert!(may_cancel_with_refund(&at(Paid), Actor::Customer));
        assert!(!may_cancel_with_refund(&at(Processing), Actor::Customer));
        for s in [Paid, Processing, Shipped, Delivered, ReturnRequested, Returned] {
            assert!(may_cancel_with_refund(&at(s), Actor::Admin), "{s:?}");
        }
        for s in [Completed, Refunded, Cancelled, PendingPayment] {
            assert!(!may_cancel_with_refund(&at(s), Actor::Admin), "{s:?}");
        }
        assert!(!may_cancel_with_refund(&at(Paid), Actor::Seller));
    }

    #[test]
    fn a_sellers_part_is_refunded_with_its_shipping_once() {
        let mut order = order(OrderStatus::Paid, true);
        let seller = order.lines[0].seller_id.clone();
        let now = Timestamp::now();
        let ask = |with_shipping| RefundAsk::Fulfilment { seller: seller.clone(), with_shipping };
        // One unit refunded first; the part's refund is what is left of the line and the shipping.
        let (payment, _) =
            plan_refund(&order, &RefundAsk::Lines(vec![(0, 1)]), "chipped", Actor::Admin, None, now).unwrap();
        order.payment = Some(payment);
        let (payment, part) = plan_refund(&order, &ask(true), "cancelled", Actor::Seller, None, now).unwrap();
        assert_eq!(part.amount.amount, 29_700 - 9_900 + 500);
        assert_eq!((part.lines[0].quantity, part.shipping_of.as_ref()), (2, Some(&seller)));
        order.payment = Some(payment);
        let err = plan_refund(&order, &ask(true), "again", Actor::Seller, None, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTransition, "nothing of the part is left");
        let stranger = RefundAsk::Fulfilment { seller: UserId::generate(), with_shipping: true };
        assert_eq!(
            plan_refund(&order, &stranger, "x", Actor::Admin, None, now).unwrap_err().code,
            ErrorCode::ValidationFailed
        );
    }
}
