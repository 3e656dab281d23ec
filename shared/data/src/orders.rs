//! Order records and the transactions that keep stock, lists, the timeline and the outbox in
//! step with each order. Nothing here is ever half-written: each change is one transaction.

use cy_domain::order::{Actor, Order, OrderLine, OrderStatus, TimelineEntry, Tracking, releases_stock, retakes_stock};
use cy_domain::{Error, ErrorCode, EventId, Money, OrderId, ProductId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
use crate::idempotency::{self as claims, IdempotencyClaim};
use crate::keys;
use crate::port::{
    Condition, Cursor, Item, Page, Query, QueryItems, ReadItems, SortKey, Store, Update, WriteOp, query_filtered,
};

/// What a customer's or a seller's order list shows. A seller's entry holds only their lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderEntry {
    pub order_id: OrderId,
    pub customer_id: UserId,
    pub status: OrderStatus,
    pub total: Money,
    pub created_at: Timestamp,
    pub lines: Vec<OrderLine>,
}

/// An event for consumers (notifications, WebSocket pushes, analytics), written in the same
/// transaction as the change it reports and published afterwards; consumers dedupe by `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: String,
    pub order_id: OrderId,
    pub customer_id: UserId,
    pub sellers: Vec<UserId>,
    pub at: Timestamp,
    pub data: serde_json::Value,
}

fn order_item(order: &Order) -> Result<Item, Error> {
    let mut item = Item::from_record(&keys::order(&order.id), order)?.in_index(
        keys::ALL_ORDERS,
        keys::ALL_ORDERS_PK,
        order.id.as_str(),
    );
    if order.status == OrderStatus::PendingPayment {
        item = item.in_index(
            keys::RESERVATIONS,
            keys::RESERVATIONS_PK,
            keys::reservation_sort_value(order.reserved_until, &order.id),
        );
    }
    Ok(item)
}

fn entry(order: &Order, seller: Option<&UserId>) -> OrderEntry {
    OrderEntry {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        status: order.status,
        total: order.total,
        created_at: order.created_at,
        lines: order.lines.iter().filter(|l| seller.is_none_or(|s| &l.seller_id == s)).cloned().collect(),
    }
}

fn timeline_write(order: &OrderId, event: &EventId, entry: &TimelineEntry) -> Result<WriteOp, Error> {
    Ok(WriteOp::create(Item::from_record(&keys::order_timeline_entry(order, event), entry)?))
}

fn outbox_write(event: &OutboxEvent) -> Result<WriteOp, Error> {
    Ok(WriteOp::create(Item::from_record(&keys::outbox(&event.id), event)?.expires_at(event.at.unix() + 7 * 24 * 3600)))
}

/// Why an order was not placed.
#[derive(Debug, PartialEq)]
pub enum PlaceRefused {
    /// The idempotency key was used before: by this very request (`same_request`) or another.
    KeyUsed { order_id: OrderId, same_request: bool },
    /// A product has less stock than ordered (or is no longer on sale).
    OutOfStock(ProductId),
}

/// The most operations a change of an order writes besides one per product (stock) and one per
/// seller (their list entry): the order, the customer's entry, the timeline entry, the outbox
/// event, the provider event's claim, a refund's due entry, a flag, a payment reference, an
/// admin's audit record. Placing writes fewer, so an order that can change can always be placed.
pub const LATER_CHANGE_OPS: usize = 9;

