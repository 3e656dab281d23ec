//! Property tests of the money rules: sums add up, rounding is exact against a rational
//! reference, allocation never loses or invents a minor unit, and huge inputs are a 400 rather
//! than a panic or a wrapped number.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};
use ulid::Ulid;

use super::*;
use crate::money::MAX_AMOUNT;
use crate::{CountryCode, Currency, Money, OptionId, ProductId, Timestamp, UserId};

const CATEGORIES: [&str; 3] = ["mugs", "shirts", "posters"];

/// `amount × bps / 10_000` rounded half to even, computed independently of the code under test:
/// floor division (not truncation), then the remainder compared with exactly one half.
fn reference_half_even(amount: i64, bps: u32) -> i128 {
    let numerator = i128::from(amount) * i128::from(bps);
    let floor = numerator.div_euclid(10_000);
    let remainder = numerator.rem_euclid(10_000);
    match (2 * remainder).cmp(&10_000) {
        Ordering::Less => floor,
        Ordering::Greater => floor + 1,
        Ordering::Equal if floor.rem_euclid(2) == 0 => floor,
        Ordering::Equal => floor + 1,
    }
}

fn inr() -> Currency {
    Currency::parse("INR").unwrap()
}

/// Money built field by field, so out-of-range amounts can be fed in on purpose.
fn raw(amount: i64) -> Money {
    Money { amount, currency: inr() }
}

fn seller(n: u64) -> UserId {
    UserId::from_ulid(Ulid::from_parts(n, 1))
}

fn now() -> Timestamp {
    Timestamp::from_unix(1_700_000_000).unwrap()
}

fn make_line(seller_n: u64, category: usize, base: i64, customization: i64, quantity: i64) -> QuoteLineInput {
    QuoteLineInput {
        product_id: ProductId::from_ulid(Ulid::from_parts(seller_n, 2)),
        seller_id: seller(seller_n),
        category: CATEGORIES[category % CATEGORIES.len()].to_owned(),
        quantity: Quantity::parse(quantity).unwrap(),
        unit: UnitPrice {
            base: raw(base),
            customization: raw(customization),
            // Deliberately unchecked: the quote must refuse a sum out of range itself.
            unit: raw(base.saturating_add(customization)),
            values: BTreeMap::new(),
        },
    }
}

fn lines(max_amount: i64, max_lines: usize) -> impl Strategy<Value = Vec<QuoteLineInput>> {
    vec((0u64..4, 0usize..3, 0..=max_amount, 0..=max_amount, 1i64..=10_000), 1..=max_lines)
        .prop_map(|ls| ls.into_iter().map(|(s, c, b, m, q)| make_line(s, c, b, m, q)).collect())
}

fn coupons() -> impl Strategy<Value = Option<Coupon>> {
    let value = prop_oneof![
        (0u32..=12_000).prop_map(|bps| CouponValue::Percent { bps }),
        (0i64..=100_000_000).prop_map(|a| CouponValue::Fixed { amount: raw(a) }),
    ];
    proptest::option::of((value, proptest::option::of(0i64..=100_000_000)).prop_map(|(value, min)| Coupon {
        code: "P".to_owned(),
        value,
        min_order: min.map(raw),
        expires_at: Some(now().plus_secs(60)),
        max_redemptions: None,
        per_customer_limit: None,
        redemptions: 0,
    }))
}

fn shipping_rules() -> impl Strategy<Value = BTreeMap<UserId, ShippingRule>> {
    vec((0i64..=100_000, proptest::option::of(0i64..=100_000_000)), 4).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, (flat, free))| (seller(i as u64), ShippingRule { flat: raw(flat), free_from: free.map(raw) }))
            .collect()
    })
}

fn tax_rules() -> impl Strategy<Value = Vec<TaxRule>> {
    let countries = ["IN", "US"];
    vec(
        (proptest::option::of(0usize..4), proptest::option::of(0usize..2), 0u32..=3_000).prop_map(
            move |(c, k, bps)| {
                TaxRule {
                    // Index 3 names a category no line has, so some rules never match.
                    category: c.map(|c| CATEGORIES.get(c).copied().unwrap_or("toys").to_owned()),
                    country: k.and_then(|k| CountryCode::parse(countries[k]).ok()),
                    bps,
                }
            },
        ),
        0..6,
    )
}

