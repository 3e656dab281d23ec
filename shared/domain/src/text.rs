//! Free text a person typed: trimmed, bounded, free of control characters.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Text of `MIN..=MAX` characters (Unicode scalar values), trimmed, with no control characters.
/// The bounds are in the type so a too-long value cannot exist.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> BoundedText<MIN, MAX> {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len < MIN {
            return Err(Error::bad_request(if MIN == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {MIN} characters")
            }));
        }
        if len > MAX {
            return Err(Error::bad_request(format!("must be at most {MAX} characters")));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Error::bad_request("must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> TryFrom<String> for BoundedText<MIN, MAX> {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl<const MIN: usize, const MAX: usize> From<BoundedText<MIN, MAX>> for String {
    fn from(text: BoundedText<MIN, MAX>) -> String {
        text.0
    }
}

/// A person's or a recipient's name.
pub type PersonName = BoundedText<1, 100>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds_by_characters_not_bytes() {
        assert_eq!(PersonName::parse("  Asha  ").unwrap().as_str(), "Asha");
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
        assert!(PersonName::parse(&"é".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }
}
