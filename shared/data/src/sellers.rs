//! Sellers' records: the shop, its payout account (the account number sealed by the service
//! before it gets here), its verification (the identity number sealed likewise), indexed by
//! verification status for the admins' review queue; and the commission rates.

use cy_domain::seller::{CommissionRates, IdType, KycStatus};
use cy_domain::{Error, ErrorCode, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Condition, Cursor, Item, Query, QueryItems, ReadItems, Store, StoreError, WriteItems, WriteOp};

/// A payout account as stored: the number sealed (AES-256-GCM under the data key, bound to
/// the seller) and its last four for the masked answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredPayoutAccount {
    pub holder_name: String,
    pub account_number_sealed: String,
    pub account_number_last4: String,
    pub ifsc: String,
    /// The seller's Stripe connected account (`acct_…`), where payouts go through Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_account: Option<String>,
}

/// A seller's verification as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KycRecord {
    pub status: KycStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<IdType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number_sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number_last4: Option<String>,
    #[serde(default)]
    pub documents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SellerRecord {
    pub seller_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_account: Option<StoredPayoutAccount>,
    #[serde(default)]
    pub kyc: KycRecord,
    pub updated_at: Timestamp,
    /// 0 while nothing is stored.
    pub version: u64,
}

impl SellerRecord {
    /// What a seller with nothing stored has.
    pub fn empty(seller: &UserId) -> Self {
        SellerRecord {
            seller_id: seller.clone(),
            shop_name: None,
            description: None,
            logo: None,
            payout_account: None,
            kyc: KycRecord::default(),
            updated_at: Timestamp::now(),
            version: 0,
        }
    }
}

pub async fn get(store: &dyn ReadItems, seller: &UserId) -> Result<Option<SellerRecord>, Error> {
    Ok(store.get(&keys::seller_profile(seller)).await?.map(|i| i.record()).transpose()?)
}

/// Stores `after` over the version `before` had (0: nothing stored), with `also` (an audit
/// record, an outbox event) in the same transaction; a concurrent change is 409.
pub async fn save(
    store: &dyn WriteItems,
    before_version: u64,
    after: &SellerRecord,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let item = Item::from_record(&keys::seller_profile(&after.seller_id), after)?.in_index(
        keys::SELLERS_BY_KYC,
        keys::sellers_by_kyc_pk(after.kyc.status),
        after.seller_id.as_str(),
    );
    let unchanged =
        if before_version == 0 { Condition::Absent } else { Condition::equals("version", before_version as i64) };
    let mut ops = vec![WriteOp::Put { item, condition: Some(unchanged) }];
    ops.extend(also);
    match store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::conflict(
            ErrorCode::VersionConflict,
            "The seller's record changed while this request was applied; reload and retry.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Sellers whose verification is `status`, oldest first (the review queue).
pub async fn by_kyc(
    store: &dyn QueryItems,
    status: KycStatus,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<SellerRecord>, Option<Cursor>), Error> {
    let q = Query::index(keys::SELLERS_BY_KYC, keys::sellers_by_kyc_pk(status)).limit(limit).after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// The commission rates (none set: 0 everywhere).
pub async fn commission_rates(store: &dyn ReadItems) -> Result<CommissionRates, Error> {
    let Some(item) = store.get(&keys::commission_rates()).await? else { return Ok(CommissionRates::default()) };
    let stored: StoredRates = item.record()?;
    Ok(CommissionRates { platform_bps: stored.platform_bps, categories: stored.categories, sellers: stored.sellers })
}

/// Stored rates: the item carries its key attributes beside them (the domain type refuses
/// unknown fields, as a request body must).
#[derive(Deserialize)]
struct StoredRates {
    platform_bps: cy_domain::seller::Bps,
    #[serde(default)]
    categories: std::collections::BTreeMap<cy_domain::product::CategoryId, cy_domain::seller::Bps>,
    #[serde(default)]
    sellers: std::collections::BTreeMap<UserId, cy_domain::seller::Bps>,
}

/// Replaces the commission rates, with `also` (the audit record) in the same transaction.
pub async fn save_commission_rates(
    store: &dyn Store,
    rates: &CommissionRates,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = vec![WriteOp::put(Item::from_record(&keys::commission_rates(), rates)?)];
    ops.extend(also);
    Ok(store.transact(ops).await?)
}
