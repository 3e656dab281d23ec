//! The HTTP side of function `orders`: each handler parses the request into domain values,
//! asks [`Orders`] and answers. What happens lives in `place`, `changes` and `views`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::idempotency::Scope;
use cy_data::orders::sweeps::{self, SetAside};
use cy_data::orders::{self as records, OrderEntry};
use cy_data::payments::{self as payment_records, PaymentFlag};
use cy_domain::order::{Actor, Order, OrderStatus, TimelineEntry, Tracking};
use cy_domain::settlement::{RefundAsk, may_refund_lines};
use cy_domain::text::BoundedText;
use cy_domain::{Error, ErrorCode, Role, UserId};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::parse_json;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Paging, Query, require_roles};
use serde::Deserialize;
use serde_json::Value;

use super::place::{PlaceBody, Placed};
use super::views::{as_seller, entry_for, view_for};
use super::{Orders, cart};
use crate::idempotency::{Keyed, canonical_json, idempotency_key, replay_earlier};

/// This function's operations (the cart's are `cart::Api`), for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    place,
    my_orders,
    one_order,
    order_timeline,
    cancel,
    change_status,
    request_return,
    seller_orders,
    refund_lines,
    payment_flags,
    set_aside
))]
pub struct Api;

pub fn router(orders: Orders) -> Router {
    routes(orders).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(orders: Orders) -> Routes {
    let customers =
        route!(Routes::new(), place, request_return).route_layer(require_roles(orders.keys.clone(), &[Role::Customer]));
    let cancellers =
        route!(Routes::new(), cancel).route_layer(require_roles(orders.keys.clone(), &[Role::Customer, Role::Admin]));
    let admins = route!(Routes::new(), refund_lines, payment_flags, set_aside)
        .route_layer(require_roles(orders.keys.clone(), &[Role::Admin]));
    let movers = route!(Routes::new(), change_status)
        .route_layer(require_roles(orders.keys.clone(), &[Role::Seller, Role::Admin]));
    let sellers = route!(Routes::new(), seller_orders).route_layer(require_roles(orders.keys.clone(), &[Role::Seller]));
    let readers = route!(Routes::new(), my_orders, one_order, order_timeline)
        .route_layer(require_roles(orders.keys.clone(), SIGNED_IN));
    // `/orders` has GET for everyone signed in and POST for customers: merge by method.
    readers.merge(customers).merge(cancellers).merge(admins).merge(movers).merge(sellers).with_state(orders)
}

/// The cart's routes too: the whole of function `orders`.
pub fn with_cart(orders: Orders) -> Router {
    router(orders.clone()).merge(cart::router(orders))
}

/// Places an order from a `quote_token` (charged exactly the quote) or `items`: stock is
/// reserved and the payment opened in one step. Without `Idempotency-Key` the quote id is the
/// key. A retry with the same key and body gets the first answer again, as it was.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The order and how to pay", body = Placed),
        (status = 409, description = "`out_of_stock`, `idempotency_key_reused`, `too_many_unpaid_orders`, `coupon_exhausted`, or the provider refused the payment", body = ErrorBody)))]
async fn place(
    State(orders): State<Orders>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = idempotency_key(&headers)?;
    let (canonical, request_sha256) = canonical_json(&raw)?;
    let body: PlaceBody = parse_json(&canonical)?;
    let answer = orders.place(&caller, body, request_sha256, key).await?;
    let status = StatusCode::from_u16(answer.status).map_err(|_| Error::internal())?;
    Ok((status, Json(answer.body)))
}

