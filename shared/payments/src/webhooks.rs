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
//! - PayPal: `paypal-transmission-sig`, a SHA256withRSA (PKCS#1 v1.5) signature of
//!   `"{transmission id}|{transmission time}|{webhook id}|{CRC32 of the raw body, decimal}"`
//!   with the key of the certificate at `paypal-cert-url`. The webhook id is ours (the id of the
//!   webhook registration), so a delivery meant for another merchant's webhook does not verify.
//!   The certificate URL is the sender's claim: only PayPal's own hosts over HTTPS are fetched
//!   from, and trust in the certificate comes from having fetched it there (the chain is not
//!   walked); its validity period and subject are checked as a sanity check.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::{Host, Url};
use x509_parser::time::ASN1Time;

use crate::certs::{
    CertError, CertificateSource, PAYPAL_AUTH_ALGO, PAYPAL_CERT_HOSTS, paypal_signed_message, pem_block,
};

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance for the signature timestamp.
pub const STRIPE_TOLERANCE_SECS: i64 = 300;

/// How far a PayPal `PAYPAL-TRANSMISSION-TIME` may be from our clock, either way (as Stripe's
/// tolerance): a delivery recorded and replayed later is refused even though its signature holds.
pub const PAYPAL_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    MissingHeader,
    MalformedHeader,
    StaleTimestamp,
    BadSignature,
    /// The signing certificate is not PayPal's: a URL off PayPal's hosts, or a certificate
    /// that does not parse, is out of its validity period or names another subject.
    UntrustedCertificate,
    /// The certificate could not be fetched (network, PayPal unavailable). Nothing is known
    /// about the delivery: answer so that the provider retries (5xx).
    CertificateUnavailable,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::MissingHeader => "the signature header is missing",
            Refused::MalformedHeader => "the signature header is malformed",
            Refused::StaleTimestamp => "the signature timestamp is outside the tolerance",
            Refused::BadSignature => "the signature does not match",
            Refused::UntrustedCertificate => "the signing certificate is not trusted",
            Refused::CertificateUnavailable => "the signing certificate could not be fetched",
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
    // abs_diff: a timestamp near i64::MIN must not overflow (it is the sender's input).
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
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

/// The PayPal headers of a delivery (`paypal-transmission-id`, `paypal-transmission-time`,
/// `paypal-transmission-sig`, `paypal-cert-url`, `paypal-auth-algo`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PaypalHeaders<'a> {
    pub transmission_id: Option<&'a str>,
    pub transmission_time: Option<&'a str>,
    pub transmission_sig: Option<&'a str>,
    pub cert_url: Option<&'a str>,
    pub auth_algo: Option<&'a str>,
}

