//! RazorpayX: a payout is one composite `POST /v1/payouts` (the payout with its fund account and
//! contact inline) from our RazorpayX business account to the seller's bank account, by IMPS or
//! NEFT.
//!
//! What keeps it to one payout per payout id:
//!
//! - `X-Payout-Idempotency: <payout id>` (mandatory since March 2025). RazorpayX maps every
//!   request with the same key to the payout the first one created and answers its latest state.
//!   The key must be 4–36 characters (letters, digits, `-`, `_`, space), so a payout id outside
//!   that is refused before anything is sent; and a retry must carry the same body as the first
//!   request, a different one being rejected as a bad request. The body is therefore built from
//!   the [`PayoutRequest`] alone, field by field in a fixed order, with nothing that changes
//!   between attempts (no timestamps, no random values).
//! - `reference_id = <payout id>`. The payout carries the payout id, and
//!   `GET /v1/payouts?reference_id=<payout id>` finds it whatever became of the key: that is
//!   [`PayoutGateway::find`].
//!
//! RazorpayX documents a key as valid for days (7 at the time of writing);
//! [`PayoutGateway::key_retention_secs`] claims 24 hours only, the shortest any of our providers
//! keeps one.
//!
//! A 2xx answer is a payout, in a state: `queued` (our balance is low and
//! `queue_if_low_balance` holds it), `pending`, `processing`, `processed` are a payout made;
//! `rejected`, `failed`, `cancelled` are final, and every retry with the key gets the same failed
//! payout: nothing was paid and nothing will be. A refusal is a 400, 404 or 422 with RazorpayX's
//! `{"error": {"code", "description", …}}` body; 401/403 (our credentials), 409, 429, 5xx and a
//! lost connection leave the outcome unknown.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::{PayoutError, PayoutGateway, PayoutRequest};

/// Razorpay's API, unless `RAZORPAYX_API_BASE` points elsewhere (a mock).
pub const DEFAULT_BASE_URL: &str = "https://api.razorpay.com";

/// The transfer mode unless `RAZORPAYX_MODE` says `NEFT`: IMPS settles in seconds, at any hour.
pub const DEFAULT_MODE: &str = "IMPS";

/// How long one call to RazorpayX may take, from connecting to the last byte of the answer. A
/// call that takes longer is an unknown outcome, settled later by [`PayoutGateway::find`].
const TIMEOUT: Duration = Duration::from_secs(15);

/// The bounds RazorpayX puts on `X-Payout-Idempotency`.
const MIN_KEY_LEN: usize = 4;
const MAX_KEY_LEN: usize = 36;

/// What the seller's bank statement shows (RazorpayX: at most 30 letters, digits and spaces).
const NARRATION: &str = "CustomiseYou payout";

/// The payout states in which nothing was paid and nothing will be.
const FAILED_STATES: [&str; 3] = ["rejected", "failed", "cancelled"];

const NAME: &str = "razorpayx";

/// Pays sellers with RazorpayX payouts from our business account.
pub struct RazorpayX {
    http: reqwest::Client,
    base_url: String,
    key_id: String,
    key_secret: String,
    /// The RazorpayX account money is paid from (RazorpayX's `account_number`): ours, never the
    /// seller's.
    business_account_number: String,
    /// `IMPS` or `NEFT`.
    mode: &'static str,
}

