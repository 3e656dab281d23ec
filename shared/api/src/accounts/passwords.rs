//! Password hashing: bcrypt at cost 12, off the async runtime (one hash takes ~250 ms of CPU).
//!
//! bcrypt reads only the first 72 bytes of its input, and the contract allows 128 characters
//! (up to 512 bytes of UTF-8): two passwords sharing a 72-byte prefix would hash alike. So the
//! password is first reduced to the base64 of its SHA-256 (44 bytes, no NUL), the scheme
//! passlib calls bcrypt-sha256; bcrypt's cost still governs guessing.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cy_domain::{Error, Password};
use sha2::{Digest, Sha256};

pub const BCRYPT_COST: u32 = 12;

fn prehash(password: &str) -> String {
    STANDARD.encode(Sha256::digest(password.as_bytes()))
}

pub async fn hash(password: &Password) -> Result<String, Error> {
    let input = prehash(password.expose());
    tokio::task::spawn_blocking(move || bcrypt::hash(input, BCRYPT_COST)).await.map_err(|_| Error::internal())?.map_err(
        |e| {
            tracing::error!(error = %e, "bcrypt failed");
            Error::internal()
        },
    )
}

/// Whether `password` matches `hash`. A malformed stored hash never matches.
pub async fn verify(password: &str, hash: &str) -> bool {
    let (input, hash) = (prehash(password), hash.to_owned());
    tokio::task::spawn_blocking(move || bcrypt::verify(input, &hash).unwrap_or(false)).await.unwrap_or(false)
}

/// A hash no password matches, verified against when the email is unknown so that a login
/// for an unknown email costs the same time as a wrong password (no account enumeration by
/// timing).
pub async fn verify_nothing(password: &str) {
    static DECOY: OnceLock<String> = OnceLock::new();
    let decoy = match DECOY.get() {
        Some(h) => h.clone(),
        None => {
            let random = format!("{}", ulid::Ulid::new());
            let h = tokio::task::spawn_blocking(move || bcrypt::hash(random, BCRYPT_COST).unwrap_or_default())
                .await
                .unwrap_or_default();
            DECOY.get_or_init(|| h).clone()
        }
    };
    let _ = verify(password, &decoy).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_bcrypt_cost_12_and_verify() {
        let p = Password::parse("correct horse battery").unwrap();
        let h = hash(&p).await.unwrap();
        assert!(h.starts_with("$2b$12$"), "{h}");
        assert!(verify("correct horse battery", &h).await);
        assert!(!verify("correct horse battery!", &h).await);
        assert!(!verify("anything", "not a hash").await);
    }

    #[tokio::test]
    async fn passwords_differing_after_72_bytes_do_not_collide() {
        let base = "x".repeat(80);
        let h = hash(&Password::parse(&format!("{base}a")).unwrap()).await.unwrap();
        assert!(!verify(&format!("{base}b"), &h).await);
    }
}
