//! Function `sellers`' routes: the seller's shop and verification, and the admins' review and
//! commission rates.

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::HeaderMap;
use cy_domain::error::Validator;
use cy_domain::seller::{AccountNumber, CommissionRates, IdNumber, IdType, Ifsc, KycStatus, ShopDescription, ShopName};
use cy_domain::{Error, PersonName, Role};
use cy_http::extract::expected_version;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, Listed, Query, require_roles};
use serde::Deserialize;
use std::sync::Arc;

use super::{KycSubmission, KycView, PayoutAccount, SellerView, Sellers, ShopChange, StripeAccount};

/// These operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_profile,
    put_profile,
    get_kyc,
    submit_kyc,
    review_queue,
    approve_seller,
    reject_seller,
    get_commission,
    put_commission
))]
pub struct Api;

impl FromRef<Sellers> for Arc<JwtKeys> {
    fn from_ref(s: &Sellers) -> Arc<JwtKeys> {
        s.keys.clone()
    }
}

pub fn router(sellers: Sellers) -> Router {
    routes(sellers).into_router()
}

pub fn routes(sellers: Sellers) -> Routes {
    let own = route!(Routes::new(), get_profile, put_profile, get_kyc, submit_kyc)
        .route_layer(require_roles(sellers.keys.clone(), &[Role::Seller]));
    let admins = route!(Routes::new(), review_queue, approve_seller, reject_seller, get_commission, put_commission)
        .route_layer(require_roles(sellers.keys.clone(), &[Role::Admin]));
    own.merge(admins).with_state(sellers)
}

/// The caller's shop, payout account (masked) and verification.
#[utoipa::path(get, path = "/seller/profile", tag = "sellers", security(("bearer" = [])),
    responses((status = 200, description = "The shop", body = SellerView)))]
async fn get_profile(State(sellers): State<Sellers>, caller: Caller) -> ApiResult<Json<SellerView>> {
    Ok(Json(sellers.profile(&caller.user_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PayoutAccountBody {
    holder_name: String,
    /// Digits only; stored encrypted, answered masked.
    account_number: String,
    ifsc: String,
    /// The Stripe connected account (`acct_…`) payouts go to, where Stripe pays sellers.
    stripe_account_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[schema(min_length = 1, max_length = 100)]
    shop_name: String,
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// An https URL of the shop's logo.
    logo: Option<String>,
    /// Omitted: the account stays as it is.
    payout_account: Option<PayoutAccountBody>,
    version: Option<u64>,
}

/// Sets the shop (and, when given, the payout account). `version` or `If-Match`: a stale one
/// is 409.
#[utoipa::path(put, path = "/seller/profile", tag = "sellers", request_body = ProfileBody, security(("bearer" = [])),
    responses((status = 200, description = "The shop", body = SellerView),
        (status = 409, description = "`version_conflict`", body = ErrorBody)))]
async fn put_profile(
    State(sellers): State<Sellers>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ProfileBody>,
) -> ApiResult<Json<SellerView>> {
    let mut v = Validator::new();
    let shop_name = v.check("shop_name", ShopName::parse(&body.shop_name));
    let description = body.description.map(|d| v.check("description", ShopDescription::parse(&d)));
    let logo = body.logo.map(|l| v.check("logo", cy_domain::link::HttpsUrl::parse(&l)));
    let account = body.payout_account.map(|a| {
        let holder = v.check("payout_account.holder_name", PersonName::parse(&a.holder_name));
        let number = v.check("payout_account.account_number", AccountNumber::parse(&a.account_number));
        let ifsc = v.check("payout_account.ifsc", Ifsc::parse(&a.ifsc));
        let stripe = a.stripe_account_id.map(|s| v.check("payout_account.stripe_account_id", StripeAccount::parse(&s)));
        (holder, number, ifsc, stripe)
    });
    let version = v.check("version", expected_version(&headers, body.version));
    v.finish()?;
    let (Some(shop_name), Some(version)) = (shop_name, version) else { return Err(Error::internal().into()) };
    let payout_account = match account {
        Some((Some(holder_name), Some(account_number), Some(ifsc), stripe)) => {
            Some(PayoutAccount { holder_name, account_number, ifsc, stripe_account: stripe.flatten() })
        }
        Some(_) => return Err(Error::internal().into()),
        None => None,
    };
    let change = ShopChange { shop_name, description: description.flatten(), logo: logo.flatten(), payout_account };
    Ok(Json(sellers.change_profile(&caller.user_id, change, version).await?))
}

/// The caller's verification.
#[utoipa::path(get, path = "/seller/kyc", tag = "sellers", security(("bearer" = [])),
    responses((status = 200, description = "The verification", body = KycView)))]
