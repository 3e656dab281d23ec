//! Lambda `auth`: configuration, clients, router, run. The routes live in `cy_api::accounts::auth`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let data_key = Arc::new(cy_api::sealed::DataKey::from_env()?);
    let router = cy_api::accounts::auth::router(cy_api::Accounts::new(store, keys).with_data_key(data_key));
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
