//! The real-time push port: a JSON frame to one WebSocket connection.
//!
//! - [`ApiGatewayPush`]: `PostToConnection` on API Gateway's management API (the WebSocket
//!   API's endpoint, from configuration). `410 Gone` means the client left without a
//!   `$disconnect` (which API Gateway does not guarantee): the caller removes that connection.
//! - [`LocalPush`]: the sockets `customiseyou-local` holds at `/ws`.
//!
//! A frame never exceeds API Gateway's 32 KB frame limit: [`frame`] turns a larger payload into
//! a short reference the client reads over REST.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cy_domain::Error;
use serde_json::{Value, json};

/// What became of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// The connection no longer exists: forget it.
    Gone,
}

#[async_trait]
pub trait Push: Send + Sync {
    /// Sends `frame` (JSON text, at most [`MAX_FRAME_BYTES`]) to `connection`.
    async fn send(&self, connection: &str, frame: &str) -> Result<Delivered, Error>;
}

/// API Gateway's WebSocket frame limit.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// The frame `{"type": kind, "data": data}`; when it would exceed the frame limit, the frame
/// names `reference` (a REST path the client reads instead) in place of the data.
pub fn frame(kind: &str, data: &Value, reference: &str) -> String {
    let full = json!({"type": kind, "data": data}).to_string();
    if full.len() <= MAX_FRAME_BYTES {
        return full;
    }
    json!({"type": kind, "data": {"ref": reference, "truncated": true}}).to_string()
}

/// Pushes through API Gateway's management API.
#[derive(Clone)]
pub struct ApiGatewayPush {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPush {
    pub fn new(client: aws_sdk_apigatewaymanagement::Client) -> Self {
        ApiGatewayPush { client }
    }

    /// The WebSocket API's management endpoint from `WEBSOCKET_ENDPOINT`
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    pub async fn from_env() -> Result<Self, String> {
        let endpoint = std::env::var("WEBSOCKET_ENDPOINT").map_err(|_| "WEBSOCKET_ENDPOINT is not set".to_owned())?;
        Ok(Self::at(&endpoint).await)
    }

    /// The management API at `endpoint`, credentials and region from the environment.
    pub async fn at(endpoint: &str) -> Self {
        let shared = cy_outbound::aws_config().await;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&shared).endpoint_url(endpoint).build();
        ApiGatewayPush::new(aws_sdk_apigatewaymanagement::Client::from_conf(config))
    }
}

#[async_trait]
impl Push for ApiGatewayPush {
    async fn send(&self, connection: &str, frame: &str) -> Result<Delivered, Error> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(frame.as_bytes()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Delivered::Sent),
            Err(e) => match e.as_service_error() {
                Some(service) if service.is_gone_exception() => Ok(Delivered::Gone),
                _ if e.raw_response().is_some_and(|r| r.status().as_u16() == 410) => Ok(Delivered::Gone),
                _ => {
                    tracing::warn!(connection, error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e), "a push failed");
                    Err(Error::unavailable(1))
                }
            },
        }
    }
}

/// The local runtime's sockets: each registered connection's outgoing frames.
#[derive(Clone, Default)]
pub struct LocalPush {
    sockets: Arc<Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<String>>>>,
}

impl LocalPush {
    pub fn new() -> Self {
        Self::default()
    }

    /// A socket connected as `connection`: the frames pushed to it.
    pub fn register(&self, connection: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.insert(connection.to_owned(), tx);
        }
        rx
    }

    pub fn unregister(&self, connection: &str) {
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.remove(connection);
        }
    }

    /// How many sockets are connected.
    pub fn connected(&self) -> usize {
        self.sockets.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[async_trait]
impl Push for LocalPush {
    async fn send(&self, connection: &str, frame: &str) -> Result<Delivered, Error> {
        let sender = self.sockets.lock().map_err(|_| Error::internal())?.get(connection).cloned();
        match sender {
            Some(tx) if tx.send(frame.to_owned()).is_ok() => Ok(Delivered::Sent),
            _ => {
                self.unregister(connection);
                Ok(Delivered::Gone)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_over_the_limit_becomes_a_reference() {
        let small = frame("chat.message", &json!({"body": "hi"}), "/conversations/c1/messages");
        assert_eq!(small, r#"{"data":{"body":"hi"},"type":"chat.message"}"#);
        let big = frame("chat.message", &json!({"body": "x".repeat(MAX_FRAME_BYTES)}), "/conversations/c1/messages");
        assert!(big.len() < 200, "{big}");
        assert!(big.contains("/conversations/c1/messages"));
    }

    #[tokio::test]
    async fn a_local_socket_gets_its_frames_and_a_closed_one_is_gone() {
        let push = LocalPush::new();
        let mut rx = push.register("c1");
        assert_eq!(push.send("c1", "{}").await.unwrap(), Delivered::Sent);
        assert_eq!(rx.recv().await.as_deref(), Some("{}"));
        drop(rx);
        assert_eq!(push.send("c1", "{}").await.unwrap(), Delivered::Gone);
        assert_eq!(push.send("nobody", "{}").await.unwrap(), Delivered::Gone);
        assert_eq!(push.connected(), 0);
    }

    /// moto never answers 410: a mock management API does, for one connection.
    #[tokio::test]
    async fn a_410_from_the_management_api_is_gone_and_a_200_is_sent() {
        use axum::Router;
        use axum::extract::Path;
        use axum::http::StatusCode;
        use axum::routing::post;
        let app = Router::new().route(
            "/@connections/{id}",
            post(|Path(id): Path<String>| async move {
                if id == "gone" { (StatusCode::GONE, r#"{"message":"GoneException"}"#) } else { (StatusCode::OK, "") }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // SAFETY: this test binary's only environment writes, before the SDK reads them.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
        let push = ApiGatewayPush::at(&format!("http://{addr}")).await;
        assert_eq!(push.send("live", "{}").await.unwrap(), Delivered::Sent);
        assert_eq!(push.send("gone", "{}").await.unwrap(), Delivered::Gone);
    }
}
