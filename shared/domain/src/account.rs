//! Accounts: who a user is, how they sign in, where they live.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::BoundedText;
use crate::{AddressId, CountryCode, Error, PersonName, Timestamp, UserId};

/// An email address as the user typed it (trimmed). Two addresses that differ only in case are
/// the same account: [`Email::normalized`] is what uniqueness and sign-in compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        let invalid = || Error::bad_request("must be a valid email address");
        if trimmed.len() > 254 {
            return Err(invalid());
        }
        let parsed = email_address::EmailAddress::from_str(trimmed).map_err(|_| invalid())?;
        // Display-name forms ("Asha <a@x.in>") parse too; we want the bare address only, and a
        // domain that can receive mail (has a dot), since we send receipts there.
        if parsed.email() != trimmed || !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
            return Err(invalid());
        }
        Ok(Email(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison form: emails compare case-insensitively (contract).
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password in the clear, only ever held on the way to hashing or verifying. 8–128
/// characters (contract). Its `Debug` never prints it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Error::bad_request(format!("must be at least {} characters", Self::MIN_CHARS)));
        }
        if chars > Self::MAX_CHARS {
            return Err(Error::bad_request(format!("must be at most {} characters", Self::MAX_CHARS)));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A phone number in E.164 form (`+` and 8–15 digits). Spaces, dashes, dots and parentheses
/// people type are dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(Phone(compact))
        } else {
            Err(Error::bad_request("must be a phone number in international form, like +919876543210"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Seller,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Seller => "seller",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "customer" => Some(Role::Customer),
            "seller" => Some(Role::Seller),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The roles anyone may sign up as. Admins are created by operators, never by registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupRole {
    Customer,
    Seller,
}

impl From<SignupRole> for Role {
    fn from(r: SignupRole) -> Role {
        match r {
            SignupRole::Customer => Role::Customer,
            SignupRole::Seller => Role::Seller,
        }
    }
}

/// A user account as stored. `password_hash` is a bcrypt hash; it never leaves the service
/// layer (responses use their own view types).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: PersonName,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub password_hash: String,
    /// Entries in the address book, kept here so the cap is enforced in the same transaction
    /// that adds an address.
    #[serde(default)]
    pub address_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl User {
    /// How many addresses one account may keep: bounds the address-book query and the item.
    pub const MAX_ADDRESSES: u32 = 50;
}

pub type AddressLine = BoundedText<1, 200>;
pub type Locality = BoundedText<1, 100>;
pub type PostalCode = BoundedText<1, 20>;

/// The fields of an address, parsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressDraft {
    pub name: PersonName,
    pub line1: AddressLine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<AddressLine>,
    pub city: Locality,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Locality>,
    pub postal_code: PostalCode,
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
}

/// A change to an address: `None` leaves a field alone; for optional fields `Some(None)` clears.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddressPatch {
    pub name: Option<PersonName>,
    pub line1: Option<AddressLine>,
    pub line2: Option<Option<AddressLine>>,
    pub city: Option<Locality>,
    pub state: Option<Option<Locality>>,
    pub postal_code: Option<PostalCode>,
    pub country: Option<CountryCode>,
    pub phone: Option<Option<Phone>>,
}

impl AddressPatch {
    pub fn is_empty(&self) -> bool {
        *self == AddressPatch::default()
    }

    pub fn apply(self, to: &mut AddressDraft) {
        if let Some(v) = self.name {
            to.name = v;
        }
        if let Some(v) = self.line1 {
            to.line1 = v;
        }
        if let Some(v) = self.line2 {
            to.line2 = v;
        }
        if let Some(v) = self.city {
            to.city = v;
        }
        if let Some(v) = self.state {
            to.state = v;
        }
        if let Some(v) = self.postal_code {
            to.postal_code = v;
        }
        if let Some(v) = self.country {
            to.country = v;
        }
        if let Some(v) = self.phone {
            to.phone = v;
        }
    }
}

/// An address-book entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    pub id: AddressId,
    #[serde(flatten)]
    pub fields: AddressDraft,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_parse_strictly_and_compare_case_insensitively() {
        let e = Email::parse("  Asha.Rao@Example.IN ").unwrap();
        assert_eq!(e.as_str(), "Asha.Rao@Example.IN");
        assert_eq!(e.normalized(), "asha.rao@example.in");
        for bad in ["", "asha", "asha@", "@x.in", "asha@localhost", "Asha <a@x.in>", "a b@x.in"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@x.in", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_are_bounded_by_characters_and_never_printed() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"é".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("secret-password").unwrap()), "Password(***)");
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(Phone::parse("+91 98765-43210").unwrap().as_str(), "+919876543210");
        for bad in ["9876543210", "+0123456789", "+12", "+1234567890123456", "+91abc"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_customer_and_seller_can_sign_up() {
        assert!(serde_json::from_str::<SignupRole>("\"admin\"").is_err());
        assert_eq!(Role::from(serde_json::from_str::<SignupRole>("\"seller\"").unwrap()), Role::Seller);
    }
}
