//! Sellers' ledger: append-only entries per seller, each written in the same transaction as
//! the order change that causes it, and a running balance per seller and currency updated in
//! that same transaction (so `GET /seller/balance` is one read).
//!
//! - the order is paid → `earned`: each part's net earnings become `pending`;
//! - a refund → `refunded`: its share of each seller's earnings leaves `pending` (the part not
//!   ended yet) or `available` (ended: completed, returned; after a payout this can go below
//!   zero, and the next payout nets it);
//! - a refund reported failed → `refund_failed`: that share comes back where it was taken;
//! - a part ends (completed, returned, refunded, cancelled) → `settled`: what it still earns
//!   moves from `pending` to `available`, with its commission.
//!
//! A payout covers the `available` entries of a range of sort keys (ULIDs, so time order).

use cy_domain::earnings::{SellerDebit, part_earnings, refund_debits};
use cy_domain::order::{Order, OrderStatus};
use cy_domain::payment::RefundState;
use cy_domain::{Currency, Error, OrderId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Item, ReadItems, Update, WriteOp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Its sort key (a ULID).
    pub entry: String,
    pub seller_id: UserId,
    pub order_id: OrderId,
    /// `earned`, `refunded`, `refund_failed`, `settled`.
    pub kind: String,
    pub currency: Currency,
    /// What it adds to (or takes from) the seller's pending and available balances.
    pub pending: i64,
    pub available: i64,
    /// The commission that goes with what it makes available.
    pub commission: i64,
    pub at: Timestamp,
}

/// A seller's balance in one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    #[serde(default)]
    pub pending: i64,
    #[serde(default)]
    pub available: i64,
    /// In payouts claimed and not yet known paid.
    #[serde(default)]
    pub processing: i64,
    #[serde(default)]
    pub paid_out: i64,
    /// The last ledger entry a payout covered (entries after it are not paid out yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_through: Option<String>,
    /// The payout not yet paid or failed (none is claimed for the seller meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_payout: Option<String>,
}

pub async fn balance(store: &dyn ReadItems, seller: &UserId, currency: Currency) -> Result<Balance, Error> {
    Ok(store.get(&keys::seller_balance(seller, currency)).await?.map(|i| i.record()).transpose()?.unwrap_or_default())
}

/// The entries, and one balance change per seller (a transaction touches an item once).
fn write(entries: &[LedgerEntry]) -> Result<Vec<WriteOp>, Error> {
    let mut ops = Vec::with_capacity(entries.len() * 2);
    let mut totals: Vec<(&UserId, Currency, i64, i64)> = Vec::new();
    for entry in entries {
        ops.push(WriteOp::create(Item::from_record(&keys::ledger_entry(&entry.seller_id, &entry.entry), entry)?));
        match totals.iter_mut().find(|(s, c, _, _)| *s == &entry.seller_id && *c == entry.currency) {
            Some((_, _, pending, available)) => {
                *pending += entry.pending;
                *available += entry.available;
            }
            None => totals.push((&entry.seller_id, entry.currency, entry.pending, entry.available)),
        }
    }
    for (seller, currency, pending, available) in totals {
        let update =
            Update::new(keys::seller_balance(seller, currency)).add("pending", pending).add("available", available);
        ops.push(WriteOp::Update(update));
    }
    Ok(ops)
}

/// Whether a part's earnings are settled (no longer pending).
fn settled(status: OrderStatus) -> bool {
    status == OrderStatus::Completed || status.is_ended()
}

/// A part that ended without being delivered to keep (called off, or the whole order refunded,
/// however the refund was made — ours, or one made at the provider that names no lines): it
/// earns nothing, whatever refunds of it later fail (the platform, not the seller, holds that
/// money until it reaches the customer).
fn zeroed(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Cancelled | OrderStatus::Refunded)
}

