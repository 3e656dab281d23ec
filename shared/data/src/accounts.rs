//! Account records and the multi-item writes that keep them consistent: unique emails, the
//! refresh-token chain of a login, the capped address book.

use cy_domain::{Address, AddressId, Email, Error, ErrorCode, SessionId, Timestamp, User, UserId};
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
use crate::keys;
use crate::port::{
    Condition, Cursor, Item, Key, Page, Query, QueryItems, ReadItems, StoreError, Update, WriteItems, WriteOp,
};

/// The item that claims an email address for one user.
#[derive(Debug, Serialize, Deserialize)]
struct EmailClaim {
    user_id: UserId,
}

fn user_item(user: &User) -> Result<Item, StoreError> {
    Ok(Item::from_record(&keys::user(&user.id), user)?.in_index(
        keys::USERS_BY_ROLE,
        keys::users_by_role_pk(user.role),
        user.id.as_str(),
    ))
}

fn email_claim_item(email: &Email, user: &UserId) -> Result<Item, StoreError> {
    Item::from_record(&keys::email_claim(email), &EmailClaim { user_id: user.clone() })
}

/// Stores a new account and claims its email, in one transaction with its audit record and
/// `also` (such as the writes of its first login). A taken email (compared case-insensitively)
/// is 409 `already_exists`, and then nothing is written.
pub async fn create_user(
    store: &dyn WriteItems,
    user: &User,
    audit: &AuditRecord,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = vec![
        WriteOp::create(user_item(user)?),
        WriteOp::create(email_claim_item(&user.email, &user.id)?),
        audit.write()?,
    ];
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(1) => Error::conflict(ErrorCode::AlreadyExists, "An account with this email already exists.")
            .with_detail("field", "email"),
        _ => e.into(),
    })
}

pub async fn get_user(store: &dyn ReadItems, id: &UserId) -> Result<Option<User>, Error> {
    Ok(store.get(&keys::user(id)).await?.map(|item| item.record()).transpose()?)
}

pub async fn find_user_by_email(store: &dyn ReadItems, email: &Email) -> Result<Option<User>, Error> {
    let Some(claim) = store.get(&keys::email_claim(email)).await? else { return Ok(None) };
    let claim: EmailClaim = claim.record()?;
    get_user(store, &claim.user_id).await
}

/// Saves a changed profile (name, phone, email and their verification flags) if the stored
/// version is still `before.version`; moves the email claim when the email changed. Only the
/// profile's own fields are written, so counters kept on the user item are never overwritten
/// with stale values.
pub async fn save_profile(
    store: &dyn WriteItems,
    before: &User,
    after: &User,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut update = Update::new(keys::user(&after.id))
        .set("name", after.name.as_str())
        .set("email", after.email.as_str())
        .set("email_verified", after.email_verified)
        .set("phone_verified", after.phone_verified)
        .set("updated_at", serde_json::to_value(after.updated_at).map_err(|_| Error::internal())?)
        .set("version", after.version)
        .when(Condition::equals("version", before.version));
    update = match &after.phone {
        Some(phone) => update.set("phone", phone.as_str()),
        None => update.remove("phone"),
    };
    let mut ops = vec![WriteOp::Update(update)];
    if before.email.normalized() != after.email.normalized() {
        ops.push(WriteOp::Delete {
            key: keys::email_claim(&before.email),
            condition: Some(Condition::equals("user_id", before.id.as_str())),
        });
        ops.push(WriteOp::create(email_claim_item(&after.email, &after.id)?));
    }
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(0) => {
            Error::conflict(ErrorCode::VersionConflict, "The profile changed since it was read; reload and retry.")
        }
        Some(2) => Error::conflict(ErrorCode::AlreadyExists, "An account with this email already exists.")
            .with_detail("field", "email"),
        _ => e.into(),
    })
}

/// One login: the family of refresh tokens rotated from one sign-in. Revoking it ends them all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

/// A refresh token as stored: only its SHA-256 is the key; the token itself is never kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set when the token was exchanged; presenting it again is reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_at: Option<Timestamp>,
}

fn refresh_item(hash_hex: &str, record: &RefreshRecord) -> Result<Item, StoreError> {
    Ok(Item::from_record(&keys::refresh_token(hash_hex), record)?.expires_at(record.expires_at.unix()))
}

/// The writes that start a login with its first refresh token, for the caller's transaction.
pub fn session_writes(session: &SessionRecord, token_hash: &str, token: &RefreshRecord) -> Result<Vec<WriteOp>, Error> {
    let session_item = Item::from_record(&keys::session(&session.user_id, &session.session_id), session)?
        // A login is kept as long as its newest token; after that DynamoDB may drop it.
        .expires_at(token.expires_at.unix());
    Ok(vec![WriteOp::create(session_item), WriteOp::create(refresh_item(token_hash, token)?)])
}

