//! Function `users`: the caller's profile and address book.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_domain::account::{AddressLine, Locality, PostalCode};
use cy_domain::error::Validator;
use cy_domain::{
    Address, AddressDraft, AddressId, AddressPatch, CountryCode, Email, Error, PersonName, Phone, Role, Timestamp, User,
};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::{double_option, expected_version, parse_json};
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Paging, Query, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use cy_http::route;
use cy_http::routes::Routes;

use crate::accounts::service::{Accounts, ProfileChange};
use crate::idempotency::Keyed;

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(me, change_me, list_addresses, add_address, change_address, remove_address))]
pub struct Api;

pub fn router(accounts: Accounts) -> Router {
    routes(accounts).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(accounts: Accounts) -> Routes {
    route!(Routes::new(), me, change_me, list_addresses, add_address, change_address, remove_address)
        .route_layer(require_roles(accounts.keys.clone(), SIGNED_IN))
        .with_state(accounts)
}

/// The profile as the contract shows it (no password hash, no internal counters).
#[derive(Serialize, utoipa::ToSchema)]
struct Profile {
    id: String,
    email: String,
    name: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    email_verified: bool,
    phone_verified: bool,
    created_at: Timestamp,
    version: u64,
}

impl From<User> for Profile {
    fn from(u: User) -> Self {
        Profile {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name.as_str().to_owned(),
            role: u.role,
            phone: u.phone.map(|p| p.as_str().to_owned()),
            email_verified: u.email_verified,
            phone_verified: u.phone_verified,
            created_at: u.created_at,
            version: u.version,
        }
    }
}

/// The caller's profile.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The profile", body = Profile)))]
async fn me(State(accounts): State<Accounts>, caller: Caller) -> ApiResult<Json<Profile>> {
    Ok(Json(accounts.profile(&caller.user_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfilePatchBody {
    name: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    phone: Option<Option<String>>,
    version: Option<u64>,
}

/// Changes name, email or phone (`version` or `If-Match`: a stale one is 409).
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = ProfilePatchBody, security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "The version read, instead of `version`")),
    responses((status = 200, description = "The changed profile", body = Profile),
        (status = 409, description = "`version_conflict` or `already_exists` (email taken)", body = ErrorBody)))]
async fn change_me(
    State(accounts): State<Accounts>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ProfilePatchBody>,
) -> ApiResult<Json<Profile>> {
    let mut v = Validator::new();
    let name = body.name.map(|n| v.check("name", PersonName::parse(&n)));
    let email = body.email.map(|e| v.check("email", Email::parse(&e)));
    let phone = body.phone.map(|p| p.map(|p| v.check("phone", Phone::parse(&p))));
    let version = v.check("version", expected_version(&headers, body.version));
    v.finish()?;
    let change = ProfileChange { name: name.flatten(), email: email.flatten(), phone: phone.map(Option::flatten) };
    let user = accounts.change_profile(&caller.user_id, change, version.flatten()).await?;
    Ok(Json(user.into()))
}

/// The caller's address book.
#[utoipa::path(get, path = "/me/addresses", tag = "accounts", params(Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of addresses", body = Listed<Address>)))]
async fn list_addresses(
    State(accounts): State<Accounts>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<Address>>> {
    let (items, next) = accounts.addresses(&caller.user_id, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items, next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[schema(min_length = 1, max_length = 200)]
    line1: String,
    #[schema(max_length = 200)]
    line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    city: String,
    #[schema(max_length = 100)]
    state: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    postal_code: String,
    #[schema(value_type = cy_domain::CountryCode)]
    country: String,
    /// E.164, e.g. `+919876543210`.
    phone: Option<String>,
}

fn optional<T>(
    v: &mut Validator,
    field: &str,
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<T, Error>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) if raw.trim().is_empty() => Some(None),
        Some(raw) => v.check(field, parse(&raw)).map(Some),
    }
}

impl AddressBody {
    fn parse(self) -> Result<AddressDraft, Error> {
        let mut v = Validator::new();
        let name = v.check("name", PersonName::parse(&self.name));
        let line1 = v.check("line1", AddressLine::parse(&self.line1));
        let line2 = optional(&mut v, "line2", self.line2, AddressLine::parse);
        let city = v.check("city", Locality::parse(&self.city));
        let state = optional(&mut v, "state", self.state, Locality::parse);
        let postal_code = v.check("postal_code", PostalCode::parse(&self.postal_code));
        let country = v.check("country", CountryCode::parse(&self.country));
        let phone = optional(&mut v, "phone", self.phone, Phone::parse);
        v.finish()?;
        match (name, line1, line2, city, state, postal_code, country, phone) {
            (
                Some(name),
                Some(line1),
                Some(line2),
                Some(city),
                Some(state),
                Some(postal_code),
                Some(country),
                Some(phone),
            ) => Ok(AddressDraft { name, line1, line2, city, state, postal_code, country, phone }),
            _ => Err(Error::internal()),
        }
    }
}

#[utoipa::path(post, path = "/me/addresses", tag = "accounts", request_body = AddressBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The address added", body = Address),
        (status = 409, description = "`idempotency_key_reused`", body = ErrorBody)))]
