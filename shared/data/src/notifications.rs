//! Notifications: in-app records, channel preferences, push devices, and the claims that make
//! each (event, recipient, channel) go out at most once.
//!
//! A claim follows the idempotency pattern of AWS Lambda Powertools: it is taken `in_progress`
//! with an expiry before the send and marked `done` after it. A second delivery of the event
//! finds `done` and skips; one that finds a live `in_progress` claim backs off (the message is
//! retried later); one that finds an expired `in_progress` claim takes it over, so a send whose
//! worker crashed is retried rather than lost. SES and Twilio have no idempotency key of their
//! own, so a crash between the provider's acceptance and `done` can still send twice: the
//! window is one provider call, not a whole batch.

use cy_domain::notification::{Device, MAX_DEVICES_PER_USER, Notification, Preferences};
use cy_domain::{DeviceId, Error, ErrorCode, EventId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Condition, Cursor, Item, Query, QueryItems, Store, StoreError, Update, WriteOp};

/// How long a claimed send may take before another delivery may take the claim over.
pub const CLAIM_HOLD_SECS: i64 = 60;
/// How long a finished claim is kept: longer than SQS keeps a message (14 days at most is
/// configurable; ours keep 4 days) so no redelivery finds it gone.
pub const CLAIM_KEEP_SECS: i64 = 14 * 24 * 3600;

/// The user's channel choices (all on when never set).
pub async fn preferences(store: &dyn Store, user: &UserId) -> Result<Preferences, Error> {
    match store.get(&keys::notification_preferences(user)).await? {
        Some(item) => {
            let stored: StoredPreferences = item.record()?;
            Ok(Preferences { email: stored.email, sms: stored.sms, push: stored.push, in_app: stored.in_app })
        }
        None => Ok(Preferences::default()),
    }
}

/// Preferences as stored: the item carries its key attributes beside the four choices (the
/// domain type refuses unknown fields, as a request body must).
#[derive(Deserialize)]
struct StoredPreferences {
    email: bool,
    sms: bool,
    push: bool,
    in_app: bool,
}

pub async fn set_preferences(store: &dyn Store, user: &UserId, prefs: &Preferences) -> Result<(), Error> {
    Ok(store.put(Item::from_record(&keys::notification_preferences(user), prefs)?, None).await?)
}

/// The user's registered devices (at most [`MAX_DEVICES_PER_USER`]).
pub async fn devices(store: &dyn QueryItems, user: &UserId) -> Result<Vec<Device>, Error> {
    let q = Query::table(keys::user_partition(user))
        .begins_with(keys::DEVICE_PREFIX)
        .limit(MAX_DEVICES_PER_USER as u32 + 1);
    Ok(store.query(&q).await?.records()?)
}

#[derive(Serialize, Deserialize)]
struct TokenOwner {
    user_id: UserId,
    device_id: DeviceId,
}

fn token_key(token: &cy_domain::notification::PushToken) -> crate::Key {
    use sha2::Digest;
    keys::push_token(&hex::encode(sha2::Sha256::digest(token.as_str().as_bytes())))
}

/// Registers a device. A token belongs to one device of one user: the user who registered it
/// already gets that registration back (a client registering on every start piles up no
/// copies); another user's registration of it is moved to this user in the same transaction
/// (a phone that changed hands must not receive its former owner's notifications).
/// `Ok((device, created))`.
pub async fn register_device(store: &dyn Store, device: Device) -> Result<(Device, bool), Error> {
    let token = token_key(&device.token);
    let owner: Option<TokenOwner> = store.get(&token).await?.map(|i| i.record()).transpose()?;
    if let Some(owner) = &owner
        && owner.user_id == device.user_id
        && let Some(item) = store.get(&keys::device(&owner.user_id, &owner.device_id)).await?
    {
        return Ok((item.record()?, false));
    }
    if devices(store, &device.user_id).await?.len() >= MAX_DEVICES_PER_USER {
        return Err(Error::conflict(
            ErrorCode::AlreadyExists,
            format!("At most {MAX_DEVICES_PER_USER} devices; remove one first."),
        ));
    }
    let claim = TokenOwner { user_id: device.user_id.clone(), device_id: device.id.clone() };
    // Moved only from the owner read above: a concurrent registration fails this one (409).
    let unchanged = match &owner {
        Some(o) => Condition::equals("device_id", o.device_id.as_str()),
        None => Condition::Absent,
    };
    let mut ops = vec![
        WriteOp::Put { item: Item::from_record(&token, &claim)?, condition: Some(unchanged) },
        WriteOp::create(Item::from_record(&keys::device(&device.user_id, &device.id), &device)?),
    ];
    if let Some(o) = owner {
        ops.push(WriteOp::Delete { key: keys::device(&o.user_id, &o.device_id), condition: None });
    }
    store.transact(ops).await?;
    Ok((device, true))
}

