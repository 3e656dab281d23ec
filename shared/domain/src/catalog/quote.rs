//! A price quote: lines, coupon, shipping and tax, computed from already priced units. Pure:
//! the caller looks up products, coupons, shipping and tax rules and passes them in.
//!
//! Rounding, precisely:
//! - percent price modifiers are rounded half to even per UNIT (in
//!   [`price_unit`](super::pricing::price_unit)), before the unit is multiplied by the quantity;
//! - a percent coupon is `subtotal × bps / 10_000` rounded half to even, once, on the subtotal;
//! - the discount is spread over the lines in proportion to their `line_total` by the
//!   largest-remainder method ([`allocate`]), so the line discounts sum exactly to the discount;
//! - tax is rounded half to even ONCE PER LINE, on `line_total − line discount`; the quote's tax is
//!   the sum of the rounded line taxes (never the rounding of a sum), so every line's tax can be
//!   shown and refunded on its own and the parts always add up to the whole.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::pricing::UnitPrice;
use super::rounding::{BPS_SCALE, allocate, mul_bps_half_even};
use crate::{CountryCode, Currency, Error, Money, ProductId, Timestamp, UserId};

/// At most this many lines in one quote.
pub const MAX_QUOTE_LINES: usize = 50;
/// At most this many units of one line.
pub const MAX_QUANTITY: u32 = 10_000;

const QUANTITY_PROBLEM: &str = "must be a whole number from 1 to 10000";

/// How many units of a line: 1 to [`MAX_QUANTITY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Fails with a 400 "must be a whole number from 1 to 10000".
    pub fn parse(n: i64) -> Result<Self, Error> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_QUANTITY).contains(&n) => Ok(Quantity(n)),
            _ => Err(Error::bad_request(QUANTITY_PROBLEM)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number from 1 to 10000")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Quantity, E> {
                Quantity::parse(n).map_err(|_| E::custom(QUANTITY_PROBLEM))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Quantity, E> {
                let n = i64::try_from(n).map_err(|_| E::custom(QUANTITY_PROBLEM))?;
                self.visit_i64(n)
            }
            // Anything else (a fraction, a string) is refused by serde's default with our
            // `expecting` sentence; no floating point is ever looked at.
        }
        d.deserialize_i64(Visitor)
    }
}

/// One line to quote: a product priced for one unit with its customisations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteLineInput {
    pub product_id: ProductId,
    pub seller_id: UserId,
    /// The product's category id, for tax rules.
    pub category: String,
    pub quantity: Quantity,
    pub unit: UnitPrice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CouponValue {
    /// Basis points of the subtotal; anything over 10 000 (100 %) takes the whole subtotal.
    Percent { bps: u32 },
    /// A fixed amount off, at most the subtotal.
    Fixed { amount: Money },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coupon {
    pub code: String,
    pub value: CouponValue,
    /// The subtotal (before discount) must be at least this.
    pub min_order: Option<Money>,
    /// The coupon is valid strictly before this instant.
    pub expires_at: Option<Timestamp>,
    /// How many orders may use it in all (`None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_redemptions: Option<u32>,
    /// How many orders of one customer may use it (`None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_customer_limit: Option<u32>,
    /// Orders using it now: raised when one is placed, lowered when one is called off unpaid.
    #[serde(default)]
    pub redemptions: u32,
}

/// A seller's shipping charge: `flat` per order, nothing once the seller's part of the order
/// (before discount) reaches `free_from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingRule {
    pub flat: Money,
    pub free_from: Option<Money>,
}

/// A tax rate for a category and/or a destination country; `None` matches any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaxRule {
    pub category: Option<String>,
    pub country: Option<CountryCode>,
    pub bps: u32,
}

/// Everything a quote is computed from.
pub struct QuoteInput<'a> {
    pub lines: Vec<QuoteLineInput>,
    pub coupon: Option<&'a Coupon>,
    /// How many standing orders of this customer use the coupon (its per-customer limit).
    pub coupon_used_by_customer: u32,
    /// When the quote is made, for the coupon's expiry.
    pub now: Timestamp,
    /// The shipping rule of a seller; asked once per seller in the quote.
    pub shipping: &'a dyn Fn(&UserId) -> ShippingRule,
    pub tax_rules: &'a [TaxRule],
    /// The delivery country, when known; country-specific tax rules need it.
    pub destination: Option<CountryCode>,
}

