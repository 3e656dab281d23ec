//! Admins keep the category tree (`GET, POST /admin/categories`, `PATCH
//! /admin/categories/{id}`): every change audited in its own transaction, the tree kept a tree
//! (`cy_domain::catalog::categories`) even when two admins move categories at once.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::audit::AuditRecord;
use cy_data::catalog::{self as records, CategoryRecord};
use cy_data::idempotency::Scope;
use cy_domain::catalog::categories::{CategoryName, ancestors_under};
use cy_domain::product::CategoryId;
use cy_domain::{Error, ErrorCode, Timestamp};
use cy_http::extract::{double_option, expected_version, parse_json};
use cy_http::{ApiResult, Caller, ErrorBody, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Catalog;
use crate::idempotency::{Keyed, create_once, replay_earlier};

/// Every category, flat, with its version (the public tree is `GET /categories`).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AdminCategories {
    items: Vec<CategoryRecord>,
}

#[utoipa::path(get, path = "/admin/categories", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every category, with its parent and version", body = AdminCategories)))]
/// `GET /admin/categories`: the whole tree, flat.
pub(super) async fn admin_categories(State(catalog): State<Catalog>) -> ApiResult<Json<AdminCategories>> {
    Ok(Json(AdminCategories { items: records::categories(catalog.store.as_ref()).await? }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCategoryBody {
    /// Its id: lowercase words joined by dashes (`home-mugs`), what products name.
    #[schema(value_type = cy_domain::product::CategoryId)]
    id: String,
    name: CategoryName,
    #[schema(value_type = Option<cy_domain::product::CategoryId>)]
    parent: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CategoryPatchBody {
    name: Option<CategoryName>,
    /// Another parent, or `null` for a top-level category.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<cy_domain::product::CategoryId>)]
    parent: Option<Option<String>>,
    /// The version changed (or `If-Match`).
    version: Option<u64>,
}

fn category_id(field: &str, raw: &str) -> Result<CategoryId, Error> {
    CategoryId::parse(raw).map_err(|_| Error::invalid(field, "must be lowercase letters, digits and dashes (1 to 64)"))
}

/// The tree as child → parent, and its records by id.
async fn tree(catalog: &Catalog) -> Result<(BTreeMap<CategoryId, Option<CategoryId>>, Vec<CategoryRecord>), Error> {
    let all = records::categories(catalog.store.as_ref()).await?;
    Ok((all.iter().map(|c| (c.slug.clone(), c.parent.clone())).collect(), all))
}

fn records_of(all: &[CategoryRecord], ids: &[CategoryId]) -> Vec<CategoryRecord> {
    ids.iter().filter_map(|id| all.iter().find(|c| &c.slug == id)).cloned().collect()
}

#[utoipa::path(post, path = "/admin/categories", tag = "admin", request_body = NewCategoryBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The category", body = CategoryRecord),
        (status = 409, description = "`already_exists` (the id is taken), `version_conflict`, `idempotency_key_reused`", body = ErrorBody)))]
/// `POST /admin/categories`: a new category, under an existing parent or at the top.
pub(super) async fn create_category(
    State(catalog): State<Catalog>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<CategoryRecord>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, Scope::Category)?;
    let body: NewCategoryBody = parse_json(&canonical)?;
    let store = catalog.store.as_ref();
    let replay = |created: String| async move {
        let id = category_id("id", &created)?;
        records::get_category(store, &id).await?.ok_or_else(|| Error::not_found("The category"))
    };
    if let Some(earlier) = replay_earlier(keyed.as_ref(), store, &caller.user_id, replay).await? {
        return Ok((StatusCode::CREATED, Json(earlier)));
    }
    let id = category_id("id", &body.id)?;
    let parent = body.parent.as_deref().map(|p| category_id("parent", p)).transpose()?;
    let (parents, all) = tree(&catalog).await?;
    let ancestors = ancestors_under(&parents, &id, parent.as_ref())?;
    let category =
        CategoryRecord { slug: id.clone(), name: body.name.as_str().to_owned(), parent: parent.clone(), version: 1 };
    let audit =
        AuditRecord::new(Some(&caller.user_id), "catalog.category_created", id.as_str(), json!({"category": category}));
    // The parent must still be where it was read: checked in the same transaction.
    let checks: Vec<cy_data::WriteOp> = records_of(&all, &ancestors)
        .iter()
        .map(|a| cy_data::WriteOp::Check {
            key: cy_data::keys::category(a.slug.as_str()),
            condition: records::at_version(a.version),
        })
        .collect();
    let created = create_once(
        keyed.as_ref(),
        store,
        &caller.user_id,
        id.as_str(),
        &category,
        |mut claims| async {
            claims.push(audit.write()?);
            claims.extend(checks);
            records::create_category(store, &category, claims).await.map(|()| category.clone())
        },
        replay,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(patch, path = "/admin/categories/{id}", tag = "admin", request_body = CategoryPatchBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The category id")),
    responses((status = 200, description = "The category changed", body = CategoryRecord),
        (status = 409, description = "`version_conflict`", body = ErrorBody)))]
/// `PATCH /admin/categories/{id}`: renames or moves a category (with the version changed); a
/// move that would make a cycle or too deep a tree is 400.
pub(super) async fn edit_category(
    State(catalog): State<Catalog>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<CategoryPatchBody>,
) -> ApiResult<Json<CategoryRecord>> {
    let id = CategoryId::parse(&id).map_err(|_| Error::not_found("The category"))?;
    let expected = expected_version(&headers, body.version)?
        .ok_or_else(|| Error::invalid("version", "name the version you change (or send If-Match)"))?;
    let (parents, all) = tree(&catalog).await?;
    let before = all.iter().find(|c| c.slug == id).cloned().ok_or_else(|| Error::not_found("The category"))?;
    if before.version != expected {
        return Err(Error::conflict(
            ErrorCode::VersionConflict,
            "The category changed since it was read; reload and retry.",
        )
        .into());
    }
    let mut after = before.clone();
    if let Some(name) = &body.name {
        after.name = name.as_str().to_owned();
    }
    if let Some(parent) = &body.parent {
        after.parent = parent.as_deref().map(|p| category_id("parent", p)).transpose()?;
    }
    let ancestors = ancestors_under(&parents, &id, after.parent.as_ref())?;
    after.version = before.version + 1;
    let details = json!({"before": before, "after": after, "at": Timestamp::now()});
    let audit = AuditRecord::new(Some(&caller.user_id), "catalog.category_changed", id.as_str(), details);
    records::save_category(
        catalog.store.as_ref(),
        before.version,
        &after,
        &records_of(&all, &ancestors),
        vec![audit.write()?],
    )
    .await?;
    Ok(Json(after))
}
