//! Lambda `orders`: configuration, clients, router, run. The routes live in `cy_api::orders`
//! and `cy_api::orders::cart`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let data_key = Arc::new(cy_api::sealed::DataKey::from_env()?);
    let rules = cy_api::orders::OrderRules::from_env()?;
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let signer = Arc::new(cy_api::pricing::token::QuoteSigner::from_env()?);
    let payments = cy_api::payments::gateway_from_env()?;
    let quoting = cy_api::pricing::Quoting::new(store.clone(), keys.clone(), signer);
    let orders = cy_api::orders::Orders { store, keys, quoting, payments, data_key, rules };
    cy_http::run_on_lambda(cy_http::finish(cy_api::orders::with_cart(orders))).await
}
