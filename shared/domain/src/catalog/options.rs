//! A product's customisation options: what a seller sends ([`OptionDraft`]), how it is checked
//! ([`parse_options`]), and the validated shape stored on the product ([`ProductOption`]).
//!
//! The validated types cannot hold a bad value: amounts, basis points and lengths are range
//! checked newtypes, and the kinds with rules across fields ([`ChoiceSpec`], [`NumberSpec`]) keep
//! their fields private and re-check them when read back from storage. So the pricing code can
//! rely on `step ≥ 1`, `min ≤ max` and unique choice ids without checking again.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rounding::mul_bps_half_even;
use crate::money::MAX_AMOUNT;
use crate::text::BoundedText;
use crate::{ChoiceId, Error, FieldErrors, Money, OptionId};

/// At most this many options per product.
pub const MAX_OPTIONS: usize = 50;
/// A choice option has from 1 to this many choices.
pub const MAX_CHOICES: usize = 100;
/// The longest text option a seller may offer, in characters.
pub const MAX_TEXT_LENGTH: u16 = 1000;
/// The largest percent modifier: 1000 % of the base price.
pub const MAX_MODIFIER_BPS: u32 = 100_000;
/// Bounds of a number option's `min` and `max`. JavaScript clients hold integers exactly only
/// up to 2^53 (about 9 × 10^15), so larger bounds would not survive a round trip through them.
pub const MAX_NUMBER: i64 = 1_000_000_000_000_000;

/// An option's name as shown to customers: 1–100 characters, trimmed.
pub type OptionName = BoundedText<1, 100>;
/// A choice's label: 1–100 characters, trimmed.
pub type ChoiceLabel = BoundedText<1, 100>;

