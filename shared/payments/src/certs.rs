//! PayPal webhook certificates: where the verifier gets them ([`CertificateSource`]) and, for
//! the local runtime and tests, a self-signed stand-in ([`TestCertificate`]) with the signing a
//! PayPal delivery carries ([`sign_paypal`]).
//!
//! PayPal signs each delivery with the key of a certificate it names by URL
//! (`paypal-cert-url`). That URL is attacker-supplied like every header, so it is the verifier
//! ([`crate::webhooks::verify_paypal`]) that decides which URLs may be fetched at all; a source
//! here only fetches or looks up what it is asked for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use url::Url;
use x509_parser::pem::Pem;

/// The only hosts PayPal serves its webhook certificates from (live and sandbox).
pub const PAYPAL_CERT_HOSTS: &[&str] =
    &["api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"];

/// The only `paypal-auth-algo` PayPal uses, and the only one we accept.
pub const PAYPAL_AUTH_ALGO: &str = "SHA256withRSA";

/// The subject CN of PayPal's sandbox signing certificate, which the test certificate copies.
pub const TEST_CERT_COMMON_NAME: &str = "messageverificationcerts.sandbox.paypal.com";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("could not fetch the certificate: {0}")]
    Fetch(String),
    #[error("the certificate URL answered HTTP {0}")]
    Status(u16),
    #[error("no certificate is known for {0}")]
    Unknown(String),
    #[error("the private key is unusable: {0}")]
    Key(String),
    #[error("could not generate the test certificate: {0}")]
    Generate(String),
}

/// Where PayPal signing certificates (PEM) come from.
#[async_trait]
pub trait CertificateSource: Send + Sync {
    async fn certificate_pem(&self, url: &Url) -> Result<String, CertError>;
}

/// How long a fetched certificate is reused. PayPal rotates its certificates rarely and names
/// each by a new URL, so a day only saves a fetch per delivery.
const CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// At most this many URLs are remembered: the verifier only lets PayPal's hosts through, but
/// the path is still the sender's choice, so the cache must not grow without bound.
const CACHE_CAPACITY: usize = 32;
/// A certificate (or a short chain) is a few KiB; anything much larger is not one.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// Fetches certificates over HTTPS and keeps successful fetches in memory for a day.
pub struct HttpCertificates {
    client: reqwest::Client,
    cache: Mutex<HashMap<Url, (Instant, String)>>,
}

impl HttpCertificates {
    /// A source fetching with `client` (give it a timeout). An answer that comes from any other
    /// URL than the one asked for (a redirect the client followed) is refused, so the
    /// certificate always comes from the very URL the verifier approved.
    pub fn new(client: reqwest::Client) -> Self {
        HttpCertificates { client, cache: Mutex::new(HashMap::new()) }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Url, (Instant, String)>> {
        // A panic while holding the lock cannot leave the map half-updated in a harmful way.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached(&self, url: &Url) -> Option<String> {
        self.cache().get(url).filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, pem)| pem.clone())
    }

    fn remember(&self, url: &Url, pem: &str) {
        let mut cache = self.cache();
        cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(url) {
            let oldest = cache.iter().min_by_key(|(_, (at, _))| *at).map(|(u, _)| u.clone());
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
        cache.insert(url.clone(), (Instant::now(), pem.to_owned()));
    }
}

