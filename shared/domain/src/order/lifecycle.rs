//! The order lifecycle: the statuses of the contract and the only moves between them, with who
//! may make each. Every status change anywhere goes through [`check_move`].

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::{Error, ErrorCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    PaymentFailed,
    Refunded,
    ReturnRequested,
    Returned,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 11] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::PaymentFailed,
        OrderStatus::Refunded,
        OrderStatus::ReturnRequested,
        OrderStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::ReturnRequested => "return_requested",
            OrderStatus::Returned => "returned",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| Error::bad_request("is not an order status"))
    }

    /// Statuses in which the goods are still the order's: reserved, paid for, on their way or
    /// with the customer. A payment that failed keeps its stock until the reservation ends (the
    /// buyer may retry with the provider).
    pub fn holds_stock(self) -> bool {
        !matches!(self, OrderStatus::Cancelled | OrderStatus::Returned | OrderStatus::Refunded)
    }

    /// Statuses an order or a fulfilment never leaves except to record money going back.
    pub fn is_ended(self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Returned | OrderStatus::Refunded)
    }

    /// Not yet paid: the reservation holds the stock.
    pub fn is_unpaid(self) -> bool {
        matches!(self, OrderStatus::PendingPayment | OrderStatus::PaymentFailed)
    }

    /// How far along the way to the customer a live (not ended) status is: the order's status is
    /// its least advanced fulfilment's. A return request sits between delivery and completion.
    pub fn progress(self) -> u8 {
        match self {
            OrderStatus::PendingPayment | OrderStatus::PaymentFailed => 0,
            OrderStatus::Paid => 1,
            OrderStatus::Processing => 2,
            OrderStatus::Shipped => 3,
            OrderStatus::Delivered => 4,
            OrderStatus::ReturnRequested => 5,
            OrderStatus::Completed => 6,
            OrderStatus::Returned | OrderStatus::Refunded | OrderStatus::Cancelled => 7,
        }
    }
}

use Actor::{Admin, Customer, Seller, System};
use OrderStatus::*;

/// Every allowed move and who may make it. Anything not here is 409 `invalid_transition`.
pub const MOVES: &[(OrderStatus, OrderStatus, &[Actor])] = &[
    (PendingPayment, Paid, &[System]),
    (PendingPayment, PaymentFailed, &[System]),
    // The customer changes their mind, or the reservation expires unpaid.
    (PendingPayment, Cancelled, &[Customer, Admin, System]),
    (Paid, Processing, &[Seller, Admin]),
    // Before processing starts, a paid order can still be called off (and refunded); a seller
    // who cannot make their part calls it off until it ships (the customer gets that part back).
    (Paid, Cancelled, &[Customer, Seller, Admin]),
    (Paid, Refunded, &[System, Admin]),
    (Processing, Shipped, &[Seller, Admin]),
    (Processing, Cancelled, &[Seller, Admin]),
    (Processing, Refunded, &[System, Admin]),
    (Shipped, Delivered, &[Seller, Admin, System]),
    (Shipped, Refunded, &[System, Admin]),
    (Delivered, Completed, &[Admin, System]),
    (Delivered, ReturnRequested, &[Customer]),
    (Delivered, Refunded, &[System, Admin]),
    (ReturnRequested, Returned, &[Seller, Admin]),
    (ReturnRequested, Refunded, &[System]),
    (ReturnRequested, Delivered, &[Seller, Admin]),
    (Returned, Refunded, &[System, Admin]),
    // A payment that fails can be retried by the provider and then succeed.
    (PaymentFailed, Paid, &[System]),
    (PaymentFailed, Cancelled, &[Customer, Admin, System]),
    // Payment facts arriving late or out of order: a refund confirmed before the capture was
    // seen, or the refund of a payment that came after its order had been called off.
    (PendingPayment, Refunded, &[System]),
    (PaymentFailed, Refunded, &[System]),
    (Cancelled, Refunded, &[System]),
];

/// Who may move an order from `from` to `to`, if anyone.
pub fn allowed(from: OrderStatus, to: OrderStatus) -> Option<&'static [Actor]> {
    MOVES.iter().find(|(f, t, _)| *f == from && *t == to).map(|(_, _, who)| *who)
}

