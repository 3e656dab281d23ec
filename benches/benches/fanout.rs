//! One order event fanned out to many WebSocket connections of its customer:
//! - through `ApiGatewayPush` to a mock management API on loopback that answers each
//!   `PostToConnection` after 20 ms (API Gateway's latency, roughly), 1,000 connections, at most
//!   `PUSH_CONCURRENCY` frames in flight;
//! - through the local runtime's sockets (`LocalPush`), 10,000 connections.
//!
//! Prints the time of each fan-out (median of 5) and the process's peak RSS after it (VmHWM).
//!
//! `cargo bench -p cy-benches --bench fanout`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cy_api::realtime::Realtime;
use cy_data::connections::{self, Connection};
use cy_data::orders::OutboxEvent;
use cy_domain::{EventId, OrderId, Timestamp, UserId};
use cy_realtime::{ApiGatewayPush, LocalPush, Push};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn event(customer: &UserId) -> OutboxEvent {
    OutboxEvent {
        id: EventId::generate(),
        kind: "order.status_changed".into(),
        order_id: Some(OrderId::generate()),
        customer_id: customer.clone(),
        sellers: Vec::new(),
        at: Timestamp::now(),
        data: serde_json::json!({"status": "shipped"}),
    }
}

async fn fan_out(app: &cy_tests::TestApp, push: Arc<dyn Push>, connections: usize, label: &str) {
    let store = app.store();
    let customer = UserId::generate();
    for n in 0..connections {
        let connection = Connection {
            connection_id: format!("c{n}"),
            user_id: customer.clone(),
            connected_at: Timestamp::now(),
            role: None,
        };
        connections::connect(store.as_ref(), &connection).await.expect("connect");
    }
    let realtime = Realtime { store: store.clone(), keys: None, push, chat: None };
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let sent = realtime.on_event(&event(&customer)).await.expect("fan-out");
        times.push(started.elapsed());
        assert_eq!(sent, connections, "every connection got its frame");
    }
    times.sort();
    println!(
        "{label}: {connections} connections, median {:.1} ms (min {:.1}, max {:.1}), peak RSS {:.1} MB",
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0,
        peak_rss_mb()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a smoke test, small.
    let full = std::env::args().any(|a| a == "--bench");
    let (api_connections, local_connections) = if full { (1_000, 10_000) } else { (20, 100) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // SAFETY: set before anything reads the environment.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
        let app = cy_tests::TestApp::new().await;
        let mock = axum::Router::new().route(
            "/@connections/{id}",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ""
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, mock).await.expect("serve") });
        let api = ApiGatewayPush::at(&format!("http://{addr}")).await;
        fan_out(&app, Arc::new(api), api_connections, "management API (20 ms a call)").await;
        let local = LocalPush::new();
        let mut receivers = Vec::new();
        for n in 0..local_connections {
            receivers.push(local.register(&format!("c{n}")));
        }
        fan_out(&app, Arc::new(local), local_connections, "local sockets").await;
        drop(receivers);
    });
}
