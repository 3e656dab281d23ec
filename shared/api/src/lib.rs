//! The services behind the HTTP functions, each exposed as an axum router. A Lambda's
//! `main.rs` builds one router and runs it; the local runtime mounts them all on one port.

pub mod accounts;
pub mod catalog;
pub mod chat;
mod idempotency;
pub mod jobs;
pub mod notifications;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod pricing;
pub mod realtime;
pub mod relay;
pub mod sealed;
pub mod sellers;

pub use accounts::Accounts;
