//! Mobile push through Firebase Cloud Messaging's HTTP v1 API: one `POST` to
//! `/v1/projects/{project_id}/messages:send` per device token.
//!
//! FCM v1 authenticates with a short-lived OAuth 2.0 access token, not a static key. We get one
//! with the service account's own key, as Google's "OAuth 2.0 for server to server applications"
//! describes: sign a JWT (RS256) that names the account, FCM's scope and the token endpoint, and
//! trade it at the endpoint (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an
//! access token that lives about an hour. The token is cached and shared by all sends, and
//! replaced a minute before it expires, or as soon as FCM answers 401.
//!
//! FCM's answers: 2xx → sent; an error whose `details[].errorCode` is `UNREGISTERED` (FCM's `404`)
//! → [`SendError::Gone`] (the app was uninstalled or the token rotated: forget the address);
//! 401 → [`SendError::Failed`] with the cached token dropped; anything else as
//! [`classify_status`] reads it (429 and 5xx may pass, other 4xx will not).
//!
//! The service account's key arrives as PEM (PKCS#8, `BEGIN PRIVATE KEY`, in Google's key
//! files), read by jsonwebtoken's `use_pem`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{Outgoing, SendError, Sender, classify_status, describe, setting};

/// FCM's API, unless `FCM_BASE_URL` points elsewhere (a mock).
pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";

/// The OAuth scope that allows sending FCM messages, and nothing else.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The OAuth grant that trades a signed JWT for an access token (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long the signed JWT is valid, in seconds: an hour is the most Google accepts.
const ASSERTION_LIFETIME: i64 = 3600;

/// An access token this close to its expiry (seconds) is replaced rather than used: a send
/// started with it could still be under way when it expires.
const TOKEN_MARGIN: i64 = 60;

/// How long one call to FCM or the token endpoint may take, from connecting to the last byte of
/// the answer. A send that hangs longer fails and is retried later.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of a Google service-account key file (the JSON the console downloads) that
/// sending needs; the others (`type`, `private_key_id`, `client_id`, …) are ignored.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The account's address: the JWT's issuer.
    pub client_email: String,
    /// The account's RSA private key, PEM.
    pub private_key: String,
    /// Where a signed JWT is traded for an access token (`https://oauth2.googleapis.com/token`):
    /// also the JWT's audience.
    pub token_uri: String,
    /// The Firebase project messages are sent from.
    pub project_id: String,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish()
    }
}

/// Sends push notifications with FCM HTTP v1.
pub struct FcmPush {
    http: reqwest::Client,
    base_url: String,
    project_id: String,
    credentials: ServiceAccount,
    /// `credentials.private_key`, read once.
    key: EncodingKey,
    /// The access token and when it expires (Unix seconds), shared by all sends. Held while a
    /// new one is fetched, so concurrent sends wait for that one rather than each fetching
    /// their own.
    token: Mutex<Option<(String, i64)>>,
}

