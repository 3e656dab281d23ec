//! Cold-start baseline: the least a Rust Lambda does — the runtime, an echo handler.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<Value>| async move { Ok::<_, lambda_runtime::Error>(event.payload) },
    ))
    .await
}
