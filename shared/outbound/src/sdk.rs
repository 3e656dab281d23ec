//! One AWS SDK configuration per process.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
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
pub async fn aws_config() -> SdkConfig {
    SHARED.get_or_init(load).await.clone()
}

async fn load() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
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
