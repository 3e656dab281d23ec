//! Lambda `sellers`: configuration, clients, router, run. The routes live in `cy_api::sellers`
//! (shop, KYC, commission) and `cy_api::payouts::routes` (balance, payouts).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let data_key = Arc::new(cy_api::sealed::DataKey::from_env()?);
    let store: Arc<dyn cy_data::Store> = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let gateway = cy_api::payouts::gateway_from_env()?;
    let payouts = cy_api::payouts::routes::Payouts { store: store.clone(), keys: keys.clone(), gateway };
    let sellers = cy_api::sellers::Sellers { store, keys, data_key };
    let router = cy_api::sellers::routes::router(sellers).merge(cy_api::payouts::routes::router(payouts));
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