/// Starts a login, with `also` (its audit record) in the same transaction.
pub async fn start_session(
    store: &dyn WriteItems,
    session: &SessionRecord,
    token_hash: &str,
    token: &RefreshRecord,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = session_writes(session, token_hash, token)?;
    ops.extend(also);
    store.transact(ops).await.map_err(Error::from)
}

pub async fn get_refresh(store: &dyn ReadItems, token_hash: &str) -> Result<Option<RefreshRecord>, Error> {
    Ok(store.get(&keys::refresh_token(token_hash)).await?.map(|i| i.record()).transpose()?)
}

pub async fn get_session(
    store: &dyn ReadItems,
    user: &UserId,
    session: &SessionId,
) -> Result<Option<SessionRecord>, Error> {
    Ok(store.get(&keys::session(user, session)).await?.map(|i| i.record()).transpose()?)
}

/// Why a rotation did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateRefused {
    /// The presented token was already spent (by an earlier or a concurrent exchange): reuse.
    AlreadySpent,
    /// The login was revoked (logout or detected reuse).
    SessionRevoked,
}

/// Exchanges a refresh token for its successor in one transaction: marks the old one spent
/// (only if it was not), checks the login is not revoked, stores the new one. Of two
/// concurrent exchanges of one token exactly one succeeds; the other sees `AlreadySpent`.
pub async fn rotate_refresh(
    store: &dyn WriteItems,
    old_hash: &str,
    new_hash: &str,
    new_token: &RefreshRecord,
    now: Timestamp,
) -> Result<Result<(), RotateRefused>, Error> {
    let spend = Update::new(keys::refresh_token(old_hash))
        .set("spent_at", serde_json::to_value(now).map_err(|_| Error::internal())?)
        .when(Condition::Exists.and(Condition::LacksAttr("spent_at".into())));
    // The session is checked and its TTL extended by one operation: a transaction may touch
    // an item only once.
    let keep_session = Update::new(keys::session(&new_token.user_id, &new_token.session_id))
        .set(crate::port::TTL, new_token.expires_at.unix())
        .when(Condition::Exists.and(Condition::LacksAttr("revoked_at".into())));
    let ops = vec![
        WriteOp::Update(spend),
        WriteOp::Update(keep_session),
        WriteOp::create(refresh_item(new_hash, new_token)?),
    ];
    match store.transact(ops).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.failed_op() {
            Some(0) => Ok(Err(RotateRefused::AlreadySpent)),
            Some(1) => Ok(Err(RotateRefused::SessionRevoked)),
            _ => Err(e.into()),
        },
    }
}

/// Revokes a login so none of its refresh tokens work again. Returns whether this call revoked
/// it (false: it was already revoked or does not exist). The audit record commits with it.
pub async fn revoke_session(
    store: &dyn WriteItems,
    user: &UserId,
    session: &SessionId,
    reason: &str,
    actor: Option<&UserId>,
) -> Result<bool, Error> {
    let now = Timestamp::now();
    let update = Update::new(keys::session(user, session))
        .set("revoked_at", serde_json::to_value(now).map_err(|_| Error::internal())?)
        .set("revoked_reason", reason)
        .when(Condition::Exists.and(Condition::LacksAttr("revoked_at".into())));
    let audit = AuditRecord::new(
        actor,
        "account.session_revoked",
        user.as_str(),
        serde_json::json!({"session_id": session.as_str(), "reason": reason}),
    );
    match store.transact(vec![WriteOp::Update(update), audit.write()?]).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { index: 0 }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn list_addresses(
    store: &dyn QueryItems,
    user: &UserId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Address>, Option<Cursor>), Error> {
    let query = Query::table(keys::user_partition(user)).begins_with(keys::ADDRESS_PREFIX).limit(limit).after(cursor);
    let Page { items, next } = store.query(&query).await?;
    let addresses = items.iter().map(Item::record).collect::<Result<Vec<Address>, _>>()?;
    Ok((addresses, next))
}

pub async fn get_address(store: &dyn ReadItems, user: &UserId, id: &AddressId) -> Result<Option<Address>, Error> {
    Ok(store.get(&keys::address(user, id)).await?.map(|i| i.record()).transpose()?)
}

/// Adds an address unless the book already holds [`User::MAX_ADDRESSES`]: the count on the
/// user item is raised in the same transaction, under a "below the cap" condition, so
/// concurrent additions cannot overshoot it. `also` commits with it (an idempotency claim).
pub async fn add_address(
    store: &dyn WriteItems,
    user: &UserId,
    address: &Address,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let count = WriteOp::Update(
        Update::new(keys::user(user))
            .add("address_count", 1)
            .when(Condition::Exists.and(Condition::less_than("address_count", i64::from(User::MAX_ADDRESSES)))),
    );
    let mut ops = vec![WriteOp::create(Item::from_record(&keys::address(user, &address.id), address)?), count];
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(1) => {
            Error::invalid("addresses", format!("an address book holds at most {} addresses", User::MAX_ADDRESSES))
        }
        _ => e.into(),
    })
}

