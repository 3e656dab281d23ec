//! Money: integer minor units with an ISO 4217 currency. There is no floating point anywhere
//! near money; arithmetic is checked, so an overflow is an error, never a wrapped amount.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Active ISO 4217 codes with their minor-unit exponent (digits after the decimal point).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency code that we know the minor unit of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency(&'static str, u8);

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, Error> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(c, exp)| Currency(c, exp))
            .ok_or_else(|| Error::bad_request("must be an ISO 4217 currency code such as INR or USD"))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// How many minor units make one major unit is `10^exponent`.
    pub fn exponent(self) -> u8 {
        self.1
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0.to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An amount of money in minor units (paise, cents) of one currency. Signed so that a discount
/// or a refund can be expressed; constructors for prices refuse negatives. Read from JSON only
/// within [`MAX_AMOUNT`] and with no other fields, so no request body can carry an amount the
/// arithmetic was not made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "MoneyWire")]
pub struct Money {
    #[schema(minimum = -1_000_000_000_000_000i64, maximum = 1_000_000_000_000_000i64)]
    pub amount: i64,
    pub currency: Currency,
}

/// For people (mail, notifications): `INR 1299.00`, `JPY 500`, `-USD 1.05`. Integer arithmetic
/// only; the contract's JSON form is the object, never this.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return write!(f, "{sign}{} {abs}", self.currency);
        }
        let unit = 10u64.pow(exp);
        write!(f, "{sign}{} {}.{:0width$}", self.currency, abs / unit, abs % unit, width = exp as usize)
    }
}

/// Money as JSON carries it, before its bounds are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyWire {
    amount: i64,
    currency: Currency,
}

impl TryFrom<MoneyWire> for Money {
    type Error = String;
    fn try_from(wire: MoneyWire) -> Result<Self, String> {
        Money::new(wire.amount, wire.currency).map_err(|e| e.message)
    }
}

