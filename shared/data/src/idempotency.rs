//! `Idempotency-Key` claims: which request (by the hash of its body) on which endpoint created
//! what, and the first answer it got, remembered per caller and key. A claim is written in the
//! same transaction as what the request creates, so of two requests with one key exactly one
//! creates; the other finds the claim and replays the first answer.

use cy_domain::{Error, ErrorCode, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Condition, Item, ReadItems, Update, WriteItems, WriteOp};

/// How long an idempotency key is remembered (contract: at least 24 hours).
pub const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;

/// The endpoint a key was used on: one key names one request, so the same key on another
/// endpoint is a client's mistake (409), not a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Order,
    Refund,
    Product,
    Address,
    Coupon,
    Category,
    Message,
}

/// An answer as it was first given: its status and its body (JSON text, sealed under the data
/// key when it holds a secret such as a payment's client secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
    #[serde(default)]
    pub sealed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyClaim {
    pub request_sha256: String,
    /// The id of what the request created (an order, a refund's order, a product).
    /// Claims written before products had keys named it `order_id`.
    #[serde(alias = "order_id")]
    pub created: String,
    /// Claims written before scopes had none (they replay on any endpoint, as they did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The first answer, once known: replayed as it was, whatever the record is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
}

pub fn key_reused() -> Error {
    Error::conflict(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key (or quote) was already used for a different request.",
    )
}

impl IdempotencyClaim {
    pub fn new(request_sha256: &str, created: &str) -> IdempotencyClaim {
        IdempotencyClaim {
            request_sha256: request_sha256.to_owned(),
            created: created.to_owned(),
            scope: None,
            answer: None,
        }
    }

    pub fn scoped(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The claim with the first answer, when it is known as the claim is written.
    pub fn answered(mut self, answer: StoredAnswer) -> Self {
        self.answer = Some(answer);
        self
    }

    /// 409 `idempotency_key_reused` when the key was used on another endpoint.
    pub fn check_scope(&self, expected: Scope) -> Result<(), Error> {
        match self.scope {
            Some(scope) if scope != expected => Err(key_reused()),
            _ => Ok(()),
        }
    }

    /// The claim as a write that only succeeds while `caller`'s `key` is unused.
    pub fn write(&self, caller: &UserId, key: &str, now: Timestamp) -> Result<WriteOp, Error> {
        let item = Item::from_record(&keys::idempotency(caller, key), self)?;
        Ok(WriteOp::create(item.expires_at(now.unix() + IDEMPOTENCY_TTL_SECS)))
    }
}

/// The claim `caller` made with `key`, if it is still remembered.
pub async fn claim(store: &dyn ReadItems, caller: &UserId, key: &str) -> Result<Option<IdempotencyClaim>, Error> {
    Ok(store.get(&keys::idempotency(caller, key)).await?.map(|item| item.record()).transpose()?)
}

/// Keeps the first answer on a claim written before the answer was known (an order's answer
/// holds the payment the provider opened after the order committed). The first one kept wins.
pub async fn record_answer(
    store: &dyn WriteItems,
    caller: &UserId,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), Error> {
    let update = Update::new(keys::idempotency(caller, key))
        .set("answer", serde_json::to_value(answer).map_err(|_| Error::internal())?)
        .when(Condition::Exists.and(Condition::LacksAttr("answer".into())));
    match store.update(update).await {
        Ok(_) => Ok(()),
        Err(e) if e.failed_op().is_some() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The write that keeps `answer` on `caller`'s claim of `key`, in the transaction that makes it
/// the answer (the claim exists: it was written with the order).
pub fn answer_write(caller: &UserId, key: &str, answer: &StoredAnswer) -> Result<WriteOp, Error> {
    let update = Update::new(keys::idempotency(caller, key))
        .set("answer", serde_json::to_value(answer).map_err(|_| Error::internal())?)
        .when(Condition::Exists);
    Ok(WriteOp::Update(update))
}
