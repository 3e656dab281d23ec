//! The accounts service: registration, sign-in, refresh-token rotation with reuse detection,
//! sign-out, profile and address book. Handlers in `auth` and `users` only parse and answer.

use std::sync::Arc;

use axum::extract::FromRef;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cy_data::accounts::{self as records, RefreshRecord, RegistrationClaim, RotateRefused, SessionRecord};
use cy_data::audit::AuditRecord;
use cy_data::{Cursor, Store};
use cy_domain::{
    Address, AddressDraft, AddressId, AddressPatch, Email, Error, ErrorCode, Password, PersonName, Phone, Role,
    SessionId, Timestamp, User, UserId,
};
use cy_http::JwtKeys;
use cy_http::auth::ACCESS_TOKEN_TTL_SECS;
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::accounts::passwords;
use crate::idempotency::{Keyed, create_once, key_reused, replay_earlier};
use crate::sealed::DataKey;

/// How long a refresh token lives (contract: 30 days).
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

/// What the accounts routes need: the store and the token keys.
#[derive(Clone)]
pub struct Accounts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    /// Seals what must not be stored in the clear (a sign-up's answer, for its retries).
    /// Without it, sign-ups refuse `Idempotency-Key`.
    pub data_key: Option<Arc<DataKey>>,
}

impl FromRef<Accounts> for Arc<JwtKeys> {
    fn from_ref(accounts: &Accounts) -> Arc<JwtKeys> {
        accounts.keys.clone()
    }
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// A sign-up's `Idempotency-Key` as [`Accounts::registration_key`] makes it.
pub struct RegistrationKey {
    key_mac: String,
    request_mac: String,
}

impl RegistrationKey {
    /// What the sealed answer is bound to: this key's claim and no other record.
    fn context(&self) -> String {
        format!("register:{}", self.key_mac)
    }
}

/// A new refresh token: 256 random bits, base64url. Only its SHA-256 is stored.
fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a presented string could be one of our refresh tokens at all.
fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn refresh_refused() -> Error {
    Error::unauthenticated("The refresh token is not valid; sign in again.")
}

/// A registration, parsed.
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub name: PersonName,
    pub role: Role,
    pub phone: Option<Phone>,
}

