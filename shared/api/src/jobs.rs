//! Scheduled jobs, as handlers of the events that trigger them.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use cy_domain::{Error, Timestamp};
use serde_json::{Value, json};

use crate::payments::Payments;

/// The sweeps of function `order-expiry` (every minute): release the stock of orders left
/// unpaid past their reservation (closing their payments), and send refunds recorded but not yet taken by their
/// provider (an outage or a crash between recording and sending). Both are idempotent;
/// overlapping runs are safe (refunds carry their idempotency keys).
pub async fn on_expiry_schedule(payments: &Payments, event: EventBridgeEvent) -> Result<Value, Error> {
    let released = payments.expire_reservations(Timestamp::now()).await?;
    let refunds_sent = payments.sweep_refunds().await?;
    tracing::info!(released, refunds_sent, rule = ?event.resources, "scheduled sweeps");
    Ok(json!({"released": released, "refunds_sent": refunds_sent}))
}
