//! `customiseyou-local`: the whole marketplace on one port, on the embedded store.
//!
//! It mounts the very routers the Lambdas run (`cy_api::*::router`), so what works here works
//! behind API Gateway. Later parts plug in here: queue consumers and the outbox relay as
//! background tasks ([`Local::tasks`]), scheduled jobs as timers, the WebSocket endpoint as a
//! route, provider simulators as ports.

pub mod demo;
pub mod jobs;
pub mod outbox;
pub mod uploads;
pub mod webhooks;
pub mod ws;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use cy_api::Accounts;
use cy_api::accounts::Registration;
use cy_api::catalog::Catalog;
use cy_api::chat::Chat;
use cy_api::jobs::Sweeps;
use cy_api::notifications::Notifications;
use cy_api::notifications::fanout::{Notifier, Senders};
use cy_api::orders::{OrderRules, Orders};
use cy_api::payments::{Payments, WebhookSecrets, Webhooks};
use cy_api::payouts::PayoutBatch;
use cy_api::pricing::Quoting;
use cy_api::pricing::token::QuoteSigner;
use cy_api::realtime::Realtime;
use cy_api::sellers::Sellers;
use cy_data::Store;
use cy_domain::{Currency, Email, Password, PersonName, Role};
use cy_files::LocalFiles;
use cy_http::JwtKeys;
use cy_payments::{RefundAccepted, RefundRequest, SimulatedPayments};
use cy_queue::LocalQueue;
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
    /// The address clients reach this runtime at (upload URLs point here).
    pub public_url: String,
    /// `QUOTE_SECRET`; when absent one is made once and kept in the data dir.
    pub quote_secret: Option<String>,
    /// `RETURN_WINDOW_SECS`, `MAX_UNPAID_ORDERS`; when absent, from the environment.
    pub order_rules: Option<OrderRules>,
}

impl LocalConfig {
    pub const DEFAULT_ADMIN_EMAIL: &'static str = "admin@customiseyou.local";

