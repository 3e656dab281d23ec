//! The price of one unit of a product with a customer's customisation values.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::options::{ChoiceSpec, NumberSpec, OptionKind, ProductOption, TextAllowed, TextSpec};
use crate::{Error, FieldErrors, Money};

/// A customisation value as stored on a cart or order line; it serialises to the same JSON a
/// customer sends: a string (text, an image key, one choice id), a list of strings (several
/// choice ids) or an integer (a number option).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CustomizationValue {
    Text(String),
    List(Vec<String>),
    Number(i64),
}

/// One unit's price, split the way a quote shows it, with the customer's values parsed and
/// normalised (text trimmed, values that count as "not given" left out) for the order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitPrice {
    /// The product's base price.
    pub base: Money,
    /// Everything the customisations add to one unit.
    pub customization: Money,
    /// `base + customization`.
    pub unit: Money,
    /// Option id → value, only for options that were given a value.
    pub values: BTreeMap<String, CustomizationValue>,
}

/// Prices one unit of a product: `unit = base + Σ customisation`.
///
/// Per option that has a value:
/// - the option's own `price_modifier`, once: a fixed amount, or basis points of the BASE price
///   rounded half to even to a whole minor unit (see
///   [`mul_bps_half_even`](super::rounding::mul_bps_half_even));
/// - text: plus `price_per_char × characters` (Unicode scalar values, after trimming);
/// - choice: plus the modifier of each chosen choice (a percent again of the base price);
/// - number: plus `price_per_unit × value`;
/// - image: only the option's modifier.
///
/// Every percent is rounded here, per unit: a quote then multiplies the rounded unit price by
/// the quantity, so a line never holds a fraction of a minor unit.
///
/// `values` maps option ids to JSON values. A value counts as not given when it is `null`, an
/// empty (or all-space) string or an empty list; a required option without a value fails.
/// `image_allowed(key)` says whether the customer may use that image key (the caller checks
/// that the customer uploaded it).
///
/// Fails with a 400 `validation_failed` naming every bad option as `customizations.<option_id>`
/// (including ids the product does not have), and with a 400 "amount is out of range" when the
/// price would overflow.
pub fn price_unit(
    base_price: Money,
    options: &[ProductOption],
    values: &BTreeMap<String, Value>,
    image_allowed: &dyn Fn(&str) -> bool,
) -> Result<UnitPrice, Error> {
    // Money's fields are public; re-check so a corrupt base price cannot produce a bad unit.
    let base = Money::non_negative(base_price.amount, base_price.currency)?;
    let mut problems = FieldErrors::new();
    for key in values.keys() {
        if !options.iter().any(|o| o.id.as_str() == key) {
            problems.insert(field(key), "is not an option of this product".to_owned());
        }
    }

    let mut parsed = BTreeMap::new();
    let mut parts = Vec::new();
    for option in options {
        let key = option.id.as_str();
        match read_value(option, values.get(key), image_allowed) {
            Err(problem) => {
                problems.insert(field(key), problem);
            }
            Ok(None) => {
                if option.required {
                    problems.insert(field(key), "is required".to_owned());
                }
            }
            Ok(Some(value)) => {
                match option_price(option, &value, base) {
                    Ok(part) => parts.push(part),
                    Err(_) => {
                        problems.insert(field(key), "makes the price too large".to_owned());
                    }
                }
                parsed.insert(key.to_owned(), value);
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid_fields(problems));
    }

    let mut customization = Money::zero(base.currency);
    for part in parts {
        customization = customization.checked_add(part)?;
    }
    let unit = base.checked_add(customization)?;
    Ok(UnitPrice { base, customization, unit, values: parsed })
}

fn field(option_id: &str) -> String {
    format!("customizations.{option_id}")
}

/// The parsed value of one option: `Ok(None)` when not given, `Err(problem)` when bad.
fn read_value(
    option: &ProductOption,
    raw: Option<&Value>,
    image_allowed: &dyn Fn(&str) -> bool,
) -> Result<Option<CustomizationValue>, String> {
    let raw = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(raw) => raw,
    };
    match &option.kind {
        OptionKind::Text(spec) => read_text(spec, raw),
        OptionKind::Choice(spec) if spec.multi() => read_choices(spec, raw),
        OptionKind::Choice(spec) => read_choice(spec, raw),
        OptionKind::Number(spec) => read_number(spec, raw),
        OptionKind::Image => {
            let Value::String(key) = raw else { return Err("must be an image key".to_owned()) };
            if key.is_empty() {
                Ok(None)
            } else if image_allowed(key) {
                Ok(Some(CustomizationValue::Text(key.clone())))
            } else {
                Err("is not an image you uploaded".to_owned())
            }
        }
    }
}

