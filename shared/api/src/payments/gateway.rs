//! Which payment gateway a Lambda talks to.

use std::sync::Arc;

use cy_payments::PaymentGateway;

/// The payment gateway of a Lambda: the providers configured in the environment (see
/// `cy_payments::providers::ProviderSettings`), or — on a stage with none configured and
/// `PAYMENT_SIMULATOR_SECRET` set — the simulator. Neither configured is an error at start.
pub fn gateway_from_env() -> Result<Arc<dyn PaymentGateway>, String> {
    let settings = cy_payments::providers::ProviderSettings::from_env();
    if settings.any_configured() {
        let client =
            cy_payments::providers::http_client(cy_payments::providers::DEFAULT_TIMEOUT).map_err(|e| e.to_string())?;
        return Ok(Arc::new(settings.providers(client)));
    }
    match cy_payments::env_setting("PAYMENT_SIMULATOR_SECRET") {
        Some(secret) => {
            tracing::warn!("no payment provider configured: payments are SIMULATED on this stage");
            Ok(Arc::new(cy_payments::SimulatedPayments::new(secret.as_bytes(), "")))
        }
        None => Err("no payment provider is configured (STRIPE_SECRET_KEY, RAZORPAY_KEY_ID/…, PAYPAL_CLIENT_ID/…) \
                     and PAYMENT_SIMULATOR_SECRET is not set"
            .to_owned()),
    }
}
