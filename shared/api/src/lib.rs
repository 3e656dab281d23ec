//! The services behind the HTTP functions, each exposed as an axum router. A Lambda's
//! `main.rs` builds one router and runs it; the local runtime mounts them all on one port.

pub mod accounts;
pub mod auth;
pub mod cart;
mod idempotency;
pub mod jobs;
pub mod openapi;
pub mod orders;
pub mod passwords;
pub mod payments;
pub mod products;
pub mod quote;
pub mod quote_token;
pub mod relay;
pub mod sealed;
pub mod users;

pub use accounts::Accounts;
