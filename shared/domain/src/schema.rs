//! OpenAPI schemas of the newtypes whose JSON form is a plain string or integer (ids, emails,
//! codes, instants, bounded amounts). Their serde is hand-written, so their schemas are too; the
//! structs and enums built from them derive theirs (`utoipa::ToSchema`), and `cy_api::openapi`
//! assembles the contract's document from the routers.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// A string schema with a description, and a pattern or format when there is one.
pub fn string(description: &str, pattern: Option<&str>, format: Option<KnownFormat>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .format(format.map(SchemaFormat::KnownFormat))
        .into()
}

/// An integer schema (64-bit) with a description and bounds.
pub fn integer(description: &str, minimum: Option<i64>, maximum: Option<i64>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(description))
        .minimum(minimum.map(|m| m as f64))
        .maximum(maximum.map(|m| m as f64))
        .into()
}

/// `ToSchema` for a type whose schema is `$schema` (an expression), named `$name`.
macro_rules! schema_of {
    ($ty:ty, $name:expr, $schema:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

schema_of!(crate::Timestamp, "Timestamp", string("An instant in UTC, RFC 3339.", None, Some(KnownFormat::DateTime)));
schema_of!(crate::Currency, "Currency", string("An ISO 4217 currency code.", Some("^[A-Z]{3}$"), None));
schema_of!(crate::Email, "Email", string("An email address.", None, Some(KnownFormat::Email)));
schema_of!(crate::Phone, "Phone", string("A phone number in E.164 form.", Some(r"^\+[1-9][0-9]{6,14}$"), None));
schema_of!(crate::CountryCode, "CountryCode", string("An ISO 3166-1 alpha-2 country code.", Some("^[A-Z]{2}$"), None));
schema_of!(
    crate::product::CategoryId,
    "CategoryId",
    string("A category of the catalog (lowercase words joined by dashes).", None, None)
);
schema_of!(
    crate::product::ObjectKey,
    "ObjectKey",
    string("The key of an uploaded file, as the upload URL answered it.", None, None)
);

schema_of!(
    crate::link::HttpsUrl,
    "HttpsUrl",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("An absolute https URL with a host."))
        .pattern(Some("^https://"))
        .max_length(Some(crate::link::MAX_URL_LENGTH))
        .into()
);
schema_of!(
    crate::catalog::MinorUnits,
    "MinorUnits",
    integer("An amount in minor units of the product's currency.", Some(0), Some(crate::money::MAX_AMOUNT))
);
schema_of!(
    crate::catalog::ModifierBps,
    "ModifierBps",
    integer("Basis points (1 % = 100).", Some(0), Some(i64::from(crate::catalog::options::MAX_MODIFIER_BPS)))
);
schema_of!(
    crate::catalog::MaxLength,
    "MaxLength",
    integer(
        "The most characters a text option accepts.",
        Some(1),
        Some(i64::from(crate::catalog::options::MAX_TEXT_LENGTH))
    )
);
schema_of!(
    crate::catalog::Quantity,
    "Quantity",
    integer("Units of one line.", Some(1), Some(i64::from(crate::catalog::quote::MAX_QUANTITY)))
);

/// Bounded free text (`MIN..=MAX` characters, trimmed, no control characters).
impl<const MIN: usize, const MAX: usize> PartialSchema for crate::BoundedText<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(MIN)).max_length(Some(MAX)).into()
    }
}

impl<const MIN: usize, const MAX: usize> ToSchema for crate::BoundedText<MIN, MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MIN}to{MAX}"))
    }
}

/// Every prefixed id: `<prefix>_<ULID>`.
macro_rules! id_schemas {
    ($($ty:ident),*) => {
        $(schema_of!(
            crate::ids::$ty,
            stringify!($ty),
            string(
                concat!("An opaque id (`", stringify!($ty), "`), sortable by creation time."),
                Some(&format!("^{}_[0-9A-HJKMNP-TV-Z]{{26}}$", crate::ids::$ty::PREFIX)),
                None,
            )
        );)*
    };
}
id_schemas!(UserId, SessionId, AddressId, AuditId, ProductId, OptionId, ChoiceId, OrderId, EventId, RefundId, FlagId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_patterns_accept_generated_ids() {
        let schema = serde_json::to_value(crate::OrderId::schema()).unwrap();
        let pattern = schema["pattern"].as_str().unwrap();
        assert_eq!(pattern, "^ord_[0-9A-HJKMNP-TV-Z]{26}$");
        assert_eq!(crate::OrderId::name(), "OrderId");
        assert_eq!(crate::PersonName::name(), "Text1to100");
    }
}
