//! Lambda `payout-batch`, on a daily EventBridge schedule: configuration, clients, handler,
//! run. The batch lives in `cy_api::payouts`.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let data_key = Arc::new(cy_api::sealed::DataKey::from_env()?);
    let gateway = cy_api::payouts::gateway_from_env()?;
    let batch = cy_api::payouts::PayoutBatch { store, gateway, data_key };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let batch = batch.clone();
        async move { cy_api::payouts::on_schedule(&batch, event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
