//! Who is calling: HS256 access tokens (15 minutes), verified on every request without a
//! database read, and role checks declared where routes are declared.
//!
//! Keys rotate without signing anyone out: tokens carry a `kid` (a fingerprint of the secret
//! that signed them), and `JWT_PREVIOUS_SECRET` keeps verifying tokens of the last secret for
//! their remaining minutes.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use cy_domain::{Error, Role, SessionId, Timestamp, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use tower::{Layer, Service};

use crate::error::ApiError;

/// How long an access token lives (contract: 15 minutes).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
const ISSUER: &str = "customiseyou";
const AUDIENCE: &str = "customiseyou-api";
/// The shortest secret we accept: HS256 needs at least 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub role: Role,
    /// The login this token belongs to.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: &[u8]) -> Self {
        let kid = hex::encode(&Sha256::digest(secret)[..8]);
        SigningKey { kid, encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }
}

/// The keys that sign and verify access tokens.
pub struct JwtKeys {
    current: SigningKey,
    previous: Option<SigningKey>,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8], previous: Option<&[u8]>) -> Result<Self, String> {
        for s in std::iter::once(secret).chain(previous) {
            if s.len() < MIN_SECRET_BYTES {
                return Err(format!("a JWT secret must be at least {MIN_SECRET_BYTES} bytes"));
            }
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Clocks of Lambda hosts agree to well within this.
        validation.leeway = 5;
        Ok(JwtKeys { current: SigningKey::new(secret), previous: previous.map(SigningKey::new), validation })
    }

    /// From `JWT_SECRET` (and optionally `JWT_PREVIOUS_SECRET`).
    pub fn from_env() -> Result<Self, String> {
        let secret = std::env::var("JWT_SECRET").map_err(|_| "JWT_SECRET is not set".to_owned())?;
        let previous = std::env::var("JWT_PREVIOUS_SECRET").ok().filter(|s| !s.is_empty());
        Self::new(secret.as_bytes(), previous.as_deref().map(str::as_bytes))
    }

    /// Signs an access token for a user's login, valid for [`ACCESS_TOKEN_TTL_SECS`].
    pub fn issue(&self, user: &UserId, role: Role, session: &SessionId, now: Timestamp) -> Result<String, Error> {
        let claims = Claims {
            sub: user.clone(),
            role,
            sid: session.clone(),
            iat: now.unix(),
            exp: now.unix() + ACCESS_TOKEN_TTL_SECS,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.current.encoding).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            Error::internal()
        })
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let invalid = || Error::unauthenticated("The access token is invalid or has expired.");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = match header.kid.as_deref() {
            Some(kid) if kid == self.current.kid => &self.current,
            Some(kid) => self.previous.as_ref().filter(|p| p.kid == kid).ok_or_else(invalid)?,
            None => return Err(invalid()),
        };
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())
    }
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
}

fn bearer(parts: &Parts) -> Result<&str, Error> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::unauthenticated("Sign in: this needs an Authorization: Bearer token."))?;
    let value = value.to_str().map_err(|_| Error::unauthenticated("The Authorization header is not valid."))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(Error::unauthenticated("The Authorization header must be `Bearer <access token>`.")),
    }
}

impl Caller {
    fn from_parts(parts: &Parts, keys: &JwtKeys) -> Result<Caller, Error> {
        let claims = keys.verify(bearer(parts)?)?;
        Ok(Caller { user_id: claims.sub, role: claims.role, session_id: claims.sid })
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // A role check on the route has verified the token already.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let keys = Arc::<JwtKeys>::from_ref(state);
        Ok(Caller::from_parts(parts, &keys)?)
    }
}

/// On public routes: `None` without an `Authorization` header, the caller with a valid one,
/// and 401 for a header that does not verify (a client that sends a token expects it used).
impl<S> axum::extract::OptionalFromRequestParts<S> for Caller
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Caller as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// Every role: routes for anyone signed in.
pub const SIGNED_IN: &[Role] = &[Role::Customer, Role::Seller, Role::Admin];

/// The middleware behind [`require_roles`].
async fn check_roles(
    State((keys, roles)): State<(Arc<JwtKeys>, &'static [Role])>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_parts(&parts, &keys) {
        Ok(caller) => caller,
        Err(e) => return ApiError(e).into_response(),
    };
    if !roles.contains(&caller.role) {
        return ApiError(Error::forbidden("Your role may not do this.")).into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// A route layer admitting only signed-in callers of the given roles (401 without a valid
/// token, 403 for another role): the role check is declared with the route.
///
/// ```text
/// Router::new().route("/me", get(me)).route_layer(require_roles(keys.clone(), SIGNED_IN))
/// ```
pub fn require_roles(
    keys: Arc<JwtKeys>,
    roles: &'static [Role],
) -> impl Layer<
    Route,
    Service = impl Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
    > + Clone
              + Send
              + Sync
              + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    axum::middleware::from_fn_with_state((keys, roles), check_roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_verify_and_tampering_fails() {
        let keys = JwtKeys::new(SECRET, None).unwrap();
        let (user, session) = (UserId::generate(), SessionId::generate());
        let token = keys.issue(&user, Role::Seller, &session, Timestamp::now()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.role, claims.sid), (user, Role::Seller, session));
        assert_eq!(claims.exp - claims.iat, 900);

        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&forged).is_err());
        let other = JwtKeys::new(b"another-secret-another-secret-!!", None).unwrap();
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = JwtKeys::new(SECRET, None).unwrap();
        let long_ago = Timestamp::now().plus_secs(-3600);
        let token = keys.issue(&UserId::generate(), Role::Customer, &SessionId::generate(), long_ago).unwrap();
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn the_previous_secret_still_verifies_during_rotation() {
        let old = JwtKeys::new(SECRET, None).unwrap();
        let token = old.issue(&UserId::generate(), Role::Admin, &SessionId::generate(), Timestamp::now()).unwrap();
        let rotated = JwtKeys::new(b"the-new-secret-the-new-secret-!!", Some(SECRET)).unwrap();
        assert!(rotated.verify(&token).is_ok());
        let after = JwtKeys::new(b"the-new-secret-the-new-secret-!!", None).unwrap();
        assert!(after.verify(&token).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKeys::new(b"short", None).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = JwtKeys::new(SECRET, None).unwrap();
        // {"alg":"none","kid":...} with a valid-looking payload and no signature.
        let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = base64_url(br#"{"sub":"usr_01J00000000000000000000000","role":"admin"}"#);
        assert!(keys.verify(&format!("{header}.{payload}.")).is_err());
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
