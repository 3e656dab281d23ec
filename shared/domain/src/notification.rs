//! Notifications: the channels a user allows, the devices they receive mobile push on, and
//! the in-app record of what they were told.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, Error, EventId, Timestamp, UserId};

/// The channels a user allows (`GET, PUT /me/notification-preferences`). Everything is on
/// until the user says otherwise; OTP codes and security mail ignore these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub email: bool,
    pub sms: bool,
    pub push: bool,
    pub in_app: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences { email: true, sms: true, push: true, in_app: true }
    }
}

/// A device's platform, as its push token was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

/// A push service's registration token: printable ASCII, 1–4096 bytes (FCM's are ~160).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PushToken(String);

impl PushToken {
    pub const MAX_LEN: usize = 4096;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid("token", "must be a push registration token (1–4096 printable characters)"));
        }
        Ok(PushToken(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PushToken {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<PushToken> for String {
    fn from(t: PushToken) -> String {
        t.0
    }
}

/// A device registered for mobile push.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub platform: Platform,
    pub token: PushToken,
    pub created_at: Timestamp,
}

/// The most devices one user may register: a fan-out pushes to each.
pub const MAX_DEVICES_PER_USER: usize = 10;

/// An in-app notification. Its id is the event's it reports: one per (event, recipient).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: EventId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    pub created_at: Timestamp,
}