fn destinations() -> impl Strategy<Value = Option<CountryCode>> {
    proptest::option::of(prop_oneof![Just("IN"), Just("US"), Just("FR")])
        .prop_map(|c| c.and_then(|c| CountryCode::parse(c).ok()))
}

/// The invariants every successful quote keeps, checked against independent recomputation.
fn check_totals(q: &QuoteTotals, input_lines: &[QuoteLineInput]) -> Result<(), TestCaseError> {
    let mut subtotal = 0i128;
    for (line, input) in q.lines.iter().zip(input_lines) {
        let quantity = i128::from(input.quantity.get());
        prop_assert_eq!(i128::from(line.line_total.amount), i128::from(input.unit.unit.amount) * quantity);
        prop_assert_eq!(
            i128::from(line.customization_total.amount),
            i128::from(input.unit.customization.amount) * quantity
        );
        prop_assert!(line.discount.amount >= 0 && line.discount.amount <= line.line_total.amount);
        subtotal += i128::from(line.line_total.amount);
    }
    prop_assert_eq!(q.lines.len(), input_lines.len());
    prop_assert_eq!(i128::from(q.subtotal.amount), subtotal);
    prop_assert_eq!(q.discount.amount, q.lines.iter().map(|l| l.discount.amount).sum::<i64>());
    prop_assert!(q.discount.amount >= 0 && q.discount.amount <= q.subtotal.amount);
    prop_assert_eq!(q.tax.amount, q.lines.iter().map(|l| l.tax.amount).sum::<i64>());
    prop_assert_eq!(
        i128::from(q.total.amount),
        i128::from(q.subtotal.amount) - i128::from(q.discount.amount)
            + i128::from(q.shipping.amount)
            + i128::from(q.tax.amount)
    );
    for m in [q.subtotal, q.discount, q.shipping, q.tax, q.total] {
        prop_assert!(m.amount.unsigned_abs() <= MAX_AMOUNT as u64);
        prop_assert_eq!(m.currency, q.currency);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (a) A quote's totals are the sums of their parts, and shipping follows the per-seller rule.
    #[test]
    fn totals_are_the_sum_of_their_parts(
        input_lines in lines(10_000_000, 12),
        coupon in coupons(),
        shipping in shipping_rules(),
        taxes in tax_rules(),
        destination in destinations(),
    ) {
        let ship = |s: &UserId| shipping.get(s).copied().unwrap_or(ShippingRule { flat: raw(0), free_from: None });
        let result = compute_quote(QuoteInput {
            coupon_used_by_customer: 0,
            lines: input_lines.clone(),
            coupon: coupon.as_ref(),
            now: now(),
            shipping: &ship,
            tax_rules: &taxes,
            destination,
        });
        let subtotal: i64 = input_lines.iter().map(|l| l.unit.unit.amount * i64::from(l.quantity.get())).sum();
        match result {
            Ok(q) => {
                check_totals(&q, &input_lines)?;
                let mut per_seller: BTreeMap<&UserId, i64> = BTreeMap::new();
                for l in &input_lines {
                    *per_seller.entry(&l.seller_id).or_insert(0) += l.unit.unit.amount * i64::from(l.quantity.get());
                }
                let expected_shipping: i64 = per_seller
                    .iter()
                    .map(|(s, sub)| {
                        let rule = ship(s);
                        if rule.free_from.is_some_and(|f| *sub >= f.amount) { 0 } else { rule.flat.amount }
                    })
                    .sum();
                prop_assert_eq!(q.shipping.amount, expected_shipping);
                // Each seller's part of the shipping is theirs, and the parts are the whole.
                prop_assert_eq!(q.shipping_by_seller.len(), per_seller.len());
                prop_assert_eq!(q.shipping_by_seller.values().map(|m| m.amount).sum::<i64>(), expected_shipping);
                for (seller, charge) in &q.shipping_by_seller {
                    let rule = ship(seller);
                    let sub = per_seller.get(seller).copied().unwrap_or(0);
                    let expected = if rule.free_from.is_some_and(|f| sub >= f.amount) { 0 } else { rule.flat.amount };
                    prop_assert_eq!(charge.amount, expected);
                }
                if coupon.is_none() {
                    prop_assert_eq!(q.discount.amount, 0);
                }
            }
            Err(err) => {
                // The only refusal possible here: a coupon whose minimum the order does not reach.
                prop_assert_eq!(err.status(), 400);
                prop_assert!(err.details.contains_key("coupon"), "{:?}", err);
                let min = coupon.as_ref().and_then(|c| c.min_order).map_or(0, |m| m.amount);
                prop_assert!(subtotal < min);
            }
        }
    }

    /// (b) Huge prices and quantities are a 400, never a panic or a wrapped number.
    #[test]
    fn huge_amounts_are_refused_not_wrapped(
        // Small and huge amounts and quantities mixed, so both answers (a quote, a 400) occur.
        input_lines in vec(
            (0u64..4, 0usize..3, prop_oneof![3 => 0i64..=1_000, 1 => 0..=MAX_AMOUNT],
             prop_oneof![3 => 0i64..=1_000, 1 => 0..=MAX_AMOUNT], prop_oneof![1i64..=3, 1i64..=10_000]),
            1..=50,
        ).prop_map(|ls| ls.into_iter().map(|(s, c, b, m, q)| make_line(s, c, b, m, q)).collect::<Vec<_>>()),
        wild in vec((any::<i64>(), any::<i64>()), 0..3),
        coupon_bps in any::<u32>(),
        coupon_fixed in any::<i64>(),
        percent in any::<bool>(),
        tax_bps in any::<u32>(),
        flat in any::<i64>(),
    ) {
        let mut input_lines = input_lines;
        // Some lines with arbitrary (even negative or overflowing) unit fields.
        for (i, (unit, customization)) in wild.into_iter().enumerate() {
            if let Some(line) = input_lines.get_mut(i) {
                line.unit.unit = raw(unit);
                line.unit.customization = raw(customization);
            }
        }
        let value = if percent { CouponValue::Percent { bps: coupon_bps } } else { CouponValue::Fixed { amount: raw(coupon_fixed) } };
        let coupon = Coupon { code: "X".to_owned(), value, min_order: None, expires_at: None, max_redemptions: None, per_customer_limit: None, redemptions: 0 };
        let ship = |_: &UserId| ShippingRule { flat: raw(flat), free_from: None };
        let taxes = [TaxRule { category: None, country: None, bps: tax_bps }];
        let result = compute_quote(QuoteInput {
            coupon_used_by_customer: 0,
            lines: input_lines.clone(),
            coupon: Some(&coupon),
            now: now(),
            shipping: &ship,
            tax_rules: &taxes,
            destination: None,
        });
        match result {
            Ok(q) => check_totals(&q, &input_lines)?,
            Err(err) => prop_assert_eq!(err.status(), 400),
        }
    }

    /// (b) The same for one unit's price: huge bases, modifiers and values.
    #[test]
    fn huge_unit_prices_are_refused_not_wrapped(
        base in prop_oneof![0..=MAX_AMOUNT, any::<i64>()],
        per_unit in 0..=MAX_AMOUNT,
        value in 0..=options::MAX_NUMBER,
        bps in 0..=options::MAX_MODIFIER_BPS,
        fixed in 0..=MAX_AMOUNT,
        per_char in 0..=MAX_AMOUNT,
    ) {
        let drafts: Vec<OptionDraft> = serde_json::from_value(json!([
            {"name": "N", "kind": "number", "min": 0, "max": options::MAX_NUMBER, "price_per_unit": per_unit,
             "price_modifier": {"type": "percent", "bps": bps}},
            {"name": "I", "kind": "image", "price_modifier": {"type": "fixed", "amount": fixed}},
            {"name": "T", "kind": "text", "max_length": 1000, "price_per_char": per_char}
        ])).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opts = parse_options(drafts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let values: BTreeMap<String, Value> = [
            (opts[0].id.as_str().to_owned(), json!(value)),
            (opts[1].id.as_str().to_owned(), json!("key")),
            (opts[2].id.as_str().to_owned(), json!("x".repeat(1000))),
        ].into_iter().collect();
        match price_unit(raw(base), &opts, &values, &|_| true) {
            Ok(p) => {
                let expected = i128::from(base)
                    + reference_half_even(base, bps)
                    + i128::from(per_unit) * i128::from(value)
                    + i128::from(fixed)
                    + i128::from(per_char) * 1000;
                prop_assert_eq!(i128::from(p.unit.amount), expected);
                prop_assert_eq!(p.unit.amount, p.base.amount + p.customization.amount);
                prop_assert!(p.unit.amount <= MAX_AMOUNT);
            }
            Err(err) => prop_assert_eq!(err.status(), 400),
        }
    }

    /// Whatever JSON a customer sends, pricing answers (Ok or 400) and never panics.
    #[test]
    fn any_customer_json_is_answered(
        raw_values in vec(prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1000i64..1000).prop_map(|n| json!(format!("{n}.5").parse::<Value>().unwrap_or(Value::Null))),
            ".{0,30}".prop_map(Value::String),
            vec(".{0,5}", 0..4).prop_map(|v| json!(v)),
            Just(json!({"a": 1})),
        ], 4),
        extra_key in proptest::option::of("[a-z_]{1,10}"),
    ) {
        let drafts: Vec<OptionDraft> = serde_json::from_value(json!([
            {"name": "T", "kind": "text", "max_length": 10, "allowed": "letters"},
            {"name": "C", "kind": "choice", "multi": true, "choices": [{"label": "a"}]},
            {"name": "N", "kind": "number", "min": -5, "max": 5, "step": 2},
            {"name": "I", "kind": "image"}
        ])).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opts = parse_options(drafts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut values: BTreeMap<String, Value> =
            opts.iter().zip(raw_values).map(|(o, v)| (o.id.as_str().to_owned(), v)).collect();
        if let Some(key) = extra_key {
            values.insert(key, json!("x"));
        }
        match price_unit(raw(100), &opts, &values, &|k| k.len() % 2 == 0) {
            Ok(p) => prop_assert!(p.values.keys().all(|k| opts.iter().any(|o| o.id.as_str() == k))),
            Err(err) => prop_assert_eq!(err.status(), 400),
        }
    }

    /// (c) `allocate` sums exactly to the total and every part is within one unit of its exact
    /// proportional share.
    #[test]
    fn allocate_is_exact_and_fair(
        total in prop_oneof![0i64..1_000, 0..=MAX_AMOUNT, 0..=i64::MAX],
        weights in prop_oneof![
            vec(0i64..10, 0..12),
            vec(0i64..=MAX_AMOUNT, 1..50),
            vec(0..=i64::MAX, 1..8),
        ],
    ) {
        match allocate(total, &weights) {
            Err(err) => {
                prop_assert!(weights.is_empty() && total > 0);
                prop_assert_eq!(err.status(), 400);
            }
            Ok(parts) => {
                prop_assert_eq!(parts.len(), weights.len());
                prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(total));
                let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
                let even = sum == 0;
                let divisor = if even { weights.len() as i128 } else { sum };
                for (part, w) in parts.iter().zip(&weights) {
                    prop_assert!(*part >= 0);
                    let w = if even { 1 } else { i128::from(*w) };
                    // |part − total·w/divisor| < 1, kept in integers.
                    let gap = (i128::from(*part) * divisor - i128::from(total) * w).abs();
                    prop_assert!(gap < divisor, "part {} weight {} total {} divisor {}", part, w, total, divisor);
                }
            }
        }
    }

    /// (d) `mul_bps_half_even` matches the exact rational reference and is symmetric.
    #[test]
    fn mul_bps_matches_the_reference(
        amount in prop_oneof![-100_000i64..100_000, -MAX_AMOUNT..=MAX_AMOUNT, (i64::MIN + 1)..=i64::MAX],
        // Multiples of 250 bps make exact halves common (amount × k / 40), so ties are exercised.
        bps in prop_oneof![0u32..=20_000, (0u32..=80).prop_map(|k| k * 250), any::<u32>()],
    ) {
        let expected = reference_half_even(amount, bps);
        match mul_bps_half_even(amount, bps) {
            Ok(got) => prop_assert_eq!(i128::from(got), expected),
            Err(err) => {
                prop_assert!(expected.abs() > i128::from(MAX_AMOUNT));
                prop_assert_eq!(err.status(), 400);
            }
        }
        let negated = mul_bps_half_even(-amount, bps);
        match (mul_bps_half_even(amount, bps), negated) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, -b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "asymmetric: {:?} vs {:?}", a, b),
        }
    }

    /// (d) Exact halves specifically: always to the even neighbour.
    #[test]
    fn exact_halves_go_to_even(k in -1_000_000_000i64..1_000_000_000) {
        // (2k + 1) × 5000 bps = k + ½ exactly.
        let got = mul_bps_half_even(2 * k + 1, 5_000).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.rem_euclid(2), 0);
        prop_assert!(got == k || got == k + 1);
    }

    /// (e) Rounding neither loses nor invents a minor unit across lines: the allocated discounts
    /// sum to the discount, each near its exact share, and each line's tax is exactly its own
    /// rounded value (so Σ line tax is the tax).
    #[test]
    fn rounding_is_per_line_and_conserves_units(
        input_lines in lines(1_000_000, 20),
        coupon_bps in 0u32..=10_000,
        category_bps in vec(0u32..=3_000, 3),
    ) {
        // One rule per category and nothing else, so the expected rate is known independently.
        let taxes: Vec<TaxRule> = CATEGORIES
            .iter()
            .zip(&category_bps)
            .map(|(c, bps)| TaxRule { category: Some((*c).to_owned()), country: None, bps: *bps })
            .collect();
        let coupon = Coupon { code: "E".to_owned(), value: CouponValue::Percent { bps: coupon_bps }, min_order: None, expires_at: None, max_redemptions: None, per_customer_limit: None, redemptions: 0 };
        let ship = |_: &UserId| ShippingRule { flat: raw(0), free_from: None };
        let q = compute_quote(QuoteInput {
            coupon_used_by_customer: 0,
            lines: input_lines.clone(),
            coupon: Some(&coupon),
            now: now(),
            shipping: &ship,
            tax_rules: &taxes,
            destination: None,
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_totals(&q, &input_lines)?;
        prop_assert_eq!(i128::from(q.discount.amount), reference_half_even(q.subtotal.amount, coupon_bps));
        let shares_sum: i64 = q.lines.iter().map(|l| l.discount.amount).sum();
        prop_assert_eq!(shares_sum, q.discount.amount);
        for (line, input) in q.lines.iter().zip(&input_lines) {
            if q.subtotal.amount > 0 {
                let gap = (i128::from(line.discount.amount) * i128::from(q.subtotal.amount)
                    - i128::from(q.discount.amount) * i128::from(line.line_total.amount)).abs();
                prop_assert!(gap < i128::from(q.subtotal.amount));
            }
            let index = CATEGORIES.iter().position(|c| *c == input.category).unwrap_or(0);
            let expected_tax = reference_half_even(line.line_total.amount - line.discount.amount, category_bps[index]);
            prop_assert_eq!(i128::from(line.tax.amount), expected_tax);
        }
    }
}

#[test]
fn option_ids_in_values_are_strings_of_the_contract() {
    // The keys of `UnitPrice::values` are the option ids as the contract spells them.
    let id = OptionId::generate();
    let drafts: Vec<OptionDraft> =
        serde_json::from_value(json!([{"id": id.as_str(), "name": "I", "kind": "image"}])).unwrap();
    let opts = parse_options(drafts).unwrap();
    let values: BTreeMap<String, Value> = [(id.as_str().to_owned(), json!("k"))].into_iter().collect();
    let price = price_unit(raw(5), &opts, &values, &|_| true).unwrap();
    assert_eq!(price.values.keys().collect::<Vec<_>>(), vec![id.as_str()]);
}
