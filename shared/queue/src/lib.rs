//! The queue port: publish messages for other parts of the system (notifications, real-time
//! pushes, analytics). Delivery is at least once, so every message carries its id and
//! consumers dedupe by it.
//!
//! - [`SnsTopic`]: `PublishBatch` to an SNS topic that every consumer subscribes its own SQS
//!   queue (and dead-letter queue) to, filtered by the `type` attribute, with raw delivery:
//!   one queue per consumer, so no consumer takes another's messages;
//! - [`SqsQueue`]: `SendMessageBatch` to one SQS queue (with a dead-letter queue behind it);
//! - [`LocalQueue`]: in process, for `customiseyou-local` and tests: subscribers receive every
//!   message, and what was published can be read back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use cy_domain::Error;
use serde::{Deserialize, Serialize};

/// One message: its id (for deduplication), its type, and its JSON body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub kind: String,
    pub body: String,
}

#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes the messages; returns the ids of those that could not be published (the
    /// caller retries them). Never reports a message as published that was not.
    async fn publish(&self, messages: &[Message]) -> Result<Vec<String>, Error>;
}

/// `CY_AWS_ENDPOINT`: an emulator's address, for tests and local runs against moto.
fn emulator_endpoint() -> Option<String> {
    std::env::var("CY_AWS_ENDPOINT").ok()
}

/// The id of the message of `chunk` a batch call refused as entry `entry` (`m<index>`).
fn refused(chunk: &[Message], entry: &str, code: &str, service: &str) -> Option<String> {
    let index: usize = entry.trim_start_matches('m').parse().ok()?;
    let m = chunk.get(index)?;
    tracing::warn!(event_id = %m.id, code, service, "a message was refused");
    Some(m.id.clone())
}

/// SQS allows 10 messages per `SendMessageBatch`.
const SQS_BATCH: usize = 10;

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue { client, queue_url: queue_url.into() }
    }

    /// The queue at `env_var` (a queue URL); `CY_AWS_ENDPOINT` points at an emulator.
    pub async fn from_env(env_var: &str) -> Result<Self, String> {
        let queue_url = std::env::var(env_var).map_err(|_| format!("{env_var} is not set"))?;
        let shared = cy_outbound::aws_config().await;
        let mut config = aws_sdk_sqs::config::Builder::from(&shared);
        if let Some(endpoint) = emulator_endpoint() {
            config = config.endpoint_url(endpoint);
        }
        Ok(SqsQueue::new(aws_sdk_sqs::Client::from_conf(config.build()), queue_url))
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, Error> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| {
        tracing::error!(error = %e, "building a message attribute");
        Error::internal()
    })
}

#[async_trait]
impl Publisher for SqsQueue {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<String>, Error> {
        let mut failed = Vec::new();
        for chunk in messages.chunks(SQS_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let entry = SendMessageBatchRequestEntry::builder()
                    // Batch entry ids must be unique within the batch and ≤ 80 [A-Za-z0-9_-].
                    .id(format!("m{i}"))
                    .message_body(&m.body)
                    .message_attributes("event_id", attribute(&m.id)?)
                    .message_attributes("type", attribute(&m.kind)?)
                    .build()
                    .map_err(|e| {
                        tracing::error!(error = %e, "building a batch entry");
                        Error::internal()
                    })?;
                entries.push(entry);
            }
            match self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
                Ok(out) => {
                    for f in out.failed() {
                        failed.extend(refused(chunk, f.id(), f.code(), "SQS"));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SendMessageBatch failed");
                    failed.extend(chunk.iter().map(|m| m.id.clone()));
                }
            }
        }
        Ok(failed)
    }
}

/// SNS allows 10 messages per `PublishBatch`.
const SNS_BATCH: usize = 10;

/// Publishes to an SNS topic; each consumer's queue subscribes with raw message delivery (its
/// messages are our bodies, with `event_id` and `type` as message attributes) and a filter
/// policy on `type`.
#[derive(Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsTopic { client, topic_arn: topic_arn.into() }
    }

    /// The topic at `env_var` (a topic ARN); `CY_AWS_ENDPOINT` points at an emulator.
    pub async fn from_env(env_var: &str) -> Result<Self, String> {
        let topic_arn = std::env::var(env_var).map_err(|_| format!("{env_var} is not set"))?;
        let shared = cy_outbound::aws_config().await;
        let mut config = aws_sdk_sns::config::Builder::from(&shared);
        if let Some(endpoint) = emulator_endpoint() {
            config = config.endpoint_url(endpoint);
        }
        Ok(SnsTopic::new(aws_sdk_sns::Client::from_conf(config.build()), topic_arn))
    }
}

fn sns_attribute(value: &str) -> Result<aws_sdk_sns::types::MessageAttributeValue, Error> {
    aws_sdk_sns::types::MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| {
        tracing::error!(error = %e, "building a message attribute");
        Error::internal()
    })
}

#[async_trait]
impl Publisher for SnsTopic {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<String>, Error> {
        let mut failed = Vec::new();
        for chunk in messages.chunks(SNS_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let entry = aws_sdk_sns::types::PublishBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message(&m.body)
                    .message_attributes("event_id", sns_attribute(&m.id)?)
                    .message_attributes("type", sns_attribute(&m.kind)?)
                    .build()
                    .map_err(|e| {
                        tracing::error!(error = %e, "building a batch entry");
                        Error::internal()
                    })?;
                entries.push(entry);
            }
            match self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed() {
                        failed.extend(refused(chunk, f.id(), f.code(), "SNS"));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sns::error::DisplayErrorContext(&e), "PublishBatch failed");
                    failed.extend(chunk.iter().map(|m| m.id.clone()));
                }
            }
        }
        Ok(failed)
    }
}

/// An in-process queue: keeps what was published (for the local runtime's dev tools and
/// tests) and hands each message to subscribers.
#[derive(Clone, Default)]
pub struct LocalQueue {
    published: Arc<Mutex<Vec<Message>>>,
    subscribers: Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Message>>>>,
}

impl LocalQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message published so far, in order.
    pub fn published(&self) -> Vec<Message> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// A receiver of every message published from now on.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<Message> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push(tx);
        }
        rx
    }
}

#[async_trait]
impl Publisher for LocalQueue {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<String>, Error> {
        let mut published = self.published.lock().map_err(|_| Error::internal())?;
        published.extend(messages.iter().cloned());
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|tx| messages.iter().all(|m| tx.send(m.clone()).is_ok()));
        }
        Ok(Vec::new())
    }
}
