//! The CustomiseYou domain: the types every other crate speaks, the rules they obey, and the one
//! error type that maps onto the public contract's error shape. No I/O, no AWS, no HTTP.
//!
//! Values are parsed at the edge into newtypes that cannot hold a bad value ("parse, don't
//! validate"): once a handler holds an [`Email`] or a [`Money`], nothing downstream re-checks it.

pub mod account;
pub mod actor;
pub mod catalog;
pub mod chat;
pub mod earnings;
pub mod error;
pub mod geo;
pub mod ids;
pub mod link;
pub mod money;
pub mod notification;
pub mod order;
pub mod payment;
pub mod product;
pub mod schema;
pub mod seller;
pub mod settlement;
pub mod text;
pub mod time;
pub mod uploads;

pub use account::{Address, AddressDraft, AddressPatch, Email, Password, Phone, Role, SignupRole, User};
pub use error::{Error, ErrorCode, FieldErrors};
pub use geo::CountryCode;
pub use ids::{
    AddressId, AuditId, ChoiceId, ConversationId, DeviceId, EventId, FlagId, MessageId, OptionId, OrderId, PayoutId,
    ProductId, RefundId, SessionId, UserId,
};
pub use money::{Currency, Money};
pub use text::{BoundedText, PersonName};
pub use time::Timestamp;