impl RazorpayX {
    /// `base_url` is [`DEFAULT_BASE_URL`] in production; a trailing `/` is ignored. `mode` is
    /// `IMPS` or `NEFT` (any case). An error when the address is not an http(s) URL, the mode is
    /// another, the account number is empty or the HTTP client cannot start.
    pub fn new(
        base_url: impl Into<String>,
        key_id: impl Into<String>,
        key_secret: impl Into<String>,
        business_account_number: impl Into<String>,
        mode: &str,
    ) -> Result<Self, String> {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        if !reqwest::Url::parse(&base_url).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
            return Err(format!("razorpayx: {base_url:?} is not an http(s) address"));
        }
        let mode = match mode.trim().to_ascii_uppercase().as_str() {
            "IMPS" => "IMPS",
            "NEFT" => "NEFT",
            other => return Err(format!("razorpayx: the payout mode {other:?} is neither IMPS nor NEFT")),
        };
        let business_account_number = business_account_number.into();
        if business_account_number.trim().is_empty() {
            return Err("razorpayx: the business account number is empty".to_owned());
        }
        let http = cy_outbound::https_client()
            .timeout(TIMEOUT)
            // A redirect is not an answer RazorpayX gives; following one could turn the POST
            // into a GET elsewhere. It is read as an unknown outcome instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("razorpayx: the HTTP client cannot start: {}", crate::helpers::describe(&e)))?;
        Ok(RazorpayX {
            http,
            base_url,
            key_id: key_id.into(),
            key_secret: key_secret.into(),
            business_account_number,
            mode,
        })
    }

    /// The adapter `RAZORPAYX_KEY_ID`, `RAZORPAYX_KEY_SECRET` and `RAZORPAYX_ACCOUNT_NUMBER`
    /// describe, with `RAZORPAYX_API_BASE` (default [`DEFAULT_BASE_URL`]) and `RAZORPAYX_MODE`
    /// (default [`DEFAULT_MODE`]). `None` when `RAZORPAYX_KEY_ID` is unset, empty or `-`: this
    /// deployment pays no one through RazorpayX. An error when it is set but the secret or the
    /// account number is not, so a half-done configuration fails at start rather than at the
    /// first payout.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |name: &str| crate::helpers::setting(var(name));
        let Some(key_id) = get("RAZORPAYX_KEY_ID") else {
            return Ok(None);
        };
        let key_secret =
            get("RAZORPAYX_KEY_SECRET").ok_or("RAZORPAYX_KEY_ID is set but RAZORPAYX_KEY_SECRET is not")?;
        let account =
            get("RAZORPAYX_ACCOUNT_NUMBER").ok_or("RAZORPAYX_KEY_ID is set but RAZORPAYX_ACCOUNT_NUMBER is not")?;
        let base_url = get("RAZORPAYX_API_BASE").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let mode = get("RAZORPAYX_MODE").unwrap_or_else(|| DEFAULT_MODE.to_owned());
        RazorpayX::new(base_url, key_id, key_secret, account, &mode).map(Some)
    }

    /// The Payouts resource: a `POST` creates a payout, a `GET` lists them.
    fn payouts_url(&self) -> String {
        format!("{}/v1/payouts", self.base_url)
    }

    /// The composite payout's body: from `request` and our configuration only, so every retry
    /// sends the same bytes, as RazorpayX's idempotency requires.
    fn payout_body<'a>(&'a self, request: &'a PayoutRequest) -> PayoutBody<'a> {
        let destination = &request.destination;
        PayoutBody {
            account_number: &self.business_account_number,
            amount: request.amount,
            currency: request.currency.to_ascii_uppercase(),
            mode: self.mode,
            purpose: "payout",
            queue_if_low_balance: true,
            reference_id: &request.payout_id,
            narration: NARRATION,
            fund_account: FundAccount {
                account_type: "bank_account",
                bank_account: BankAccount {
                    name: &destination.holder_name,
                    ifsc: &destination.ifsc,
                    account_number: &destination.account_number,
                },
                contact: Contact { name: &destination.holder_name, kind: "vendor", reference_id: &request.seller_id },
            },
        }
    }

    /// One `POST /v1/payouts`, keyed by the payout id; the payout's id.
    async fn send_payout(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        let reply = self
            .http
            .post(self.payouts_url())
            .basic_auth(&self.key_id, Some(&self.key_secret))
            .header("X-Payout-Idempotency", request.payout_id.as_str())
            .json(&self.payout_body(request))
            .send()
            .await
            .map_err(|e| PayoutError::Unknown(format!("razorpayx: {}", crate::helpers::describe(&e))))?;
        let status = reply.status();
        let body = match reply.bytes().await {
            Ok(body) => body.to_vec(),
            // It answered 2xx, so it acted, and we lost how: only the body could tell.
            Err(e) if status.is_success() => {
                return Err(PayoutError::Unknown(format!(
                    "razorpayx answered {status} but the answer was lost: {}",
                    crate::helpers::describe(&e)
                )));
            }
            // A refusal is classified by its status; its body only adds detail.
            Err(_) => Vec::new(),
        };
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        let payout: Payout = serde_json::from_slice(&body)
            .map_err(|e| PayoutError::Unknown(format!("razorpayx answered {status} with an unreadable payout: {e}")))?;
        if payout.id.is_empty() {
            return Err(PayoutError::Unknown(format!("razorpayx answered {status} with a payout without an id")));
        }
        if payout.has_failed() {
            let detail = payout.status_details.as_ref().map(StatusDetails::summary).unwrap_or_default();
            return Err(PayoutError::Refused(format!("razorpayx payout {} is {}{detail}", payout.id, payout.status)));
        }
        Ok(payout.id)
    }
}

