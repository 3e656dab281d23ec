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
        ("users-list-notifications.json", ("users", 200)),
        ("chat-open-conversation.json", ("chat", 201)),
        ("sellers-get-profile.json", ("sellers", 200)),
        ("products-browse.json", ("products", 200)),
        ("products-categories.json", ("products", 200)),
        ("products-create.json", ("products", 201)),
        ("products-upload.json", ("products", 201)),
        ("quote-create.json", ("quote", 200)),
        ("orders-place.json", ("orders", 201)),
        ("orders-list.json", ("orders", 200)),
        ("orders-move-part.json", ("orders", 200)),
        ("products-admin-create-category.json", ("products", 201)),
    ])
}

/// Events of functions that are not behind API Gateway: each goes through its handler.
fn other_events() -> [&'static str; 7] {
    [
        "order-expiry-schedule.json",
        "payout-batch-schedule.json",
        "outbox-relay-stream.json",
        "websocket-connect.json",
        "websocket-default.json",
        "websocket-disconnect.json",
        "notify-fanout-order-events.json",
    ]
}

fn function_router(function: &str, services: &Services) -> axum::Router {
    let router = match function {
        "auth" => cy_api::accounts::auth::router(services.accounts.clone()),
        "users" => cy_api::accounts::users::router(services.accounts.clone())
            .merge(cy_api::notifications::routes::router(services.notifications.clone(), services.keys.clone())),
        "chat" => cy_api::chat::routes::router(services.chat.clone(), services.keys.clone()),
        "sellers" => cy_api::sellers::routes::router(services.sellers.clone()).merge(cy_api::payouts::routes::router(
            cy_api::payouts::routes::Payouts {
                store: services.sellers.store.clone(),
                keys: services.keys.clone(),
                gateway: services.simulated_payouts.clone(),
            },
        )),
        "products" => cy_api::catalog::router(services.catalog.clone()),
        "quote" => cy_api::pricing::router(services.quoting.clone()),
        "orders" => cy_api::orders::with_cart(services.orders.clone()),
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
    let seller_me = app.call(http::Method::GET, "/me", Some(&seller_access), None).await;
    let seller_id = seller_me.body["id"].as_str().expect("the demo seller's id").to_owned();
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
        // Checked by payment_webhook_events.rs (they must be re-signed for the test runtime).
        .filter(|name| !name.starts_with("payment-webhook-"))
        .collect();
    files.sort();
    let expected = expectations();
    let mut covered: Vec<String> =
        expected.keys().map(|k| k.to_string()).chain(other_events().map(str::to_owned)).collect();
    covered.sort();
    assert_eq!(files, covered, "every event file has an expectation");
    let files: Vec<String> = files.into_iter().filter(|f| expected.contains_key(f.as_str())).collect();
    let addresses = app.call(http::Method::GET, "/me/addresses", Some(&access), None).await;
    let address = addresses.body["items"][0]["id"].as_str().expect("the demo customer has an address").to_owned();
    let admin_access = app.admin().await;
    // The part-move event starts processing a paid order of the demo seller's mug.
    let order = serde_json::json!({"items": [{"product_id": mug_id, "quantity": 1,
        "customizations": {engraving.clone(): "ASHA", colour_id.clone(): black.clone()}}],
        "address_id": address, "payment_provider": "stripe"});
    let placed = app.call(http::Method::POST, "/orders", Some(&access), Some(order)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order_id = cy_domain::OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    let paid = app.deliver(cy_domain::payment::PaymentProvider::Stripe, "payment_intent.succeeded", &order_id).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);

    for file in files {
        let (function, status) = expected[file.as_str()];
        let raw = std::fs::read_to_string(dir.join(&file)).expect("read event");
        let token = if file.starts_with("products-create")
            || file.starts_with("orders-move-part")
            || file.starts_with("sellers-")
        {
            &seller_access
        } else if file.contains("-admin-") {
            &admin_access
        } else {
            &access
        };
        let raw = raw
            .replace("REPLACE_WITH_ACCESS_TOKEN", token)
            .replace("REPLACE_WITH_PRODUCT_ID", &mug_id)
            .replace("REPLACE_WITH_SELLER_ID", &seller_id)
            .replace("REPLACE_WITH_ORDER_ID", order_id.as_str())
            .replace("REPLACE_WITH_ADDRESS_ID", &address)
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

#[tokio::test]
async fn the_schedule_and_stream_events_run_through_their_handlers() {
    let app = TestApp::new().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let schedule = std::fs::read_to_string(dir.join("order-expiry-schedule.json")).unwrap();
    let schedule: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&schedule).expect("an EventBridge event");
    let swept = cy_api::jobs::on_expiry_schedule(&app.sweeps(), schedule).await.unwrap();
    let nothing = serde_json::json!({"done": 0, "failed": 0, "set_aside": 0});
    assert_eq!(swept, serde_json::json!({"reservations": nothing, "refunds": nothing, "completions": nothing}));

    let schedule = std::fs::read_to_string(dir.join("payout-batch-schedule.json")).unwrap();
    let schedule: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&schedule).expect("an EventBridge event");
    let paid = cy_api::payouts::on_schedule(&app.local.services.payouts, schedule).await.unwrap();
    assert_eq!((paid["payouts"].as_u64(), paid["sellers"].as_u64()), (Some(0), Some(0)), "{paid}");

    let stream = std::fs::read_to_string(dir.join("outbox-relay-stream.json")).unwrap();
    let stream: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_str(&stream).expect("a DynamoDB stream event");
    let queue = cy_queue::LocalQueue::new();
    let response = cy_api::relay::relay_stream(&queue, stream).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let published = queue.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].kind, "order.created");
    let body: serde_json::Value = serde_json::from_str(&published[0].body).unwrap();
    assert_eq!(body["id"], published[0].id.as_str());
    assert_eq!(body["data"]["total"]["amount"], 173800);
}

