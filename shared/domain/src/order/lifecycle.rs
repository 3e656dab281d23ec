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

    /// Statuses in which the order holds reserved stock that a cancellation must give back.
    pub fn holds_stock(self) -> bool {
        !matches!(
            self,
            OrderStatus::Cancelled | OrderStatus::PaymentFailed | OrderStatus::Returned | OrderStatus::Refunded
        )
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
    // Before processing starts, a paid order can still be called off (and refunded).
    (Paid, Cancelled, &[Customer, Admin]),
    (Paid, Refunded, &[System, Admin]),
    (Processing, Shipped, &[Seller, Admin]),
    (Processing, Cancelled, &[Admin]),
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

/// Whether the move gives reserved stock back (the order will never ship): it is called off,
/// its payment failed, or it is refunded before anything was shipped.
pub fn releases_stock(from: OrderStatus, to: OrderStatus) -> bool {
    from.holds_stock()
        && (matches!(to, Cancelled | PaymentFailed)
            || (to == Refunded && matches!(from, PendingPayment | Paid | Processing)))
}

/// Whether the move must take the stock again (a payment that failed, then succeeded): the
/// units were given back when it failed and may have been sold since.
pub fn retakes_stock(from: OrderStatus, to: OrderStatus) -> bool {
    !from.holds_stock() && to.holds_stock()
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
    }

    #[test]
    fn stock_is_released_only_by_moves_that_end_the_order_unshipped() {
        assert!(releases_stock(PendingPayment, Cancelled));
        assert!(releases_stock(PendingPayment, PaymentFailed));
        assert!(releases_stock(Paid, Cancelled));
        assert!(!releases_stock(PaymentFailed, Cancelled), "already released when the payment failed");
        assert!(!releases_stock(PendingPayment, Paid));
        assert!(releases_stock(Paid, Refunded) && releases_stock(Processing, Refunded));
        assert!(!releases_stock(Shipped, Refunded), "shipped goods are not back on the shelf");
        assert!(!releases_stock(Cancelled, Refunded) && !retakes_stock(Cancelled, Refunded));
        assert!(retakes_stock(PaymentFailed, Paid));
        assert!(!retakes_stock(PendingPayment, Paid));
        for (from, to, _) in MOVES {
            assert!(!(releases_stock(*from, *to) && retakes_stock(*from, *to)));
        }
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