/// The first problem of a validation error, as one sentence (for `TryFrom` errors, which serde
/// reports as plain strings).
fn describe(err: &Error) -> String {
    if err.details.is_empty() {
        return err.message.clone();
    }
    err.details
        .iter()
        .map(|(field, problem)| format!("{field} {}", problem.as_str().unwrap_or("is invalid")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A non-negative amount in minor units of the product's currency, at most
/// [`MAX_AMOUNT`]. The currency is the product's, so it is not repeated here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct MinorUnits(i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    pub fn new(amount: i64) -> Result<Self, Error> {
        if amount < 0 {
            Err(Error::bad_request("must not be negative"))
        } else if amount > MAX_AMOUNT {
            Err(Error::bad_request(format!("must be at most {MAX_AMOUNT}")))
        } else {
            Ok(MinorUnits(amount))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for MinorUnits {
    type Error = String;
    fn try_from(amount: i64) -> Result<Self, String> {
        Self::new(amount).map_err(|e| e.message)
    }
}

impl From<MinorUnits> for i64 {
    fn from(m: MinorUnits) -> i64 {
        m.0
    }
}

/// Basis points of a percent modifier: 0 to [`MAX_MODIFIER_BPS`] (0 % to 1000 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct ModifierBps(u32);

impl ModifierBps {
    pub fn new(bps: i64) -> Result<Self, Error> {
        match u32::try_from(bps) {
            Ok(bps) if bps <= MAX_MODIFIER_BPS => Ok(ModifierBps(bps)),
            _ => Err(Error::bad_request(format!("must be from 0 to {MAX_MODIFIER_BPS} basis points"))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for ModifierBps {
    type Error = String;
    fn try_from(bps: i64) -> Result<Self, String> {
        Self::new(bps).map_err(|e| e.message)
    }
}

impl From<ModifierBps> for u32 {
    fn from(b: ModifierBps) -> u32 {
        b.0
    }
}

/// The most characters a text option accepts: 1 to [`MAX_TEXT_LENGTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct MaxLength(u16);

impl MaxLength {
    pub fn new(chars: i64) -> Result<Self, Error> {
        match u16::try_from(chars) {
            Ok(n) if (1..=MAX_TEXT_LENGTH).contains(&n) => Ok(MaxLength(n)),
            _ => Err(Error::bad_request(format!("must be from 1 to {MAX_TEXT_LENGTH}"))),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl TryFrom<i64> for MaxLength {
    type Error = String;
    fn try_from(chars: i64) -> Result<Self, String> {
        Self::new(chars).map_err(|e| e.message)
    }
}

impl From<MaxLength> for u16 {
    fn from(m: MaxLength) -> u16 {
        m.0
    }
}

/// What an option (or a choice) adds to the unit price: `{"type": "fixed", "amount": 500}`
/// (minor units of the product's currency) or `{"type": "percent", "bps": 1000}` (basis points
/// of the product's base price).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceModifier {
    Fixed { amount: MinorUnits },
    Percent { bps: ModifierBps },
}

impl PriceModifier {
    /// The amount this modifier adds to one unit whose base price is `base`. A percent is of
    /// the base price (never of other modifiers, so the order of options does not matter),
    /// rounded half to even to a whole minor unit, per unit.
    pub fn per_unit(self, base: Money) -> Result<Money, Error> {
        let amount = match self {
            PriceModifier::Fixed { amount } => amount.get(),
            PriceModifier::Percent { bps } => mul_bps_half_even(base.amount, bps.get())?,
        };
        Money::new(amount, base.currency)
    }
}

/// Which characters a text option accepts; absent means any printable text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextAllowed {
    /// Letters and digits of any script (`char::is_alphanumeric`) and the plain space.
    Alphanumeric,
    /// Letters of any script (`char::is_alphabetic`) and the plain space.
    Letters,
    /// ASCII digits 0–9 only: digit-only fields are codes and numbers, where other scripts'
    /// digits would only cause trouble downstream.
    Digits,
}

impl TextAllowed {
    pub fn permits(self, c: char) -> bool {
        match self {
            TextAllowed::Alphanumeric => c.is_alphanumeric() || c == ' ',
            TextAllowed::Letters => c.is_alphabetic() || c == ' ',
            TextAllowed::Digits => c.is_ascii_digit(),
        }
    }

    /// What to tell a customer whose text has another character.
    pub fn problem(self) -> &'static str {
        match self {
            TextAllowed::Alphanumeric => "may contain only letters and digits",
            TextAllowed::Letters => "may contain only letters",
            TextAllowed::Digits => "may contain only digits",
        }
    }
}

/// A text option: up to `max_length` characters, optionally restricted, optionally priced per
/// character.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TextSpec {
    pub max_length: MaxLength,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<TextAllowed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_char: Option<MinorUnits>,
}

/// One choice of a choice option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    pub id: ChoiceId,
    pub label: ChoiceLabel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_modifier: Option<PriceModifier>,
}

/// A choice option: 1 to [`MAX_CHOICES`] choices with unique ids; `multi` lets a customer pick
/// several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "ChoiceSpecFields")]
pub struct ChoiceSpec {
    choices: Vec<Choice>,
    multi: bool,
}

#[derive(Deserialize)]
struct ChoiceSpecFields {
    choices: Vec<Choice>,
    #[serde(default)]
    multi: bool,
}

impl TryFrom<ChoiceSpecFields> for ChoiceSpec {
    type Error = String;
    fn try_from(f: ChoiceSpecFields) -> Result<Self, String> {
        ChoiceSpec::new(f.choices, f.multi).map_err(|e| describe(&e))
    }
}

impl ChoiceSpec {
    /// Fails with field errors named `choices` (count) and `choices[i].id` (a repeated id).
    pub fn new(choices: Vec<Choice>, multi: bool) -> Result<Self, Error> {
        let mut problems = FieldErrors::new();
        if choices.is_empty() || choices.len() > MAX_CHOICES {
            problems.insert("choices".to_owned(), format!("must have from 1 to {MAX_CHOICES} choices"));
        }
        let mut seen = BTreeSet::new();
        for (i, choice) in choices.iter().enumerate() {
            if !seen.insert(&choice.id) {
                problems.insert(format!("choices[{i}].id"), "is used by another choice".to_owned());
            }
        }
        if problems.is_empty() { Ok(ChoiceSpec { choices, multi }) } else { Err(Error::invalid_fields(problems)) }
    }

    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    pub fn multi(&self) -> bool {
        self.multi
    }

    pub fn find(&self, id: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.id.as_str() == id)
    }
}

/// A number option: an integer from `min` to `max` reached from `min` in steps of `step`,
/// optionally priced per unit of the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "NumberSpecFields")]
pub struct NumberSpec {
    min: i64,
    max: i64,
    step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    price_per_unit: Option<MinorUnits>,
}

#[derive(Deserialize)]
struct NumberSpecFields {
    min: i64,
    max: i64,
    #[serde(default = "one")]
    step: i64,
    #[serde(default)]
    price_per_unit: Option<MinorUnits>,
}

fn one() -> i64 {
    1
}

impl TryFrom<NumberSpecFields> for NumberSpec {
    type Error = String;
    fn try_from(f: NumberSpecFields) -> Result<Self, String> {
        NumberSpec::new(f.min, f.max, f.step, f.price_per_unit).map_err(|e| describe(&e))
    }
}

/// The problems of a number option's fields; `min`/`max` are `None` when the seller left them
/// out (reported elsewhere), so the other fields are still checked.
fn number_problems(min: Option<i64>, max: Option<i64>, step: i64, price_per_unit: Option<MinorUnits>) -> FieldErrors {
    let mut problems = FieldErrors::new();
    let bound = |v: i64| v.unsigned_abs() <= MAX_NUMBER.unsigned_abs();
    let bound_problem = format!("must be from -{MAX_NUMBER} to {MAX_NUMBER}");
    for (field, value) in [("min", min), ("max", max)] {
        if value.is_some_and(|v| !bound(v)) {
            problems.insert(field.to_owned(), bound_problem.clone());
        }
    }
    if let (Some(min), Some(max)) = (min, max)
        && bound(min)
        && bound(max)
        && min > max
    {
        problems.insert("max".to_owned(), "must not be less than min".to_owned());
    }
    if !(1..=MAX_NUMBER).contains(&step) {
        problems.insert("step".to_owned(), format!("must be from 1 to {MAX_NUMBER}"));
    }
    // A negative value times a price per unit would lower the price below the base: refuse the
    // option rather than let a customer buy a discount.
    if price_per_unit.is_some_and(|p| p.get() > 0) && min.is_some_and(|m| m < 0) {
        problems
            .entry("min".to_owned())
            .or_insert_with(|| "must not be negative when there is a price per unit".to_owned());
    }
    problems
}

impl NumberSpec {
    /// Fails with field errors named `min`, `max` or `step`.
    pub fn new(min: i64, max: i64, step: i64, price_per_unit: Option<MinorUnits>) -> Result<Self, Error> {
        let problems = number_problems(Some(min), Some(max), step, price_per_unit);
        if problems.is_empty() {
            Ok(NumberSpec { min, max, step, price_per_unit })
        } else {
            Err(Error::invalid_fields(problems))
        }
    }

    pub fn min(&self) -> i64 {
        self.min
    }

    pub fn max(&self) -> i64 {
        self.max
    }

    /// At least 1.
    pub fn step(&self) -> i64 {
        self.step
    }

    pub fn price_per_unit(&self) -> Option<MinorUnits> {
        self.price_per_unit
    }
}

/// The kind of an option with its kind's fields, serialised flat beside the option's own
/// fields: `{"kind": "number", "min": 1, "max": 10, "step": 1, ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptionKind {
    Text(TextSpec),
    Choice(ChoiceSpec),
    Number(NumberSpec),
    /// The value is an object key of an image the customer uploaded.
    Image,
}

impl OptionKind {
    pub fn name(&self) -> OptionKindName {
        match self {
            OptionKind::Text(_) => OptionKindName::Text,
            OptionKind::Choice(_) => OptionKindName::Choice,
            OptionKind::Number(_) => OptionKindName::Number,
            OptionKind::Image => OptionKindName::Image,
        }
    }
}

/// A customisation option of a product, as stored and as shown (contract: `{id, name, kind,
/// required, price_modifier?}` plus the kind's fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductOption {
    pub id: OptionId,
    pub name: OptionName,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_modifier: Option<PriceModifier>,
    #[serde(flatten)]
    pub kind: OptionKind,
}

/// The `kind` of an option, without its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptionKindName {
    Text,
    Choice,
    Number,
    Image,
}

impl OptionKindName {
    /// The fields that belong to this kind; any other kind field sent with it is refused, so a
    /// seller who sends `choices` on a text option learns of the mistake instead of losing data.
    fn own_fields(self) -> &'static [&'static str] {
        match self {
            OptionKindName::Text => &["max_length", "allowed", "price_per_char"],
            OptionKindName::Choice => &["choices", "multi"],
            OptionKindName::Number => &["min", "max", "step", "price_per_unit"],
            OptionKindName::Image => &[],
        }
    }
}

impl fmt::Display for OptionKindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptionKindName::Text => "text",
            OptionKindName::Choice => "choice",
            OptionKindName::Number => "number",
            OptionKindName::Image => "image",
        })
    }
}