    /// From the environment (`JWT_SECRET`, `ADMIN_EMAIL`, `ADMIN_PASSWORD`).
    pub fn from_env(data_dir: PathBuf, demo_data: bool, public_url: String) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        LocalConfig {
            data_dir,
            jwt_secret: var("JWT_SECRET"),
            admin_email: var("ADMIN_EMAIL").unwrap_or_else(|| Self::DEFAULT_ADMIN_EMAIL.to_owned()),
            admin_password: var("ADMIN_PASSWORD"),
            demo_data,
            public_url,
            quote_secret: var("QUOTE_SECRET"),
            order_rules: None,
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
    pub services: Services,
    pub logins: Vec<Login>,
    /// Background work (queue relays, schedulers) that ends with the runtime.
    pub tasks: JoinSet<()>,
    /// Signs provider webhooks the way this runtime verifies them (tests, `send-webhook`).
    pub webhook_signer: webhooks::WebhookSigner,
    /// The simulated providers (their references are what signed webhooks carry).
    pub simulator: Arc<SimulatedPayments>,
    /// Refunds the simulator took, for [`Local::start_jobs`] to confirm by webhook.
    refunds_taken: Option<tokio::sync::mpsc::UnboundedReceiver<(RefundRequest, RefundAccepted)>>,
}

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A secret kept in the data dir: read it, or make 32 random bytes (base64url) and keep them.
pub(crate) fn kept_secret(dir: &Path, name: &str) -> Result<String, StartError> {
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
    start_on(config, store).await
}

/// [`start`] on a store of the caller's: the DynamoDB adapter in the cost report, which drives
/// the whole marketplace through its routers on the emulator (`config.data_dir` then holds only
/// the uploads and kept secrets).
pub async fn start_on(config: LocalConfig, store: Arc<dyn Store>) -> Result<Local, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let secret = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => kept_secret(&config.data_dir, "jwt-secret")?,
    };
    let keys = Arc::new(JwtKeys::new(secret.as_bytes(), None)?);
    let data_key = match std::env::var("DATA_KEY") {
        Ok(raw) => cy_api::sealed::DataKey::from_base64(&raw)?,
        Err(_) => cy_api::sealed::DataKey::from_base64(&kept_secret(&config.data_dir, "data-key")?)?,
    };
    let data_key = Arc::new(data_key);
    let accounts = Accounts::new(store.clone(), keys.clone()).with_data_key(data_key.clone());
    let files = Arc::new(LocalFiles::new(
        config.data_dir.join("files"),
        config.public_url.clone(),
        kept_secret(&config.data_dir, "files-secret")?.as_bytes(),
    ));
    let catalog = Catalog {
        store: store.clone(),
        keys: keys.clone(),
        files: files.clone(),
        default_currency: Currency::parse("INR")?,
    };
    let quote_secret = match &config.quote_secret {
        Some(s) => s.clone(),
        None => kept_secret(&config.data_dir, "quote-secret")?,
    };
    let quoting = Quoting::new(store.clone(), keys.clone(), Arc::new(QuoteSigner::new(quote_secret.as_bytes())?));
    let (refunds_tx, refunds_taken) = tokio::sync::mpsc::unbounded_channel();
    let simulator = Arc::new(
        SimulatedPayments::new(kept_secret(&config.data_dir, "payments-secret")?.as_bytes(), config.public_url.clone())
            .with_ledger(config.data_dir.join("simulated-paypal-captures.tsv"))?
            .reporting_refunds(refunds_tx),
    );
    let orders = Orders {
        store: store.clone(),
        keys: keys.clone(),
        quoting: quoting.clone(),
        payments: simulator.clone(),
        data_key: data_key.clone(),
        rules: match config.order_rules {
            Some(rules) => rules,
            None => OrderRules::from_env()?,
        },
    };
    let webhook_signer = webhooks::WebhookSigner::load(&config.data_dir)?;
    // Verified as on AWS (every configured Stripe secret while one is rolled, the configured
    // tolerance); what is not configured is the signer's kept secret.
    let mut secrets = WebhookSecrets::from_env()?;
    if secrets.stripe.is_empty() {
        secrets.stripe = vec![webhook_signer.stripe_secret.clone()];
    }
    secrets.razorpay.get_or_insert_with(|| webhook_signer.razorpay_secret.clone());
    secrets.paypal_webhook_id.get_or_insert_with(|| webhook_signer.paypal_webhook_id.clone());
    let webhooks = Webhooks {
        payments: Payments { store: store.clone(), gateway: simulator.clone() },
        secrets: Arc::new(secrets),
        certificates: Arc::new(webhook_signer.certificates()),
    };

    let admin_password = match &config.admin_password {
        Some(p) => p.clone(),
        None => kept_secret(&config.data_dir, "admin-password")?,
    };
    // Each account costs a bcrypt hash (~250 ms of CPU): provision them side by side.
    let demo =
        async { if config.demo_data { demo::load(&accounts, &catalog, &data_key).await } else { Ok(Vec::new()) } };
    let ((), demo_logins) = tokio::try_join!(ensure_admin(&accounts, &config.admin_email, &admin_password), demo)?;
    let mut logins = vec![Login { role: Role::Admin, email: config.admin_email.clone(), password: admin_password }];
    logins.extend(demo_logins);
    let sockets = cy_realtime::LocalPush::new();
    let chat = Chat::new(store.clone());
    let simulated_payouts = Arc::new(cy_payouts::SimulatedPayouts::new());
    let payouts = PayoutBatch { store: store.clone(), gateway: simulated_payouts.clone(), data_key: data_key.clone() };
    let sellers = Sellers { store: store.clone(), keys: keys.clone(), data_key };
    let realtime = Realtime {
        store: store.clone(),
        keys: Some(keys.clone()),
        push: Arc::new(sockets.clone()),
        chat: Some(chat.clone()),
    };
    let notifier = Notifier { realtime: realtime.clone(), senders: Senders::local(store.clone()) };
    let notifications = Notifications { store: store.clone() };
    let services = Services {
        accounts,
        catalog,
        quoting,
        orders,
        files,
        events: LocalQueue::new(),
        webhooks,
        realtime,
        sockets,
        chat,
        notifications,
        notifier,
        sellers,
        payouts,
        simulated_payouts,
        keys: keys.clone(),
    };
    let dev = webhooks::dev_router(store.clone(), simulator.clone(), services.webhooks.payments.clone())
        .merge(jobs::router(keys, services.sweeps(), services.payouts.clone()))
        .merge(outbox::router(store.clone()));
    let router = router(&services).merge(dev);
    Ok(Local {
        router,
        store,
        services,
        logins,
        tasks: JoinSet::new(),
        webhook_signer,
        simulator,
        refunds_taken: Some(refunds_taken),
    })
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

/// The services every function's router is built from.
#[derive(Clone)]
pub struct Services {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub quoting: Quoting,
    pub orders: Orders,
    pub files: Arc<LocalFiles>,
    /// Where the outbox relay publishes order events (SQS on AWS).
    pub events: LocalQueue,
    pub webhooks: Webhooks,
    /// The WebSocket API and the live pushes of order events.
    pub realtime: Realtime,
    /// The sockets connected at `/ws`.
    pub sockets: cy_realtime::LocalPush,
    pub chat: Chat,
    pub notifications: Notifications,
    /// The events' consumer (notify-fanout's stand-in), its mail, SMS and push to the outbox.
    pub notifier: Notifier,
    pub sellers: Sellers,
    /// The payout batch, over the simulated payout provider.
    pub payouts: PayoutBatch,
    pub simulated_payouts: Arc<cy_payouts::SimulatedPayouts>,
    pub keys: Arc<JwtKeys>,
}

impl Services {
    /// The scheduled sweeps over this runtime's store and simulated providers.
    pub fn sweeps(&self) -> Sweeps {
        Sweeps { payments: self.webhooks.payments.clone() }
    }
}

