//! Notifications: what the signed-in user reads and chooses (`/me/notifications`,
//! `/me/notification-preferences`, `/me/devices`, served by function `users`), and the
//! fan-out that sends them ([`fanout`], function `notify-fanout`).

pub mod fanout;
pub mod lambda;
pub mod routes;
pub mod templates;

use std::sync::Arc;

use cy_data::notifications as records;
use cy_data::{Cursor, Store};
use cy_domain::notification::{Device, Notification, Platform, Preferences, PushToken};
use cy_domain::{DeviceId, Error, EventId, Timestamp, UserId};
use serde::Serialize;

/// An in-app notification as the contract shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            id: n.id.to_string(),
            kind: n.kind,
            title: n.title,
            body: n.body,
            data: n.data,
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

/// A device registration as the contract shows it (the token is not echoed back: it is a
/// credential of sorts for pushing to that device).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub platform: Platform,
    pub created_at: Timestamp,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        DeviceView { id: d.id.to_string(), platform: d.platform, created_at: d.created_at }
    }
}

#[derive(Clone)]
pub struct Notifications {
    pub store: Arc<dyn Store>,
}

impl Notifications {
    pub async fn list(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<NotificationView>, Option<Cursor>), Error> {
        let (items, next) = records::list(self.store.as_ref(), user, limit, cursor).await?;
        Ok((items.into_iter().map(Into::into).collect(), next))
    }

    pub async fn mark_read(&self, user: &UserId, id: &str) -> Result<NotificationView, Error> {
        let id = EventId::parse(id).map_err(|_| Error::not_found("The notification"))?;
        Ok(records::mark_read(self.store.as_ref(), user, &id, Timestamp::now()).await?.into())
    }

    pub async fn preferences(&self, user: &UserId) -> Result<Preferences, Error> {
        records::preferences(self.store.as_ref(), user).await
    }

    pub async fn set_preferences(&self, user: &UserId, prefs: Preferences) -> Result<Preferences, Error> {
        records::set_preferences(self.store.as_ref(), user, &prefs).await?;
        Ok(prefs)
    }

    /// Registers a device; `(view, created)` (a known token answers its registration).
    pub async fn register_device(
        &self,
        user: &UserId,
        platform: Platform,
        token: PushToken,
    ) -> Result<(DeviceView, bool), Error> {
        let device =
            Device { id: DeviceId::generate(), user_id: user.clone(), platform, token, created_at: Timestamp::now() };
        let (device, created) = records::register_device(self.store.as_ref(), device).await?;
        Ok((device.into(), created))
    }

    pub async fn remove_device(&self, user: &UserId, id: &str) -> Result<(), Error> {
        let id = DeviceId::parse(id).map_err(|_| Error::not_found("The device"))?;
        if records::remove_device(self.store.as_ref(), user, &id).await? {
            Ok(())
        } else {
            Err(Error::not_found("The device"))
        }
    }
}
