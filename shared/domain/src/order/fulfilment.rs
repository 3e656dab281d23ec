//! One seller's part of an order. A checkout is one order and one payment, but every seller
//! ships their own part: the order holds one fulfilment per seller, each with its own status,
//! tracking and return window, and the order's status follows them (see [`derive_status`]).
//!
//! Order-wide moves (the payment arrives or fails, the whole order is called off or refunded)
//! move every fulfilment that may make the move; a seller's moves (processing, shipped,
//! delivered, a return decided) move that seller's fulfilment only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Order, OrderLine, OrderStatus, Tracking, allowed, check_move};
use crate::actor::Actor;
use crate::{Error, ErrorCode, Money, ProductId, Timestamp, UserId};

/// A seller's part of an order: which lines, what they come to, and how far they have got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fulfilment {
    pub seller_id: UserId,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
    /// Indexes into the order's `lines` (in a seller's view of the order, into that view's).
    pub line_indexes: Vec<usize>,
    /// The lines' totals.
    pub subtotal: Money,
    /// The lines' shares of the order's discount.
    pub discount: Money,
    /// What this seller charges for shipping this part.
    pub shipping: Money,
    /// The lines' tax.
    pub tax: Money,
    /// `subtotal − discount + shipping + tax`: this part of the order's total.
    pub total: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    /// When the return window of a delivered fulfilment ends: its delivery plus the window
    /// configured at that moment (a later change of the setting does not move it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returnable_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Why the customer asked to return it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_reason: Option<String>,
    pub updated_at: Timestamp,
}

impl Fulfilment {
    /// Units per product of this part (a product is sold by one seller, so by one fulfilment).
    pub fn units_by_product(&self, lines: &[OrderLine]) -> Vec<(ProductId, i64)> {
        let mut units: Vec<(ProductId, i64)> = Vec::new();
        for line in self.line_indexes.iter().filter_map(|i| lines.get(*i)) {
            match units.iter_mut().find(|(p, _)| *p == line.product_id) {
                Some((_, n)) => *n += i64::from(line.quantity),
                None => units.push((line.product_id.clone(), i64::from(line.quantity))),
            }
        }
        units
    }
}

/// One fulfilment per seller, in the order their first line appears, each with its lines'
/// figures and `shipping_by_seller`'s charge (none for a seller it does not name). The parts add
/// up to the order: their subtotals, discounts, taxes and shipping are the lines' and the
/// quote's.
pub fn split(
    lines: &[OrderLine],
    shipping_by_seller: &BTreeMap<UserId, Money>,
    status: OrderStatus,
    now: Timestamp,
) -> Result<Vec<Fulfilment>, Error> {
    let currency = lines.first().map(|l| l.line_total.currency).ok_or_else(|| Error::invalid("items", "is empty"))?;
    let mut parts: Vec<Fulfilment> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let at = match parts.iter().position(|f| f.seller_id == line.seller_id) {
            Some(at) => at,
            None => {
                let shipping = shipping_by_seller.get(&line.seller_id).copied().unwrap_or(Money::zero(currency));
                parts.push(Fulfilment {
                    seller_id: line.seller_id.clone(),
                    status,
                    tracking: None,
                    line_indexes: Vec::new(),
                    subtotal: Money::zero(currency),
                    discount: Money::zero(currency),
                    shipping,
                    tax: Money::zero(currency),
                    total: shipping,
                    delivered_at: None,
                    returnable_until: None,
                    completed_at: None,
                    return_reason: None,
                    updated_at: now,
                });
                parts.len() - 1
            }
        };
        let part = &mut parts[at];
        part.line_indexes.push(index);
        part.subtotal = part.subtotal.checked_add(line.line_total)?;
        part.discount = part.discount.checked_add(line.discount)?;
        part.tax = part.tax.checked_add(line.tax)?;
        part.total = part.total.checked_add(line.line_total)?.checked_sub(line.discount)?.checked_add(line.tax)?;
    }
    Ok(parts)
}

