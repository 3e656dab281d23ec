//! Function `orders`: place an order (from a signed quote or from items priced now), follow it,
//! move it through its lifecycle. Placing never oversells and never creates two orders for one
//! checkout: stock, the order and its idempotency claim commit in one transaction.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::orders::{self as records, Committed, OrderChange, OrderEntry, PlaceRefused};
use cy_data::payments::{self as payment_records, PaymentFlag};
use cy_data::{Store, accounts};
use cy_domain::order::{Actor, Order, OrderLine, OrderStatus, RESERVATION_SECS, TimelineEntry, Tracking, check_move};
use cy_domain::payment::PaymentProvider;
use cy_domain::settlement::{RefundAsk, may_cancel_with_refund, plan_refund};
use cy_domain::{Address, AddressId, Error, ErrorCode, Money, OrderId, Role, Timestamp};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::parse_json;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, Listed, Paging, Query, require_roles};
use cy_payments::{PaymentError, PaymentGateway, PaymentIntent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::idempotency::{Keyed, canonical_json, idempotency_key, key_reused};
use crate::payments::Payments;

pub mod cart;
use crate::pricing::SignedQuote;
use crate::pricing::{QuoteBody, QuoteItem, Quoting};

#[derive(Clone)]
pub struct Orders {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub quoting: Quoting,
    pub payments: Arc<dyn PaymentGateway>,
}

impl FromRef<Orders> for Arc<JwtKeys> {
    fn from_ref(o: &Orders) -> Arc<JwtKeys> {
        o.keys.clone()
    }
}

/// This function's operations (the cart's are `cart::Api`), for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    place,
    my_orders,
    one_order,
    order_timeline,
    cancel,
    change_status,
    seller_orders,
    refund_lines,
    payment_flags
))]
pub struct Api;

