//! Lambda `order-expiry`, on an EventBridge schedule: configuration, client, handler, run.
//! The job lives in `cy_api::jobs`.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let store = store.clone();
        async move {
            cy_api::jobs::on_expiry_schedule(store.as_ref(), event.payload).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
