//! The local runtime's outbox: every email, SMS and push the local senders "send", kept in the
//! store (so it survives a restart with the data dir) and read by `GET /dev/outbox`. Never
//! written on AWS.

use cy_domain::{Error, Timestamp};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Cursor, Item, Query, QueryItems, Store};

/// One message as `GET /dev/outbox` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Sortable by creation (a ULID).
    pub id: String,
    pub channel: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    pub user_id: String,
    pub event_id: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub created_at: Timestamp,
}

pub async fn append(store: &dyn Store, message: &OutboxMessage) -> Result<(), Error> {
    Ok(store.put(Item::from_record(&keys::dev_outbox(&message.id), message)?, None).await?)
}

/// Newest first.
pub async fn list(
    store: &dyn QueryItems,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<OutboxMessage>, Option<Cursor>), Error> {
    let q = Query::table(keys::DEV_OUTBOX_PK).descending().limit(limit).after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// The cursor that resumes the list after message `id` (a filtered page that ends early).
pub fn cursor_after(id: &str) -> Result<Cursor, Error> {
    Ok(Cursor::after(&crate::port::Item::new(&keys::dev_outbox(id)), None)?)
}