/// One quoted line. `unit_price` includes the customisations; `customization_total` is the
/// customisation part of `line_total`; `discount` is this line's share of the quote's discount
/// and `tax` the tax on `line_total − discount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuoteLine {
    pub product_id: ProductId,
    pub seller_id: UserId,
    pub quantity: u32,
    pub unit_price: Money,
    pub customization_total: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

/// A computed quote. Always `subtotal = Σ line_total`, `discount = Σ line discount`,
/// `tax = Σ line tax` and `total = subtotal − discount + shipping + tax`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuoteTotals {
    pub currency: Currency,
    pub lines: Vec<QuoteLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    /// Each seller's part of `shipping` (zero where it is free): their fulfilment charges it.
    pub shipping_by_seller: BTreeMap<UserId, Money>,
    pub tax: Money,
    pub total: Money,
}

/// Computes a quote from priced lines.
///
/// - 1 to [`MAX_QUOTE_LINES`] lines (400 `items`), all in one currency, as must be the coupon's
///   amounts and the sellers' shipping rules (400 `items` "all items must be priced in one
///   currency").
/// - `line_total = unit × quantity`, `customization_total = customization × quantity`, where the
///   unit is already rounded (percent modifiers rounded per unit, before the quantity);
///   `subtotal = Σ line_total`.
/// - Coupon: refused when `expires_at <= now` (400 `coupon` "has expired") or when the subtotal
///   is below `min_order` (400 `coupon` "needs an order of at least …"). A percent is of the
///   subtotal, rounded half to even once; a fixed amount is taken whole. The discount never
///   exceeds the subtotal, and is allocated over lines in proportion to `line_total`
///   (largest remainder, ties to the earlier line) so the line discounts sum exactly to it.
/// - Shipping, per seller: `flat`, or nothing when that seller's subtotal before discount is at
///   least `free_from`; the quote's shipping is the sum. Shipping is not taxed.
/// - Tax, per line: the most specific matching rule (see [`applicable_tax_bps`]) applied to
///   `line_total − line discount`, rounded half to even once per line; the quote's tax is the
///   sum of the line taxes.
/// - `total = subtotal − discount + shipping + tax`.
///
/// All arithmetic is checked: any amount beyond [`MAX_AMOUNT`](crate::money::MAX_AMOUNT) is a
/// 400 "amount is out of range", never a wrapped number or a panic.
pub fn compute_quote(input: QuoteInput<'_>) -> Result<QuoteTotals, Error> {
    let QuoteInput { lines, coupon, coupon_used_by_customer, now, shipping, tax_rules, destination } = input;
    let Some(first) = lines.first() else { return Err(Error::invalid("items", "must not be empty")) };
    if lines.len() > MAX_QUOTE_LINES {
        return Err(Error::invalid("items", format!("must have at most {MAX_QUOTE_LINES} items")));
    }
    let currency = first.unit.unit.currency;

    // Each seller's rule is asked for once, in a stable order.
    let mut rules: BTreeMap<&UserId, ShippingRule> = BTreeMap::new();
    for line in &lines {
        rules.entry(&line.seller_id).or_insert_with(|| shipping(&line.seller_id));
    }
    let line_amounts = lines.iter().flat_map(|l| [l.unit.base, l.unit.customization, l.unit.unit]);
    let coupon_amounts = coupon.into_iter().flat_map(|c| {
        let fixed = match c.value {
            CouponValue::Fixed { amount } => Some(amount),
            CouponValue::Percent { .. } => None,
        };
        fixed.into_iter().chain(c.min_order)
    });
    let shipping_amounts = rules.values().flat_map(|r| std::iter::once(r.flat).chain(r.free_from));
    if line_amounts.chain(coupon_amounts).chain(shipping_amounts).any(|m| m.currency != currency) {
        return Err(Error::invalid("items", "all items must be priced in one currency"));
    }

    let mut subtotal = Money::zero(currency);
    let mut seller_subtotals: BTreeMap<&UserId, Money> = BTreeMap::new();
    let mut priced = Vec::with_capacity(lines.len());
    for line in &lines {
        let quantity = i64::from(line.quantity.get());
        // Re-checked because UnitPrice's fields are public: a negative price must not sneak in.
        let unit = Money::non_negative(line.unit.unit.amount, currency)?;
        let customization = Money::non_negative(line.unit.customization.amount, currency)?;
        let line_total = unit.checked_mul(quantity)?;
        let customization_total = customization.checked_mul(quantity)?;
        subtotal = subtotal.checked_add(line_total)?;
        let seller_subtotal = seller_subtotals.entry(&line.seller_id).or_insert(Money::zero(currency));
        *seller_subtotal = seller_subtotal.checked_add(line_total)?;
        priced.push((line, unit, customization_total, line_total));
    }

    let discount = match coupon {
        Some(coupon) => coupon_discount(coupon, coupon_used_by_customer, subtotal, now)?,
        None => Money::zero(currency),
    };
    let weights: Vec<i64> = priced.iter().map(|(_, _, _, line_total)| line_total.amount).collect();
    let shares = allocate(discount.amount, &weights)?;

    let mut shipping_total = Money::zero(currency);
    let mut shipping_by_seller = BTreeMap::new();
    for (seller, rule) in &rules {
        let seller_subtotal = seller_subtotals.get(seller).copied().unwrap_or(Money::zero(currency));
        let free_from = rule.free_from.map(|f| Money::non_negative(f.amount, currency)).transpose()?;
        let charge = if free_from.is_none_or(|f| seller_subtotal.amount < f.amount) {
            Money::non_negative(rule.flat.amount, currency)?
        } else {
            Money::zero(currency)
        };
        shipping_total = shipping_total.checked_add(charge)?;
        shipping_by_seller.insert((*seller).clone(), charge);
    }

    let mut tax_total = Money::zero(currency);
    let mut quoted = Vec::with_capacity(priced.len());
    for ((line, unit, customization_total, line_total), share) in priced.into_iter().zip(shares) {
        let line_discount = Money::new(share, currency)?;
        let taxable = line_total.checked_sub(line_discount)?;
        let bps = applicable_tax_bps(tax_rules, &line.category, destination);
        let tax = Money::new(mul_bps_half_even(taxable.amount, bps)?, currency)?;
        tax_total = tax_total.checked_add(tax)?;
        quoted.push(QuoteLine {
            product_id: line.product_id.clone(),
            seller_id: line.seller_id.clone(),
            quantity: line.quantity.get(),
            unit_price: unit,
            customization_total,
            line_total,
            discount: line_discount,
            tax,
        });
    }

    let total = subtotal.checked_sub(discount)?.checked_add(shipping_total)?.checked_add(tax_total)?;
    Ok(QuoteTotals {
        currency,
        lines: quoted,
        subtotal,
        discount,
        shipping: shipping_total,
        shipping_by_seller,
        tax: tax_total,
        total,
    })
}

