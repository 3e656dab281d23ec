//! Lambda `chat`: configuration, clients, router, run. The routes live in `cy_api::chat`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let router = cy_api::chat::routes::router(cy_api::chat::Chat::new(store), keys);
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
