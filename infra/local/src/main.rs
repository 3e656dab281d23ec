//! `customiseyou-local --port 3000 --data-dir .local-data`: every HTTP function on one port,
//! on the embedded store, with an admin account and demo data.
//!
//! `customiseyou-local send-webhook stripe payment_intent.succeeded --order <id>`: what a
//! provider would send for that order, signed, posted to the running runtime (`stripe trigger`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use cy_domain::OrderId;
use cy_domain::payment::PaymentProvider;

/// mimalloc rather than glibc's allocator: under load the store's writer thread frees what the
/// request tasks allocated and the other way round, and glibc's per-arena locks made a fifth of
/// the orders load run's CPU malloc, free and futex wake-ups (perf, docs/PERFORMANCE.md). The
/// Lambda functions keep the system allocator: one request at a time, and a smaller binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "customiseyou-local", about = "The CustomiseYou marketplace on one port, no AWS needed")]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000, global = true)]
    port: u16,
    /// Where the embedded store and local secrets live; data survives restarts.
    #[arg(long, default_value = ".local-data", global = true)]
    data_dir: PathBuf,
    /// Address to bind (default loopback only).
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: std::net::IpAddr,
    /// Skip the demo seller, customer and categories.
    #[arg(long)]
    no_demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Send a signed provider webhook for an order to the running runtime (like `stripe
    /// trigger`). Event types: stripe payment_intent.succeeded | payment_intent.payment_failed |
    /// charge.refunded; razorpay payment.captured | payment.failed | refund.processed; paypal
    /// CHECKOUT.ORDER.APPROVED | PAYMENT.CAPTURE.COMPLETED | PAYMENT.CAPTURE.DENIED |
    /// PAYMENT.CAPTURE.REFUNDED.
    SendWebhook {
        /// stripe, razorpay or paypal.
        provider: String,
        /// The provider's event type.
        event_type: String,
        /// Our order id (`ord_…`).
        #[arg(long)]
        order: String,
        /// Override the amount in minor units (to see a mismatch refused and flagged).
        #[arg(long)]
        amount: Option<i64>,
        /// The runtime's address (default: http://<host>:<port>).
        #[arg(long)]
        url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<(), customiseyou_local::StartError> {
    let started = Instant::now();
    cy_http::telemetry::init();
    let args = Args::parse();
    let public_url = format!("http://{}:{}", args.host, args.port);
    if let Some(Command::SendWebhook { provider, event_type, order, amount, url }) = &args.command {
        let provider = PaymentProvider::parse(provider).map_err(|e| e.message)?;
        let order = OrderId::parse(order).map_err(|e| e.message)?;
        let url = url.clone().unwrap_or(public_url);
        let (status, body) =
            customiseyou_local::webhooks::send_webhook(&url, &args.data_dir, provider, event_type, &order, *amount)
                .await?;
        println!("{status} {body}");
        return if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the webhook was answered {status}").into())
        };
    }
    let config = customiseyou_local::LocalConfig::from_env(args.data_dir.clone(), !args.no_demo, public_url);
    let mut local = customiseyou_local::start(config).await?;
    local.start_jobs();
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), ready_ms = started.elapsed().as_millis() as u64, "customiseyou-local ready");
    println!("CustomiseYou is running on http://{addr}  (data in {})", args.data_dir.display());
    for login in &local.logins {
        println!("  {:<8} {}  password: {}", login.role.as_str(), login.email, login.password);
    }
    // With the peer's address, as API Gateway gives it (sign-in attempts are counted per client).
    let app = local.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