/// One order the caller may see: whole for its customer and admins; for a seller, their part.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "The order (a seller's part of it, for a seller)", body = Order), (status = 404, description = "No such order of the caller's", body = ErrorBody)))]
async fn one_order(State(orders): State<Orders>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Order>> {
    let order = orders.readable(&caller, &id).await?;
    Ok(Json(view_for(order, &caller)?))
}

/// The order's status changes, oldest first: the order's and each part's (a seller sees the
/// order's and their own part's only).
#[utoipa::path(get, path = "/orders/{id}/timeline", tag = "orders", params(("id" = String, Path, description = "The order id"), cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of the timeline", body = Listed<TimelineEntry>)))]
async fn order_timeline(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<TimelineEntry>>> {
    let order = orders.readable(&caller, &id).await?;
    let seller_view = as_seller(&order, &caller);
    let only_for = seller_view.then_some(&caller.user_id);
    let (entries, next) =
        records::timeline(orders.store.as_ref(), &order.id, only_for, paging.limit()?, paging.cursor()?).await?;
    let entries = entries.into_iter().map(|e| entry_for(e, seller_view)).collect();
    Ok(Json(Listed::new(entries, next)))
}

/// The caller's orders, newest first: a customer's own, a seller's parts, every order for
/// admins (which may lag a moment behind a change).
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrdersParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of orders", body = Listed<OrderEntry>)))]
async fn my_orders(
    State(orders): State<Orders>,
    caller: Caller,
    Query(params): Query<OrdersParams>,
) -> ApiResult<Json<Listed<OrderEntry>>> {
    let (status, limit, cursor) = params.parse()?;
    let store = orders.store.as_ref();
    let (entries, next) = match caller.role {
        Role::Admin => records::list_all_orders(store, status, limit, cursor).await?,
        role => records::list_orders(store, &caller.user_id, role == Role::Seller, status, limit, cursor).await?,
    };
    Ok(Json(Listed::new(entries, next)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OrdersParams {
    /// Only orders in this status (for a seller, their part's status).
    status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

impl OrdersParams {
    fn parse(self) -> Result<(Option<OrderStatus>, u32, Option<cy_data::Cursor>), Error> {
        let status = self
            .status
            .as_deref()
            .map(OrderStatus::parse)
            .transpose()
            .map_err(|e| Error::invalid("status", e.message))?;
        let paging = Paging { limit: self.limit, cursor: self.cursor };
        Ok((status, paging.limit()?, paging.cursor()?))
    }
}

/// The seller's parts of orders, newest first: their lines with the customisations, their
/// part's status and total.
#[utoipa::path(get, path = "/seller/orders", tag = "orders", params(OrdersParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of the seller's parts of orders", body = Listed<OrderEntry>)))]
async fn seller_orders(
    State(orders): State<Orders>,
    caller: Caller,
    Query(params): Query<OrdersParams>,
) -> ApiResult<Json<Listed<OrderEntry>>> {
    let (status, limit, cursor) = params.parse()?;
    let (entries, next) =
        records::list_orders(orders.store.as_ref(), &caller.user_id, true, status, limit, cursor).await?;
    Ok(Json(Listed::new(entries, next)))
}

type Note = BoundedText<1, 500>;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    #[schema(value_type = cy_domain::order::OrderStatus)]
    status: String,
    /// Whose part moves: needed from an admin when the order has several sellers.
    #[schema(value_type = Option<cy_domain::UserId>)]
    seller_id: Option<String>,
    tracking: Option<Tracking>,
    note: Option<Note>,
}

/// The part `caller` moves: a seller's own (404 if they have none in this order); for an admin
/// the one `seller_id` names, or the only one.
fn part_of(order: &Order, caller: &Caller, named: Option<&str>) -> Result<UserId, Error> {
    if caller.role != Role::Admin {
        return match order.fulfilment(&caller.user_id) {
            Some(part) if named.is_none_or(|n| n == part.seller_id.as_str()) => Ok(part.seller_id.clone()),
            _ => Err(Error::not_found("The order")),
        };
    }
    match named {
        Some(raw) => {
            let seller = UserId::parse(raw).map_err(|_| Error::invalid("seller_id", "is not a seller id"))?;
            order
                .fulfilment(&seller)
                .map(|p| p.seller_id.clone())
                .ok_or_else(|| Error::invalid("seller_id", "is not a seller of this order"))
        }
        None => match order.fulfilments.as_slice() {
            [only] => Ok(only.seller_id.clone()),
            parts => Err(Error::invalid(
                "seller_id",
                format!("name the seller whose part moves (this order has {} sellers)", parts.len()),
            )),
        },
    }
}

/// Moves one seller's part of an order (sellers: their own — processing, shipped with tracking,
/// delivered, a return accepted or refused, their part called off before it ships; admins: the
/// part `seller_id` names, and more). The order's status follows its least advanced part.
#[utoipa::path(put, path = "/orders/{id}/status", tag = "orders", request_body = StatusBody, params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "The part moved (a part called off or returned is refunded: its refund is on the order's payment)", body = Order),
        (status = 409, description = "`invalid_transition`, `version_conflict`", body = ErrorBody)))]
async fn change_status(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<Order>> {
    let to = OrderStatus::parse(&body.status).map_err(|e| Error::invalid("status", e.message))?;
    let order = orders.readable(&caller, &id).await?;
    let actor = if caller.role == Role::Admin { Actor::Admin } else { Actor::Seller };
    let seller = part_of(&order, &caller, body.seller_id.as_deref())?;
    let note = body.note.map(|n| n.as_str().to_owned());
    let moved = orders.move_part(&caller, order, &seller, to, actor, body.tracking, note).await?;
    Ok(Json(view_for(moved, &caller)?))
}

#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "Cancelled; its stock is back", body = Order),
        (status = 202, description = "Paid: refunding; it moves to `refunded` on the provider's confirmation", body = Order),
        (status = 409, description = "`invalid_transition`: too late to cancel", body = ErrorBody)))]