/// A price modifier as a seller sends it: numbers not yet range checked, so that
/// [`parse_options`] can name every bad one instead of failing on the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceModifierDraft {
    Fixed { amount: i64 },
    Percent { bps: i64 },
}

/// A choice as a seller sends it; `id` is assigned when absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_modifier: Option<PriceModifierDraft>,
}

/// An option as a seller sends it (create or edit a product). Flat, like [`ProductOption`]: the
/// kind's fields sit beside the option's own, every kind field optional here so that
/// [`parse_options`] can say which are missing and which do not belong to the kind.
/// `id` is assigned when absent and kept when given; `required` and `multi` default to `false`
/// and `step` to 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub kind: OptionKindName,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_modifier: Option<PriceModifierDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<TextAllowed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_char: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<ChoiceDraft>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_unit: Option<i64>,
}

impl OptionDraft {
    /// A draft with only the option's own fields set; handy for building drafts in code.
    pub fn new(name: &str, kind: OptionKindName) -> Self {
        OptionDraft {
            id: None,
            name: name.to_owned(),
            kind,
            required: false,
            price_modifier: None,
            max_length: None,
            allowed: None,
            price_per_char: None,
            choices: None,
            multi: None,
            min: None,
            max: None,
            step: None,
            price_per_unit: None,
        }
    }

