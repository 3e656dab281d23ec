//! Lambda `quote`: configuration, clients, router, run. The routes live in `cy_api::pricing`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let signer = Arc::new(cy_api::pricing::token::QuoteSigner::from_env()?);
    cy_http::run_on_lambda(cy_http::finish(cy_api::pricing::router(cy_api::pricing::Quoting::new(store, keys, signer))))
        .await
}
