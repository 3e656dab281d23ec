//! The payment-provider port: open a payment for an order, capture an approved one, refund.
//! Adapters: Stripe, Razorpay and PayPal over their HTTP APIs ([`providers`]), and a local
//! simulator ([`SimulatedPayments`]). Webhook verification and parsing live in [`webhooks`],
//! [`certs`] and [`events`].
//!
//! Every call that can move money carries an idempotency key derived from our own ids (the
//! order id for opening and capturing, our refund id for refunds), so a retry — ours, or a
//! client's — never moves money twice. Errors are typed: a call whose outcome we do not know is
//! [`PaymentError::Unknown`], never assumed to have succeeded.

pub mod certs;
pub mod events;
pub mod providers;
pub mod webhooks;

use async_trait::async_trait;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Error, Money, OrderId, RefundId};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// A payment setting as configured: trimmed; empty or `-` means unset ("-" is how a deployment
/// says "not used" where a value must exist, e.g. a Secrets Manager key resolved into the
/// template). Every payment setting is read through this.
pub fn setting(raw: Option<String>) -> Option<String> {
    raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v != "-")
}

/// [`setting`] of the environment variable `name`.
pub fn env_setting(name: &str) -> Option<String> {
    setting(std::env::var(name).ok())
}

/// What a client needs to pay: the provider's reference and, per provider, a client secret
/// (Stripe) or a page to send the customer to (PayPal).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentIntent {
    pub provider: PaymentProvider,
    pub reference: String,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The result of capturing an approved payment (PayPal).
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    /// The provider's id of the captured money (PayPal capture id).
    pub payment_id: String,
    pub amount: Money,
    /// `true` once the money is collected; `false` while the provider still holds it pending
    /// (its webhook will tell).
    pub completed: bool,
}

/// What a provider's API says of money it collected (read back before a webhook about it is
/// believed, where the webhook's signature does not cover its whole body).
#[derive(Clone, Debug, PartialEq)]
pub struct Collected {
    pub payment_id: String,
    /// `true` once the money is collected (PayPal `COMPLETED`); `false` while it is pending or
    /// after it was declined.
    pub completed: bool,
    pub amount: Money,
    /// Our order id as we attached it (PayPal `custom_id`).
    pub order_id: Option<OrderId>,
}

/// A refund to ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct RefundRequest {
    pub provider: PaymentProvider,
    pub order_id: OrderId,
    /// Our id of this refund: the idempotency key sent to the provider derives from it, and it
    /// is attached to the refund (metadata / notes / custom id) so its webhook names it.
    pub refund_id: RefundId,
    /// What to refund: Stripe PaymentIntent id, Razorpay payment id (`pay_…`), PayPal capture id.
    pub payment_id: String,
    pub amount: Money,
}

/// The provider took the refund request; its webhook confirms when money has gone back.
#[derive(Clone, Debug, PartialEq)]
pub struct RefundAccepted {
    /// The provider's id of the refund (`re_…`, `rfnd_…`, PayPal refund id).
    pub provider_refund_id: String,
    /// `true` if the provider reports the refund as already completed.
    pub completed: bool,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused for good: a decline, a refund larger than what is left, a request
    /// it considers invalid. Retrying the same request will not help.
    #[error("the provider refused: {code}: {message}")]
    Declined { code: String, message: String },
    /// The provider did not take the request (5xx, 429, could not connect): nothing happened;
    /// retrying with the same idempotency key is safe.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// We do not know whether the provider acted (timed out, connection lost after sending,
    /// an answer we cannot read). Retry with the same idempotency key; never assume success.
    #[error("the provider's answer is unknown: {0}")]
    Unknown(String),
    /// Our credentials were refused, or the provider is not configured here.
    #[error("the provider is not configured: {0}")]
    NotConfigured(String),
}

impl From<PaymentError> for Error {
    fn from(e: PaymentError) -> Error {
        match e {
            PaymentError::Declined { code, message } => Error::conflict(
                cy_domain::ErrorCode::InvalidTransition,
                format!("The payment provider refused: {message}"),
            )
            .with_detail("provider_code", code),
            PaymentError::Unavailable(_) | PaymentError::Unknown(_) | PaymentError::NotConfigured(_) => {
                Error::unavailable(5)
            }
        }
    }
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Opens (or, for an order asked before, returns) the payment of `amount` for `order`.
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError>;

