//! Every change of an order after it was placed — a payment, a seller's move, a cancellation, a
//! refund, the sweeps — goes through [`commit_change`]: ONE transaction of the order (only if
//! still at the status and version read), the stock its parts give back, the counters it frees,
//! the list entries that changed, the timeline, the outbox event, and what the caller adds.

use cy_domain::order::{Actor, Order, OrderStatus, TimelineEntry, releases_stock};
use cy_domain::{Error, ErrorCode, Timestamp, UserId};
use serde_json::json;

use super::{customer_entry, event, order_item, outbox_write, seller_entry, timeline_write};
use crate::audit::AuditRecord;
use crate::keys;
use crate::port::{Condition, Item, Store, Update, WriteOp};

/// The most operations a change of an order writes besides one per product (stock) and one per
/// seller (their list entry): the order, the customer's entry, the timeline entry, the outbox
/// event, the unpaid-orders counter, the coupon's two counters, the provider event's claim, a
/// refund's due entry, a flag, a payment reference, an admin's audit record. Placing writes
/// fewer, so an order that can be placed can always be changed.
pub const LATER_CHANGE_OPS: usize = 12;

/// A change of one order: the order as it should be after (its parts moved with
/// [`Order::move_whole`] or [`Order::move_fulfilment`], its payment; its version and time are
/// set here), who made it, and writes that must commit with it.
pub struct OrderChange {
    pub after: Order,
    pub actor: Actor,
    pub actor_id: Option<UserId>,
    pub note: Option<String>,
    /// The seller whose part this change moves on its own: its timeline entry and event name
    /// them. `None` for an order-wide change (the payment, the whole order called off).
    pub part: Option<UserId>,
    /// Written before the order in the transaction (a provider-event claim: a failure here
    /// reports [`Committed::OtherOp`] with its index).
    pub before_ops: Vec<WriteOp>,
    /// Written after everything else (payment mappings, refunds due).
    pub after_ops: Vec<WriteOp>,
}

impl OrderChange {
    /// A change by `actor` with nothing else to commit alongside.
    pub fn new(after: Order, actor: Actor, actor_id: Option<&UserId>, note: Option<String>) -> Self {
        OrderChange {
            after,
            actor,
            actor_id: actor_id.cloned(),
            note,
            part: None,
            before_ops: Vec::new(),
            after_ops: Vec::new(),
        }
    }

    pub fn of_part(mut self, seller: &UserId) -> Self {
        self.part = Some(seller.clone());
        self
    }
}

#[derive(Debug, PartialEq)]
pub enum Committed {
    Done(Box<Order>),
    /// The order changed since it was read; nothing was written.
    Moved,
    /// The condition of `before_ops[i]` (or of an `after_ops`, index counted from the start of
    /// the transaction) failed; nothing was written.
    OtherOp(usize),
}

/// An order-wide move of `before` to `to` (see [`Order::move_whole`]) as one transaction.
/// `Ok(None)` if the order moved meanwhile.
pub async fn move_order(
    store: &dyn Store,
    before: &Order,
    to: OrderStatus,
    actor: Actor,
    actor_id: Option<&UserId>,
    note: Option<String>,
) -> Result<Option<Order>, Error> {
    let mut after = before.clone();
    after.move_whole(to, actor, Timestamp::now())?;
    match commit_change(store, before, OrderChange::new(after, actor, actor_id, note)).await? {
        Committed::Done(order) => Ok(Some(*order)),
        Committed::Moved => Ok(None),
        Committed::OtherOp(_) => Err(Error::internal()),
    }
}

/// What the order's move frees: its customer's unpaid-order slot once it is paid or called
/// off, and its coupon's redemption when it is called off before it was paid.
fn freed_counters(before: &Order, after: &mut Order) -> Vec<WriteOp> {
    let mut ops = Vec::new();
    if !before.status.is_unpaid() || after.status.is_unpaid() {
        return ops;
    }
    if before.holds_unpaid_slot {
        after.holds_unpaid_slot = false;
        ops.push(WriteOp::Update(Update::new(keys::unpaid_orders(&before.customer_id)).add("count", -1)));
    }
    if let (Some(code), OrderStatus::Cancelled) = (&before.coupon, after.status) {
        ops.push(WriteOp::Update(Update::new(keys::coupon(code)).add("redemptions", -1)));
        ops.push(WriteOp::Update(Update::new(keys::coupon_use(code, &before.customer_id)).add("uses", -1)));
    }
    ops
}

