//! Function `products`: public browsing, categories, sellers' product management, uploads.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::catalog::{self as records, Browse, CategoryRecord, PlatformSettings, ProductCard};
use cy_data::keys::{ListingOrder, ListingScope, price_sort_value};
use cy_data::{SortKey, Store};
use cy_domain::catalog::{OptionDraft, ProductOption, parse_options};
use cy_domain::error::Validator;
use cy_domain::product::{
    CategoryId, MAX_IMAGES, ObjectKey, Product, ProductDescription, ProductStatus, ProductTitle, parse_stock,
};
use cy_domain::uploads::{UploadPurpose, is_product_image, plan_product_image, plan_user_upload};
use cy_domain::{Currency, Error, ErrorCode, Money, ProductId, Role, Timestamp, UserId};
use cy_files::{FileStore, UploadTicket};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::{expected_version, parse_json};
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, Listed, Query, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use cy_http::route;
use cy_http::routes::Routes;

use crate::idempotency::{Keyed, create_once, key_reused, replay_earlier};

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    browse,
    product_page,
    category_tree,
    my_products,
    create_product,
    edit_product,
    archive_product,
    product_image_upload,
    upload,
    platform_settings,
    set_platform_settings,
    moderation_queue,
    approve_product,
    reject_product
))]
pub struct Api;

/// What the products routes need.
#[derive(Clone)]
pub struct Catalog {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub files: Arc<dyn FileStore>,
    /// The currency price filters and the price sort use when a client names none.
    pub default_currency: Currency,
}

impl FromRef<Catalog> for Arc<JwtKeys> {
    fn from_ref(c: &Catalog) -> Arc<JwtKeys> {
        c.keys.clone()
    }
}

pub fn router(catalog: Catalog) -> Router {
    routes(catalog).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(catalog: Catalog) -> Routes {
    let sellers =
        route!(Routes::new(), my_products, create_product, edit_product, archive_product, product_image_upload)
            .route_layer(require_roles(catalog.keys.clone(), &[Role::Seller]));
    let signed_in = route!(Routes::new(), upload).route_layer(require_roles(catalog.keys.clone(), SIGNED_IN));
    let admins = route!(
        Routes::new(),
        platform_settings,
        set_platform_settings,
        moderation_queue,
        approve_product,
        reject_product
    )
    .route_layer(require_roles(catalog.keys.clone(), &[Role::Admin]));
    route!(Routes::new(), browse, product_page, category_tree)
        .merge(sellers)
        .merge(signed_in)
        .merge(admins)
        .with_state(catalog)
}

/// The one place that decides whether a seller may list products. Until KYC exists sellers
/// are approved at registration; the platform's `kyc_required` switch turns the check on.
async fn approved_seller(catalog: &Catalog, caller: &Caller) -> Result<(cy_domain::User, PlatformSettings), Error> {
    let user = cy_data::accounts::get_user(catalog.store.as_ref(), &caller.user_id)
        .await?
        .ok_or_else(|| Error::forbidden("This account no longer exists."))?;
    if user.role != Role::Seller {
        return Err(Error::forbidden("Only sellers may manage products."));
    }
    let settings = records::platform_settings(catalog.store.as_ref()).await?;
    if settings.kyc_required {
        return Err(Error::forbidden("Complete seller verification (KYC) before listing products."));
    }
    Ok((user, settings))
}

// ---- public ------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BrowseParams {
    /// A category id; its subcategories are included.
    category: Option<String>,
    seller_id: Option<String>,
    /// Words the title or description contains.
    q: Option<String>,
    /// In minor units of `currency`.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_price: Option<String>,
    #[param(value_type = Option<i64>, minimum = 0)]
    max_price: Option<String>,
    /// The currency of the price filters and the price sort (default: the platform's).
    currency: Option<String>,
    #[param(pattern = "^(newest|oldest|price_asc|price_desc)$")]
    sort: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    Newest,
    Oldest,
    PriceAsc,
    PriceDesc,
}

/// Active products, filtered, sorted and paged.
#[utoipa::path(get, path = "/products", tag = "catalog", params(BrowseParams),
    responses((status = 200, description = "A page of product cards", body = Listed<ProductCard>)))]
