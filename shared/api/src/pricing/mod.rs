//! Pricing (function `quote`): quotes, coupons, sellers' shipping and tax settings
//! ([`quotes`]), and the signed quote an order is charged from ([`token`]).

pub mod quotes;
pub mod token;

pub use quotes::{Api, QuoteBody, QuoteItem, Quoting, router, routes};
pub use token::{QuoteSigner, SignedQuote};
