//! Orders: one checkout, lines from one or more sellers, priced once. The lifecycle (statuses
//! and the moves between them) is [`lifecycle`].

pub mod lifecycle;

use serde::{Deserialize, Serialize};

pub use crate::actor::Actor;
pub use lifecycle::{MOVES, OrderStatus, RESERVATION_SECS, allowed, check_move, releases_stock, retakes_stock};

use crate::payment::PaymentProvider;
use crate::{Address, Money, OrderId, ProductId, Timestamp, UserId};

/// One line of an order: what was bought from whom, at the price it was sold for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub seller_id: UserId,
    pub title: String,
    pub quantity: u32,
    pub customizations: serde_json::Value,
    pub unit_price: Money,
    pub customization_total: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tracking {
    pub carrier: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An order as stored: one checkout, lines from one or more sellers, priced once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: UserId,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
    /// The delivery address as it was when the order was placed.
    pub address: Address,
    pub payment_provider: PaymentProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
    /// The money side: the provider's reference once the payment is opened, what was
    /// collected and refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payment::Payment>,
    /// When an unpaid order gives its stock back.
    pub reserved_until: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Order {
    /// The sellers with lines in this order.
    pub fn sellers(&self) -> Vec<UserId> {
        let mut sellers: Vec<UserId> = self.lines.iter().map(|l| l.seller_id.clone()).collect();
        sellers.sort();
        sellers.dedup();
        sellers
    }

    /// Units per product (a product may appear on several lines with different customisations).
    pub fn units_by_product(&self) -> Vec<(ProductId, i64)> {
        let mut units: Vec<(ProductId, i64)> = Vec::new();
        for line in &self.lines {
            match units.iter_mut().find(|(p, _)| *p == line.product_id) {
                Some((_, n)) => *n += i64::from(line.quantity),
                None => units.push((line.product_id.clone(), i64::from(line.quantity))),
            }
        }
        units
    }
}

/// One entry of an order's timeline: every status change, who made it, why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<UserId>,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
