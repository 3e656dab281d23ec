//! Sellers: the shop, where its money goes, its verification (KYC), and the commission the
//! platform keeps. Values are parsed at the edge into types that cannot hold a bad one; the
//! secrets among them (an account number, an identity number) are sealed by the service before
//! they are stored and only ever answered masked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::mul_bps_half_even;
use crate::product::CategoryId;
use crate::{BoundedText, Error, ErrorCode, UserId};

pub type ShopName = BoundedText<1, 100>;
pub type ShopDescription = BoundedText<1, 2000>;

/// A bank account number: 6–20 digits (Indian account numbers are 9–18; spaces are dropped).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountNumber(String);

impl AccountNumber {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if !(6..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("payout_account.account_number", "must be 6–20 digits"));
        }
        Ok(AccountNumber(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never printed: it is a secret of the seller's.
impl std::fmt::Debug for AccountNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

/// `••••6789`: the last four characters, the rest hidden.
pub fn mask(secret: &str) -> String {
    let tail: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("••••{tail}")
}

/// An Indian Financial System Code: 4 letters, a zero, 6 letters or digits (`HDFC0001234`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ifsc(String);

impl Ifsc {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let up = raw.trim().to_ascii_uppercase();
        let b = up.as_bytes();
        let ok = b.len() == 11
            && b[..4].iter().all(u8::is_ascii_uppercase)
            && b[4] == b'0'
            && b[5..].iter().all(u8::is_ascii_alphanumeric);
        if !ok {
            return Err(Error::invalid("payout_account.ifsc", "must be an IFSC such as HDFC0001234"));
        }
        Ok(Ifsc(up))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ifsc {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<Ifsc> for String {
    fn from(i: Ifsc) -> String {
        i.0
    }
}

/// The identity document a seller verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    Pan,
    Aadhaar,
    Passport,
    Gstin,
}

/// An identity document's number, checked against its type's shape.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(id_type: IdType, raw: &str) -> Result<Self, Error> {
        let n: String =
            raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase();
        let b = n.as_bytes();
        let ok = match id_type {
            // ABCDE1234F
            IdType::Pan => {
                b.len() == 10
                    && b[..5].iter().all(u8::is_ascii_uppercase)
                    && b[5..9].iter().all(u8::is_ascii_digit)
                    && b[9].is_ascii_uppercase()
            }
            IdType::Aadhaar => b.len() == 12 && b.iter().all(u8::is_ascii_digit),
            IdType::Passport => (6..=9).contains(&b.len()) && b.iter().all(u8::is_ascii_alphanumeric),
            IdType::Gstin => b.len() == 15 && b.iter().all(u8::is_ascii_alphanumeric),
        };
        if !ok {
            return Err(Error::invalid("id_number", "does not have the shape of this id_type"));
        }
        Ok(IdNumber(n))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

/// Where a seller's verification stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KycStatus {
    #[default]
    NotSubmitted,
    Pending,
    Approved,
    Rejected,
}

impl KycStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KycStatus::NotSubmitted => "not_submitted",
            KycStatus::Pending => "pending",
            KycStatus::Approved => "approved",
            KycStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "not_submitted" => Ok(KycStatus::NotSubmitted),
            "pending" => Ok(KycStatus::Pending),
            "approved" => Ok(KycStatus::Approved),
            "rejected" => Ok(KycStatus::Rejected),
            _ => Err(Error::invalid("kyc_status", "must be not_submitted, pending, approved or rejected")),
        }
    }

    /// A seller submits when they never did or were rejected (a resubmission); not while an
    /// admin reviews, nor once approved.
    pub fn check_submit(self) -> Result<(), Error> {
        match self {
            KycStatus::NotSubmitted | KycStatus::Rejected => Ok(()),
            KycStatus::Pending => {
                Err(Error::conflict(ErrorCode::InvalidTransition, "Your verification is being reviewed already."))
            }
            KycStatus::Approved => Err(Error::conflict(ErrorCode::InvalidTransition, "You are verified already.")),
        }
    }

    /// An admin decides only what waits for a decision.
    pub fn check_decide(self) -> Result<(), Error> {
        if self == KycStatus::Pending {
            Ok(())
        } else {
            Err(Error::conflict(ErrorCode::InvalidTransition, "Only a pending verification can be decided."))
        }
    }
}

