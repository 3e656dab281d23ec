//! `Idempotency-Key` on creating POSTs (contract, "Conventions"): the key from the headers, the
//! request body's hash, and the one 409 for a key reused with another request.

use axum::http::HeaderMap;
use cy_data::idempotency::{self as claims, IdempotencyClaim, Scope, StoredAnswer};
use cy_data::{ReadItems, WriteItems, WriteOp};
use cy_domain::{Error, Timestamp, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
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

/// A creating request's `Idempotency-Key` with the hash of its body and the endpoint it is for.
pub(crate) struct Keyed {
    key: String,
    request_sha256: String,
    scope: Scope,
}

/// What an earlier request with the same key made, and the answer it got when one was kept.
pub(crate) struct Earlier {
    pub created: String,
    answer: Option<StoredAnswer>,
}

impl Earlier {
    /// The first answer as it was given, when kept (claims older than kept answers have none).
    fn kept<T: DeserializeOwned>(&self) -> Option<Result<T, Error>> {
        let kept = self.answer.as_ref().filter(|a| !a.sealed)?;
        Some(serde_json::from_str(&kept.body).map_err(|_| Error::internal()))
    }
}

impl Keyed {
    /// A creating request's canonical body (`canonical_json`) and its key with the body's hash,
    /// if it sent an `Idempotency-Key`.
    pub(crate) fn from_request(
        headers: &HeaderMap,
        raw: &Value,
        scope: Scope,
    ) -> Result<(Vec<u8>, Option<Keyed>), Error> {
        let key = idempotency_key(headers)?;
        let (canonical, request_sha256) = canonical_json(raw)?;
        Ok((canonical, key.map(|key| Keyed { key, request_sha256, scope })))
    }

    fn claim(&self, created: &str) -> IdempotencyClaim {
        IdempotencyClaim::new(&self.request_sha256, created).scoped(self.scope)
    }

    /// The claim to write in the very transaction that creates `created`: none without a key.
    pub(crate) fn claims(
        keyed: Option<&Keyed>,
        caller: &UserId,
        created: &str,
        now: Timestamp,
    ) -> Result<Vec<WriteOp>, Error> {
        keyed.map(|k| k.claim(created).write(caller, &k.key, now)).into_iter().collect()
    }

    /// As [`Self::claims`], with the answer the request gets (201 and `answer`) kept on it.
    fn claims_answered<T: Serialize>(
        keyed: Option<&Keyed>,
        caller: &UserId,
        created: &str,
        answer: &T,
        now: Timestamp,
    ) -> Result<Vec<WriteOp>, Error> {
        let Some(k) = keyed else { return Ok(Vec::new()) };
        let claim = k.claim(created).answered(plain_answer(201, answer)?);
        Ok(vec![claim.write(caller, &k.key, now)?])
    }

    /// What an earlier request with this key created: `None` while the key is unused, 409 if
    /// that request asked for something else or on another endpoint.
    pub(crate) async fn earlier(&self, store: &dyn ReadItems, caller: &UserId) -> Result<Option<Earlier>, Error> {
        match claims::claim(store, caller, &self.key).await? {
            None => Ok(None),
            Some(claim) => {
                claim.check_scope(self.scope)?;
                if claim.request_sha256 != self.request_sha256 {
                    return Err(key_reused());
                }
                Ok(Some(Earlier { created: claim.created, answer: claim.answer }))
            }
        }
    }

    /// Keeps `answer` (201) as this key's first answer, when it could not be kept with the
    /// claim (it is known only after the provider was asked).
    pub(crate) async fn keep_answer<T: Serialize>(
        &self,
        store: &dyn WriteItems,
        caller: &UserId,
        status: u16,
        answer: &T,
    ) -> Result<(), Error> {
        claims::record_answer(store, caller, &self.key, &plain_answer(status, answer)?).await
    }
}

fn plain_answer<T: Serialize>(status: u16, answer: &T) -> Result<StoredAnswer, Error> {
    Ok(StoredAnswer { status, body: serde_json::to_string(answer).map_err(|_| Error::internal())?, sealed: false })
}

/// The first answer to an earlier request with the same key and body: as it was kept, or (for
/// claims from before answers were kept) what `replay` makes of what it created. `None` while
/// the key is unused (or there is none), 409 for another body or endpoint. Called before
/// deciding anything, so a retry answers what the first request got, whatever it would decide
/// now.
pub(crate) async fn replay_earlier<T, Replayed>(
    keyed: Option<&Keyed>,
    store: &dyn ReadItems,
    caller: &UserId,
    replay: impl FnOnce(String) -> Replayed,
) -> Result<Option<T>, Error>
where
    T: DeserializeOwned,
    Replayed: Future<Output = Result<T, Error>>,
{
    let Some(keyed) = keyed else { return Ok(None) };
    match keyed.earlier(store, caller).await? {
        Some(earlier) => match earlier.kept() {
            Some(kept) => Ok(Some(kept?)),
            None => Ok(Some(replay(earlier.created).await?)),
        },
        None => Ok(None),
    }
}

/// Creates `created` once per key, after [`replay_earlier`] found the key unused. `create`
/// commits it with the claims it is given (holding `answer`, what this request answers) in one
/// transaction; when that fails because a request with the same key committed alongside this
/// one, the answer kept by that request is given. Without a key this is just `create`. (Plain
/// closures returning futures, not async closures: the latter's higher-ranked lifetimes make
/// axum handlers lose `Send`.)
pub(crate) async fn create_once<T, Created, Replayed>(
    keyed: Option<&Keyed>,
    store: &dyn ReadItems,
    caller: &UserId,
    created: &str,
    answer: &T,
    create: impl FnOnce(Vec<WriteOp>) -> Created,
    replay: impl FnOnce(String) -> Replayed,
) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned,
    Created: Future<Output = Result<T, Error>>,
    Replayed: Future<Output = Result<T, Error>>,
{
    let Some(keyed) = keyed else { return create(Vec::new()).await };
    let claims = Keyed::claims_answered(Some(keyed), caller, created, answer, Timestamp::now())?;
    match create(claims).await {
        Ok(answer) => Ok(answer),
        Err(e) => match keyed.earlier(store, caller).await? {
            Some(earlier) => match earlier.kept() {
                Some(kept) => kept,
                None => replay(earlier.created).await,
            },
            None => Err(e),
        },
    }
}

pub(crate) use cy_data::idempotency::key_reused;
