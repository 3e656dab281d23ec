//! A seller's own products: list, create (with `Idempotency-Key`), edit with `version`, archive,
//! and an image upload URL for one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::catalog::{self as records, ProductCard};
use cy_domain::catalog::{OptionDraft, ProductOption, parse_options};
use cy_domain::error::Validator;
use cy_domain::product::{
    CategoryId, MAX_IMAGES, ObjectKey, Product, ProductDescription, ProductStatus, ProductTitle, parse_stock,
};
use cy_domain::uploads::{is_product_image, plan_product_image};
use cy_domain::{Error, ErrorCode, Money, ProductId, Timestamp};
use cy_files::UploadTicket;
use cy_http::extract::{expected_version, parse_json};
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Query};
use serde::Deserialize;
use serde_json::Value;

use cy_data::idempotency::Scope;

use crate::idempotency::{Keyed, create_once, key_reused, replay_earlier};

use super::*;

/// The seller's own products, every status.
#[utoipa::path(get, path = "/seller/products", tag = "catalog", params(cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of the seller's product cards", body = Listed<ProductCard>)))]
pub(super) async fn my_products(
    State(catalog): State<Catalog>,
    caller: Caller,
    Query(paging): Query<cy_http::Paging>,
) -> ApiResult<Json<Listed<ProductCard>>> {
    let (cards, next) =
        records::list_seller_products(catalog.store.as_ref(), &caller.user_id, paging.limit()?, paging.cursor()?)
            .await?;
    Ok(Json(Listed::new(cards, next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewProductBody {
    title: String,
    #[serde(default)]
    description: String,
    category_id: String,
    base_price: Money,
    stock: i64,
    #[serde(default)]
    options: Vec<OptionDraft>,
    /// `draft` keeps it unlisted; `active` (the default) submits it.
    status: Option<String>,
}

/// Parses a seller's options, recording each bad field (`options[1].max_length`, …).
fn check_options(v: &mut Validator, drafts: Vec<OptionDraft>) -> Option<Vec<ProductOption>> {
    match parse_options(drafts) {
        Ok(options) => Some(options),
        Err(e) => {
            for (field, problem) in &e.details {
                v.check::<()>(field, Err(Error::invalid(field, problem.as_str().unwrap_or("is invalid"))));
            }
            None
        }
    }
}

fn wanted_status(raw: Option<&str>, moderated: bool) -> Result<Option<ProductStatus>, Error> {
    match raw {
        None => Ok(None),
        Some("draft") => Ok(Some(ProductStatus::Draft)),
        Some("active") => Ok(Some(ProductStatus::on_submit(moderated))),
        Some(_) => Err(Error::bad_request("must be draft or active")),
    }
}

pub(super) async fn require_category(catalog: &Catalog, id: &CategoryId) -> Result<(), Error> {
    if records::category_exists(catalog.store.as_ref(), id).await? {
        Ok(())
    } else {
        Err(Error::invalid("category_id", "is not a category"))
    }
}

#[utoipa::path(post, path = "/seller/products", tag = "catalog", request_body = NewProductBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The product", body = Product),
        (status = 403, description = "Not an approved seller", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`", body = ErrorBody)))]
/// `POST /seller/products`. With an `Idempotency-Key`, a repeated request (a double submit, a
/// retry after a timeout) answers the product the first one created instead of a second copy.
pub(super) async fn create_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, Scope::Product)?;
    let body: NewProductBody = parse_json(&canonical)?;
    let (seller, settings) = approved_seller(&catalog, &caller).await?;
    let replay = |created: String| {
        let catalog = &catalog;
        async move { created_before(catalog, &created).await }
    };
    if let Some(earlier) = replay_earlier(keyed.as_ref(), catalog.store.as_ref(), &caller.user_id, replay).await? {
        return Ok((StatusCode::CREATED, Json(earlier)));
    }
    let mut v = Validator::new();
    let title = v.check("title", ProductTitle::parse(&body.title));
    let description = v.check("description", ProductDescription::parse(&body.description));
    let category = v.check("category_id", CategoryId::parse(&body.category_id));
    let price = v.check("base_price", Money::non_negative(body.base_price.amount, body.base_price.currency));
    let stock = v.check("stock", parse_stock(body.stock));
    let status = v.check("status", wanted_status(body.status.as_deref(), settings.product_moderation));
    let options = check_options(&mut v, body.options);
    v.finish()?;
    let (Some(title), Some(description), Some(category), Some(price), Some(stock), Some(status), Some(options)) =
        (title, description, category, price, stock, status, options)
    else {
        return Err(Error::internal().into());
    };
    require_category(&catalog, &category).await?;
    let now = Timestamp::now();
    let product = Product {
        id: ProductId::generate(),
        seller_id: seller.id.clone(),
        seller_name: seller.name.as_str().to_owned(),
        title,
        description,
        category_id: category,
        base_price: price,
        stock,
        images: Vec::new(),
        status: status.unwrap_or(ProductStatus::on_submit(settings.product_moderation)),
        version: 1,
        options,
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    };
    let store = catalog.store.as_ref();
    let product = create_once(
        keyed.as_ref(),
        store,
        &caller.user_id,
        product.id.as_str(),
        &product,
        |claims| async { records::create_product(store, &product, claims).await.map(|()| product.clone()) },
        replay,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The product an earlier request with the same key created (`created`), as it is now; 409
/// if the key was used to create something else.
pub(super) async fn created_before(catalog: &Catalog, created: &str) -> Result<Product, Error> {
    let id = ProductId::parse(created).map_err(|_| key_reused())?;
    records::get_product(catalog.store.as_ref(), &id).await?.ok_or_else(Error::internal)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EditProductBody {
    version: Option<u64>,
    title: Option<String>,
    description: Option<String>,
    category_id: Option<String>,
    base_price: Option<Money>,
    images: Option<Vec<String>>,
    options: Option<Vec<OptionDraft>>,
    /// Added to the stock atomically (negative removes); stock is never set outright, so a
    /// seller's edit cannot overwrite units that orders took meanwhile.
    stock_delta: Option<i64>,
    status: Option<String>,
}

/// Loads a product for its owner: 404 if absent, 403 if another seller's.
pub(super) async fn owned_product(catalog: &Catalog, caller: &Caller, id: &str) -> Result<Product, Error> {
    let id = ProductId::parse(id)?;
    let product =
        records::get_product(catalog.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The product"))?;
    if product.seller_id != caller.user_id {
        return Err(Error::forbidden("This is another seller's product."));
    }
    Ok(product)
}

/// Edits a product of the seller's (`version` or `If-Match`; stock moves by `stock_delta`).
#[utoipa::path(patch, path = "/seller/products/{id}", tag = "catalog", request_body = EditProductBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id"),
        ("If-Match" = Option<String>, Header, description = "The version read, instead of `version`")),
    responses((status = 200, description = "The product as stored", body = Product),
        (status = 403, description = "Another seller's product", body = ErrorBody),
        (status = 409, description = "`version_conflict`", body = ErrorBody)))]
pub(super) async fn edit_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<EditProductBody>,
) -> ApiResult<Json<Product>> {
    let (seller, settings) = approved_seller(&catalog, &caller).await?;
    let before = owned_product(&catalog, &caller, &id).await?;
    let mut v = Validator::new();
    let version = v.check("version", expected_version(&headers, body.version));
    let title = body.title.as_deref().map(|t| v.check("title", ProductTitle::parse(t)));
    let description = body.description.as_deref().map(|d| v.check("description", ProductDescription::parse(d)));
    let category = body.category_id.as_deref().map(|c| v.check("category_id", CategoryId::parse(c)));
    let price = body.base_price.map(|p| v.check("base_price", Money::non_negative(p.amount, p.currency)));
    let images = body.images.map(|keys| {
        let parsed: Result<Vec<ObjectKey>, Error> = keys
            .iter()
            .map(|k| ObjectKey::parse(k).ok().filter(|k| is_product_image(k, &before.id)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::bad_request("must be keys from this product's image uploads"))
            .and_then(|keys| {
                if keys.len() > MAX_IMAGES {
                    Err(Error::bad_request(format!("at most {MAX_IMAGES} images")))
                } else {
                    Ok(keys)
                }
            });
        v.check("images", parsed)
    });
    let stock_delta = body.stock_delta.map(|d| {
        v.check(
            "stock_delta",
            if d.abs() <= cy_domain::product::MAX_STOCK { Ok(d) } else { Err(Error::bad_request("is out of range")) },
        )
    });
    let status = v.check("status", wanted_status(body.status.as_deref(), settings.product_moderation));
    let options = body.options.map(|drafts| check_options(&mut v, drafts));
    v.finish()?;
    let Some(version) = version.flatten() else {
        return Err(Error::invalid("version", "is required: send the version you edited (or If-Match)").into());
    };
    if version != before.version {
        return Err(Error::conflict(
            ErrorCode::VersionConflict,
            "The product changed since it was read; reload and retry.",
        )
        .into());
    }
    if before.status == ProductStatus::Archived {
        return Err(Error::conflict(ErrorCode::InvalidTransition, "An archived product cannot be edited.").into());
    }
    let mut after = before.clone();
    if let Some(Some(t)) = title {
        after.title = t;
    }
    if let Some(Some(d)) = description {
        after.description = d;
    }
    if let Some(Some(c)) = category {
        require_category(&catalog, &c).await?;
        after.category_id = c;
    }
    if let Some(Some(p)) = price {
        after.base_price = p;
    }
    if let Some(Some(i)) = images {
        after.images = i;
    }
    if let Some(Some(o)) = options {
        after.options = o;
    }
    after.seller_name = seller.name.as_str().to_owned();
    let edited = after != before;
    after.status = match status.flatten() {
        Some(s) => s,
        // A listed product that changed goes back through review when the platform moderates.
        None if edited
            && matches!(
                before.status,
                ProductStatus::Active | ProductStatus::Rejected | ProductStatus::PendingReview
            ) =>
        {
            if before.status == ProductStatus::Active && !settings.product_moderation {
                ProductStatus::Active
            } else {
                ProductStatus::on_submit(settings.product_moderation)
            }
        }
        None => before.status,
    };
    let stock_delta = stock_delta.flatten().unwrap_or(0);
    after.version = before.version + 1;
    after.updated_at = Timestamp::now();
    after.stock = before.stock + stock_delta;
    records::save_product(catalog.store.as_ref(), &before, &after, stock_delta, Vec::new()).await?;
    // Stock may have moved by orders meanwhile: answer with what is stored.
    let stored = records::get_product(catalog.store.as_ref(), &after.id).await?.unwrap_or(after);
    Ok(Json(stored))
}

/// Archives (unlists) a product of the seller's.
#[utoipa::path(delete, path = "/seller/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id")),
    responses((status = 204, description = "Archived"), (status = 403, description = "Another seller's product", body = ErrorBody)))]
pub(super) async fn archive_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let before = owned_product(&catalog, &caller, &id).await?;
    if before.status == ProductStatus::Archived {
        return Ok(StatusCode::NO_CONTENT);
    }
    let mut after = before.clone();
    after.status = ProductStatus::Archived;
    after.version += 1;
    after.updated_at = Timestamp::now();
    records::save_product(catalog.store.as_ref(), &before, &after, 0, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageUploadBody {
    content_type: String,
    size: u64,
}

/// A presigned URL to upload an image of a product of the seller's.
#[utoipa::path(post, path = "/seller/products/{id}/images", tag = "catalog", request_body = ImageUploadBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id")),
    responses((status = 201, description = "Where and how to PUT the image", body = UploadTicket)))]
pub(super) async fn product_image_upload(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ImageUploadBody>,
) -> ApiResult<(StatusCode, Json<UploadTicket>)> {
    let product = owned_product(&catalog, &caller, &id).await?;
    let plan = plan_product_image(&product.id, &body.content_type, body.size)?;
    Ok((StatusCode::CREATED, Json(catalog.files.upload_ticket(&plan).await?)))
}
