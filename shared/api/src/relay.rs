//! The transactional outbox's relay: events committed with the changes they report are
//! published to the queue afterwards, so an event is never lost, not even when the function
//! that made the change dies right after committing.
//!
//! - On AWS the table's stream feeds [`relay_stream`] (function `outbox-relay`): each INSERT
//!   of an outbox item is published; failures are reported per record so Lambda retries only
//!   those; the outbox item expires by TTL.
//! - Locally [`drain_outbox`] polls the outbox partition, publishes in id order and deletes
//!   what was published.
//!
//! Delivery is at least once either way (a crash between publishing and deleting publishes
//! again); consumers dedupe by the event id.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use cy_data::orders::OutboxEvent;
use cy_data::{Condition, Item, Query, Store, keys};
use cy_domain::Error;
use cy_queue::{Message, Publisher};

pub fn message_of(event: &OutboxEvent) -> Result<Message, Error> {
    let body = serde_json::to_string(event).map_err(|_| Error::internal())?;
    Ok(Message { id: event.id.to_string(), kind: event.kind.clone(), body })
}

/// Publishes up to `batch` pending outbox events, oldest first, and removes the published
/// ones. Returns how many were published. Safe to run concurrently with itself: a removal
/// only succeeds once, and a duplicate publication is deduped by consumers.
pub async fn drain_outbox(store: &dyn Store, publisher: &dyn Publisher, batch: u32) -> Result<usize, Error> {
    let page = store.query(&Query::table(keys::OUTBOX_PARTITION).limit(batch)).await?;
    if page.items.is_empty() {
        return Ok(0);
    }
    let events: Vec<OutboxEvent> = page.items.iter().map(Item::record).collect::<Result<_, _>>()?;
    let messages = events.iter().map(message_of).collect::<Result<Vec<_>, _>>()?;
    let failed = publisher.publish(&messages).await?;
    let mut published = 0;
    for event in &events {
        if failed.contains(&event.id.to_string()) {
            continue;
        }
        published += 1;
        match store.delete(&keys::outbox(&event.id), Some(Condition::Exists)).await {
            Ok(()) => {}
            // Another relay removed it first.
            Err(e) if e.failed_op() == Some(0) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(published)
}

/// Handles a batch of the table's stream: publishes every inserted outbox item. Records that
/// are not outbox inserts are skipped (the event source filter should not send them). A record
/// that cannot be read or published is reported as failed, with every record after it (Lambda
/// retries from the first failure, keeping order).
pub async fn relay_stream(publisher: &dyn Publisher, event: StreamEvent) -> Result<DynamoDbEventResponse, Error> {
    // (sequence number, the message, or None when the record does not parse)
    let mut records: Vec<(String, Option<Message>)> = Vec::new();
    for record in event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        if record.event_name != "INSERT" {
            continue;
        }
        let Ok(map) = serde_dynamo::from_item::<_, serde_json::Map<String, serde_json::Value>>(record.change.new_image)
        else {
            tracing::error!(sequence, "a stream record's image does not parse");
            records.push((sequence, None));
            continue;
        };
        let item = Item::from_map(map);
        if item.key().is_none_or(|k| k.pk != keys::OUTBOX_PARTITION) {
            continue;
        }
        match item.record::<OutboxEvent>() {
            Ok(event) => records.push((sequence, Some(message_of(&event)?))),
            Err(e) => {
                tracing::error!(error = %e, sequence, "an outbox record does not parse");
                records.push((sequence, None));
            }
        }
    }
    let messages: Vec<Message> = records.iter().filter_map(|(_, m)| m.clone()).collect();
    let failed = if messages.is_empty() { Vec::new() } else { publisher.publish(&messages).await? };
    let mut response = DynamoDbEventResponse::default();
    let first_failure = records.iter().position(|(_, m)| m.as_ref().is_none_or(|m| failed.contains(&m.id)));
    if let Some(first) = first_failure {
        for (sequence, _) in &records[first..] {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence.clone());
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
