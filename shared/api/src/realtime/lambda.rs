//! The WebSocket API's entry point (function `websocket`); the events queue's is
//! `crate::notifications::lambda`.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};

use super::Realtime;

fn answer(status: i64, body: &str) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = Some(aws_lambda_events::encodings::Body::Text(body.to_owned()));
    response
}

/// One WebSocket event, by its route: `$connect` answers 401 (the connection refused) without
/// a valid `?token=`; `$disconnect` forgets the connection; every other route is a client's
/// frame, answered over the connection (an `error` frame for a bad one, the connection kept).
pub async fn on_websocket(realtime: &Realtime, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let context = &event.request_context;
    let Some(connection) = context.connection_id.as_deref() else { return answer(400, "no connection id") };
    match context.route_key.as_deref() {
        Some("$connect") => match realtime.connect(connection, event.query_string_parameters.first("token")).await {
            Ok(_) => answer(200, ""),
            Err(e) => answer(i64::from(e.status()), &e.message),
        },
        Some("$disconnect") => {
            if let Err(e) = realtime.disconnect(connection).await {
                tracing::warn!(error = %e.message, "forgetting a connection failed; it expires");
            }
            answer(200, "")
        }
        _ => {
            let body = event.body.as_deref().unwrap_or_default();
            match realtime.on_frame(connection, body).await {
                Ok(()) => answer(200, ""),
                Err(e) => answer(i64::from(e.status()), &e.message),
            }
        }
    }
}
