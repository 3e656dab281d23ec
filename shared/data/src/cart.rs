//! Carts: lines a customer means to buy, with their customisations. A cart holds at most
//! [`MAX_LINES`] lines; the count on the user item moves in the same transaction as the lines.

use cy_domain::{Error, ProductId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Condition, Item, Query, QueryItems, Store, Update, WriteOp};

pub const MAX_LINES: i64 = 50;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLine {
    pub line_id: String,
    pub product_id: ProductId,
    pub quantity: u32,
    pub customizations: serde_json::Map<String, serde_json::Value>,
    pub updated_at: Timestamp,
}

/// Adds or replaces a line. A new line raises the cart's count under a "below the cap"
/// condition; replacing a line leaves the count alone.
pub async fn put_line(store: &dyn Store, customer: &UserId, line: &CartLine) -> Result<(), Error> {
    let item = Item::from_record(&keys::cart_line(customer, &line.line_id), line)?;
    let add = vec![
        WriteOp::Put { item: item.clone(), condition: Some(Condition::Absent) },
        WriteOp::Update(
            Update::new(keys::user(customer)).add("cart_count", 1).when(
                Condition::Exists
                    .and(Condition::LacksAttr("cart_count".into()).or(Condition::less_than("cart_count", MAX_LINES))),
            ),
        ),
    ];
    match store.transact(add).await {
        Ok(()) => Ok(()),
        // The line exists: replace it (the count already includes it).
        Err(e) if e.failed_op() == Some(0) => Ok(store.put(item, Some(Condition::Exists)).await?),
        Err(e) if e.failed_op() == Some(1) => {
            Err(Error::invalid("line_id", format!("a cart holds at most {MAX_LINES} lines")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes a line; 404 if there is none.
pub async fn remove_line(store: &dyn Store, customer: &UserId, line_id: &str) -> Result<(), Error> {
    let ops = vec![
        WriteOp::Delete { key: keys::cart_line(customer, line_id), condition: Some(Condition::Exists) },
        WriteOp::Update(Update::new(keys::user(customer)).add("cart_count", -1).when(Condition::Exists)),
    ];
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(0) => Error::not_found("The cart line"),
        _ => e.into(),
    })
}

/// Every line of a customer's cart (at most [`MAX_LINES`]: one query).
pub async fn lines(store: &dyn QueryItems, customer: &UserId) -> Result<Vec<CartLine>, Error> {
    let q = Query::table(keys::user_partition(customer)).begins_with(keys::CART_PREFIX).limit(MAX_LINES as u32 + 1);
    Ok(store.query(&q).await?.items.iter().map(Item::record).collect::<Result<_, _>>()?)
}