/// A profile change, parsed. `phone: Some(None)` removes the phone.
#[derive(Default)]
pub struct ProfileChange {
    pub name: Option<PersonName>,
    pub email: Option<Email>,
    pub phone: Option<Option<Phone>>,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, keys: Arc<JwtKeys>) -> Self {
        Accounts { store, keys, data_key: None }
    }

    /// The writes of a new login for `user` and the tokens it hands out.
    fn new_login(&self, user: &User, now: Timestamp) -> Result<(Vec<cy_data::WriteOp>, TokenPair), Error> {
        let session_id = SessionId::generate();
        let session = SessionRecord {
            user_id: user.id.clone(),
            session_id: session_id.clone(),
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
        };
        let (refresh_token, hash) = new_refresh_token();
        let record = RefreshRecord {
            user_id: user.id.clone(),
            session_id: session_id.clone(),
            issued_at: now,
            expires_at: now.plus_secs(REFRESH_TOKEN_TTL_SECS),
            spent_at: None,
        };
        let ops = records::session_writes(&session, &hash, &record)?;
        let access_token = self.keys.issue(&user.id, user.role, &session_id, now)?;
        Ok((ops, TokenPair { access_token, refresh_token, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECS }))
    }

    /// With the key that seals stored secrets.
    pub fn with_data_key(mut self, key: Arc<DataKey>) -> Self {
        self.data_key = Some(key);
        self
    }

    /// A sign-up's `Idempotency-Key` and its request (`canonical` body), as MACs under the data
    /// key: the body holds a password, so not even its plain hash is stored.
    pub fn registration_key(&self, key: Option<String>, canonical: &[u8]) -> Result<Option<RegistrationKey>, Error> {
        let Some(key) = key else { return Ok(None) };
        let data_key =
            self.data_key.as_ref().ok_or_else(|| Error::invalid("Idempotency-Key", "is not accepted here"))?;
        Ok(Some(RegistrationKey {
            key_mac: data_key.mac("register-key", key.as_bytes()),
            request_mac: data_key.mac("register-request", canonical),
        }))
    }

    /// The answer an earlier sign-up with this key gave: `None` while the key is unused, 409
    /// if that sign-up asked for something else.
    async fn earlier_registration(&self, key: &RegistrationKey) -> Result<Option<Value>, Error> {
        let Some(claim) = records::registration_claim(self.store.as_ref(), &key.key_mac).await? else {
            return Ok(None);
        };
        if claim.request_mac != key.request_mac {
            return Err(key_reused());
        }
        let data_key = self.data_key.as_ref().ok_or_else(Error::internal)?;
        let answer = data_key.open(&claim.sealed_answer, &key.context())?;
        Ok(Some(serde_json::from_slice(&answer).map_err(|_| Error::internal())?))
    }

    /// Creates an account and its first login in one transaction and answers what `answer`
    /// makes of them. With a key, that answer is sealed into the key's claim in the same
    /// transaction, so a retry (also one racing this) gets exactly it, and no second account.
    pub async fn register(
        &self,
        reg: Registration,
        key: Option<&RegistrationKey>,
        answer: impl Fn(&User, &TokenPair) -> Value,
    ) -> Result<Value, Error> {
        if let Some(key) = key
            && let Some(earlier) = self.earlier_registration(key).await?
        {
            return Ok(earlier);
        }
        let user = self.new_user(reg).await?;
        let now = user.created_at;
        let (mut ops, tokens) = self.new_login(&user, now)?;
        let body = answer(&user, &tokens);
        if let Some(key) = key {
            let data_key = self.data_key.as_ref().ok_or_else(Error::internal)?;
            let plain = serde_json::to_vec(&body).map_err(|_| Error::internal())?;
            let claim = RegistrationClaim {
                request_mac: key.request_mac.clone(),
                sealed_answer: data_key.seal(&plain, &key.context())?,
                user_id: user.id.clone(),
            };
            ops.push(claim.write(&key.key_mac, now)?);
        }
        let audit =
            AuditRecord::new(Some(&user.id), "account.registered", user.id.as_str(), json!({"role": user.role}));
        if let Err(e) = records::create_user(self.store.as_ref(), &user, &audit, ops).await {
            // The same key, committed by a sign-up that ran alongside this one.
            if let Some(key) = key
                && let Some(earlier) = self.earlier_registration(key).await?
            {
                return Ok(earlier);
            }
            return Err(e);
        }
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "account registered");
        Ok(body)
    }

    async fn new_user(&self, reg: Registration) -> Result<User, Error> {
        let now = Timestamp::now();
        Ok(User {
            id: UserId::generate(),
            email: reg.email,
            name: reg.name,
            role: reg.role,
            phone: reg.phone,
            email_verified: false,
            phone_verified: false,
            password_hash: passwords::hash(&reg.password).await?,
            address_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// Creates an account without a login: operators' admin accounts and demo data. Returns
    /// `Ok(None)` if the email is taken already (so start-up provisioning is idempotent).
    pub async fn provision(&self, reg: Registration, actor: &str) -> Result<Option<User>, Error> {
        if records::find_user_by_email(self.store.as_ref(), &reg.email).await?.is_some() {
            return Ok(None);
        }
        let user = self.new_user(reg).await?;
        let audit =
            AuditRecord::new(None, "account.provisioned", user.id.as_str(), json!({"role": user.role, "by": actor}));
        match records::create_user(self.store.as_ref(), &user, &audit, Vec::new()).await {
            Ok(()) => Ok(Some(user)),
            Err(e) if e.code == ErrorCode::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Signs in. A wrong password and an unknown email get the same answer in the same time.
    /// Signs in. Each email gets [`records::LOGIN_ATTEMPTS_PER_CLIENT`] attempts per window
    /// from one client (`client`: its address) and [`records::LOGIN_ATTEMPTS_PER_EMAIL`] from
    /// all, counted before the password is checked (so concurrent guesses count too); a success
    /// forgets the client's. Past them, 429 `rate_limited` with `Retry-After`, known email or
    /// not. A guesser at one address thus cannot lock the owner out from theirs.
    pub async fn login(&self, email: &Email, password: &str, client: &str) -> Result<TokenPair, Error> {
        let wrong = || Error::unauthenticated("The email or password is incorrect.");
        let now = Timestamp::now();
        if let Err(retry_after) = records::claim_login_attempt(self.store.as_ref(), email, client, now).await? {
            tracing::warn!(retry_after, "sign-in refused: too many attempts for this email");
            return Err(Error::rate_limited(retry_after));
        }
        let Some(user) = records::find_user_by_email(self.store.as_ref(), email).await? else {
            passwords::verify_nothing(password).await;
            return Err(wrong());
        };
        if !passwords::verify(password, &user.password_hash).await {
            tracing::info!(user_id = %user.id, "sign-in refused: wrong password");
            return Err(wrong());
        }
        let (login, tokens) = self.new_login(&user, now)?;
        let audit = AuditRecord::new(Some(&user.id), "account.signed_in", user.id.as_str(), json!({}));
        let mut ops = login;
        ops.push(audit.write()?);
        self.store.transact(ops).await?;
        if let Err(e) = records::clear_login_attempts(self.store.as_ref(), email, client, now).await {
            tracing::warn!(user_id = %user.id, error = %e, "forgetting sign-in attempts failed");
        }
        Ok(tokens)
    }

    /// Exchanges a refresh token for a new pair. The old token is spent; presenting a spent
    /// token again (a replay, or a stolen copy racing the owner) revokes the whole login.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, Error> {
        if !looks_like_refresh_token(presented) {
            return Err(refresh_refused());
        }
        let old_hash = token_hash(presented);
        let Some(old) = records::get_refresh(self.store.as_ref(), &old_hash).await? else {
            return Err(refresh_refused());
        };
        let now = Timestamp::now();
        if old.spent_at.is_some() {
            self.revoke_for_reuse(&old).await?;
            return Err(refresh_refused());
        }
        if old.expires_at <= now {
            return Err(refresh_refused());
        }
        let Some(user) = records::get_user(self.store.as_ref(), &old.user_id).await? else {
            return Err(refresh_refused());
        };
        let (new_token, new_hash) = new_refresh_token();
        let record = RefreshRecord {
            user_id: old.user_id.clone(),
            session_id: old.session_id.clone(),
            issued_at: now,
            expires_at: now.plus_secs(REFRESH_TOKEN_TTL_SECS),
            spent_at: None,
        };
        match records::rotate_refresh(self.store.as_ref(), &old_hash, &new_hash, &record, now).await? {
            Ok(()) => {
                let access_token = self.keys.issue(&user.id, user.role, &old.session_id, now)?;
                Ok(TokenPair {
                    access_token,
                    refresh_token: new_token,
                    token_type: "Bearer",
                    expires_in: ACCESS_TOKEN_TTL_SECS,
                })
            }
            // Spent between our read and our write: a concurrent exchange of the same token.
            Err(RotateRefused::AlreadySpent) => {
                self.revoke_for_reuse(&old).await?;
                Err(refresh_refused())
            }
            Err(RotateRefused::SessionRevoked) => Err(refresh_refused()),
        }
    }

    async fn revoke_for_reuse(&self, token: &RefreshRecord) -> Result<(), Error> {
        let revoked = records::revoke_session(
            self.store.as_ref(),
            &token.user_id,
            &token.session_id,
            "refresh_token_reuse",
            None,
        )
        .await?;
        if revoked {
            tracing::warn!(user_id = %token.user_id, session_id = %token.session_id, "refresh token reuse: login revoked");
        }
        Ok(())
    }

    /// Ends the login a refresh token belongs to, if it is the caller's. Unknown tokens are
    /// fine: signing out twice is not an error.
    pub async fn logout(&self, caller: &UserId, presented: &str) -> Result<(), Error> {
        if !looks_like_refresh_token(presented) {
            return Ok(());
        }
        if let Some(token) = records::get_refresh(self.store.as_ref(), &token_hash(presented)).await?
            && token.user_id == *caller
        {
            records::revoke_session(self.store.as_ref(), caller, &token.session_id, "logout", Some(caller)).await?;
        }
        Ok(())
    }

    pub async fn profile(&self, id: &UserId) -> Result<User, Error> {
        records::get_user(self.store.as_ref(), id).await?.ok_or_else(|| Error::not_found("The account"))
    }

    /// Applies a profile change. With `expected_version` the change is refused (409) if the
    /// profile changed since; without, it is applied to the newest profile (retrying if a
    /// concurrent change lands in between). A new email or phone is unverified.
    pub async fn change_profile(
        &self,
        id: &UserId,
        change: ProfileChange,
        expected_version: Option<u64>,
    ) -> Result<User, Error> {
        let mut attempts = 0;
        loop {
            let before = self.profile(id).await?;
            if let Some(expected) = expected_version
                && expected != before.version
            {
                return Err(Error::conflict(
                    ErrorCode::VersionConflict,
                    "The profile changed since it was read; reload and retry.",
                ));
            }
            let mut after = before.clone();
            if let Some(name) = &change.name {
                after.name = name.clone();
            }
            if let Some(email) = &change.email
                && email != &before.email
            {
                after.email_verified = after.email_verified && email.normalized() == before.email.normalized();
                after.email = email.clone();
            }
            if let Some(phone) = &change.phone
                && phone != &before.phone
            {
                after.phone = phone.clone();
                after.phone_verified = false;
            }
            if after == before {
                return Ok(before);
            }
            after.updated_at = Timestamp::now();
            after.version = before.version + 1;
            // Changing the sign-in email is how accounts get taken over: keep a record of it.
            let mut audit = Vec::new();
            if after.email.normalized() != before.email.normalized() {
                let record = AuditRecord::new(
                    Some(id),
                    "account.email_changed",
                    id.as_str(),
                    json!({"from": before.email.as_str(), "to": after.email.as_str()}),
                );
                audit.push(record.write()?);
            }
            match records::save_profile(self.store.as_ref(), &before, &after, audit).await {
                Ok(()) => return Ok(after),
                Err(e) if e.code == ErrorCode::VersionConflict && expected_version.is_none() && attempts < 3 => {
                    attempts += 1
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn addresses(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Address>, Option<Cursor>), Error> {
        records::list_addresses(self.store.as_ref(), user, limit, cursor).await
    }

    /// Adds an address; with an `Idempotency-Key`, a repeated request gets the first answer (the
    /// address as it was added) instead of a second copy.
    pub(crate) async fn add_address(
        &self,
        user: &UserId,
        fields: AddressDraft,
        keyed: Option<&Keyed>,
    ) -> Result<Address, Error> {
        let store = self.store.as_ref();
        let replay = |created: String| async move {
            let id = AddressId::parse(&created).map_err(|_| key_reused())?;
            // Removed since: the key's answer is gone with it.
            records::get_address(store, user, &id)
                .await?
                .ok_or_else(|| Error::not_found("The address this Idempotency-Key added"))
        };
        if let Some(earlier) = replay_earlier(keyed, store, user, replay).await? {
            return Ok(earlier);
        }
        let now = Timestamp::now();
        let address = Address { id: AddressId::generate(), fields, created_at: now, updated_at: now, version: 1 };
        create_once(
            keyed,
            store,
            user,
            address.id.as_str(),
            &address,
            |claims| async { records::add_address(store, user, &address, claims).await.map(|()| address.clone()) },
            replay,
        )
        .await
    }

    pub async fn change_address(
        &self,
        user: &UserId,
        id: &AddressId,
        patch: AddressPatch,
        expected_version: Option<u64>,
    ) -> Result<Address, Error> {
        let before = records::get_address(self.store.as_ref(), user, id)
            .await?
            .ok_or_else(|| Error::not_found("The address"))?;
        if let Some(expected) = expected_version
            && expected != before.version
        {
            return Err(Error::conflict(
                ErrorCode::VersionConflict,
                "The address changed since it was read; reload and retry.",
            ));
        }
        let mut after = before.clone();
        patch.apply(&mut after.fields);
        if after.fields == before.fields {
            return Ok(before);
        }
        after.updated_at = Timestamp::now();
        after.version = before.version + 1;
        records::replace_address(self.store.as_ref(), user, &after, before.version).await?;
        Ok(after)
    }

    pub async fn remove_address(&self, user: &UserId, id: &AddressId) -> Result<(), Error> {
        records::delete_address(self.store.as_ref(), user, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_256_bit_and_stored_as_their_hash() {
        let (token, hash) = new_refresh_token();
        assert!(looks_like_refresh_token(&token));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token);
        assert_ne!(new_refresh_token().0, token);
        assert!(!looks_like_refresh_token("short"));
        assert!(!looks_like_refresh_token(&"=".repeat(43)));
    }
}
