//! Lambda `notify-fanout`, a consumer of the order events queue (partial batch responses):
//! configuration, clients, handler, run. Today it pushes each event live to the sockets of
//! those it concerns; the logic lives in `cy_api::realtime`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let push = Arc::new(cy_realtime::ApiGatewayPush::from_env().await?);
    let realtime = cy_api::realtime::Realtime { store, keys: None, push };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let realtime = realtime.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(cy_api::realtime::lambda::on_order_events(&realtime, event.payload).await)
        }
    }))
    .await
}