    /// Captures a payment the customer approved (PayPal Orders v2), `amount` being what the
    /// order expects. Idempotent per order. Providers that capture on their own (Stripe,
    /// Razorpay with auto-capture) have nothing to do here and answer `Ok(None)`.
    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
        amount: Money,
    ) -> Result<Option<Capture>, PaymentError>;

    /// Asks for a refund. Idempotent per `refund_id`: asking again returns the same refund.
    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError>;

    /// Reads back money a webhook says was collected (`payment_id`: a PayPal capture id). A
    /// PayPal delivery's signature binds its body only by CRC32, so before a capture marks an
    /// order paid, what PayPal's API says of it is what counts. Providers whose webhooks are
    /// signed over their whole body have nothing to read back and answer `Ok(None)`; an id the
    /// provider does not know is `Declined`.
    async fn collected(
        &self,
        _provider: PaymentProvider,
        _payment_id: &str,
    ) -> Result<Option<Collected>, PaymentError> {
        Ok(None)
    }

    /// Closes the payment of an order called off before its money came (`reference` as
    /// opened), so the provider refuses a late attempt instead of collecting it. Idempotent per
    /// order. Providers without such a call answer `Ok(())`: a Razorpay order cannot be closed,
    /// and an approved PayPal order is only collected when we capture it, which we never do for
    /// an order called off. A payment that arrives anyway is refunded.
    async fn close_payment(
        &self,
        _provider: PaymentProvider,
        _order: &OrderId,
        _reference: &str,
    ) -> Result<(), PaymentError> {
        Ok(())
    }
}

/// The local stand-in for all three providers: references are derived from the order id with
/// an HMAC, so they are stable across retries and restarts, and unguessable.
pub struct SimulatedPayments {
    secret: Vec<u8>,
    /// Where the simulated PayPal approval page would be (the local runtime's address).
    base_url: String,
    /// Told of every refund taken, so the local runtime can confirm it with a signed webhook
    /// as the real provider would.
    refunds: Option<tokio::sync::mpsc::UnboundedSender<(RefundRequest, RefundAccepted)>>,
    /// The simulated PayPal's own records: each capture it would make (by id) for the order and
    /// amount it was opened with, read back by [`PaymentGateway::collected`] as PayPal's API is.
    captures: std::sync::Mutex<std::collections::HashMap<String, (OrderId, Money)>>,
    /// Where those records are kept across restarts (a line each), when anywhere.
    ledger: Option<std::path::PathBuf>,
}

impl SimulatedPayments {
    pub fn new(secret: &[u8], base_url: impl Into<String>) -> Self {
        SimulatedPayments {
            secret: secret.to_vec(),
            base_url: base_url.into(),
            refunds: None,
            captures: std::sync::Mutex::default(),
            ledger: None,
        }
    }

    /// Keeps the simulated PayPal's records in `path` (read now, appended to as payments are
    /// opened), so a capture opened before a restart is still known after it.
    pub fn with_ledger(mut self, path: std::path::PathBuf) -> std::io::Result<Self> {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(mut captures) = self.captures.lock()
        {
            for line in text.lines() {
                let parts: Vec<&str> = line.split('\t').collect();
                if let [capture, order, amount, currency] = parts[..]
                    && let (Ok(order), Ok(amount), Ok(currency)) =
                        (OrderId::parse(order), amount.parse::<i64>(), cy_domain::Currency::parse(currency))
                    && let Ok(money) = Money::new(amount, currency)
                {
                    captures.insert(capture.to_owned(), (order, money));
                }
            }
        }
        self.ledger = Some(path);
        Ok(self)
    }

    fn remember_capture(&self, order: &OrderId, amount: Money) {
        let capture = self.payment_id(PaymentProvider::Paypal, order);
        let Ok(mut captures) = self.captures.lock() else { return };
        if captures.insert(capture.clone(), (order.clone(), amount)).is_some() {
            return;
        }
        if let Some(path) = &self.ledger {
            use std::io::Write;
            let line = format!("{capture}\t{order}\t{}\t{}\n", amount.amount, amount.currency);
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = written {
                tracing::warn!(error = %e, "the simulated PayPal could not keep its record");
            }
        }
    }

