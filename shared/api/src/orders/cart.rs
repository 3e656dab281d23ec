//! The cart (`/me/cart`), part of function `orders`: lines checked with the same rules as
//! quotes when they are put, shown at today's prices, each with its own problem if it can no
//! longer be bought as it is.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cy_data::cart::{self as records, CartLine};
use cy_data::catalog::get_products;
use cy_domain::catalog::{Quantity, price_unit};
use cy_domain::product::ProductStatus;
use cy_domain::uploads::{UploadPurpose, is_users_upload};
use cy_domain::{Error, Money, ProductId, Role, Timestamp, UserId};
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::orders::Orders;

/// The cart's operations, for the OpenAPI document (part of `orders::Api`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(view, put_line, remove_line))]
pub struct Api;

pub fn router(orders: Orders) -> Router {
    routes(orders).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(orders: Orders) -> Routes {
    route!(Routes::new(), view, put_line, remove_line)
        .route_layer(require_roles(orders.keys.clone(), &[Role::Customer]))
        .with_state(orders)
}

fn line_id(raw: &str) -> Result<String, Error> {
    let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(raw.to_owned()) } else { Err(Error::invalid("line_id", "must be 1 to 64 letters, digits, - or _")) }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LineBody {
    product_id: String,
    quantity: i64,
    /// Option id → value, as for quotes.
    #[serde(default)]
    #[schema(value_type = Object)]
    customizations: serde_json::Map<String, Value>,
}

/// A cart line as shown: priced now, or with the reason it cannot be bought as it is.
#[derive(Serialize, utoipa::ToSchema)]
struct LineView {
    #[serde(flatten)]
    line: CartLine,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_price: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_total: Option<Money>,
    /// Why the line cannot be bought as it is (the contract's error shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    problem: Option<Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CartView {
    items: Vec<LineView>,
    /// The sum of the lines that can be bought, when they share one currency.
    subtotal: Option<Money>,
}

fn owned_image(customer: &UserId) -> impl Fn(&str) -> bool + '_ {
    move |key: &str| is_users_upload(key, customer, UploadPurpose::Customization)
}

/// Puts a line in the cart (checked with the quote's rules), or replaces it.
#[utoipa::path(put, path = "/me/cart/items/{line_id}", tag = "orders", request_body = LineBody, params(("line_id" = String, Path, description = "The client's id of the line (1 to 64 letters, digits, - or _)")), security(("bearer" = [])),
    responses((status = 200, description = "The line as stored", body = CartLine),
        (status = 400, description = "`validation_failed`, naming the bad option", body = ErrorBody)))]
async fn put_line(
    State(orders): State<Orders>,
    caller: Caller,
    Path(raw_id): Path<String>,
    Json(body): Json<LineBody>,
) -> ApiResult<(StatusCode, Json<CartLine>)> {
    let id = line_id(&raw_id)?;
    let product_id =
        ProductId::parse(&body.product_id).map_err(|_| Error::invalid("product_id", "is not a product"))?;
    let quantity = Quantity::parse(body.quantity).map_err(|e| Error::invalid("quantity", e.message))?;
    let products = get_products(orders.store.as_ref(), std::slice::from_ref(&product_id)).await?;
    let product = products
        .first()
        .filter(|p| p.status == ProductStatus::Active)
        .ok_or_else(|| Error::invalid("product_id", "is not a product on sale"))?;
    let values: BTreeMap<String, Value> = body.customizations.clone().into_iter().collect();
    price_unit(product.base_price, &product.options, &values, &owned_image(&caller.user_id))?;
    let line = CartLine {
        line_id: id,
        product_id,
        quantity: u32::from(quantity),
        customizations: body.customizations,
        updated_at: Timestamp::now(),
    };
    records::put_line(orders.store.as_ref(), &caller.user_id, &line).await?;
    Ok((StatusCode::OK, Json(line)))
}

/// Removes a line from the cart.
#[utoipa::path(delete, path = "/me/cart/items/{line_id}", tag = "orders", params(("line_id" = String, Path, description = "The client's id of the line (1 to 64 letters, digits, - or _)")), security(("bearer" = [])),
    responses((status = 204, description = "Removed (also when it was not there)")))]
async fn remove_line(
    State(orders): State<Orders>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = line_id(&raw_id).map_err(|_| Error::not_found("The cart line"))?;
    records::remove_line(orders.store.as_ref(), &caller.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The cart at today's prices: one query for the lines, one batch read for their products.
/// The cart at today's prices, each line with its problem if it cannot be bought as it is.
#[utoipa::path(get, path = "/me/cart", tag = "orders", security(("bearer" = [])),
    responses((status = 200, description = "The cart", body = CartView)))]
async fn view(State(orders): State<Orders>, caller: Caller) -> ApiResult<Json<CartView>> {
    let lines = records::lines(orders.store.as_ref(), &caller.user_id).await?;
    let mut ids: Vec<ProductId> = lines.iter().map(|l| l.product_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let products = if ids.is_empty() { Vec::new() } else { get_products(orders.store.as_ref(), &ids).await? };
    let image_ok = owned_image(&caller.user_id);
    let mut subtotal: Option<Result<Money, Error>> = None;
    let mut items = Vec::with_capacity(lines.len());
    for line in lines {
        let product = products.iter().find(|p| p.id == line.product_id && p.status == ProductStatus::Active);
        let mut view = LineView {
            title: product.map(|p| p.title.as_str().to_owned()),
            line,
            unit_price: None,
            line_total: None,
            problem: None,
        };
        match product {
            None => view.problem = Some(Value::String("This product is no longer on sale.".into())),
            Some(p) => {
                let values: BTreeMap<String, Value> = view.line.customizations.clone().into_iter().collect();
                match price_unit(p.base_price, &p.options, &values, &image_ok)
                    .and_then(|u| u.unit.checked_mul(i64::from(view.line.quantity)).map(|total| (u.unit, total)))
                {
                    Ok((unit, total)) => {
                        view.unit_price = Some(unit);
                        view.line_total = Some(total);
                        subtotal = Some(match subtotal {
                            None => Ok(total),
                            Some(sum) => sum.and_then(|s| s.checked_add(total)),
                        });
                    }
                    Err(e) => view.problem = Some(e.to_body()["error"].clone()),
                }
            }
        }
        items.push(view);
    }
    Ok(Json(CartView { items, subtotal: subtotal.and_then(Result::ok) }))
}
