//! Lambda `users`: configuration, clients, router, run. The routes live in
//! `cy_api::accounts::users` (profile, addresses) and `cy_api::notifications::routes`
//! (notifications, preferences, devices).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let keys = Arc::new(cy_http::JwtKeys::from_env()?);
    let store: Arc<dyn cy_data::Store> = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let notifications = cy_api::notifications::Notifications { store: store.clone() };
    let router = cy_api::accounts::users::router(cy_api::Accounts::new(store, keys.clone()))
        .merge(cy_api::notifications::routes::router(notifications, keys));
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