    /// Reports each refund taken on `to` (the local runtime turns them into webhooks).
    pub fn reporting_refunds(
        mut self,
        to: tokio::sync::mpsc::UnboundedSender<(RefundRequest, RefundAccepted)>,
    ) -> Self {
        self.refunds = Some(to);
        self
    }

    fn digest(&self, what: &str, id: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{what}\n{id}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    /// The reference the simulator gives `order`'s payment with `provider`.
    pub fn reference(&self, provider: PaymentProvider, order: &OrderId) -> String {
        let id = self.digest("payment", order.as_str());
        match provider {
            PaymentProvider::Stripe => format!("pi_sim_{id}"),
            PaymentProvider::Razorpay => format!("order_sim{id}"),
            PaymentProvider::Paypal => format!("SIM{}", id.to_uppercase()),
        }
    }

    /// The id of the collected money: Stripe's is the PaymentIntent itself; Razorpay's a
    /// payment id; PayPal's a capture id.
    pub fn payment_id(&self, provider: PaymentProvider, order: &OrderId) -> String {
        let id = self.digest("collected", order.as_str());
        match provider {
            PaymentProvider::Stripe => self.reference(provider, order),
            PaymentProvider::Razorpay => format!("pay_sim{id}"),
            PaymentProvider::Paypal => format!("CAP{}", id.to_uppercase()),
        }
    }
}

#[async_trait]
impl PaymentGateway for SimulatedPayments {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: Money,
    ) -> Result<PaymentIntent, PaymentError> {
        let reference = self.reference(provider, order);
        Ok(match provider {
            PaymentProvider::Stripe => PaymentIntent {
                provider,
                client_secret: Some(format!("{reference}_secret_{}", self.digest("secret", order.as_str()))),
                reference,
                amount,
                redirect_url: None,
            },
            PaymentProvider::Razorpay => {
                PaymentIntent { provider, reference, amount, client_secret: None, redirect_url: None }
            }
            PaymentProvider::Paypal => {
                self.remember_capture(order, amount);
                let redirect_url = Some(format!("{}/dev/paypal/approve?token={reference}", self.base_url));
                PaymentIntent { provider, reference, amount, client_secret: None, redirect_url }
            }
        })
    }

    /// The simulated PayPal knows the captures of the payments it opened (completed: a
    /// simulated customer always pays), and no other.
    async fn collected(&self, provider: PaymentProvider, payment_id: &str) -> Result<Option<Collected>, PaymentError> {
        if provider != PaymentProvider::Paypal {
            return Ok(None);
        }
        let known = self.captures.lock().ok().and_then(|c| c.get(payment_id).cloned());
        match known {
            Some((order, amount)) => Ok(Some(Collected {
                payment_id: payment_id.to_owned(),
                completed: true,
                amount,
                order_id: Some(order),
            })),
            None => Err(PaymentError::Declined {
                code: "RESOURCE_NOT_FOUND".to_owned(),
                message: format!("the simulated PayPal has no capture {payment_id}"),
            }),
        }
    }

    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        _reference: &str,
        amount: Money,
    ) -> Result<Option<Capture>, PaymentError> {
        // Only PayPal captures on request; the simulator reports the capture as pending, and
        // its PAYMENT.CAPTURE.COMPLETED webhook (send-webhook) completes it.
        Ok((provider == PaymentProvider::Paypal).then(|| Capture {
            payment_id: self.payment_id(provider, order),
            amount,
            completed: false,
        }))
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PaymentError> {
        let id = self.digest("refund", request.refund_id.as_str());
        let provider_refund_id = match request.provider {
            PaymentProvider::Stripe => format!("re_sim_{id}"),
            PaymentProvider::Razorpay => format!("rfnd_sim{id}"),
            PaymentProvider::Paypal => format!("REF{}", id.to_uppercase()),
        };
        let accepted = RefundAccepted { provider_refund_id, completed: false };
        if let Some(to) = &self.refunds {
            // The local runtime may have stopped listening; the refund stands either way.
            let _ = to.send((request.clone(), accepted.clone()));
        }
        Ok(accepted)
    }
}