/// Why a payout id cannot be RazorpayX's idempotency key, if it cannot. RazorpayX takes letters,
/// digits, `-`, `_` and spaces; spaces are refused here too, as a header value's edges are
/// trimmed on the way and our ids never have any.
fn unusable_key(payout_id: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    let length = payout_id.chars().count();
    if (MIN_KEY_LEN..=MAX_KEY_LEN).contains(&length) && payout_id.chars().all(allowed) {
        None
    } else {
        Some(format!(
            "the payout id {payout_id:?} cannot be RazorpayX's idempotency key \
             ({MIN_KEY_LEN}-{MAX_KEY_LEN} letters, digits, '-' or '_')"
        ))
    }
}

/// The composite payout: the payout, its fund account and the fund account's contact. Serialised
/// in the order the fields are declared, always the same for the same request.
#[derive(Debug, Serialize)]
struct PayoutBody<'a> {
    account_number: &'a str,
    amount: i64,
    currency: String,
    mode: &'a str,
    purpose: &'a str,
    queue_if_low_balance: bool,
    reference_id: &'a str,
    narration: &'a str,
    fund_account: FundAccount<'a>,
}

#[derive(Debug, Serialize)]
struct FundAccount<'a> {
    account_type: &'a str,
    bank_account: BankAccount<'a>,
    contact: Contact<'a>,
}

#[derive(Serialize)]
struct BankAccount<'a> {
    name: &'a str,
    ifsc: &'a str,
    account_number: &'a str,
}

/// Never printed whole: the account number is the seller's secret.
impl fmt::Debug for BankAccount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BankAccount")
            .field("name", &self.name)
            .field("ifsc", &self.ifsc)
            .field("account_number", &masked(self.account_number))
            .finish()
    }
}

#[derive(Debug, Serialize)]
struct Contact<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    /// The seller: our reference of the contact.
    reference_id: &'a str,
}

/// A payout as RazorpayX answers it; only what is read.
#[derive(Deserialize)]
struct Payout {
    id: String,
    status: String,
    #[serde(default)]
    reference_id: Option<String>,
    #[serde(default)]
    status_details: Option<StatusDetails>,
}

impl Payout {
    /// `rejected`, `failed` or `cancelled`: final, and nothing was paid.
    fn has_failed(&self) -> bool {
        FAILED_STATES.contains(&self.status.as_str())
    }
}

