//! The payment-provider port: ask a provider to collect an amount for an order and get back the
//! provider's reference (Stripe PaymentIntent, Razorpay order, PayPal order) that its webhooks
//! will carry. Creating a payment is idempotent per order: asking twice for the same order
//! gives the same payment, so a retried request never opens a second one.

pub mod webhooks;

use async_trait::async_trait;
use cy_domain::order::PaymentProvider;
use cy_domain::{Error, Money, OrderId};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// What a client needs to pay: the provider's reference and, per provider, a client secret
/// (Stripe) or a page to send the customer to (PayPal).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PaymentIntent {
    pub provider: PaymentProvider,
    pub reference: String,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Opens (or, for an order asked before, returns) the payment of `amount` for `order`.
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, Error>;
}

/// The local stand-in for all three providers: references are derived from the order id with
/// an HMAC, so they are stable across retries and restarts, and unguessable.
pub struct SimulatedPayments {
    secret: Vec<u8>,
    /// Where the simulated PayPal approval page would be (the local runtime's address).
    base_url: String,
}

impl SimulatedPayments {
    pub fn new(secret: &[u8], base_url: impl Into<String>) -> Self {
        SimulatedPayments { secret: secret.to_vec(), base_url: base_url.into() }
    }

    fn digest(&self, order: &OrderId, what: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{what}\n{order}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }
}

#[async_trait]
impl PaymentGateway for SimulatedPayments {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, Error> {
        let id = self.digest(order, "payment");
        Ok(match provider {
            PaymentProvider::Stripe => PaymentIntent {
                provider,
                reference: format!("pi_sim_{id}"),
                amount,
                client_secret: Some(format!("pi_sim_{id}_secret_{}", self.digest(order, "secret"))),
                redirect_url: None,
            },
            PaymentProvider::Razorpay => PaymentIntent {
                provider,
                reference: format!("order_sim{id}"),
                amount,
                client_secret: None,
                redirect_url: None,
            },
            PaymentProvider::Paypal => {
                let reference = format!("SIM{}", id.to_uppercase());
                let redirect_url = Some(format!("{}/dev/paypal/approve?token={reference}", self.base_url));
                PaymentIntent { provider, reference, amount, client_secret: None, redirect_url }
            }
        })
    }
}