pub fn router(orders: Orders) -> Router {
    routes(orders).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(orders: Orders) -> Routes {
    let customers = route!(Routes::new(), place).route_layer(require_roles(orders.keys.clone(), &[Role::Customer]));
    let cancellers =
        route!(Routes::new(), cancel).route_layer(require_roles(orders.keys.clone(), &[Role::Customer, Role::Admin]));
    let admins = route!(Routes::new(), refund_lines, payment_flags)
        .route_layer(require_roles(orders.keys.clone(), &[Role::Admin]));
    let movers = route!(Routes::new(), change_status)
        .route_layer(require_roles(orders.keys.clone(), &[Role::Seller, Role::Admin]));
    let sellers = route!(Routes::new(), seller_orders).route_layer(require_roles(orders.keys.clone(), &[Role::Seller]));
    let readers = route!(Routes::new(), my_orders, one_order, order_timeline)
        .route_layer(require_roles(orders.keys.clone(), SIGNED_IN));
    // `/orders` has GET for everyone signed in and POST for customers: merge by method.
    readers.merge(customers).merge(cancellers).merge(admins).merge(movers).merge(sellers).with_state(orders)
}

/// `POST /orders`: `quote_token` or `items`, an address, a provider.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlaceBody {
    /// From `POST /quotes`: the order is charged exactly the quote (else give `items`).
    quote_token: Option<String>,
    items: Option<Vec<QuoteItem>>,
    coupon: Option<String>,
    #[schema(value_type = cy_domain::AddressId)]
    address_id: String,
    #[schema(value_type = cy_domain::payment::PaymentProvider)]
    payment_provider: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Placed {
    order: Order,
    payment: PaymentIntent,
}

impl Orders {
    fn payments(&self) -> Payments {
        Payments { store: self.store.clone(), gateway: self.payments.clone() }
    }

    /// Asks for a refund of `order` and sends it to the provider. The refund is recorded
    /// (with a "due" entry) before the provider is asked, so an outage or a crash cannot lose
    /// it: the sweep sends it later with the same idempotency key. A cancellation already
    /// waiting for its refund is sent again rather than asked twice. With an Idempotency-Key,
    /// its claim is written in the same transaction as the refund.
    async fn refund(
        &self,
        order: Order,
        ask: RefundAsk,
        reason: &str,
        actor: Actor,
        caller: &Caller,
        keyed: Option<&Keyed>,
    ) -> Result<Order, Error> {
        let payments = self.payments();
        let pending = order.payment.as_ref().is_some_and(|p| p.cancellation_pending());
        let recorded = if ask == RefundAsk::Everything && pending {
            order
        } else {
            let now = Timestamp::now();
            let (payment, _) = plan_refund(&order, &ask, reason, actor, Some(&caller.user_id), now)?;
            let mut after = order.clone();
            after.payment = Some(payment);
            let change = OrderChange {
                after,
                actor,
                actor_id: Some(caller.user_id.clone()),
                note: Some(reason.to_owned()),
                before_ops: Keyed::claims(keyed, &caller.user_id, order.id.as_str(), now)?,
                after_ops: vec![],
            };
            match payment_records::request_refund(self.store.as_ref(), &order, change).await? {
                Committed::Done(order) => *order,
                Committed::Moved => return Err(records::moved_meanwhile()),
                // The key's claim (op 0), committed by a request that ran alongside this one.
                Committed::OtherOp(0) => {
                    let Some(keyed) = keyed else { return Err(Error::internal()) };
                    let earlier = keyed.earlier(self.store.as_ref(), &caller.user_id).await?;
                    return self.replay_refund(&earlier.ok_or_else(Error::internal)?, &order.id).await;
                }
                Committed::OutOfStock(_) | Committed::OtherOp(_) => return Err(Error::internal()),
            }
        };
        payments.send_refunds(&recorded).await;
        records::get_order(self.store.as_ref(), &recorded.id).await?.ok_or_else(Error::internal)
    }

    /// A refund request repeated with its Idempotency-Key (`created`: the order the first one
    /// refunded): answers the order as it is now, its refunds still due sent again under their
    /// own keys; the key used on another order is 409.
    async fn replay_refund(&self, created: &str, order_id: &OrderId) -> Result<Order, Error> {
        if created != order_id.as_str() {
            return Err(key_reused());
        }
        let order = records::get_order(self.store.as_ref(), order_id).await?.ok_or_else(Error::internal)?;
        if self.payments().send_refunds(&order).await == 0 {
            return Ok(order);
        }
        records::get_order(self.store.as_ref(), order_id).await?.ok_or_else(Error::internal)
    }

    /// Calls off (`to`: cancelled or refunded) an order whose money was collected: a refund of
    /// everything left, the order moving when the provider confirms it. The customer may do this
    /// before processing starts, an admin any time before completion.
    async fn call_off_with_refund(
        &self,
        order: Order,
        to: OrderStatus,
        reason: &str,
        actor: Actor,
        caller: &Caller,
    ) -> Result<Order, Error> {
        if !may_cancel_with_refund(order.status, actor) {
            check_move(order.status, to, actor)?;
            return Err(Error::conflict(ErrorCode::InvalidTransition, "This order can no longer be called off."));
        }
        self.refund(order, RefundAsk::Everything, reason, actor, caller, None).await
    }

    /// The sealed quote an order is placed from: the client's token (verified, theirs, bound to
    /// an address) or a quote made now from items, through the very same pricing.
    /// Also returns the delivery address when the quote was made now (read in its batch).
    async fn quote_for(&self, caller: &Caller, body: &PlaceBody) -> Result<(SignedQuote, Option<Address>), Error> {
        match (&body.quote_token, &body.items) {
            (Some(token), None) => {
                if body.coupon.is_some() {
                    return Err(Error::invalid("coupon", "is part of the quote; ask for a new quote to change it"));
                }
                let quote = self.quoting.signer.verify(token, Timestamp::now())?;
                if quote.customer_id != caller.user_id {
                    return Err(Error::invalid("quote_token", "was issued to someone else"));
                }
                // Tax depends on the destination: a quote is only as good as the address it priced.
                if quote.address_id.as_deref() != Some(body.address_id.as_str()) {
                    return Err(Error::invalid(
                        "address_id",
                        "must be the address the quote was made for (quote with address_id)",
                    ));
                }
                Ok((quote, None))
            }
            (None, Some(items)) => {
                let parsed =
                    QuoteBody::new(items.clone(), body.coupon.clone(), Some(body.address_id.clone())).parse()?;
                let (quote, _, address) = self.quoting.quote(caller, parsed).await?;
                Ok((quote, address))
            }
            _ => Err(Error::invalid("quote_token", "send either quote_token or items")),
        }
    }

    async fn place(
        &self,
        caller: &Caller,
        body: PlaceBody,
        request_sha256: String,
        key: Option<String>,
    ) -> Result<(StatusCode, Placed), Error> {
        let provider = PaymentProvider::parse(&body.payment_provider)
            .map_err(|e| Error::invalid("payment_provider", e.message))?;
        let address_id = AddressId::parse(&body.address_id)
            .map_err(|_| Error::invalid("address_id", "is not one of your addresses"))?;
        let (quote, address) = self.quote_for(caller, &body).await?;
        let address = match address {
            Some(address) => address,
            None => accounts::get_address(self.store.as_ref(), &caller.user_id, &address_id)
                .await?
                .ok_or_else(|| Error::invalid("address_id", "is not one of your addresses"))?,
        };
        // Without an explicit key, one quote still makes at most one order.
        let key = key.unwrap_or_else(|| format!("quote:{}", quote.quote_id));
        let now = Timestamp::now();
        let order = Order {
            id: OrderId::generate(),
            customer_id: caller.user_id.clone(),
            status: OrderStatus::PendingPayment,
            lines: quote.lines.clone(),
            subtotal: quote.subtotal,
            discount: quote.discount,
            shipping: quote.shipping,
            tax: quote.tax,
            total: quote.total,
            address,
            payment_provider: provider,
            quote_id: Some(quote.quote_id.clone()),
            tracking: None,
            payment: None,
            reserved_until: now.plus_secs(RESERVATION_SECS),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let order = match records::place_order(self.store.as_ref(), &order, Some((&key, &request_sha256))).await? {
            Ok(()) => order,
            Err(PlaceRefused::OutOfStock(product)) => {
                return Err(Error::conflict(
                    ErrorCode::OutOfStock,
                    "A product does not have enough stock for this order.",
                )
                .with_detail("product_id", product.as_str()));
            }
            Err(PlaceRefused::KeyUsed { order_id, same_request: true }) => {
                // A retry of a request that already made its order: answer as the first time.
                records::get_order(self.store.as_ref(), &order_id).await?.ok_or_else(Error::internal)?
            }
            Err(PlaceRefused::KeyUsed { same_request: false, .. }) => return Err(key_reused()),
        };
        if order.payment.is_none() && order.status != OrderStatus::PendingPayment {
            // A retry of a request whose payment the provider refused to open: its order was
            // cancelled then, and no payment may be opened for it now.
            return Err(Error::conflict(
                ErrorCode::InvalidTransition,
                "This order was cancelled: the payment provider refused to open its payment.",
            )
            .with_detail("order_id", order.id.as_str()));
        }
        let payment = match (&order.payment, order.payment_provider) {
            // Razorpay orders take no idempotency key: a replay answers the one recorded.
            (Some(recorded), PaymentProvider::Razorpay) => recorded_intent(&order, &recorded.reference),
            // Stripe and PayPal creations are idempotent per order (their idempotency keys),
            // so a replay gets the same payment back, with its client secret or approval link.
            _ => match self.payments.create_payment(order.payment_provider, &order.id, order.total).await {
                Ok(payment) => payment,
                Err(declined @ PaymentError::Declined { .. }) => return Err(self.call_off(&order, declined).await),
                Err(e) => {
                    tracing::warn!(order_id = %order.id, error = %e, "creating the payment failed; the client may retry with the same key");
                    return Err(Error::unavailable(2).with_detail("order_id", order.id.as_str()));
                }
            },
        };
        // Which order the provider's reference belongs to, so its webhooks find it.
        let order = payment_records::record_payment_reference(self.store.as_ref(), &order, &payment.reference).await?;
        // Two first attempts at once (a double submit with one key) may each have opened a
        // Razorpay order; only the recorded one is found by webhooks, so every answer names it —
        // never an orphan the customer could pay but we would not recognise.
        let payment = match &order.payment {
            Some(recorded) if recorded.reference != payment.reference => recorded_intent(&order, &recorded.reference),
            _ => payment,
        };
        Ok((StatusCode::CREATED, Placed { order, payment }))
    }

    /// The provider will never take this order's payment (an amount under its minimum, a
    /// currency it does not take): the order is cancelled at once, giving its stock back now
    /// rather than when its reservation ends, and the answer is the provider's refusal (409).
    async fn call_off(&self, order: &Order, declined: PaymentError) -> Error {
        tracing::warn!(order_id = %order.id, error = %declined, "the provider refused to open the payment; cancelling the order");
        if order.status == OrderStatus::PendingPayment {
            let note = format!("the payment could not be opened: {declined}");
            let moved = records::move_order(
                self.store.as_ref(),
                order,
                OrderStatus::Cancelled,
                Actor::System,
                None,
                Some(note),
                None,
            )
            .await;
            if let Err(e) = moved {
                // The reservation sweep cancels it when its time is up.
                tracing::warn!(order_id = %order.id, error = %e, "cancelling the order failed");
            }
        }
        Error::from(declined).with_detail("order_id", order.id.as_str())
    }
}

/// The payment already recorded for an order, answered without asking the provider again
/// (Razorpay's checkout needs only its order id).
fn recorded_intent(order: &Order, reference: &str) -> PaymentIntent {
    PaymentIntent {
        provider: order.payment_provider,
        reference: reference.to_owned(),
        amount: order.total,
        client_secret: None,
        redirect_url: None,
    }
}

/// Places an order from a `quote_token` (charged exactly the quote) or `items`: stock is
/// reserved and the payment opened in one step. Without `Idempotency-Key` the quote id is the key.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The order and how to pay", body = Placed),
        (status = 409, description = "`out_of_stock`, `idempotency_key_reused`, or the provider refused the payment", body = ErrorBody)))]
