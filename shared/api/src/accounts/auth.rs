//! Function `auth`: register, sign in, refresh, sign out.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cy_domain::error::Validator;
use cy_domain::{Email, Error, Password, PersonName, Phone, Role, SignupRole, User};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::parse_json;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ClientIp, ErrorBody, Json, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::accounts::service::{Accounts, Registration, TokenPair};
use crate::idempotency::{canonical_body, idempotency_key};

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(register, login, refresh, logout))]
pub struct Api;

pub fn router(accounts: Accounts) -> Router {
    routes(accounts).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(accounts: Accounts) -> Routes {
    let signed_in = route!(Routes::new(), logout).route_layer(require_roles(accounts.keys.clone(), SIGNED_IN));
    route!(Routes::new(), register, login, refresh).merge(signed_in).with_state(accounts)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// `customer` or `seller` (admins are made by admins).
    #[schema(pattern = "^(customer|seller)$")]
    role: String,
    /// E.164, e.g. `+919876543210`.
    #[serde(default)]
    phone: Option<String>,
}

impl RegisterBody {
    fn parse(self) -> Result<Registration, Error> {
        let mut v = Validator::new();
        let email = v.check("email", Email::parse(&self.email));
        let password = v.check("password", Password::parse(&self.password));
        let name = v.check("name", PersonName::parse(&self.name));
        let role = v.check(
            "role",
            match self.role.as_str() {
                "customer" => Ok(SignupRole::Customer),
                "seller" => Ok(SignupRole::Seller),
                _ => Err(Error::bad_request("must be customer or seller")),
            },
        );
        let phone = match self.phone {
            Some(raw) => v.check("phone", Phone::parse(&raw)).map(Some),
            None => Some(None),
        };
        v.finish()?;
        match (email, password, name, role, phone) {
            (Some(email), Some(password), Some(name), Some(role), Some(phone)) => {
                Ok(Registration { email, password, name, role: Role::from(role), phone })
            }
            _ => Err(Error::internal()),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct UserSummary {
    id: String,
    email: String,
    name: String,
    role: Role,
}

#[derive(Serialize, ToSchema)]
struct Registered {
    user: UserSummary,
    #[serde(flatten)]
    tokens: TokenPair,
}

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = RegisterBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "Registered and signed in", body = Registered),
        (status = 409, description = "`already_exists`: the email has an account; `idempotency_key_reused`", body = ErrorBody)))]
async fn register(
    State(accounts): State<Accounts>,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // The body holds a password: it is compared by a keyed MAC, never by its plain hash.
    let canonical = canonical_body(&raw)?;
    let body: RegisterBody = parse_json(&canonical)?;
    let key = accounts.registration_key(idempotency_key(&headers)?, &canonical)?;
    let answer = |user: &User, tokens: &TokenPair| {
        let user = UserSummary {
            id: user.id.to_string(),
            email: user.email.to_string(),
            name: user.name.as_str().to_owned(),
            role: user.role,
        };
        serde_json::to_value(Registered { user, tokens: tokens.clone() }).unwrap_or_default()
    };
    Ok((StatusCode::CREATED, Json(accounts.register(body.parse()?, key.as_ref(), answer).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 1)]
    password: String,
}

/// The longest password a sign-in reads: longer ones cannot match (registration caps at 128
/// characters) and would only make us hash megabytes.
const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

/// Signs in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Unknown email or wrong password (the same answer)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: ten attempts for this email from this client, or a hundred from all, in 15 minutes; see `Retry-After`", body = ErrorBody)))]
async fn login(
    State(accounts): State<Accounts>,
    ClientIp(client): ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<TokenPair>> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(&body.email));
    if body.password.is_empty() || body.password.len() > MAX_LOGIN_PASSWORD_BYTES {
        v.check::<()>("password", Err(Error::bad_request("must be your password")));
    }
    v.finish()?;
    let email = email.ok_or_else(Error::internal)?;
    Ok(Json(accounts.login(&email, &body.password, &client).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair (the old one is spent; a spent one revokes its login).
#[utoipa::path(post, path = "/auth/refresh", tag = "accounts", request_body = RefreshBody,
    responses((status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, expired or spent refresh token", body = ErrorBody)))]
async fn refresh(State(accounts): State<Accounts>, Json(body): Json<RefreshBody>) -> ApiResult<Json<TokenPair>> {
    Ok(Json(accounts.refresh(&body.refresh_token).await?))
}

/// Ends the login the refresh token belongs to.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts", request_body = RefreshBody, security(("bearer" = [])),
    responses((status = 204, description = "Signed out (also when already signed out)")))]
async fn logout(
    State(accounts): State<Accounts>,
    caller: Caller,
    Json(body): Json<RefreshBody>,
) -> ApiResult<StatusCode> {
    accounts.logout(&caller.user_id, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
