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