async fn get_kyc(State(sellers): State<Sellers>, caller: Caller) -> ApiResult<Json<KycView>> {
    Ok(Json(KycView::from(&sellers.record(&caller.user_id).await?.kyc)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KycBody {
    /// Object keys of files uploaded with purpose `kyc_document` (1–5).
    documents: Vec<String>,
    id_type: IdType,
    /// Stored encrypted, answered masked.
    id_number: String,
}

/// Submits (or, after a rejection, resubmits) the verification; it waits for an admin.
#[utoipa::path(post, path = "/seller/kyc", tag = "sellers", request_body = KycBody, security(("bearer" = [])),
    responses((status = 200, description = "The verification, pending", body = KycView),
        (status = 409, description = "`invalid_transition`: pending or approved already", body = ErrorBody)))]
async fn submit_kyc(
    State(sellers): State<Sellers>,
    caller: Caller,
    Json(body): Json<KycBody>,
) -> ApiResult<Json<KycView>> {
    let id_number = IdNumber::parse(body.id_type, &body.id_number)?;
    let submission = KycSubmission { documents: body.documents, id_type: body.id_type, id_number };
    Ok(Json(sellers.submit_kyc(&caller.user_id, submission).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReviewParams {
    /// `pending` (the default), `approved`, `rejected` or `not_submitted` (sellers who saved a
    /// shop but never submitted).
    kyc_status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

/// Sellers by verification status, oldest first (admins).
#[utoipa::path(get, path = "/admin/sellers", tag = "admin", params(ReviewParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of sellers", body = Listed<SellerView>)))]
async fn review_queue(
    State(sellers): State<Sellers>,
    Query(params): Query<ReviewParams>,
) -> ApiResult<Json<Listed<SellerView>>> {
    let status = params.kyc_status.as_deref().map(KycStatus::parse).transpose()?.unwrap_or(KycStatus::Pending);
    let paging = cy_http::Paging { limit: params.limit, cursor: params.cursor };
    let (items, next) = sellers.list_by_kyc(status, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items, next)))
}

/// Approves a pending verification (audited; the seller is told).
#[utoipa::path(post, path = "/admin/sellers/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The seller's user id")),
    responses((status = 200, description = "The seller", body = SellerView),
        (status = 404, description = "No such seller", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: nothing pending", body = ErrorBody)))]
async fn approve_seller(
    State(sellers): State<Sellers>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SellerView>> {
    Ok(Json(sellers.decide_kyc(&caller.user_id, &id, true, None).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Rejects a pending verification with a reason the seller reads (audited; the seller is told).
#[utoipa::path(post, path = "/admin/sellers/{id}/reject", tag = "admin", request_body = RejectBody,
    params(("id" = String, Path, description = "The seller's user id")), security(("bearer" = [])),
    responses((status = 200, description = "The seller", body = SellerView),
        (status = 404, description = "No such seller", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: nothing pending", body = ErrorBody)))]
async fn reject_seller(
    State(sellers): State<Sellers>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RejectBody>,
) -> ApiResult<Json<SellerView>> {
    let reason =
        cy_domain::BoundedText::<1, 500>::parse(&body.reason).map_err(|e| Error::invalid("reason", e.message))?;
    Ok(Json(sellers.decide_kyc(&caller.user_id, &id, false, Some(reason.as_str().to_owned())).await?))
}

/// The commission rates (admins).
#[utoipa::path(get, path = "/admin/settings/commission", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The rates", body = CommissionRates)))]
async fn get_commission(State(sellers): State<Sellers>) -> ApiResult<Json<CommissionRates>> {
    Ok(Json(sellers.commission_rates().await?))
}

/// Replaces the commission rates, in basis points: a seller's beats their category's, which
/// beats the platform's. Audited. Orders keep the rate that applied when they were paid.
#[utoipa::path(put, path = "/admin/settings/commission", tag = "admin", request_body = CommissionRates,
    security(("bearer" = [])), responses((status = 200, description = "The rates", body = CommissionRates)))]
async fn put_commission(
    State(sellers): State<Sellers>,
    caller: Caller,
    Json(rates): Json<CommissionRates>,
) -> ApiResult<Json<CommissionRates>> {
    Ok(Json(sellers.set_commission_rates(&caller.user_id, rates).await?))
}
