//! `Idempotency-Key` claims: which request (by the hash of its body) created what, remembered
//! per caller and key. A claim is written in the same transaction as what the request creates,
//! so of two requests with one key exactly one creates; the other finds the claim and replays.

use cy_domain::{Error, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Item, ReadItems, WriteOp};

/// How long an idempotency key is remembered (contract: at least 24 hours).
pub const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyClaim {
    pub request_sha256: String,
    /// The id of what the request created (an order, a refund's order, a product).
    /// Claims written before products had keys named it `order_id`.
    #[serde(alias = "order_id")]
    pub created: String,
}

impl IdempotencyClaim {
    pub fn new(request_sha256: &str, created: &str) -> IdempotencyClaim {
        IdempotencyClaim { request_sha256: request_sha256.to_owned(), created: created.to_owned() }
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