    /// Which kind fields the seller sent, by their JSON names.
    fn sent_kind_fields(&self) -> [(&'static str, bool); 9] {
        [
            ("max_length", self.max_length.is_some()),
            ("allowed", self.allowed.is_some()),
            ("price_per_char", self.price_per_char.is_some()),
            ("choices", self.choices.is_some()),
            ("multi", self.multi.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("step", self.step.is_some()),
            ("price_per_unit", self.price_per_unit.is_some()),
        ]
    }
}

/// Problems found while parsing, each under a path such as `options[2].choices[0].label`.
struct Problems<'a> {
    at: String,
    fields: &'a mut FieldErrors,
}

impl Problems<'_> {
    fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.at)
    }

    /// The first problem found for a field is the one reported.
    fn add(&mut self, field: &str, problem: impl Into<String>) {
        let path = self.path(field);
        self.fields.entry(path).or_insert_with(|| problem.into());
    }

    fn check<T>(&mut self, field: &str, parsed: Result<T, Error>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                let problem =
                    err.details.values().next().and_then(Value::as_str).map(str::to_owned).unwrap_or(err.message);
                self.add(field, problem);
                None
            }
        }
    }

    /// Takes the field errors of a nested check, keyed relative to this path.
    fn merge(&mut self, relative: FieldErrors) {
        for (field, problem) in relative {
            self.add(&field, problem);
        }
    }

    fn nested(&mut self, field: &str) -> Problems<'_> {
        Problems { at: self.path(field), fields: self.fields }
    }
}

fn parse_modifier(draft: PriceModifierDraft, problems: &mut Problems<'_>) -> Option<PriceModifier> {
    match draft {
        PriceModifierDraft::Fixed { amount } => {
            problems.check("amount", MinorUnits::new(amount)).map(|amount| PriceModifier::Fixed { amount })
        }
        PriceModifierDraft::Percent { bps } => {
            problems.check("bps", ModifierBps::new(bps)).map(|bps| PriceModifier::Percent { bps })
        }
    }
}

/// `Some(None)` when there is no modifier, `None` when the one given is bad.
fn parse_optional_modifier(
    draft: Option<PriceModifierDraft>,
    problems: &mut Problems<'_>,
) -> Option<Option<PriceModifier>> {
    match draft {
        None => Some(None),
        Some(draft) => parse_modifier(draft, &mut problems.nested("price_modifier")).map(Some),
    }
}

fn parse_optional_minor_units(
    raw: Option<i64>,
    field: &str,
    problems: &mut Problems<'_>,
) -> Option<Option<MinorUnits>> {
    match raw {
        None => Some(None),
        Some(amount) => problems.check(field, MinorUnits::new(amount)).map(Some),
    }
}

