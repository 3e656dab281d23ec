//! Function `sellers`: the shop and its payout account, verification (KYC) and its review by
//! admins, and the commission rates. Secrets (the account number, the identity number) are
//! sealed under the data key, bound to the seller, before they are stored, and answered
//! masked; the stored item never holds them in the clear.

pub mod routes;

use std::sync::Arc;

use cy_data::orders::{OutboxEvent, outbox_write};
use cy_data::sellers::{self as records, KycRecord, SellerRecord, StoredPayoutAccount};
use cy_data::{Cursor, Store, accounts};
use cy_domain::seller::{
    AccountNumber, CommissionRates, IdNumber, IdType, Ifsc, KycStatus, ShopDescription, ShopName, mask,
};
use cy_domain::uploads::{UploadPurpose, is_users_upload};
use cy_domain::{Error, EventId, PersonName, Role, Timestamp, UserId};
use cy_http::JwtKeys;
use serde::Serialize;
use serde_json::json;

use crate::sealed::DataKey;

/// At most this many documents per verification.
pub const MAX_KYC_DOCUMENTS: usize = 5;

#[derive(Clone)]
pub struct Sellers {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub data_key: Arc<DataKey>,
}

/// A payout account as a seller gives it.
pub struct PayoutAccount {
    pub holder_name: PersonName,
    pub account_number: AccountNumber,
    pub ifsc: Ifsc,
    pub stripe_account: Option<StripeAccount>,
}

/// A Stripe connected account id: `acct_` and 8–64 letters or digits.
pub struct StripeAccount(String);

impl StripeAccount {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        let ok = raw
            .strip_prefix("acct_")
            .is_some_and(|r| (8..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return Err(Error::invalid("payout_account.stripe_account_id", "must be a Stripe account id (acct_…)"));
        }
        Ok(StripeAccount(raw.to_owned()))
    }
}

/// A shop as a seller gives it (`PUT /seller/profile`).
pub struct ShopChange {
    pub shop_name: ShopName,
    pub description: Option<ShopDescription>,
    pub logo: Option<cy_domain::link::HttpsUrl>,
    /// `None`: the account stays as it is (it is never answered in the clear, so a client
    /// cannot send it back).
    pub payout_account: Option<PayoutAccount>,
}

