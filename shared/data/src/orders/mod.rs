//! Order records and the transactions that keep stock, lists, the timeline and the outbox in
//! step with each order. Nothing here is ever half-written: each change is one transaction.
//!
//! - [`place`]: placing an order (stock, claims, counters, lists, the first event);
//! - [`change`]: every later change of an order, the one function they all go through;
//! - [`lists`]: the timeline and the customers', sellers' and admins' order lists;
//! - [`sweeps`]: what the scheduled sweeps find due, and how a subject that keeps failing is
//!   set aside for an admin instead of stalling them.

pub mod change;
pub mod lists;
pub mod place;
pub mod sweeps;

use cy_domain::order::{Fulfilment, Order, OrderLine, OrderStatus, TimelineEntry};
use cy_domain::{Error, ErrorCode, EventId, Money, OrderId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

pub use change::{Committed, LATER_CHANGE_OPS, OrderChange, commit_change, move_order};
pub use lists::{list_all_orders, list_orders, timeline};
pub use place::{CouponLimits, PlaceLimits, PlaceRefused, place_order};

use crate::keys;
use crate::port::{Item, ReadItems, WriteOp};

/// What a customer's or a seller's order list shows. A seller's entry is their part: their
/// lines, their part's status and total, and their `seller_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderEntry {
    pub order_id: OrderId,
    pub customer_id: UserId,
    pub status: OrderStatus,
    pub total: Money,
    pub created_at: Timestamp,
    pub lines: Vec<OrderLine>,
    /// In a seller's list: whose part this entry is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<UserId>,
}

/// An event for consumers (notifications, WebSocket pushes, analytics), written in the same
/// transaction as the change it reports and published afterwards; consumers dedupe by `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: String,
    /// The order it reports; `None` for an event about something else (a chat message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub customer_id: UserId,
    pub sellers: Vec<UserId>,
    pub at: Timestamp,
    pub data: serde_json::Value,
}

/// The order item, in the indexes its state puts it in: GSI2 (every order, for admins) always;
/// GSI1 under `RESERVED` while unpaid (the reservation sweep), else under `COMPLETIONS` while a
/// delivered part waits for its return window to end (the completion sweep).
pub(crate) fn order_item(order: &Order) -> Result<Item, Error> {
    let mut item = Item::from_record(&keys::order(&order.id), order)?.in_index(
        keys::ALL_ORDERS,
        keys::ALL_ORDERS_PK,
        order.id.as_str(),
    );
    if order.status.is_unpaid() {
        item = item.in_index(
            keys::RESERVATIONS,
            keys::RESERVATIONS_PK,
            keys::due_sort_value(order.reserved_until, &order.id),
        );
    } else if let Some(due) = order.completion_due_at() {
        item = item.in_index(keys::COMPLETIONS, keys::COMPLETIONS_PK, keys::due_sort_value(due, &order.id));
    }
    Ok(item)
}

/// The customer's list entry: the whole order.
pub(crate) fn customer_entry(order: &Order) -> OrderEntry {
    OrderEntry {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        status: order.status,
        total: order.total,
        created_at: order.created_at,
        lines: order.lines.clone(),
        seller_id: None,
    }
}

/// A seller's list entry: their part only.
pub(crate) fn seller_entry(order: &Order, part: &Fulfilment) -> OrderEntry {
    OrderEntry {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        status: part.status,
        total: part.total,
        created_at: order.created_at,
        lines: part.line_indexes.iter().filter_map(|i| order.lines.get(*i)).cloned().collect(),
        seller_id: Some(part.seller_id.clone()),
    }
}

pub(crate) fn timeline_write(order: &OrderId, entry: &TimelineEntry) -> Result<WriteOp, Error> {
    let key = keys::order_timeline_entry(order, &EventId::generate());
    Ok(WriteOp::create(Item::from_record(&key, entry)?))
}

pub fn outbox_write(event: &OutboxEvent) -> Result<WriteOp, Error> {
    Ok(WriteOp::create(Item::from_record(&keys::outbox(&event.id), event)?.expires_at(event.at.unix() + 7 * 24 * 3600)))
}

pub(crate) fn event(kind: &str, order: &Order, data: serde_json::Value) -> OutboxEvent {
    OutboxEvent {
        id: EventId::generate(),
        kind: kind.to_owned(),
        order_id: Some(order.id.clone()),
        customer_id: order.customer_id.clone(),
        sellers: order.sellers(),
        at: Timestamp::now(),
        data,
    }
}

/// The order, strongly consistent; orders stored before fulfilments get theirs on the way out.
pub async fn get_order(store: &dyn ReadItems, id: &OrderId) -> Result<Option<Order>, Error> {
    let Some(item) = store.get(&keys::order(id)).await? else { return Ok(None) };
    let mut order: Order = item.record()?;
    order.upgrade_stored();
    Ok(Some(order))
}

/// Not all orders are visible to everyone: the customer, sellers with lines in it, admins.
pub fn may_read(order: &Order, user: &UserId, is_admin: bool) -> bool {
    is_admin || &order.customer_id == user || order.lines.iter().any(|l| &l.seller_id == user)
}

/// The 409 for a move that lost a race.
pub fn moved_meanwhile() -> Error {
    Error::conflict(ErrorCode::VersionConflict, "The order changed meanwhile; reload and retry.")
}
