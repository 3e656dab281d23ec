//! What every router gets before it is served, on Lambda or locally.

use std::any::Any;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cy_domain::{Error, ErrorCode};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;

async fn not_found() -> ApiError {
    ApiError(Error::new(ErrorCode::NotFound, "There is nothing at this path."))
}

async fn method_not_allowed() -> ApiError {
    ApiError(Error::new(ErrorCode::MethodNotAllowed, "This path does not accept that method."))
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    // The panic message is in the log (the panic hook prints it); the client gets the
    // contract's shape.
    tracing::error!("handler panicked");
    let mut response = ApiError(Error::internal()).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// Finishes a router for serving: unknown paths and methods answer in the contract's shape,
/// a panic becomes a 500 in that shape (and never takes the process down), and each request
/// is traced.
pub fn finish(router: Router) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// A request's span: its method and path, never its query string (the WebSocket's `?token=`
/// is an access token, and no query belongs in the logs).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Runs a finished router as a Lambda behind API Gateway.
pub async fn run_on_lambda(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(router).await
}