/// Every HTTP function's router on one, plus `GET /health` and the local upload endpoint that
/// stands in for S3.
pub fn router(services: &Services) -> Router {
    let functions = Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .merge(cy_api::accounts::auth::router(services.accounts.clone()))
        .merge(cy_api::accounts::users::router(services.accounts.clone()))
        .merge(cy_api::notifications::routes::router(services.notifications.clone(), services.keys.clone()))
        .merge(cy_api::chat::routes::router(services.chat.clone(), services.keys.clone()))
        .merge(cy_api::sellers::routes::router(services.sellers.clone()))
        .merge(cy_api::payouts::routes::router(cy_api::payouts::routes::Payouts {
            store: services.sellers.store.clone(),
            keys: services.keys.clone(),
            gateway: services.simulated_payouts.clone(),
        }))
        .merge(cy_api::catalog::router(services.catalog.clone()))
        .merge(cy_api::pricing::router(services.quoting.clone()))
        .merge(cy_api::orders::with_cart(services.orders.clone()))
        .merge(cy_api::payments::router(services.webhooks.clone()))
        .merge(cy_api::openapi::router())
        .merge(uploads::router(services.files.clone()))
        .merge(ws::router(services.realtime.clone(), services.sockets.clone()));
    cy_http::finish(functions)
}

/// How often the local consumer tries an event whose delivery fails (SQS's receive limit's
/// stand-in; there is no dead-letter queue locally, the log says what was dropped).
pub const LOCAL_DELIVERY_ATTEMPTS: u64 = 5;

/// How often the local relay publishes outbox events (the table stream's stand-in).
pub const RELAY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How often the local runtime runs the payout batch.
pub const PAYOUTS_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often the local runtime runs the order sweeps (the EventBridge schedule's stand-in):
/// reservations, refunds, completions. `POST /dev/jobs/order-sweeps` runs them at once.
pub const SWEEPS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl Local {
    /// Starts what runs beside the API: the outbox relay, the reservation and refund sweeps,
    /// and the simulated providers' refund confirmations.
    pub fn start_jobs(&mut self) {
        if let Some(taken) = self.refunds_taken.take() {
            let confirm = webhooks::confirm_refunds(
                self.router.clone(),
                self.store.clone(),
                self.simulator.clone(),
                self.webhook_signer.clone(),
                taken,
            );
            self.tasks.spawn(confirm);
        }
        // The events' consumer (notify-fanout's stand-in): live pushes and notifications. A
        // delivery that fails (a send that may work later) is tried again shortly, as SQS would.
        let (mut delivered, notifier) = (self.services.events.subscribe(), self.services.notifier.clone());
        self.tasks.spawn(async move {
            while let Some(message) = delivered.recv().await {
                match serde_json::from_str::<cy_data::orders::OutboxEvent>(&message.body) {
                    // In publication order (two messages of one chat arrive in order); only a
                    // retry waits apart.
                    Ok(event) => {
                        if let Err(e) = notifier.on_event(&event).await {
                            tracing::warn!(event_id = %event.id, attempt = 1, error = %e.message,
                                "an event was not fully delivered");
                            let notifier = notifier.clone();
                            tokio::spawn(async move {
                                for attempt in 2..=LOCAL_DELIVERY_ATTEMPTS {
                                    tokio::time::sleep(std::time::Duration::from_secs(2 * attempt)).await;
                                    match notifier.on_event(&event).await {
                                        Ok(()) => return,
                                        Err(e) => tracing::warn!(event_id = %event.id, attempt, error = %e.message,
                                            "an event was not fully delivered"),
                                    }
                                }
                            });
                        }
                    }
                    Err(e) => tracing::error!(event_id = %message.id, error = %e, "an order event does not read"),
                }
            }
        });
        let (store, events) = (self.store.clone(), self.services.events.clone());
        self.tasks.spawn(async move {
            let mut every = tokio::time::interval(RELAY_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = cy_api::relay::drain_outbox(store.as_ref(), &events, 100).await {
                    tracing::warn!(error = %e, "outbox relay failed; retrying next tick");
                }
            }
        });
        // The payout batch's schedule (daily on AWS): hourly here, so a developer sees payouts
        // without waiting a day; `POST /dev/jobs/payout-batch` runs it at once.
        let payouts = self.services.payouts.clone();
        self.tasks.spawn(async move {
            let mut every = tokio::time::interval(PAYOUTS_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                match payouts.run(cy_domain::Timestamp::now()).await {
                    Ok(report) => tracing::info!(?report, "scheduled payout batch"),
                    Err(e) => tracing::warn!(error = %e.message, "the payout batch failed; it runs again"),
                }
            }
        });
        let sweeps = self.services.sweeps();
        self.tasks.spawn(async move {
            let mut every = tokio::time::interval(SWEEPS_EVERY);
            loop {
                every.tick().await;
                let report = sweeps.run_all(cy_domain::Timestamp::now()).await;
                tracing::debug!(%report, "scheduled sweeps");
            }
        });
    }
}
