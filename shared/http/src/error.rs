//! The one place an error becomes an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cy_domain::Error;

/// A handler's error: the domain error, answered in the contract's shape with its status.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<cy_data::StoreError> for ApiError {
    fn from(e: cy_data::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = err.code.as_str(), message = %err.message, "request failed");
        }
        let mut response = (status, axum::Json(err.to_body())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = err.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The contract's error shape, for the OpenAPI document (answers are built by
/// [`cy_domain::Error::to_body`]).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: cy_domain::ErrorCode,
    /// A human sentence.
    pub message: String,
    /// Names each bad field for `validation_failed`; other facts for other codes.
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}