fn parse_choices(drafts: Vec<ChoiceDraft>, multi: bool, problems: &mut Problems<'_>) -> Option<ChoiceSpec> {
    if drafts.is_empty() || drafts.len() > MAX_CHOICES {
        problems.add("choices", format!("must have from 1 to {MAX_CHOICES} choices"));
    }
    let mut seen = BTreeSet::new();
    let mut choices = Vec::with_capacity(drafts.len());
    let mut all_good = true;
    for (i, draft) in drafts.into_iter().enumerate() {
        let mut at = problems.nested(&format!("choices[{i}]"));
        let id = match draft.id {
            None => Some(ChoiceId::generate()),
            Some(raw) => {
                at.check("id", ChoiceId::parse(&raw).map_err(|_| Error::bad_request("is not a valid choice id")))
            }
        };
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            at.add("id", "is used by another choice");
        }
        let label = at.check("label", ChoiceLabel::parse(&draft.label));
        let price_modifier = parse_optional_modifier(draft.price_modifier, &mut at);
        match (id, label, price_modifier) {
            (Some(id), Some(label), Some(price_modifier)) => choices.push(Choice { id, label, price_modifier }),
            _ => all_good = false,
        }
    }
    if !all_good {
        return None;
    }
    match ChoiceSpec::new(choices, multi) {
        Ok(spec) => Some(spec),
        Err(err) => {
            problems.merge(
                err.details.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or("is invalid").to_owned())).collect(),
            );
            None
        }
    }
}

fn parse_kind(draft: &mut OptionDraft, problems: &mut Problems<'_>) -> Option<OptionKind> {
    let kind = draft.kind;
    let own = kind.own_fields();
    for (field, sent) in draft.sent_kind_fields() {
        if sent && !own.contains(&field) {
            problems.add(field, format!("is not a field of {kind} options"));
        }
    }
    match kind {
        OptionKindName::Text => {
            let max_length = match draft.max_length {
                None => {
                    problems.add("max_length", "is required");
                    None
                }
                Some(n) => problems.check("max_length", MaxLength::new(n)),
            };
            let price_per_char = parse_optional_minor_units(draft.price_per_char, "price_per_char", problems);
            Some(OptionKind::Text(TextSpec {
                max_length: max_length?,
                allowed: draft.allowed,
                price_per_char: price_per_char?,
            }))
        }
        OptionKindName::Choice => match draft.choices.take() {
            None => {
                problems.add("choices", "is required");
                None
            }
            Some(choices) => parse_choices(choices, draft.multi.unwrap_or(false), problems).map(OptionKind::Choice),
        },
        OptionKindName::Number => {
            if draft.min.is_none() {
                problems.add("min", "is required");
            }
            if draft.max.is_none() {
                problems.add("max", "is required");
            }
            let price_per_unit = parse_optional_minor_units(draft.price_per_unit, "price_per_unit", problems);
            let step = draft.step.unwrap_or(1);
            let found = number_problems(draft.min, draft.max, step, price_per_unit.flatten());
            let good = found.is_empty();
            problems.merge(found);
            match (draft.min, draft.max, price_per_unit, good) {
                (Some(min), Some(max), Some(price_per_unit), true) => {
                    Some(OptionKind::Number(NumberSpec { min, max, step, price_per_unit }))
                }
                _ => None,
            }
        }
        OptionKindName::Image => Some(OptionKind::Image),
    }
}

fn parse_option(
    mut draft: OptionDraft,
    seen: &mut BTreeSet<OptionId>,
    problems: &mut Problems<'_>,
) -> Option<ProductOption> {
    let id = match draft.id.take() {
        None => Some(OptionId::generate()),
        Some(raw) => {
            problems.check("id", OptionId::parse(&raw).map_err(|_| Error::bad_request("is not a valid option id")))
        }
    };
    if let Some(id) = &id
        && !seen.insert(id.clone())
    {
        problems.add("id", "is used by another option");
    }
    let name = problems.check("name", OptionName::parse(&draft.name));
    let price_modifier = parse_optional_modifier(draft.price_modifier.take(), problems);
    let kind = parse_kind(&mut draft, problems);
    Some(ProductOption { id: id?, name: name?, required: draft.required, price_modifier: price_modifier?, kind: kind? })
}

