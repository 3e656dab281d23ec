//! What admins decide about the catalog: the platform's switches and the product review queue.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use cy_data::catalog::{self as records, PlatformSettings, ProductCard};
use cy_domain::product::{Product, ProductStatus};
use cy_domain::{Error, ErrorCode, ProductId, Timestamp};
use cy_http::extract::expected_version;
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Query};
use serde::Deserialize;
use serde_json::json;

use super::*;

/// The platform's switches (admins).
#[utoipa::path(get, path = "/admin/settings/platform", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = PlatformSettings)))]
pub(super) async fn platform_settings(State(catalog): State<Catalog>) -> ApiResult<Json<PlatformSettings>> {
    Ok(Json(records::platform_settings(catalog.store.as_ref()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PlatformSettingsBody {
    product_moderation: bool,
    kyc_required: bool,
}

#[utoipa::path(put, path = "/admin/settings/platform", tag = "admin", request_body = PlatformSettingsBody, security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = PlatformSettings)))]
/// Switches product moderation and the KYC requirement for sellers.
pub(super) async fn set_platform_settings(
    State(catalog): State<Catalog>,
    caller: Caller,
    Json(body): Json<PlatformSettingsBody>,
) -> ApiResult<Json<PlatformSettings>> {
    let settings = PlatformSettings { product_moderation: body.product_moderation, kyc_required: body.kyc_required };
    let audit = cy_data::audit::AuditRecord::new(
        Some(&caller.user_id),
        "platform.settings_changed",
        "platform",
        json!(settings),
    );
    records::save_platform_settings(catalog.store.as_ref(), &settings, vec![audit.write()?]).await?;
    Ok(Json(settings))
}

// ---- moderation (admins) ------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ModerationParams {
    /// `pending_review` (the default) or `rejected`.
    #[param(pattern = "^(pending_review|rejected)$")]
    status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

/// Products waiting for review (or rejected), oldest first.
#[utoipa::path(get, path = "/admin/products", tag = "admin", params(ModerationParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of product cards", body = Listed<ProductCard>)))]
pub(super) async fn moderation_queue(
    State(catalog): State<Catalog>,
    Query(params): Query<ModerationParams>,
) -> ApiResult<Json<Listed<ProductCard>>> {
    let status = match params.status.as_deref() {
        None | Some("pending_review") => ProductStatus::PendingReview,
        Some("rejected") => ProductStatus::Rejected,
        Some(_) => return Err(Error::invalid("status", "must be pending_review or rejected").into()),
    };
    let paging = cy_http::Paging { limit: params.limit, cursor: params.cursor };
    let (cards, next) =
        records::moderation_queue(catalog.store.as_ref(), status, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(cards, next)))
}

/// An admin's decision on a product waiting for review.
pub(super) enum Verdict {
    Approve,
    Reject(String),
}

/// Approves a product waiting for review, as of the version the admin reviewed (`If-Match`):
/// it is listed at once. Approving it again answers it as it is; an edit since the review is
/// 409 `version_conflict` (review it again).
#[utoipa::path(post, path = "/admin/products/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id"),
        ("If-Match" = String, Header, description = "The version reviewed")),
    responses((status = 200, description = "The product, active", body = Product),
        (status = 409, description = "`version_conflict`: edited since the review; `invalid_transition`: not waiting for review", body = ErrorBody)))]
pub(super) async fn approve_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Product>> {
    let reviewed = reviewed_version(&headers, None)?;
    Ok(Json(review(&catalog, &caller, &id, Verdict::Approve, reviewed).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectBody {
    /// What the seller must change, shown to them (1 to 500 characters).
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// The version reviewed (or `If-Match`).
    version: Option<u64>,
}

/// Rejects a product waiting for review, as of the version reviewed, with the reason the
/// seller sees; they edit it and it comes back for review. Rejecting it again answers it as it
/// is.
#[utoipa::path(post, path = "/admin/products/{id}/reject", tag = "admin", request_body = RejectBody,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id"),
        ("If-Match" = Option<String>, Header, description = "The version reviewed, instead of `version`")),
    responses((status = 200, description = "The product, rejected", body = Product),
        (status = 409, description = "`version_conflict`: edited since the review; `invalid_transition`: not waiting for review", body = ErrorBody)))]
pub(super) async fn reject_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RejectBody>,
) -> ApiResult<Json<Product>> {
    let reviewed = reviewed_version(&headers, body.version)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(Error::invalid("reason", "must be 1 to 500 characters of text").into());
    }
    Ok(Json(review(&catalog, &caller, &id, Verdict::Reject(reason.to_owned()), reviewed).await?))
}

/// The version the admin reviewed: required, so a decision never lands on content they did
/// not see.
fn reviewed_version(headers: &HeaderMap, in_body: Option<u64>) -> Result<u64, Error> {
    expected_version(headers, in_body)?
        .ok_or_else(|| Error::invalid("version", "is required: send the version you reviewed (or If-Match)"))
}

/// Applies a verdict to the version reviewed, audited in the same transaction. A repeat of
/// the decision already made answers it; a product edited since the review is 409.
pub(super) async fn review(
    catalog: &Catalog,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    reviewed: u64,
) -> Result<Product, Error> {
    let id = ProductId::parse(id)?;
    let (to, action, reason) = match verdict {
        Verdict::Approve => (ProductStatus::Active, "catalog.product_approved", None),
        Verdict::Reject(reason) => (ProductStatus::Rejected, "catalog.product_rejected", Some(reason)),
    };
    let store = catalog.store.as_ref();
    let read = async || records::get_product(store, &id).await?.ok_or_else(|| Error::not_found("The product"));
    let before = read().await?;
    if before.status == to {
        // A repeat (a double click, two admins at once): already decided.
        return Ok(before);
    }
    if before.version != reviewed {
        return Err(Error::conflict(ErrorCode::VersionConflict, "The product changed since it was reviewed."));
    }
    if before.status != ProductStatus::PendingReview {
        return Err(Error::conflict(
            ErrorCode::InvalidTransition,
            format!("The product is {}, not waiting for review.", before.status.as_str()),
        ));
    }
    let mut after = before.clone();
    after.status = to;
    after.rejection_reason = reason.clone();
    after.version = before.version + 1;
    after.updated_at = Timestamp::now();
    let details = json!({"product_id": id, "seller_id": before.seller_id, "version": reviewed, "reason": reason});
    let audit = cy_data::audit::AuditRecord::new(Some(&caller.user_id), action, id.as_str(), details);
    match records::save_product(store, &before, &after, 0, vec![audit.write()?]).await {
        Ok(()) => Ok(after),
        // Another admin's same decision landed first, or the seller's edit: tell which.
        Err(e) if e.code == ErrorCode::VersionConflict => {
            let now = read().await?;
            if now.status == to { Ok(now) } else { Err(e) }
        }
        Err(e) => Err(e),
    }
}
