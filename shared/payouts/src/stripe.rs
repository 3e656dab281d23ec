//! Stripe Connect: a payout is one Transfer (`POST /v1/transfers`) from the platform's balance to
//! the seller's connected account (`acct_…`).
//!
//! Two things keep it to one transfer per payout:
//!
//! - `Idempotency-Key: <payout id>`. Stripe saves the first answer to a key and replays it to every
//!   later request with the same key (a 500 included), so a retry within the key's lifetime cannot
//!   make a second transfer. Stripe prunes keys once they are at least 24 hours old, and a reused
//!   key after that makes a new request: hence [`PayoutGateway::key_retention_secs`] of 24 hours,
//!   past which the batch never resends a payout.
//! - `transfer_group = <payout id>` (and the id in the transfer's metadata). The transfer carries
//!   the payout id, and `GET /v1/transfers?transfer_group=<payout id>` finds it whatever became of
//!   the key: that is [`PayoutGateway::find`], asked before any resend so a transfer made by a run
//!   that crashed before recording it is found rather than made again.
//!
//! Stripe refuses with a 4xx and its `{"error": {"type", "code", "message"}}` body (e.g.
//! `balance_insufficient`, `account_invalid`); such an answer to 400, 402, 403 or 404 means the
//! transfer was not made. Everything else that is not a 2xx (409 for a request with the same key
//! still in flight, 429, 5xx, a lost connection, a 2xx whose body cannot be read) leaves the
//! outcome unknown.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::{PayoutError, PayoutGateway, PayoutRequest};

/// Stripe's API, unless `STRIPE_API_BASE` points elsewhere (a mock).
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The API version our requests and their reading are written against (the one the payments
/// adapter pins): a change of the account's default version cannot change the answers under us.
pub const API_VERSION: &str = "2024-06-20";

/// How long one call to Stripe may take, from connecting to the last byte of the answer. A call
/// that takes longer is an unknown outcome, settled later by [`PayoutGateway::find`].
const TIMEOUT: Duration = Duration::from_secs(15);

/// Stripe's idempotency keys are at most 255 characters.
const MAX_KEY_LEN: usize = 255;

const NAME: &str = "stripe";

/// Pays sellers with Stripe Connect transfers to their connected accounts.
pub struct StripeConnect {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
}

impl StripeConnect {
    /// `base_url` is [`DEFAULT_BASE_URL`] in production; a trailing `/` is ignored. An error when
    /// the address is not an http(s) URL or the HTTP client cannot start.
    pub fn new(base_url: impl Into<String>, secret_key: impl Into<String>) -> Result<Self, String> {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        if !reqwest::Url::parse(&base_url).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
            return Err(format!("stripe: {base_url:?} is not an http(s) address"));
        }
        let http = cy_outbound::https_client()
            .timeout(TIMEOUT)
            // A redirect is not an answer Stripe gives; following one could turn the POST into
            // a GET elsewhere. It is read as an unknown outcome instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("stripe: the HTTP client cannot start: {}", crate::helpers::describe(&e)))?;
        Ok(StripeConnect { http, base_url, secret_key: secret_key.into() })
    }

    /// The adapter `STRIPE_SECRET_KEY` describes, with `STRIPE_API_BASE` (default
    /// [`DEFAULT_BASE_URL`]). `None` when `STRIPE_SECRET_KEY` is unset, empty or `-`: this
    /// deployment pays no one through Stripe.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |name: &str| crate::helpers::setting(var(name));
        let Some(secret_key) = get("STRIPE_SECRET_KEY") else {
            return Ok(None);
        };
        let base_url = get("STRIPE_API_BASE").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        StripeConnect::new(base_url, secret_key).map(Some)
    }

    /// The Transfers resource: a `POST` creates a transfer, a `GET` lists them.
    fn transfers_url(&self) -> String {
        format!("{}/v1/transfers", self.base_url)
    }
}

