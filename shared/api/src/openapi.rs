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
        crate::auth::Api::openapi(),
        crate::users::Api::openapi(),
        crate::products::Api::openapi(),
        crate::quote::Api::openapi(),
        crate::orders::Api::openapi(),
        crate::cart::Api::openapi(),
        crate::payments::Api::openapi(),
    ] {
        doc.merge(api);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // Any status an operation does not list is an error in the contract's one shape.
    let error = ResponseBuilder::new()
        .description("An error: `{\"error\": {\"code\", \"message\", \"details\"}}`")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build();
    for item in doc.paths.paths.values_mut() {
        for operation in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            operation.responses.responses.entry("default".to_owned()).or_insert_with(|| error.clone().into());
        }
    }
    doc
}

/// The document as JSON, made once per process.
fn document_json() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_vec(&document()).unwrap_or_default())
}

async fn serve() -> Response {
    let mut response = document_json().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `GET /openapi.json`.
pub fn router() -> Router {
    Router::new().route("/openapi.json", get(serve))
}
