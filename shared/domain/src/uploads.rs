//! What may be uploaded, how big, and under which key. The server chooses every key, so a
//! key tells whose file it is and what for: ownership checks are a prefix test, no lookup.

use serde::{Deserialize, Serialize};

use crate::product::ObjectKey;
use crate::{Error, ProductId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadPurpose {
    /// A customer's own artwork for an `image` customisation option.
    Customization,
    /// Photos on a review.
    ReviewImage,
    /// Identity or business documents for seller KYC.
    KycDocument,
    /// A product's gallery (through `POST /seller/products/{id}/images`).
    ProductImage,
}

const IMAGE_TYPES: &[(&str, &str)] = &[("image/jpeg", "jpg"), ("image/png", "png"), ("image/webp", "webp")];
const DOCUMENT_TYPES: &[(&str, &str)] = &[("image/jpeg", "jpg"), ("image/png", "png"), ("application/pdf", "pdf")];

impl UploadPurpose {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "customization" => Ok(UploadPurpose::Customization),
            "review_image" => Ok(UploadPurpose::ReviewImage),
            "kyc_document" => Ok(UploadPurpose::KycDocument),
            "product_image" => Ok(UploadPurpose::ProductImage),
            _ => Err(Error::bad_request("must be customization, review_image, kyc_document or product_image")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            UploadPurpose::Customization => "customization",
            UploadPurpose::ReviewImage => "review_image",
            UploadPurpose::KycDocument => "kyc_document",
            UploadPurpose::ProductImage => "product_image",
        }
    }

    fn types(self) -> &'static [(&'static str, &'static str)] {
        match self {
            UploadPurpose::KycDocument => DOCUMENT_TYPES,
            _ => IMAGE_TYPES,
        }
    }

    /// The largest file accepted, in bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            UploadPurpose::Customization => 20 * 1024 * 1024,
            UploadPurpose::ReviewImage | UploadPurpose::ProductImage => 10 * 1024 * 1024,
            UploadPurpose::KycDocument => 15 * 1024 * 1024,
        }
    }
}

/// An upload the server agreed to: content type and exact size are bound into the upload URL.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadPlan {
    pub key: ObjectKey,
    pub content_type: &'static str,
    pub size: u64,
}

fn check(purpose: UploadPurpose, content_type: &str, size: u64) -> Result<(&'static str, &'static str), Error> {
    let Some(&(ct, ext)) = purpose.types().iter().find(|(t, _)| t.eq_ignore_ascii_case(content_type.trim())) else {
        let allowed: Vec<&str> = purpose.types().iter().map(|(t, _)| *t).collect();
        return Err(Error::invalid("content_type", format!("must be one of {}", allowed.join(", "))));
    };
    if size == 0 || size > purpose.max_bytes() {
        return Err(Error::invalid("size", format!("must be from 1 to {} bytes", purpose.max_bytes())));
    }
    Ok((ct, ext))
}

/// Plans a user's upload (`POST /uploads`): `uploads/<user>/<purpose>/<ulid>.<ext>`.
pub fn plan_user_upload(
    owner: &UserId,
    purpose: UploadPurpose,
    content_type: &str,
    size: u64,
) -> Result<UploadPlan, Error> {
    if purpose == UploadPurpose::ProductImage {
        return Err(Error::invalid("purpose", "product images are uploaded through the product's images endpoint"));
    }
    let (ct, ext) = check(purpose, content_type, size)?;
    let key = ObjectKey::parse(&format!("uploads/{owner}/{}/{}.{ext}", purpose.as_str(), ulid::Ulid::new()))?;
    Ok(UploadPlan { key, content_type: ct, size })
}

/// Plans a product image upload: `products/<product>/<ulid>.<ext>`.
pub fn plan_product_image(product: &ProductId, content_type: &str, size: u64) -> Result<UploadPlan, Error> {
    let (ct, ext) = check(UploadPurpose::ProductImage, content_type, size)?;
    let key = ObjectKey::parse(&format!("products/{product}/{}.{ext}", ulid::Ulid::new()))?;
    Ok(UploadPlan { key, content_type: ct, size })
}

/// Whether `key` is a file `owner` uploaded for `purpose`.
pub fn is_users_upload(key: &str, owner: &UserId, purpose: UploadPurpose) -> bool {
    ObjectKey::parse(key).is_ok_and(|k| k.starts_with(&format!("uploads/{owner}/{}/", purpose.as_str())))
}

/// Whether `key` is an image of `product`.
pub fn is_product_image(key: &ObjectKey, product: &ProductId) -> bool {
    key.starts_with(&format!("products/{product}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_chosen_by_the_server_and_prove_ownership() {
        let asha = UserId::generate();
        let plan = plan_user_upload(&asha, UploadPurpose::Customization, "image/PNG", 1000).unwrap();
        assert!(plan.key.as_str().starts_with(&format!("uploads/{asha}/customization/")));
        assert!(plan.key.as_str().ends_with(".png"));
        assert_eq!(plan.content_type, "image/png");
        assert!(is_users_upload(plan.key.as_str(), &asha, UploadPurpose::Customization));
        assert!(!is_users_upload(plan.key.as_str(), &UserId::generate(), UploadPurpose::Customization));
        assert!(!is_users_upload(plan.key.as_str(), &asha, UploadPurpose::ReviewImage));
        assert!(!is_users_upload(
            &format!("uploads/{asha}/customization/../x.png"),
            &asha,
            UploadPurpose::Customization
        ));
    }

    #[test]
    fn types_and_sizes_are_checked_per_purpose() {
        let u = UserId::generate();
        assert!(plan_user_upload(&u, UploadPurpose::Customization, "image/gif", 10).is_err());
        assert!(plan_user_upload(&u, UploadPurpose::Customization, "image/png", 0).is_err());
        assert!(plan_user_upload(&u, UploadPurpose::ReviewImage, "image/png", 10 * 1024 * 1024 + 1).is_err());
        assert!(plan_user_upload(&u, UploadPurpose::KycDocument, "application/pdf", 100).is_ok());
        assert!(plan_user_upload(&u, UploadPurpose::Customization, "application/pdf", 100).is_err());
        assert!(plan_user_upload(&u, UploadPurpose::ProductImage, "image/png", 100).is_err());
        let p = ProductId::generate();
        let plan = plan_product_image(&p, "image/webp", 100).unwrap();
        assert!(is_product_image(&plan.key, &p));
    }
}
