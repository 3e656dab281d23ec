//! `GET /openapi.json`: the contract's OpenAPI 3 document, generated from the handlers. Checked
//! against what the routers really do: every routed operation is documented and every
//! documented one is routed, every `$ref` resolves, the contract's paths are all there, and an
//! operation documented as needing a bearer token refuses a request without one (401) while a
//! public one does not.

use std::collections::BTreeSet;

use cy_tests::TestApp;
use http::{Method, StatusCode};
use serde_json::Value;
use utoipa::OpenApi;

/// (METHOD, path) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn json(doc: utoipa::openapi::OpenApi) -> Value {
    serde_json::to_value(doc).unwrap()
}

#[tokio::test]
async fn the_document_is_served_and_names_every_operation_the_routers_serve() {
    let app = TestApp::new().await;
    let served = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers.get("content-type").unwrap(), "application/json");
    let doc = served.body;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "CustomiseYou API");

    // Each function's documented operations are exactly those its router was built from.
    let s = &app.local.services;
    let pairs = [
        ("auth", json(cy_api::accounts::auth::Api::openapi()), cy_api::accounts::auth::routes(s.accounts.clone())),
        ("users", json(cy_api::accounts::users::Api::openapi()), cy_api::accounts::users::routes(s.accounts.clone())),
        (
            "notifications",
            json(cy_api::notifications::routes::Api::openapi()),
            cy_api::notifications::routes::routes(s.notifications.clone(), s.keys.clone()),
        ),
        (
            "chat",
            json(cy_api::chat::routes::Api::openapi()),
            cy_api::chat::routes::routes(s.chat.clone(), s.keys.clone()),
        ),
        ("sellers", json(cy_api::sellers::routes::Api::openapi()), cy_api::sellers::routes::routes(s.sellers.clone())),
        (
            "payouts",
            json(cy_api::payouts::routes::Api::openapi()),
            cy_api::payouts::routes::routes(cy_api::payouts::routes::Payouts {
                store: s.sellers.store.clone(),
                keys: s.keys.clone(),
                gateway: s.simulated_payouts.clone(),
            }),
        ),
        ("products", json(cy_api::catalog::Api::openapi()), cy_api::catalog::routes(s.catalog.clone())),
        ("quote", json(cy_api::pricing::Api::openapi()), cy_api::pricing::routes(s.quoting.clone())),
        ("orders", json(cy_api::orders::Api::openapi()), cy_api::orders::routes(s.orders.clone())),
        ("cart", json(cy_api::orders::cart::Api::openapi()), cy_api::orders::cart::routes(s.orders.clone())),
        ("payments", json(cy_api::payments::Api::openapi()), cy_api::payments::routes(s.webhooks.clone())),
    ];
    let mut all = BTreeSet::new();
    for (name, documented, routes) in pairs {
        let routed: BTreeSet<(String, String)> =
            routes.operations().iter().map(|(m, p)| ((*m).to_owned(), p.clone())).collect();
        assert_eq!(routed.len(), routes.operations().len(), "{name}: an operation routed twice");
        let documented = operations(&documented);
        assert!(!routed.is_empty(), "{name}");
        assert_eq!(documented, routed, "{name}: the Api list and the router differ");
        all.extend(routed);
    }
    assert_eq!(operations(&doc), all, "the served document is every function's operations");

    // The contract's paths (../shared/API.md) that are built so far.
    for (method, path) in [
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("GET", "/me"),
        ("PATCH", "/me"),
        ("GET", "/me/addresses"),
        ("POST", "/me/addresses"),
        ("GET", "/products"),
        ("GET", "/products/{id}"),
        ("GET", "/categories"),
        ("POST", "/seller/products"),
        ("PATCH", "/seller/products/{id}"),
        ("POST", "/quotes"),
        ("POST", "/orders"),
        ("GET", "/orders"),
        ("GET", "/orders/{id}"),
        ("PUT", "/orders/{id}/status"),
        ("POST", "/orders/{id}/cancel"),
        ("GET", "/orders/{id}/timeline"),
        ("POST", "/orders/{id}/returns"),
        ("GET", "/seller/orders"),
        ("GET", "/me/cart"),
        ("POST", "/webhooks/stripe"),
        ("POST", "/webhooks/razorpay"),
        ("POST", "/webhooks/paypal"),
    ] {
        assert!(all.contains(&(method.to_owned(), path.to_owned())), "{method} {path} is not documented");
    }
}

