//! One AWS SDK configuration per process, with one HTTP client for every service client.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::Once;
use tokio::sync::OnceCell;

static SHARED: OnceCell<SdkConfig> = OnceCell::const_new();

/// The process's AWS SDK configuration, loaded on the first call and shared by every client
/// built after it (a store, a queue, a topic, a bucket, the mail and push clients).
///
/// Why not `aws_config::load_defaults` per client: each load builds the default credentials
/// chain, and the chain's STS client sets up TLS from the system's ~150 root certificates at
/// init (measured: the first call to `openssl_probe`/`rustls_native_certs` came from
/// `aws_config::web_identity_token`). Lambda always hands the function role's credentials in
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and the region in
/// `AWS_REGION`; when they are set, naming those sources skips the chain. Without them (an
/// operator's laptop with a profile) the default chain runs as usual.
///
/// Shared only in a Lambda process (`AWS_LAMBDA_RUNTIME_API` set, as Lambda and the cold-start
/// and rehearsal harnesses set it), which runs one tokio runtime for its life. Anywhere else (the
/// tests, the operator's CLI, the local runtime) each call loads its own: a pooled connection
/// belongs to the runtime that opened it, and one test's runtime ending would leave the next
/// test a dead connection in a shared pool (`DispatchGone`).
pub async fn aws_config() -> SdkConfig {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        SHARED.get_or_init(load).await.clone()
    } else {
        load().await
    }
}

async fn load() -> SdkConfig {
    let https =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(SetUpOnce::new(https));
    if is_set("AWS_ACCESS_KEY_ID") && is_set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|region| !region.is_empty()) {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

/// The SDK's HTTPS client, shared by every service client of the process, whose TLS set-up at
/// client construction runs once.
///
/// Why: building a service client "validates" its HTTP client, and the SDK's client does that
/// by building a connector — a rustls configuration with every root certificate parsed — and
/// throwing it away, so the certificates load at init rather than on the first request. A
/// function with three clients (a store, a topic, the management API) paid it three times; once
/// is enough for the purpose. Connectors themselves stay cached in the shared client, one per
/// timeout setting, across all service clients.
#[derive(Debug)]
struct SetUpOnce {
    inner: SharedHttpClient,
    validated: Once,
}

impl SetUpOnce {
    fn new(inner: SharedHttpClient) -> Self {
        SetUpOnce { inner, validated: Once::new() }
    }
}

impl HttpClient for SetUpOnce {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        let mut outcome = Ok(());
        self.validated.call_once(|| outcome = self.inner.validate_base_client_config(runtime_components, cfg));
        outcome
    }

    fn validate_final_config(&self, runtime_components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An HTTP client that counts its validations (what builds a TLS set-up in the SDK's own).
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl HttpClient for Counting {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            unreachable!("no request is sent")
        }

        fn validate_base_client_config(&self, _: &RuntimeComponentsBuilder, _: &ConfigBag) -> Result<(), BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn the_tls_set_up_of_client_construction_runs_once_for_all_clients() {
        let count = Arc::new(AtomicUsize::new(0));
        let shared = SetUpOnce::new(SharedHttpClient::new(Counting(count.clone())));
        let (components, cfg) = (RuntimeComponentsBuilder::for_tests(), ConfigBag::base());
        for _ in 0..3 {
            shared.validate_base_client_config(&components, &cfg).expect("valid");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