async fn place(
    State(orders): State<Orders>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Placed>)> {
    let key = idempotency_key(&headers)?;
    let (canonical, request_sha256) = canonical_json(&raw)?;
    let body: PlaceBody = parse_json(&canonical)?;
    let (status, placed) = orders.place(&caller, body, request_sha256, key).await?;
    Ok((status, Json(placed)))
}

/// What a caller may see of an order: all of it for its customer and admins; for a seller,
/// their own lines with figures summed over those lines.
fn view_for(order: Order, caller: &Caller) -> Result<Order, Error> {
    if caller.role == Role::Admin || order.customer_id == caller.user_id {
        return Ok(order);
    }
    let mut view = order;
    view.lines.retain(|l| l.seller_id == caller.user_id);
    let currency = view.total.currency;
    let sum = |f: fn(&OrderLine) -> Money| -> Result<Money, Error> {
        view.lines.iter().try_fold(Money::zero(currency), |acc, l| acc.checked_add(f(l)))
    };
    let (subtotal, discount, tax) = (sum(|l| l.line_total)?, sum(|l| l.discount)?, sum(|l| l.tax)?);
    view.subtotal = subtotal;
    view.discount = discount;
    view.tax = tax;
    view.shipping = Money::zero(currency);
    // The payment covers the whole order, other sellers' lines included.
    view.payment = None;
    view.total = subtotal.checked_sub(discount)?.checked_add(tax)?;
    Ok(view)
}

