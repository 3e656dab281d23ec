//! Who sees what of an order: its customer and admins all of it; a seller their own part only —
//! their lines, their fulfilment, their part of the totals — never another seller's lines,
//! money or progress, and not the payment (it covers the other sellers' parts too).

use cy_data::orders as records;
use cy_domain::order::{Order, TimelineEntry};
use cy_domain::{Error, OrderId, Role};
use cy_http::Caller;

use super::Orders;

/// Whether the caller reads the order as one of its sellers (not its customer, not an admin).
pub(crate) fn as_seller(order: &Order, caller: &Caller) -> bool {
    caller.role != Role::Admin && order.customer_id != caller.user_id
}

/// What `caller` may see of `order`. A seller's view holds their lines only (a part's
/// `line_indexes` point into the view's `lines`), their one fulfilment, their part's status
/// and figures as the order's, and no payment.
pub(crate) fn view_for(order: Order, caller: &Caller) -> Result<Order, Error> {
    if !as_seller(&order, caller) {
        return Ok(order);
    }
    let part = order.fulfilment(&caller.user_id).cloned().ok_or_else(|| Error::not_found("The order"))?;
    let mut view = order;
    view.lines = part.line_indexes.iter().filter_map(|i| view.lines.get(*i)).cloned().collect();
    let mut part = part;
    part.line_indexes = (0..view.lines.len()).collect();
    view.status = part.status;
    // When the order last changed may be another seller's move: a seller sees their part's.
    view.updated_at = part.updated_at;
    view.subtotal = part.subtotal;
    view.discount = part.discount;
    view.shipping = part.shipping;
    view.tax = part.tax;
    view.total = part.total;
    view.fulfilments = vec![part];
    view.payment = None;
    view.coupon = None;
    view.quote_id = None;
    view.holds_unpaid_slot = false;
    Ok(view)
}

/// A timeline entry as `caller` may see it: a seller reads order-wide entries without their
/// notes (they speak of the whole order's money), and their own part's entries whole.
pub(crate) fn entry_for(mut entry: TimelineEntry, seller_view: bool) -> TimelineEntry {
    if seller_view && entry.seller_id.is_none() {
        entry.note = None;
    }
    entry
}

impl Orders {
    /// Loads an order for a reader: 404 for anyone who may not see it (not even its existence).
    pub(crate) async fn readable(&self, caller: &Caller, id: &str) -> Result<Order, Error> {
        let id = OrderId::parse(id)?;
        let order = records::get_order(self.store.as_ref(), &id).await?.ok_or_else(|| Error::not_found("The order"))?;
        if records::may_read(&order, &caller.user_id, caller.role == Role::Admin) {
            Ok(order)
        } else {
            Err(Error::not_found("The order"))
        }
    }
}