fn read_text(spec: &TextSpec, raw: &Value) -> Result<Option<CustomizationValue>, String> {
    let Value::String(text) = raw else { return Err("must be text".to_owned()) };
    // Surrounding spaces are almost always a slip of the keyboard; trimming them also keeps a
    // customer from paying per character for them.
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > spec.max_length.get() {
        return Err(format!("is longer than {} characters", spec.max_length.get()));
    }
    if !text_permitted(spec.allowed, text) {
        return Err(spec.allowed.map_or("must not contain control characters", TextAllowed::problem).to_owned());
    }
    Ok(Some(CustomizationValue::Text(text.to_owned())))
}

fn read_choice(spec: &ChoiceSpec, raw: &Value) -> Result<Option<CustomizationValue>, String> {
    let Value::String(id) = raw else { return Err("must be one choice id".to_owned()) };
    if id.is_empty() {
        return Ok(None);
    }
    match spec.find(id) {
        Some(_) => Ok(Some(CustomizationValue::Text(id.clone()))),
        None => Err("is not one of the choices".to_owned()),
    }
}

fn read_choices(spec: &ChoiceSpec, raw: &Value) -> Result<Option<CustomizationValue>, String> {
    let not_a_list = || "must be a list of choice ids".to_owned();
    let Value::Array(items) = raw else { return Err(not_a_list()) };
    if items.is_empty() {
        return Ok(None);
    }
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(id) = item else { return Err(not_a_list()) };
        if spec.find(id).is_none() {
            return Err("is not one of the choices".to_owned());
        }
        if !seen.insert(id.as_str()) {
            return Err("must not repeat a choice".to_owned());
        }
        ids.push(id.clone());
    }
    Ok(Some(CustomizationValue::List(ids)))
}

fn read_number(spec: &NumberSpec, raw: &Value) -> Result<Option<CustomizationValue>, String> {
    let Value::Number(number) = raw else { return Err("must be a whole number".to_owned()) };
    let range = || format!("must be between {} and {}", spec.min(), spec.max());
    let value = match number.as_i64() {
        Some(value) => value,
        // An integer beyond i64 is whole but far out of any range we allow.
        None if number.is_u64() => return Err(range()),
        None => return Err("must be a whole number".to_owned()),
    };
    if value < spec.min() || value > spec.max() {
        return Err(range());
    }
    // i128: `value − min` can exceed i64 when min is very negative and value very positive.
    if (i128::from(value) - i128::from(spec.min())) % i128::from(spec.step()) != 0 {
        return Err(format!("must be a multiple of {} from {}", spec.step(), spec.min()));
    }
    Ok(Some(CustomizationValue::Number(value)))
}

/// What one option with its (already valid) value adds to one unit.
fn option_price(option: &ProductOption, value: &CustomizationValue, base: Money) -> Result<Money, Error> {
    let mut price = match option.price_modifier {
        Some(modifier) => modifier.per_unit(base)?,
        None => Money::zero(base.currency),
    };
    let per = |amount: i64, count: i64| Money::new(amount, base.currency)?.checked_mul(count);
    match (&option.kind, value) {
        (OptionKind::Text(spec), CustomizationValue::Text(text)) => {
            if let Some(per_char) = spec.price_per_char {
                let chars =
                    i64::try_from(text.chars().count()).map_err(|_| Error::bad_request("amount is out of range"))?;
                price = price.checked_add(per(per_char.get(), chars)?)?;
            }
        }
        (OptionKind::Choice(spec), CustomizationValue::Text(id)) => {
            price = price.checked_add(choice_price(spec, id, base)?)?;
        }
        (OptionKind::Choice(spec), CustomizationValue::List(ids)) => {
            for id in ids {
                price = price.checked_add(choice_price(spec, id, base)?)?;
            }
        }
        (OptionKind::Number(spec), CustomizationValue::Number(n)) => {
            if let Some(per_unit) = spec.price_per_unit() {
                price = price.checked_add(per(per_unit.get(), *n)?)?;
            }
        }
        // Images carry only the option's own modifier; `read_value` pairs every other kind with
        // the value shape matched above.
        _ => {}
    }
    Ok(price)
}