/// Why a payout id cannot be sent as Stripe's idempotency key, if it cannot: without a key a
/// retry could pay twice, so such a payout is refused before anything is sent.
fn unusable_key(payout_id: &str) -> Option<String> {
    if payout_id.is_empty() || payout_id.len() > MAX_KEY_LEN || !payout_id.bytes().all(|b| b.is_ascii_graphic()) {
        Some(format!(
            "the payout id {payout_id:?} cannot be Stripe's idempotency key (1-{MAX_KEY_LEN} visible ASCII characters)"
        ))
    } else {
        None
    }
}

/// A created transfer; only its id is read.
#[derive(Deserialize)]
struct Transfer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    transfer_group: Option<String>,
}

/// A page of `GET /v1/transfers`.
#[derive(Deserialize)]
struct TransferList {
    data: Vec<Transfer>,
}

/// Stripe's error body: `{"error": {"type": …, "code": …, "message": …}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What a non-2xx answer to a transfer means.
fn failure(status: StatusCode, body: &[u8]) -> PayoutError {
    let error = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    match (status.as_u16(), error) {
        // The key was used before with other parameters (Stripe compares them and refuses the
        // mismatch): the first request, whatever it did, is not this one, and it may have
        // transferred. Whatever the status, that is not a refusal of this payout.
        (_, Some(error)) if error.kind.as_deref() == Some("idempotency_error") => {
            PayoutError::Unknown(format!("stripe answered {status}: {}", summary(&error)))
        }
        (400 | 402 | 403 | 404, Some(error)) => {
            PayoutError::Refused(format!("stripe answered {status}: {}", summary(&error)))
        }
        // Another request with this payout's key is still being processed: it may transfer.
        (409, _) => {
            PayoutError::Unknown(format!("stripe answered {status}: a request with this payout's key is in flight"))
        }
        // 401: our key was refused, a matter of configuration, not of this payout. 429, 5xx,
        // and any 4xx without Stripe's error body (a proxy's answer) say nothing of the transfer.
        (_, error) => {
            let detail = error.map(|e| format!(": {}", summary(&e))).unwrap_or_default();
            PayoutError::Unknown(format!("stripe answered {status}{detail}"))
        }
    }
}

/// `code: message` of a Stripe error, the type standing in for a missing code.
fn summary(error: &ErrorDetail) -> String {
    let code = error.code.as_deref().or(error.kind.as_deref()).unwrap_or("error");
    let message: String = error.message.as_deref().unwrap_or("").chars().take(300).collect();
    format!("{code}: {message}")
}

#[async_trait]
impl PayoutGateway for StripeConnect {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Stripe prunes idempotency keys once they are at least 24 hours old.
    fn key_retention_secs(&self) -> i64 {
        24 * 3600
    }

    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError> {
        // `transfer` refuses such an id before sending anything, so no transfer carries it; and
        // an empty `transfer_group` filter could be read as no filter at all.
        if unusable_key(payout_id).is_some() {
            return Ok(None);
        }
        let unknown = |why: String| {
            let error = PayoutError::Unknown(format!("stripe: looking up the transfer failed: {why}"));
            tracing::warn!(provider = NAME, payout_id, %error, "payout lookup failed");
            error
        };
        let reply = self
            .http
            .get(self.transfers_url())
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION)
            .query(&[("transfer_group", payout_id), ("limit", "1")])
            .send()
            .await
            .map_err(|e| unknown(crate::helpers::describe(&e)))?;
        let status = reply.status();
        if !status.is_success() {
            return Err(unknown(format!("stripe answered {status}")));
        }
        let list: TransferList = reply.json().await.map_err(|e| unknown(crate::helpers::describe(&e)))?;
        let Some(transfer) = list.data.into_iter().next() else {
            return Ok(None);
        };
        // A transfer of another group is an answer that ignored the filter: it says nothing.
        if transfer.transfer_group.as_deref().is_some_and(|group| group != payout_id) {
            return Err(unknown(format!("the listed transfer belongs to the group {:?}", transfer.transfer_group)));
        }
        match transfer.id.filter(|id| !id.is_empty()) {
            Some(id) => Ok(Some(id)),
            None => Err(unknown("the listed transfer has no id".to_owned())),
        }
    }

    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        let Some(account) = request.destination.stripe_account.as_deref().filter(|a| !a.trim().is_empty()) else {
            return Err(PayoutError::Refused("the seller has no Stripe connected account".to_owned()));
        };
        if let Some(why) = unusable_key(&request.payout_id) {
            return Err(PayoutError::Refused(why));
        }
        if request.amount <= 0 {
            return Err(PayoutError::Refused(format!("the amount {} is not positive", request.amount)));
        }
        let outcome = self.send_transfer(request, account).await;
        match &outcome {
            Ok(reference) => {
                tracing::info!(provider = NAME, payout_id = %request.payout_id, %reference, "transfer made");
            }
            Err(error @ PayoutError::Refused(_)) => {
                tracing::info!(provider = NAME, payout_id = %request.payout_id, %error, "transfer refused");
            }
            Err(error @ PayoutError::Unknown(_)) => {
                tracing::warn!(provider = NAME, payout_id = %request.payout_id, %error, "transfer outcome unknown");
            }
        }
        outcome
    }
}

