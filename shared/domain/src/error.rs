//! The one error type of the domain and the service layer, and its mapping onto the public
//! contract: `{"error": {"code", "message", "details"}}` with a fixed HTTP status per code.
//! Storage and HTTP layers convert their own errors into this one, so the mapping to status
//! codes lives here and only here.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// Every error code the public API can answer with. The status each maps to is fixed by the
/// contract; 5xx codes exist only for our own faults, never for bad input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationFailed,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    OutOfStock,
    InvalidTransition,
    VersionConflict,
    IdempotencyKeyReused,
    AlreadyExists,
    /// A customer holds as many unpaid orders as allowed.
    TooManyUnpaidOrders,
    /// A coupon reached its redemptions (in all, or for this customer) while the order was placed.
    CouponExhausted,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::OutOfStock
            | ErrorCode::InvalidTransition
            | ErrorCode::VersionConflict
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::AlreadyExists
            | ErrorCode::TooManyUnpaidOrders
            | ErrorCode::CouponExhausted => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::OutOfStock => "out_of_stock",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::VersionConflict => "version_conflict",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::TooManyUnpaidOrders => "too_many_unpaid_orders",
            ErrorCode::CouponExhausted => "coupon_exhausted",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// Field name → what is wrong with it; the `details` of a `validation_failed` error.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub details: Map<String, Value>,
    /// Seconds a client should wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u32>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), details: Map::new(), retry_after: None }
    }

    /// One bad field.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), problem.into());
        Self::invalid_fields(fields)
    }

    /// Several bad fields at once, so a client can show every problem in one round trip.
    pub fn invalid_fields(fields: FieldErrors) -> Self {
        let message = match fields.len() {
            1 => format!("The field {} is invalid.", fields.keys().next().map(String::as_str).unwrap_or("")),
            n => format!("{n} fields are invalid."),
        };
        let mut details = Map::new();
        for (field, problem) in fields {
            details.insert(field, Value::String(problem));
        }
        Error { code: ErrorCode::ValidationFailed, message, details, retry_after: None }
    }

    /// A malformed request as a whole (not one field): bad JSON, wrong content type.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found."))
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.status(), 409);
        Self::new(code, message)
    }

    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Error {
            retry_after: Some(retry_after_secs),
            ..Self::new(ErrorCode::RateLimited, "Too many requests; retry later.")
        }
    }

    /// Our own fault. The message a client sees is generic; the cause goes to the log only.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Something went wrong on our side.")
    }

    pub fn unavailable(retry_after_secs: u32) -> Self {
        Error {
            retry_after: Some(retry_after_secs),
            ..Self::new(ErrorCode::Unavailable, "The service is briefly unavailable; retry later.")
        }
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The contract's body: `{"error": {"code", "message", "details"}}`.
    pub fn to_body(&self) -> Value {
        serde_json::json!({
            "error": {
                "code": self.code.as_str(),
                "message": self.message,
                "details": Value::Object(self.details.clone()),
            }
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

/// Collects field problems while parsing a request, so one answer names every bad field.
#[derive(Default, Debug)]
pub struct Validator {
    fields: FieldErrors,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records the field's problem and yields `None`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, Error>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                let problem =
                    err.details.values().next().and_then(Value::as_str).map(str::to_owned).unwrap_or(err.message);
                self.fields.insert(field.to_owned(), problem);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.fields.is_empty() { Ok(()) } else { Err(Error::invalid_fields(self.fields)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_contract_shape() {
        let body = Error::invalid("email", "must be an email address").to_body();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["details"]["email"], "must be an email address");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("email")));
    }

    #[test]
    fn conflicts_are_409_and_client_faults_never_5xx() {
        for code in [ErrorCode::OutOfStock, ErrorCode::VersionConflict, ErrorCode::AlreadyExists] {
            assert_eq!(code.status(), 409);
        }
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
        assert_eq!(Error::rate_limited(3).retry_after, Some(3));
    }

    #[test]
    fn validator_reports_every_field() {
        let mut v = Validator::new();
        let a: Option<u8> = v.check("a", Err(Error::invalid("x", "bad a")));
        let b = v.check("b", Ok(2u8));
        let c: Option<u8> = v.check("c", Err(Error::invalid("y", "bad c")));
        assert_eq!((a, b, c), (None, Some(2), None));
        let err = v.finish().unwrap_err();
        assert_eq!(err.details.len(), 2);
        assert_eq!(err.details["a"], "bad a");
        assert_eq!(err.details["c"], "bad c");
    }
}
