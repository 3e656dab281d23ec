//! What the scheduled sweeps find due, and what keeps one bad subject from stalling them: each
//! subject (an order, a refund) is handled on its own; a failure is counted, and a subject that
//! keeps failing is set aside for an admin — taken off the sweep's list in the same transaction
//! that records why — instead of being tried (and failing) every minute for ever.

use cy_domain::{Error, OrderId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Condition, Cursor, Item, Page, Query, QueryItems, SortKey, Store, Update, WriteOp};

/// The scheduled sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sweep {
    /// Unpaid orders whose reservation ended: cancelled, their stock back.
    Reservations,
    /// Delivered parts whose return window ended: completed.
    Completions,
    /// Refunds recorded and not yet taken by their provider: sent.
    Refunds,
}

impl Sweep {
    pub fn as_str(self) -> &'static str {
        match self {
            Sweep::Reservations => "reservations",
            Sweep::Completions => "completions",
            Sweep::Refunds => "refunds",
        }
    }
}

/// How many failures within one hour set a subject aside.
pub const FAILURES_TO_SET_ASIDE: u32 = 3;

/// A page of the orders due on `sweep`'s list (reservations or completions) by `now`, oldest
/// first, after `cursor`. The list is an index (GSI1), which may lag: the sweep re-reads each
/// order and acts only if it is still due. Ids come from the items' keys, so an order item that
/// no longer reads as an order is still listed (and fails on its own).
pub async fn due_orders(
    store: &dyn QueryItems,
    sweep: Sweep,
    now: Timestamp,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<OrderId>, Option<Cursor>), Error> {
    let (index, pk) = match sweep {
        Sweep::Reservations => (keys::RESERVATIONS, keys::RESERVATIONS_PK),
        Sweep::Completions => (keys::COMPLETIONS, keys::COMPLETIONS_PK),
        Sweep::Refunds => return Err(Error::internal()),
    };
    let upto = format!("{:012}#~", now.unix().max(0));
    let q = Query::index(index, pk).sort(SortKey::AtMost(upto)).limit(limit).after(cursor);
    let Page { items, next } = store.query(&q).await?;
    let ids = items
        .iter()
        .filter_map(|i| i.key())
        .filter_map(|k| k.pk.strip_prefix(keys::ORDER_PARTITION_PREFIX).and_then(|id| OrderId::parse(id).ok()))
        .collect();
    Ok((ids, next))
}

/// A subject that failed on a sweep, counted per hour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFailure {
    pub sweep: Sweep,
    pub subject: String,
    pub failures: u32,
    pub last_error: String,
    pub last_at: Timestamp,
}

/// Counts a failure of `subject` on `sweep`; how many it has had this hour.
pub async fn note_failure(
    store: &dyn Store,
    sweep: Sweep,
    subject: &str,
    error: &str,
    now: Timestamp,
) -> Result<u32, Error> {
    let error: String = error.chars().take(500).collect();
    let update = Update::new(keys::sweep_failure(sweep.as_str(), subject, now))
        .add("failures", 1)
        .set("sweep", sweep.as_str())
        .set("subject", subject)
        .set("last_error", error)
        .set("last_at", serde_json::to_value(now).map_err(|_| Error::internal())?)
        .set(crate::port::TTL, now.unix() + 2 * 3600);
    let item = store.update(update).await?;
    Ok(item.get("failures").and_then(|v| v.as_u64()).and_then(|n| u32::try_from(n).ok()).unwrap_or(1))
}

/// Something a sweep gave up on, for an admin to look at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetAside {
    pub sweep: Sweep,
    /// The order or refund id.
    pub subject: String,
    /// The order it belongs to, when the subject is not an order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub failures: u32,
    pub last_error: String,
    pub at: Timestamp,
}

/// Sets `record` aside in ONE transaction with `off_the_list` (what takes the subject off the
/// sweep's list). Setting aside twice is harmless: the second finds it done.
pub async fn set_aside(store: &dyn Store, record: &SetAside, off_the_list: Vec<WriteOp>) -> Result<(), Error> {
    let key = keys::set_aside(record.sweep.as_str(), &record.subject);
    let mut ops = vec![WriteOp::put(Item::from_record(&key, record)?)];
    ops.extend(off_the_list);
    match store.transact(ops).await {
        Ok(()) => Ok(()),
        // Already off the list (moved, or set aside by an overlapping run).
        Err(e) if e.failed_op().is_some_and(|i| i > 0) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Takes an order off the reservation or completion list: removes its GSI1 attributes, whatever
/// the rest of the item holds (it may be what no longer reads as an order), as long as it is
/// still at the version it was found at (a change since may have mended it, and put it where its
/// state says). The next change of the order puts it back on its list.
pub async fn take_off_due_list(store: &dyn Store, order: &OrderId) -> Result<WriteOp, Error> {
    let item = store.get(&keys::order(order)).await?;
    let version = item.as_ref().and_then(|i| i.get("version")).and_then(serde_json::Value::as_u64);
    let condition = match version {
        Some(v) => Condition::equals("version", v),
        None => Condition::Exists.and(Condition::LacksAttr("version".into())),
    };
    Ok(WriteOp::Update(
        Update::new(keys::order(order))
            .remove(crate::port::Index::Gsi1.pk_attr())
            .remove(crate::port::Index::Gsi1.sk_attr())
            .when(condition),
    ))
}

/// What the sweeps set aside, by sweep and subject (one record each, however often it was set
/// aside); within a page, newest first.
pub async fn list_set_aside(
    store: &dyn QueryItems,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<SetAside>, Option<Cursor>), Error> {
    let q = Query::table(keys::SET_ASIDE_PARTITION).limit(limit).after(cursor);
    let Page { items, next } = store.query(&q).await?;
    let mut records: Vec<SetAside> = items.iter().map(Item::record).collect::<Result<_, _>>()?;
    records.sort_by_key(|r| std::cmp::Reverse(r.at));
    Ok((records, next))
}
