//! Opaque identifiers: a short type prefix and a ULID, so ids sort by creation time (the
//! contract asks for that) and an id of one kind can never be passed where another is expected.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use crate::Error;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, later-sorting than every id made before it on this clock.
            pub fn generate() -> Self {
                Self::from_ulid(Ulid::new())
            }

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}_{}", $prefix, ulid))
            }

            pub fn parse(raw: &str) -> Result<Self, Error> {
                match raw.strip_prefix(concat!($prefix, "_")) {
                    Some(rest) if Ulid::from_string(rest).is_ok() && rest.bytes().all(|b| !b.is_ascii_lowercase()) => {
                        Ok(Self(raw.to_owned()))
                    }
                    _ => Err(Error::not_found($what)),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(|_| serde::de::Error::custom(concat!("not a valid ", $what, " id")))
            }
        }
    };
}

prefixed_id!(
    /// A user account (customer, seller or admin).
    UserId, "usr", "The user"
);
prefixed_id!(
    /// One login: the family of refresh tokens that rotate from one sign-in.
    SessionId, "ses", "The session"
);
prefixed_id!(
    /// An entry of a user's address book.
    AddressId, "adr", "The address"
);
prefixed_id!(
    /// An audit record.
    AuditId, "aud", "The audit record"
);
prefixed_id!(
    /// A product of the catalog.
    ProductId, "prd", "The product"
);
prefixed_id!(
    /// A customisation option of one product.
    OptionId, "opt", "The option"
);
prefixed_id!(
    /// One choice of a choice option.
    ChoiceId, "chc", "The choice"
);

prefixed_id!(
    /// A buyer–seller conversation (one per customer, seller and subject).
    ConversationId, "cnv", "The conversation"
);
prefixed_id!(
    /// A chat message.
    MessageId, "msg", "The message"
);
prefixed_id!(
    /// A mobile push registration (a device's token for the push service).
    DeviceId, "dev", "The device"
);

prefixed_id!(
    /// A payout: one seller's earnings of one period, sent in one transfer.
    PayoutId, "pyt", "The payout"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_creation() {
        let a = UserId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = UserId::generate();
        assert!(a < b);
        assert_eq!(UserId::parse(a.as_str()).unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), a);
    }

    #[test]
    fn ids_of_another_kind_or_garbage_are_refused() {
        let address = AddressId::generate();
        assert!(UserId::parse(address.as_str()).is_err());
        assert!(UserId::parse("usr_").is_err());
        assert!(UserId::parse("usr_../../etc").is_err());
        assert!(UserId::parse(&address.as_str().to_lowercase()).is_err());
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
prefixed_id!(
    /// A customer's order (one checkout, lines from one or more sellers).
    OrderId, "ord", "The order"
);
prefixed_id!(
    /// An event of the transactional outbox.
    EventId, "evt", "The event"
);
prefixed_id!(
    /// A refund we asked a payment provider for; the provider's idempotency key derives from it.
    RefundId, "rfd", "The refund"
);
prefixed_id!(
    /// A payment event we could not apply (amount or currency mismatch, unknown payment), kept
    /// for admins to look at.
    FlagId, "flg", "The payment flag"
);
