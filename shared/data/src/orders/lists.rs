//! Reading orders in bulk: an order's timeline, a customer's or a seller's orders, and every
//! order for admins.

use cy_domain::order::{Order, OrderStatus, TimelineEntry};
use cy_domain::{Error, OrderId, UserId};

use super::{OrderEntry, customer_entry};
use crate::keys;
use crate::port::{Cursor, Item, Page, Query, QueryItems, query_filtered};

/// A page of the order's timeline, oldest first. For a seller (`only_for`), only the
/// order-wide entries and their own part's: never another seller's.
pub async fn timeline(
    store: &dyn QueryItems,
    order: &OrderId,
    only_for: Option<&UserId>,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<TimelineEntry>, Option<Cursor>), Error> {
    let q = Query::table(keys::order_partition(order)).begins_with(keys::TIMELINE_PREFIX).limit(limit).after(cursor);
    match only_for {
        Some(seller) => {
            let seller = seller.clone();
            let keep = move |e: &TimelineEntry| e.seller_id.as_ref().is_none_or(|s| *s == seller);
            Ok(query_filtered(store, &q, &keep).await?)
        }
        None => {
            let Page { items, next } = store.query(&q).await?;
            Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
        }
    }
}

/// A page of a customer's or a seller's (`as_seller`) orders, newest first; with `status`,
/// only those in that status — for a seller, their part's (filtered while paging, so a page is
/// not cut short by it).
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
    Ok((orders.iter().map(customer_entry).collect(), next))
}
