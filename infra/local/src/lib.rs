//! `customiseyou-local`: the whole marketplace on one port, on the embedded store.
//!
//! It mounts the very routers the Lambdas run (`cy_api::*::router`), so what works here works
//! behind API Gateway. Later parts plug in here: queue consumers and the outbox relay as
//! background tasks ([`Local::tasks`]), scheduled jobs as timers, the WebSocket endpoint as a
//! route, provider simulators as ports.

pub mod demo;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use cy_api::Accounts;
use cy_api::accounts::Registration;
use cy_data::Store;
use cy_domain::{Email, Password, PersonName, Role};
use cy_http::JwtKeys;
use cy_store_embedded::EmbeddedStore;
use rand::RngCore;
use tokio::task::JoinSet;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub data_dir: PathBuf,
    /// `JWT_SECRET`; when absent a random one is made once and kept in the data dir, so
    /// tokens survive restarts without a secret in the code.
    pub jwt_secret: Option<String>,
    pub admin_email: String,
    /// `ADMIN_PASSWORD`; when absent one is generated, kept in the data dir and printed.
    pub admin_password: Option<String>,
    pub demo_data: bool,
}

impl LocalConfig {
    pub const DEFAULT_ADMIN_EMAIL: &'static str = "admin@customiseyou.local";

    /// From the environment (`JWT_SECRET`, `ADMIN_EMAIL`, `ADMIN_PASSWORD`).
    pub fn from_env(data_dir: PathBuf, demo_data: bool) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        LocalConfig {
            data_dir,
            jwt_secret: var("JWT_SECRET"),
            admin_email: var("ADMIN_EMAIL").unwrap_or_else(|| Self::DEFAULT_ADMIN_EMAIL.to_owned()),
            admin_password: var("ADMIN_PASSWORD"),
            demo_data,
        }
    }
}

/// A sign-in the runtime prints at start.
#[derive(Debug, Clone)]
pub struct Login {
    pub role: Role,
    pub email: String,
    pub password: String,
}

/// The running marketplace, minus the listener.
pub struct Local {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub logins: Vec<Login>,
    /// Background work (queue relays, schedulers) that ends with the runtime.
    pub tasks: JoinSet<()>,
}

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A secret kept in the data dir: read it, or make 32 random bytes (base64url) and keep them.
fn kept_secret(dir: &Path, name: &str) -> Result<String, StartError> {
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

/// Opens the store in `config.data_dir`, ensures the admin account and demo data, and builds
/// the router of every HTTP function.
pub async fn start(config: LocalConfig) -> Result<Local, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&config.data_dir.join("store.redb"))?);
    let secret = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => kept_secret(&config.data_dir, "jwt-secret")?,
    };
    let keys = Arc::new(JwtKeys::new(secret.as_bytes(), None)?);
    let accounts = Accounts::new(store.clone(), keys);

    let admin_password = match &config.admin_password {
        Some(p) => p.clone(),
        None => kept_secret(&config.data_dir, "admin-password")?,
    };
    // Each account costs a bcrypt hash (~250 ms of CPU): provision them side by side.
    let demo = async { if config.demo_data { demo::load(&accounts).await } else { Ok(Vec::new()) } };
    let ((), demo_logins) = tokio::try_join!(ensure_admin(&accounts, &config.admin_email, &admin_password), demo)?;
    let mut logins = vec![Login { role: Role::Admin, email: config.admin_email.clone(), password: admin_password }];
    logins.extend(demo_logins);
    Ok(Local { router: router(&accounts), store, accounts, logins, tasks: JoinSet::new() })
}

/// Creates the admin account if no account has that email yet.
pub async fn ensure_admin(accounts: &Accounts, email: &str, password: &str) -> Result<(), StartError> {
    let registration = Registration {
        email: Email::parse(email).map_err(|e| format!("ADMIN_EMAIL {e}"))?,
        password: Password::parse(password).map_err(|e| format!("ADMIN_PASSWORD {e}"))?,
        name: PersonName::parse("Administrator").map_err(|e| e.to_string())?,
        role: Role::Admin,
        phone: None,
    };
    if accounts.provision(registration, "local-runtime").await?.is_some() {
        tracing::info!(email, "admin account created");
    }
    Ok(())
}

/// Every HTTP function's router on one, plus `GET /health`.
pub fn router(accounts: &Accounts) -> Router {
    let functions = Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .merge(cy_api::auth::router(accounts.clone()))
        .merge(cy_api::users::router(accounts.clone()));
    cy_http::finish(functions)
}