/// Verifies a PayPal webhook locally (no call to PayPal's verify API): `webhook_id` is the id
/// of our webhook registration, `body` the raw bytes as received, `now_unix` the current time
/// (for the certificate's validity). Nothing is fetched unless the certificate URL is PayPal's.
pub async fn verify_paypal(
    headers: &PaypalHeaders<'_>,
    body: &[u8],
    webhook_id: &str,
    certs: &dyn CertificateSource,
    now_unix: i64,
) -> Result<(), Refused> {
    // An empty header is as good as none.
    fn present(header: Option<&str>) -> Result<&str, Refused> {
        header.map(str::trim).filter(|v| !v.is_empty()).ok_or(Refused::MissingHeader)
    }
    let transmission_id = present(headers.transmission_id)?;
    let transmission_time = present(headers.transmission_time)?;
    let sent = time::OffsetDateTime::parse(transmission_time, &time::format_description::well_known::Rfc3339)
        .map_err(|_| Refused::MalformedHeader)?;
    if sent.unix_timestamp().abs_diff(now_unix) > PAYPAL_TOLERANCE_SECS.unsigned_abs() {
        return Err(Refused::StaleTimestamp);
    }
    let signature = present(headers.transmission_sig)?;
    let cert_url = present(headers.cert_url)?;
    if present(headers.auth_algo)? != PAYPAL_AUTH_ALGO {
        return Err(Refused::MalformedHeader);
    }
    let signature = BASE64.decode(signature).map_err(|_| Refused::MalformedHeader)?;
    let cert_url = paypal_cert_url(cert_url).ok_or(Refused::UntrustedCertificate)?;
    let pem = certs.certificate_pem(&cert_url).await.map_err(|e| match e {
        // PayPal says there is no such certificate (any sender may name any path on its
        // hosts): the delivery is not PayPal's, a 4xx, and not an alarm of ours. A timeout
        // (408) or throttling (429) is PayPal asking to retry: unavailable.
        CertError::Status(400..=407 | 409..=428 | 430..=499) | CertError::Unknown(_) => Refused::UntrustedCertificate,
        e => {
            tracing::warn!(url = %cert_url, error = %e, "PayPal signing certificate unavailable");
            Refused::CertificateUnavailable
        }
    })?;
    let der = pem_block(&pem, "CERTIFICATE").ok_or(Refused::UntrustedCertificate)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| Refused::UntrustedCertificate)?;
    let now = ASN1Time::from_timestamp(now_unix).map_err(|_| Refused::UntrustedCertificate)?;
    // Every CN present (and at least one) must be a PayPal name.
    let names: Vec<Option<&str>> = cert.subject().iter_common_name().map(|cn| cn.as_str().ok()).collect();
    let paypal_subject = !names.is_empty()
        && names.iter().all(|cn| cn.is_some_and(|cn| cn.to_ascii_lowercase().ends_with(".paypal.com")));
    if !cert.validity().is_valid_at(now) || !paypal_subject {
        return Err(Refused::UntrustedCertificate);
    }
    let message = paypal_signed_message(transmission_id, transmission_time, webhook_id, body);
    // For RSA the subject public key is the PKCS#1 RSAPublicKey that aws-lc-rs expects; a key
    // of another kind simply fails to verify.
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &cert.public_key().subject_public_key.data)
        .verify(message.as_bytes(), &signature)
        .map_err(|_| Refused::BadSignature)
}

/// `raw` if it is a certificate URL of PayPal's: HTTPS, no credentials, the default port, a
/// host exactly one of [`PAYPAL_CERT_HOSTS`] (so not `api.paypal.com.evil.com`, nor
/// `api.paypal.com@evil.com`), under `/v1/notifications/certs/` where PayPal keeps them.
fn paypal_cert_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    // `Url` lowercases the host and drops an explicit :443, so these compare canonical forms.
    let paypal_host = matches!(url.host(), Some(Host::Domain(host)) if PAYPAL_CERT_HOSTS.contains(&host));
    let trusted = url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && url.port().is_none()
        && paypal_host
        && url.path().starts_with("/v1/notifications/certs/");
    trusted.then_some(url)
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
        // The far ends of i64 are stale, not an overflow.
        assert_eq!(stripe(&format!("t={},v1={SIG}", i64::MIN), BODY, &[SECRET], T), Err(Refused::StaleTimestamp));
        assert_eq!(stripe(&format!("t={},v1={SIG}", i64::MAX), BODY, &[SECRET], T), Err(Refused::StaleTimestamp));
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

