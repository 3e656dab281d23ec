//! Every sample event in `events/` goes through its function's router exactly as the Lambda
//! receives it (API Gateway REST proxy JSON → `lambda_http` request), and must answer as
//! listed here. An event file missing from the list fails the test, so every sample stays
//! exercised.

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Body;
use customiseyou_local::Services;
use cy_tests::TestApp;
use http::StatusCode;
use http_body_util::BodyExt;

/// Event file → (function, expected status).
fn expectations() -> BTreeMap<&'static str, (&'static str, u16)> {
    BTreeMap::from([
        ("auth-register.json", ("auth", 201)),
        ("auth-login.json", ("auth", 200)),
        ("users-get-me.json", ("users", 200)),
        ("users-add-address.json", ("users", 201)),
        ("products-browse.json", ("products", 200)),
        ("products-categories.json", ("products", 200)),
        ("products-create.json", ("products", 201)),
        ("products-upload.json", ("products", 201)),
        ("quote-create.json", ("quote", 200)),
    ])
}

fn function_router(function: &str, services: &Services) -> axum::Router {
    let router = match function {
        "auth" => cy_api::auth::router(services.accounts.clone()),
        "users" => cy_api::users::router(services.accounts.clone()),
        "products" => cy_api::products::router(services.catalog.clone()),
        "quote" => cy_api::quote::router(services.quoting.clone()),
        other => panic!("no router for function {other}"),
    };
    cy_http::finish(router)
}

#[tokio::test]
async fn every_sample_event_runs_through_its_functions_handler() {
    // SAFETY: set before any other thread of this test binary reads the environment; the
    // template sets the same variable for the deployed functions (API Gateway REST events
    // carry the stage, which must not prefix our routes).
    unsafe { std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true") };
    // Demo data: the login event signs in as the demo customer.
    let app = TestApp::with_demo(true).await;
    let customer = app.login("customer@demo.customiseyou.local", "demo-customer-pass").await;
    let access = customer.body["access_token"].as_str().expect("demo customer signs in").to_owned();
    let seller = app.login("seller@demo.customiseyou.local", "demo-seller-pass").await;
    let seller_access = seller.body["access_token"].as_str().expect("demo seller signs in").to_owned();
    // The quote event prices the demo mug: its id and option ids are only known once seeded.
    let mugs = app.call(http::Method::GET, "/products?q=mug", None, None).await;
    let mug_id = mugs.body["items"][0]["id"].as_str().expect("the demo mug is listed").to_owned();
    let mug = app.call(http::Method::GET, &format!("/products/{mug_id}"), None, None).await.body;
    let option = |name: &str| mug["options"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone();
    let engraving = option("Engraving")["id"].as_str().unwrap().to_owned();
    let colour = option("Colour");
    let colour_id = colour["id"].as_str().unwrap().to_owned();
    let black = colour["choices"][0]["id"].as_str().unwrap().to_owned();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let expected = expectations();
    assert_eq!(
        files,
        expected.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        "every event file has an expectation"
    );

    for file in files {
        let (function, status) = expected[file.as_str()];
        let raw = std::fs::read_to_string(dir.join(&file)).expect("read event");
        let token = if file.starts_with("products-create") { &seller_access } else { &access };
        let raw = raw
            .replace("REPLACE_WITH_ACCESS_TOKEN", token)
            .replace("REPLACE_WITH_PRODUCT_ID", &mug_id)
            .replace("REPLACE_WITH_COLOUR_OPTION_ID", &colour_id)
            .replace("REPLACE_WITH_COLOUR_CHOICE_ID", &black)
            .replace("REPLACE_WITH_OPTION_ID", &engraving);
        let request =
            lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"));
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
        let response =
            tower::ServiceExt::oneshot(function_router(function, &app.local.services), request).await.unwrap();
        let actual = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(actual, StatusCode::from_u16(status).unwrap(), "{file}: {}", String::from_utf8_lossy(&bytes));
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        assert!(body.get("error").is_none(), "{file}: {body}");
    }
}