impl FcmPush {
    /// `base_url` is [`DEFAULT_BASE_URL`] in production; a trailing `/` is ignored. Fails if the
    /// credentials cannot work: no project or issuer, a token endpoint that is not a URL, a key
    /// that is not an RSA private key, so a broken configuration fails at start rather than at
    /// the first message.
    pub fn new(base_url: impl Into<String>, credentials: ServiceAccount) -> Result<Self, String> {
        let project_id = credentials.project_id.trim().to_owned();
        // The project goes into the request's path: Google's project ids are letters, digits
        // and hyphens (older ones `domain.com:project`); anything else is a mistake.
        if project_id.is_empty() || !project_id.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c)) {
            return Err(format!("the service account's project_id {project_id:?} is not a Google project id"));
        }
        if credentials.client_email.trim().is_empty() {
            return Err("the service account has no client_email".to_owned());
        }
        reqwest::Url::parse(&credentials.token_uri)
            .map_err(|e| format!("the service account's token_uri is not a URL: {e}"))?;
        // The error never quotes the key.
        let key = EncodingKey::from_rsa_pem(credentials.private_key.as_bytes())
            .map_err(|e| format!("the service account's private_key is not an RSA key in PEM: {e}"))?;
        // jsonwebtoken parses the key only when it signs: sign once now, so a key the crypto
        // backend refuses fails here.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key)
            .map_err(|e| format!("the service account's private_key cannot sign: {e}"))?;
        let http = cy_outbound::https_client()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", describe(&e)))?;
        Ok(FcmPush {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            project_id,
            credentials,
            key,
            token: Mutex::new(None),
        })
    }

    /// The adapter `FCM_SERVICE_ACCOUNT_JSON` (a service-account key file's JSON text)
    /// describes, with `FCM_BASE_URL` (default [`DEFAULT_BASE_URL`]). `None` when it is unset:
    /// this deployment sends no push.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |name: &str| setting(var(name));
        let Some(json) = get("FCM_SERVICE_ACCOUNT_JSON") else {
            return Ok(None);
        };
        let credentials: ServiceAccount = serde_json::from_str(&json)
            .map_err(|e| format!("FCM_SERVICE_ACCOUNT_JSON is not a service-account key file: {}", json_error(&e)))?;
        let base_url = get("FCM_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        FcmPush::new(base_url, credentials).map(Some)
    }

    fn send_url(&self) -> String {
        format!("{}/v1/projects/{}/messages:send", self.base_url, self.project_id)
    }

    /// An access token valid for at least [`TOKEN_MARGIN`], fetched if the cached one is not.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        let now = unix_now();
        if let Some((token, _)) =
            cached.as_ref().filter(|(_, expires_at)| now < expires_at.saturating_sub(TOKEN_MARGIN))
        {
            return Ok(token.clone());
        }
        let (token, expires_at) = self.fetch_token(now).await?;
        *cached = Some((token.clone(), expires_at));
        Ok(token)
    }

    /// Trades a freshly signed JWT for an access token. Any failure is [`SendError::Failed`]:
    /// the message has not been sent and is not at fault.
    async fn fetch_token(&self, now: i64) -> Result<(String, i64), SendError> {
        let failed = |why: String| SendError::Failed(format!("fcm: fetching an access token: {why}"));
        let claims = Claims {
            iss: &self.credentials.client_email,
            scope: SCOPE,
            aud: &self.credentials.token_uri,
            iat: now,
            exp: now.saturating_add(ASSERTION_LIFETIME),
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| failed(format!("signing the assertion: {e}")))?;
        let reply = self
            .http
            .post(&self.credentials.token_uri)
            .form(&[("grant_type", JWT_BEARER), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        let status = reply.status();
        let body = reply.text().await.map_err(|e| failed(describe(&e)))?;
        if !status.is_success() {
            // Google's refusals (`{"error": "invalid_grant", "error_description": …}`) name no
            // secret.
            return Err(failed(format!("{}: {}", status.as_u16(), excerpt(&body))));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: i64,
        }
        let answer: TokenAnswer =
            serde_json::from_str(&body).map_err(|e| failed(format!("an unreadable answer: {}", json_error(&e))))?;
        Ok((answer.access_token, now.saturating_add(answer.expires_in)))
    }

    /// Forgets `used` after FCM refused it, unless another send has already replaced it.
    async fn drop_token(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|(token, _)| token == used) {
            *cached = None;
        }
    }
}

#[async_trait]
impl Sender for FcmPush {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let token = self.access_token().await?;
        let payload = serde_json::json!({
            "message": {
                "token": message.to,
                "notification": {
                    "title": message.subject.as_deref().unwrap_or(""),
                    "body": message.body,
                },
                "data": message.data,
            }
        });
        let reply = self
            .http
            .post(self.send_url())
            .bearer_auth(&token)
            .json(&payload)
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("fcm: {}", describe(&e))))?;
        let status = reply.status();
        if status.is_success() {
            return Ok(());
        }
        // An answer whose body cannot be read is still classified by its status.
        let body = reply.text().await.unwrap_or_default();
        match status.as_u16() {
            401 => {
                tracing::info!("FCM refused its access token; the next send fetches a new one");
                self.drop_token(&token).await;
                Err(SendError::Failed(format!("fcm: the access token was refused: 401: {}", excerpt(&body))))
            }
            // Only FCM's word that the token is unregistered forgets a device: a bare 404 (a
            // wrong project id, say) must not wipe every device of every user.
            _ if unregistered(&body) => Err(SendError::Gone),
            code => Err(classify_status(code, &body)),
        }
    }
}

