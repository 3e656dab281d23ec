//! The seller's balance and payouts, and the admins' payouts (served by function `sellers`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use cy_data::Store;
use cy_data::payouts::{self as records, Payout, PayoutStatus};
use cy_domain::{Error, Money, OrderId, PayoutId, Role, Timestamp};
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, Listed, Paging, Query, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// These operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(balance, my_payouts, my_payout, admin_payouts, resolve_payout))]
pub struct Api;

#[derive(Clone)]
pub struct Payouts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    /// Asked before an admin's `failed` is taken: a transfer the provider shows was made.
    pub gateway: Arc<dyn cy_payouts::PayoutGateway>,
}

impl FromRef<Payouts> for Arc<JwtKeys> {
    fn from_ref(p: &Payouts) -> Arc<JwtKeys> {
        p.keys.clone()
    }
}

pub fn router(payouts: Payouts) -> Router {
    routes(payouts).into_router()
}

pub fn routes(payouts: Payouts) -> Routes {
    let sellers = route!(Routes::new(), balance, my_payouts, my_payout)
        .route_layer(require_roles(payouts.keys.clone(), &[Role::Seller]));
    let admins = route!(Routes::new(), admin_payouts, resolve_payout)
        .route_layer(require_roles(payouts.keys.clone(), &[Role::Admin]));
    sellers.merge(admins).with_state(payouts)
}

#[derive(Serialize, utoipa::ToSchema)]
struct BalanceView {
    /// Earnings of fulfilments not yet completed.
    pending: Money,
    /// Completed and not yet paid out (below zero when a refund came after a payout: the next
    /// payout nets it).
    available: Money,
    /// In a payout being sent or waiting for an admin.
    processing: Money,
    paid_out: Money,
}

/// The caller's balance (in their earnings' currency; zero in INR before any).
#[utoipa::path(get, path = "/seller/balance", tag = "sellers", security(("bearer" = [])),
    responses((status = 200, description = "The balance", body = BalanceView)))]
