//! Lambda `payment-webhook`: configuration, clients, router, run. The endpoints live in
//! `cy_api::payments` (`/webhooks/stripe`, `/webhooks/razorpay`, `/webhooks/paypal`).

use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let gateway = cy_api::payments::gateway_from_env()?;
    let secrets = Arc::new(cy_api::payments::WebhookSecrets::from_env()?);
    // PayPal's signing certificates, fetched from PayPal's hosts only and cached per instance.
    let client = cy_payments::providers::http_client(Duration::from_secs(5))?;
    let certificates = Arc::new(cy_payments::certs::HttpCertificates::new(client));
    let payments = cy_api::payments::Payments { store, gateway };
    let router = cy_api::payments::router(cy_api::payments::Webhooks { payments, secrets, certificates });
    cy_http::run_on_lambda(cy_http::finish(router)).await
}
