//! The signed quote: what `POST /quotes` promised, sealed so that an order placed with it
//! (within its 15 minutes) is charged exactly that, with no re-pricing and no trust in the
//! client. HMAC-SHA256 over the payload, keyed by `QUOTE_SECRET` (its own secret: a leaked
//! token-signing key must not let anyone mint quotes, nor the reverse).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cy_domain::{Error, Money, Timestamp, UserId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long a quote can be ordered (contract: 15 minutes).
pub const QUOTE_TTL_SECS: i64 = 15 * 60;

/// One priced line as quoted: exactly the line an order placed from the quote will hold.
pub use cy_domain::order::OrderLine as QuotedLine;

/// Everything a quote binds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedQuote {
    pub quote_id: String,
    pub customer_id: UserId,
    pub expires_at: Timestamp,
    pub address_id: Option<String>,
    pub coupon: Option<String>,
    pub lines: Vec<QuotedLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    /// Each seller's part of `shipping`: the order's fulfilments charge it.
    #[schema(value_type = std::collections::BTreeMap<String, Money>)]
    pub shipping_by_seller: std::collections::BTreeMap<UserId, Money>,
    pub tax: Money,
    pub total: Money,
}

pub struct QuoteSigner {
    secret: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

impl QuoteSigner {
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("QUOTE_SECRET must be at least 32 bytes".into());
        }
        Ok(QuoteSigner { secret: secret.to_vec() })
    }

    pub fn from_env() -> Result<Self, String> {
        Self::new(std::env::var("QUOTE_SECRET").map_err(|_| "QUOTE_SECRET is not set".to_owned())?.as_bytes())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        <HmacSha256 as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }

    /// `<base64url payload>.<base64url HMAC of the payload part>`.
    pub fn sign(&self, quote: &SignedQuote) -> Result<String, Error> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(quote).map_err(|_| Error::internal())?);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        Ok(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
    }

    /// The quote a token seals, if its signature holds (constant-time) and it has not expired.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<SignedQuote, Error> {
        let quote = self.verify_signature(token)?;
        if quote.expires_at <= now {
            return Err(Error::invalid("quote_token", "has expired; ask for a new quote"));
        }
        Ok(quote)
    }

    /// The quote a token seals, its signature checked but not its expiry (a retry of an order
    /// placed from it answers what it got, however late the retry).
    pub fn verify_signature(&self, token: &str) -> Result<SignedQuote, Error> {
        let invalid = || Error::invalid("quote_token", "is not a quote this service issued");
        let (payload, signature) = token.split_once('.').ok_or_else(invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}