async fn browse(
    State(catalog): State<Catalog>,
    Query(params): Query<BrowseParams>,
) -> ApiResult<Json<Listed<ProductCard>>> {
    let mut v = Validator::new();
    let paging = cy_http::Paging { limit: params.limit.clone(), cursor: params.cursor.clone() };
    let limit = v.check("limit", paging.limit());
    let cursor = v.check("cursor", paging.cursor());
    let category = params.category.as_deref().map(|c| v.check("category", CategoryId::parse(c)));
    let seller = params
        .seller_id
        .as_deref()
        .map(|s| v.check("seller_id", UserId::parse(s).map_err(|_| Error::bad_request("is not a seller id"))));
    let currency =
        v.check("currency", Currency::parse(params.currency.as_deref().unwrap_or(catalog.default_currency.code())));
    let amount = |raw: &Option<String>| {
        raw.as_deref().map(|r| {
            r.parse::<i64>()
                .ok()
                .filter(|n| (0..=cy_domain::money::MAX_AMOUNT).contains(n))
                .ok_or_else(|| Error::bad_request("must be an amount in minor units, like 129900"))
        })
    };
    let min_price = amount(&params.min_price).map(|r| v.check("min_price", r));
    let max_price = amount(&params.max_price).map(|r| v.check("max_price", r));
    let sort = v.check(
        "sort",
        match params.sort.as_deref().unwrap_or("newest") {
            "newest" => Ok(Sort::Newest),
            "oldest" => Ok(Sort::Oldest),
            "price_asc" => Ok(Sort::PriceAsc),
            "price_desc" => Ok(Sort::PriceDesc),
            _ => Err(Error::bad_request("must be newest, oldest, price_asc or price_desc")),
        },
    );
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        v.check::<()>("q", Err(Error::bad_request("must be at most 100 characters")));
    }
    v.finish()?;
    let (Some(limit), Some(cursor), Some(currency), Some(sort)) = (limit, cursor, currency, sort) else {
        return Err(Error::internal().into());
    };
    let (category, seller) = (category.flatten(), seller.flatten());
    let (min_price, max_price) = (min_price.flatten(), max_price.flatten());
    if let (Some(lo), Some(hi)) = (min_price, max_price)
        && lo > hi
    {
        return Err(Error::invalid("min_price", "must not exceed max_price").into());
    }

    let by_price = matches!(sort, Sort::PriceAsc | Sort::PriceDesc);
    let scope = category.as_ref().map_or(ListingScope::All, ListingScope::Category);
    // Price order: the currency and the price range are a key range, no filtering needed.
    let key_range = if by_price {
        let lo = Money::new(min_price.unwrap_or(0), currency)?;
        let hi = Money::new(max_price.unwrap_or(cy_domain::money::MAX_AMOUNT), currency)?;
        SortKey::Between(price_sort_value(lo), format!("{}#~", price_sort_value(hi)))
    } else {
        SortKey::Any
    };
    let price_filtered = !by_price && (min_price.is_some() || max_price.is_some());
    let filtering = seller.is_some() || params.q.as_deref().is_some_and(|q| !q.trim().is_empty()) || price_filtered;
    let keep = move |card: &ProductCard| {
        seller.as_ref().is_none_or(|s| &card.seller_id == s)
            && q.as_ref().is_none_or(|q| card.title.to_lowercase().contains(q.as_str()))
            && (!price_filtered
                || (card.base_price.currency == currency
                    && min_price.is_none_or(|lo| card.base_price.amount >= lo)
                    && max_price.is_none_or(|hi| card.base_price.amount <= hi)))
    };
    let (cards, next) = records::browse(
        catalog.store.as_ref(),
        Browse {
            scope,
            order: if by_price { ListingOrder::Price } else { ListingOrder::Newest },
            sort: key_range,
            descending: matches!(sort, Sort::Newest | Sort::PriceDesc),
            limit,
            cursor,
            keep: if filtering { Some(&keep) } else { None },
        },
    )
    .await?;
    Ok(Json(Listed::new(cards, next)))
}

/// The product page: the product with its options, and summaries of its seller and ratings.
#[derive(Serialize, utoipa::ToSchema)]
struct ProductPage {
    #[serde(flatten)]
    product: Product,
    seller: SellerSummary,
    /// Reviews are not built yet: no average, no count.
    #[schema(value_type = Object)]
    rating: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SellerSummary {
    id: UserId,
    name: String,
}

/// One product with its options (only active ones are public; their seller and admins see all).
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = String, Path, description = "The product id")),
    responses((status = 200, description = "The product page", body = ProductPage),
        (status = 404, description = "No such (public) product", body = ErrorBody)))]
