//! `GET /ws?token=…`: the WebSocket API on the local runtime — the same `$connect`,
//! `$default` and `$disconnect` as the `websocket` function on AWS (`cy_api::realtime`), with
//! the sockets held here ([`LocalPush`]) instead of by API Gateway.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cy_api::realtime::Realtime;
use cy_http::ApiError;
use cy_realtime::LocalPush;
use serde::Deserialize;

#[derive(Clone)]
struct WsState {
    realtime: Realtime,
    sockets: LocalPush,
}

pub fn router(realtime: Realtime, sockets: LocalPush) -> Router {
    Router::new().route("/ws", get(upgrade)).with_state(WsState { realtime, sockets })
}

#[derive(Deserialize)]
struct ConnectParams {
    token: Option<String>,
}

/// `$connect`: refused (401, no upgrade) without a valid token.
async fn upgrade(
    State(ws): State<WsState>,
    Query(params): Query<ConnectParams>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let connection = format!("local-{}", ulid::Ulid::new());
    // Registered first: a fan-out between the record and the socket must find it.
    let frames = ws.sockets.register(&connection);
    if let Err(e) = ws.realtime.connect(&connection, params.token.as_deref()).await {
        ws.sockets.unregister(&connection);
        return ApiError::from(e).into_response();
    }
    let failed = (ws.clone(), connection.clone());
    upgrade
        .on_failed_upgrade(move |_| {
            let (ws, connection) = failed;
            ws.sockets.unregister(&connection);
            tokio::spawn(async move { ws.realtime.disconnect(&connection).await.ok() });
        })
        .on_upgrade(move |socket| serve(ws, connection, frames, socket))
}

/// As API Gateway: a connection with no frame either way for 10 minutes is closed (clients
/// send `ping` to stay), so a half-open TCP connection does not hold its task for ever.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

async fn serve(
    ws: WsState,
    connection: String,
    mut frames: tokio::sync::mpsc::UnboundedReceiver<String>,
    mut socket: WebSocket,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(IDLE_TIMEOUT) => break,
            pushed = frames.recv() => match pushed {
                Some(frame) => if socket.send(Message::Text(frame.into())).await.is_err() { break },
                None => break,
            },
            received = socket.recv() => match received {
                // `$default`
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = ws.realtime.on_frame(&connection, text.as_str()).await {
                        tracing::warn!(error = %e.message, "a frame could not be answered");
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let error = cy_api::realtime::error_frame("validation_failed", "Frames are JSON text.");
                    if socket.send(Message::Text(error.into())).await.is_err() { break }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    // `$disconnect`
    ws.sockets.unregister(&connection);
    if let Err(e) = ws.realtime.disconnect(&connection).await {
        tracing::warn!(error = %e.message, "forgetting a local connection failed");
    }
}
