//! Function `chat`: `/conversations` and their messages.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cy_domain::Timestamp;
use cy_domain::chat::{Conversation, Message, MessageBody};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::parse_json;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, Listed, Paging, Query, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use super::{Asker, Chat};
use crate::idempotency::Keyed;

/// The routes' state: the service, and the keys that verify callers' tokens.
#[derive(Clone)]
struct Served {
    service: Chat,
    keys: Arc<JwtKeys>,
}

impl axum::extract::FromRef<Served> for Arc<JwtKeys> {
    fn from_ref(s: &Served) -> Self {
        s.keys.clone()
    }
}

/// These operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_conversations, open_conversation, list_messages, post_message))]
pub struct Api;

pub fn router(chat: Chat, keys: Arc<JwtKeys>) -> Router {
    routes(chat, keys).into_router()
}

pub fn routes(chat: Chat, keys: Arc<JwtKeys>) -> Routes {
    route!(Routes::new(), list_conversations, open_conversation, list_messages, post_message)
        .route_layer(require_roles(keys.clone(), SIGNED_IN))
        .with_state(Served { service: chat, keys })
}

fn asker(caller: &Caller) -> Asker {
    Asker { user: caller.user_id.clone(), role: caller.role }
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    id: String,
    customer_id: String,
    seller_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_message_at: Option<Timestamp>,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        ConversationView {
            id: c.id.to_string(),
            customer_id: c.customer_id.to_string(),
            seller_id: c.seller_id.to_string(),
            product_id: c.subject.product_id.map(|p| p.to_string()),
            order_id: c.subject.order_id.map(|o| o.to_string()),
            created_at: c.created_at,
            last_message_at: c.last_message_at,
        }
    }
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    id: String,
    conversation_id: String,
    sender_id: String,
    body: String,
    created_at: Timestamp,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id.to_string(),
            conversation_id: m.conversation_id.to_string(),
            sender_id: m.sender_id.to_string(),
            body: m.body.into(),
            created_at: m.created_at,
        }
    }
}

/// The caller's conversations, newest first.
#[utoipa::path(get, path = "/conversations", tag = "chat", params(Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of conversations", body = Listed<ConversationView>)))]
async fn list_conversations(
    State(Served { service: chat, .. }): State<Served>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<ConversationView>>> {
    let (items, next) = chat.list(&asker(&caller), paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items.into_iter().map(Into::into).collect(), next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    seller_id: String,
    product_id: Option<String>,
    order_id: Option<String>,
}

/// A customer opens a conversation with a seller (201), or gets the one they already have
/// with that seller about the same subject (200).
#[utoipa::path(post, path = "/conversations", tag = "chat", request_body = OpenBody, security(("bearer" = [])),
    responses((status = 201, description = "Opened", body = ConversationView),
        (status = 200, description = "The existing conversation", body = ConversationView),
        (status = 403, description = "Only customers open conversations", body = ErrorBody)))]
async fn open_conversation(
    State(Served { service: chat, .. }): State<Served>,
    caller: Caller,
    Json(body): Json<OpenBody>,
) -> ApiResult<(StatusCode, Json<ConversationView>)> {
    let (conversation, created) =
        chat.open(&asker(&caller), &body.seller_id, body.product_id.as_deref(), body.order_id.as_deref()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(conversation.into())))
}

/// A conversation's messages, newest first (its two parties and admins only).
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "chat", params(Paging,
        ("id" = String, Path, description = "The conversation id")), security(("bearer" = [])),
    responses((status = 200, description = "A page of messages", body = Listed<MessageView>),
        (status = 404, description = "No such conversation of the caller's", body = ErrorBody)))]
async fn list_messages(
    State(Served { service: chat, .. }): State<Served>,
    caller: Caller,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<MessageView>>> {
    let (items, next) = chat.messages(&asker(&caller), &id, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items.into_iter().map(Into::into).collect(), next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageBodyIn {
    #[schema(min_length = 1, max_length = 2000)]
    body: String,
}

/// Posts a message (the two parties only; 429 past the per-minute limit). Honours
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "chat", request_body = MessageBodyIn,
    params(("id" = String, Path, description = "The conversation id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    security(("bearer" = [])),
    responses((status = 201, description = "Posted", body = MessageView),
        (status = 404, description = "No such conversation of the caller's", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody)))]
async fn post_message(
    State(Served { service: chat, .. }): State<Served>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, cy_data::idempotency::Scope::Message)?;
    let body: MessageBodyIn = parse_json(&canonical)?;
    let body = MessageBody::parse(&body.body)?;
    let message = chat.post(&asker(&caller), &id, body, keyed.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(message.into())))
}
