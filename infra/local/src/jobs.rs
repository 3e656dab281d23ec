//! `POST /dev/jobs/{name}` (local only, an admin's token): runs a scheduled job now and answers
//! its summary, so a developer or a test need not wait for the schedule. `order-sweeps` runs the
//! reservation, refund and completion sweeps (`cy_api::jobs`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use cy_api::jobs::{ORDER_SWEEPS, Sweeps};
use cy_domain::{Error, Role, Timestamp};
use cy_http::{ApiResult, Json, JwtKeys, require_roles};
use serde_json::Value;

#[derive(Clone)]
struct JobsState {
    sweeps: Sweeps,
}

pub fn router(keys: Arc<JwtKeys>, sweeps: Sweeps) -> Router {
    Router::new()
        .route("/dev/jobs/{name}", post(run))
        .route_layer(require_roles(keys, &[Role::Admin]))
        .with_state(JobsState { sweeps })
}

async fn run(State(jobs): State<JobsState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    match name.as_str() {
        ORDER_SWEEPS => Ok(Json(jobs.sweeps.run_all(Timestamp::now()).await)),
        _ => Err(Error::not_found("The job").with_detail("known", ORDER_SWEEPS).into()),
    }
}