/// Applies an [`OrderChange`] as ONE transaction (see the module's doc). A part that changed
/// gets its seller's list entry rewritten; the customer's entry follows the order's status. A
/// status move writes one timeline entry and one `order.status_changed` event — naming the
/// part's seller for a part's move — and a change of the money alone one `order.payment_updated`
/// event. An admin's change is audited in the same transaction.
pub async fn commit_change(store: &dyn Store, before: &Order, change: OrderChange) -> Result<Committed, Error> {
    let OrderChange { mut after, actor, actor_id, note, part, before_ops, after_ops } = change;
    let now = Timestamp::now();
    after.version = before.version + 1;
    after.updated_at = now;
    let counters = freed_counters(before, &mut after);
    // Paid (now, or before earnings were recorded: an order of an older release, on its next
    // change): the commission rates that apply are frozen on its lines, once.
    let captured = |o: &Order| o.payment.as_ref().is_some_and(|p| p.captured.is_some());
    if captured(&after) && !cy_domain::earnings::has_earnings(&after) {
        let rates = crate::sellers::commission_rates(store).await?;
        cy_domain::earnings::freeze_rates(&mut after, &rates);
    }
    // Before the order is written: it records each new refund's debits.
    let ledger = crate::ledger::changes(before, &mut after, now)?;
    let mut ops = before_ops;
    let order_at = ops.len();
    ops.push(WriteOp::Put {
        item: order_item(&after)?,
        condition: Some(
            Condition::equals("status", before.status.as_str()).and(Condition::equals("version", before.version)),
        ),
    });
    for (was, now_part) in before.fulfilments.iter().zip(&after.fulfilments) {
        if was.status != now_part.status && releases_stock(was.status, now_part.status) {
            for (product, n) in now_part.units_by_product(&after.lines) {
                ops.push(WriteOp::Update(Update::new(keys::product(&product)).add("stock", n).when(Condition::Exists)));
            }
        }
    }
    ops.extend(counters);
    if before.status != after.status {
        ops.push(WriteOp::put(Item::from_record(
            &keys::customer_order(&after.customer_id, &after.id),
            &customer_entry(&after),
        )?));
    }
    for (was, now_part) in before.fulfilments.iter().zip(&after.fulfilments) {
        if was != now_part {
            ops.push(WriteOp::put(Item::from_record(
                &keys::seller_order(&now_part.seller_id, &after.id),
                &seller_entry(&after, now_part),
            )?));
        }
    }
    let moved_part = part.as_ref().and_then(|seller| {
        let was = before.fulfilment(seller)?;
        let is = after.fulfilment(seller)?;
        (was.status != is.status).then_some((seller, was.status, is))
    });
    let event = match moved_part {
        Some((seller, from, part)) => {
            let line = TimelineEntry {
                at: now,
                actor,
                actor_id: actor_id.clone(),
                seller_id: Some(seller.clone()),
                from: Some(from),
                to: part.status,
                note: note.clone(),
            };
            ops.push(timeline_write(&after.id, &line)?);
            let data = json!({"order_id": after.id, "status": after.status, "seller_id": seller,
                "fulfilment_status": part.status, "from": from, "to": part.status, "actor": actor,
                "note": note, "tracking": part.tracking});
            // A part's move concerns its customer and its seller, never the order's other sellers.
            let mut event = event("order.status_changed", &after, data);
            event.sellers = vec![seller.clone()];
            event
        }
        None if before.status != after.status => {
            let (from, to) = (before.status, after.status);
            let line = TimelineEntry {
                at: now,
                actor,
                actor_id: actor_id.clone(),
                seller_id: None,
                from: Some(from),
                to,
                note: note.clone(),
            };
            ops.push(timeline_write(&after.id, &line)?);
            // Each part the move moved, with the status it moved to (a seller hears of theirs,
            // never of the order's, which follows the other sellers' parts too).
            let parts: serde_json::Map<String, serde_json::Value> = before
                .fulfilments
                .iter()
                .zip(&after.fulfilments)
                .filter(|(was, is)| was.status != is.status)
                .map(|(_, is)| (is.seller_id.to_string(), json!(is.status)))
                .collect();
            let data = json!({"order_id": after.id, "status": to, "from": from, "to": to, "actor": actor,
                "note": note, "parts": parts});
            event("order.status_changed", &after, data)
        }
        None => {
            // The refunds this change recorded (a partial refund moves no status), so the
            // customer can be told what comes back to them.
            let had = |id: &cy_domain::RefundId| {
                before.payment.as_ref().is_some_and(|p| p.refunds.iter().any(|r| &r.id == id))
            };
            let refunded: Vec<_> = after
                .payment
                .iter()
                .flat_map(|p| &p.refunds)
                .filter(|r| !had(&r.id))
                .map(|r| json!({"refund_id": r.id, "amount": r.amount}))
                .collect();
            event(
                "order.payment_updated",
                &after,
                json!({"order_id": after.id, "status": after.status, "actor": actor, "note": note,
                    "refunds": refunded}),
            )
        }
    };
    ops.push(outbox_write(&event)?);
    ops.extend(ledger);
    ops.extend(after_ops);
    let had = |id: &cy_domain::RefundId| before.payment.as_ref().is_some_and(|p| p.refunds.iter().any(|r| &r.id == id));
    let new_refunds: Vec<_> = after.payment.iter().flat_map(|p| &p.refunds).filter(|r| !had(&r.id)).collect();
    // What an admin does to an order (moves, cancellations, refunds), and money a seller gives
    // back (their part called off, a return accepted), is audited with it.
    let audited = match actor {
        Actor::Admin => Some("order.changed_by_admin"),
        Actor::Seller if !new_refunds.is_empty() => Some("order.refunded_by_seller"),
        _ => None,
    };
    if let Some(action) = audited {
        let details = json!({"from": before.status, "to": after.status, "seller_id": part, "note": note,
            "refunds": new_refunds});
        ops.push(AuditRecord::new(actor_id.as_ref(), action, after.id.as_str(), details).write()?);
    }
    if ops.len() > crate::port::MAX_TRANSACTION_OPS {
        // Placing refuses orders this large (LATER_CHANGE_OPS); one placed under an older,
        // looser bound gets a clear refusal rather than a 500.
        tracing::error!(order_id = %after.id, ops = ops.len(), "an order change does not fit one transaction");
        return Err(Error::conflict(
            ErrorCode::InvalidTransition,
            "This order has too many products and sellers to change in one step; contact support.",
        ));
    }
    match store.transact(ops).await {
        Ok(()) => Ok(Committed::Done(Box::new(after))),
        Err(e) => match e.failed_op() {
            Some(i) if i == order_at => Ok(Committed::Moved),
            Some(i) => Ok(Committed::OtherOp(i)),
            None => Err(e.into()),
        },
    }
}