/// Why a payout is in its state (`{"description", "source", "reason"}`).
#[derive(Deserialize)]
struct StatusDetails {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl StatusDetails {
    /// `: description (reason)`, or nothing when RazorpayX gave neither.
    fn summary(&self) -> String {
        match (self.description.as_deref(), self.reason.as_deref()) {
            (Some(description), Some(reason)) => format!(": {description} ({reason})"),
            (Some(text), None) | (None, Some(text)) => format!(": {text}"),
            (None, None) => String::new(),
        }
    }
}

/// A page of `GET /v1/payouts`.
#[derive(Deserialize)]
struct PayoutList {
    items: Vec<Payout>,
}

/// RazorpayX's error body: `{"error": {"code", "description", "field", …}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

impl ErrorDetail {
    /// Whether the error is about the idempotency key: a retry whose body differs from the first
    /// request's ("a different payload will be rejected as a BAD_REQUEST"), or a key still being
    /// processed. The first request may have paid, so such an answer is no refusal.
    fn concerns_idempotency(&self) -> bool {
        [&self.description, &self.field]
            .into_iter()
            .flatten()
            .any(|text| text.to_ascii_lowercase().contains("idempotency"))
    }

    fn summary(&self) -> String {
        let code = self.code.as_deref().unwrap_or("error");
        let description: String = self.description.as_deref().unwrap_or("").chars().take(300).collect();
        format!("{code}: {description}")
    }
}

/// What a non-2xx answer to a payout means.
fn failure(status: StatusCode, body: &[u8]) -> PayoutError {
    let error = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    match (status.as_u16(), error) {
        (_, Some(error)) if error.concerns_idempotency() => {
            PayoutError::Unknown(format!("razorpayx answered {status} about the idempotency key: {}", error.summary()))
        }
        (400 | 404 | 422, Some(error)) => {
            PayoutError::Refused(format!("razorpayx answered {status}: {}", error.summary()))
        }
        // Our credentials (or the IP allowlist) were refused: a matter of our configuration,
        // not a refusal of this payout.
        (401 | 403, _) => PayoutError::Unknown(format!("razorpayx refused our credentials: {status}")),
        // 409, 429, 5xx, and any 4xx without RazorpayX's error body (a proxy's answer) say
        // nothing of the payout.
        (_, error) => {
            let detail = error.map(|e| format!(": {}", e.summary())).unwrap_or_default();
            PayoutError::Unknown(format!("razorpayx answered {status}{detail}"))
        }
    }
}

/// `****` and the last four characters: enough to tell accounts apart, not to use one.
fn masked(number: &str) -> String {
    let length = number.chars().count();
    let tail: String = if length > 4 { number.chars().skip(length - 4).collect() } else { String::new() };
    format!("****{tail}")
}

#[async_trait]
impl PayoutGateway for RazorpayX {
    fn name(&self) -> &'static str {
        NAME
    }

    /// RazorpayX documents a longer validity; 24 hours is the conservative claim.
    fn key_retention_secs(&self) -> i64 {
        24 * 3600
    }

    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError> {
        // `transfer` refuses such an id before sending anything, so no payout carries it; and an
        // empty `reference_id` filter could be read as no filter at all.
        if unusable_key(payout_id).is_some() {
            return Ok(None);
        }
        let unknown = |why: String| {
            let error = PayoutError::Unknown(format!("razorpayx: looking up the payout failed: {why}"));
            tracing::warn!(provider = NAME, payout_id, %error, "payout lookup failed");
            error
        };
        let reply = self
            .http
            .get(self.payouts_url())
            .basic_auth(&self.key_id, Some(&self.key_secret))
            .query(&[
                ("account_number", self.business_account_number.as_str()),
                ("reference_id", payout_id),
                ("count", "1"),
            ])
            .send()
            .await
            .map_err(|e| unknown(crate::helpers::describe(&e)))?;
        let status = reply.status();
        if !status.is_success() {
            return Err(unknown(format!("razorpayx answered {status}")));
        }
        let list: PayoutList = reply.json().await.map_err(|e| unknown(crate::helpers::describe(&e)))?;
        let Some(payout) = list.items.into_iter().next() else {
            return Ok(None);
        };
        // A payout of another reference is an answer that ignored the filter: it says nothing.
        if payout.reference_id.as_deref().is_some_and(|reference| reference != payout_id) {
            return Err(unknown(format!("the listed payout has the reference {:?}", payout.reference_id)));
        }
        if payout.id.is_empty() {
            return Err(unknown("the listed payout has no id".to_owned()));
        }
        // A failed payout paid nothing, so none was made. The batch may then send the payout
        // again with the same idempotency key, which RazorpayX answers with this same failed
        // payout (`transfer` reads it as Refused): no second payout is made within the key's life.
        if payout.has_failed() {
            let (reference, state) = (&payout.id, &payout.status);
            tracing::info!(provider = NAME, payout_id, %reference, %state, "payout found failed");
            return Ok(None);
        }
        Ok(Some(payout.id))
    }

    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        if let Some(why) = unusable_key(&request.payout_id) {
            return Err(PayoutError::Refused(why));
        }
        if request.amount <= 0 {
            return Err(PayoutError::Refused(format!("the amount {} is not positive", request.amount)));
        }
        let outcome = self.send_payout(request).await;
        match &outcome {
            Ok(reference) => {
                tracing::info!(provider = NAME, payout_id = %request.payout_id, %reference, "payout made");
            }
            Err(error @ PayoutError::Refused(_)) => {
                tracing::info!(provider = NAME, payout_id = %request.payout_id, %error, "payout refused");
            }
            Err(error @ PayoutError::Unknown(_)) => {
                tracing::warn!(provider = NAME, payout_id = %request.payout_id, %error, "payout outcome unknown");
            }
        }
        outcome
    }
}

