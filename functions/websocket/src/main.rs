//! Lambda `websocket`, the WebSocket API's `$connect`, `$disconnect` and `$default` routes:
//! configuration, clients, handler, run. The logic lives in `cy_api::realtime` (and
//! `cy_api::chat` for `chat.send` and `chat.typing`).

use std::sync::Arc;

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let push = Arc::new(cy_realtime::ApiGatewayPush::from_env().await?);
    let chat = Some(cy_api::chat::Chat::new(store.clone()));
    let realtime = cy_api::realtime::Realtime { store, keys: Some(keys), push, chat };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let realtime = realtime.clone();
        async move { Ok::<_, lambda_runtime::Error>(cy_api::realtime::lambda::on_websocket(&realtime, event.payload).await) }
    }))
    .await
}