/// Checks a seller's options and assigns the missing option and choice ids (given valid ids are
/// kept, so editing a product keeps the ids customers' carts refer to).
///
/// Every problem is reported at once in one `validation_failed` error, each under its path:
/// `options` (more than [`MAX_OPTIONS`]), `options[1].id` (malformed or repeated),
/// `options[1].max_length`, `options[2].choices[0].label`, `options[0].price_modifier.bps`, …
pub fn parse_options(drafts: Vec<OptionDraft>) -> Result<Vec<ProductOption>, Error> {
    let mut fields = FieldErrors::new();
    if drafts.len() > MAX_OPTIONS {
        fields.insert("options".to_owned(), format!("must have at most {MAX_OPTIONS} options"));
    }
    let mut seen = BTreeSet::new();
    let mut options = Vec::with_capacity(drafts.len());
    for (i, draft) in drafts.into_iter().enumerate() {
        let mut problems = Problems { at: format!("options[{i}]"), fields: &mut fields };
        if let Some(option) = parse_option(draft, &mut seen, &mut problems) {
            options.push(option);
        }
    }
    if fields.is_empty() { Ok(options) } else { Err(Error::invalid_fields(fields)) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn drafts(value: Value) -> Vec<OptionDraft> {
        serde_json::from_value(value).unwrap()
    }

    fn problems(value: Value) -> FieldErrors {
        let err = parse_options(drafts(value)).unwrap_err();
        assert_eq!(err.status(), 400);
        err.details.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect()
    }

    #[test]
    fn parses_every_kind_and_assigns_ids() {
        let options = parse_options(drafts(json!([
            {"name": " Engraving ", "kind": "text", "required": true, "max_length": 20, "allowed": "alphanumeric",
             "price_per_char": 10, "price_modifier": {"type": "fixed", "amount": 500}},
            {"name": "Colour", "kind": "choice", "choices": [
                {"label": "Red"}, {"label": "Gold", "price_modifier": {"type": "percent", "bps": 1000}}]},
            {"name": "Size", "kind": "number", "min": 1, "max": 10, "step": 3, "price_per_unit": 100},
            {"name": "Photo", "kind": "image"}
        ])))
        .unwrap();
        assert_eq!(options.len(), 4);
        assert_eq!(options[0].name.as_str(), "Engraving");
        assert!(options[0].required);
        assert!(options.iter().all(|o| o.id.as_str().starts_with("opt_")));
        let OptionKind::Choice(colour) = &options[1].kind else { panic!("not a choice") };
        assert!(!colour.multi());
        assert!(colour.choices().iter().all(|c| c.id.as_str().starts_with("chc_")));
        assert_eq!(colour.choices()[1].price_modifier, Some(PriceModifier::Percent { bps: ModifierBps(1000) }));
        let OptionKind::Number(size) = &options[2].kind else { panic!("not a number") };
        assert_eq!((size.min(), size.max(), size.step()), (1, 10, 3));
        assert_eq!(options[3].kind, OptionKind::Image);
    }

    #[test]
    fn keeps_given_ids() {
        let option_id = OptionId::generate();
        let choice_id = ChoiceId::generate();
        let options = parse_options(drafts(json!([
            {"id": option_id.as_str(), "name": "Colour", "kind": "choice", "multi": true,
             "choices": [{"id": choice_id.as_str(), "label": "Red"}]}
        ])))
        .unwrap();
        assert_eq!(options[0].id, option_id);
        let OptionKind::Choice(spec) = &options[0].kind else { panic!("not a choice") };
        assert_eq!(spec.choices()[0].id, choice_id);
        assert!(spec.multi());
    }

    #[test]
    fn serialises_flat_as_in_the_contract_and_reads_back() {
        let options = parse_options(drafts(json!([
            {"name": "Engraving", "kind": "text", "max_length": 20, "allowed": "letters"},
            {"name": "Colour", "kind": "choice", "choices": [{"label": "Red", "price_modifier": {"type": "fixed", "amount": 5}}]},
            {"name": "Size", "kind": "number", "min": 0, "max": 10, "price_per_unit": 100,
             "price_modifier": {"type": "percent", "bps": 250}},
            {"name": "Photo", "kind": "image", "required": true}
        ])))
        .unwrap();
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(
            json[0],
            json!({"id": options[0].id.as_str(), "name": "Engraving", "required": false, "kind": "text",
                   "max_length": 20, "allowed": "letters"})
        );
        assert_eq!(json[1]["kind"], "choice");
        assert_eq!(json[1]["multi"], false);
        assert_eq!(json[1]["choices"][0]["label"], "Red");
        assert_eq!(json[1]["choices"][0]["price_modifier"], json!({"type": "fixed", "amount": 5}));
        assert_eq!(json[2]["price_modifier"], json!({"type": "percent", "bps": 250}));
        assert_eq!(
            (json[2]["min"].clone(), json[2]["max"].clone(), json[2]["step"].clone()),
            (json!(0), json!(10), json!(1))
        );
        assert_eq!(json[2]["price_per_unit"], 100);
        assert_eq!(json[3], json!({"id": options[3].id.as_str(), "name": "Photo", "required": true, "kind": "image"}));
        let back: Vec<ProductOption> = serde_json::from_value(json).unwrap();
        assert_eq!(back, options);
    }

    #[test]
    fn stored_options_are_checked_again_when_read() {
        let id = OptionId::generate();
        let bad_number =
            json!({"id": id.as_str(), "name": "N", "required": false, "kind": "number", "min": 5, "max": 1, "step": 1});
        assert!(serde_json::from_value::<ProductOption>(bad_number).is_err());
        let zero_step =
            json!({"id": id.as_str(), "name": "N", "required": false, "kind": "number", "min": 1, "max": 5, "step": 0});
        assert!(serde_json::from_value::<ProductOption>(zero_step).is_err());
        let choice = ChoiceId::generate();
        let repeated = json!({"id": id.as_str(), "name": "C", "required": false, "kind": "choice", "multi": false,
            "choices": [{"id": choice.as_str(), "label": "A"}, {"id": choice.as_str(), "label": "B"}]});
        assert!(serde_json::from_value::<ProductOption>(repeated).is_err());
        let no_choices =
            json!({"id": id.as_str(), "name": "C", "required": false, "kind": "choice", "multi": false, "choices": []});
        assert!(serde_json::from_value::<ProductOption>(no_choices).is_err());
        let long = json!({"id": id.as_str(), "name": "T", "required": false, "kind": "text", "max_length": 1001});
        assert!(serde_json::from_value::<ProductOption>(long).is_err());
    }

    #[test]
    fn price_modifiers_have_the_contract_shape_and_refuse_unknown_fields() {
        let fixed: PriceModifier = serde_json::from_value(json!({"type": "fixed", "amount": 500})).unwrap();
        assert_eq!(fixed, PriceModifier::Fixed { amount: MinorUnits(500) });
        let percent: PriceModifier = serde_json::from_value(json!({"type": "percent", "bps": 1000})).unwrap();
        assert_eq!(serde_json::to_value(percent).unwrap(), json!({"type": "percent", "bps": 1000}));
        for bad in [
            json!({"type": "fixed", "amount": 500, "extra": 1}),
            json!({"type": "fixed", "amount": -1}),
            json!({"type": "fixed", "amount": MAX_AMOUNT + 1}),
            json!({"type": "percent", "bps": 100_001}),
            json!({"type": "percent", "bps": 1.5}),
            json!({"type": "discount", "bps": 1}),
        ] {
            assert!(serde_json::from_value::<PriceModifier>(bad.clone()).is_err(), "{bad}");
        }
        let bad_draft =
            json!([{"name": "X", "kind": "image", "price_modifier": {"type": "fixed", "amount": 1, "bps": 2}}]);
        assert!(serde_json::from_value::<Vec<OptionDraft>>(bad_draft).is_err());
        let unknown = json!([{"name": "X", "kind": "image", "colour": "red"}]);
        assert!(serde_json::from_value::<Vec<OptionDraft>>(unknown).is_err());
        let unknown_in_choice = json!([{"name": "X", "kind": "choice", "choices": [{"label": "A", "x": 1}]}]);
        assert!(serde_json::from_value::<Vec<OptionDraft>>(unknown_in_choice).is_err());
    }

    #[test]
    fn modifiers_apply_per_unit_with_half_even_rounding() {
        let inr = crate::Currency::parse("INR").unwrap();
        let base = Money::new(125, inr).unwrap();
        let fixed = PriceModifier::Fixed { amount: MinorUnits(500) };
        assert_eq!(fixed.per_unit(base).unwrap().amount, 500);
        // 125 × 2 % = 2.5 → 2 (even); 175 × 2 % = 3.5 → 4.
        let two_percent = PriceModifier::Percent { bps: ModifierBps(200) };
        assert_eq!(two_percent.per_unit(base).unwrap().amount, 2);
        assert_eq!(two_percent.per_unit(Money::new(175, inr).unwrap()).unwrap().amount, 4);
    }

    #[test]
    fn reports_every_bad_field_with_its_path() {
        let found = problems(json!([
            {"name": "", "kind": "text", "max_length": 0, "price_per_char": -1},
            {"name": "Size", "kind": "text", "max_length": 1001, "choices": [], "min": 1},
            {"name": "Colour", "kind": "choice", "choices": [{"label": " "}, {"label": "ok", "price_modifier": {"type": "percent", "bps": -5}}]},
            {"name": "Qty", "kind": "number", "min": 10, "max": 1, "step": 0},
            {"name": "Photo", "kind": "image", "price_modifier": {"type": "fixed", "amount": -3}},
            {"id": "opt_nope", "name": "X", "kind": "choice"},
            {"name": "Y", "kind": "number"}
        ]));
        let expected = [
            ("options[0].name", "must not be empty"),
            ("options[0].max_length", "must be from 1 to 1000"),
            ("options[0].price_per_char", "must not be negative"),
            ("options[1].max_length", "must be from 1 to 1000"),
            ("options[1].choices", "is not a field of text options"),
            ("options[1].min", "is not a field of text options"),
            ("options[2].choices[0].label", "must not be empty"),
            ("options[2].choices[1].price_modifier.bps", "must be from 0 to 100000 basis points"),
            ("options[3].max", "must not be less than min"),
            ("options[3].step", "must be from 1 to 1000000000000000"),
            ("options[4].price_modifier.amount", "must not be negative"),
            ("options[5].id", "is not a valid option id"),
            ("options[5].choices", "is required"),
            ("options[6].min", "is required"),
            ("options[6].max", "is required"),
        ];
        for (field, problem) in expected {
            assert_eq!(found.get(field).map(String::as_str), Some(problem), "{field}: {found:?}");
        }
        assert_eq!(found.len(), expected.len(), "{found:?}");
    }

    #[test]
    fn ids_must_be_unique() {
        let option = OptionId::generate();
        let choice = ChoiceId::generate();
        let found = problems(json!([
            {"id": option.as_str(), "name": "A", "kind": "image"},
            {"id": option.as_str(), "name": "B", "kind": "choice",
             "choices": [{"id": choice.as_str(), "label": "x"}, {"id": choice.as_str(), "label": "y"}, {"id": "chc_bad", "label": "z"}]}
        ]));
        assert_eq!(found["options[1].id"], "is used by another option");
        assert_eq!(found["options[1].choices[1].id"], "is used by another choice");
        assert_eq!(found["options[1].choices[2].id"], "is not a valid choice id");
        assert_eq!(found.len(), 3);
        // The same choice id in two different options is fine: choices are looked up per option.
        let ok = parse_options(drafts(json!([
            {"name": "A", "kind": "choice", "choices": [{"id": choice.as_str(), "label": "x"}]},
            {"name": "B", "kind": "choice", "choices": [{"id": choice.as_str(), "label": "x"}]}
        ])));
        assert!(ok.is_ok());
    }

    #[test]
    fn counts_are_bounded() {
        let many: Vec<Value> = (0..=MAX_OPTIONS).map(|i| json!({"name": format!("o{i}"), "kind": "image"})).collect();
        assert_eq!(problems(Value::Array(many))["options"], "must have at most 50 options");
        let fifty: Vec<Value> = (0..MAX_OPTIONS).map(|i| json!({"name": format!("o{i}"), "kind": "image"})).collect();
        assert_eq!(parse_options(drafts(Value::Array(fifty))).unwrap().len(), 50);
        let choices: Vec<Value> = (0..=MAX_CHOICES).map(|i| json!({"label": format!("c{i}")})).collect();
        let found = problems(json!([{"name": "C", "kind": "choice", "choices": choices}]));
        assert_eq!(found["options[0].choices"], "must have from 1 to 100 choices");
        let found = problems(json!([{"name": "C", "kind": "choice", "choices": []}]));
        assert_eq!(found["options[0].choices"], "must have from 1 to 100 choices");
        assert_eq!(
            problems(json!([{"name": "x".repeat(101), "kind": "image"}]))["options[0].name"],
            "must be at most 100 characters"
        );
    }

    #[test]
    fn number_bounds_and_priced_negatives() {
        let found = problems(json!([
            {"name": "A", "kind": "number", "min": -1, "max": 5, "price_per_unit": 10},
            {"name": "B", "kind": "number", "min": -MAX_NUMBER - 1, "max": MAX_NUMBER + 1}
        ]));
        assert_eq!(found["options[0].min"], "must not be negative when there is a price per unit");
        assert_eq!(found["options[1].min"], "must be from -1000000000000000 to 1000000000000000");
        assert_eq!(found["options[1].max"], "must be from -1000000000000000 to 1000000000000000");
        // Negative values are fine when they are not priced; (max − min) need not divide by step.
        let ok = parse_options(drafts(json!([{"name": "A", "kind": "number", "min": -5, "max": 6, "step": 3}])));
        assert!(ok.is_ok());
    }
}
