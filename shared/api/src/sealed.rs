//! Sensitive values sealed before storage: AES-256-GCM under `DATA_KEY` (32 bytes, base64),
//! a fresh random nonce per value, and a context string bound in as associated data, so a
//! sealed value moved to another record does not open there. Also keyed MACs of values that
//! must be compared but never stored in the clear or as a plain hash (a request body that
//! holds a password).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cy_domain::Error;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const NONCE_BYTES: usize = 12;

/// The key that seals sensitive fields (`DATA_KEY`).
pub struct DataKey {
    cipher: Aes256Gcm,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// 32 bytes in base64 (standard or URL-safe, padded or not).
    pub fn from_base64(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(raw))
            .map_err(|_| "DATA_KEY must be base64".to_owned())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "DATA_KEY must be 32 bytes (base64)".to_owned())?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| "DATA_KEY must be 32 bytes".to_owned())?;
        // MACs use a key derived for that purpose, never the encryption key itself.
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|_| "DATA_KEY is unusable".to_owned())?;
        derive.update(b"customiseyou mac key");
        Ok(DataKey { cipher, mac_key: derive.finalize().into_bytes().into() })
    }

    /// `DATA_KEY` from the environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_base64(&std::env::var("DATA_KEY").map_err(|_| "DATA_KEY is not set".to_owned())?)
    }

    /// `plaintext` sealed for `context`: base64url of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| Error::internal())?;
        Ok(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// Opens what [`Self::seal`] sealed for the same `context`; any tampering is an error.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, Error> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Error::internal())?;
        if bytes.len() < NONCE_BYTES {
            return Err(Error::internal());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| Error::internal())
    }

    /// A keyed MAC (hex) of `data` for `purpose`: comparable, not reversible without the key.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_base64(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_context_and_unchanged() {
        let key = key();
        let sealed = key.seal(b"refresh-token-123", "register:abc").unwrap();
        assert!(!sealed.contains("refresh"));
        assert_eq!(key.open(&sealed, "register:abc").unwrap(), b"refresh-token-123");
        assert!(key.open(&sealed, "register:other").is_err(), "another context");
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(key.open(&URL_SAFE_NO_PAD.encode(bytes), "register:abc").is_err(), "tampered");
        assert_ne!(key.seal(b"x", "c").unwrap(), key.seal(b"x", "c").unwrap(), "a fresh nonce each time");
    }

    #[test]
    fn keys_must_be_32_bytes_and_macs_depend_on_purpose_and_key() {
        assert!(DataKey::from_base64("c2hvcnQ").is_err());
        assert!(DataKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok(), "standard base64 too");
        let (a, b) = (key(), DataKey::from_base64(&URL_SAFE_NO_PAD.encode([8u8; 32])).unwrap());
        assert_eq!(a.mac("p", b"data"), a.mac("p", b"data"));
        assert_ne!(a.mac("p", b"data"), a.mac("q", b"data"));
        assert_ne!(a.mac("p", b"data"), b.mac("p", b"data"));
        assert_eq!(format!("{a:?}"), "DataKey(<redacted>)");
    }
}
