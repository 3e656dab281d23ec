//! Orders (function `orders`): placing an order from a signed quote or from items priced now
//! ([`place`]), reading it as its customer, its sellers or an admin ([`views`]), and moving it
//! — each seller their own part, the customer the whole order or a return ([`changes`]). The
//! HTTP side is [`routes`]; the cart is [`cart`]. Placing never oversells and never creates
//! two orders for one checkout: stock, the order and its idempotency claim commit in one
//! transaction.

pub mod cart;
mod changes;
mod place;
mod routes;
mod views;

use std::sync::Arc;

use cy_data::Store;
use cy_domain::order::{DEFAULT_RETURN_WINDOW_SECS, FulfilmentRules};
use cy_http::JwtKeys;
use cy_payments::PaymentGateway;

pub use place::{PlaceBody, Placed};
pub use routes::{Api, router, routes, with_cart};

use crate::payments::Payments;
use crate::pricing::Quoting;
use crate::sealed::DataKey;

#[derive(Clone)]
pub struct Orders {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub quoting: Quoting,
    pub payments: Arc<dyn PaymentGateway>,
    /// Seals the first answers kept for replays (a Stripe answer holds the client secret).
    pub data_key: Arc<DataKey>,
    pub rules: OrderRules,
}

impl axum::extract::FromRef<Orders> for Arc<JwtKeys> {
    fn from_ref(o: &Orders) -> Arc<JwtKeys> {
        o.keys.clone()
    }
}

/// What the marketplace promises and allows around orders (configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRules {
    pub fulfilment: FulfilmentRules,
    /// How many unpaid orders one customer may hold at once: nobody hoards stock by opening
    /// orders they never pay.
    pub max_unpaid_orders: u32,
}

/// The default of `MAX_UNPAID_ORDERS`.
pub const DEFAULT_MAX_UNPAID_ORDERS: u32 = 5;

impl Default for OrderRules {
    fn default() -> Self {
        OrderRules { fulfilment: FulfilmentRules::default(), max_unpaid_orders: DEFAULT_MAX_UNPAID_ORDERS }
    }
}

impl OrderRules {
    /// `RETURN_WINDOW_SECS` (default 604 800, 7 days) and `MAX_UNPAID_ORDERS` (default 5).
    pub fn from_env() -> Result<Self, String> {
        let number = |name: &str, default: i64, min: i64| -> Result<i64, String> {
            match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(raw) => match raw.trim().parse::<i64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(format!("{name} must be a whole number of at least {min}")),
                },
            }
        };
        let return_window_secs = number("RETURN_WINDOW_SECS", DEFAULT_RETURN_WINDOW_SECS, 0)?;
        let max_unpaid = number("MAX_UNPAID_ORDERS", i64::from(DEFAULT_MAX_UNPAID_ORDERS), 1)?;
        Ok(OrderRules {
            fulfilment: FulfilmentRules { return_window_secs },
            max_unpaid_orders: u32::try_from(max_unpaid).map_err(|_| "MAX_UNPAID_ORDERS is too large".to_owned())?,
        })
    }
}

impl Orders {
    pub(crate) fn money(&self) -> Payments {
        Payments { store: self.store.clone(), gateway: self.payments.clone() }
    }
}