#[async_trait]
impl CertificateSource for HttpCertificates {
    async fn certificate_pem(&self, url: &Url) -> Result<String, CertError> {
        if let Some(pem) = self.cached(url) {
            return Ok(pem);
        }
        let fetch = |e: reqwest::Error| CertError::Fetch(e.to_string());
        let mut response = self.client.get(url.clone()).send().await.map_err(fetch)?;
        if !response.status().is_success() {
            return Err(CertError::Status(response.status().as_u16()));
        }
        if response.url() != url {
            return Err(CertError::Fetch(format!("redirected to {}", response.url())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch)? {
            if body.len() + chunk.len() > MAX_PEM_BYTES {
                return Err(CertError::Fetch("the answer is too large to be a certificate".into()));
            }
            body.extend_from_slice(&chunk);
        }
        // Only something that looks like a certificate is cached: a garbled answer would
        // otherwise refuse every delivery for a day.
        let pem = String::from_utf8(body)
            .ok()
            .filter(|pem| pem.contains("-----BEGIN CERTIFICATE-----"))
            .ok_or_else(|| CertError::Fetch("the answer is not a PEM certificate".into()))?;
        self.remember(url, &pem);
        Ok(pem)
    }
}

/// A fixed set of certificates by URL: for tests and the local runtime, which trusts its own
/// [`TestCertificate`].
#[derive(Clone, Debug, Default)]
pub struct LocalCertificates {
    /// Keyed by the URL's canonical form, as the verifier asks for it.
    certs: HashMap<String, String>,
}

impl LocalCertificates {
    /// Serves each `(url, pem)`.
    pub fn new(certs: impl IntoIterator<Item = (String, String)>) -> Self {
        let canonical = |url: String| Url::parse(&url).map(String::from).unwrap_or(url);
        LocalCertificates { certs: certs.into_iter().map(|(url, pem)| (canonical(url), pem)).collect() }
    }
}

#[async_trait]
impl CertificateSource for LocalCertificates {
    async fn certificate_pem(&self, url: &Url) -> Result<String, CertError> {
        self.certs.get(url.as_str()).cloned().ok_or_else(|| CertError::Unknown(url.to_string()))
    }
}

/// A self-signed RSA-2048 certificate shaped like PayPal's sandbox signing certificate, with
/// its private key. Generated at run time for tests and the local runtime, never stored.
#[derive(Clone)]
pub struct TestCertificate {
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub key_pkcs8_pem: String,
    pub cert_pem: String,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs, even test keys.
        f.debug_struct("TestCertificate").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

impl TestCertificate {
    /// CN `messageverificationcerts.sandbox.paypal.com`, valid from an hour ago (clock skew)
    /// for ten years.
    pub fn generate() -> Result<TestCertificate, CertError> {
        let failed = |e: rcgen::Error| CertError::Generate(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(failed)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, TEST_CERT_COMMON_NAME);
        name.push(rcgen::DnType::OrganizationName, "Local test certificate (not PayPal)");
        params.distinguished_name = name;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).map_err(failed)?;
        Ok(TestCertificate { key_pkcs8_pem: key.serialize_pem(), cert_pem: cert.pem() })
    }
}

/// What PayPal signs: `"{transmission_id}|{transmission_time}|{webhook_id}|{crc32}"`, the CRC32
/// (IEEE) of the raw body in decimal. Shared by signer and verifier so they cannot drift.
pub(crate) fn paypal_signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    format!("{transmission_id}|{transmission_time}|{webhook_id}|{}", crc32fast::hash(body))
}

/// The first PEM block labelled `label`, decoded.
pub(crate) fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    Pem::iter_from_buffer(pem.as_bytes()).map_while(Result::ok).find(|p| p.label == label).map(|p| p.contents)
}