#[tokio::test]
async fn every_reference_resolves_and_every_operation_answers_errors_in_the_contract_shape() {
    let app = TestApp::new().await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    fn collect(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    collect(&doc, &mut refs);
    assert!(refs.len() > 50, "the document uses its schemas: {}", refs.len());
    for r in &refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    for name in ["Order", "Product", "Money", "ErrorBody", "Address", "PaymentFlag"] {
        assert!(schemas.contains_key(name), "{name} is not among the schemas");
    }
    let money = &schemas["Money"];
    assert_eq!(money["properties"]["amount"]["type"], "integer", "money is integer minor units: {money}");
    // Every status is declared (no catch-all `default`), errors in the contract's one shape.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.get("default").is_none(), "{method} {path}");
            let secured = op.get("security").is_some();
            let mut expected = vec!["400", "429", "503"];
            if secured {
                expected.extend(["401", "403"]);
            }
            for status in expected {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
            assert!(!responses.contains_key("500"), "{method} {path}: a 500 is a bug, not an answer");
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

/// The document's `security` is what the routes enforce: without a token, an operation that
/// declares a bearer is 401 in the contract's shape; one that does not is never 401.
#[tokio::test]
async fn operations_documented_as_signed_in_refuse_requests_without_a_token() {
    let app = TestApp::new().await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "ord_01JDX5Q6Z7W8V9T0R1S2P3N4M5").replace("{line_id}", "line-1");
        for (method, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let signed_in = op.get("security").is_some_and(|s| s.as_array().is_some_and(|s| !s.is_empty()));
            let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| serde_json::json!({}));
            let answer = app.call(method.clone(), &concrete, None, body).await;
            if signed_in {
                answer.assert_error(401, "unauthenticated");
            } else {
                assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path} is public: {}", answer.body);
                assert!(answer.status != StatusCode::NOT_FOUND || path.contains('{'), "{method} {path} is routed");
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} operations");
}

/// template.yaml routes every documented operation to the function whose router serves it, and
/// nothing else: an operation missing there would answer API Gateway's 403 on AWS while every
/// local test passes.
#[test]
fn the_template_routes_exactly_the_documented_operations_to_their_functions() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    // (resource, METHOD, path) of every `Type: Api` event: a `Path:` line, then its `Method:`.
    let mut routed = BTreeSet::new();
    let (mut resource, mut path) = (String::new(), None::<String>);
    for line in template.lines() {
        if let Some(name) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')).and_then(|l| l.strip_suffix(':')) {
            resource = name.to_owned();
        } else if let Some(p) = line.trim().strip_prefix("Path: ") {
            path = Some(p.to_owned());
        } else if let Some(m) = line.trim().strip_prefix("Method: ") {
            let p = path.take().expect("a Method: after its Path:");
            routed.insert((resource.clone(), m.to_uppercase(), p));
        }
    }
    let functions = [
        ("AuthFunction", vec![json(cy_api::accounts::auth::Api::openapi())]),
        (
            "UsersFunction",
            vec![json(cy_api::accounts::users::Api::openapi()), json(cy_api::notifications::routes::Api::openapi())],
        ),
        ("ChatFunction", vec![json(cy_api::chat::routes::Api::openapi())]),
        (
            "SellersFunction",
            vec![json(cy_api::sellers::routes::Api::openapi()), json(cy_api::payouts::routes::Api::openapi())],
        ),
        ("ProductsFunction", vec![json(cy_api::catalog::Api::openapi())]),
        ("QuoteFunction", vec![json(cy_api::pricing::Api::openapi())]),
        ("OrdersFunction", vec![json(cy_api::orders::Api::openapi()), json(cy_api::orders::cart::Api::openapi())]),
        ("PaymentWebhookFunction", vec![json(cy_api::payments::Api::openapi())]),
    ];
    let mut documented = BTreeSet::new();
    for (function, docs) in functions {
        for doc in docs {
            for (method, path) in operations(&doc) {
                documented.insert((function.to_owned(), method, path));
            }
        }
    }
    // The document itself, served by the catalog's function.
    documented.insert(("ProductsFunction".into(), "GET".into(), "/openapi.json".into()));
    let missing: Vec<_> = documented.difference(&routed).collect();
    let extra: Vec<_> = routed.difference(&documented).collect();
    assert!(missing.is_empty(), "documented but not routed by template.yaml: {missing:?}");
    assert!(extra.is_empty(), "routed by template.yaml but not documented: {extra:?}");
}

/// The document the `products` function serves (`cy_api::openapi::PUBLISHED`, a file built into
/// it) is the one the handlers generate. `CY_UPDATE_OPENAPI=1` rewrites the file instead.
#[test]
fn the_published_document_is_the_generated_one() {
    let generated = serde_json::to_value(cy_api::openapi::document()).unwrap();
    if std::env::var_os("CY_UPDATE_OPENAPI").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/api/openapi.json");
        std::fs::write(path, serde_json::to_string_pretty(&generated).unwrap() + "\n").unwrap();
        return;
    }
    let published: Value = serde_json::from_str(cy_api::openapi::PUBLISHED).expect("shared/api/openapi.json is JSON");
    assert!(
        published == generated,
        "shared/api/openapi.json is stale: run `CY_UPDATE_OPENAPI=1 cargo test -p cy-tests --test openapi the_published` and commit it"
    );
}
