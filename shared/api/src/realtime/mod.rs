//! Real time: the WebSocket API (function `websocket`: `$connect`, `$disconnect`, `$default`)
//! and the live pushes of order events to the sockets of those they concern (function
//! `notify-fanout`, a consumer of the order events queue). The socket is a hint, not the
//! record: a client that reconnects reads what it missed over REST.

pub mod lambda;

use std::sync::Arc;

use cy_data::Store;
use cy_data::connections::{self as records, Connection};
use cy_data::orders::OutboxEvent;
use cy_domain::{Error, Timestamp, UserId};
use cy_http::JwtKeys;
use cy_realtime::{Delivered, Push, frame};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

/// How many frames one fan-out has in flight at once (each a management API call on AWS).
pub const PUSH_CONCURRENCY: usize = 32;

/// A connection younger than this is still being opened by API Gateway (its `$connect` has
/// run, the socket may not be up): a 410 for it does not forget it.
pub const OPENING_SECS: i64 = 10;

/// The most live connections one user may hold (tabs and devices): one token cannot open
/// thousands of sockets that every fan-out would then have to push to.
pub const MAX_CONNECTIONS_PER_USER: usize = 20;

#[derive(Clone)]
pub struct Realtime {
    pub store: Arc<dyn Store>,
    /// What verifies access tokens at `$connect`; `None` where nothing connects (the
    /// fan-out, which then needs no token secret).
    pub keys: Option<Arc<JwtKeys>>,
    pub push: Arc<dyn Push>,
    /// What `chat.send` and `chat.typing` frames go to; `None` where no client sends frames
    /// (the fan-out).
    pub chat: Option<crate::chat::Chat>,
}

/// A frame a client sends.
#[derive(Deserialize)]
#[serde(tag = "action")]
enum ClientFrame {
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "chat.send")]
    ChatSend { conversation_id: String, body: String },
    #[serde(rename = "chat.typing")]
    ChatTyping { conversation_id: String },
}

/// The `error` frame: `{"type": "error", "data": {"code", "message"}}`.
pub fn error_frame(code: &str, message: &str) -> String {
    json!({"type": "error", "data": {"code": code, "message": message}}).to_string()
}

