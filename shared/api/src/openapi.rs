//! The contract's OpenAPI 3 document, `GET /openapi.json`. It is generated from the code: every
//! operation comes from its handler's `#[utoipa::path]` annotation and every schema from the
//! types the handlers read and answer (`ToSchema`), so it cannot drift from them by hand. Each
//! function's `Api` lists its handlers; the routers are built from the same annotations
//! (`cy_http::route!`), and a test checks that the two agree operation for operation.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cy_http::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CustomiseYou API",
        description = "The public API of the CustomiseYou marketplace: accounts, the catalog of \
            customisable products, exact quotes, orders and their lifecycle, payment webhooks. \
            Money is integer minor units with an ISO 4217 currency; errors have one shape \
            (`ErrorBody`); lists page with `limit` and `cursor`; creating POSTs honour \
            `Idempotency-Key`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Function `auth` and `users`"),
        (name = "catalog", description = "Function `products`"),
        (name = "quotes", description = "Function `quote`"),
        (name = "orders", description = "Function `orders` (with the cart)"),
        (name = "payments", description = "Function `payment-webhook`"),
        (name = "admin", description = "Admins' settings, coupons, refunds and flags"),
        (name = "notifications", description = "Function `users`: in-app notifications, channel preferences, devices"),
        (name = "chat", description = "Function `chat`: buyer–seller conversations"),
        (name = "sellers", description = "Function `sellers`: the shop, its payout account, verification"),
    )
)]
struct Base;

/// `Authorization: Bearer <access token>` (a JWT that lives 15 minutes).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// Every function's operations, as one document.
pub fn document() -> Document {
    let mut doc = Base::openapi();
    for api in [
        crate::accounts::auth::Api::openapi(),
        crate::accounts::users::Api::openapi(),
        crate::notifications::routes::Api::openapi(),
        crate::chat::routes::Api::openapi(),
        crate::sellers::routes::Api::openapi(),
        crate::payouts::routes::Api::openapi(),
        crate::catalog::Api::openapi(),
        crate::pricing::Api::openapi(),
        crate::orders::Api::openapi(),
        crate::orders::cart::Api::openapi(),
        crate::payments::Api::openapi(),
    ] {
        doc.merge(api);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for (path, item) in doc.paths.paths.iter_mut() {
        let writes = [&mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for (operation, write) in writes.into_iter().map(|o| (o, true)).chain([(&mut item.get, false)]) {
            if let Some(operation) = operation {
                add_error_answers(operation, path.contains('{'), write);
            }
        }
    }
    doc
}

/// The errors an operation can answer besides those its annotation names, each in the
/// contract's one shape: every status is declared, so a client (and the fuzzer) can rely on
/// the list. No 5xx but 503 (a dependency down, with `Retry-After`): a 500 is a bug.
fn add_error_answers(operation: &mut utoipa::openapi::path::Operation, has_path_params: bool, write: bool) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let answers = [
        (true, "400", "`validation_failed`: a bad parameter or body, each bad field named in `details`"),
        (secured, "401", "`unauthenticated`: no valid bearer token"),
        (secured, "403", "`forbidden`: another role's operation, or another's record"),
        (has_path_params || secured, "404", "`not_found`"),
        (write, "409", "A conflict: `version_conflict`, `idempotency_key_reused`, `invalid_transition`, …"),
        (has_body, "413", "`payload_too_large`: a body over 1 MiB"),
        (has_body, "415", "The body is not JSON"),
        (true, "429", "`rate_limited`: too many requests; see `Retry-After`"),
        (true, "503", "A dependency is unavailable; retry after `Retry-After`"),
    ];
    for (applies, status, description) in answers {
        if applies {
            let error = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build();
            operation.responses.responses.entry(status.to_owned()).or_insert_with(|| error.into());
        }
    }
}

/// The document as JSON, made once per process.
fn document_json() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_vec(&document()).unwrap_or_default())
}

async fn serve() -> Response {
    json_document(document_json())
}

/// The document's bytes as a JSON answer (generated here, or as published).
fn json_document(body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// `GET /openapi.json`, generating the document in the process (the local runtime).
pub fn router() -> Router {
    Router::new().route("/openapi.json", get(serve))
}

/// The document as published with the code: `shared/api/openapi.json`, which a test keeps equal
/// to [`document`] (`CY_UPDATE_OPENAPI=1 cargo test -p cy-tests --test openapi` rewrites it).
pub const PUBLISHED: &str = include_str!("../openapi.json");

/// `GET /openapi.json` from [`PUBLISHED`]: what the `products` function serves on AWS. Building
/// the document links every handler's and body type's schema code into the binary (utoipa's
/// builders), which only this one route ever used; a text constant costs its compressed bytes.
pub fn published_router() -> Router {
    Router::new().route("/openapi.json", get(|| async { json_document(PUBLISHED.as_bytes()) }))
}
