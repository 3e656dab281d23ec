//! The Lambda entry points of real time: the WebSocket API's events (function `websocket`)
//! and the order events queue's batches (function `notify-fanout`).

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use cy_data::orders::OutboxEvent;
use cy_domain::Error;

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

/// A batch of the order events queue: each event pushed to the sockets it concerns. A message
/// that cannot be read or pushed is reported alone (`ReportBatchItemFailures`): SQS retries
/// just that one and, after its receive limit, moves it to the dead-letter queue.
pub async fn on_order_events(realtime: &Realtime, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let handled = match serde_json::from_str::<OutboxEvent>(message.body.as_deref().unwrap_or_default()) {
            Ok(event) => realtime.on_event(&event).await.map(drop),
            Err(e) => Err(Error::invalid("body", format!("is not an order event: {e}"))),
        };
        if let Err(e) = handled {
            tracing::error!(message_id = %id, error = %e.message, "an order event could not be pushed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