/// Loads an order for a reader: 404 for anyone who may not see it (not even its existence).
async fn readable(orders: &Orders, caller: &Caller, id: &str) -> Result<Order, Error> {
    let id = OrderId::parse(id)?;
    let order = records::get_order(orders.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The order"))?;
    if records::may_read(&order, &caller.user_id, caller.role == Role::Admin) {
        Ok(order)
    } else {
        Err(Error::not_found("The order"))
    }
}

/// One order the caller may see (its customer, a seller of its lines, admins).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "The order", body = Order), (status = 404, description = "No such order of the caller's", body = ErrorBody)))]
async fn one_order(State(orders): State<Orders>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Order>> {
    let order = readable(&orders, &caller, &id).await?;
    Ok(Json(view_for(order, &caller)?))
}

/// The order's status changes, oldest first.
#[utoipa::path(get, path = "/orders/{id}/timeline", tag = "orders", params(("id" = String, Path, description = "The order id"), cy_http::Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of the timeline", body = Listed<TimelineEntry>)))]
async fn order_timeline(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<TimelineEntry>>> {
    let order = readable(&orders, &caller, &id).await?;
    let (entries, next) =
        records::timeline(orders.store.as_ref(), &order.id, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(entries, next)))
}

/// The caller's orders, newest first: a customer's own, a seller's holding their lines, every
/// order for admins (which may lag a moment behind a change).
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
    /// Only orders in this status.
    status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

/// Orders holding the seller's lines, newest first.
#[utoipa::path(get, path = "/seller/orders", tag = "orders", params(OrdersParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of orders", body = Listed<OrderEntry>)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    #[schema(value_type = cy_domain::order::OrderStatus)]
    status: String,
    tracking: Option<Tracking>,
    note: Option<String>,
}

/// Moves an order along its lifecycle (sellers: processing, shipped with tracking, delivered; admins more).
#[utoipa::path(put, path = "/orders/{id}/status", tag = "orders", request_body = StatusBody, params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "The order moved", body = Order),
        (status = 202, description = "A paid order called off by an admin: refunding, it moves on the provider's confirmation", body = Order),
        (status = 409, description = "`invalid_transition`", body = ErrorBody)))]