/// The largest amount we accept anywhere: 10^15 minor units. Far above any real order and far
/// below `i64::MAX`, so sums of many such amounts cannot overflow unnoticed.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Result<Self, Error> {
        if amount.unsigned_abs() > MAX_AMOUNT as u64 {
            return Err(Error::bad_request("amount is out of range"));
        }
        Ok(Money { amount, currency })
    }

    /// A price or a payable amount: zero or more.
    pub fn non_negative(amount: i64, currency: Currency) -> Result<Self, Error> {
        if amount < 0 {
            return Err(Error::bad_request("amount must not be negative"));
        }
        Self::new(amount, currency)
    }

    pub fn zero(currency: Currency) -> Self {
        Money { amount: 0, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, Error> {
        self.same_currency(other)?;
        let sum = self.amount.checked_add(other.amount).ok_or_else(|| Error::bad_request("amount is out of range"))?;
        Money::new(sum, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, Error> {
        self.same_currency(other)?;
        let diff = self.amount.checked_sub(other.amount).ok_or_else(|| Error::bad_request("amount is out of range"))?;
        Money::new(diff, self.currency)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, Error> {
        let product = self.amount.checked_mul(factor).ok_or_else(|| Error::bad_request("amount is out of range"))?;
        Money::new(product, self.currency)
    }

    /// The amount as a decimal string in major units ("1299.00" for 129900 INR, "1299" for
    /// 1299 JPY), as PayPal's API wants it. Exact: integer arithmetic only.
    pub fn to_decimal_string(self) -> String {
        let exp = u32::from(self.currency.exponent());
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let unit = 10u64.pow(exp);
        format!("{sign}{}.{:0width$}", abs / unit, abs % unit, width = exp as usize)
    }

    /// Parses a decimal string in major units ("12.34", "12.3", "12") into minor units of
    /// `currency`, exactly. More fraction digits than the currency has, a sign, exponents or
    /// anything else that is not plain digits is refused.
    pub fn parse_decimal(raw: &str, currency: Currency) -> Result<Money, Error> {
        let bad = || Error::bad_request(format!("{raw:?} is not an amount in {currency}"));
        let exp = usize::from(currency.exponent());
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (raw.contains('.') && !digits(fraction)) || fraction.len() > exp || whole.len() > 16 {
            return Err(bad());
        }
        let padded = format!("{whole}{fraction:0<exp$}");
        let amount: i64 = padded.parse().map_err(|_| bad())?;
        Money::new(amount, currency).map_err(|_| bad())
    }

    fn same_currency(self, other: Money) -> Result<(), Error> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Error::bad_request(format!("cannot combine {} with {}", self.currency, other.currency)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inr() -> Currency {
        Currency::parse("INR").unwrap()
    }

    #[test]
    fn money_reads_for_people_in_major_units() {
        let m = |amount, code| Money { amount, currency: Currency::parse(code).unwrap() }.to_string();
        assert_eq!(m(129900, "INR"), "INR 1299.00");
        assert_eq!(m(5, "USD"), "USD 0.05");
        assert_eq!(m(-105, "USD"), "-USD 1.05");
        assert_eq!(m(500, "JPY"), "JPY 500");
        assert_eq!(m(1234, "KWD"), "KWD 1.234");
    }

    #[test]
    fn currencies_know_their_minor_unit() {
        assert_eq!(inr().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert!(Currency::parse("inr").is_err());
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn money_serialises_as_the_contract_shape() {
        let m = Money::non_negative(129_900, inr()).unwrap();
        assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!({"amount": 129900, "currency": "INR"}));
        let back: Money = serde_json::from_str(r#"{"amount": 5, "currency": "USD"}"#).unwrap();
        assert_eq!(back.amount, 5);
        assert!(serde_json::from_str::<Money>(r#"{"amount": 1.5, "currency": "USD"}"#).is_err());
    }

    #[test]
    fn arithmetic_is_checked_and_single_currency() {
        let a = Money::non_negative(MAX_AMOUNT, inr()).unwrap();
        assert!(a.checked_add(a).is_err());
        assert!(a.checked_mul(i64::MAX).is_err());
        let usd = Money::zero(Currency::parse("USD").unwrap());
        assert!(a.checked_add(usd).is_err());
        assert!(Money::non_negative(-1, inr()).is_err());
        assert_eq!(Money::zero(inr()).checked_sub(Money::new(5, inr()).unwrap()).unwrap().amount, -5);
    }

    #[test]
    fn decimal_strings_round_trip_exactly() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(129_900, inr()).unwrap().to_decimal_string(), "1299.00");
        assert_eq!(Money::new(5, inr()).unwrap().to_decimal_string(), "0.05");
        assert_eq!(Money::new(-105, inr()).unwrap().to_decimal_string(), "-1.05");
        assert_eq!(Money::new(1299, jpy).unwrap().to_decimal_string(), "1299");
        assert_eq!(Money::new(1, kwd).unwrap().to_decimal_string(), "0.001");
        assert_eq!(Money::parse_decimal("1299.00", inr()).unwrap().amount, 129_900);
        assert_eq!(Money::parse_decimal("12.3", inr()).unwrap().amount, 1_230);
        assert_eq!(Money::parse_decimal("12", inr()).unwrap().amount, 1_200);
        assert_eq!(Money::parse_decimal("0.001", kwd).unwrap().amount, 1);
        assert_eq!(Money::parse_decimal("1299", jpy).unwrap().amount, 1_299);
        for bad in ["", ".", "1.", ".5", "1.234", "-1.00", "+1", "1e3", "1,00", " 1", "12.3.4", "99999999999999999"] {
            assert!(Money::parse_decimal(bad, inr()).is_err(), "{bad:?}");
        }
        assert!(Money::parse_decimal("1.5", jpy).is_err());
    }

    #[test]
    fn money_read_from_json_is_within_bounds_and_has_no_other_fields() {
        let ok: Money = serde_json::from_str(r#"{"amount": -1000000000000000, "currency": "INR"}"#).unwrap();
        assert_eq!(ok.amount, -MAX_AMOUNT);
        for bad in [
            r#"{"amount": 1000000000000001, "currency": "INR"}"#,
            r#"{"amount": 9223372036854775807, "currency": "INR"}"#,
            r#"{"amount": 1, "currency": "INR", "extra": 1}"#,
            r#"{"amount": 1.5, "currency": "INR"}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }
}
