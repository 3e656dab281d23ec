//! Accounts: sign-up, sign-in, tokens and sessions ([`auth`], function `auth`), the profile and
//! address book ([`users`], function `users`); the rules live in [`service`].

pub mod auth;
mod passwords;
pub mod service;
pub mod users;

pub use service::{Accounts, Registration};
