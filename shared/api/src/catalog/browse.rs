//! Browsing active products, a product page, the category tree: anyone.

use axum::extract::{Path, State};
use cy_data::SortKey;
use cy_data::catalog::{self as records, Browse, CategoryRecord, ProductCard};
use cy_data::keys::{ListingOrder, ListingScope, price_sort_value};
use cy_domain::error::Validator;
use cy_domain::product::{CategoryId, Product, ProductStatus};
use cy_domain::{Currency, Error, Money, ProductId, Role, UserId};
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Query};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct BrowseParams {
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
pub(super) enum Sort {
    Newest,
    Oldest,
    PriceAsc,
    PriceDesc,
}

/// Active products, filtered, sorted and paged.
#[utoipa::path(get, path = "/products", tag = "catalog", params(BrowseParams),
    responses((status = 200, description = "A page of product cards", body = Listed<ProductCard>)))]
pub(super) async fn browse(
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
pub(super) struct ProductPage {
    #[serde(flatten)]
    product: Product,
    seller: SellerSummary,
    /// Reviews are not built yet: no average, no count.
    #[schema(value_type = Object)]
    rating: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SellerSummary {
    id: UserId,
    name: String,
}

/// One product with its options (only active ones are public; their seller and admins see all).
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = String, Path, description = "The product id")),
    responses((status = 200, description = "The product page", body = ProductPage),
        (status = 404, description = "No such (public) product", body = ErrorBody)))]
pub(super) async fn product_page(
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
pub(super) struct CategoryNode {
    id: CategoryId,
    name: String,
    #[schema(no_recursion)]
    children: Vec<CategoryNode>,
}

/// `GET /categories`: the tree, top level first.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CategoryTree {
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
pub(super) async fn category_tree(State(catalog): State<Catalog>) -> ApiResult<Json<serde_json::Value>> {
    let all = records::categories(catalog.store.as_ref()).await?;
    Ok(Json(json!({ "items": tree(&all, None) })))
}
