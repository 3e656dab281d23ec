//! Lambda `orders`: configuration, clients, router, run. The routes live in `cy_api::orders`
//! and `cy_api::cart`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let signer = Arc::new(cy_api::quote_token::QuoteSigner::from_env()?);
    // Until the providers' adapters exist, payments are simulated (and say so in references).
    let simulator_secret =
        std::env::var("PAYMENT_SIMULATOR_SECRET").map_err(|_| "PAYMENT_SIMULATOR_SECRET is not set")?;
    let payments = Arc::new(cy_payments::SimulatedPayments::new(simulator_secret.as_bytes(), ""));
    let quoting = cy_api::quote::Quoting::new(store.clone(), keys.clone(), signer);
    let orders = cy_api::orders::Orders { store, keys, quoting, payments };
    let router = cy_api::orders::router(orders.clone()).merge(cy_api::cart::router(orders));
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
