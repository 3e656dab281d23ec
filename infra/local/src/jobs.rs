//! `POST /dev/jobs/{name}` (local only, an admin's token): runs a scheduled job now and answers
//! its summary, so a developer or a test need not wait for the schedule. `order-sweeps` runs the
//! reservation, refund and completion sweeps (`cy_api::jobs`); `payout-batch` pays sellers
//! (`cy_api::payouts`) through the simulated payout provider.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use cy_api::jobs::{ORDER_SWEEPS, Sweeps};
use cy_api::payouts::PayoutBatch;
use cy_domain::{Error, Role, Timestamp};
use cy_http::{ApiResult, Json, JwtKeys, require_roles};
use serde_json::Value;

/// The payout batch's job name.
pub const PAYOUT_BATCH: &str = "payout-batch";

#[derive(Clone)]
struct JobsState {
    sweeps: Sweeps,
    payouts: PayoutBatch,
}

pub fn router(keys: Arc<JwtKeys>, sweeps: Sweeps, payouts: PayoutBatch) -> Router {
    Router::new()
        .route("/dev/jobs/{name}", post(run))
        .route_layer(require_roles(keys, &[Role::Admin]))
        .with_state(JobsState { sweeps, payouts })
}

async fn run(State(jobs): State<JobsState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    match name.as_str() {
        ORDER_SWEEPS => Ok(Json(jobs.sweeps.run_all(Timestamp::now()).await)),
        // Locally a developer wants today's completions paid now: no settling margin to wait.
        PAYOUT_BATCH => Ok(Json(serde_json::json!(
            jobs.payouts.run(Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1)).await?
        ))),
        _ => Err(Error::not_found("The job").with_detail("known", [ORDER_SWEEPS, PAYOUT_BATCH]).into()),
    }
}
