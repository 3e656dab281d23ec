//! Who makes a change: the parties of the marketplace and the system itself. Lifecycle tables
//! (orders, fulfilments) and records (refunds, timelines) name their actor with this.

use serde::{Deserialize, Serialize};

/// Who makes a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Customer,
    Seller,
    Admin,
    /// Scheduled jobs (reservation expiry) and payment webhooks.
    System,
}
