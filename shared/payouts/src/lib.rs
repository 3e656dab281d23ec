//! The payout port: money to a seller's bank account, one transfer per payout, keyed by the
//! payout's id so a provider never makes two for one payout. Adapters: Stripe Connect
//! ([`stripe`]: a transfer with `transfer_group` = the payout id and `Idempotency-Key` = the
//! payout id), RazorpayX ([`razorpayx`]: a payout with `X-Payout-Idempotency` = the payout id and
//! `reference_id` = the payout id), and a local simulator ([`SimulatedPayouts`]).
//!
//! What the batch relies on: [`PayoutGateway::find`] says whether a transfer for a payout id
//! exists (asked before any resend, so a transfer made by a run that crashed before recording
//! it is found, not made again); [`PayoutGateway::transfer`] answers `Refused` only when nothing
//! was and nothing will be transferred, and `Unknown` whenever it cannot know (a timeout, a
//! 5xx): an unknown outcome is for an admin, never resent blindly.

pub mod razorpayx;
pub mod stripe;

/// What both provider adapters read their settings and errors with.
mod helpers {
    /// A setting as configured: trimmed; empty or `-` means unset (`-` is how a deployment says
    /// "not used" where a value must exist).
    pub(crate) fn setting(raw: Option<String>) -> Option<String> {
        raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v != "-")
    }

    /// A reqwest error with its causes: its own message alone ("error sending request") does
    /// not say whether the connection was refused, timed out or failed TLS.
    pub(crate) fn describe(error: &reqwest::Error) -> String {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// Where a seller's money goes.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    pub holder_name: String,
    pub account_number: String,
    pub ifsc: String,
    /// The seller's Stripe connected account (`acct_…`), for Stripe Connect.
    pub stripe_account: Option<String>,
}

/// Never printed: the account number is the seller's secret.
impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination").field("holder_name", &self.holder_name).field("ifsc", &self.ifsc).finish()
    }
}

/// One payout's transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRequest {
    /// Our payout id (`pyt_…`, 30 characters): the idempotency key and the reference.
    pub payout_id: String,
    pub seller_id: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    pub destination: Destination,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutError {
    /// The provider refused it: nothing was transferred and nothing will be.
    Refused(String),
    /// It may or may not have happened (a timeout, a 5xx, the network).
    Unknown(String),
}

impl std::fmt::Display for PayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayoutError::Refused(why) => write!(f, "refused: {why}"),
            PayoutError::Unknown(why) => write!(f, "outcome unknown: {why}"),
        }
    }
}

#[async_trait]
pub trait PayoutGateway: Send + Sync {
    /// `stripe`, `razorpayx`, `simulator`.
    fn name(&self) -> &'static str;
    /// How long the provider honours an idempotency key (Stripe prunes them after 24 hours): a
    /// payout older than this is never resent, it goes to an admin.
    fn key_retention_secs(&self) -> i64;
    /// The provider's reference of the transfer made for `payout_id`, if one was.
    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError>;
    /// Makes the transfer; the provider's reference.
    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError>;
}

/// The local provider: transfers are remembered in memory and counted per payout id (what the
/// tests check: never two transfer requests for one payout).
#[derive(Default)]
pub struct SimulatedPayouts {
    made: Mutex<HashMap<String, (String, PayoutRequest)>>,
    requests: Mutex<HashMap<String, u32>>,
    /// Payout ids whose transfer is refused (a closed account, say).
    pub refuse: Mutex<Vec<String>>,
}

impl SimulatedPayouts {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many transfer requests were made for `payout_id`.
    pub fn requests_for(&self, payout_id: &str) -> u32 {
        self.requests.lock().map(|r| r.get(payout_id).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Every transfer made: `(payout id, reference, request)`.
    pub fn transfers(&self) -> Vec<(String, String, PayoutRequest)> {
        self.made
            .lock()
            .map(|m| m.iter().map(|(id, (r, req))| (id.clone(), r.clone(), req.clone())).collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl PayoutGateway for SimulatedPayouts {
    fn name(&self) -> &'static str {
        "simulator"
    }

    fn key_retention_secs(&self) -> i64 {
        24 * 3600
    }

    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError> {
        let made = self.made.lock().map_err(|_| PayoutError::Unknown("simulator poisoned".into()))?;
        Ok(made.get(payout_id).map(|(r, _)| r.clone()))
    }

    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        let poisoned = || PayoutError::Unknown("simulator poisoned".into());
        *self.requests.lock().map_err(|_| poisoned())?.entry(request.payout_id.clone()).or_default() += 1;
        if self.refuse.lock().map_err(|_| poisoned())?.contains(&request.payout_id) {
            return Err(PayoutError::Refused("the simulated bank refused the account".into()));
        }
        let mut made = self.made.lock().map_err(|_| poisoned())?;
        // Idempotent by payout id, as the real providers are within their key's lifetime.
        let reference = made
            .entry(request.payout_id.clone())
            .or_insert_with(|| (format!("sim_tr_{}", request.payout_id), request.clone()))
            .0
            .clone();
        Ok(reference)
    }
}