/// Places an order in ONE transaction: the order (pending payment, indexed by its reservation's
/// end), the idempotency claim, a guarded decrement of each product's stock, the customer's
/// and sellers' list entries, the first timeline entry and the `order.created` event. If any
/// product lacks stock nothing is written.
pub async fn place_order(
    store: &dyn Store,
    order: &Order,
    idempotency: Option<(&str, &str)>,
) -> Result<Result<(), PlaceRefused>, Error> {
    let mut ops = vec![WriteOp::create(order_item(order)?)];
    let claim_at = idempotency.map(|(key, hash)| {
        let claim = IdempotencyClaim::new(hash, order.id.as_str());
        (ops.len(), key, claim)
    });
    if let Some((_, key, claim)) = &claim_at {
        ops.push(claim.write(&order.customer_id, key, order.created_at)?);
    }
    let stock_from = ops.len();
    let units = order.units_by_product();
    for (product, n) in &units {
        let take = Update::new(keys::product(product))
            .add("stock", -n)
            .when(Condition::at_least("stock", *n).and(Condition::equals("status", "active")));
        ops.push(WriteOp::Update(take));
    }
    ops.push(WriteOp::put(Item::from_record(
        &keys::customer_order(&order.customer_id, &order.id),
        &entry(order, None),
    )?));
    for seller in order.sellers() {
        ops.push(WriteOp::put(Item::from_record(
            &keys::seller_order(&seller, &order.id),
            &entry(order, Some(&seller)),
        )?));
    }
    let first = TimelineEntry {
        at: order.created_at,
        actor: Actor::Customer,
        actor_id: Some(order.customer_id.clone()),
        from: None,
        to: OrderStatus::PendingPayment,
        note: None,
    };
    ops.push(timeline_write(&order.id, &EventId::generate(), &first)?);
    ops.push(outbox_write(&event(
        "order.created",
        order,
        serde_json::json!({"status": order.status, "total": order.total}),
    ))?);
    // Placing must fit one transaction, and so must every later change of the order (a
    // payment, a cancellation, a refund), which writes more than placing does: an order that
    // could be placed but never paid or cancelled would be stuck.
    if units.len() + order.sellers().len() + LATER_CHANGE_OPS > crate::port::MAX_TRANSACTION_OPS {
        return Err(Error::invalid("items", "too many products or sellers in one order; split it"));
    }
    match store.transact(ops).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.failed_op() {
            Some(i) if claim_at.as_ref().is_some_and(|(at, _, _)| *at == i) => {
                let Some((_, key, claim)) = claim_at else { return Err(Error::internal()) };
                let stored = claims::claim(store, &order.customer_id, key).await?.ok_or_else(Error::internal)?;
                Ok(Err(PlaceRefused::KeyUsed {
                    same_request: stored.request_sha256 == claim.request_sha256,
                    order_id: OrderId::parse(&stored.created).map_err(|_| Error::internal())?,
                }))
            }
            Some(i) if (stock_from..stock_from + units.len()).contains(&i) => {
                Ok(Err(PlaceRefused::OutOfStock(units[i - stock_from].0.clone())))
            }
            _ => Err(e.into()),
        },
    }
}

fn event(kind: &str, order: &Order, data: serde_json::Value) -> OutboxEvent {
    OutboxEvent {
        id: EventId::generate(),
        kind: kind.to_owned(),
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        sellers: order.sellers(),
        at: Timestamp::now(),
        data,
    }
}

pub async fn get_order(store: &dyn ReadItems, id: &OrderId) -> Result<Option<Order>, Error> {
    Ok(store.get(&keys::order(id)).await?.map(|i| i.record()).transpose()?)
}

/// A move of an order's status, as one transaction: the order (only if it is still in `from`
/// at the version read), stock given back when the move ends the order unshipped, both lists,
/// the timeline and the `order.status_changed` event. `Ok(None)` if the order moved meanwhile.
pub async fn move_order(
    store: &dyn Store,
    before: &Order,
    to: OrderStatus,
    actor: Actor,
    actor_id: Option<&UserId>,
    note: Option<String>,
    tracking: Option<Tracking>,
) -> Result<Option<Order>, Error> {
    let mut after = before.clone();
    after.status = to;
    if tracking.is_some() {
        after.tracking = tracking;
    }
    let change = OrderChange { after, actor, actor_id: actor_id.cloned(), note, before_ops: vec![], after_ops: vec![] };
    match commit_change(store, before, change).await? {
        Committed::Done(order) => Ok(Some(*order)),
        Committed::Moved => Ok(None),
        // The units given back when the payment failed were sold since: the move cannot
        // happen (the payment flow refunds instead).
        Committed::OutOfStock(product) => {
            Err(Error::conflict(ErrorCode::OutOfStock, "The order's stock was sold after its payment failed.")
                .with_detail("product_id", product.as_str()))
        }
        Committed::OtherOp(_) => Err(Error::internal()),
    }
}

