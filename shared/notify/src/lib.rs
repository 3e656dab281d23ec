//! The outbound message port: one [`Sender`] per channel (email, SMS, mobile push), each with
//! a provider adapter — SES v2 ([`ses`]), Twilio's REST API ([`twilio`]), FCM HTTP v1
//! ([`fcm`]) — and a local one ([`outbox`]) that keeps every message in the store for
//! `GET /dev/outbox`. Senders only send: who is told what, and the at-most-once claim around
//! each send, live in `cy_api::notifications`.

pub mod fcm;
pub mod outbox;
pub mod ses;
pub mod twilio;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A channel a message leaves by (in-app records and socket pushes are not messages: they
/// stay in the platform).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }
}

/// One message to one address: an email address, an E.164 phone number or a device token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub channel: Channel,
    pub to: String,
    /// The subject of an email, the title of a push; SMS has none.
    pub subject: Option<String>,
    pub body: String,
    /// Who it is for and what it reports (the outbox records both; providers do not see them).
    pub user_id: String,
    pub event_id: String,
    /// Small key–value data a push carries to the app (FCM's `data`: strings only).
    #[serde(default)]
    pub data: std::collections::BTreeMap<String, String>,
}

/// Why a send did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The address is gone for good (FCM's `404 UNREGISTERED`): forget it, do not retry.
    Gone,
    /// The provider refused this message for good (a malformed number, a suppressed address):
    /// retrying cannot help.
    Rejected(String),
    /// It may work later (throttling, a 5xx, the network): retry.
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Gone => f.write_str("the address is gone"),
            SendError::Rejected(why) => write!(f, "refused: {why}"),
            SendError::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// Sends messages of one channel.
#[async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError>;
}

/// Reads an HTTP status a provider answered: 429 and 5xx may pass, other 4xx will not.
pub fn classify_status(status: u16, body: &str) -> SendError {
    let why = format!("{status}: {}", body.chars().take(300).collect::<String>());
    if status == 429 || status >= 500 { SendError::Failed(why) } else { SendError::Rejected(why) }
}

/// `CY_AWS_ENDPOINT`: an emulator's address, for tests and local runs against moto.
pub(crate) fn emulator_endpoint() -> Option<String> {
    std::env::var("CY_AWS_ENDPOINT").ok()
}

/// A setting as configured: trimmed; empty or `-` means unset (`-` is how a deployment says "not
/// used" where a value must exist, as the payment settings do).
pub(crate) fn setting(raw: Option<String>) -> Option<String> {
    raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v != "-")
}

/// A reqwest error with its causes: its own message alone ("error sending request") does not say
/// whether the connection was refused, timed out or failed TLS.
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
