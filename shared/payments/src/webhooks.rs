//! Verifying providers' webhook signatures, on the raw body, before anything else is read.
//! Comparisons are constant-time (`Mac::verify_slice`).
//!
//! - Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` an HMAC-SHA256 of
//!   `"{t}.{raw body}"` under the endpoint's signing secret. Several `v1` appear while a secret
//!   is being rolled; any one matching a configured secret is enough. The timestamp must be
//!   within the tolerance (default 300 s) of now, so a captured request cannot be replayed
//!   later.
//! - Razorpay: `X-Razorpay-Signature: <hex>`, an HMAC-SHA256 of the raw body under the
//!   *webhook* secret (not the API key secret).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance for the signature timestamp.
pub const STRIPE_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    MissingHeader,
    MalformedHeader,
    StaleTimestamp,
    BadSignature,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::MissingHeader => "the signature header is missing",
            Refused::MalformedHeader => "the signature header is malformed",
            Refused::StaleTimestamp => "the signature timestamp is outside the tolerance",
            Refused::BadSignature => "the signature does not match",
        })
    }
}

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!())
}

/// Verifies a Stripe webhook. `secrets` are the current and (while rolling) previous signing
/// secrets; `now` is the current Unix time.
pub fn verify_stripe(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), Refused> {
    let header = header.ok_or(Refused::MissingHeader)?;
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else { return Err(Refused::MalformedHeader) };
        match key {
            "t" => timestamp = Some(value.parse().map_err(|_| Refused::MalformedHeader)?),
            // Other schemes (v0, test signatures) are ignored, as Stripe's libraries do.
            "v1" => signatures.push(hex::decode(value).map_err(|_| Refused::MalformedHeader)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refused::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(Refused::MalformedHeader);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(Refused::StaleTimestamp);
    }
    let matches = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| {
            let mut m = mac(secret);
            m.update(timestamp.to_string().as_bytes());
            m.update(b".");
            m.update(body);
            m.verify_slice(signature).is_ok()
        })
    });
    if matches { Ok(()) } else { Err(Refused::BadSignature) }
}

/// Verifies a Razorpay webhook with the webhook secret.
pub fn verify_razorpay(header: Option<&str>, body: &[u8], webhook_secret: &str) -> Result<(), Refused> {
    let header = header.ok_or(Refused::MissingHeader)?;
    let signature = hex::decode(header.trim()).map_err(|_| Refused::MalformedHeader)?;
    let mut m = mac(webhook_secret);
    m.update(body);
    m.verify_slice(&signature).map_err(|_| Refused::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently (Python's hmac/hashlib), not with this code.
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_123","amount":173800,"currency":"inr","metadata":{"order_id":"ord_01JD8X5ZPQ3M4N5P6Q7R8S9T0V"}}}}"#;
    const SECRET: &str = "whsec_test_0123456789abcdef";
    const OLD_SECRET: &str = "whsec_old_secret_abcdef";
    const T: i64 = 1_795_594_509;
    const SIG: &str = "1178a34dfdf7864af7a258cd64e44307067d9ac62b9dd59fa3b9456228fdd611";
    const OLD_SIG: &str = "5c8529a6c16e9ad895329c881b277b3e94dcd8961fb9a62b9ca3e4c62dd1578b";

    fn stripe(header: &str, body: &[u8], secrets: &[&str], now: i64) -> Result<(), Refused> {
        verify_stripe(Some(header), body, secrets, now, STRIPE_TOLERANCE_SECS)
    }

    #[test]
    fn a_genuine_stripe_signature_verifies_within_the_tolerance() {
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), BODY, &[SECRET], T + 10), Ok(()));
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), BODY, &[SECRET], T + 300), Ok(()));
        assert_eq!(stripe(&format!("t={T},v0=abcd,v1={SIG}"), BODY, &[SECRET], T), Ok(()));
    }

    #[test]
    fn stripe_refuses_tampering_wrong_secrets_staleness_and_missing_parts() {
        let mut tampered = BODY.to_vec();
        tampered[60] ^= 1;
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), &tampered, &[SECRET], T), Err(Refused::BadSignature));
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), BODY, &["whsec_wrong"], T), Err(Refused::BadSignature));
        assert_eq!(stripe(&format!("t={},v1={SIG}", T + 1), BODY, &[SECRET], T), Err(Refused::BadSignature));
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), BODY, &[SECRET], T + 301), Err(Refused::StaleTimestamp));
        assert_eq!(stripe(&format!("t={T},v1={SIG}"), BODY, &[SECRET], T - 301), Err(Refused::StaleTimestamp));
        assert_eq!(verify_stripe(None, BODY, &[SECRET], T, 300), Err(Refused::MissingHeader));
        for malformed in
            ["", "garbage", "t=abc,v1=00", &format!("v1={SIG}"), &format!("t={T}"), &format!("t={T},v1=zz")]
        {
            assert_eq!(stripe(malformed, BODY, &[SECRET], T), Err(Refused::MalformedHeader), "{malformed:?}");
        }
    }

    #[test]
    fn during_a_secret_roll_either_signature_and_either_secret_works() {
        // Stripe sends one v1 per active secret while a secret is rolled.
        let header = format!("t={T},v1={OLD_SIG},v1={SIG}");
        assert_eq!(stripe(&header, BODY, &[SECRET], T), Ok(()));
        assert_eq!(stripe(&header, BODY, &[OLD_SECRET], T), Ok(()));
        assert_eq!(stripe(&format!("t={T},v1={OLD_SIG}"), BODY, &[SECRET, OLD_SECRET], T), Ok(()));
        assert_eq!(stripe(&format!("t={T},v1={OLD_SIG}"), BODY, &[SECRET], T), Err(Refused::BadSignature));
    }

    #[test]
    fn razorpay_verifies_the_raw_body_with_the_webhook_secret() {
        let body = br#"{"entity":"event","event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_29QQoUBi66xm2f","amount":173800,"currency":"INR","order_id":"order_sim0123"}}}}"#;
        let sig = "a2f051fe9e31ceb7ff19560465cdf4b6cd6ef6d3b830bc60a9620d27d3e3db97";
        assert_eq!(verify_razorpay(Some(sig), body, "rzp_webhook_secret_42"), Ok(()));
        assert_eq!(verify_razorpay(Some(sig), body, "rzp_api_key_secret"), Err(Refused::BadSignature));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(verify_razorpay(Some(sig), &tampered, "rzp_webhook_secret_42"), Err(Refused::BadSignature));
        assert_eq!(verify_razorpay(None, body, "rzp_webhook_secret_42"), Err(Refused::MissingHeader));
        assert_eq!(verify_razorpay(Some("not-hex"), body, "rzp_webhook_secret_42"), Err(Refused::MalformedHeader));
    }
}
