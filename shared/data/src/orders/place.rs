//! Placing an order: ONE transaction that reserves the stock, counts the customer's unpaid
//! orders and the coupon's redemptions, claims the idempotency key, and writes the order, its
//! list entries, its first timeline entry and its first event. If any condition fails nothing
//! is written, and the failed operation says why.

use cy_domain::order::{Actor, Order, OrderStatus, TimelineEntry};
use cy_domain::{Error, OrderId, ProductId};

use super::change::LATER_CHANGE_OPS;
use super::{customer_entry, event, order_item, outbox_write, seller_entry, timeline_write};
use crate::idempotency::{self as claims, IdempotencyClaim};
use crate::keys;
use crate::port::{Condition, Item, Key, Store, Update, WriteOp};

/// Why an order was not placed.
#[derive(Debug, PartialEq)]
pub enum PlaceRefused {
    /// The idempotency key was used before: by this very request (`same_request`) or another.
    KeyUsed { order_id: OrderId, same_request: bool },
    /// A product has less stock than ordered (or is no longer on sale).
    OutOfStock(ProductId),
    /// The customer already holds as many unpaid orders as allowed.
    TooManyUnpaid { limit: u32 },
    /// The coupon reached its redemptions, in all or for this customer.
    CouponExhausted { per_customer: bool },
}

/// The limits a placement is counted against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlaceLimits {
    /// How many unpaid orders one customer may hold at once (stock held, not paid for).
    pub max_unpaid: u32,
    /// The coupon's limits, when the order uses one.
    pub coupon: Option<CouponLimits>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CouponLimits {
    pub max_redemptions: Option<u32>,
    pub per_customer_limit: Option<u32>,
}

/// `ADD attr 1`, bounded by `limit` when there is one (an absent counter is zero).
fn counted(key: Key, attr: &str, limit: Option<u32>, must_exist: bool) -> WriteOp {
    let mut update = Update::new(key).add(attr, 1);
    if let Some(limit) = limit {
        update = update.when(Condition::LacksAttr(attr.to_owned()).or(Condition::less_than(attr, i64::from(limit))));
    }
    if must_exist {
        update = update.when(Condition::Exists);
    }
    WriteOp::Update(update)
}

/// The most writes any change of an order with `products` products from `sellers` sellers can
/// need (see [`LATER_CHANGE_OPS`]): per seller their list entry, a ledger entry and their
/// balance.
pub fn change_ops_bound(products: usize, sellers: usize) -> usize {
    products + 3 * sellers + LATER_CHANGE_OPS
}

/// Places `order` (pending payment, reserved until `reserved_until`, holding an unpaid slot
/// when `holds_unpaid_slot`) with the idempotency claim `(key, request hash)`.
pub async fn place_order(
    store: &dyn Store,
    order: &Order,
    idempotency: Option<(&str, &str)>,
    limits: &PlaceLimits,
) -> Result<Result<(), PlaceRefused>, Error> {
    let units = order.units_by_product();
    // Placing must fit one transaction, and so must every later change of the order (a
    // payment, a cancellation, a refund), which writes more than placing does: an order that
    // could be placed but never paid or cancelled would be stuck.
    if change_ops_bound(units.len(), order.fulfilments.len()) > crate::port::MAX_TRANSACTION_OPS {
        return Err(Error::invalid("items", "too many products or sellers in one order; split it"));
    }
    let mut ops = vec![WriteOp::create(order_item(order)?)];
    let claim_at = idempotency.map(|(key, hash)| {
        let claim = IdempotencyClaim::new(hash, order.id.as_str()).scoped(claims::Scope::Order);
        (ops.len(), key, claim)
    });
    if let Some((_, key, claim)) = &claim_at {
        ops.push(claim.write(&order.customer_id, key, order.created_at)?);
    }
    let stock_from = ops.len();
    for (product, n) in &units {
        let take = Update::new(keys::product(product))
            .add("stock", -n)
            .when(Condition::at_least("stock", *n).and(Condition::equals("status", "active")));
        ops.push(WriteOp::Update(take));
    }
    let unpaid_at = ops.len();
    if order.holds_unpaid_slot {
        ops.push(counted(keys::unpaid_orders(&order.customer_id), "count", Some(limits.max_unpaid), false));
    }
    let coupon_at = ops.len();
    if let (Some(code), Some(coupon)) = (&order.coupon, &limits.coupon) {
        ops.push(counted(keys::coupon(code), "redemptions", coupon.max_redemptions, true));
        ops.push(counted(keys::coupon_use(code, &order.customer_id), "uses", coupon.per_customer_limit, false));
    }
    ops.push(WriteOp::put(Item::from_record(
        &keys::customer_order(&order.customer_id, &order.id),
        &customer_entry(order),
    )?));
    for part in &order.fulfilments {
        ops.push(WriteOp::put(Item::from_record(
            &keys::seller_order(&part.seller_id, &order.id),
            &seller_entry(order, part),
        )?));
    }
    let first = TimelineEntry {
        at: order.created_at,
        actor: Actor::Customer,
        actor_id: Some(order.customer_id.clone()),
        seller_id: None,
        from: None,
        to: OrderStatus::PendingPayment,
        note: None,
    };
    ops.push(timeline_write(&order.id, &first)?);
    ops.push(outbox_write(&event(
        "order.created",
        order,
        serde_json::json!({"status": order.status, "total": order.total}),
    ))?);
    match store.transact(ops).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.failed_op() {
            Some(i) if claim_at.as_ref().is_some_and(|(at, _, _)| *at == i) => {
                let Some((_, key, claim)) = claim_at else { return Err(Error::internal()) };
                let stored = claims::claim(store, &order.customer_id, key).await?.ok_or_else(Error::internal)?;
                stored.check_scope(claims::Scope::Order)?;
                Ok(Err(PlaceRefused::KeyUsed {
                    same_request: stored.request_sha256 == claim.request_sha256,
                    order_id: OrderId::parse(&stored.created).map_err(|_| Error::internal())?,
                }))
            }
            Some(i) if (stock_from..stock_from + units.len()).contains(&i) => {
                Ok(Err(PlaceRefused::OutOfStock(units[i - stock_from].0.clone())))
            }
            Some(i) if order.holds_unpaid_slot && i == unpaid_at => {
                Ok(Err(PlaceRefused::TooManyUnpaid { limit: limits.max_unpaid }))
            }
            Some(i) if order.coupon.is_some() && (i == coupon_at || i == coupon_at + 1) => {
                Ok(Err(PlaceRefused::CouponExhausted { per_customer: i == coupon_at + 1 }))
            }
            _ => Err(e.into()),
        },
    }
}