impl fmt::Debug for RazorpayX {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RazorpayX")
            .field("base_url", &self.base_url)
            .field("key_id", &self.key_id)
            .field("key_secret", &"<redacted>")
            .field("business_account_number", &masked(&self.business_account_number))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{any, basic_auth, body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::Destination;

    const KEY_ID: &str = "rzp_test_1DP5mmOlF5G5ag";
    const KEY_SECRET: &str = "thisIsTheRazorpayXkeySecret";
    const BUSINESS: &str = "7878780080316316";
    const PAYOUT: &str = "pyt_01JD8XA1ZPQ3M4N5P6Q7R8S9T0";
    const SELLER: &str = "usr_01JD8W0000AAAABBBBCCCCDDDD";
    const SELLER_ACCOUNT: &str = "50100012345678";

    fn razorpayx(base: &str) -> RazorpayX {
        RazorpayX::new(base, KEY_ID, KEY_SECRET, BUSINESS, "IMPS").expect("a valid configuration")
    }

    fn payout() -> PayoutRequest {
        PayoutRequest {
            payout_id: PAYOUT.to_owned(),
            seller_id: SELLER.to_owned(),
            amount: 125_000,
            currency: "INR".to_owned(),
            destination: Destination {
                holder_name: "Asha Rao".to_owned(),
                account_number: SELLER_ACCOUNT.to_owned(),
                ifsc: "HDFC0000123".to_owned(),
                stripe_account: None,
            },
        }
    }

    fn expected_body() -> serde_json::Value {
        json!({
            "account_number": BUSINESS,
            "amount": 125000,
            "currency": "INR",
            "mode": "IMPS",
            "purpose": "payout",
            "queue_if_low_balance": true,
            "reference_id": PAYOUT,
            "narration": "CustomiseYou payout",
            "fund_account": {
                "account_type": "bank_account",
                "bank_account": {"name": "Asha Rao", "ifsc": "HDFC0000123", "account_number": SELLER_ACCOUNT},
                "contact": {"name": "Asha Rao", "type": "vendor", "reference_id": SELLER},
            },
        })
    }

    fn a_payout(status: &str) -> serde_json::Value {
        json!({
            "id": "pout_00000000000001",
            "entity": "payout",
            "fund_account_id": "fa_00000000000001",
            "amount": 125000,
            "currency": "INR",
            "status": status,
            "mode": "IMPS",
            "reference_id": PAYOUT,
            "narration": "CustomiseYou payout",
            "status_details": null,
        })
    }

    async fn answered(answer: ResponseTemplate) -> Result<String, PayoutError> {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/v1/payouts")).respond_with(answer).expect(1).mount(&server).await;
        razorpayx(&server.uri()).transfer(&payout()).await
    }

    #[tokio::test]
    async fn a_payout_is_posted_with_its_key_basic_auth_and_exactly_its_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payouts"))
            .and(basic_auth(KEY_ID, KEY_SECRET))
            .and(header("X-Payout-Idempotency", PAYOUT))
            .and(header("content-type", "application/json"))
            .and(body_json(expected_body()))
            .respond_with(ResponseTemplate::new(200).set_body_json(a_payout("processing")))
            .expect(1)
            .mount(&server)
            .await;

        // A trailing slash on the base URL does not double the path's.
        let made = razorpayx(&format!("{}/", server.uri())).transfer(&payout()).await;
        assert_eq!(made, Ok("pout_00000000000001".to_owned()));
    }