async fn change_status(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let to = OrderStatus::parse(&body.status).map_err(|e| Error::invalid("status", e.message))?;
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(Error::invalid("note", "must be at most 500 characters").into());
    }
    let order = readable(&orders, &caller, &id).await?;
    let actor = if caller.role == Role::Admin { Actor::Admin } else { Actor::Seller };
    // A seller moves only orders holding their lines (readable() let customers through too).
    if actor == Actor::Seller && !order.lines.iter().any(|l| l.seller_id == caller.user_id) {
        return Err(Error::not_found("The order").into());
    }
    let collected = order.payment.as_ref().is_some_and(|p| p.captured.is_some());
    // Calling off (or refunding) an order whose money was collected is a refund: the order
    // moves when the provider confirms it.
    if collected && matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded) && actor == Actor::Admin {
        let reason = body.note.unwrap_or_else(|| "cancelled by an admin".to_owned());
        let order = orders.call_off_with_refund(order, to, &reason, actor, &caller).await?;
        return Ok((StatusCode::ACCEPTED, Json(order)));
    }
    check_move(order.status, to, actor)?;
    if to == OrderStatus::Refunded && !collected {
        return Err(
            Error::conflict(ErrorCode::InvalidTransition, "Nothing was paid, so nothing can be refunded.").into()
        );
    }
    if order.payment.as_ref().is_some_and(|p| p.cancellation_pending()) {
        return Err(Error::conflict(
            ErrorCode::InvalidTransition,
            "The order is being cancelled; it moves when its refund is confirmed.",
        )
        .into());
    }
    if to == OrderStatus::Shipped && body.tracking.is_none() {
        return Err(Error::invalid("tracking", "is required to mark an order shipped").into());
    }
    let moved =
        records::move_order(orders.store.as_ref(), &order, to, actor, Some(&caller.user_id), body.note, body.tracking)
            .await?
            .ok_or_else(records::moved_meanwhile)?;
    Ok((StatusCode::OK, Json(view_for(moved, &caller)?)))
}

