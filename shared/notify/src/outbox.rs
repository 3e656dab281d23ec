//! The local sender of every channel: messages go to the outbox in the store
//! (`GET /dev/outbox`), not to a provider.

use std::sync::Arc;

use async_trait::async_trait;
use cy_data::Store;
use cy_data::dev_outbox::{self, OutboxMessage};
use cy_domain::Timestamp;

use crate::{Outgoing, SendError, Sender};

#[derive(Clone)]
pub struct OutboxSender {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl Sender for OutboxSender {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let kept = OutboxMessage {
            id: ulid::Ulid::new().to_string(),
            channel: message.channel.as_str().to_owned(),
            to: message.to.clone(),
            subject: message.subject.clone(),
            body: message.body.clone(),
            user_id: message.user_id.clone(),
            event_id: message.event_id.clone(),
            data: message.data.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect(),
            created_at: Timestamp::now(),
        };
        dev_outbox::append(self.store.as_ref(), &kept).await.map_err(|e| SendError::Failed(e.message))
    }
}