/// A verification as a seller submits it.
pub struct KycSubmission {
    pub documents: Vec<String>,
    pub id_type: IdType,
    pub id_number: IdNumber,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PayoutAccountView {
    pub holder_name: String,
    /// `••••6789`: the number is never answered in the clear.
    pub account_number_masked: String,
    pub ifsc: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KycView {
    pub status: KycStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_type: Option<IdType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number_masked: Option<String>,
    pub documents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

impl From<&KycRecord> for KycView {
    fn from(k: &KycRecord) -> Self {
        KycView {
            status: k.status,
            reason: k.reason.clone(),
            id_type: k.id_type,
            id_number_masked: k.id_number_last4.as_deref().map(mask),
            documents: k.documents.clone(),
            submitted_at: k.submitted_at,
            decided_at: k.decided_at,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SellerView {
    pub seller_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payout_account: Option<PayoutAccountView>,
    pub kyc: KycView,
    pub version: u64,
}

impl From<&SellerRecord> for SellerView {
    fn from(r: &SellerRecord) -> Self {
        SellerView {
            seller_id: r.seller_id.to_string(),
            shop_name: r.shop_name.clone(),
            description: r.description.clone(),
            logo: r.logo.clone(),
            payout_account: r.payout_account.as_ref().map(|a| PayoutAccountView {
                holder_name: a.holder_name.clone(),
                account_number_masked: mask(&a.account_number_last4),
                ifsc: a.ifsc.clone(),
            }),
            kyc: KycView::from(&r.kyc),
            version: r.version,
        }
    }
}

fn last4(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

impl Sellers {
    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The seller's record (an empty one when nothing is stored yet).
    pub async fn record(&self, seller: &UserId) -> Result<SellerRecord, Error> {
        Ok(records::get(self.store(), seller).await?.unwrap_or_else(|| SellerRecord::empty(seller)))
    }

    pub async fn profile(&self, seller: &UserId) -> Result<SellerView, Error> {
        Ok(SellerView::from(&self.record(seller).await?))
    }

    pub async fn change_profile(
        &self,
        seller: &UserId,
        change: ShopChange,
        expected_version: Option<u64>,
    ) -> Result<SellerView, Error> {
        let before = self.record(seller).await?;
        if let Some(expected) = expected_version
            && expected != before.version
        {
            return Err(Error::conflict(
                cy_domain::ErrorCode::VersionConflict,
                "The profile changed since it was read; reload and retry.",
            ));
        }
        let mut after = before.clone();
        after.shop_name = Some(change.shop_name.as_str().to_owned());
        after.description = change.description.map(|d| d.as_str().to_owned());
        after.logo = change.logo.map(|l| l.as_str().to_owned());
        if let Some(account) = change.payout_account {
            let number = account.account_number.as_str();
            after.payout_account = Some(StoredPayoutAccount {
                holder_name: account.holder_name.as_str().to_owned(),
                account_number_sealed: self.data_key.seal(number.as_bytes(), &format!("seller:{seller}:account"))?,
                account_number_last4: last4(number),
                ifsc: account.ifsc.as_str().to_owned(),
                stripe_account: account.stripe_account.map(|a| a.0),
            });
        }
        after.updated_at = Timestamp::now();
        after.version = before.version + 1;
        let audit = cy_data::audit::AuditRecord::new(
            Some(seller),
            "seller.profile_changed",
            seller.as_str(),
            json!({"payout_account_changed": after.payout_account != before.payout_account}),
        );
        records::save(self.store(), before.version, &after, vec![audit.write()?]).await?;
        Ok(SellerView::from(&after))
    }

    pub async fn submit_kyc(&self, seller: &UserId, submission: KycSubmission) -> Result<KycView, Error> {
        if submission.documents.is_empty() || submission.documents.len() > MAX_KYC_DOCUMENTS {
            return Err(Error::invalid("documents", format!("give 1–{MAX_KYC_DOCUMENTS} uploaded documents")));
        }
        if let Some(bad) =
            submission.documents.iter().position(|d| !is_users_upload(d, seller, UploadPurpose::KycDocument))
        {
            return Err(Error::invalid(
                &format!("documents[{bad}]"),
                "must be a file you uploaded with purpose kyc_document",
            ));
        }
        let before = self.record(seller).await?;
        before.kyc.status.check_submit()?;
        let mut after = before.clone();
        let number = submission.id_number.as_str();
        after.kyc = KycRecord {
            status: KycStatus::Pending,
            reason: None,
            id_type: Some(submission.id_type),
            id_number_sealed: Some(self.data_key.seal(number.as_bytes(), &format!("seller:{seller}:id_number"))?),
            id_number_last4: Some(last4(number)),
            documents: submission.documents,
            submitted_at: Some(Timestamp::now()),
            decided_at: None,
            decided_by: None,
        };
        after.updated_at = Timestamp::now();
        after.version = before.version + 1;
        let audit = cy_data::audit::AuditRecord::new(Some(seller), "seller.kyc_submitted", seller.as_str(), json!({}));
        records::save(self.store(), before.version, &after, vec![audit.write()?]).await?;
        Ok(KycView::from(&after.kyc))
    }

    pub async fn list_by_kyc(
        &self,
        status: KycStatus,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<SellerView>, Option<Cursor>), Error> {
        let (items, next) = records::by_kyc(self.store(), status, limit, cursor).await?;
        Ok((items.iter().map(SellerView::from).collect(), next))
    }

    /// An admin approves or rejects a pending verification: audited, and the seller is told
    /// (an outbox event for the fan-out, in the same transaction).
    pub async fn decide_kyc(
        &self,
        admin: &UserId,
        seller: &str,
        approve: bool,
        reason: Option<String>,
    ) -> Result<SellerView, Error> {
        let seller = UserId::parse(seller).map_err(|_| Error::not_found("The seller"))?;
        match accounts::get_user(self.store(), &seller).await? {
            Some(u) if u.role == Role::Seller => {}
            _ => return Err(Error::not_found("The seller")),
        }
        let before = self.record(&seller).await?;
        before.kyc.status.check_decide()?;
        let mut after = before.clone();
        let now = Timestamp::now();
        after.kyc.status = if approve { KycStatus::Approved } else { KycStatus::Rejected };
        after.kyc.reason = reason.clone();
        after.kyc.decided_at = Some(now);
        after.kyc.decided_by = Some(admin.clone());
        after.updated_at = now;
        after.version = before.version + 1;
        let action = if approve { "seller.kyc_approved" } else { "seller.kyc_rejected" };
        let audit = cy_data::audit::AuditRecord::new(Some(admin), action, seller.as_str(), json!({"reason": reason}));
        // Not an order's event: `customer_id` names the user it concerns (the seller).
        let event = OutboxEvent {
            id: EventId::generate(),
            kind: "seller.kyc_decided".into(),
            order_id: None,
            customer_id: seller.clone(),
            sellers: vec![seller.clone()],
            at: now,
            data: json!({"seller_id": seller, "status": after.kyc.status, "reason": reason}),
        };
        records::save(self.store(), before.version, &after, vec![audit.write()?, outbox_write(&event)?]).await?;
        Ok(SellerView::from(&after))
    }

    pub async fn commission_rates(&self) -> Result<CommissionRates, Error> {
        records::commission_rates(self.store()).await
    }

    pub async fn set_commission_rates(&self, admin: &UserId, rates: CommissionRates) -> Result<CommissionRates, Error> {
        let audit = cy_data::audit::AuditRecord::new(Some(admin), "commission.changed", "commission", json!(rates));
        records::save_commission_rates(self.store(), &rates, vec![audit.write()?]).await?;
        Ok(rates)
    }

    /// Whether `seller` is verified (what listing products needs while KYC is required).
    pub async fn is_approved(store: &dyn Store, seller: &UserId) -> Result<bool, Error> {
        Ok(records::get(store, seller).await?.is_some_and(|r| r.kyc.status == KycStatus::Approved))
    }
}
