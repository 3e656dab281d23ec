//! Load-run baseline: `bare-axum [PORT]` serves `GET /` (and any path) with a fixed JSON body on
//! 127.0.0.1, on the same tokio runtime and axum features as `customiseyou-local`, so a load
//! run measures what our routers, store and JSON add on top of the bare server.

use axum::Router;
use axum::routing::any;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|port| port.parse().ok()).unwrap_or(3900);
    let app =
        Router::new().fallback(any(|| async { ([("content-type", "application/json")], r#"{"hello":"world"}"#) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("bare-axum listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await
}
