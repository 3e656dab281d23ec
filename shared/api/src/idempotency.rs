//! `Idempotency-Key` on creating POSTs (contract, "Conventions"): the key from the headers, the
//! request body's hash, and the one 409 for a key reused with another request.

use axum::http::HeaderMap;
use cy_data::idempotency::{self as claims, IdempotencyClaim};
use cy_data::{ReadItems, WriteOp};
use cy_domain::{Error, ErrorCode, Timestamp, UserId};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's `Idempotency-Key`, if it sent one.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(raw) => raw
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
            .map(|k| Some(k.to_owned()))
            .ok_or_else(|| {
                Error::invalid("Idempotency-Key", format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible characters"))
            }),
    }
}

/// A request body as bytes in one form whatever the client's key order (serde_json orders
/// object keys).
pub(crate) fn canonical_body(raw: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(raw).map_err(|_| Error::internal())
}

/// A request body as bytes, and their SHA-256: the same key with the same body replays, and
/// serde_json orders object keys, so the hash does not depend on how the client ordered them.
pub(crate) fn canonical_json(raw: &Value) -> Result<(Vec<u8>, String), Error> {
    let canonical = canonical_body(raw)?;
    let request_sha256 = hex::encode(Sha256::digest(&canonical));
    Ok((canonical, request_sha256))
}

/// A creating request's `Idempotency-Key` with the hash of its body.
pub(crate) struct Keyed {
    key: String,
    request_sha256: String,
}

impl Keyed {
    /// A creating request's canonical body (`canonical_json`) and its key with the body's hash,
    /// if it sent an `Idempotency-Key`.
    pub(crate) fn from_request(headers: &HeaderMap, raw: &Value) -> Result<(Vec<u8>, Option<Keyed>), Error> {
        let key = idempotency_key(headers)?;
        let (canonical, request_sha256) = canonical_json(raw)?;
        Ok((canonical, key.map(|key| Keyed { key, request_sha256 })))
    }

    /// The claim to write in the very transaction that creates `created`: none without a key.
    pub(crate) fn claims(
        keyed: Option<&Keyed>,
        caller: &UserId,
        created: &str,
        now: Timestamp,
    ) -> Result<Vec<WriteOp>, Error> {
        keyed
            .map(|k| IdempotencyClaim::new(&k.request_sha256, created).write(caller, &k.key, now))
            .into_iter()
            .collect()
    }

    /// The id of what an earlier request with this key created: `None` while the key is unused,
    /// 409 if that request asked for something else.
    pub(crate) async fn earlier(&self, store: &dyn ReadItems, caller: &UserId) -> Result<Option<String>, Error> {
        match claims::claim(store, caller, &self.key).await? {
            None => Ok(None),
            Some(claim) if claim.request_sha256 == self.request_sha256 => Ok(Some(claim.created)),
            Some(_) => Err(key_reused()),
        }
    }
}

/// What an earlier request with the same key and body created, answered by `replay`: `None`
/// while the key is unused (or there is none), 409 for another body. Called before deciding
/// anything, so a retry answers what the first request made, whatever it would decide now.
pub(crate) async fn replay_earlier<T, Replayed>(
    keyed: Option<&Keyed>,
    store: &dyn ReadItems,
    caller: &UserId,
    replay: impl FnOnce(String) -> Replayed,
) -> Result<Option<T>, Error>
where
    Replayed: Future<Output = Result<T, Error>>,
{
    let Some(keyed) = keyed else { return Ok(None) };
    match keyed.earlier(store, caller).await? {
        Some(earlier) => Ok(Some(replay(earlier).await?)),
        None => Ok(None),
    }
}

/// Creates `created` once per key, after [`replay_earlier`] found the key unused. `create`
/// commits it with the claims it is given in one transaction; when that fails because a
/// request with the same key committed alongside this one, `replay` answers what it created.
/// Without a key this is just `create`. (Plain closures returning futures, not async closures:
/// the latter's higher-ranked lifetimes make axum handlers lose `Send`.)
pub(crate) async fn create_once<T, Created, Replayed>(
    keyed: Option<&Keyed>,
    store: &dyn ReadItems,
    caller: &UserId,
    created: &str,
    create: impl FnOnce(Vec<WriteOp>) -> Created,
    replay: impl FnOnce(String) -> Replayed,
) -> Result<T, Error>
where
    Created: Future<Output = Result<T, Error>>,
    Replayed: Future<Output = Result<T, Error>>,
{
    let Some(keyed) = keyed else { return create(Vec::new()).await };
    let claims = Keyed::claims(Some(keyed), caller, created, Timestamp::now())?;
    match create(claims).await {
        Ok(answer) => Ok(answer),
        Err(e) => match keyed.earlier(store, caller).await? {
            Some(earlier) => replay(earlier).await,
            None => Err(e),
        },
    }
}

pub(crate) fn key_reused() -> Error {
    Error::conflict(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key (or quote) was already used for a different request.",
    )
}