impl fmt::Debug for FcmPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmPush")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// The JWT traded for an access token.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Whether an FCM error names the device token as unregistered:
/// `{"error": {"details": [{"@type": "…FcmError", "errorCode": "UNREGISTERED"}]}}`.
fn unregistered(body: &str) -> bool {
    #[derive(Deserialize)]
    struct Answer {
        error: Status,
    }
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        details: Vec<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(rename = "errorCode")]
        error_code: Option<String>,
    }
    serde_json::from_str::<Answer>(body)
        .is_ok_and(|answer| answer.error.details.iter().any(|d| d.error_code.as_deref() == Some("UNREGISTERED")))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The start of an answer's body, for an error message.
fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// What is wrong with a JSON text, without quoting it: serde's "invalid type: string \"…\""
/// would copy a value (a key, a token) into the logs. A missing field's name is safe to say.
fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        format!("{:?} error at line {}, column {}", error.classify(), error.line(), error.column())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::{Value, json};
    use wiremock::matchers::{bearer_token, body_json, body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::Channel;

    /// A 2048-bit RSA key made for these tests (`openssl genrsa 2048`: PKCS#8, as in Google's
    /// key files). It signs nothing anywhere else.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCvw3Td46diBhIy
pfSDTlFV0Nc74oNhKSIeZ1i3K0sAC8QBSGd5DfwcsRQsYoSRKXYPREbEJF5na54K
n7fagPYGu2gVa80wNQdkwAJ1IspAsmwYNpG5bnVvZ3Z80DdLE60aS+FcP7OqnbnZ
+/Gotn5/3bhFYu7c8C5ho/agqNmoPpGZvGTHgkG6m/wW30RCcPB4+fsI7BqxX8yO
LXidQM/tgwYARAvblsuerPnM5qOa5rLI5CxuaaNGxcO04AqZmFqEi3R4EEzxGjFe
gJFy3NhK5kyvLG8r4CFsPj2HFoEJBkgHpoNAwp9KlXO+CgIetoDkA8q1gnKz+j0e
NoqnsV2lAgMBAAECggEAC2WPmuGrlVISdQFIyQjXgkp/4kyuOysZIMKPwJTIkLCy
nWit+O38tnmO9s/Oi8EV/ChvtEEtc+RJA6RWng71pPsa5SSv0dvmZlSC9Eh0t9w5
4RoMuerdJ4OcbbxskWwtscJQ0xP4WOxQRD+vbEKlEjJ0w98F4QKb503j7If2UQ/d
7cy+2ZpaOjkgpk60EDrg/4xq4giSL6QgDZB2aD7NDYo/ITb3kNfkOlLY/qt4RYy8
tubCGXNQ8RogsjmEo0SsA/9LAvsW8TjuFAp0Y/vtWS4HKsPD/wT3e602LlpnDs+r
B0a4voKO0jp2H8P0O5CGc6jytw8TchXs3CLBX1kB4QKBgQDonot2GgOL/v3CykEC
7o697FWOb3DgmvgPEfGksuPsZ74TxDMZD7oi2cugCHg9mEUU7X64plfJnoFTuc+Y
nkfUxbI1gESVRuhO1hg1vNz1XkFxhXMNWAq08AIfZYYtI85go6OLgfdx1tar4/0Q
Wcck6OINuzW37pJ8kLaWDGd2VQKBgQDBbfj1SIvxfSAVfTZntMG+QX63dCJEC3uM
WKEoPgbnqKGxt6XKWuFDdWLK11l3wB+Jk71YihXc4puezEXrLA/lODA0j0TmTcK4
Nt4bKjfU4ag9KOKDEGjd6b5mgihLY2mdDg+Oo3SekfCUc4sfSAHDKj9TIaaM+ie/
dvZUzrZ6EQKBgQDZXg2DtptJ3mTR+Jz3WGQaJRVtm8UmnKjfrCzZcjB5YBfF8Liu
2ntcxZf5WvDA3eDvxV18vjOaO3st+Zt7SaxlrrbwN4Pe2fuKb5T/4hO3VPRiWAlC
ltqqaPwSypOu6p6Wv1K7sh6/SboftVNsS/hDDTrvCdkQnuZTcAat/7lOYQKBgCKY
0vC8WxuEb9qoHLUL5aNr/4g8o2xcSWre52RVQ9LnnJQ27tZ0ztnMAzGYtw3uNTXc
UP+nIyXw+ji6/L6FkQpEtIqSHZa7zdo5Jhzhvj67ZeYai/k5VChtCHs5SI/DZj6L
J0kx/0flfoxu5jFgJcCMq+rol+ubSsS6OHEO0CChAoGBAJaPvq+998J4REHAphIt
O1bJyDXX0vRyQ7BBodf9qD2t3tIIghgMGPwO/6GkV+cHRj1p6Km7lkhoCJKx0FU7
CkjyIhYTo8BH/jQwT4h6gjYoWTPE+wJR6tfbFAXzsoAwGD0S+S72wA5h8RZNe+6P
tu1UAGCkL4a/WOBSFfJTLwcP
-----END PRIVATE KEY-----
";

    const EMAIL: &str = "cy-push@cy-test.iam.gserviceaccount.com";
    const PROJECT: &str = "cy-test";
    const SEND_PATH: &str = "/v1/projects/cy-test/messages:send";
    const ACCESS_TOKEN: &str = "ya29.c.test-access-token";
    const DEVICE: &str = "fcm-device-token-1";

    /// A service account read from its key file's JSON, as `from_env` reads it, with the token
    /// endpoint on `server`.
    fn account(server: &MockServer) -> ServiceAccount {
        serde_json::from_value(json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": TEST_KEY,
            "client_email": EMAIL,
            "client_id": "123456789012345678901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", server.uri()),
        }))
        .expect("a service-account key file")
    }

    fn fcm(server: &MockServer) -> FcmPush {
        FcmPush::new(server.uri(), account(server)).expect("valid credentials")
    }

    fn notification() -> Outgoing {
        Outgoing {
            channel: Channel::Push,
            to: DEVICE.to_owned(),
            subject: Some("Order shipped".to_owned()),
            body: "Your order #42 is on its way".to_owned(),
            user_id: "user-1".to_owned(),
            event_id: "event-1".to_owned(),
            data: BTreeMap::from([("order_id".to_owned(), "ord_42".to_owned())]),
        }
    }

    /// The token endpoint, answering every JWT-bearer grant with [`ACCESS_TOKEN`]; it must be
    /// called `times` times.
    async fn mount_token(server: &MockServer, expires_in: i64, times: u64) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"))
            .and(body_string_contains("assertion="))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": ACCESS_TOKEN, "expires_in": expires_in, "token_type": "Bearer",
            })))
            .expect(times)
            .mount(server)
            .await;
    }

    /// FCM's answer to a send.
    fn sent() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"name": "projects/cy-test/messages/0:1500415314455276%31bd"}))
    }

    /// FCM's error body: a status and an `FcmError` detail naming `error_code`.
    fn fcm_error(code: u16, status: &str, error_code: &str) -> Value {
        json!({
            "error": {
                "code": code,
                "status": status,
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}],
            }
        })
    }

    /// What one send comes to when FCM answers `answer`.
    async fn answered(answer: ResponseTemplate) -> Result<(), SendError> {
        let server = MockServer::start().await;
        mount_token(&server, 3599, 1).await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(answer).expect(1).mount(&server).await;
        fcm(&server).send(&notification()).await
    }

    /// The test key's public half (`openssl pkey -pubout`).
    const TEST_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr8N03eOnYgYSMqX0g05R
