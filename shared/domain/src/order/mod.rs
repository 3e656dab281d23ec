//! Orders: one checkout, lines from one or more sellers, priced once and paid once, shipped by
//! each seller as their own part. The lifecycle (statuses and the moves between them) is
//! [`lifecycle`]; a seller's part and how the order follows the parts, [`fulfilment`].

pub mod fulfilment;
pub mod lifecycle;

use serde::{Deserialize, Serialize};

pub use crate::actor::Actor;
pub use fulfilment::{DEFAULT_RETURN_WINDOW_SECS, Fulfilment, FulfilmentRules};
pub use lifecycle::{MOVES, OrderStatus, RESERVATION_SECS, allowed, check_move, releases_stock};

use crate::link::HttpsUrl;
use crate::payment::PaymentProvider;
use crate::text::BoundedText;
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
    /// The product's category when quoted (what a category's commission rate applies to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub category_id: Option<crate::product::CategoryId>,
    /// The commission rate frozen when the order was paid; `None` until then (and on orders
    /// paid before commissions existed: they earn no commission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>)]
    pub commission_bps: Option<crate::seller::Bps>,
}

/// Where a shipped part is: the carrier, its tracking number and, optionally, the carrier's
/// tracking page (https only: it is shown to customers as a link).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tracking {
    pub carrier: BoundedText<1, 100>,
    pub number: BoundedText<1, 100>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<HttpsUrl>,
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
    /// One per seller, in the order of their first line.
    #[serde(default)]
    pub fulfilments: Vec<Fulfilment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    /// The coupon the order was priced with (its redemptions are counted while it stands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// The money side: the provider's reference once the payment is opened, what was
    /// collected and refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payment::Payment>,
    /// When an unpaid order gives its stock back.
    pub reserved_until: Timestamp,
    /// Whether this order holds one of its customer's unpaid-order slots (raised when it was
    /// placed, given back when it is paid or called off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holds_unpaid_slot: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Order {
    /// Fills in what orders stored before fulfilments lack: one part per seller at the order's
    /// status (all shipping on the first seller's part: per-seller shipping was not kept then),
    /// a delivered part's return window counted from the order's last change.
    pub fn upgrade_stored(&mut self) {
        if self.fulfilments.is_empty() && !self.lines.is_empty() {
            let first = self.lines[0].seller_id.clone();
            let shipping = std::collections::BTreeMap::from([(first, self.shipping)]);
            if let Ok(mut parts) = fulfilment::split(&self.lines, &shipping, self.status, self.updated_at) {
                if matches!(self.status, OrderStatus::Delivered | OrderStatus::ReturnRequested) {
                    for part in &mut parts {
                        part.delivered_at = Some(self.updated_at);
                        part.returnable_until = Some(self.updated_at.plus_secs(DEFAULT_RETURN_WINDOW_SECS));
                    }
                }
                self.fulfilments = parts;
            }
        }
    }

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

/// One entry of an order's timeline: every status change, who made it, why. An order-wide
/// change (the payment, a cancellation of the whole order) names no seller; a seller's part's
/// move names its `seller_id`, and `from`/`to` are that part's statuses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<UserId>,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