/// Checks a move: 409 `invalid_transition` if the lifecycle has no such move, 403 `forbidden`
/// if it has but not for this actor.
pub fn check_move(from: OrderStatus, to: OrderStatus, actor: Actor) -> Result<(), Error> {
    match allowed(from, to) {
        None => Err(Error::conflict(
            ErrorCode::InvalidTransition,
            format!("An order cannot go from {} to {}.", from.as_str(), to.as_str()),
        )
        .with_detail("from", from.as_str())
        .with_detail("to", to.as_str())),
        Some(who) if who.contains(&actor) => Ok(()),
        Some(_) => {
            Err(Error::forbidden(format!("You may not move an order from {} to {}.", from.as_str(), to.as_str())))
        }
    }
}

/// Whether the move gives the goods back to stock: the order (or a seller's part) is called off
/// before it shipped, refunded before it shipped, or returned.
pub fn releases_stock(from: OrderStatus, to: OrderStatus) -> bool {
    from.holds_stock()
        && match to {
            Cancelled | Returned => true,
            Refunded => matches!(from, PendingPayment | PaymentFailed | Paid | Processing),
            _ => false,
        }
}

/// How long an unpaid order holds its stock (contract: 15 minutes).
pub const RESERVATION_SECS: i64 = 15 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_either_a_listed_move_or_invalid() {
        let mut listed = 0;
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let in_table = MOVES.iter().any(|(f, t, _)| *f == from && *t == to);
                for actor in [Customer, Seller, Admin, System] {
                    let result = check_move(from, to, actor);
                    match (in_table, result) {
                        (false, Err(e)) => assert_eq!(e.code, ErrorCode::InvalidTransition, "{from:?}->{to:?}"),
                        (true, Ok(())) => assert!(allowed(from, to).unwrap().contains(&actor)),
                        (true, Err(e)) => assert_eq!(e.code, ErrorCode::Forbidden, "{from:?}->{to:?} by {actor:?}"),
                        (false, Ok(())) => panic!("{from:?}->{to:?} is not in the table but was allowed"),
                    }
                }
                listed += usize::from(in_table);
            }
        }
        assert_eq!(listed, MOVES.len(), "no move is listed twice");
    }

    #[test]
    fn the_contracts_happy_path_is_allowed_and_nothing_leaves_completed() {
        let path = [
            (PendingPayment, Paid, System),
            (Paid, Processing, Seller),
            (Processing, Shipped, Seller),
            (Shipped, Delivered, Seller),
            (Delivered, Completed, System),
        ];
        for (from, to, actor) in path {
            assert!(check_move(from, to, actor).is_ok(), "{from:?}->{to:?}");
        }
        for to in OrderStatus::ALL {
            assert!(allowed(Completed, to).is_none());
            // A cancelled order only records that a payment which came too late went back.
            if to != Refunded {
                assert!(allowed(Cancelled, to).is_none());
            }
        }
        assert_eq!(allowed(Cancelled, Refunded), Some(&[System][..]));
        assert!(check_move(Processing, Cancelled, Customer).is_err(), "customers cancel only before processing");
        assert!(check_move(Shipped, Cancelled, Seller).is_err(), "nobody calls off what has shipped");
    }

    #[test]
    fn stock_is_released_only_by_moves_that_end_the_order_unshipped_or_bring_the_goods_back() {
        assert!(releases_stock(PendingPayment, Cancelled));
        assert!(!releases_stock(PendingPayment, PaymentFailed), "a failed payment keeps its reservation");
        assert!(releases_stock(PaymentFailed, Cancelled), "released when the reservation ends");
        assert!(releases_stock(Paid, Cancelled) && releases_stock(Processing, Cancelled));
        assert!(!releases_stock(PendingPayment, Paid) && !releases_stock(PaymentFailed, Paid));
        assert!(releases_stock(Paid, Refunded) && releases_stock(Processing, Refunded));
        assert!(!releases_stock(Shipped, Refunded), "shipped goods are not back on the shelf");
        assert!(releases_stock(ReturnRequested, Returned), "returned goods are");
        assert!(!releases_stock(Returned, Refunded) && !releases_stock(Cancelled, Refunded));
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(s.is_ended(), !s.holds_stock());
        }
    }
}