/// Basis points (1/100 of a percent): 0–10,000.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct Bps(u32);

impl Bps {
    pub const MAX: u32 = 10_000;

    pub fn new(n: u32) -> Result<Self, Error> {
        if n > Self::MAX {
            return Err(Error::bad_request("must be 0–10000 basis points"));
        }
        Ok(Bps(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Bps {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        Bps::new(n).map_err(|e| e.message)
    }
}

impl From<Bps> for u32 {
    fn from(b: Bps) -> u32 {
        b.0
    }
}

/// The commission the platform keeps: a seller's rate beats their category's, which beats the
/// platform's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRates {
    pub platform_bps: Bps,
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, u32>)]
    pub categories: BTreeMap<CategoryId, Bps>,
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, u32>)]
    pub sellers: BTreeMap<UserId, Bps>,
}

impl CommissionRates {
    /// The rate for a line of `seller`'s in `category`.
    pub fn rate(&self, seller: &UserId, category: &CategoryId) -> Bps {
        self.sellers.get(seller).or_else(|| self.categories.get(category)).copied().unwrap_or(self.platform_bps)
    }
}

/// `amount × bps / 10,000`, rounded half to even: the catalog's own rounding
/// ([`mul_bps_half_even`]). A commission never exceeds its amount, so it cannot leave the
/// money bounds the amount is already within.
pub fn commission_of(amount: i64, bps: Bps) -> i64 {
    mul_bps_half_even(amount, bps.get()).unwrap_or(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_strictly_and_print_masked() {
        let n = AccountNumber::parse("1234 5678 9012").unwrap();
        assert_eq!(n.as_str(), "123456789012");
        assert_eq!(format!("{n:?}"), "••••9012");
        assert!(AccountNumber::parse("12ab56789").is_err());
        assert!(AccountNumber::parse("12345").is_err());
        assert_eq!(Ifsc::parse("hdfc0001234").unwrap().as_str(), "HDFC0001234");
        assert!(Ifsc::parse("HDFC1001234").is_err());
        assert_eq!(IdNumber::parse(IdType::Pan, "abcde1234f").unwrap().as_str(), "ABCDE1234F");
        assert!(IdNumber::parse(IdType::Pan, "ABCDE12345").is_err());
        assert!(IdNumber::parse(IdType::Aadhaar, "1234-5678-9012").is_ok());
        assert_eq!(mask("AB"), "••••AB");
    }

    #[test]
    fn kyc_moves_submit_then_decide_and_resubmit_after_rejection() {
        assert!(KycStatus::NotSubmitted.check_submit().is_ok());
        assert!(KycStatus::Rejected.check_submit().is_ok());
        assert!(KycStatus::Pending.check_submit().is_err());
        assert!(KycStatus::Approved.check_submit().is_err());
        assert!(KycStatus::Pending.check_decide().is_ok());
        assert!(KycStatus::Approved.check_decide().is_err());
    }

    #[test]
    fn the_sellers_rate_beats_the_categorys_which_beats_the_platforms() {
        let (s1, s2) = (UserId::generate(), UserId::generate());
        let mugs = CategoryId::parse("mugs").unwrap();
        let prints = CategoryId::parse("prints").unwrap();
        let rates = CommissionRates {
            platform_bps: Bps::new(1000).unwrap(),
            categories: BTreeMap::from([(mugs.clone(), Bps::new(1500).unwrap())]),
            sellers: BTreeMap::from([(s1.clone(), Bps::new(500).unwrap())]),
        };
        assert_eq!(rates.rate(&s1, &mugs).get(), 500);
        assert_eq!(rates.rate(&s2, &mugs).get(), 1500);
        assert_eq!(rates.rate(&s2, &prints).get(), 1000);
    }

    #[test]
    fn commission_rounds_half_to_even() {
        let b = |n| Bps::new(n).unwrap();
        assert_eq!(commission_of(10_000, b(1000)), 1000);
        assert_eq!(commission_of(5, b(5000)), 2, "2.5 → 2");
        assert_eq!(commission_of(15, b(5000)), 8, "7.5 → 8");
        assert_eq!(commission_of(1, b(4999)), 0);
        assert_eq!(commission_of(-5, b(5000)), -2, "a negative amount rounds the same way");
        assert!(Bps::new(10_001).is_err());
    }
}