/// Signs a delivery as PayPal does and returns the headers it carries. The local runtime and
/// `send-webhook` use this with a [`TestCertificate`] key; `cert_url` is where the verifier
/// will find the matching certificate.
pub fn sign_paypal(
    key_pkcs8_pem: &str,
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
    cert_url: &str,
) -> Result<Vec<(&'static str, String)>, CertError> {
    let der = pem_block(key_pkcs8_pem, "PRIVATE KEY")
        .ok_or_else(|| CertError::Key("no PKCS#8 PRIVATE KEY block in the PEM".into()))?;
    let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| CertError::Key(e.to_string()))?;
    let message = paypal_signed_message(transmission_id, transmission_time, webhook_id, body);
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message.as_bytes(), &mut signature)
        .map_err(|_| CertError::Key("signing failed".into()))?;
    Ok(vec![
        ("paypal-transmission-id", transmission_id.to_owned()),
        ("paypal-transmission-time", transmission_time.to_owned()),
        ("paypal-transmission-sig", BASE64.encode(signature)),
        ("paypal-cert-url", cert_url.to_owned()),
        ("paypal-auth-algo", PAYPAL_AUTH_ALGO.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client() -> reqwest::Client {
        reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
    }

    #[test]
    fn the_crc32_is_ieee_in_decimal() {
        // The standard check value of CRC-32/ISO-HDLC (zlib's crc32), computed independently.
        assert_eq!(crc32fast::hash(b"The quick brown fox jumps over the lazy dog"), 1_095_738_169);
        assert_eq!(paypal_signed_message("id", "t", "wh", b"123456789"), "id|t|wh|3421780262");
    }

    #[test]
    fn the_test_certificate_looks_like_paypals_sandbox_certificate() {
        let generated = TestCertificate::generate().unwrap();
        let der = pem_block(&generated.cert_pem, "CERTIFICATE").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, TEST_CERT_COMMON_NAME);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(cert.validity().is_valid_at(x509_parser::time::ASN1Time::from_timestamp(now).unwrap()));
        let years_9 = now + 9 * 365 * 24 * 3600;
        assert!(cert.validity().is_valid_at(x509_parser::time::ASN1Time::from_timestamp(years_9).unwrap()));
        assert!(generated.key_pkcs8_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{generated:?}").contains("PRIVATE KEY"));
        // RSA-2048: the signature is 256 bytes.
        let headers = sign_paypal(&generated.key_pkcs8_pem, "id", "time", "wh", b"{}", "https://x/").unwrap();
        let sig = &headers.iter().find(|(k, _)| *k == "paypal-transmission-sig").unwrap().1;
        assert_eq!(BASE64.decode(sig).unwrap().len(), 256);
    }

    #[test]
    fn signing_with_something_that_is_not_a_key_is_an_error() {
        let cert = TestCertificate::generate().unwrap();
        assert!(matches!(sign_paypal(&cert.cert_pem, "i", "t", "w", b"", "u"), Err(CertError::Key(_))));
        assert!(matches!(sign_paypal("garbage", "i", "t", "w", b"", "u"), Err(CertError::Key(_))));
    }

    #[tokio::test]
    async fn http_certificates_are_fetched_once_and_cached() {
        let server = MockServer::start().await;
        let pem = TestCertificate::generate().unwrap().cert_pem;
        Mock::given(method("GET"))
            .and(path("/v1/notifications/certs/CERT-1"))
            .respond_with(ResponseTemplate::new(200).set_body_string(pem.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let source = HttpCertificates::new(client());
        let url = Url::parse(&format!("{}/v1/notifications/certs/CERT-1", server.uri())).unwrap();
        assert_eq!(source.certificate_pem(&url).await.unwrap(), pem);
        assert_eq!(source.certificate_pem(&url).await.unwrap(), pem);
    }

    #[tokio::test]
    async fn failures_are_errors_and_not_cached() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/missing"))
            .respond_with(ResponseTemplate::new(404))
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/not-a-cert"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
            .expect(2)
            .mount(&server)
            .await;
        let source = HttpCertificates::new(client());
        let missing = Url::parse(&format!("{}/missing", server.uri())).unwrap();
        assert_eq!(source.certificate_pem(&missing).await, Err(CertError::Status(404)));
        assert_eq!(source.certificate_pem(&missing).await, Err(CertError::Status(404)));
        let garbled = Url::parse(&format!("{}/not-a-cert", server.uri())).unwrap();
        for _ in 0..2 {
            assert!(matches!(source.certificate_pem(&garbled).await, Err(CertError::Fetch(_))));
        }
    }

    #[tokio::test]
    async fn a_certificate_from_a_redirect_is_refused() {
        let server = MockServer::start().await;
        let pem = TestCertificate::generate().unwrap().cert_pem;
        Mock::given(method("GET"))
            .and(path("/moved"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/elsewhere", server.uri())))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200).set_body_string(pem))
            .mount(&server)
            .await;
        let url = Url::parse(&format!("{}/moved", server.uri())).unwrap();
        // A client that follows redirects (reqwest's default) still gets no certificate.
        let following = HttpCertificates::new(client());
        assert!(matches!(following.certificate_pem(&url).await, Err(CertError::Fetch(_))));
        let strict = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        assert_eq!(HttpCertificates::new(strict).certificate_pem(&url).await, Err(CertError::Status(302)));
    }

    #[test]
    fn the_cache_is_bounded() {
        let source = HttpCertificates::new(client());
        for i in 0..(CACHE_CAPACITY + 10) {
            source.remember(&Url::parse(&format!("https://api.paypal.com/c/{i}")).unwrap(), "pem");
        }
        assert_eq!(source.cache().len(), CACHE_CAPACITY);
        let newest = Url::parse(&format!("https://api.paypal.com/c/{}", CACHE_CAPACITY + 9)).unwrap();
        assert!(source.cached(&newest).is_some());
    }

    #[tokio::test]
    async fn local_certificates_serve_only_what_they_hold() {
        // Held under a spelling of the URL that is not canonical, asked for canonically.
        let held = "https://API.sandbox.paypal.com:443/v1/notifications/certs/CERT-local".to_owned();
        let source = LocalCertificates::new([(held, "pem".to_owned())]);
        let url = Url::parse("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-local").unwrap();
        assert_eq!(source.certificate_pem(&url).await.unwrap(), "pem");
        let other = Url::parse("https://api.paypal.com/v1/notifications/certs/CERT-other").unwrap();
        assert!(matches!(source.certificate_pem(&other).await, Err(CertError::Unknown(_))));
    }
}
