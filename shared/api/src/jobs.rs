//! Scheduled jobs, as handlers of the events that trigger them.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use cy_data::Store;
use cy_domain::{Error, Timestamp};
use serde_json::{Value, json};

/// The reservation sweep (function `order-expiry`, every minute): releases the stock of
/// orders left unpaid past their reservation. Idempotent; overlapping runs are safe.
pub async fn on_expiry_schedule(store: &dyn Store, event: EventBridgeEvent) -> Result<Value, Error> {
    let released = cy_data::orders::expire_reservations(store, Timestamp::now()).await?;
    tracing::info!(released, rule = ?event.resources, "reservation sweep");
    Ok(json!({"released": released}))
}