/// The coupon's discount on `subtotal`, between zero and the subtotal.
fn coupon_discount(coupon: &Coupon, used_by_customer: u32, subtotal: Money, now: Timestamp) -> Result<Money, Error> {
    if coupon.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::invalid("coupon", "has expired"));
    }
    if coupon.max_redemptions.is_some_and(|max| coupon.redemptions >= max) {
        return Err(Error::invalid("coupon", "has been fully redeemed"));
    }
    if coupon.per_customer_limit.is_some_and(|max| used_by_customer >= max) {
        return Err(Error::invalid("coupon", "has been used as often as one customer may"));
    }
    if let Some(min_order) = coupon.min_order
        && subtotal.amount < min_order.amount
    {
        return Err(Error::invalid("coupon", format!("needs an order of at least {}", display_money(min_order))));
    }
    let amount = match coupon.value {
        // Capping at 100 % first keeps an over-generous coupon from overflowing on a big order.
        CouponValue::Percent { bps } => mul_bps_half_even(subtotal.amount, bps.min(BPS_SCALE))?,
        CouponValue::Fixed { amount } => Money::non_negative(amount.amount, subtotal.currency)?.amount,
    };
    Money::new(amount.min(subtotal.amount), subtotal.currency)
}

/// The tax rate for a line of `category` delivered to `destination`: the most specific
/// matching rule wins — category and country, then category only, then country only, then a
/// rule with neither; among equally specific rules the first one. No matching rule: 0.
/// A rule naming a country never matches when the destination is unknown.
pub fn applicable_tax_bps(rules: &[TaxRule], category: &str, destination: Option<CountryCode>) -> u32 {
    let mut best: Option<(u8, u32)> = None;
    for rule in rules {
        let by_category = match &rule.category {
            None => false,
            Some(c) if c == category => true,
            Some(_) => continue,
        };
        let by_country = match rule.country {
            None => false,
            Some(c) if Some(c) == destination => true,
            Some(_) => continue,
        };
        let specificity = u8::from(by_category) * 2 + u8::from(by_country);
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, rule.bps));
        }
    }
    best.map_or(0, |(_, bps)| bps)
}