/// A change of one order: the order as it should be after (status, payment, tracking; its
/// version and time are set here), who made it, and writes that must commit with it.
pub struct OrderChange {
    pub after: Order,
    pub actor: Actor,
    pub actor_id: Option<UserId>,
    pub note: Option<String>,
    /// Written before the order in the transaction (a provider-event claim: a failure here
    /// reports [`Committed::OtherOp`] with its index).
    pub before_ops: Vec<WriteOp>,
    /// Written after everything else (payment mappings, refunds due).
    pub after_ops: Vec<WriteOp>,
}

#[derive(Debug, PartialEq)]
pub enum Committed {
    Done(Box<Order>),
    /// The order changed since it was read; nothing was written.
    Moved,
    /// Stock to re-take was sold meanwhile; nothing was written.
    OutOfStock(ProductId),
    /// The condition of `before_ops[i]` (or of an `after_ops`, index counted from the start of
    /// the transaction) failed; nothing was written.
    OtherOp(usize),
}

/// Applies an [`OrderChange`] as ONE transaction: the order (only if still at the status and
/// version read), the stock its status move gives back or takes again, both lists, a timeline
/// entry when the status moves, and one outbox event (`order.status_changed`, or
/// `order.payment_updated` when only the money side changed).
pub async fn commit_change(store: &dyn Store, before: &Order, change: OrderChange) -> Result<Committed, Error> {
    let OrderChange { mut after, actor, actor_id, note, before_ops, after_ops } = change;
    let now = Timestamp::now();
    after.version = before.version + 1;
    after.updated_at = now;
    let (from, to) = (before.status, after.status);
    let mut ops = before_ops;
    let order_at = ops.len();
    ops.push(WriteOp::Put {
        item: order_item(&after)?,
        condition: Some(
            Condition::equals("status", before.status.as_str()).and(Condition::equals("version", before.version)),
        ),
    });
    let units = before.units_by_product();
    let stock_from = ops.len();
    if from != to && releases_stock(from, to) {
        for (product, n) in &units {
            ops.push(WriteOp::Update(Update::new(keys::product(product)).add("stock", *n).when(Condition::Exists)));
        }
    }
    let retake = from != to && retakes_stock(from, to);
    if retake {
        for (product, n) in &units {
            ops.push(WriteOp::Update(
                Update::new(keys::product(product)).add("stock", -n).when(Condition::at_least("stock", *n)),
            ));
        }
    }
    let stock_to = ops.len();
    ops.push(WriteOp::put(Item::from_record(
        &keys::customer_order(&after.customer_id, &after.id),
        &entry(&after, None),
    )?));
    for seller in after.sellers() {
        ops.push(WriteOp::put(Item::from_record(
            &keys::seller_order(&seller, &after.id),
            &entry(&after, Some(&seller)),
        )?));
    }
    let event = if from != to {
        let line =
            TimelineEntry { at: now, actor, actor_id: actor_id.clone(), from: Some(from), to, note: note.clone() };
        ops.push(timeline_write(&after.id, &EventId::generate(), &line)?);
        event("order.status_changed", &after, serde_json::json!({"from": from, "to": to, "actor": actor, "note": note}))
    } else {
        event("order.payment_updated", &after, serde_json::json!({"status": to, "actor": actor, "note": note}))
    };
    ops.push(outbox_write(&event)?);
    ops.extend(after_ops);
    if actor == Actor::Admin {
        // What an admin does to an order (moves, cancellations, refunds) is audited with it.
        let had =
            |id: &cy_domain::RefundId| before.payment.as_ref().is_some_and(|p| p.refunds.iter().any(|r| &r.id == id));
        let new_refunds: Vec<_> = after.payment.iter().flat_map(|p| &p.refunds).filter(|r| !had(&r.id)).collect();
        let details = serde_json::json!({"from": from, "to": to, "note": note, "refunds": new_refunds});
        ops.push(AuditRecord::new(actor_id.as_ref(), "order.changed_by_admin", after.id.as_str(), details).write()?);
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
            Some(i) if retake && (stock_from..stock_to).contains(&i) => {
                Ok(Committed::OutOfStock(units[i - stock_from].0.clone()))
            }
            Some(i) => Ok(Committed::OtherOp(i)),
            None => Err(e.into()),
        },
    }
}

