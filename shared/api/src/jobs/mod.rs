//! Scheduled jobs, as handlers of the events that trigger them, and by name for the local
//! runtime's `POST /dev/jobs/{name}`.

pub mod sweeps;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use cy_domain::{Error, Timestamp};
use serde_json::Value;

pub use sweeps::{SweepReport, Sweeps};

/// The jobs that can be run by name.
pub const ORDER_SWEEPS: &str = "order-sweeps";

/// Function `order-expiry` (every minute): the order sweeps — reservations ended unpaid are
/// released (their payments closed), refunds not yet taken are sent, delivered parts whose
/// return window ended are completed. Each runs on its own and each subject on its own: a
/// failure is reported, never the end of the run. Idempotent; overlapping runs are safe.
pub async fn on_expiry_schedule(sweeps: &Sweeps, event: EventBridgeEvent) -> Result<Value, Error> {
    let report = sweeps.run_all(Timestamp::now()).await;
    tracing::info!(report = %report, rule = ?event.resources, "scheduled sweeps");
    Ok(report)
}