/// `POST /me/addresses`; honours `Idempotency-Key`.
async fn add_address(
    State(accounts): State<Accounts>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Address>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, cy_data::idempotency::Scope::Address)?;
    let body: AddressBody = parse_json(&canonical)?;
    let address = accounts.add_address(&caller.user_id, body.parse()?, keyed.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(address)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressPatchBody {
    name: Option<String>,
    line1: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    line2: Option<Option<String>>,
    city: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    state: Option<Option<String>>,
    postal_code: Option<String>,
    country: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    phone: Option<Option<String>>,
    version: Option<u64>,
}

impl AddressPatchBody {
    fn parse(self, v: &mut Validator) -> AddressPatch {
        fn required<T>(
            v: &mut Validator,
            field: &str,
            raw: Option<String>,
            parse: impl Fn(&str) -> Result<T, Error>,
        ) -> Option<T> {
            raw.and_then(|raw| v.check(field, parse(&raw)))
        }
        fn clearable<T>(
            v: &mut Validator,
            field: &str,
            raw: Option<Option<String>>,
            parse: impl Fn(&str) -> Result<T, Error>,
        ) -> Option<Option<T>> {
            raw.and_then(|inner| optional(v, field, inner, &parse))
        }
        AddressPatch {
            name: required(v, "name", self.name, PersonName::parse),
            line1: required(v, "line1", self.line1, AddressLine::parse),
            line2: clearable(v, "line2", self.line2, AddressLine::parse),
            city: required(v, "city", self.city, Locality::parse),
            state: clearable(v, "state", self.state, Locality::parse),
            postal_code: required(v, "postal_code", self.postal_code, PostalCode::parse),
            country: required(v, "country", self.country, CountryCode::parse),
            phone: clearable(v, "phone", self.phone, Phone::parse),
        }
    }
}

/// Changes an address of the caller's (`version` or `If-Match`).
#[utoipa::path(patch, path = "/me/addresses/{id}", tag = "accounts", request_body = AddressPatchBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "The address id"),
        ("If-Match" = Option<String>, Header, description = "The version read, instead of `version`")),
    responses((status = 200, description = "The changed address", body = Address),
        (status = 404, description = "No such address of the caller's", body = ErrorBody),
        (status = 409, description = "`version_conflict`", body = ErrorBody)))]
async fn change_address(
    State(accounts): State<Accounts>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AddressPatchBody>,
) -> ApiResult<Json<Address>> {
    let id = AddressId::parse(&id)?;
    let mut v = Validator::new();
    let body_version = body.version;
    let patch = body.parse(&mut v);
    let version = v.check("version", expected_version(&headers, body_version));
    v.finish()?;
    Ok(Json(accounts.change_address(&caller.user_id, &id, patch, version.flatten()).await?))
}

/// Removes an address of the caller's.
#[utoipa::path(delete, path = "/me/addresses/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The address id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such address", body = ErrorBody)))]
async fn remove_address(
    State(accounts): State<Accounts>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    accounts.remove_address(&caller.user_id, &AddressId::parse(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