async fn product_page(
    State(catalog): State<Catalog>,
    caller: Option<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductPage>> {
    let id = ProductId::parse(&id)?;
    let product =
        records::get_product(catalog.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The product"))?;
    // Only active products are public; their seller and admins see the others.
    let privileged = caller.is_some_and(|c| c.role == Role::Admin || c.user_id == product.seller_id);
    if product.status != ProductStatus::Active && !privileged {
        return Err(Error::not_found("The product").into());
    }
    let seller = SellerSummary { id: product.seller_id.clone(), name: product.seller_name.clone() };
    Ok(Json(ProductPage { product, seller, rating: json!({"average": null, "count": 0}) }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct CategoryNode {
    id: CategoryId,
    name: String,
    #[schema(no_recursion)]
    children: Vec<CategoryNode>,
}

/// `GET /categories`: the tree, top level first.
#[derive(Serialize, utoipa::ToSchema)]
struct CategoryTree {
    items: Vec<CategoryNode>,
}

fn tree(all: &[CategoryRecord], parent: Option<&CategoryId>) -> Vec<CategoryNode> {
    all.iter()
        .filter(|c| c.parent.as_ref() == parent)
        .map(|c| CategoryNode { id: c.slug.clone(), name: c.name.clone(), children: tree(all, Some(&c.slug)) })
        .collect()
}

/// The category tree.
#[utoipa::path(get, path = "/categories", tag = "catalog",
    responses((status = 200, description = "Every category, nested", body = CategoryTree)))]
async fn category_tree(State(catalog): State<Catalog>) -> ApiResult<Json<serde_json::Value>> {
    let all = records::categories(catalog.store.as_ref()).await?;
    Ok(Json(json!({ "items": tree(&all, None) })))
}

// ---- sellers -----------------------------------------------------------------------------

/// The seller's own products, every status.
#[utoipa::path(get, path = "/seller/products", tag = "catalog", params(cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of the seller's product cards", body = Listed<ProductCard>)))]
async fn my_products(
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
struct NewProductBody {
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

async fn require_category(catalog: &Catalog, id: &CategoryId) -> Result<(), Error> {
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
async fn create_product(
    State(catalog): State<Catalog>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw)?;
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
        |claims| async { records::create_product(store, &product, claims).await.map(|()| product.clone()) },
        replay,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The product an earlier request with the same key created (`created`), as it is now; 409
/// if the key was used to create something else.
async fn created_before(catalog: &Catalog, created: &str) -> Result<Product, Error> {
    let id = ProductId::parse(created).map_err(|_| key_reused())?;
    records::get_product(catalog.store.as_ref(), &id).await?.ok_or_else(Error::internal)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EditProductBody {
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
async fn owned_product(catalog: &Catalog, caller: &Caller, id: &str) -> Result<Product, Error> {
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
async fn edit_product(
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
async fn archive_product(
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
struct UploadBody {
    #[schema(value_type = cy_domain::uploads::UploadPurpose)]
    purpose: String,
    /// The file's MIME type (the purpose says which are accepted).
    content_type: String,
    /// The exact length in bytes, signed into the URL.
    #[schema(minimum = 1)]
    size: u64,
}

/// A presigned URL to upload a file (artwork for a customisation, …) straight to storage.
#[utoipa::path(post, path = "/uploads", tag = "catalog", request_body = UploadBody, security(("bearer" = [])),
    responses((status = 201, description = "Where and how to PUT the file", body = UploadTicket)))]
async fn upload(
    State(catalog): State<Catalog>,
    caller: Caller,
    Json(body): Json<UploadBody>,
) -> ApiResult<(StatusCode, Json<UploadTicket>)> {
    let purpose = UploadPurpose::parse(&body.purpose).map_err(|e| Error::invalid("purpose", e.message))?;
    let plan = plan_user_upload(&caller.user_id, purpose, &body.content_type, body.size)?;
    Ok((StatusCode::CREATED, Json(catalog.files.upload_ticket(&plan).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImageUploadBody {
    content_type: String,
    size: u64,
}

/// A presigned URL to upload an image of a product of the seller's.
#[utoipa::path(post, path = "/seller/products/{id}/images", tag = "catalog", request_body = ImageUploadBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The product id")),
    responses((status = 201, description = "Where and how to PUT the image", body = UploadTicket)))]
async fn product_image_upload(
    State(catalog): State<Catalog>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ImageUploadBody>,
) -> ApiResult<(StatusCode, Json<UploadTicket>)> {
    let product = owned_product(&catalog, &caller, &id).await?;
    let plan = plan_product_image(&product.id, &body.content_type, body.size)?;
    Ok((StatusCode::CREATED, Json(catalog.files.upload_ticket(&plan).await?)))
}

// ---- admins ------------------------------------------------------------------------------

/// The platform's switches (admins).
#[utoipa::path(get, path = "/admin/settings/platform", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = PlatformSettings)))]
async fn platform_settings(State(catalog): State<Catalog>) -> ApiResult<Json<PlatformSettings>> {
    Ok(Json(records::platform_settings(catalog.store.as_ref()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlatformSettingsBody {
    product_moderation: bool,
    kyc_required: bool,
}

#[utoipa::path(put, path = "/admin/settings/platform", tag = "admin", request_body = PlatformSettingsBody, security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = PlatformSettings)))]
/// Switches product moderation and the KYC requirement for sellers.
async fn set_platform_settings(
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
struct ModerationParams {
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
async fn moderation_queue(
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
enum Verdict {
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
async fn approve_product(
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
struct RejectBody {
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
async fn reject_product(
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
async fn review(
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
