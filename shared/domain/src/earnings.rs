//! What sellers earn: for each fulfilment, its lines' totals less the discount allocated to
//! them, plus its shipping, less commission (the line's rate frozen when the order was paid,
//! times the line's net of discount, rounded half to even); refunds take back what they refund
//! of it. Tax stays with the platform. Integer arithmetic in minor units throughout.

use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::order::{Fulfilment, Order, OrderLine};
use crate::payment::{Refund, RefundState};
use crate::seller::{CommissionRates, commission_of};
use crate::settlement::share_half_even;

/// A fulfilment's earnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartEarnings {
    /// Lines net of discount, plus shipping.
    pub gross: i64,
    pub commission: i64,
    /// `gross − commission`: what the seller is owed for it.
    pub net: i64,
}

/// What one refund took back from one seller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SellerDebit {
    pub seller_id: UserId,
    /// Taken from the seller's earnings (their share of what was refunded, net of commission).
    pub net: i64,
    /// The commission on it, which the platform gives back with it.
    pub commission: i64,
}

fn line_net(line: &OrderLine) -> i64 {
    line.line_total.amount - line.discount.amount
}

fn line_commission(line: &OrderLine) -> i64 {
    line.commission_bps.map_or(0, |bps| commission_of(line_net(line), bps))
}

/// Whether the order's earnings were recorded (its rates are frozen: it was paid).
pub fn has_earnings(order: &Order) -> bool {
    order.lines.iter().any(|l| l.commission_bps.is_some())
}

/// Freezes each line's commission rate (when the order is paid): the seller's rate, else their
/// category's, else the platform's.
pub fn freeze_rates(order: &mut Order, rates: &CommissionRates) {
    let unknown = crate::product::CategoryId::parse("uncategorised").ok();
    for line in &mut order.lines {
        let category = line.category_id.clone().or_else(|| unknown.clone());
        line.commission_bps = Some(match category {
            Some(c) => rates.rate(&line.seller_id, &c),
            None => rates.sellers.get(&line.seller_id).copied().unwrap_or(rates.platform_bps),
        });
    }
}

/// A fulfilment's earnings (zero commission on lines with no frozen rate).
pub fn part_earnings(order: &Order, part: &Fulfilment) -> PartEarnings {
    let lines = part.line_indexes.iter().filter_map(|i| order.lines.get(*i));
    let (net_lines, commission) = lines.fold((0i64, 0i64), |(n, c), l| (n + line_net(l), c + line_commission(l)));
    let gross = net_lines + part.shipping.amount;
    PartEarnings { gross, commission, net: gross - commission }
}

/// What `refund` (one of `order`'s) takes back from each seller: for each refunded line, the
/// difference between the earned share of all units refunded through this refund and of those
/// refunded before it (earlier refunds not failed), so a line's refunds add up to exactly what
/// it earned; a part's shipping when the refund includes it. A refund with neither lines nor
/// shipping (the whole order) takes everything not taken yet. Nothing on an order whose
/// earnings were never recorded.
pub fn refund_debits(order: &Order, refund: &Refund) -> Vec<SellerDebit> {
    if !has_earnings(order) {
        return Vec::new();
    }
    let earlier: Vec<&Refund> = order
        .payment
        .iter()
        .flat_map(|p| p.refunds.iter())
        .take_while(|r| r.id != refund.id)
        .filter(|r| r.state != RefundState::Failed)
        .collect();
    let units_before = |index: usize| -> u32 {
        earlier.iter().flat_map(|r| r.lines.iter()).filter(|l| l.line == index).map(|l| l.quantity).sum()
    };
    let shipping_taken =
        |seller: &UserId| earlier.iter().any(|r| r.shipping_of.as_ref() == Some(seller) || r.is_whole());
    let mut debits: Vec<SellerDebit> = Vec::new();
    let mut add = |seller: &UserId, net: i64, commission: i64| {
        if net == 0 && commission == 0 {
            return;
        }
        match debits.iter_mut().find(|d| &d.seller_id == seller) {
            Some(d) => {
                d.net += net;
                d.commission += commission;
            }
            None => debits.push(SellerDebit { seller_id: seller.clone(), net, commission }),
        }
    };
    let take_units = |index: usize, line: &OrderLine, units: u32| {
        let before = units_before(index);
        let after = (before + units).min(line.quantity);
        let commission = line_commission(line);
        let earned = line_net(line) - commission;
        let share = |n| share_half_even(earned, n, line.quantity);
        let commission_share = |n| share_half_even(commission, n, line.quantity);
        (share(after) - share(before), commission_share(after) - commission_share(before))
    };
    let mut taken: Vec<(UserId, i64, i64)> = Vec::new();
    if refund.is_whole() {
        for (index, line) in order.lines.iter().enumerate() {
            let (net, commission) = take_units(index, line, line.quantity);
            taken.push((line.seller_id.clone(), net, commission));
        }
        for part in &order.fulfilments {
            if !shipping_taken(&part.seller_id) {
                taken.push((part.seller_id.clone(), part.shipping.amount, 0));
            }
        }
    } else {
        for refunded in &refund.lines {
            let Some(line) = order.lines.get(refunded.line) else { continue };
            let (net, commission) = take_units(refunded.line, line, refunded.quantity);
            taken.push((line.seller_id.clone(), net, commission));
        }
        if let Some(seller) = &refund.shipping_of
            && !shipping_taken(seller)
            && let Some(part) = order.fulfilments.iter().find(|p| &p.seller_id == seller)
        {
            taken.push((seller.clone(), part.shipping.amount, 0));
        }
    }
    for (seller, net, commission) in taken {
        add(&seller, net, commission);
    }
    debits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Money;
    use crate::seller::Bps;

    fn inr(amount: i64) -> Money {
        Money { amount, currency: crate::Currency::parse("INR").unwrap() }
    }

    #[test]
    fn a_line_earns_its_net_of_discount_less_commission_rounded_half_to_even() {
        let line = OrderLine {
            product_id: crate::ProductId::generate(),
            seller_id: UserId::generate(),
            title: "Mug".into(),
            quantity: 3,
            customizations: serde_json::json!({}),
            unit_price: inr(1005),
            customization_total: inr(0),
            line_total: inr(3015),
            discount: inr(10),
            tax: inr(300),
            category_id: None,
            commission_bps: Some(Bps::new(1250).unwrap()),
        };
        // (3015 − 10) × 12.5 % = 375.625 → 376
        assert_eq!(line_commission(&line), 376);
        assert_eq!(line_net(&line) - line_commission(&line), 2629);
    }
}
