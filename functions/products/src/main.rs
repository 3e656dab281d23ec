//! Lambda `products`: configuration, clients, router, run. The routes live in `cy_api::catalog`
//! (and `GET /openapi.json` in `cy_api::openapi`).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let files = Arc::new(cy_files::S3Files::from_env().await?);
    let default_currency =
        cy_domain::Currency::parse(&std::env::var("DEFAULT_CURRENCY").unwrap_or_else(|_| "INR".into()))
            .map_err(|e| format!("DEFAULT_CURRENCY {e}"))?;
    let catalog = cy_api::catalog::Catalog { store, keys, files, default_currency };
    // The catalog's function also serves the whole API's OpenAPI document, as published.
    let router = cy_api::catalog::router(catalog).merge(cy_api::openapi::published_router());
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