/// Sign-in attempts are counted per client: on AWS the client is API Gateway's
/// `requestContext.identity.sourceIp` (a client cannot set it), not a header it sends.
#[tokio::test]
async fn the_client_of_an_api_gateway_request_is_its_source_ip() {
    use axum::extract::FromRequestParts;
    let raw = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/auth-login.json")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    event["headers"]["X-Forwarded-For"] = serde_json::json!("198.51.100.99");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (mut parts, _) = request.into_parts();
    let cy_http::ClientIp(client) = cy_http::ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
    assert_eq!(client, "203.0.113.7");
}

#[tokio::test]
async fn the_websocket_and_fanout_events_run_through_their_handlers() {
    use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
    let app = TestApp::new().await;
    let realtime = app.local.services.realtime.clone();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let customer = app.register("ws@example.in", "customer").await;
    let token = customer["access_token"].as_str().unwrap();
    let read =
        |file: &str| std::fs::read_to_string(dir.join(file)).unwrap().replace("REPLACE_WITH_ACCESS_TOKEN", token);
    let event = |file: &str| -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{file} is not a WebSocket event: {e}"))
    };
    let connected = cy_api::realtime::lambda::on_websocket(&realtime, event("websocket-connect.json")).await;
    assert_eq!(connected.status_code, 200);
    let user = cy_domain::UserId::parse(customer["user"]["id"].as_str().unwrap()).unwrap();
    let live = cy_data::connections::of_user(app.store().as_ref(), &user, cy_domain::Timestamp::now()).await.unwrap();
    assert_eq!(live.len(), 1, "the connection is recorded for its user");
    let mut refused = event("websocket-connect.json");
    refused.query_string_parameters = Default::default();
    assert_eq!(cy_api::realtime::lambda::on_websocket(&realtime, refused).await.status_code, 401);
    assert_eq!(
        cy_api::realtime::lambda::on_websocket(&realtime, event("websocket-default.json")).await.status_code,
        200
    );
    assert_eq!(
        cy_api::realtime::lambda::on_websocket(&realtime, event("websocket-disconnect.json")).await.status_code,
        200
    );
    let live = cy_data::connections::of_user(app.store().as_ref(), &user, cy_domain::Timestamp::now()).await.unwrap();
    assert!(live.is_empty(), "forgotten at $disconnect");
    let batch: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&read("notify-fanout-order-events.json")).expect("an SQS event");
    let notifier = app.local.services.notifier.clone();
    let response = cy_api::notifications::lambda::on_events(&notifier, batch).await;
    assert!(response.batch_item_failures.is_empty());
}
