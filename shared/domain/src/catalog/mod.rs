//! The catalog's pure rules: customisation options ([`options`]), the price of one customised
//! unit ([`pricing`]), a whole quote ([`quote`]) and the integer rounding they share
//! ([`rounding`]). No I/O: callers load products, coupons and rules and pass them in.
//!
//! Money is integer minor units throughout; every percentage is in basis points and rounded
//! half to even (banker's rounding) at a documented point: percent modifiers per unit, a
//! percent coupon once on the subtotal, tax once per line.

pub mod categories;
pub mod options;
pub mod pricing;
pub mod quote;
pub mod rounding;

#[cfg(test)]
mod proptests;

pub use options::{
    Choice, ChoiceDraft, ChoiceLabel, ChoiceSpec, MaxLength, MinorUnits, ModifierBps, NumberSpec, OptionDraft,
    OptionKind, OptionKindName, OptionName, PriceModifier, PriceModifierDraft, ProductOption, TextAllowed, TextSpec,
    parse_options,
};
pub use pricing::{CustomizationValue, UnitPrice, price_unit};
pub use quote::{
    Coupon, CouponValue, Quantity, QuoteInput, QuoteLine, QuoteLineInput, QuoteTotals, ShippingRule, TaxRule,
    applicable_tax_bps, compute_quote,
};
pub use rounding::{allocate, mul_bps_half_even};
