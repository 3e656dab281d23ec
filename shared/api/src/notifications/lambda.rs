//! Function `notify-fanout`'s entry point: a batch of its queue (order and chat events), each
//! event handled alone and reported alone when it fails (`ReportBatchItemFailures`): SQS
//! redelivers only those and, after the receive limit, moves them to the dead-letter queue.
//! Events of one batch are handled concurrently (bounded), as they are independent.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use cy_data::orders::OutboxEvent;
use cy_domain::Error;
use futures::StreamExt;

use super::fanout::Notifier;

/// How many events of one batch are in flight at once.
pub const EVENTS_IN_FLIGHT: usize = 8;

pub async fn on_events(notifier: &Notifier, batch: SqsEvent) -> SqsBatchResponse {
    let failures = futures::stream::iter(batch.records)
        .map(|message| async move {
            let id = message.message_id.clone().unwrap_or_default();
            let handled = match serde_json::from_str::<OutboxEvent>(message.body.as_deref().unwrap_or_default()) {
                Ok(event) => notifier.on_event(&event).await,
                Err(e) => Err(Error::invalid("body", format!("is not an event: {e}"))),
            };
            handled.err().map(|e| {
                tracing::error!(message_id = %id, error = %e.message, "an event was not fully delivered");
                id
            })
        })
        .buffer_unordered(EVENTS_IN_FLIGHT)
        .filter_map(|failed| async move { failed })
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    for id in failures {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}
