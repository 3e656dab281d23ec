//! The TLS setup of the providers' HTTPS clients (Stripe, Razorpay, PayPal, Twilio, FCM).

use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;

static TLS: OnceLock<Option<ClientConfig>> = OnceLock::new();

/// A `reqwest` client builder whose TLS trusts Mozilla's root certificates compiled into the
/// binary (`webpki-roots`), set up once per process and shared by every client built from it.
///
/// Why: `reqwest`'s default verifier reads and decodes the system's ~150 PEM files each time a
/// client is built; `payment-webhook` built four clients at init and read them twice over
/// (docs/PERFORMANCE.md). The compiled-in anchors need no file, no decoding, and are the
/// same on a laptop and on Lambda; they move with `Cargo.lock` (a dependency update), which
/// is when the rest of the TLS stack moves too. AWS's own endpoints keep the SDK's system
/// store, which AWS maintains in the Lambda image.
///
/// HTTP/1.1 only: the workspace builds `reqwest` without HTTP/2, and every provider speaks it.
pub fn https_client() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match TLS.get_or_init(tls_config) {
        Some(tls) => builder.tls_backend_preconfigured(tls.clone()),
        // Unreachable with the aws-lc-rs provider (it supports every safe default version);
        // the system's roots would still be right, only slower to load.
        None => builder,
    }
}

fn tls_config() -> Option<ClientConfig> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_clients_trust_the_compiled_in_roots_over_http1() {
        let config = tls_config().expect("the aws-lc-rs provider supports the safe versions");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(https_client().build().is_ok());
    }
}