async fn balance(State(p): State<Payouts>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    let balances = records::balances(p.store.as_ref(), &caller.user_id).await?;
    let views: Vec<BalanceView> = balances
        .iter()
        .map(|(currency, b)| {
            let m = |amount| Money { amount, currency: *currency };
            BalanceView {
                pending: m(b.pending),
                available: m(b.available),
                processing: m(b.processing),
                paid_out: m(b.paid_out),
            }
        })
        .collect();
    let first = match views.first() {
        Some(v) => json!(v),
        None => {
            let zero = Money::zero(cy_domain::Currency::parse("INR")?);
            json!(BalanceView { pending: zero, available: zero, processing: zero, paid_out: zero })
        }
    };
    let mut answer = first;
    if views.len() > 1 {
        answer["balances"] = json!(views);
    }
    Ok(Json(answer))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PayoutLine {
    order_id: String,
    amount: Money,
    commission: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PayoutView {
    id: String,
    seller_id: String,
    period: String,
    amount: Money,
    commission: Money,
    /// `processing`, `paid`, `unresolved` or `failed`.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_reference: Option<String>,
    provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<Vec<PayoutLine>>,
}

impl From<&Payout> for PayoutView {
    fn from(p: &Payout) -> Self {
        PayoutView {
            id: p.id.to_string(),
            seller_id: p.seller_id.to_string(),
            period: p.period.clone(),
            amount: p.amount,
            commission: Money { amount: p.commission, currency: p.amount.currency },
            status: p.status.as_str().to_owned(),
            provider_reference: p.provider_reference.clone(),
            provider: p.provider.clone(),
            note: p.note.clone(),
            created_at: p.claimed_at,
            updated_at: p.updated_at,
            lines: None,
        }
    }
}

/// The caller's payouts, newest first, each with its lines.
#[utoipa::path(get, path = "/seller/payouts", tag = "sellers", params(Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of payouts", body = Listed<PayoutView>)))]
async fn my_payouts(
    State(p): State<Payouts>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<PayoutView>>> {
    let (items, next) =
        records::of_seller(p.store.as_ref(), &caller.user_id, paging.limit()?, paging.cursor()?).await?;
    let mut views = Vec::with_capacity(items.len());
    for payout in &items {
        views.push(with_lines(p.store.as_ref(), payout).await?);
    }
    Ok(Json(Listed::new(views, next)))
}

/// The payout with what it paid per order (its covered ledger range, read page by page).
async fn with_lines(store: &dyn Store, payout: &Payout) -> Result<PayoutView, Error> {
    let mut by_order: BTreeMap<OrderId, (i64, i64)> = BTreeMap::new();
    records::entries_between(store, &payout.seller_id, payout.from.as_deref(), &payout.through, |e| {
        if e.currency == payout.amount.currency && (e.available != 0 || e.commission != 0) {
            let line = by_order.entry(e.order_id).or_default();
            line.0 += e.available;
            line.1 += e.commission;
        }
    })
    .await?;
    let currency = payout.amount.currency;
    let mut view = PayoutView::from(payout);
    view.lines = Some(
        by_order
            .into_iter()
            .map(|(order, (amount, commission))| PayoutLine {
                order_id: order.to_string(),
                amount: Money { amount, currency },
                commission: Money { amount: commission, currency },
            })
            .collect(),
    );
    Ok(view)
}

/// One of the caller's payouts, with what it paid per order.
#[utoipa::path(get, path = "/seller/payouts/{id}", tag = "sellers", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payout id")),
    responses((status = 200, description = "The payout and its lines", body = PayoutView),
        (status = 404, description = "No such payout of the caller's", body = ErrorBody)))]
async fn my_payout(State(p): State<Payouts>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<PayoutView>> {
    let id = PayoutId::parse(&id)?;
    let payout = records::get(p.store.as_ref(), &id)
        .await?
        .filter(|p| p.seller_id == caller.user_id)
        .ok_or_else(|| Error::not_found("The payout"))?;
    Ok(Json(with_lines(p.store.as_ref(), &payout).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AdminPayoutParams {
    /// `unresolved` (the default), `processing`, `paid` or `failed`.
    status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

fn parse_status(raw: &str) -> Result<PayoutStatus, Error> {
    match raw {
        "processing" => Ok(PayoutStatus::Processing),
        "paid" => Ok(PayoutStatus::Paid),
        "failed" => Ok(PayoutStatus::Failed),
        "unresolved" => Ok(PayoutStatus::Unresolved),
        _ => Err(Error::invalid("status", "must be processing, paid, failed or unresolved")),
    }
}

/// Payouts by status, oldest first (admins).
#[utoipa::path(get, path = "/admin/payouts", tag = "admin", params(AdminPayoutParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of payouts", body = Listed<PayoutView>)))]
async fn admin_payouts(
    State(p): State<Payouts>,
    Query(params): Query<AdminPayoutParams>,
) -> ApiResult<Json<Listed<PayoutView>>> {
    let status = params.status.as_deref().map(parse_status).transpose()?.unwrap_or(PayoutStatus::Unresolved);
    let paging = Paging { limit: params.limit, cursor: params.cursor };
    let (items, next) = records::by_status(p.store.as_ref(), status, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items.iter().map(PayoutView::from).collect(), next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `paid` (the provider shows the transfer) or `failed` (it does not: the earnings go back
    /// to the seller's available balance for the next run).
    outcome: String,
    #[schema(min_length = 1, max_length = 500)]
    note: String,
}

/// An admin decides an unresolved payout (audited; the seller is told). `failed` only when the
/// provider shows no transfer for it.
#[utoipa::path(post, path = "/admin/payouts/{id}/resolve", tag = "admin", request_body = ResolveBody,
    params(("id" = String, Path, description = "The payout id")), security(("bearer" = [])),
    responses((status = 200, description = "The payout", body = PayoutView),
        (status = 404, description = "No such payout", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: not unresolved", body = ErrorBody)))]
async fn resolve_payout(
    State(p): State<Payouts>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ResolveBody>,
) -> ApiResult<Json<PayoutView>> {
    let outcome = match body.outcome.as_str() {
        "paid" => PayoutStatus::Paid,
        "failed" => PayoutStatus::Failed,
        _ => return Err(Error::invalid("outcome", "must be paid or failed").into()),
    };
    let note = cy_domain::BoundedText::<1, 500>::parse(&body.note).map_err(|e| Error::invalid("note", e.message))?;
    let id = PayoutId::parse(&id)?;
    let before = records::get(p.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The payout"))?;
    let not_open =
        || Error::conflict(cy_domain::ErrorCode::InvalidTransition, "Only an unresolved payout is decided by hand.");
    if before.status != PayoutStatus::Unresolved {
        return Err(not_open().into());
    }
    // `failed` gives the earnings back to the next run, under a new payout id: only if the
    // provider shows no transfer for this one (else the seller would be paid twice).
    if outcome == PayoutStatus::Failed {
        match p.gateway.find(id.as_str()).await {
            Ok(None) => {}
            Ok(Some(reference)) => {
                return Err(Error::conflict(
                    cy_domain::ErrorCode::InvalidTransition,
                    format!("The provider shows a transfer for this payout ({reference}): resolve it as paid."),
                )
                .into());
            }
            Err(e) => {
                tracing::warn!(payout = %id, error = %e, "the payout provider could not be asked");
                return Err(Error::unavailable(30).into());
            }
        }
    }
    let mut after = before.clone();
    after.status = outcome;
    after.note = Some(note.as_str().to_owned());
    after.resolved_by = Some(caller.user_id.clone());
    after.updated_at = Timestamp::now();
    after.version += 1;
    let audit = cy_data::audit::AuditRecord::new(
        Some(&caller.user_id),
        "payout.resolved",
        id.as_str(),
        json!({"outcome": body.outcome, "note": note.as_str(), "amount": before.amount}),
    );
    let mut also = vec![audit.write()?];
    also.extend(super::payout_event(&after).transpose()?);
    if !records::settle(p.store.as_ref(), &before, &after, None, also).await? {
        return Err(not_open().into());
    }
    Ok(Json(PayoutView::from(&after)))
}