/// The order's status from its fulfilments: the least advanced of the live ones (those not
/// cancelled, returned or refunded) along `paid → processing → shipped → delivered →
/// (return_requested) → completed`; when every one has ended, `returned` if any was, else
/// `refunded` if any was, else `cancelled`.
pub fn derive_status(fulfilments: &[Fulfilment]) -> Option<OrderStatus> {
    let least = fulfilments.iter().map(|f| f.status).filter(|s| !s.is_ended()).min_by_key(|s| s.progress());
    least.or_else(|| {
        [OrderStatus::Returned, OrderStatus::Refunded, OrderStatus::Cancelled]
            .into_iter()
            .find(|ended| fulfilments.iter().any(|f| f.status == *ended))
    })
}

/// What the marketplace promises around delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FulfilmentRules {
    /// How long after delivery the customer may ask to return a part (`RETURN_WINDOW_SECS`).
    pub return_window_secs: i64,
}

/// The contract's default return window: 7 days.
pub const DEFAULT_RETURN_WINDOW_SECS: i64 = 7 * 24 * 3600;

impl Default for FulfilmentRules {
    fn default() -> Self {
        FulfilmentRules { return_window_secs: DEFAULT_RETURN_WINDOW_SECS }
    }
}

fn no_such_part() -> Error {
    Error::invalid("seller_id", "is not a seller of this order")
}

fn enter(fulfilment: &mut Fulfilment, to: OrderStatus, rules: &FulfilmentRules, now: Timestamp) {
    fulfilment.status = to;
    fulfilment.updated_at = now;
    match to {
        // Back from a refused return, the window it had still holds.
        OrderStatus::Delivered if fulfilment.delivered_at.is_none() => {
            fulfilment.delivered_at = Some(now);
            fulfilment.returnable_until = Some(now.plus_secs(rules.return_window_secs));
        }
        OrderStatus::Completed => fulfilment.completed_at = Some(now),
        _ => {}
    }
}

impl Order {
    /// The fulfilment of `seller`, if they have lines in this order.
    pub fn fulfilment(&self, seller: &UserId) -> Option<&Fulfilment> {
        self.fulfilments.iter().find(|f| &f.seller_id == seller)
    }

    /// Recomputes `status` from the fulfilments (an order without any keeps its own).
    pub fn derive_status(&mut self) {
        if let Some(status) = derive_status(&self.fulfilments) {
            self.status = status;
        }
    }

    /// An order-wide move (the payment arrived or failed, the whole order is called off or
    /// refunded): checked against the order's status, then every fulfilment the lifecycle lets
    /// `actor` move to `to` moves; those that cannot (a completed part when the rest is
    /// refunded, a part already cancelled) stay. 409 when nothing would move.
    pub fn move_whole(&mut self, to: OrderStatus, actor: Actor, now: Timestamp) -> Result<(), Error> {
        check_move(self.status, to, actor)?;
        let rules = FulfilmentRules::default();
        let mut moved = 0;
        for fulfilment in &mut self.fulfilments {
            if fulfilment.status != to && allowed(fulfilment.status, to).is_some_and(|who| who.contains(&actor)) {
                enter(fulfilment, to, &rules, now);
                moved += 1;
            }
        }
        if moved == 0 && !self.fulfilments.is_empty() {
            return Err(Error::conflict(
                ErrorCode::InvalidTransition,
                format!("No part of this order can go to {}.", to.as_str()),
            ));
        }
        self.status = if self.fulfilments.is_empty() { to } else { derive_status(&self.fulfilments).unwrap_or(to) };
        Ok(())
    }