/// `50000 INR` → "500.00 INR": the amount in major units, for messages.
fn display_money(m: Money) -> String {
    let exponent = u32::from(m.currency.exponent());
    let sign = if m.amount < 0 { "-" } else { "" };
    let magnitude = m.amount.unsigned_abs();
    match 10u64.checked_pow(exponent) {
        Some(scale) if exponent > 0 => {
            let width = exponent as usize;
            format!("{sign}{}.{:0width$} {}", magnitude / scale, magnitude % scale, m.currency)
        }
        _ => format!("{sign}{magnitude} {}", m.currency),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ulid::Ulid;

    use super::*;

    fn inr() -> Currency {
        Currency::parse("INR").unwrap()
    }

    fn money(amount: i64) -> Money {
        Money::new(amount, inr()).unwrap()
    }

    fn seller(n: u64) -> UserId {
        UserId::from_ulid(Ulid::from_parts(n, 0))
    }

    fn line(seller_n: u64, category: &str, base: i64, customization: i64, quantity: i64) -> QuoteLineInput {
        QuoteLineInput {
            product_id: ProductId::generate(),
            seller_id: seller(seller_n),
            category: category.to_owned(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit: UnitPrice {
                base: money(base),
                customization: money(customization),
                unit: money(base + customization),
                values: BTreeMap::new(),
            },
        }
    }

    fn no_shipping(_: &UserId) -> ShippingRule {
        ShippingRule { flat: money(0), free_from: None }
    }

    fn now() -> Timestamp {
        Timestamp::from_unix(1_700_000_000).unwrap()
    }

    fn quote(lines: Vec<QuoteLineInput>) -> Result<QuoteTotals, Error> {
        compute_quote(QuoteInput {
            coupon_used_by_customer: 0,
            lines,
            coupon: None,
            now: now(),
            shipping: &no_shipping,
            tax_rules: &[],
            destination: None,
        })
    }

    fn quote_with(
        lines: Vec<QuoteLineInput>,
        coupon: Option<&Coupon>,
        shipping: &dyn Fn(&UserId) -> ShippingRule,
        tax_rules: &[TaxRule],
        destination: Option<CountryCode>,
    ) -> Result<QuoteTotals, Error> {
        compute_quote(QuoteInput {
            lines,
            coupon,
            coupon_used_by_customer: 0,
            now: now(),
            shipping,
            tax_rules,
            destination,
        })
    }

    fn coupon(value: CouponValue) -> Coupon {
        Coupon {
            code: "SAVE".to_owned(),
            value,
            min_order: None,
            expires_at: None,
            max_redemptions: None,
            per_customer_limit: None,
            redemptions: 0,
        }
    }

    fn detail(err: &Error, field: &str) -> String {
        assert_eq!(err.status(), 400);
        err.details[field].as_str().unwrap().to_owned()
    }

    #[test]
    fn quantity_is_bounded_with_the_contract_message() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(10_000).unwrap().get(), 10_000);
        for bad in [0, -1, 10_001, i64::MAX] {
            assert_eq!(Quantity::parse(bad).unwrap_err().message, "must be a whole number from 1 to 10000");
        }
        assert_eq!(serde_json::from_str::<Quantity>("3").unwrap().get(), 3);
        for bad in ["0", "1.5", "2.0", "\"2\"", "10001", "18446744073709551615", "-3"] {
            assert!(serde_json::from_str::<Quantity>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Quantity>("0").unwrap_err().to_string();
        assert!(err.contains("must be a whole number from 1 to 10000"), "{err}");
        assert_eq!(serde_json::to_string(&Quantity::parse(7).unwrap()).unwrap(), "7");
    }

    #[test]
    fn lines_multiply_and_add_up() {
        let q = quote(vec![line(1, "mugs", 1_000, 250, 3), line(2, "shirts", 500, 0, 2)]).unwrap();
        assert_eq!(q.lines[0].unit_price.amount, 1_250);
        assert_eq!(q.lines[0].line_total.amount, 3_750);
        assert_eq!(q.lines[0].customization_total.amount, 750);
        assert_eq!(q.lines[0].quantity, 3);
        assert_eq!(q.lines[1].line_total.amount, 1_000);
        assert_eq!(q.subtotal.amount, 4_750);
        assert_eq!((q.discount.amount, q.shipping.amount, q.tax.amount, q.total.amount), (0, 0, 0, 4_750));
        assert_eq!(q.currency, inr());
    }

    #[test]
    fn line_count_is_bounded() {
        assert_eq!(detail(&quote(vec![]).unwrap_err(), "items"), "must not be empty");
        let many = (0..=MAX_QUOTE_LINES).map(|_| line(1, "c", 1, 0, 1)).collect();
        assert_eq!(detail(&quote(many).unwrap_err(), "items"), "must have at most 50 items");
        let fifty = (0..MAX_QUOTE_LINES).map(|_| line(1, "c", 1, 0, 1)).collect();
        assert_eq!(quote(fifty).unwrap().subtotal.amount, 50);
    }

    #[test]
    fn one_currency_only() {
        let usd = Currency::parse("USD").unwrap();
        let mut dollars = line(1, "c", 100, 0, 1);
        dollars.unit.base.currency = usd;
        dollars.unit.unit.currency = usd;
        dollars.unit.customization.currency = usd;
        let err = quote(vec![line(1, "c", 100, 0, 1), dollars.clone()]).unwrap_err();
        assert_eq!(detail(&err, "items"), "all items must be priced in one currency");
        // A coupon, a minimum order or a shipping rule in another currency: the same answer.
        let fixed = coupon(CouponValue::Fixed { amount: Money::new(5, usd).unwrap() });
        let err = quote_with(vec![line(1, "c", 100, 0, 1)], Some(&fixed), &no_shipping, &[], None).unwrap_err();
        assert_eq!(detail(&err, "items"), "all items must be priced in one currency");
        let min = Coupon { min_order: Some(Money::new(5, usd).unwrap()), ..coupon(CouponValue::Percent { bps: 10 }) };
        assert!(quote_with(vec![line(1, "c", 100, 0, 1)], Some(&min), &no_shipping, &[], None).is_err());
        let ship = |_: &UserId| ShippingRule { flat: Money::new(5, usd).unwrap(), free_from: None };
        let err = quote_with(vec![line(1, "c", 100, 0, 1)], None, &ship, &[], None).unwrap_err();
        assert_eq!(detail(&err, "items"), "all items must be priced in one currency");
        // All in dollars is fine.
        let ship = |_: &UserId| ShippingRule { flat: Money::new(5, usd).unwrap(), free_from: None };
        let q = quote_with(vec![dollars], None, &ship, &[], None).unwrap();
        assert_eq!((q.currency, q.total.amount), (usd, 105));
    }

    #[test]
    fn percent_coupon_rounds_half_even_and_is_allocated_exactly() {
        // Subtotal 3 × 1 + 1 × 2 = 5; 50 % = 2.5 → 2 (even).
        let half = coupon(CouponValue::Percent { bps: 5_000 });
        let q = quote_with(vec![line(1, "c", 1, 0, 3), line(1, "c", 2, 0, 1)], Some(&half), &no_shipping, &[], None)
            .unwrap();
        assert_eq!(q.subtotal.amount, 5);
        assert_eq!(q.discount.amount, 2);
        // Shares 2 × 3/5 = 1.2 and 2 × 2/5 = 0.8: floors 1 and 0, the leftover unit to the
        // larger remainder (0.8).
        assert_eq!((q.lines[0].discount.amount, q.lines[1].discount.amount), (1, 1));
        assert_eq!(q.total.amount, 3);
    }

    #[test]
    fn fixed_coupon_never_exceeds_the_subtotal() {
        let big = coupon(CouponValue::Fixed { amount: money(10_000) });
        let q = quote_with(vec![line(1, "c", 300, 0, 1), line(2, "c", 100, 0, 1)], Some(&big), &no_shipping, &[], None)
            .unwrap();
        assert_eq!(q.discount.amount, 400);
        assert_eq!((q.lines[0].discount.amount, q.lines[1].discount.amount), (300, 100));
        assert_eq!(q.total.amount, 0);
        let over = coupon(CouponValue::Percent { bps: 25_000 });
        let q = quote_with(vec![line(1, "c", 300, 0, 1)], Some(&over), &no_shipping, &[], None).unwrap();
        assert_eq!(q.discount.amount, 300);
        let small = coupon(CouponValue::Fixed { amount: money(50) });
        let q =
            quote_with(vec![line(1, "c", 300, 0, 1), line(2, "c", 100, 0, 1)], Some(&small), &no_shipping, &[], None)
                .unwrap();
        assert_eq!((q.discount.amount, q.lines[0].discount.amount, q.lines[1].discount.amount), (50, 38, 12));
        let negative = coupon(CouponValue::Fixed { amount: Money { amount: -5, currency: inr() } });
        assert!(quote_with(vec![line(1, "c", 300, 0, 1)], Some(&negative), &no_shipping, &[], None).is_err());
    }

    #[test]
    fn coupon_expiry_and_minimum() {
        let lines = || vec![line(1, "c", 1_000, 0, 1)];
        let expired = Coupon { expires_at: Some(now()), ..coupon(CouponValue::Percent { bps: 1_000 }) };
        let err = quote_with(lines(), Some(&expired), &no_shipping, &[], None).unwrap_err();
        assert_eq!(detail(&err, "coupon"), "has expired");
        let valid = Coupon { expires_at: Some(now().plus_secs(1)), ..expired };
        assert_eq!(quote_with(lines(), Some(&valid), &no_shipping, &[], None).unwrap().discount.amount, 100);
        let min = Coupon { min_order: Some(money(50_000)), ..coupon(CouponValue::Percent { bps: 1_000 }) };
        let err = quote_with(lines(), Some(&min), &no_shipping, &[], None).unwrap_err();
        assert_eq!(detail(&err, "coupon"), "needs an order of at least 500.00 INR");
        let exactly = Coupon { min_order: Some(money(1_000)), ..min };
        assert_eq!(quote_with(lines(), Some(&exactly), &no_shipping, &[], None).unwrap().discount.amount, 100);
    }

    #[test]
    fn money_is_displayed_in_major_units() {
        assert_eq!(display_money(money(50_000)), "500.00 INR");
        assert_eq!(display_money(money(5)), "0.05 INR");
        assert_eq!(display_money(Money::new(1_500, Currency::parse("JPY").unwrap()).unwrap()), "1500 JPY");
        assert_eq!(display_money(Money::new(1_234, Currency::parse("KWD").unwrap()).unwrap()), "1.234 KWD");
        assert_eq!(display_money(money(-250)), "-2.50 INR");
    }

    #[test]
    fn shipping_is_per_seller_and_free_from_a_threshold_before_discount() {
        let rule = |s: &UserId| {
            if *s == seller(1) {
                ShippingRule { flat: money(99), free_from: Some(money(1_000)) }
            } else {
                ShippingRule { flat: money(50), free_from: None }
            }
        };
        // Seller 1: 600 + 400 = 1000 ≥ 1000 → free; seller 2: 50, once for two lines.
        let lines =
            || vec![line(1, "c", 600, 0, 1), line(2, "c", 10, 0, 1), line(1, "c", 400, 0, 1), line(2, "c", 10, 0, 1)];
        let q = quote_with(lines(), None, &rule, &[], None).unwrap();
        assert_eq!(q.shipping.amount, 50);
        // The threshold looks at the subtotal before the coupon.
        let ten = coupon(CouponValue::Percent { bps: 1_000 });
        let q = quote_with(lines(), Some(&ten), &rule, &[], None).unwrap();
        assert_eq!(q.shipping.amount, 50);
        assert_eq!(q.total.amount, q.subtotal.amount - q.discount.amount + 50);
        // Below the threshold: the flat charge.
        let q = quote_with(vec![line(1, "c", 999, 0, 1)], None, &rule, &[], None).unwrap();
        assert_eq!(q.shipping.amount, 99);
        // The rule is asked once per seller.
        let asked = std::cell::Cell::new(0);
        let counting = |s: &UserId| {
            asked.set(asked.get() + 1);
            rule(s)
        };
        quote_with(lines(), None, &counting, &[], None).unwrap();
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn the_most_specific_tax_rule_wins() {
        let india = CountryCode::parse("IN").unwrap();
        let us = CountryCode::parse("US").unwrap();
        let rule = |category: Option<&str>, country: Option<CountryCode>, bps| TaxRule {
            category: category.map(str::to_owned),
            country,
            bps,
        };
        let rules = vec![
            rule(None, None, 100),
            rule(None, Some(india), 200),
            rule(Some("mugs"), None, 300),
            rule(Some("mugs"), Some(india), 400),
            rule(Some("mugs"), Some(india), 999),
        ];
        assert_eq!(applicable_tax_bps(&rules, "mugs", Some(india)), 400);
        assert_eq!(applicable_tax_bps(&rules, "mugs", Some(us)), 300);
        assert_eq!(applicable_tax_bps(&rules, "mugs", None), 300);
        assert_eq!(applicable_tax_bps(&rules, "shirts", Some(india)), 200);
        assert_eq!(applicable_tax_bps(&rules, "shirts", Some(us)), 100);
        assert_eq!(applicable_tax_bps(&rules[1..], "shirts", Some(us)), 0);
        assert_eq!(applicable_tax_bps(&[], "mugs", Some(india)), 0);
        // Order in the list does not matter, only specificity.
        let reversed: Vec<TaxRule> = rules.iter().rev().cloned().collect();
        assert_eq!(applicable_tax_bps(&reversed, "mugs", Some(india)), 999);
        assert_eq!(applicable_tax_bps(&reversed, "shirts", None), 100);
    }

    #[test]
    fn tax_is_rounded_once_per_line_after_the_discount_and_not_on_shipping() {
        let india = CountryCode::parse("IN").unwrap();
        let rules = vec![TaxRule { category: None, country: Some(india), bps: 500 }];
        let ship = |_: &UserId| ShippingRule { flat: money(1_000), free_from: None };
        // Line totals 10 and 30: 5 % = 0.5 → 0 and 1.5 → 2. Taxing the sum (40 × 5 % = 2) would
        // agree here, but only by luck; per line is the rule.
        let q =
            quote_with(vec![line(1, "c", 10, 0, 1), line(1, "c", 30, 0, 1)], None, &ship, &rules, Some(india)).unwrap();
        assert_eq!((q.lines[0].tax.amount, q.lines[1].tax.amount, q.tax.amount), (0, 2, 2));
        // Three lines of 10 at 5 %: 0.5 each → 0 each, tax 0 (a single rounding of 30 would be 2).
        let q = quote_with((0..3).map(|_| line(1, "c", 10, 0, 1)).collect(), None, &ship, &rules, Some(india)).unwrap();
        assert_eq!(q.tax.amount, 0);
        assert_eq!(q.total.amount, 30 + 1_000);
        // After a discount: 1000 − 100 = 900 taxable at 5 % = 45.
        let ten = coupon(CouponValue::Percent { bps: 1_000 });
        let q = quote_with(vec![line(1, "c", 1_000, 0, 1)], Some(&ten), &ship, &rules, Some(india)).unwrap();
        assert_eq!((q.discount.amount, q.tax.amount, q.total.amount), (100, 45, 1_000 - 100 + 1_000 + 45));
        // No destination: the country rule does not apply.
        let q = quote_with(vec![line(1, "c", 1_000, 0, 1)], None, &ship, &rules, None).unwrap();
        assert_eq!(q.tax.amount, 0);
    }

    #[test]
    fn overflow_is_a_400() {
        let huge = line(1, "c", crate::money::MAX_AMOUNT, 0, 2);
        let err = quote(vec![huge]).unwrap_err();
        assert_eq!((err.status(), err.message.as_str()), (400, "amount is out of range"));
        let half = crate::money::MAX_AMOUNT / 2 + 1;
        assert_eq!(quote(vec![line(1, "c", half, 0, 1), line(2, "c", half, 0, 1)]).unwrap_err().status(), 400);
        // A unit whose fields were set out of range by hand is refused, not multiplied.
        let mut corrupt = line(1, "c", 1, 0, 10_000);
        corrupt.unit.unit.amount = i64::MAX;
        assert_eq!(quote(vec![corrupt]).unwrap_err().status(), 400);
        let mut negative = line(1, "c", 1, 0, 1);
        negative.unit.unit.amount = -1;
        assert_eq!(quote(vec![negative]).unwrap_err().status(), 400);
        // Tax at an absurd rate on a large line.
        let rules = vec![TaxRule { category: None, country: None, bps: u32::MAX }];
        let err =
            quote_with(vec![line(1, "c", 1_000_000_000_000, 0, 1)], None, &no_shipping, &rules, None).unwrap_err();
        assert_eq!(err.status(), 400);
    }
}