/// `POST /orders/{id}/cancel`: an unpaid order is cancelled at once (its stock released); a
/// paid one is refunded (202): it moves to `refunded` when the provider confirms, and its stock
/// comes back then. The customer may do this until any part is processing, an admin any time
/// before completion. Asking again while the refund is pending sends the same refund again.
async fn cancel(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let order = orders.readable(&caller, &id).await?;
    let actor = if caller.role == Role::Admin { Actor::Admin } else { Actor::Customer };
    if actor == Actor::Customer && order.customer_id != caller.user_id {
        return Err(Error::not_found("The order").into());
    }
    let (accepted, order) = orders.cancel(&caller, order, actor).await?;
    Ok((if accepted { StatusCode::ACCEPTED } else { StatusCode::OK }, Json(order)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    /// Whose part goes back.
    #[schema(value_type = cy_domain::UserId)]
    seller_id: String,
    reason: Note,
}

/// `POST /orders/{id}/returns`: the customer asks to return a delivered part while its return
/// window is open; its seller (or an admin) then accepts (`returned`: its lines are refunded,
/// its stock comes back) or refuses (back to `delivered`).
#[utoipa::path(post, path = "/orders/{id}/returns", tag = "orders", request_body = ReturnBody, params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 201, description = "The return is requested", body = Order),
        (status = 409, description = "`invalid_transition`: not delivered, or the return window has ended", body = ErrorBody)))]
async fn request_return(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ReturnBody>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let seller = UserId::parse(&body.seller_id).map_err(|_| Error::invalid("seller_id", "is not a seller id"))?;
    let order = orders.readable(&caller, &id).await?;
    if order.customer_id != caller.user_id {
        return Err(Error::not_found("The order").into());
    }
    let order = orders.request_return(&caller, order, &seller, body.reason.as_str().to_owned()).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundLine {
    line: usize,
    quantity: u32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundLinesBody {
    lines: Vec<RefundLine>,
    reason: Option<Note>,
}

#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "admin", request_body = RefundLinesBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The order id"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 202, description = "The refund is asked for; it counts on the provider's confirmation", body = Order),
        (status = 409, description = "Nothing left to refund, or `idempotency_key_reused`", body = ErrorBody)))]
/// `POST /orders/{id}/refunds` (admin): refunds units of some lines — each line's price less
/// its discount share plus its tax, pro rata; the order's status does not change. With an
/// `Idempotency-Key`, a repeated request (a double click, a retry) never refunds twice and gets
/// the first answer again.
async fn refund_lines(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, Scope::Refund)?;
    let body: RefundLinesBody = parse_json(&canonical)?;
    let reason = body.reason.map_or_else(|| "partial refund by an admin".to_owned(), |r| r.as_str().to_owned());
    let order = orders.readable(&caller, &id).await?;
    let order_id = order.id.clone();
    let replay = |created: String| {
        let (orders, order_id) = (&orders, &order_id);
        async move { orders.replay_refund(&created, order_id).await }
    };
    if let Some(earlier) = replay_earlier(keyed.as_ref(), orders.store.as_ref(), &caller.user_id, replay).await? {
        return Ok((StatusCode::ACCEPTED, Json(earlier)));
    }
    if !may_refund_lines(&order) {
        return Err(Error::conflict(ErrorCode::InvalidTransition, "This order can no longer be refunded.").into());
    }
    let ask = RefundAsk::Lines(body.lines.iter().map(|l| (l.line, l.quantity)).collect());
    let order = orders.refund(order, ask, &reason, Actor::Admin, &caller, keyed.as_ref()).await?;
    if let Some(keyed) = &keyed {
        keyed.keep_answer(orders.store.as_ref(), &caller.user_id, 202, &order).await?;
    }
    Ok((StatusCode::ACCEPTED, Json(order)))
}

#[utoipa::path(get, path = "/admin/payments/flags", tag = "admin", params(cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of flags, newest first", body = Listed<PaymentFlag>)))]
/// `GET /admin/payments/flags`: provider events refused (amount or currency mismatch, a
/// payment that is not ours), newest first.
async fn payment_flags(
    State(orders): State<Orders>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<PaymentFlag>>> {
    let (flags, next) =
        payment_records::payment_flags(orders.store.as_ref(), paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(flags, next)))
}

#[utoipa::path(get, path = "/admin/sweeps/set-aside", tag = "admin", params(cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of what the sweeps set aside", body = Listed<SetAside>)))]
/// `GET /admin/sweeps/set-aside`: orders and refunds a scheduled sweep kept failing on and set
/// aside (taken off its list) so that the rest kept moving: each with the sweep, the subject,
/// how often it failed and the last error. An admin looks at each; a later change of the
/// order puts it back on the sweep's list.
async fn set_aside(State(orders): State<Orders>, Query(paging): Query<Paging>) -> ApiResult<Json<Listed<SetAside>>> {
    let (records, next) = sweeps::list_set_aside(orders.store.as_ref(), paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(records, next)))
}
