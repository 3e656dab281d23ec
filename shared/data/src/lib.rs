//! Storage for CustomiseYou: a DynamoDB single-table design behind a small port.
//!
//! - [`port`]: what a store can do (get, query with cursor paging, conditional and transactional
//!   writes) as traits split by what callers need, with the semantics both adapters honour;
//! - [`keys`]: every key and index pattern, built by typed functions (handlers never write a
//!   key string themselves);
//! - [`accounts`], [`audit`]: the records of one area and the multi-item writes that keep them
//!   consistent;
//! - [`idempotency`]: `Idempotency-Key` claims, written in the transaction of what they create;
//! - [`contract`]: the one suite of behaviour cases every adapter must pass.
//!
//! The adapters live in their own crates (`cy-store-dynamodb`, `cy-store-embedded`), so a
//! Lambda links the DynamoDB one only and the local runtime the embedded one only.

pub mod accounts;
pub mod audit;
pub mod cart;
pub mod catalog;
pub mod chat;
pub mod connections;
pub mod contract;
pub mod dev_outbox;
pub mod idempotency;
pub mod keys;
pub mod ledger;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod port;
pub mod sellers;

pub use port::{
    Condition, Cursor, Index, Item, Key, Page, Query, QueryItems, ReadItems, SortKey, Store, StoreError, Update,
    WriteItems, WriteOp,
};
