//! The real `customiseyou-local` binary: it starts, answers `/health`, prints the demo logins,
//! serves the API over TCP, and keeps its data across a restart with the same `--data-dir`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Running {
    child: Child,
    port: u16,
    stdout_lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Starts the binary and waits for its banner (printed once it is listening).
fn start(data_dir: &std::path::Path) -> Running {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_customiseyou-local"))
        .args(["--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("ADMIN_PASSWORD", "local-admin-password")
        .env_remove("JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn customiseyou-local");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let done = line.contains("customer@demo");
        lines.push(line);
        if done {
            break;
        }
    }
    Running { child, port, stdout_lines: lines }
}

/// One HTTP/1.1 request over TCP; returns (status, body).
async fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

async fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() && http(port, "GET", "/health", None).await.0 == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "no /health 200 within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_binary_serves_the_api_and_keeps_its_data_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(dir.path());
    wait_healthy(first.port).await;
    let banner = first.stdout_lines.join("\n");
    assert!(banner.contains("admin@customiseyou.local"), "{banner}");
    assert!(banner.contains("seller@demo.customiseyou.local  password: demo-seller-pass"), "{banner}");

    let (status, body) = http(
        first.port,
        "POST",
        "/auth/register",
        Some(r#"{"email": "kept@example.in", "password": "kept-password", "name": "Kept", "role": "customer"}"#),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    drop(first);

    let second = start(dir.path());
    wait_healthy(second.port).await;
    let (status, body) =
        http(second.port, "POST", "/auth/login", Some(r#"{"email": "kept@example.in", "password": "kept-password"}"#))
            .await;
    assert_eq!(status, 200, "registered before the restart, signs in after it: {body}");
    let (status, _) = http(
        second.port,
        "POST",
        "/auth/login",
        Some(r#"{"email": "admin@customiseyou.local", "password": "local-admin-password"}"#),
    )
    .await;
    assert_eq!(status, 200);
    // Unknown paths answer in the contract shape over real HTTP too.
    let (status, body) = http(second.port, "GET", "/nowhere", None).await;
    assert_eq!(status, 404, "{body}");
}

/// One HTTP/1.1 request with a bearer token; returns (status, JSON body).
async fn call(port: u16, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let body = body.unwrap_or("");
    let auth = if token.is_empty() { String::new() } else { format!("Authorization: Bearer {token}\r\n") };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

fn send_webhook(data_dir: &std::path::Path, port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_customiseyou-local"))
        .arg("send-webhook")
        .args(args)
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run send-webhook");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// The bundled sender against the real binary: an order paid by a signed Stripe webhook, a
/// tampered amount refused, then the order cancelled and refunded by the simulated provider's
/// own confirmation.
#[tokio::test]
async fn send_webhook_pays_an_order_on_the_running_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path());
    wait_healthy(running.port).await;
    let port = running.port;
    let (_, login) = call(
        port,
        "POST",
        "/auth/login",
        "",
        Some(r#"{"email": "customer@demo.customiseyou.local", "password": "demo-customer-pass"}"#),
    )
    .await;
    let token = login["access_token"].as_str().expect("demo customer signs in").to_owned();
    let (_, addresses) = call(port, "GET", "/me/addresses", &token, None).await;
    let address = addresses["items"][0]["id"].as_str().expect("an address").to_owned();
    let (_, mugs) = call(port, "GET", "/products?q=mug", "", None).await;
    let mug = mugs["items"][0]["id"].as_str().expect("the demo mug").to_owned();
    let (_, product) = call(port, "GET", &format!("/products/{mug}"), "", None).await;
    let option =
        |name: &str| product["options"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone();
    let colour = option("Colour");
    let order = serde_json::json!({
        "items": [{"product_id": mug, "quantity": 1, "customizations": {
            option("Engraving")["id"].as_str().unwrap(): "ASHA",
            colour["id"].as_str().unwrap(): colour["choices"][0]["id"]}}],
        "address_id": address, "payment_provider": "stripe"});
    let (status, placed) = call(port, "POST", "/orders", &token, Some(&order.to_string())).await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order"]["id"].as_str().unwrap().to_owned();

    let (ok, answer) =
        send_webhook(dir.path(), port, &["stripe", "payment_intent.succeeded", "--order", &id, "--amount", "1"]);
    assert!(ok, "a flagged event is still acknowledged: {answer}");
    assert!(answer.contains("\"outcome\":\"flagged\""), "{answer}");
    let (ok, answer) = send_webhook(dir.path(), port, &["stripe", "payment_intent.succeeded", "--order", &id]);
    assert!(ok && answer.contains("\"status\":\"paid\""), "{answer}");
    let (ok, answer) = send_webhook(dir.path(), port, &["razorpay", "payment.captured", "--order", &id]);
    assert!(!ok && answer.contains("is paid with stripe"), "{answer}");

    // Cancelling the paid order: the simulated Stripe takes the refund and confirms it by webhook.
    let (status, cancelled) = call(port, "POST", &format!("/orders/{id}/cancel"), &token, None).await;
    assert_eq!(status, 202, "{cancelled}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, order) = call(port, "GET", &format!("/orders/{id}"), &token, None).await;
        if order["status"] == "refunded" {
            break;
        }
        assert!(Instant::now() < deadline, "not refunded within 10 s: {order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