    #[tokio::test]
    async fn a_retry_sends_the_same_bytes_under_the_same_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payouts"))
            .respond_with(ResponseTemplate::new(200).set_body_json(a_payout("queued")))
            .expect(2)
            .mount(&server)
            .await;
        let gateway = razorpayx(&server.uri());
        assert_eq!(gateway.transfer(&payout()).await, Ok("pout_00000000000001".to_owned()));
        assert_eq!(gateway.transfer(&payout()).await, Ok("pout_00000000000001".to_owned()));

        let sent = server.received_requests().await.expect("requests are recorded");
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].body, sent[1].body);
        let key = |i: usize| sent[i].headers.get("x-payout-idempotency").map(|v| v.as_bytes().to_vec());
        assert_eq!(key(0), Some(PAYOUT.as_bytes().to_vec()));
        assert_eq!(key(0), key(1));
        // The bytes themselves, fields in declaration order: what RazorpayX compares on a retry.
        let bytes = [
            format!(r#"{{"account_number":"{BUSINESS}","amount":125000,"currency":"INR","mode":"IMPS","#),
            format!(r#""purpose":"payout","queue_if_low_balance":true,"reference_id":"{PAYOUT}","#),
            r#""narration":"CustomiseYou payout","fund_account":{"account_type":"bank_account","#.to_owned(),
            format!(
                r#""bank_account":{{"name":"Asha Rao","ifsc":"HDFC0000123","account_number":"{SELLER_ACCOUNT}"}},"#
            ),
            format!(r#""contact":{{"name":"Asha Rao","type":"vendor","reference_id":"{SELLER}"}}}}}}"#),
        ]
        .concat();
        assert_eq!(String::from_utf8_lossy(&sent[0].body), bytes);
    }

    #[tokio::test]
    async fn a_rejected_payout_is_refused() {
        let mut rejected = a_payout("rejected");
        rejected["status_details"] = json!({
            "description": "The beneficiary bank is down. Please retry after 30 minutes.",
            "source": "beneficiary_bank",
            "reason": "beneficiary_bank_offline",
        });
        match answered(ResponseTemplate::new(200).set_body_json(rejected)).await {
            Err(PayoutError::Refused(why)) => {
                assert!(why.contains("rejected"), "{why}");
                assert!(why.contains("beneficiary bank is down"), "{why}");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        for state in ["failed", "cancelled"] {
            let answer = ResponseTemplate::new(200).set_body_json(a_payout(state));
            assert!(matches!(answered(answer).await, Err(PayoutError::Refused(_))), "{state}");
        }
    }

    #[tokio::test]
    async fn a_payout_on_its_way_is_made() {
        for state in ["queued", "pending", "processing", "processed"] {
            let answer = ResponseTemplate::new(200).set_body_json(a_payout(state));
            assert_eq!(answered(answer).await, Ok("pout_00000000000001".to_owned()), "{state}");
        }
    }

    #[tokio::test]
    async fn a_bad_request_is_refused() {
        let answer = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "Invalid IFSC Code in Bank Account",
            "source": "business",
            "step": "payout_initiation",
            "reason": "input_validation_failed",
            "metadata": {},
            "field": "ifsc",
        }}));
        match answered(answer).await {
            Err(PayoutError::Refused(why)) => assert!(why.contains("Invalid IFSC"), "{why}"),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_retry_with_another_body_leaves_the_outcome_unknown() {
        let answer = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "Different request body sent for the same Idempotency Header",
            "source": "business",
            "step": "payout_initiation",
            "reason": "input_validation_failed",
            "metadata": {},
            "field": null,
        }}));
        assert!(matches!(answered(answer).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn an_unavailable_or_unauthorised_razorpayx_leaves_the_outcome_unknown() {
        let unavailable = ResponseTemplate::new(503).set_body_string("Service Unavailable");
        assert!(matches!(answered(unavailable).await, Err(PayoutError::Unknown(_))));
        let unauthorised = ResponseTemplate::new(401).set_body_json(json!({"error": {
            "code": "BAD_REQUEST_ERROR", "description": "The api key provided is invalid",
        }}));
        assert!(matches!(answered(unauthorised).await, Err(PayoutError::Unknown(_))));
        let conflict = ResponseTemplate::new(409).set_body_string("");
        assert!(matches!(answered(conflict).await, Err(PayoutError::Unknown(_))));
        let garbled = ResponseTemplate::new(200).set_body_string("not json");
        assert!(matches!(answered(garbled).await, Err(PayoutError::Unknown(_))));
    }

    #[tokio::test]
    async fn an_unusable_payout_id_is_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        let gateway = razorpayx(&server.uri());
        let too_long = "pyt_01JD8XA1ZPQ3M4N5P6Q7R8S9T0ABCDEFGHIJ";
        assert_eq!(too_long.len(), 40);
        for id in [too_long, "pyt", "pyt_01JD8XA1/ZPQ3"] {
            let request = PayoutRequest { payout_id: id.to_owned(), ..payout() };
            match gateway.transfer(&request).await {
                Err(PayoutError::Refused(why)) => assert!(why.contains("idempotency key"), "{why}"),
                other => panic!("expected Refused for {id:?}, got {other:?}"),
            }
            // No payout can carry it, so none is found, without asking.
            assert_eq!(gateway.find(id).await, Ok(None));
        }
    }

    async fn listing(answer: ResponseTemplate) -> Result<Option<String>, PayoutError> {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payouts"))
            .and(basic_auth(KEY_ID, KEY_SECRET))
            .and(query_param("account_number", BUSINESS))
            .and(query_param("reference_id", PAYOUT))
            .and(query_param("count", "1"))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        razorpayx(&server.uri()).find(PAYOUT).await
    }

    fn collection(items: serde_json::Value) -> ResponseTemplate {
        let count = items.as_array().map_or(0, Vec::len);
        ResponseTemplate::new(200).set_body_json(json!({"entity": "collection", "count": count, "items": items}))
    }

    #[tokio::test]
    async fn find_answers_the_payout_of_the_reference() {
        assert_eq!(
            listing(collection(json!([a_payout("processed")]))).await,
            Ok(Some("pout_00000000000001".to_owned()))
        );
    }

    #[tokio::test]
    async fn find_answers_none_from_an_empty_list() {
        assert_eq!(listing(collection(json!([]))).await, Ok(None));
    }

    #[tokio::test]
    async fn find_answers_none_for_a_failed_payout() {
        for state in ["rejected", "failed", "cancelled"] {
            assert_eq!(listing(collection(json!([a_payout(state)]))).await, Ok(None), "{state}");
        }
    }

    #[tokio::test]
    async fn find_failures_are_unknown() {
        let unavailable = ResponseTemplate::new(502).set_body_string("Bad Gateway");
        assert!(matches!(listing(unavailable).await, Err(PayoutError::Unknown(_))));
        let garbled = ResponseTemplate::new(200).set_body_string("not json");
        assert!(matches!(listing(garbled).await, Err(PayoutError::Unknown(_))));
        let mut other = a_payout("processed");
        other["reference_id"] = json!("pyt_SOMETHINGELSE");
        assert!(matches!(listing(collection(json!([other]))).await, Err(PayoutError::Unknown(_))));
    }

    fn vars<'a>(set: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn razorpayx_is_off_without_a_key_id() {
        assert!(matches!(RazorpayX::from_vars(vars(&[])), Ok(None)));
        assert!(matches!(RazorpayX::from_vars(vars(&[("RAZORPAYX_KEY_ID", "-")])), Ok(None)));
    }

    #[test]
    fn a_partial_or_wrong_configuration_is_an_error() {
        let missing_secret =
            RazorpayX::from_vars(vars(&[("RAZORPAYX_KEY_ID", KEY_ID), ("RAZORPAYX_ACCOUNT_NUMBER", BUSINESS)]));
        assert!(matches!(missing_secret, Err(why) if why.contains("RAZORPAYX_KEY_SECRET")));
        let dash_secret = RazorpayX::from_vars(vars(&[("RAZORPAYX_KEY_ID", KEY_ID), ("RAZORPAYX_KEY_SECRET", "-")]));
        assert!(matches!(dash_secret, Err(why) if why.contains("RAZORPAYX_KEY_SECRET")));
        let missing_account =
            RazorpayX::from_vars(vars(&[("RAZORPAYX_KEY_ID", KEY_ID), ("RAZORPAYX_KEY_SECRET", KEY_SECRET)]));
        assert!(matches!(missing_account, Err(why) if why.contains("RAZORPAYX_ACCOUNT_NUMBER")));
        let wrong_mode = RazorpayX::from_vars(vars(&[
            ("RAZORPAYX_KEY_ID", KEY_ID),
            ("RAZORPAYX_KEY_SECRET", KEY_SECRET),
            ("RAZORPAYX_ACCOUNT_NUMBER", BUSINESS),
            ("RAZORPAYX_MODE", "RTGS"),
        ]));
        assert!(matches!(wrong_mode, Err(why) if why.contains("RTGS")));
    }

    #[test]
    fn a_configuration_defaults_to_razorpays_api_and_imps() {
        let mut set = vec![
            ("RAZORPAYX_KEY_ID", KEY_ID),
            ("RAZORPAYX_KEY_SECRET", KEY_SECRET),
            ("RAZORPAYX_ACCOUNT_NUMBER", BUSINESS),
        ];
        let Ok(Some(gateway)) = RazorpayX::from_vars(vars(&set)) else { panic!("configured") };
        assert_eq!(gateway.payouts_url(), "https://api.razorpay.com/v1/payouts");
        assert_eq!(gateway.mode, "IMPS");
        assert_eq!(gateway.name(), "razorpayx");
        assert_eq!(gateway.key_retention_secs(), 24 * 3600);
        set.extend([("RAZORPAYX_MODE", "neft"), ("RAZORPAYX_API_BASE", "http://127.0.0.1:9/")]);
        let Ok(Some(gateway)) = RazorpayX::from_vars(vars(&set)) else { panic!("configured") };
        assert_eq!(gateway.payouts_url(), "http://127.0.0.1:9/v1/payouts");
        assert_eq!(gateway.mode, "NEFT");
    }

    #[test]
    fn debug_hides_the_key_secret_and_the_account_numbers() {
        let gateway = razorpayx("https://api.razorpay.com");
        let shown = format!("{gateway:?}");
        assert!(!shown.contains(KEY_SECRET), "{shown}");
        assert!(!shown.contains(BUSINESS), "{shown}");
        assert!(shown.contains(KEY_ID), "{shown}");
        let request = payout();
        let body = format!("{:?}", gateway.payout_body(&request));
        assert!(!body.contains(SELLER_ACCOUNT), "{body}");
        assert!(body.contains("****5678"), "{body}");
        let request = format!("{request:?}");
        assert!(!request.contains(SELLER_ACCOUNT), "{request}");
    }
}
