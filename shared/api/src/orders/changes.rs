//! Changing an order after it was placed: a seller moves their part (an admin any part), the
//! customer calls the whole order off or asks to return a delivered part, an admin refunds.
//! Every change is one transaction through `cy_data::orders::commit_change`; a change that
//! gives money back records its refund (with a "due" entry) in that same transaction, and the
//! provider is asked afterwards — an outage or a crash leaves it due for the sweep, never lost.

use cy_data::orders::{self as records, Committed, OrderChange};
use cy_data::payments as payment_records;
use cy_domain::order::{Actor, Order, OrderStatus, Tracking, check_move};
use cy_domain::settlement::{RefundAsk, may_cancel_with_refund, plan_refund};
use cy_domain::{Error, ErrorCode, OrderId, Timestamp, UserId};
use cy_http::Caller;

use super::Orders;
use crate::idempotency::{Keyed, key_reused};

fn collected(order: &Order) -> bool {
    order.payment.as_ref().is_some_and(|p| p.captured.is_some())
}

fn cancellation_pending() -> Error {
    Error::conflict(
        ErrorCode::InvalidTransition,
        "The order is being cancelled; it moves when its refund is confirmed.",
    )
}

impl Orders {
    /// Records a refund of `order` and sends it to the provider. The refund is recorded (with a
    /// "due" entry) before the provider is asked, so an outage or a crash cannot lose it: the
    /// sweep sends it later with the same idempotency key. A cancellation already waiting for
    /// its refund is sent again rather than asked twice. With an Idempotency-Key, its claim is
    /// written in the same transaction as the refund.
    pub(crate) async fn refund(
        &self,
        order: Order,
        ask: RefundAsk,
        reason: &str,
        actor: Actor,
        caller: &Caller,
        keyed: Option<&Keyed>,
    ) -> Result<Order, Error> {
        let pending = order.payment.as_ref().is_some_and(|p| p.cancellation_pending());
        let recorded = if ask == RefundAsk::Everything && pending {
            order
        } else {
            let now = Timestamp::now();
            let (payment, _) = plan_refund(&order, &ask, reason, actor, Some(&caller.user_id), now)?;
            let mut after = order.clone();
            after.payment = Some(payment);
            let mut change = OrderChange::new(after, actor, Some(&caller.user_id), Some(reason.to_owned()));
            change.before_ops = Keyed::claims(keyed, &caller.user_id, order.id.as_str(), now)?;
            match payment_records::request_refund(self.store.as_ref(), &order, change).await? {
                Committed::Done(order) => *order,
                Committed::Moved => return Err(records::moved_meanwhile()),
                // The key's claim (op 0), committed by a request that ran alongside this one.
                Committed::OtherOp(0) => {
                    let Some(keyed) = keyed else { return Err(Error::internal()) };
                    let earlier = keyed.earlier(self.store.as_ref(), &caller.user_id).await?;
                    return self.replay_refund(&earlier.ok_or_else(Error::internal)?.created, &order.id).await;
                }
                Committed::OtherOp(_) => return Err(Error::internal()),
            }
        };
        self.money().send_refunds(&recorded).await;
        records::get_order(self.store.as_ref(), &recorded.id).await?.ok_or_else(Error::internal)
    }

    /// A refund request repeated with its Idempotency-Key (`created`: the order the first one
    /// refunded): its refunds still due are sent again under their own keys; the key used on
    /// another order is 409.
    pub(crate) async fn replay_refund(&self, created: &str, order_id: &OrderId) -> Result<Order, Error> {
        if created != order_id.as_str() {
            return Err(key_reused());
        }
        let order = records::get_order(self.store.as_ref(), order_id).await?.ok_or_else(Error::internal)?;
        if self.money().send_refunds(&order).await == 0 {
            return Ok(order);
        }
        records::get_order(self.store.as_ref(), order_id).await?.ok_or_else(Error::internal)
    }