impl Realtime {
    /// `$connect`: the access token from the query string must verify (401 otherwise: the
    /// connection is refused); the connection is recorded for its user.
    pub async fn connect(&self, connection_id: &str, token: Option<&str>) -> Result<UserId, Error> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::unauthenticated("Connect with ?token=<access token>."))?;
        let keys = self.keys.as_ref().ok_or_else(Error::internal)?;
        let claims = keys.verify(token)?;
        let live = records::of_user(self.store.as_ref(), &claims.sub, Timestamp::now()).await?;
        if live.len() >= MAX_CONNECTIONS_PER_USER {
            return Err(Error::rate_limited(60).with_detail("limit", MAX_CONNECTIONS_PER_USER as u64));
        }
        let connection = Connection {
            connection_id: connection_id.to_owned(),
            user_id: claims.sub.clone(),
            connected_at: Timestamp::now(),
            role: Some(claims.role),
        };
        records::connect(self.store.as_ref(), &connection).await?;
        Ok(claims.sub)
    }

    /// `$disconnect` (best effort: API Gateway does not always send it).
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), Error> {
        records::disconnect(self.store.as_ref(), connection_id).await
    }

    /// `$default`: a frame from `connection_id`. `ping` is answered `pong` (clients keep the
    /// connection alive against API Gateway's 10-minute idle timeout); a frame that does not
    /// parse, or an action this API does not take, is answered `error` and the connection
    /// stays open.
    pub async fn on_frame(&self, connection_id: &str, text: &str) -> Result<(), Error> {
        // Every frame is a JSON object (serde would also read `["ping"]` as a tagged enum).
        let parsed = serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .and_then(|v| serde_json::from_value::<ClientFrame>(v).ok())
            .ok_or(());
        let answer = match parsed {
            Ok(ClientFrame::Ping) => json!({"type": "pong", "data": {}}).to_string(),
            Ok(ClientFrame::ChatSend { conversation_id, body }) => {
                match self.chat_send(connection_id, &conversation_id, &body).await {
                    // The sender's own copy, as an acknowledgement (the other party's comes
                    // through the fan-out).
                    Ok(message) => frame("chat.message", &json!(message), "/conversations"),
                    Err(e) => error_frame(e.code.as_str(), &e.message),
                }
            }
            Ok(ClientFrame::ChatTyping { conversation_id }) => {
                match self.chat_typing(connection_id, &conversation_id).await {
                    Ok(()) => return Ok(()),
                    Err(e) => error_frame(e.code.as_str(), &e.message),
                }
            }
            Err(_) => error_frame(
                "validation_failed",
                "A frame is a JSON object with an action: ping, chat.send or chat.typing.",
            ),
        };
        self.push.send(connection_id, &answer).await.map(drop)
    }

    /// Who is on `connection_id` (its record; a connection forgotten since cannot speak).
    async fn asker(&self, connection_id: &str) -> Result<(crate::chat::Chat, crate::chat::Asker), Error> {
        let chat = self.chat.clone().ok_or_else(Error::internal)?;
        let connection = records::get(self.store.as_ref(), connection_id, Timestamp::now())
            .await?
            .ok_or_else(|| Error::unauthenticated("This connection is closed; connect again."))?;
        let role = match connection.role {
            Some(role) => role,
            None => cy_data::accounts::get_user(self.store.as_ref(), &connection.user_id)
                .await?
                .map(|u| u.role)
                .ok_or_else(|| Error::unauthenticated("The account is gone."))?,
        };
        Ok((chat, crate::chat::Asker { user: connection.user_id, role }))
    }

    async fn chat_send(&self, connection_id: &str, conversation: &str, body: &str) -> Result<Value, Error> {
        let (chat, asker) = self.asker(connection_id).await?;
        let body = cy_domain::chat::MessageBody::parse(body)?;
        let message = chat.post(&asker, conversation, body, None).await?;
        Ok(json!(crate::chat::routes::MessageView::from(message)))
    }

    /// Relays "typing" to the other party's sockets; nothing is stored.
    async fn chat_typing(&self, connection_id: &str, conversation: &str) -> Result<(), Error> {
        let (chat, asker) = self.asker(connection_id).await?;
        let to = chat.typing_to(&asker, conversation).await?;
        let data = json!({"conversation_id": conversation, "user_id": asker.user});
        self.push_to_user(&to, &frame("chat.typing", &data, "/conversations")).await.map(drop)
    }

    /// Sends `frame` to every live connection of `user` (at most [`PUSH_CONCURRENCY`] at
    /// once); a connection found gone is forgotten. Returns how many frames were sent.
    pub async fn push_to_user(&self, user: &UserId, frame: &str) -> Result<usize, Error> {
        let connections = records::of_user(self.store.as_ref(), user, Timestamp::now()).await?;
        let sent = futures::stream::iter(connections)
            .map(|c| async move {
                match self.push.send(&c.connection_id, frame).await {
                    Ok(Delivered::Sent) => 1,
                    // A connection API Gateway is still opening answers 410 too: keep a young one.
                    Ok(Delivered::Gone) if Timestamp::now().unix() - c.connected_at.unix() < OPENING_SECS => 0,
                    Ok(Delivered::Gone) => {
                        if let Err(e) = records::forget(self.store.as_ref(), user, &c.connection_id).await {
                            tracing::warn!(error = %e.message, "forgetting a gone connection failed");
                        }
                        0
                    }
                    // A socket that cannot take a frame now: the client reads it over REST.
                    Err(_) => 0,
                }
            })
            .buffer_unordered(PUSH_CONCURRENCY)
            .fold(0, |n, s| async move { n + s })
            .await;
        Ok(sent)
    }

    /// Pushes an order event to the sockets of those it concerns: `order.status_changed` to
    /// the customer (the order's status, and the part's for a part's move) and to the part's
    /// seller (their part's status only — never the order's, which follows the other sellers'
    /// parts); an order-wide move to every seller, with the status it moved their part to.
    pub async fn on_event(&self, event: &OutboxEvent) -> Result<usize, Error> {
        let Some(order_id) = event.order_id.as_ref().filter(|_| event.kind == "order.status_changed") else {
            return Ok(0);
        };
        let reference = format!("/orders/{order_id}");
        let status = event.data.get("status").cloned().unwrap_or(Value::Null);
        let mut sent = 0;
        match event.data.get("seller_id").and_then(Value::as_str) {
            Some(seller) => {
                let part = event.data.get("fulfilment_status").cloned().unwrap_or(Value::Null);
                let to_customer = json!({"order_id": order_id, "status": status, "seller_id": seller,
                    "fulfilment_status": part, "tracking": event.data.get("tracking")});
                sent += self.push_to_user(&event.customer_id, &frame(&event.kind, &to_customer, &reference)).await?;
                let to_seller =
                    json!({"order_id": order_id, "status": part, "seller_id": seller, "fulfilment_status": part});
                for seller in event.sellers.iter().filter(|s| s.as_str() == seller) {
                    sent += self.push_to_user(seller, &frame(&event.kind, &to_seller, &reference)).await?;
                }
            }
            None => {
                let data = json!({"order_id": order_id, "status": status});
                sent += self.push_to_user(&event.customer_id, &frame(&event.kind, &data, &reference)).await?;
                // Each seller whose part the move moved, with their part's new status.
                let parts = event.data.get("parts").and_then(Value::as_object).cloned().unwrap_or_default();
                for seller in &event.sellers {
                    let Some(part) = parts.get(seller.as_str()) else { continue };
                    let data = json!({"order_id": order_id, "status": part, "seller_id": seller,
                        "fulfilment_status": part});
                    sent += self.push_to_user(seller, &frame(&event.kind, &data, &reference)).await?;
                }
            }
        }
        Ok(sent)
    }
}