/// The ledger writes of the change `before → after` (and each new refund's debits recorded on
/// it in `after`). `after`'s lines carry frozen commission rates once it is paid.
pub fn changes(before: &Order, after: &mut Order, now: Timestamp) -> Result<Vec<WriteOp>, Error> {
    let currency = after.total.currency;
    let mut entries: Vec<LedgerEntry> = Vec::new();
    let mut entry = |seller: &UserId, kind: &str, pending: i64, available: i64, commission: i64| {
        if pending != 0 || available != 0 || commission != 0 {
            entries.push(LedgerEntry {
                entry: ulid::Ulid::new().to_string(),
                seller_id: seller.clone(),
                order_id: after.id.clone(),
                kind: kind.to_owned(),
                currency,
                pending,
                available,
                commission,
                at: now,
            });
        }
    };
    let was_paid = cy_domain::earnings::has_earnings(before);
    let is_paid = cy_domain::earnings::has_earnings(after);
    if !was_paid && is_paid {
        for part in &after.fulfilments {
            entry(&part.seller_id, "earned", part_earnings(after, part).net, 0, 0);
        }
    }
    if !is_paid {
        return write(&entries);
    }
    let before_refunds: Vec<(cy_domain::RefundId, RefundState, Vec<SellerDebit>)> = before
        .payment
        .iter()
        .flat_map(|p| &p.refunds)
        .map(|r| (r.id.clone(), r.state, r.seller_debits.clone()))
        .collect();
    let part_settled_before =
        |seller: &UserId| before.fulfilment(seller).is_some_and(|p| settled(p.status)) && was_paid;
    let part_zeroed_before = |seller: &UserId| before.fulfilment(seller).is_some_and(|p| zeroed(p.status)) && was_paid;
    // New refunds: their debits, recorded on them.
    let snapshot = after.clone();
    let part_zeroed_after = |seller: &UserId| snapshot_zeroed(&snapshot, seller);
    if let Some(payment) = after.payment.as_mut() {
        for refund in &mut payment.refunds {
            let known = before_refunds.iter().find(|(id, _, _)| *id == refund.id);
            match known {
                None if refund.state != RefundState::Failed => {
                    refund.seller_debits = refund_debits(&snapshot, refund);
                    for d in &refund.seller_debits {
                        if part_zeroed_before(&d.seller_id) {
                            continue; // it earns nothing already
                        }
                        if part_settled_before(&d.seller_id) {
                            entry(&d.seller_id, "refunded", 0, -d.net, -d.commission);
                        } else {
                            entry(&d.seller_id, "refunded", -d.net, 0, 0);
                        }
                    }
                }
                Some((_, was, debits)) if *was != RefundState::Failed && refund.state == RefundState::Failed => {
                    for d in debits {
                        if part_zeroed_after(&d.seller_id) {
                            continue; // a part called off or refunded earns nothing back
                        }
                        if part_settled_before(&d.seller_id) {
                            entry(&d.seller_id, "refund_failed", 0, d.net, d.commission);
                        } else {
                            entry(&d.seller_id, "refund_failed", d.net, 0, 0);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Parts that end now: what they still earn becomes available.
    for (was, is) in before.fulfilments.iter().zip(&after.fulfilments) {
        if settled(is.status) && !(settled(was.status) && was_paid) {
            let earned = part_earnings(after, is);
            let taken = after
                .payment
                .iter()
                .flat_map(|p| &p.refunds)
                .filter(|r| r.state != RefundState::Failed)
                .flat_map(|r| &r.seller_debits)
                .filter(|d| d.seller_id == is.seller_id)
                .fold((0, 0), |(n, c), d| (n + d.net, c + d.commission));
            let left = earned.net - taken.0;
            if zeroed(is.status) {
                // Whatever was not taken back by our refunds (a refund made at the provider)
                // is taken now: the part earns nothing.
                entry(&is.seller_id, "refunded", -left, 0, 0);
            } else {
                entry(&is.seller_id, "settled", -left, left, earned.commission - taken.1);
            }
        }
    }
    write(&entries)
}

fn snapshot_zeroed(order: &Order, seller: &UserId) -> bool {
    order.fulfilment(seller).is_some_and(|p| zeroed(p.status))
}
