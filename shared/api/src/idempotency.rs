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

/// A request body as bytes, and their SHA-256: the same key with the same body replays, and
/// serde_json orders object keys, so the hash does not depend on how the client ordered them.
pub(crate) fn canonical_json(raw: &Value) -> Result<(Vec<u8>, String), Error> {
    let canonical = serde_json::to_vec(raw).map_err(|_| Error::internal())?;
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

/// Creates `created` once per key. `create` commits it with the claims it is given in one
/// transaction; `replay` answers what an earlier request with the same key and body created
/// (also when that request committed alongside this one and made `create` fail). Without a
/// key this is just `create`. (Plain closures returning futures, not async closures: the
/// latter's higher-ranked lifetimes make axum handlers lose `Send`.)
pub(crate) async fn create_once<T, Created, Replayed>(
    keyed: Option<&Keyed>,
    store: &dyn ReadItems,
    caller: &UserId,
    created: &str,
    create: impl FnOnce(Vec<WriteOp>) -> Created,
    replay: impl Fn(String) -> Replayed,
) -> Result<T, Error>
where
    Created: Future<Output = Result<T, Error>>,
    Replayed: Future<Output = Result<T, Error>>,
{
    let Some(keyed) = keyed else { return create(Vec::new()).await };
    if let Some(earlier) = keyed.earlier(store, caller).await? {
        return replay(earlier).await;
    }
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
