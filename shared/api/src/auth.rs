//! Function `auth`: register, sign in, refresh, sign out.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use cy_domain::error::Validator;
use cy_domain::{Email, Error, Password, PersonName, Phone, Role, SignupRole};
use cy_http::auth::SIGNED_IN;
use cy_http::{ApiResult, Caller, Json, require_roles};
use serde::{Deserialize, Serialize};

use crate::accounts::{Accounts, Registration, TokenPair};

pub fn router(accounts: Accounts) -> Router {
    let signed_in =
        Router::new().route("/auth/logout", post(logout)).route_layer(require_roles(accounts.keys.clone(), SIGNED_IN));
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .merge(signed_in)
        .with_state(accounts)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    name: String,
    role: String,
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

#[derive(Serialize)]
struct UserSummary {
    id: String,
    email: String,
    name: String,
    role: Role,
}

#[derive(Serialize)]
struct Registered {
    user: UserSummary,
    #[serde(flatten)]
    tokens: TokenPair,
}

async fn register(
    State(accounts): State<Accounts>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let (user, tokens) = accounts.register(body.parse()?).await?;
    let user = UserSummary {
        id: user.id.to_string(),
        email: user.email.to_string(),
        name: user.name.as_str().to_owned(),
        role: user.role,
    };
    Ok((StatusCode::CREATED, Json(Registered { user, tokens })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

/// The longest password a sign-in reads: longer ones cannot match (registration caps at 128
/// characters) and would only make us hash megabytes.
const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

async fn login(State(accounts): State<Accounts>, Json(body): Json<LoginBody>) -> ApiResult<Json<TokenPair>> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(&body.email));
    if body.password.is_empty() || body.password.len() > MAX_LOGIN_PASSWORD_BYTES {
        v.check::<()>("password", Err(Error::bad_request("must be your password")));
    }
    v.finish()?;
    let email = email.ok_or_else(Error::internal)?;
    Ok(Json(accounts.login(&email, &body.password).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(State(accounts): State<Accounts>, Json(body): Json<RefreshBody>) -> ApiResult<Json<TokenPair>> {
    Ok(Json(accounts.refresh(&body.refresh_token).await?))
}

async fn logout(
    State(accounts): State<Accounts>,
    caller: Caller,
    Json(body): Json<RefreshBody>,
) -> ApiResult<StatusCode> {
    accounts.logout(&caller.user_id, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