impl StripeConnect {
    /// One `POST /v1/transfers`, keyed by the payout id; the transfer's id.
    async fn send_transfer(&self, request: &PayoutRequest, account: &str) -> Result<String, PayoutError> {
        let amount = request.amount.to_string();
        // Stripe takes currencies as lowercase ISO codes.
        let currency = request.currency.to_ascii_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("destination", account),
            ("transfer_group", request.payout_id.as_str()),
            ("metadata[payout_id]", request.payout_id.as_str()),
            ("metadata[seller_id]", request.seller_id.as_str()),
        ];
        let reply = self
            .http
            .post(self.transfers_url())
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", request.payout_id.as_str())
            .form(&form)
            .send()
            .await
            .map_err(|e| PayoutError::Unknown(format!("stripe: {}", crate::helpers::describe(&e))))?;
        let status = reply.status();
        let body = match reply.bytes().await {
            Ok(body) => body.to_vec(),
            // It answered 2xx, so it acted, and we lost how: only the body could tell.
            Err(e) if status.is_success() => {
                return Err(PayoutError::Unknown(format!(
                    "stripe answered {status} but the answer was lost: {}",
                    crate::helpers::describe(&e)
                )));
            }
            // A refusal is classified by its status; its body only adds detail.
            Err(_) => Vec::new(),
        };
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        match serde_json::from_slice::<Transfer>(&body) {
            Ok(Transfer { id: Some(id), .. }) if !id.is_empty() => Ok(id),
            Ok(_) => Err(PayoutError::Unknown(format!("stripe answered {status} without a transfer id"))),
            Err(e) => Err(PayoutError::Unknown(format!("stripe answered {status} with an unreadable body: {e}"))),
        }
    }
}