/// Removes a device (and its token's owner entry); `false` if it was not registered.
pub async fn remove_device(store: &dyn Store, user: &UserId, device: &DeviceId) -> Result<bool, Error> {
    let Some(item) = store.get(&keys::device(user, device)).await? else { return Ok(false) };
    let known: Device = item.record()?;
    match store.delete(&keys::device(user, device), Some(Condition::Exists)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    // The token's entry goes only while it names this device (not a newer owner's); left
    // behind, it is harmless: a registration of the token finds its device gone and moves it.
    let still_ours = Condition::equals("device_id", device.as_str());
    match store.delete(&token_key(&known.token), Some(still_ours)).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Records an in-app notification; `false` if this event's is already there.
pub async fn record(store: &dyn Store, notification: &Notification) -> Result<bool, Error> {
    let item = Item::from_record(&keys::notification(&notification.user_id, &notification.id), notification)?;
    match store.put(item, Some(Condition::Absent)).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The user's notifications, newest first.
pub async fn list(
    store: &dyn QueryItems,
    user: &UserId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Notification>, Option<Cursor>), Error> {
    let q = Query::table(keys::user_partition(user))
        .begins_with(keys::NOTIFICATION_PREFIX)
        .descending()
        .limit(limit)
        .after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// Marks a notification read (the first time only: `read_at` keeps the first reading).
pub async fn mark_read(store: &dyn Store, user: &UserId, id: &EventId, now: Timestamp) -> Result<Notification, Error> {
    let key = keys::notification(user, id);
    let update = Update::new(key.clone())
        .set("read_at", serde_json::to_value(now).map_err(|_| Error::internal())?)
        .when(Condition::Exists.and(Condition::LacksAttr("read_at".into())));
    match store.update(update).await {
        Ok(item) => Ok(item.record()?),
        Err(StoreError::ConditionFailed { .. }) => match store.get(&key).await? {
            Some(item) => Ok(item.record()?),
            None => Err(Error::not_found("The notification")),
        },
        Err(e) => Err(e.into()),
    }
}

/// What a claim attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours: send, then [`finish`] (or [`release`] if the send should be retried).
    Taken,
    /// Already sent (or given up on for good): skip.
    Done,
    /// Another delivery is sending it now: retry later.
    Busy,
}

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    status: String,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
}

/// Claims sending `subject` (an event's id, or a collapse key) to `user` on `channel`.
pub async fn claim(store: &dyn Store, subject: &str, user: &UserId, channel: &str, now: i64) -> Result<Claim, Error> {
    let key = keys::delivery_claim(subject, user, channel);
    let record = ClaimRecord { status: "in_progress".into(), expires_at: now + CLAIM_HOLD_SECS, outcome: None };
    let item = Item::from_record(&key, &record)?.expires_at(now + CLAIM_KEEP_SECS);
    let free = Condition::Absent
        .or(Condition::equals("status", "in_progress").and(Condition::less_than("expires_at", now + 1)));
    match store.put(item, Some(free)).await {
        Ok(()) => Ok(Claim::Taken),
        Err(StoreError::ConditionFailed { .. }) => match store.get(&key).await? {
            Some(item) if item.get("status").and_then(serde_json::Value::as_str) == Some("done") => Ok(Claim::Done),
            Some(_) => Ok(Claim::Busy),
            // Released between the two calls: the next delivery takes it.
            None => Ok(Claim::Busy),
        },
        Err(e) => Err(e.into()),
    }
}

/// Marks a claimed send finished (`outcome`: `sent`, or why it was given up for good).
pub async fn finish(
    store: &dyn Store,
    subject: &str,
    user: &UserId,
    channel: &str,
    outcome: &str,
    now: i64,
) -> Result<(), Error> {
    let key = keys::delivery_claim(subject, user, channel);
    let record = ClaimRecord { status: "done".into(), expires_at: now, outcome: Some(outcome.to_owned()) };
    Ok(store.put(Item::from_record(&key, &record)?.expires_at(now + CLAIM_KEEP_SECS), None).await?)
}

/// Gives a claim back after a send that may work later, so the retry can take it at once.
pub async fn release(store: &dyn Store, subject: &str, user: &UserId, channel: &str) -> Result<(), Error> {
    let key = keys::delivery_claim(subject, user, channel);
    Ok(store.delete(&key, Some(Condition::equals("status", "in_progress"))).await.or_else(|e| match e {
        StoreError::ConditionFailed { .. } => Ok(()),
        e => Err(e),
    })?)
}