fn choice_price(spec: &ChoiceSpec, id: &str, base: Money) -> Result<Money, Error> {
    match spec.find(id).and_then(|c| c.price_modifier) {
        Some(modifier) => modifier.per_unit(base),
        None => Ok(Money::zero(base.currency)),
    }
}

/// Whether `text` is acceptable for an option restricted to `allowed`; absent means any
/// printable text, that is no control characters.
fn text_permitted(allowed: Option<TextAllowed>, text: &str) -> bool {
    match allowed {
        Some(allowed) => text.chars().all(|c| allowed.permits(c)),
        None => !text.chars().any(char::is_control),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::options::{OptionDraft, parse_options};
    use crate::money::MAX_AMOUNT;
    use crate::{ChoiceId, Currency, OptionId};

    fn inr(amount: i64) -> Money {
        Money::new(amount, Currency::parse("INR").unwrap()).unwrap()
    }

    fn options(value: Value) -> Vec<ProductOption> {
        parse_options(serde_json::from_value::<Vec<OptionDraft>>(value).unwrap()).unwrap()
    }

    fn values(pairs: &[(&OptionId, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(id, v)| (id.as_str().to_owned(), v.clone())).collect()
    }

    fn no_images(_: &str) -> bool {
        false
    }

    fn choice_ids(option: &ProductOption) -> Vec<ChoiceId> {
        match &option.kind {
            OptionKind::Choice(spec) => spec.choices().iter().map(|c| c.id.clone()).collect(),
            _ => Vec::new(),
        }
    }

    fn problems(err: Error) -> BTreeMap<String, String> {
        assert_eq!(err.status(), 400);
        err.details.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect()
    }

    #[test]
    fn no_options_no_values_is_the_base_price() {
        let price = price_unit(inr(129_900), &[], &BTreeMap::new(), &no_images).unwrap();
        assert_eq!((price.base.amount, price.customization.amount, price.unit.amount), (129_900, 0, 129_900));
        assert!(price.values.is_empty());
    }

    #[test]
    fn every_kind_adds_its_price() {
        let opts = options(json!([
            {"name": "Engraving", "kind": "text", "max_length": 20, "price_per_char": 10,
             "price_modifier": {"type": "fixed", "amount": 500}},
            {"name": "Colour", "kind": "choice", "price_modifier": {"type": "percent", "bps": 1000}, "choices": [
                {"label": "Red"}, {"label": "Gold", "price_modifier": {"type": "fixed", "amount": 250}}]},
            {"name": "Extras", "kind": "choice", "multi": true, "choices": [
                {"label": "Box", "price_modifier": {"type": "fixed", "amount": 100}},
                {"label": "Card", "price_modifier": {"type": "percent", "bps": 50}}]},
            {"name": "Size", "kind": "number", "min": 1, "max": 10, "price_per_unit": 30},
            {"name": "Photo", "kind": "image", "price_modifier": {"type": "fixed", "amount": 1000}}
        ]));
        let gold = &choice_ids(&opts[1])[1];
        let extras = choice_ids(&opts[2]);
        let given = values(&[
            (&opts[0].id, json!("  Asha é ")),
            (&opts[1].id, json!(gold.as_str())),
            (&opts[2].id, json!([extras[0].as_str(), extras[1].as_str()])),
            (&opts[3].id, json!(4)),
            (&opts[4].id, json!("uploads/usr_1/a.png")),
        ]);
        let price = price_unit(inr(10_050), &opts, &given, &|key| key.starts_with("uploads/usr_1/")).unwrap();
        // text: 500 + 6 chars × 10 = 560; colour: 10 % of 10050 = 1005 + 250; extras: 100 +
        // 0.5 % of 10050 = 50.25 → 50; size: 4 × 30; photo 1000.
        let expected = 560 + 1005 + 250 + 100 + 50 + 120 + 1000;
        assert_eq!(price.customization.amount, expected);
        assert_eq!(price.unit.amount, 10_050 + expected);
        assert_eq!(price.values[opts[0].id.as_str()], CustomizationValue::Text("Asha é".to_owned()));
        assert_eq!(
            serde_json::to_value(&price.values).unwrap(),
            json!({
                opts[0].id.as_str(): "Asha é",
                opts[1].id.as_str(): gold.as_str(),
                opts[2].id.as_str(): [extras[0].as_str(), extras[1].as_str()],
                opts[3].id.as_str(): 4,
                opts[4].id.as_str(): "uploads/usr_1/a.png",
            })
        );
        let back: BTreeMap<String, CustomizationValue> =
            serde_json::from_value(serde_json::to_value(&price.values).unwrap()).unwrap();
        assert_eq!(back, price.values);
    }

    #[test]
    fn percent_modifiers_are_of_the_base_and_round_half_even_per_unit() {
        let opts = options(json!([
            {"name": "A", "kind": "image", "price_modifier": {"type": "percent", "bps": 250}},
            {"name": "B", "kind": "image", "price_modifier": {"type": "percent", "bps": 250}}
        ]));
        let given = values(&[(&opts[0].id, json!("k")), (&opts[1].id, json!("k"))]);
        // 2.5 % of 100 = 2.5 → 2 each (never 5 from rounding the sum, never compounding).
        let price = price_unit(inr(100), &opts, &given, &|_| true).unwrap();
        assert_eq!(price.customization.amount, 4);
        // 2.5 % of 140 = 3.5 → 4 each.
        assert_eq!(price_unit(inr(140), &opts, &given, &|_| true).unwrap().customization.amount, 8);
    }

    #[test]
    fn text_rules() {
        let opts = options(json!([
            {"name": "A", "kind": "text", "max_length": 5, "allowed": "alphanumeric"},
            {"name": "L", "kind": "text", "max_length": 5, "allowed": "letters"},
            {"name": "D", "kind": "text", "max_length": 5, "allowed": "digits"},
            {"name": "Any", "kind": "text", "max_length": 5}
        ]));
        let check = |i: usize, v: Value| -> Result<UnitPrice, Error> {
            price_unit(inr(1), &opts, &values(&[(&opts[i].id, v)]), &no_images)
        };
        let problem = |i: usize, v: Value| problems(check(i, v).unwrap_err())[&field(opts[i].id.as_str())].clone();
        // Length counts characters, not bytes.
        assert!(check(0, json!("éééé5")).is_ok());
        assert_eq!(problem(0, json!("abcdef")), "is longer than 5 characters");
        assert!(check(0, json!("a1 b")).is_ok());
        assert!(check(0, json!("名前")).is_ok());
        assert_eq!(problem(0, json!("a-b")), "may contain only letters and digits");
        assert!(check(1, json!("Ab cd")).is_ok());
        assert_eq!(problem(1, json!("ab1")), "may contain only letters");
        assert!(check(2, json!("0123")).is_ok());
        assert_eq!(problem(2, json!("12 3")), "may contain only digits");
        // Other scripts' digits are not ASCII digits.
        assert_eq!(problem(2, json!("١٢")), "may contain only digits");
        assert!(check(3, json!("a-b!?")).is_ok());
        assert_eq!(problem(3, json!("a\u{7}b")), "must not contain control characters");
        assert_eq!(problem(3, json!(5)), "must be text");
        assert!(text_permitted(None, "ok!"));
        assert!(!text_permitted(Some(TextAllowed::Digits), "1a"));
    }

    #[test]
    fn empty_values_count_as_not_given() {
        let opts = options(json!([
            {"name": "T", "kind": "text", "max_length": 5, "required": true, "price_modifier": {"type": "fixed", "amount": 9}},
            {"name": "M", "kind": "choice", "multi": true, "required": true, "choices": [{"label": "x"}]},
            {"name": "I", "kind": "image", "required": true},
            {"name": "C", "kind": "choice", "required": true, "choices": [{"label": "x"}]},
            {"name": "N", "kind": "number", "min": 0, "max": 3, "required": true}
        ]));
        let given = values(&[
            (&opts[0].id, json!("   ")),
            (&opts[1].id, json!([])),
            (&opts[2].id, json!("")),
            (&opts[3].id, json!("")),
            (&opts[4].id, Value::Null),
        ]);
        let found = problems(price_unit(inr(1), &opts, &given, &|_| true).unwrap_err());
        assert_eq!(found.len(), 5);
        assert!(found.values().all(|p| p == "is required"));
        // The same values for optional options: nothing is charged, nothing is stored.
        let optional: Vec<ProductOption> = opts.into_iter().map(|o| ProductOption { required: false, ..o }).collect();
        let price = price_unit(inr(1), &optional, &given, &|_| true).unwrap();
        assert_eq!(price.customization.amount, 0);
        assert!(price.values.is_empty());
    }

    #[test]
    fn choice_rules() {
        let opts = options(json!([
            {"name": "One", "kind": "choice", "choices": [{"label": "a"}, {"label": "b"}]},
            {"name": "Many", "kind": "choice", "multi": true, "choices": [{"label": "a"}, {"label": "b"}]}
        ]));
        let one = choice_ids(&opts[0]);
        let many = choice_ids(&opts[1]);
        let problem = |i: usize, v: Value| {
            problems(price_unit(inr(1), &opts, &values(&[(&opts[i].id, v)]), &no_images).unwrap_err())
                [&field(opts[i].id.as_str())]
                .clone()
        };
        assert_eq!(problem(0, json!(ChoiceId::generate().as_str())), "is not one of the choices");
        // A choice of another option is not a choice of this one.
        assert_eq!(problem(0, json!(many[0].as_str())), "is not one of the choices");
        assert_eq!(problem(0, json!([one[0].as_str()])), "must be one choice id");
        assert_eq!(problem(1, json!(many[0].as_str())), "must be a list of choice ids");
        assert_eq!(problem(1, json!([many[0].as_str(), 3])), "must be a list of choice ids");
        assert_eq!(problem(1, json!([many[0].as_str(), many[0].as_str()])), "must not repeat a choice");
        assert_eq!(problem(1, json!([one[0].as_str()])), "is not one of the choices");
        let ok = values(&[
            (&opts[0].id, json!(one[1].as_str())),
            (&opts[1].id, json!([many[1].as_str(), many[0].as_str()])),
        ]);
        let price = price_unit(inr(1), &opts, &ok, &no_images).unwrap();
        assert_eq!(
            price.values[opts[1].id.as_str()],
            CustomizationValue::List(vec![many[1].as_str().to_owned(), many[0].as_str().to_owned()])
        );
    }

    #[test]
    fn number_rules() {
        let opts =
            options(json!([{"name": "N", "kind": "number", "min": 1, "max": 10, "step": 2, "price_per_unit": 7}]));
        let check = |v: Value| price_unit(inr(1), &opts, &values(&[(&opts[0].id, v)]), &no_images);
        let problem = |v: Value| problems(check(v).unwrap_err())[&field(opts[0].id.as_str())].clone();
        assert_eq!(check(json!(9)).unwrap().customization.amount, 63);
        assert_eq!(check(json!(1)).unwrap().customization.amount, 7);
        assert_eq!(problem(json!(0)), "must be between 1 and 10");
        assert_eq!(problem(json!(11)), "must be between 1 and 10");
        assert_eq!(problem(json!(u64::MAX)), "must be between 1 and 10");
        assert_eq!(problem(json!(-5)), "must be between 1 and 10");
        assert_eq!(problem(json!(4)), "must be a multiple of 2 from 1");
        assert_eq!(problem(json!(2.5)), "must be a whole number");
        assert_eq!(problem(json!(3.0)), "must be a whole number");
        assert_eq!(problem(json!("3")), "must be a whole number");
        // Step from a negative min, range far apart: no overflow.
        let wide = options(
            json!([{"name": "W", "kind": "number", "min": -1_000_000_000_000_000i64, "max": 1_000_000_000_000_000i64, "step": 3}]),
        );
        let at = |v: i64| price_unit(inr(1), &wide, &values(&[(&wide[0].id, json!(v))]), &no_images);
        assert!(at(1_000_000_000_000_000 - 2).is_ok());
        assert!(at(1_000_000_000_000_000).is_err());
        assert!(at(-1_000_000_000_000_000).is_ok());
    }

    #[test]
    fn image_rules() {
        let opts =
            options(json!([{"name": "Photo", "kind": "image", "price_modifier": {"type": "fixed", "amount": 300}}]));
        let mine = |key: &str| key == "uploads/mine.png";
        let check = |v: Value| price_unit(inr(1), &opts, &values(&[(&opts[0].id, v)]), &mine);
        assert_eq!(check(json!("uploads/mine.png")).unwrap().customization.amount, 300);
        let problem = |v: Value| problems(check(v).unwrap_err())[&field(opts[0].id.as_str())].clone();
        assert_eq!(problem(json!("uploads/theirs.png")), "is not an image you uploaded");
        assert_eq!(problem(json!(["uploads/mine.png"])), "must be an image key");
    }

    #[test]
    fn unknown_options_and_every_problem_at_once() {
        let opts = options(json!([
            {"name": "T", "kind": "text", "max_length": 2, "required": true},
            {"name": "N", "kind": "number", "min": 1, "max": 3},
            {"name": "I", "kind": "image", "required": true}
        ]));
        let stranger = OptionId::generate();
        let given = values(&[(&opts[1].id, json!(9)), (&stranger, json!("x"))]);
        let err = price_unit(inr(1), &opts, &given, &no_images).unwrap_err();
        assert_eq!(err.code.as_str(), "validation_failed");
        let found = problems(err);
        assert_eq!(found[&field(opts[0].id.as_str())], "is required");
        assert_eq!(found[&field(opts[1].id.as_str())], "must be between 1 and 3");
        assert_eq!(found[&field(opts[2].id.as_str())], "is required");
        assert_eq!(found[&field(stranger.as_str())], "is not an option of this product");
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn overflow_is_a_400_not_a_wrap() {
        let opts = options(json!([
            {"name": "N", "kind": "number", "min": 0, "max": 1_000_000_000_000_000i64, "price_per_unit": 1_000_000_000_000_000i64},
            {"name": "P", "kind": "image", "price_modifier": {"type": "percent", "bps": 100_000}},
            {"name": "F", "kind": "image", "price_modifier": {"type": "fixed", "amount": MAX_AMOUNT}}
        ]));
        let err = price_unit(inr(1), &opts, &values(&[(&opts[0].id, json!(1_000_000_000_000_000i64))]), &no_images)
            .unwrap_err();
        assert_eq!(problems(err)[&field(opts[0].id.as_str())], "makes the price too large");
        // 1000 % of the largest base price is out of range.
        let err = price_unit(inr(MAX_AMOUNT), &opts, &values(&[(&opts[1].id, json!("k"))]), &|_| true).unwrap_err();
        assert_eq!(err.status(), 400);
        // Each part in range, the sum out of range: still a 400.
        let err = price_unit(inr(1), &opts, &values(&[(&opts[2].id, json!("k"))]), &|_| true).unwrap_err();
        assert_eq!((err.status(), err.message.as_str()), (400, "amount is out of range"));
        // A corrupt base price is refused, not used.
        let corrupt = Money { amount: i64::MAX, currency: Currency::parse("INR").unwrap() };
        assert_eq!(price_unit(corrupt, &[], &BTreeMap::new(), &no_images).unwrap_err().status(), 400);
        let negative = Money { amount: -1, currency: Currency::parse("INR").unwrap() };
        assert_eq!(price_unit(negative, &[], &BTreeMap::new(), &no_images).unwrap_err().status(), 400);
    }
}