VdDXO+KDYSkiHmdYtytLAAvEAUhneQ38HLEULGKEkSl2D0RGxCReZ2ueCp+32oD2
BrtoFWvNMDUHZMACdSLKQLJsGDaRuW51b2d2fNA3SxOtGkvhXD+zqp252fvxqLZ+
f924RWLu3PAuYaP2oKjZqD6Rmbxkx4JBupv8Ft9EQnDwePn7COwasV/Mji14nUDP
7YMGAEQL25bLnqz5zOajmuayyOQsbmmjRsXDtOAKmZhahIt0eBBM8RoxXoCRctzY
SuZMryxvK+AhbD49hxaBCQZIB6aDQMKfSpVzvgoCHraA5APKtYJys/o9HjaKp7Fd
pQIDAQAB
-----END PUBLIC KEY-----
";

    fn public_key() -> DecodingKey {
        DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).expect("the test public key")
    }

    #[tokio::test]
    async fn a_send_fetches_a_token_once_and_reuses_it() {
        let server = MockServer::start().await;
        mount_token(&server, 3599, 1).await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .and(bearer_token(ACCESS_TOKEN))
            .and(body_json(json!({
                "message": {
                    "token": DEVICE,
                    "notification": {"title": "Order shipped", "body": "Your order #42 is on its way"},
                    "data": {"order_id": "ord_42"},
                }
            })))
            .respond_with(sent())
            .expect(2)
            .mount(&server)
            .await;

        let push = fcm(&server);
        assert_eq!(push.send(&notification()).await, Ok(()));
        assert_eq!(push.send(&notification()).await, Ok(()));

        // The grant's assertion is a JWT the service account's key signed, for FCM's scope, with
        // the token endpoint as its audience, valid for an hour.
        let requests = server.received_requests().await.expect("requests are recorded");
        let grant = requests.iter().find(|r| r.url.path() == "/token").expect("a token request");
        let form = String::from_utf8(grant.body.clone()).expect("a UTF-8 form");
        let assertion = form.split('&').find_map(|pair| pair.strip_prefix("assertion=")).expect("an assertion");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[format!("{}/token", server.uri())]);
        validation.set_issuer(&[EMAIL]);
        let claims = jsonwebtoken::decode::<Value>(assertion, &public_key(), &validation).expect("a valid JWT").claims;
        assert_eq!(claims["scope"], SCOPE);
        let lifetime = claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(exp, iat)| exp - iat);
        assert_eq!(lifetime, Some(3600));
    }

    #[tokio::test]
    async fn a_token_about_to_expire_is_replaced() {
        let server = MockServer::start().await;
        // Thirty seconds is inside the margin: each send needs a new token.
        mount_token(&server, 30, 2).await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(sent()).expect(2).mount(&server).await;

        let push = fcm(&server);
        assert_eq!(push.send(&notification()).await, Ok(()));
        assert_eq!(push.send(&notification()).await, Ok(()));
    }

    #[tokio::test]
    async fn a_refused_token_is_dropped_and_the_send_fails_for_a_retry() {
        let server = MockServer::start().await;
        mount_token(&server, 3599, 2).await;
        // The first send's token is refused; the second send comes with a new one.
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            })))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(sent()).expect(1).mount(&server).await;

        let push = fcm(&server);
        assert!(matches!(push.send(&notification()).await, Err(SendError::Failed(_))));
        assert_eq!(push.send(&notification()).await, Ok(()));
    }

    #[tokio::test]
    async fn an_unregistered_token_is_gone() {
        let answer = ResponseTemplate::new(404).set_body_json(fcm_error(404, "NOT_FOUND", "UNREGISTERED"));
        assert_eq!(answered(answer).await, Err(SendError::Gone));
    }

    #[tokio::test]
    async fn unregistered_is_gone_whatever_the_status() {
        let answer = ResponseTemplate::new(400).set_body_json(fcm_error(400, "INVALID_ARGUMENT", "UNREGISTERED"));
        assert_eq!(answered(answer).await, Err(SendError::Gone));
    }

    #[tokio::test]
    async fn an_invalid_message_is_rejected() {
        let answer = ResponseTemplate::new(400).set_body_json(fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"));
        assert!(matches!(answered(answer).await, Err(SendError::Rejected(_))));
    }

    #[tokio::test]
    async fn a_server_error_fails_for_a_retry() {
        let answer = ResponseTemplate::new(500).set_body_json(json!({
            "error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
        }));
        assert!(matches!(answered(answer).await, Err(SendError::Failed(_))));
    }

    #[tokio::test]
    async fn a_refused_grant_fails_for_a_retry_without_sending() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant", "error_description": "Invalid JWT Signature.",
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(sent()).expect(0).mount(&server).await;

        let failed = fcm(&server).send(&notification()).await;
        assert!(matches!(&failed, Err(SendError::Failed(why)) if why.contains("invalid_grant")), "{failed:?}");
    }

    #[test]
    fn credentials_that_cannot_work_are_refused() {
        let base = ServiceAccount {
            client_email: EMAIL.to_owned(),
            private_key: TEST_KEY.to_owned(),
            token_uri: "https://oauth2.googleapis.com/token".to_owned(),
            project_id: PROJECT.to_owned(),
        };
        assert!(FcmPush::new(DEFAULT_BASE_URL, base.clone()).is_ok());
        let broken = [
            ServiceAccount { private_key: "not a key".to_owned(), ..base.clone() },
            ServiceAccount {
                private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_owned(),
                ..base.clone()
            },
            ServiceAccount { project_id: "a/../b".to_owned(), ..base.clone() },
            ServiceAccount { client_email: String::new(), ..base.clone() },
            ServiceAccount { token_uri: "oauth2.googleapis.com".to_owned(), ..base },
        ];
        for credentials in broken {
            let shown = format!("{credentials:?}");
            assert!(FcmPush::new(DEFAULT_BASE_URL, credentials).is_err(), "{shown}");
        }
    }

    fn vars<'a>(set: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn push_is_off_without_a_service_account() {
        assert!(matches!(FcmPush::from_vars(vars(&[])), Ok(None)));
        assert!(matches!(FcmPush::from_vars(vars(&[("FCM_SERVICE_ACCOUNT_JSON", " ")])), Ok(None)));
    }

    #[test]
    fn the_service_account_is_read_from_the_environment() {
        let json = json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key": TEST_KEY,
            "client_email": EMAIL,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string();
        let Ok(Some(push)) = FcmPush::from_vars(vars(&[("FCM_SERVICE_ACCOUNT_JSON", json.as_str())])) else {
            panic!("configured")
        };
        assert_eq!(push.send_url(), "https://fcm.googleapis.com/v1/projects/cy-test/messages:send");

        let elsewhere = [("FCM_SERVICE_ACCOUNT_JSON", json.as_str()), ("FCM_BASE_URL", "http://localhost:9099/")];
        let Ok(Some(push)) = FcmPush::from_vars(vars(&elsewhere)) else { panic!("configured") };
        assert_eq!(push.send_url(), "http://localhost:9099/v1/projects/cy-test/messages:send");
    }

    #[test]
    fn an_unreadable_service_account_is_an_error_that_quotes_nothing() {
        let truncated = format!(r#"{{"private_key": "{}"#, TEST_KEY.replace('\n', "\\n"));
        let Err(why) = FcmPush::from_vars(vars(&[("FCM_SERVICE_ACCOUNT_JSON", truncated.as_str())])) else {
            panic!("refused")
        };
        assert!(!why.contains("MII"), "{why}");

        let incomplete = json!({"project_id": PROJECT, "private_key": TEST_KEY}).to_string();
        let Err(why) = FcmPush::from_vars(vars(&[("FCM_SERVICE_ACCOUNT_JSON", incomplete.as_str())])) else {
            panic!("refused")
        };
        assert!(why.contains("missing field"), "{why}");
        assert!(!why.contains("MII"), "{why}");
    }

    #[tokio::test]
    async fn debug_does_not_show_the_private_key() {
        let server = MockServer::start().await;
        let shown = format!("{:?}", fcm(&server));
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains("MII"), "{shown}");
        assert!(shown.contains(EMAIL), "{shown}");
    }
}