    /// Moves `seller`'s fulfilment to `to` (`tracking` is kept when given; `shipped` needs it).
    /// Only paid orders' parts move one by one; the order's status is derived again.
    pub fn move_fulfilment(
        &mut self,
        seller: &UserId,
        to: OrderStatus,
        actor: Actor,
        tracking: Option<Tracking>,
        rules: &FulfilmentRules,
        now: Timestamp,
    ) -> Result<(), Error> {
        if self.status.is_unpaid() {
            return Err(Error::conflict(
                ErrorCode::InvalidTransition,
                format!("An unpaid order's parts cannot go to {}.", to.as_str()),
            )
            .with_detail("from", self.status.as_str())
            .with_detail("to", to.as_str()));
        }
        let fulfilment = self.fulfilments.iter_mut().find(|f| &f.seller_id == seller).ok_or_else(no_such_part)?;
        check_move(fulfilment.status, to, actor)?;
        if to == OrderStatus::Shipped && tracking.is_none() && fulfilment.tracking.is_none() {
            return Err(Error::invalid("tracking", "is required to mark a part shipped"));
        }
        if tracking.is_some() {
            fulfilment.tracking = tracking;
        }
        enter(fulfilment, to, rules, now);
        self.derive_status();
        Ok(())
    }

    /// The customer asks to return `seller`'s delivered part, within its return window.
    pub fn request_return(&mut self, seller: &UserId, reason: String, now: Timestamp) -> Result<(), Error> {
        let fulfilment = self.fulfilments.iter_mut().find(|f| &f.seller_id == seller).ok_or_else(no_such_part)?;
        check_move(fulfilment.status, OrderStatus::ReturnRequested, Actor::Customer)?;
        if fulfilment.returnable_until.is_none_or(|until| now >= until) {
            return Err(Error::conflict(ErrorCode::InvalidTransition, "The return window of this part has ended.")
                .with_detail("seller_id", seller.as_str()));
        }
        fulfilment.return_reason = Some(reason);
        enter(fulfilment, OrderStatus::ReturnRequested, &FulfilmentRules::default(), now);
        self.derive_status();
        Ok(())
    }

    /// The sellers whose delivered part's return window ended by `now` (each completes, the
    /// system moving it `delivered → completed`).
    pub fn parts_due_for_completion(&self, now: Timestamp) -> Vec<UserId> {
        self.fulfilments
            .iter()
            .filter(|f| f.status == OrderStatus::Delivered && f.returnable_until.is_some_and(|u| u <= now))
            .map(|f| f.seller_id.clone())
            .collect()
    }

    /// When the next delivered part's return window ends (the completion sweep's due time).
    pub fn completion_due_at(&self) -> Option<Timestamp> {
        self.fulfilments.iter().filter(|f| f.status == OrderStatus::Delivered).filter_map(|f| f.returnable_until).min()
    }