pub async fn timeline(
    store: &dyn QueryItems,
    order: &OrderId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<TimelineEntry>, Option<Cursor>), Error> {
    let q = Query::table(keys::order_partition(order)).begins_with(keys::TIMELINE_PREFIX).limit(limit).after(cursor);
    let Page { items, next } = store.query(&q).await?;
    Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
}

/// A page of a customer's or a seller's (`as_seller`) orders, newest first; with `status`,
/// only orders in that status (filtered while paging, so a page is not cut short by it).
pub async fn list_orders(
    store: &dyn QueryItems,
    owner: &UserId,
    as_seller: bool,
    status: Option<OrderStatus>,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<OrderEntry>, Option<Cursor>), Error> {
    let pk = if as_seller { keys::seller_partition(owner) } else { keys::user_partition(owner) };
    let q = Query::table(pk).begins_with(keys::ORDER_PREFIX).descending().limit(limit).after(cursor);
    match status {
        Some(status) => Ok(query_filtered(store, &q, &move |e: &OrderEntry| e.status == status).await?),
        None => {
            let Page { items, next } = store.query(&q).await?;
            Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
        }
    }
}

/// Every order, newest first, optionally only those in `status` (admins).
pub async fn list_all_orders(
    store: &dyn QueryItems,
    status: Option<OrderStatus>,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<OrderEntry>, Option<Cursor>), Error> {
    let q = Query::index(keys::ALL_ORDERS, keys::ALL_ORDERS_PK).descending().limit(limit).after(cursor);
    let (orders, next): (Vec<Order>, _) = match status {
        Some(status) => query_filtered(store, &q, &move |o: &Order| o.status == status).await?,
        None => {
            let Page { items, next } = store.query(&q).await?;
            (items.iter().map(Item::record).collect::<Result<_, _>>()?, next)
        }
    };
    Ok((orders.iter().map(|o| entry(o, None)).collect(), next))
}

/// Unpaid orders whose reservation ended by `now`, oldest first (from GSI1, which may lag:
/// the sweep re-reads each order and moves it only if it is still unpaid).
pub async fn due_reservations(store: &dyn QueryItems, now: Timestamp, limit: u32) -> Result<Vec<OrderId>, Error> {
    let upto = format!("{:012}#~", now.unix().max(0));
    let q = Query::index(keys::RESERVATIONS, keys::RESERVATIONS_PK).sort(SortKey::AtMost(upto)).limit(limit);
    let page = store.query(&q).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|i| i.get("id").and_then(|v| v.as_str()).and_then(|id| OrderId::parse(id).ok()))
        .collect())
}

/// Cancels every unpaid order whose reservation has ended, giving its stock back. Safe to run
/// twice or concurrently, and against a payment arriving at the same moment: each move is
/// conditional on the order still being unpaid at the version read, so an order ends either
/// paid or released, never both. Returns how many orders this run released.
pub async fn expire_reservations(store: &dyn Store, now: Timestamp) -> Result<Vec<Order>, Error> {
    let mut released = Vec::new();
    loop {
        let due = due_reservations(store, now, 100).await?;
        if due.is_empty() {
            return Ok(released);
        }
        let mut moved_any = false;
        for id in due {
            let Some(order) = get_order(store, &id).await? else { continue };
            if order.status != OrderStatus::PendingPayment || order.reserved_until > now {
                continue;
            }
            let note = Some("reservation expired unpaid".to_owned());
            if let Some(cancelled) =
                move_order(store, &order, OrderStatus::Cancelled, Actor::System, None, note, None).await?
            {
                released.push(cancelled);
                moved_any = true;
            }
        }
        if !moved_any {
            // What is left moved meanwhile (paid, or released by a concurrent run).
            return Ok(released);
        }
    }
}

/// Not all orders are visible to everyone: the customer, sellers with lines in it, admins.
pub fn may_read(order: &Order, user: &UserId, is_admin: bool) -> bool {
    is_admin || &order.customer_id == user || order.lines.iter().any(|l| &l.seller_id == user)
}

/// The 409 for a move that lost a race.
pub fn moved_meanwhile() -> Error {
    Error::conflict(ErrorCode::VersionConflict, "The order changed meanwhile; reload and retry.")
}
