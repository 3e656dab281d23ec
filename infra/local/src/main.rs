//! `customiseyou-local --port 3000 --data-dir .local-data`: every HTTP function on one port,
//! on the embedded store, with an admin account and demo data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

#[derive(Parser)]
#[command(name = "customiseyou-local", about = "The CustomiseYou marketplace on one port, no AWS needed")]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Where the embedded store and local secrets live; data survives restarts.
    #[arg(long, default_value = ".local-data")]
    data_dir: PathBuf,
    /// Address to bind (default loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Skip the demo seller, customer and categories.
    #[arg(long)]
    no_demo: bool,
}

#[tokio::main]
async fn main() -> Result<(), customiseyou_local::StartError> {
    let started = Instant::now();
    cy_http::telemetry::init();
    let args = Args::parse();
    let public_url = format!("http://{}:{}", args.host, args.port);
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
    axum::serve(listener, local.router.clone()).with_graceful_shutdown(shutdown()).await?;
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