    /// Whether the customer may still call the whole order off: until any part is processing.
    pub fn customer_may_cancel(&self) -> bool {
        self.fulfilments
            .iter()
            .filter(|f| !f.status.is_ended())
            .all(|f| matches!(f.status, OrderStatus::PendingPayment | OrderStatus::PaymentFailed | OrderStatus::Paid))
            && !self.status.is_ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;
    use OrderStatus::*;

    fn inr(amount: i64) -> Money {
        Money::new(amount, Currency::parse("INR").unwrap()).unwrap()
    }

    fn line(seller: &UserId, total: i64, discount: i64, tax: i64) -> OrderLine {
        OrderLine {
            product_id: ProductId::generate(),
            seller_id: seller.clone(),
            title: "Mug".into(),
            quantity: 1,
            customizations: serde_json::json!({}),
            unit_price: inr(total),
            customization_total: inr(0),
            line_total: inr(total),
            discount: inr(discount),
            tax: inr(tax),
            category_id: None,
            commission_bps: None,
        }
    }

    fn part(status: OrderStatus) -> Fulfilment {
        let now = Timestamp::now();
        let mut parts = split(&[line(&UserId::generate(), 100, 0, 0)], &BTreeMap::new(), status, now).unwrap();
        parts.remove(0)
    }

    #[test]
    fn one_part_per_seller_whose_figures_add_up_to_the_order() {
        let (a, b) = (UserId::generate(), UserId::generate());
        let lines = vec![line(&a, 1_000, 100, 90), line(&b, 500, 50, 45), line(&a, 300, 30, 27)];
        let shipping = BTreeMap::from([(a.clone(), inr(40)), (b.clone(), inr(60))]);
        let parts = split(&lines, &shipping, PendingPayment, Timestamp::now()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].seller_id.clone(), parts[0].line_indexes.clone()), (a, vec![0, 2]));
        assert_eq!((parts[1].seller_id.clone(), parts[1].line_indexes.clone()), (b, vec![1]));
        assert_eq!(
            (parts[0].subtotal, parts[0].discount, parts[0].tax, parts[0].shipping, parts[0].total),
            (inr(1_300), inr(130), inr(117), inr(40), inr(1_327))
        );
        assert_eq!(parts[1].total, inr(500 - 50 + 45 + 60));
        let total: i64 = parts.iter().map(|p| p.total.amount).sum();
        assert_eq!(total, 1_800 - 180 + 162 + 100);
    }

    #[test]
    fn the_order_is_as_far_as_its_least_advanced_live_part() {
        let with = |statuses: &[OrderStatus]| {
            let parts: Vec<Fulfilment> = statuses.iter().map(|s| part(*s)).collect();
            derive_status(&parts).unwrap()
        };
        assert_eq!(with(&[Shipped, Processing]), Processing);
        assert_eq!(with(&[Delivered, ReturnRequested]), Delivered);
        assert_eq!(with(&[Completed, ReturnRequested]), ReturnRequested);
        assert_eq!(with(&[Completed, Cancelled]), Completed, "a part called off does not hold the rest back");
        assert_eq!(with(&[Returned, Cancelled]), Returned);
        assert_eq!(with(&[Refunded, Cancelled]), Refunded);
        assert_eq!(with(&[Cancelled, Cancelled]), Cancelled);
        assert_eq!(derive_status(&[]), None);
    }

    fn two_seller_order() -> (Order, UserId, UserId) {
        let (a, b) = (UserId::generate(), UserId::generate());
        let lines = vec![line(&a, 1_000, 0, 0), line(&b, 500, 0, 0)];
        let now = Timestamp::now();
        let fulfilments = split(&lines, &BTreeMap::new(), PendingPayment, now).unwrap();
        let order: Order = serde_json::from_value(serde_json::json!({
            "id": crate::OrderId::generate(), "customer_id": UserId::generate(), "status": "pending_payment",
            "lines": lines, "fulfilments": fulfilments,
            "subtotal": inr(1_500), "discount": inr(0), "shipping": inr(0), "tax": inr(0), "total": inr(1_500),
            "address": {"id": crate::AddressId::generate(), "name": "Asha", "line1": "12 MG Road", "city": "Bengaluru",
                "postal_code": "560001", "country": "IN", "created_at": now, "updated_at": now, "version": 1},
            "payment_provider": "stripe", "reserved_until": now, "created_at": now, "updated_at": now, "version": 1
        }))
        .unwrap();
        (order, a, b)
    }

    fn tracking() -> Option<Tracking> {
        Some(serde_json::from_value(serde_json::json!({"carrier": "BlueDart", "number": "BD1"})).unwrap())
    }

    #[test]
    fn each_seller_moves_their_own_part_and_the_order_follows_the_slowest() {
        let (mut order, a, b) = two_seller_order();
        let now = Timestamp::now();
        let rules = FulfilmentRules { return_window_secs: 60 };
        let err = order.move_fulfilment(&a, Processing, Actor::Seller, None, &rules, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTransition, "unpaid parts do not move one by one");
        order.move_whole(Paid, Actor::System, now).unwrap();
        assert!(order.fulfilments.iter().all(|f| f.status == Paid));
        order.move_fulfilment(&a, Processing, Actor::Seller, None, &rules, now).unwrap();
        assert_eq!(order.status, Paid);
        assert!(!order.customer_may_cancel(), "a part is processing");
        let err = order.move_fulfilment(&a, Shipped, Actor::Seller, None, &rules, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed, "shipping needs tracking");
        order.move_fulfilment(&a, Shipped, Actor::Seller, tracking(), &rules, now).unwrap();
        order.move_fulfilment(&b, Processing, Actor::Seller, None, &rules, now).unwrap();
        assert_eq!(order.status, Processing);
        order.move_fulfilment(&a, Delivered, Actor::Seller, None, &rules, now).unwrap();
        assert_eq!(order.fulfilment(&a).unwrap().returnable_until, Some(now.plus_secs(60)));
        assert_eq!(order.completion_due_at(), Some(now.plus_secs(60)));
        assert!(order.parts_due_for_completion(now.plus_secs(59)).is_empty());
        assert_eq!(order.parts_due_for_completion(now.plus_secs(60)), vec![a.clone()]);
        order.move_fulfilment(&a, Completed, Actor::System, None, &rules, now.plus_secs(60)).unwrap();
        assert_eq!((order.fulfilment(&a).unwrap().status, order.status), (Completed, Processing));
        assert_eq!(order.completion_due_at(), None);
        let stranger = UserId::generate();
        let err = order.move_fulfilment(&stranger, Shipped, Actor::Admin, tracking(), &rules, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
    }

    #[test]
    fn a_return_is_asked_within_the_window_and_a_refused_one_keeps_its_window() {
        let (mut order, a, _) = two_seller_order();
        let now = Timestamp::now();
        let rules = FulfilmentRules { return_window_secs: 100 };
        order.move_whole(Paid, Actor::System, now).unwrap();
        for to in [Processing, Shipped, Delivered] {
            order.move_fulfilment(&a, to, Actor::Seller, tracking(), &rules, now).unwrap();
        }
        let late = order.clone().request_return(&a, "chipped".into(), now.plus_secs(100)).unwrap_err();
        assert_eq!(late.code, ErrorCode::InvalidTransition);
        order.request_return(&a, "chipped".into(), now.plus_secs(10)).unwrap();
        assert_eq!(order.fulfilment(&a).unwrap().status, ReturnRequested);
        assert_eq!(order.completion_due_at(), None, "a part in return does not complete");
        order.move_fulfilment(&a, Delivered, Actor::Seller, None, &rules, now.plus_secs(50)).unwrap();
        assert_eq!(order.fulfilment(&a).unwrap().returnable_until, Some(now.plus_secs(100)));
        let again = order.clone().request_return(&a, "again".into(), now.plus_secs(20));
        assert!(again.is_ok(), "still within the window it had");
    }

    #[test]
    fn order_wide_moves_leave_parts_that_cannot_make_them() {
        let (mut order, a, b) = two_seller_order();
        let now = Timestamp::now();
        let rules = FulfilmentRules { return_window_secs: 0 };
        order.move_whole(Paid, Actor::System, now).unwrap();
        for to in [Processing, Shipped, Delivered] {
            order.move_fulfilment(&a, to, Actor::Seller, tracking(), &rules, now).unwrap();
        }
        order.move_fulfilment(&a, Completed, Actor::System, None, &rules, now).unwrap();
        order.move_fulfilment(&b, Cancelled, Actor::Seller, None, &rules, now).unwrap();
        assert_eq!(order.status, Completed);
        // Every refund confirmed: the cancelled part records it, the completed one stays.
        let err = order.move_whole(Refunded, Actor::System, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTransition, "from completed the order has no such move");
        let (mut order, _, b) = two_seller_order();
        order.move_whole(Paid, Actor::System, now).unwrap();
        order.move_fulfilment(&b, Cancelled, Actor::Admin, None, &rules, now).unwrap();
        order.move_whole(Refunded, Actor::System, now).unwrap();
        assert!(order.fulfilments.iter().all(|f| f.status == Refunded));
        assert_eq!(order.status, Refunded);
    }
}
