//! Cold-start baseline: what every function of ours needs at least — the runtime, an AWS
//! config loaded and a DynamoDB client built at init — and an echo handler.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let _client = client.clone();
        async move { Ok::<_, lambda_runtime::Error>(event.payload) }
    }))
    .await
}
