//! Lambda `outbox-relay`, on the table's stream (outbox inserts only): configuration, client,
//! handler, run. The relay lives in `cy_api::relay`.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let queue = Arc::new(cy_queue::SnsTopic::from_env("ORDER_EVENTS_TOPIC_ARN").await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let queue = queue.clone();
        async move { cy_api::relay::relay_stream(queue.as_ref(), event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