    /// `POST /orders/{id}/cancel`: an unpaid order is cancelled at once (its stock released, its
    /// payment closed at the provider); a paid one is refunded in full and moves to `refunded`
    /// when the provider confirms (`true`: accepted, not yet done). The customer may do this
    /// until any part is processing, an admin any time before completion.
    pub(crate) async fn cancel(&self, caller: &Caller, order: Order, actor: Actor) -> Result<(bool, Order), Error> {
        let reason = if actor == Actor::Admin { "cancelled by an admin" } else { "cancelled by the customer" };
        if collected(&order) && order.status != OrderStatus::Refunded {
            if !may_cancel_with_refund(&order, actor) {
                if actor == Actor::Admin && order.fulfilments.iter().any(|f| f.status == OrderStatus::Completed) {
                    return Err(Error::conflict(
                        ErrorCode::InvalidTransition,
                        "Part of this order is completed: call off its other parts one by one, or refund lines.",
                    ));
                }
                check_move(order.status, OrderStatus::Cancelled, actor)?;
                return Err(Error::conflict(ErrorCode::InvalidTransition, "This order can no longer be called off."));
            }
            let order = self.refund(order, RefundAsk::Everything, reason, actor, caller, None).await?;
            return Ok((true, order));
        }
        let moved = records::move_order(
            self.store.as_ref(),
            &order,
            OrderStatus::Cancelled,
            actor,
            Some(&caller.user_id),
            Some(reason.to_owned()),
        )
        .await?
        .ok_or_else(records::moved_meanwhile)?;
        // No money came: the provider must not take any later either.
        self.money().close_payment(&moved).await;
        Ok((false, moved))
    }

    /// Moves `seller`'s part to `to` (`PUT /orders/{id}/status`). Calling a paid part off
    /// (`cancelled`, or `refunded` by an admin) refunds what is left of it with its shipping;
    /// accepting a return (`returned`) refunds its lines. Either way the part moves now, its
    /// refund is recorded in the same transaction and sent right after, and its stock comes back
    /// when the goods do (called off before shipping, or returned).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn move_part(
        &self,
        caller: &Caller,
        order: Order,
        seller: &UserId,
        to: OrderStatus,
        actor: Actor,
        tracking: Option<Tracking>,
        note: Option<String>,
    ) -> Result<Order, Error> {
        if order.status.is_unpaid() && to == OrderStatus::Cancelled && actor == Actor::Admin {
            // An unpaid order is called off whole.
            return Ok(self.cancel(caller, order, actor).await?.1);
        }
        if order.payment.as_ref().is_some_and(|p| p.cancellation_pending()) {
            return Err(cancellation_pending());
        }
        let now = Timestamp::now();
        let mut after = order.clone();
        let gives_back = matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Returned);
        if gives_back && collected(&order) {
            let reason = note.clone().unwrap_or_else(|| match to {
                OrderStatus::Returned => "return accepted".to_owned(),
                _ => format!("part {} by the {}", to.as_str(), if actor == Actor::Admin { "admin" } else { "seller" }),
            });
            let ask = RefundAsk::Fulfilment { seller: seller.clone(), with_shipping: to != OrderStatus::Returned };
            match plan_refund(&order, &ask, &reason, actor, Some(&caller.user_id), now) {
                Ok((payment, _)) => after.payment = Some(payment),
                // Everything of the part was refunded already (an admin's line refunds).
                Err(e) if e.code == ErrorCode::InvalidTransition => {}
                Err(e) => return Err(e),
            }
        }
        after.move_fulfilment(seller, to, actor, tracking, &self.rules.fulfilment, now)?;
        let change = OrderChange::new(after, actor, Some(&caller.user_id), note).of_part(seller);
        let moved = match payment_records::request_refund(self.store.as_ref(), &order, change).await? {
            Committed::Done(order) => *order,
            Committed::Moved => return Err(records::moved_meanwhile()),
            Committed::OtherOp(_) => return Err(Error::internal()),
        };
        if self.money().send_refunds(&moved).await == 0 {
            return Ok(moved);
        }
        records::get_order(self.store.as_ref(), &moved.id).await?.ok_or_else(Error::internal)
    }

    /// `POST /orders/{id}/returns`: the customer asks to return `seller`'s delivered part within
    /// its return window.
    pub(crate) async fn request_return(
        &self,
        caller: &Caller,
        order: Order,
        seller: &UserId,
        reason: String,
    ) -> Result<Order, Error> {
        let mut after = order.clone();
        after.request_return(seller, reason.clone(), Timestamp::now())?;
        let change = OrderChange::new(after, Actor::Customer, Some(&caller.user_id), Some(reason)).of_part(seller);
        match records::commit_change(self.store.as_ref(), &order, change).await? {
            Committed::Done(order) => Ok(*order),
            Committed::Moved => Err(records::moved_meanwhile()),
            Committed::OtherOp(_) => Err(Error::internal()),
        }
    }
}
