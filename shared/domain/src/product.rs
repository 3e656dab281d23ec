//! Products as sellers list them: what is sold, at what base price, with which options.

use serde::{Deserialize, Serialize};

use crate::catalog::ProductOption;
use crate::text::BoundedText;
use crate::{Error, Money, ProductId, Timestamp, UserId};

pub type ProductTitle = BoundedText<1, 200>;
pub type ProductDescription = BoundedText<0, 5000>;

/// The most stock one product may hold; keeps stock arithmetic far from overflow.
pub const MAX_STOCK: i64 = 1_000_000;
/// Images per product.
pub const MAX_IMAGES: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    PendingReview,
    Active,
    Rejected,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::PendingReview => "pending_review",
            ProductStatus::Active => "active",
            ProductStatus::Rejected => "rejected",
            ProductStatus::Archived => "archived",
        }
    }

    /// Where a product goes when its seller submits it (on create, or after an edit of a
    /// listed product): straight to `active`, or to `pending_review` when the platform
    /// moderates products.
    pub fn on_submit(moderated: bool) -> ProductStatus {
        if moderated { ProductStatus::PendingReview } else { ProductStatus::Active }
    }
}

/// A category's id: its slug (`home-mugs`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryId(String);

impl CategoryId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let ok = (1..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok { Ok(CategoryId(raw.to_owned())) } else { Err(Error::bad_request("is not a category")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CategoryId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<CategoryId> for String {
    fn from(c: CategoryId) -> String {
        c.0
    }
}

/// A key of a stored file (S3 object key), as the server chose it: safe characters only, no
/// `..`, no leading slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let ok = (1..=512).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
            && !raw.starts_with('/')
            && !raw.split('/').any(|part| part.is_empty() || part == "." || part == "..");
        if ok { Ok(ObjectKey(raw.to_owned())) } else { Err(Error::bad_request("is not an uploaded file's key")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<ObjectKey> for String {
    fn from(k: ObjectKey) -> String {
        k.0
    }
}

/// A product as stored. `version` counts the seller's edits; stock moves by atomic additions
/// that do not touch it, so orders and edits never overwrite each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub seller_id: UserId,
    /// The seller's display name when the product was last saved, so a product page needs no
    /// second read.
    pub seller_name: String,
    pub title: ProductTitle,
    pub description: ProductDescription,
    pub category_id: CategoryId,
    pub base_price: Money,
    pub stock: i64,
    pub images: Vec<ObjectKey>,
    pub status: ProductStatus,
    pub version: u64,
    pub options: Vec<ProductOption>,
    /// Why an admin rejected it (the seller edits and resubmits); cleared on approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Stock a seller sets: 0 to [`MAX_STOCK`].
pub fn parse_stock(raw: i64) -> Result<i64, Error> {
    if (0..=MAX_STOCK).contains(&raw) {
        Ok(raw)
    } else {
        Err(Error::bad_request(format!("must be a whole number from 0 to {MAX_STOCK}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_ids_are_slugs() {
        assert!(CategoryId::parse("home-mugs").is_ok());
        for bad in ["", "Home", "home mugs", "-x", "x-", "ü"] {
            assert!(CategoryId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys_cannot_escape_or_smuggle() {
        assert!(ObjectKey::parse("uploads/usr_1/customization/01J.png").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", "a/./b", "a b", "a?b", "a/"] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn moderation_decides_where_a_submission_goes() {
        assert_eq!(ProductStatus::on_submit(true), ProductStatus::PendingReview);
        assert_eq!(ProductStatus::on_submit(false), ProductStatus::Active);
    }
}