impl fmt::Debug for StripeConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConnect")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{any, bearer_token, body_string, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::Destination;

    const KEY: &str = "sk_test_51Hx0secretKEYvalue";
    const PAYOUT: &str = "pyt_01JD8XA1ZPQ3M4N5P6Q7R8S9T0";
    const SELLER: &str = "usr_01JD8W0000AAAABBBBCCCCDDDD";
    const ACCOUNT: &str = "acct_1Nv0FGQ9RKHgCVdK";

    fn stripe(base: &str) -> StripeConnect {
        StripeConnect::new(base, KEY).expect("a valid configuration")
    }

    fn payout(stripe_account: Option<&str>) -> PayoutRequest {
        PayoutRequest {
            payout_id: PAYOUT.to_owned(),
            seller_id: SELLER.to_owned(),
            amount: 125_000,
            currency: "INR".to_owned(),
            destination: Destination {
                holder_name: "Asha Rao".to_owned(),
                account_number: "50100012345678".to_owned(),
                ifsc: "HDFC0000123".to_owned(),
                stripe_account: stripe_account.map(str::to_owned),
            },
        }
    }

    async fn answered(answer: ResponseTemplate) -> Result<String, PayoutError> {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/v1/transfers")).respond_with(answer).expect(1).mount(&server).await;
        stripe(&server.uri()).transfer(&payout(Some(ACCOUNT))).await
    }

    #[tokio::test]
    async fn a_transfer_is_posted_as_a_keyed_form_and_answers_its_id() {
        let server = MockServer::start().await;
        let form = format!(
            "amount=125000&currency=inr&destination={ACCOUNT}&transfer_group={PAYOUT}\
             &metadata%5Bpayout_id%5D={PAYOUT}&metadata%5Bseller_id%5D={SELLER}"
        );
        Mock::given(method("POST"))
            .and(path("/v1/transfers"))
            .and(bearer_token(KEY))
            .and(header("Idempotency-Key", PAYOUT))
            .and(header("Stripe-Version", API_VERSION))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string(form))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "tr_1PqR2sT3uV4wX5yZ",
                "object": "transfer",
                "amount": 125000,
                "currency": "inr",
                "destination": ACCOUNT,
                "transfer_group": PAYOUT,
                "metadata": {"payout_id": PAYOUT, "seller_id": SELLER},
            })))
            .expect(1)
            .mount(&server)
            .await;

        // A trailing slash on the base URL does not double the path's.
        let made = stripe(&format!("{}/", server.uri())).transfer(&payout(Some(ACCOUNT))).await;
        assert_eq!(made, Ok("tr_1PqR2sT3uV4wX5yZ".to_owned()));
    }

    #[tokio::test]
    async fn an_invalid_account_is_refused() {
        let answer = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error",
            "code": "account_invalid",
            "message": "The provided key does not have access to account 'acct_1Nv0FGQ9RKHgCVdK'.",
        }}));
        match answered(answer).await {
            Err(PayoutError::Refused(why)) => assert!(why.contains("account_invalid"), "{why}"),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_server_error_leaves_the_outcome_unknown() {
        let answer = ResponseTemplate::new(500).set_body_json(json!({"error": {
            "type": "api_error", "message": "Something went wrong on Stripe's end.",
        }}));
        assert!(matches!(answered(answer).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn a_key_in_flight_or_reused_leaves_the_outcome_unknown() {
        let in_flight = ResponseTemplate::new(409).set_body_json(json!({"error": {
            "type": "idempotency_error",
            "message": "There is currently another in-progress request using this Idempotent Key.",
        }}));
        assert!(matches!(answered(in_flight).await, Err(PayoutError::Unknown(_))));
        let reused = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "idempotency_error",
            "message": "Keys for idempotent requests can only be used with the same parameters they were first \
                        used with.",
        }}));
        assert!(matches!(answered(reused).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn a_4xx_without_stripes_error_body_or_throttling_leaves_the_outcome_unknown() {
        let proxy = ResponseTemplate::new(400).set_body_string("<html>Bad Request</html>");
        assert!(matches!(answered(proxy).await, Err(PayoutError::Unknown(_))));
        let throttled = ResponseTemplate::new(429).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests.",
        }}));
        assert!(matches!(answered(throttled).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn a_2xx_without_an_id_leaves_the_outcome_unknown() {
        let answer = ResponseTemplate::new(200).set_body_json(json!({"object": "transfer"}));
        assert!(matches!(answered(answer).await, Err(PayoutError::Unknown(_))));
        let garbled = ResponseTemplate::new(200).set_body_string("not json");
        assert!(matches!(answered(garbled).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn a_seller_without_a_connected_account_is_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        let gateway = stripe(&server.uri());
        for account in [None, Some(""), Some("  ")] {
            match gateway.transfer(&payout(account)).await {
                Err(PayoutError::Refused(why)) => assert!(why.contains("no Stripe connected account"), "{why}"),
                other => panic!("expected Refused, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_stripe_leaves_the_outcome_unknown() {
        // A port nobody listens on: bound, then released.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("the bound port").port();
        drop(listener);
        let made = stripe(&format!("http://127.0.0.1:{port}")).transfer(&payout(Some(ACCOUNT))).await;
        assert!(matches!(made, Err(PayoutError::Unknown(_))), "{made:?}");
    }

    async fn listing(answer: ResponseTemplate) -> Result<Option<String>, PayoutError> {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/transfers"))
            .and(bearer_token(KEY))
            .and(query_param("transfer_group", PAYOUT))
            .and(query_param("limit", "1"))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        stripe(&server.uri()).find(PAYOUT).await
    }

    #[tokio::test]
    async fn find_answers_the_transfer_of_the_payouts_group() {
        let answer = ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "url": "/v1/transfers",
            "has_more": false,
            "data": [{"id": "tr_1PqR2sT3uV4wX5yZ", "object": "transfer", "transfer_group": PAYOUT}],
        }));
        assert_eq!(listing(answer).await, Ok(Some("tr_1PqR2sT3uV4wX5yZ".to_owned())));
    }

    #[tokio::test]
    async fn find_answers_none_from_an_empty_list() {
        let answer = ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "url": "/v1/transfers", "has_more": false, "data": [],
        }));
        assert_eq!(listing(answer).await, Ok(None));
    }

    #[tokio::test]
    async fn find_failures_are_unknown() {
        let unavailable = ResponseTemplate::new(503).set_body_string("Service Unavailable");
        assert!(matches!(listing(unavailable).await, Err(PayoutError::Unknown(_))));
        let garbled = ResponseTemplate::new(200).set_body_string("not json");
        assert!(matches!(listing(garbled).await, Err(PayoutError::Unknown(_))));
        let other_group = ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "has_more": false,
            "data": [{"id": "tr_other", "object": "transfer", "transfer_group": "pyt_SOMETHINGELSE"}],
        }));
        assert!(matches!(listing(other_group).await, Err(PayoutError::Unknown(_))));
    }

    fn vars<'a>(set: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn stripe_payouts_are_off_without_a_secret_key() {
        assert!(matches!(StripeConnect::from_vars(vars(&[])), Ok(None)));
        assert!(matches!(StripeConnect::from_vars(vars(&[("STRIPE_SECRET_KEY", "-")])), Ok(None)));
        assert!(matches!(StripeConnect::from_vars(vars(&[("STRIPE_SECRET_KEY", "  ")])), Ok(None)));
    }

    #[test]
    fn a_configuration_defaults_to_stripes_api() {
        let Ok(Some(gateway)) = StripeConnect::from_vars(vars(&[("STRIPE_SECRET_KEY", KEY)])) else {
            panic!("configured")
        };
        assert_eq!(gateway.transfers_url(), "https://api.stripe.com/v1/transfers");
        assert_eq!(gateway.name(), "stripe");
        assert_eq!(gateway.key_retention_secs(), 24 * 3600);
        let set = [("STRIPE_SECRET_KEY", KEY), ("STRIPE_API_BASE", "http://127.0.0.1:12111/")];
        let Ok(Some(gateway)) = StripeConnect::from_vars(vars(&set)) else { panic!("configured") };
        assert_eq!(gateway.transfers_url(), "http://127.0.0.1:12111/v1/transfers");
        let bad_base = [("STRIPE_SECRET_KEY", KEY), ("STRIPE_API_BASE", "api.stripe.com")];
        assert!(StripeConnect::from_vars(vars(&bad_base)).is_err());
    }

    #[test]
    fn debug_does_not_show_the_secret_key() {
        let shown = format!("{:?}", stripe("https://api.stripe.com"));
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("api.stripe.com"), "{shown}");
    }
}