#[cfg(test)]
mod paypal_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::certs::{LocalCertificates, TestCertificate, sign_paypal};

    const CERT_URL: &str = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-local";
    const WEBHOOK_ID: &str = "1JE4291016473214C";
    const BODY: &[u8] = br#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"42311647XV020574X"}}"#;
    /// The verifier's clock. Real time, because the test certificates are generated valid from
    /// an hour before *now*: a fixed instant would fall outside them as the calendar moves on.
    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// Counts the lookups, to prove that untrusted URLs are refused before any fetch.
    struct Counting {
        inner: LocalCertificates,
        asked: AtomicUsize,
    }

    #[async_trait]
    impl CertificateSource for Counting {
        async fn certificate_pem(&self, url: &Url) -> Result<String, CertError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            self.inner.certificate_pem(url).await
        }
    }

    /// A certificate source that always fails the same way.
    struct Failing(CertError);

    #[async_trait]
    impl CertificateSource for Failing {
        async fn certificate_pem(&self, _: &Url) -> Result<String, CertError> {
            Err(match &self.0 {
                CertError::Status(s) => CertError::Status(*s),
                other => CertError::Fetch(other.to_string()),
            })
        }
    }

    fn source_with(cert: &TestCertificate) -> Counting {
        let inner = LocalCertificates::new([(CERT_URL.to_owned(), cert.cert_pem.clone())]);
        Counting { inner, asked: AtomicUsize::new(0) }
    }

    fn rfc3339(unix: i64) -> String {
        let at = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
        at.format(&time::format_description::well_known::Rfc3339).unwrap()
    }

    fn sign_at(key: &TestCertificate, body: &[u8], cert_url: &str, at: i64) -> Vec<(&'static str, String)> {
        sign_paypal(
            &key.key_pkcs8_pem,
            "b2384410-f8d2-11ec-9c6d-1b14a3ba1df0",
            &rfc3339(at),
            WEBHOOK_ID,
            body,
            cert_url,
        )
        .unwrap()
    }

    fn sign(key: &TestCertificate, body: &[u8], cert_url: &str) -> Vec<(&'static str, String)> {
        sign_at(key, body, cert_url, now())
    }

    fn headers<'a>(delivery: &'a [(&'static str, String)]) -> PaypalHeaders<'a> {
        let get = |name: &str| delivery.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        PaypalHeaders {
            transmission_id: get("paypal-transmission-id"),
            transmission_time: get("paypal-transmission-time"),
            transmission_sig: get("paypal-transmission-sig"),
            cert_url: get("paypal-cert-url"),
            auth_algo: get("paypal-auth-algo"),
        }
    }

    async fn verify(h: &PaypalHeaders<'_>, body: &[u8], certs: &dyn CertificateSource) -> Result<(), Refused> {
        verify_paypal(h, body, WEBHOOK_ID, certs, now()).await
    }

    #[tokio::test]
    async fn a_signed_paypal_delivery_verifies_and_tampering_does_not() {
        let cert = TestCertificate::generate().unwrap();
        let certs = source_with(&cert);
        let delivery = sign(&cert, BODY, CERT_URL);
        let h = headers(&delivery);
        assert_eq!(verify(&h, BODY, &certs).await, Ok(()));

        let mut tampered = BODY.to_vec();
        tampered[20] ^= 1;
        assert_eq!(verify(&h, &tampered, &certs).await, Err(Refused::BadSignature));
        assert_eq!(verify_paypal(&h, BODY, "OTHER-WEBHOOK", &certs, now()).await, Err(Refused::BadSignature));
        let later = rfc3339(now() + 1);
        let other_time = PaypalHeaders { transmission_time: Some(&later), ..h };
        assert_eq!(verify(&other_time, BODY, &certs).await, Err(Refused::BadSignature));

        // Signed, but sent (or replayed) outside the tolerance, either way: refused as stale.
        for off in [-PAYPAL_TOLERANCE_SECS - 1, PAYPAL_TOLERANCE_SECS + 1] {
            let old = sign_at(&cert, BODY, CERT_URL, now() + off);
            assert_eq!(verify(&headers(&old), BODY, &certs).await, Err(Refused::StaleTimestamp), "{off}");
        }
        let edge = sign_at(&cert, BODY, CERT_URL, now() - PAYPAL_TOLERANCE_SECS + 5);
        assert_eq!(verify(&headers(&edge), BODY, &certs).await, Ok(()));
        let unreadable = PaypalHeaders { transmission_time: Some("yesterday"), ..h };
        assert_eq!(verify(&unreadable, BODY, &certs).await, Err(Refused::MalformedHeader));

        // Signed with another key than the certificate's.
        let impostor = TestCertificate::generate().unwrap();
        let forged = sign(&impostor, BODY, CERT_URL);
        assert_eq!(verify(&headers(&forged), BODY, &certs).await, Err(Refused::BadSignature));
    }

    #[tokio::test]
    async fn each_missing_header_and_a_wrong_algorithm_are_refused() {
        let cert = TestCertificate::generate().unwrap();
        let certs = source_with(&cert);
        let delivery = sign(&cert, BODY, CERT_URL);
        let h = headers(&delivery);
        for missing in [
            PaypalHeaders { transmission_id: None, ..h },
            PaypalHeaders { transmission_time: None, ..h },
            PaypalHeaders { transmission_sig: None, ..h },
            PaypalHeaders { cert_url: None, ..h },
            PaypalHeaders { auth_algo: None, ..h },
            PaypalHeaders { transmission_sig: Some("  "), ..h },
        ] {
            assert_eq!(verify(&missing, BODY, &certs).await, Err(Refused::MissingHeader), "{missing:?}");
        }
        for algo in ["SHA1withRSA", "sha256withrsa", "SHA256withECDSA"] {
            let wrong = PaypalHeaders { auth_algo: Some(algo), ..h };
            assert_eq!(verify(&wrong, BODY, &certs).await, Err(Refused::MalformedHeader), "{algo}");
        }
        let not_base64 = PaypalHeaders { transmission_sig: Some("not base64!"), ..h };
        assert_eq!(verify(&not_base64, BODY, &certs).await, Err(Refused::MalformedHeader));
        assert_eq!(certs.asked.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn certificate_urls_off_paypals_hosts_are_refused_before_any_fetch() {
        let cert = TestCertificate::generate().unwrap();
        let certs = source_with(&cert);
        for url in [
            "http://api.sandbox.paypal.com/v1/notifications/certs/CERT-local",
            "https://evil.com/v1/notifications/certs/CERT-local",
            "https://api.sandbox.paypal.com.evil.com/v1/notifications/certs/CERT-local",
            "https://evil.com/api.sandbox.paypal.com/v1/notifications/certs/CERT-local",
            "https://api.sandbox.paypal.com@evil.com/v1/notifications/certs/CERT-local",
            "https://user:pass@api.sandbox.paypal.com/v1/notifications/certs/CERT-local",
            "https://api.sandbox.paypal.com:8443/v1/notifications/certs/CERT-local",
            "https://api.sandbox.paypal.com./v1/notifications/certs/CERT-local",
            "https://paypal.com/v1/notifications/certs/CERT-local",
            "https://www.paypal.com/v1/notifications/certs/CERT-local",
            "https://api.sandbox.paypal.com/v1/oauth2/token",
            "file:///etc/ssl/cert.pem",
            "not a url",
        ] {
            let delivery = sign(&cert, BODY, url);
            assert_eq!(verify(&headers(&delivery), BODY, &certs).await, Err(Refused::UntrustedCertificate), "{url}");
        }
        assert_eq!(certs.asked.load(Ordering::SeqCst), 0, "no untrusted URL was fetched");
        // The same host with an explicit default port or in upper case is the same URL.
        for url in [
            "https://api.sandbox.paypal.com:443/v1/notifications/certs/CERT-local",
            "https://API.Sandbox.PayPal.com/v1/notifications/certs/CERT-local",
        ] {
            let delivery = sign(&cert, BODY, url);
            assert_eq!(verify(&headers(&delivery), BODY, &certs).await, Ok(()), "{url}");
        }
    }

    #[tokio::test]
    async fn certificates_that_are_expired_foreign_or_unavailable_are_refused() {
        let cert = TestCertificate::generate().unwrap();
        let certs = source_with(&cert);
        let delivery = sign(&cert, BODY, CERT_URL);
        let h = headers(&delivery);
        // Deliveries sent (and checked) when the certificate is not valid: after it expired,
        // before it started.
        let in_20_years = now() + 20 * 365 * 24 * 3600;
        let late = sign_at(&cert, BODY, CERT_URL, in_20_years);
        assert_eq!(
            verify_paypal(&headers(&late), BODY, WEBHOOK_ID, &certs, in_20_years).await,
            Err(Refused::UntrustedCertificate)
        );
        let early = sign_at(&cert, BODY, CERT_URL, 0);
        assert_eq!(
            verify_paypal(&headers(&early), BODY, WEBHOOK_ID, &certs, 0).await,
            Err(Refused::UntrustedCertificate)
        );

        // A certificate for another name, served from the right URL.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let foreign = rcgen::CertificateParams::new(vec!["evil.com".to_owned()]).unwrap().self_signed(&key).unwrap();
        let foreign = Counting {
            inner: LocalCertificates::new([(CERT_URL.to_owned(), foreign.pem())]),
            asked: AtomicUsize::new(0),
        };
        let key = TestCertificate { key_pkcs8_pem: key.serialize_pem(), cert_pem: String::new() };
        let signed_foreign = sign(&key, BODY, CERT_URL);
        assert_eq!(verify(&headers(&signed_foreign), BODY, &foreign).await, Err(Refused::UntrustedCertificate));

        let garbage = Counting {
            inner: LocalCertificates::new([(
                CERT_URL.to_owned(),
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
            )]),
            asked: AtomicUsize::new(0),
        };
        assert_eq!(verify(&h, BODY, &garbage).await, Err(Refused::UntrustedCertificate));

        let empty = Counting { inner: LocalCertificates::default(), asked: AtomicUsize::new(0) };
        assert_eq!(verify(&h, BODY, &empty).await, Err(Refused::UntrustedCertificate), "no such certificate");
        let down = Failing(CertError::Status(503));
        assert_eq!(verify(&h, BODY, &down).await, Err(Refused::CertificateUnavailable), "PayPal is down");
        let unreachable = Failing(CertError::Fetch("connection refused".into()));
        assert_eq!(verify(&h, BODY, &unreachable).await, Err(Refused::CertificateUnavailable));
        let throttled = Failing(CertError::Status(429));
        assert_eq!(verify(&h, BODY, &throttled).await, Err(Refused::CertificateUnavailable), "PayPal throttles: retry");
        let gone = Failing(CertError::Status(404));
        assert_eq!(verify(&h, BODY, &gone).await, Err(Refused::UntrustedCertificate), "PayPal: no such certificate");
    }

    /// An independent check of the signing: OpenSSL verifies our signature over the message
    /// written out by hand (CRC32 of the body from the published check value).
    #[tokio::test]
    async fn openssl_verifies_the_signature() {
        if std::process::Command::new("openssl").arg("version").output().is_err() {
            println!("openssl is not installed; skipping the independent signature check");
            return;
        }
        let cert = TestCertificate::generate().unwrap();
        let body = b"The quick brown fox jumps over the lazy dog";
        let delivery =
            sign_paypal(&cert.key_pkcs8_pem, "tid-1", "2025-11-26T10:15:09Z", "WH-ID", body, CERT_URL).unwrap();
        let sig = &delivery.iter().find(|(k, _)| *k == "paypal-transmission-sig").unwrap().1;
        let dir = std::env::temp_dir().join(format!("cy-paypal-openssl-{}-{}", std::process::id(), now()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.join("sig.bin"), BASE64.decode(sig).unwrap()).unwrap();
        std::fs::write(dir.join("msg.txt"), "tid-1|2025-11-26T10:15:09Z|WH-ID|1095738169").unwrap();
        let openssl =
            |args: &[&str]| std::process::Command::new("openssl").args(args).current_dir(&dir).output().unwrap();
        let pubkey = openssl(&["x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem"]);
        assert!(pubkey.status.success(), "{}", String::from_utf8_lossy(&pubkey.stderr));
        let verified = openssl(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "msg.txt"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
        assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "Verified OK");
    }
}