/// Replaces an address if its stored version is still `expected_version`.
pub async fn replace_address(
    store: &dyn WriteItems,
    user: &UserId,
    address: &Address,
    expected_version: u64,
) -> Result<(), Error> {
    let item = Item::from_record(&keys::address(user, &address.id), address)?;
    store.put(item, Some(Condition::equals("version", expected_version))).await.map_err(|e| match e.failed_op() {
        Some(0) => {
            Error::conflict(ErrorCode::VersionConflict, "The address changed since it was read; reload and retry.")
        }
        _ => e.into(),
    })
}

/// Deletes an address and lowers the count. 404 if there is no such address.
pub async fn delete_address(store: &dyn WriteItems, user: &UserId, id: &AddressId) -> Result<(), Error> {
    let ops = vec![
        WriteOp::Delete { key: keys::address(user, id), condition: Some(Condition::Exists) },
        WriteOp::Update(Update::new(keys::user(user)).add("address_count", -1).when(Condition::Exists)),
    ];
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(0) => Error::not_found("The address"),
        _ => e.into(),
    })
}

/// Sign-in attempts allowed for one email from one client in one window: enough for typing
/// mistakes, far too few to guess a password.
pub const LOGIN_ATTEMPTS_PER_CLIENT: i64 = 10;
/// Sign-in attempts allowed for one email from all clients together in one window: bounds a
/// guess spread over many addresses, while one address guessing cannot lock the owner out.
pub const LOGIN_ATTEMPTS_PER_EMAIL: i64 = 100;
/// The window's length.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;

fn login_window(now: Timestamp) -> (i64, i64) {
    let window = now.unix().div_euclid(LOGIN_WINDOW_SECS);
    (window, (window + 1) * LOGIN_WINDOW_SECS)
}

fn count_attempt(key: Key, limit: i64, ends: i64) -> WriteOp {
    WriteOp::Update(
        Update::new(key)
            .add("attempts", 1)
            .set("ttl", ends + LOGIN_WINDOW_SECS)
            .when(Condition::LacksAttr("attempts".into()).or(Condition::less_than("attempts", limit))),
    )
}

/// Counts one sign-in attempt for `email` (known or not: the answer must not tell) from
/// `client`, unless its window already holds [`LOGIN_ATTEMPTS_PER_CLIENT`] from that client or
/// [`LOGIN_ATTEMPTS_PER_EMAIL`] in all; then `Err(seconds until the window ends)`. Both counts
/// are raised under their bounds in one transaction, so concurrent guesses cannot get past
/// them; they expire on their own (TTL).
pub async fn claim_login_attempt(
    store: &dyn WriteItems,
    email: &Email,
    client: &str,
    now: Timestamp,
) -> Result<Result<(), u32>, Error> {
    let (window, ends) = login_window(now);
    let ops = vec![
        count_attempt(keys::login_attempts(email, Some(client), window), LOGIN_ATTEMPTS_PER_CLIENT, ends),
        count_attempt(keys::login_attempts(email, None, window), LOGIN_ATTEMPTS_PER_EMAIL, ends),
    ];
    match store.transact(ops).await {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.failed_op().is_some() => Ok(Err(u32::try_from(ends - now.unix()).unwrap_or(1).max(1))),
        Err(e) => Err(e.into()),
    }
}

/// Forgets the client's attempts after a successful sign-in (the email's total stays: it
/// bounds guessing from everywhere).
pub async fn clear_login_attempts(
    store: &dyn WriteItems,
    email: &Email,
    client: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let key = keys::login_attempts(email, Some(client), login_window(now).0);
    store.delete(&key, None).await.map_err(Error::from)
}

/// A sign-up made with an `Idempotency-Key`: the MAC of its request and its answer, sealed (it
/// holds the tokens), so a retry gets the same answer and no second account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistrationClaim {
    pub request_mac: String,
    pub sealed_answer: String,
    pub user_id: UserId,
}

impl RegistrationClaim {
    /// The claim as a write that only succeeds while the key is unused.
    pub fn write(&self, key_mac: &str, now: Timestamp) -> Result<WriteOp, Error> {
        let item = Item::from_record(&keys::registration_claim(key_mac), self)?;
        Ok(WriteOp::create(item.expires_at(now.unix() + crate::idempotency::IDEMPOTENCY_TTL_SECS)))
    }
}

pub async fn registration_claim(store: &dyn ReadItems, key_mac: &str) -> Result<Option<RegistrationClaim>, Error> {
    Ok(store.get(&keys::registration_claim(key_mac)).await?.map(|i| i.record()).transpose()?)
}