#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = String, Path, description = "The order id")), security(("bearer" = [])),
    responses((status = 200, description = "Cancelled; its stock is back", body = Order),
        (status = 202, description = "Paid: refunding; it moves to `refunded` on the provider's confirmation", body = Order),
        (status = 409, description = "`invalid_transition`: too late to cancel", body = ErrorBody)))]
/// `POST /orders/{id}/cancel`: an unpaid order is cancelled at once (its stock released); a
/// paid one is refunded (202): it moves to `refunded` when the provider confirms, and its stock
/// comes back then. The customer may do this before processing starts, an admin any time
/// before completion. Asking again while the refund is pending sends the same refund again.
async fn cancel(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let order = readable(&orders, &caller, &id).await?;
    let actor = if caller.role == Role::Admin { Actor::Admin } else { Actor::Customer };
    if actor == Actor::Customer && order.customer_id != caller.user_id {
        return Err(Error::not_found("The order").into());
    }
    let collected = order.payment.as_ref().is_some_and(|p| p.captured.is_some());
    let reason = if actor == Actor::Admin { "cancelled by an admin" } else { "cancelled by the customer" };
    if collected && order.status != OrderStatus::Refunded {
        let order = orders.call_off_with_refund(order, OrderStatus::Cancelled, reason, actor, &caller).await?;
        return Ok((StatusCode::ACCEPTED, Json(order)));
    }
    check_move(order.status, OrderStatus::Cancelled, actor)?;
    let note = Some(reason.to_owned());
    let moved = records::move_order(
        orders.store.as_ref(),
        &order,
        OrderStatus::Cancelled,
        actor,
        Some(&caller.user_id),
        note,
        None,
    )
    .await?
    .ok_or_else(records::moved_meanwhile)?;
    // No money came: the provider must not take any later either.
    orders.payments().close_payment(&moved).await;
    Ok((StatusCode::OK, Json(moved)))
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
    reason: Option<String>,
}

#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "admin", request_body = RefundLinesBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The order id"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 202, description = "The refund is asked for; it counts on the provider's confirmation", body = Order),
        (status = 409, description = "Nothing left to refund, or `idempotency_key_reused`", body = ErrorBody)))]
/// `POST /orders/{id}/refunds` (admin): refunds units of some lines — each line's price less
/// its discount share plus its tax, pro rata; the order's status does not change. With an
/// `Idempotency-Key`, a repeated request (a double click, a retry) never refunds twice.
async fn refund_lines(
    State(orders): State<Orders>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw)?;
    let body: RefundLinesBody = parse_json(&canonical)?;
    let reason = body.reason.unwrap_or_else(|| "partial refund by an admin".to_owned());
    if reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "must be at most 500 characters").into());
    }
    let order = readable(&orders, &caller, &id).await?;
    if let Some(keyed) = &keyed
        && let Some(created) = keyed.earlier(orders.store.as_ref(), &caller.user_id).await?
    {
        return Ok((StatusCode::ACCEPTED, Json(orders.replay_refund(&created, &order.id).await?)));
    }
    if !may_cancel_with_refund(order.status, Actor::Admin) {
        return Err(Error::conflict(ErrorCode::InvalidTransition, "This order can no longer be refunded.").into());
    }
    let ask = RefundAsk::Lines(body.lines.iter().map(|l| (l.line, l.quantity)).collect());
    let order = orders.refund(order, ask, &reason, Actor::Admin, &caller, keyed.as_ref()).await?;
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
