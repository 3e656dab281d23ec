//! The HTTP edge shared by every function: the contract's error responses, strict JSON and
//! query extractors, bearer-token identity with route-level role checks, the finishing layers
//! every router gets, JSON logging, and running a router on Lambda.

pub mod app;
pub mod auth;
pub mod error;
pub mod extract;
pub mod routes;
pub mod telemetry;

pub use app::{finish, run_on_lambda};
pub use auth::{Caller, Claims, JwtKeys, require_roles};
pub use error::{ApiError, ApiResult, ErrorBody};
pub use extract::{ClientIp, Json, Listed, MAX_BODY_BYTES, Paging, Query};

#[doc(hidden)]
pub use paste::paste as __paste;
