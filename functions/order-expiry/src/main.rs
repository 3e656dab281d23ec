//! Lambda `order-expiry`, on an EventBridge schedule (the order sweeps: reservations, refunds,
//! completions): configuration, clients, handler, run. The jobs live in `cy_api::jobs`.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let gateway = cy_api::payments::gateway_from_env()?;
    let sweeps = cy_api::jobs::Sweeps { payments: cy_api::payments::Payments { store, gateway } };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let sweeps = sweeps.clone();
        async move { cy_api::jobs::on_expiry_schedule(&sweeps, event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
