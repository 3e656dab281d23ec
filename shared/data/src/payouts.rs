//! Payouts: one per seller, period (a day) and currency, claimed in one transaction with the
//! ledger range it covers — the claim item (must not exist), the payout (`processing`, leased
//! to the run that claimed it), and the seller's balance (its `covered_through` moved from what
//! the run read to the range's end, its `open_payout` set where none was, the amount moved from
//! `available` to `processing`). Whatever runs race or retry, a (seller, period) gets one payout
//! and a ledger entry is covered by one payout.

use cy_domain::{Currency, Error, Money, PayoutId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::ledger::{Balance, LedgerEntry};
use crate::port::{Condition, Cursor, Item, Query, QueryItems, SortKey, Store, StoreError, Update, WriteOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Processing,
    Paid,
    Failed,
    Unresolved,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Processing => "processing",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Unresolved => "unresolved",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payout {
    pub id: PayoutId,
    pub seller_id: UserId,
    /// The day (UTC, `YYYY-MM-DD`) of the run that claimed it.
    pub period: String,
    pub amount: Money,
    /// The commission kept on what it pays.
    pub commission: i64,
    /// The ledger range it covers: after `from` (exclusive; none: from the start) through
    /// `through` (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub through: String,
    pub entries: u32,
    pub status: PayoutStatus,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    pub claimed_at: Timestamp,
    /// The run allowed to send it until then (epoch seconds).
    pub lease_until: i64,
    pub lease_holder: String,
    /// Transfer attempts (each after a `find` found none).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<UserId>,
    pub updated_at: Timestamp,
    pub version: u64,
}

fn payout_item(p: &Payout) -> Result<Item, Error> {
    Ok(Item::from_record(&keys::payout(&p.id), p)?
        .in_index(keys::PAYOUTS_OF_SELLER, keys::payouts_of_seller_pk(&p.seller_id), p.id.as_str())
        .in_index(keys::PAYOUTS_BY_STATUS, keys::payouts_by_status_pk(p.status.as_str()), p.id.as_str()))
}

pub async fn get(store: &dyn Store, id: &PayoutId) -> Result<Option<Payout>, Error> {
    Ok(store.get(&keys::payout(id)).await?.map(|i| i.record()).transpose()?)
}

/// The seller's balances, one per currency.
pub async fn balances(store: &dyn QueryItems, seller: &UserId) -> Result<Vec<(Currency, Balance)>, Error> {
    let q = Query::table(keys::seller_partition(seller)).begins_with(keys::BALANCE_PREFIX).limit(50);
    let page = store.query(&q).await?;
    let mut out = Vec::new();
    for item in &page.items {
        let Some(code) = item.key().and_then(|k| k.sk.strip_prefix(keys::BALANCE_PREFIX).map(str::to_owned)) else {
            continue;
        };
        out.push((Currency::parse(&code)?, item.record::<Balance>()?));
    }
    Ok(out)
}

/// The largest ULID (as text) of a millisecond before `cutoff`: ledger entries up to it are
/// the ones made before the cutoff.
pub fn last_key_before(cutoff: Timestamp) -> String {
    let ms = u64::try_from(cutoff.unix().saturating_mul(1000)).unwrap_or(0).saturating_sub(1);
    ulid::Ulid::from_parts(ms, u128::MAX).to_string()
}

/// Streams the seller's ledger entries after `from` (exclusive) through `through` (inclusive),
/// page by page, calling `each` on every one (memory stays flat however many there are).
pub async fn entries_between(
    store: &dyn QueryItems,
    seller: &UserId,
    from: Option<&str>,
    through: &str,
    mut each: impl FnMut(LedgerEntry),
) -> Result<(), Error> {
    let sort = match from {
        Some(from) => SortKey::Between(from.to_owned(), through.to_owned()),
        None => SortKey::AtMost(through.to_owned()),
    };
    let mut cursor = None;
    loop {
        let q =
            Query::table(keys::ledger_partition(seller)).sort(sort.clone()).limit(crate::port::MAX_PAGE).after(cursor);
        let page = store.query(&q).await?;
        for item in &page.items {
            let entry: LedgerEntry = item.record()?;
            if Some(entry.entry.as_str()) != from {
                each(entry);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// What a claim found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    Claimed,
    /// This seller's period has its payout already, or a payout is open, or the balance moved
    /// since it was read (another run): nothing was written.
    Taken,
}

/// Claims `payout` over the balance as read (`covered_through` = `payout.from`, no open payout).
pub async fn claim(store: &dyn Store, payout: &Payout) -> Result<Claimed, Error> {
    let currency = payout.amount.currency;
    let covered = match &payout.from {
        Some(from) => Condition::equals("covered_through", from.as_str()),
        None => Condition::LacksAttr("covered_through".into()),
    };
    let balance = Update::new(keys::seller_balance(&payout.seller_id, currency))
        .set("covered_through", payout.through.as_str())
        .set("open_payout", payout.id.as_str())
        .add("available", -payout.amount.amount)
        .add("processing", payout.amount.amount)
        .when(covered.and(Condition::LacksAttr("open_payout".into())));
    let ops = vec![
        WriteOp::create(Item::from_record(
            &keys::payout_claim(&payout.seller_id, &payout.period, currency),
            &serde_json::json!({"payout_id": payout.id}),
        )?),
        WriteOp::Put { item: payout_item(payout)?, condition: Some(Condition::Absent) },
        WriteOp::Update(balance),
    ];
    match store.transact(ops).await {
        Ok(()) => Ok(Claimed::Claimed),
        Err(StoreError::ConditionFailed { .. }) => Ok(Claimed::Taken),
        Err(e) => Err(e.into()),
    }
}

/// Takes the lease of a `processing` payout whose lease ended (a run that died): the payout as
/// it now is if this run may send it.
pub async fn take_lease(
    store: &dyn Store,
    payout: &Payout,
    holder: &str,
    now: i64,
    secs: i64,
) -> Result<Option<Payout>, Error> {
    let update = Update::new(keys::payout(&payout.id))
        .set("lease_until", now + secs)
        .set("lease_holder", holder)
        .add("version", 1)
        .when(Condition::equals("status", "processing").and(Condition::less_than("lease_until", now)));
    match store.update(update).await {
        Ok(item) => Ok(Some(item.record()?)),
        Err(StoreError::ConditionFailed { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How much of its lease a run must still hold to start a transfer: more than one provider
/// call can take (15 s), twice over.
pub const LEASE_MARGIN_SECS: i64 = 30;

/// Notes a transfer attempt just before it is made — only while `holder` holds the lease with
/// time to spare (`false`: another run may have taken it over; this run must not send).
pub async fn note_attempt(store: &dyn Store, payout: &Payout, holder: &str, now: i64) -> Result<bool, Error> {
    let update = Update::new(keys::payout(&payout.id)).add("attempts", 1).when(
        Condition::equals("status", "processing")
            .and(Condition::equals("lease_holder", holder))
            .and(Condition::AtLeast("lease_until".into(), now + LEASE_MARGIN_SECS)),
    );
    match store.update(update).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The payout's end: `paid` (its amount from `processing` to `paid_out`) or `failed` (its amount
/// back to `available` and its range uncovered, for the next run), or `unresolved` (for an
/// admin; the amount stays `processing`). A run ends only a `processing` payout whose lease
/// it holds (`holder`); an admin only an `unresolved` one (`holder` none).
pub async fn settle(
    store: &dyn Store,
    before: &Payout,
    after: &Payout,
    holder: Option<&str>,
    also: Vec<WriteOp>,
) -> Result<bool, Error> {
    let item = payout_item(after)?;
    let open = match holder {
        Some(run) => Condition::equals("status", "processing").and(Condition::equals("lease_holder", run)),
        None => Condition::equals("status", "unresolved"),
    };
    let mut ops = vec![WriteOp::Put { item, condition: Some(open) }];
    let amount = before.amount.amount;
    let balance = Update::new(keys::seller_balance(&before.seller_id, before.amount.currency));
    match after.status {
        PayoutStatus::Paid => ops.push(WriteOp::Update(
            balance
                .add("processing", -amount)
                .add("paid_out", amount)
                .remove("open_payout")
                .when(Condition::equals("open_payout", before.id.as_str())),
        )),
        PayoutStatus::Failed => {
            let back = match &before.from {
                Some(from) => balance.set("covered_through", from.as_str()),
                None => balance.remove("covered_through"),
            };
            ops.push(WriteOp::Update(
                back.add("processing", -amount)
                    .add("available", amount)
                    .remove("open_payout")
                    .when(Condition::equals("open_payout", before.id.as_str())),
            ))
        }
        PayoutStatus::Unresolved | PayoutStatus::Processing => {}
    }
    ops.extend(also);
    match store.transact(ops).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A seller's payouts, newest first.
pub async fn of_seller(
    store: &dyn QueryItems,
    seller: &UserId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Payout>, Option<Cursor>), Error> {
    let q = Query::index(keys::PAYOUTS_OF_SELLER, keys::payouts_of_seller_pk(seller))
        .descending()
        .limit(limit)
        .after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// Payouts in `status`, oldest first.
pub async fn by_status(
    store: &dyn QueryItems,
    status: PayoutStatus,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Payout>, Option<Cursor>), Error> {
    let q =
        Query::index(keys::PAYOUTS_BY_STATUS, keys::payouts_by_status_pk(status.as_str())).limit(limit).after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}
