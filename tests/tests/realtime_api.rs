//! Real time on the local runtime, with a real WebSocket client over TCP: a connected customer
//! hears of a seller's move at once; a bad frame is answered `error` and the socket stays; a
//! missing, expired or tampered token is refused at connect. And the Lambda side: a batch of
//! the order events queue with a poison message reports exactly that one.

use std::time::Duration;

use cy_domain::payment::PaymentProvider;
use cy_domain::{OrderId, Role, SessionId, Timestamp, UserId};
use cy_tests::{TEST_JWT_SECRET, shop};
use futures::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use cy_tests::live::{connect, next_frame, serve};

#[tokio::test]
async fn a_connected_customer_hears_of_the_sellers_move_at_once() {
    let mut shop = shop(5).await;
    let addr = serve(&mut shop).await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    let mut customer = connect(addr, &buyer).await.expect("the customer connects");
    let mut seller = connect(addr, &shop.seller).await.expect("the seller connects");
    // Frames pushed while connecting (the payment) are not what this test waits for.
    tokio::time::sleep(Duration::from_millis(600)).await;
    while tokio::time::timeout(Duration::from_millis(50), customer.next()).await.is_ok() {}
    while tokio::time::timeout(Duration::from_millis(50), seller.next()).await.is_ok() {}

    let moved = shop
        .app
        .call(Method::PUT, &format!("/orders/{id}/status"), Some(&shop.seller), Some(json!({"status": "processing"})))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let started = std::time::Instant::now();
    let frame = next_frame(&mut customer, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(frame["type"], "order.status_changed", "{frame}");
    assert_eq!(frame["data"]["order_id"], id.as_str());
    assert_eq!(frame["data"]["fulfilment_status"], "processing");
    assert_eq!(frame["data"]["status"], "processing");
    let theirs = next_frame(&mut seller, Duration::from_secs(1)).await;
    assert_eq!(
        (theirs["type"].as_str(), theirs["data"]["status"].as_str()),
        (Some("order.status_changed"), Some("processing"))
    );

    // ping → pong; a bad frame → error, and the socket stays open.
    customer.send(Message::Text(r#"{"action":"ping"}"#.into())).await.unwrap();
    assert_eq!(next_frame(&mut customer, Duration::from_secs(1)).await["type"], "pong");
    for bad in ["not json", r#"{"action":"dance"}"#, r#"["ping"]"#] {
        customer.send(Message::Text(bad.into())).await.unwrap();
        let error = next_frame(&mut customer, Duration::from_secs(1)).await;
        assert_eq!(
            (error["type"].as_str(), error["data"]["code"].as_str()),
            (Some("error"), Some("validation_failed")),
            "{bad}"
        );
    }
    customer.send(Message::Text(r#"{"action":"ping"}"#.into())).await.unwrap();
    assert_eq!(next_frame(&mut customer, Duration::from_secs(1)).await["type"], "pong", "still open");

    // A socket closed by its client is forgotten.
    customer.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let buyer_id = shop.app.stored(&id).await.customer_id;
    let left = cy_data::connections::of_user(shop.app.store().as_ref(), &buyer_id, Timestamp::now()).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_missing_expired_or_tampered_token_is_refused_at_connect() {
    let mut shop = shop(1).await;
    let addr = serve(&mut shop).await;
    let keys = cy_http::JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap();
    let long_ago = Timestamp::now().plus_secs(-3600);
    let expired = keys.issue(&UserId::generate(), Role::Customer, &SessionId::generate(), long_ago).unwrap();
    let mut tampered = shop.seller.clone();
    tampered.pop();
    tampered.push(if shop.seller.ends_with('A') { 'B' } else { 'A' });
    for token in ["", "not-a-token", expired.as_str(), tampered.as_str()] {
        match connect(addr, token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
            }
            other => panic!("{token:?} was not refused: {:?}", other.map(|_| "connected")),
        }
    }
    assert_eq!(shop.app.local.services.sockets.connected(), 0);
}

#[tokio::test]
async fn a_batch_of_order_events_with_one_poison_message_reports_exactly_that_one() {
    let shop = shop(1).await;
    let notifier = shop.app.local.services.notifier.clone();
    let event = |id: &str, body: String| {
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body);
        message
    };
    let good = json!({"id": cy_domain::EventId::generate(), "type": "order.status_changed", "order_id": OrderId::generate(),
        "customer_id": UserId::generate(), "sellers": [], "at": Timestamp::now(), "data": {"status": "paid"}});
    let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
    batch.records = vec![
        event("m1", good.to_string()),
        event("m2", "{\"not\": \"an event\"}".into()),
        event("m3", good.to_string()),
    ];
    let response = cy_api::notifications::lambda::on_events(&notifier, batch).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m2"]);
}

/// An order-wide move (a full refund, say) tells each seller only of their own part, and only
/// if it moved: never the order's status, which follows the other sellers' parts.
#[tokio::test]
async fn an_order_wide_move_tells_each_seller_of_their_own_part_only() {
    let shop = shop(1).await;
    let realtime = shop.app.local.services.realtime.clone();
    let sockets = shop.app.local.services.sockets.clone();
    let (customer, moved, untouched) = (UserId::generate(), UserId::generate(), UserId::generate());
    let mut inboxes = Vec::new();
    for (n, user) in [&customer, &moved, &untouched].into_iter().enumerate() {
        let id = format!("conn-{n}");
        let connection = cy_data::connections::Connection {
            connection_id: id.clone(),
            user_id: user.clone(),
            connected_at: Timestamp::now().plus_secs(-60),
            role: None,
        };
        cy_data::connections::connect(shop.app.store().as_ref(), &connection).await.unwrap();
        inboxes.push(sockets.register(&id));
    }
    let event: cy_data::orders::OutboxEvent = serde_json::from_value(json!({"id": cy_domain::EventId::generate(),
        "type": "order.status_changed", "order_id": OrderId::generate(), "customer_id": customer,
        "sellers": [moved, untouched], "at": Timestamp::now(),
        "data": {"status": "completed", "from": "delivered", "to": "refunded", "parts": {moved.to_string(): "refunded"}}}))
    .unwrap();
    assert_eq!(realtime.on_event(&event).await.unwrap(), 2);
    let frame = |text: Option<String>| serde_json::from_str::<Value>(&text.expect("a frame")).unwrap();
    assert_eq!(frame(inboxes[0].try_recv().ok())["data"]["status"], "completed", "the customer: the order's");
    assert_eq!(frame(inboxes[1].try_recv().ok())["data"]["status"], "refunded", "the seller: their part's");
    assert!(inboxes[2].try_recv().is_err(), "a seller whose part did not move hears nothing");
}

#[tokio::test]
async fn one_user_holds_at_most_the_connection_limit() {
    let shop = shop(1).await;
    let realtime = shop.app.local.services.realtime.clone();
    for n in 0..cy_api::realtime::MAX_CONNECTIONS_PER_USER {
        realtime.connect(&format!("c{n}"), Some(&shop.seller)).await.unwrap();
    }
    let refused = realtime.connect("one-too-many", Some(&shop.seller)).await.unwrap_err();
    assert_eq!(refused.status(), 429);
    realtime.disconnect("c0").await.unwrap();
    assert!(realtime.connect("one-too-many", Some(&shop.seller)).await.is_ok(), "a slot freed by a disconnect");
}

/// A push the management API answers `410 Gone` (moto never does: a mock here) forgets that
/// connection's records; a connection API Gateway is still opening (younger than 10 s) is kept.
#[tokio::test]
async fn a_410_from_the_management_api_removes_the_connection_record() {
    let mock = axum::Router::new().route(
        "/@connections/{id}",
        axum::routing::post(|axum::extract::Path(id): axum::extract::Path<String>| async move {
            if id == "live" { StatusCode::OK } else { StatusCode::GONE }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, mock).await.unwrap() });
    // SAFETY: set before the SDK reads them; every test of this binary sets the same values.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let shop = shop(1).await;
    let store = shop.app.store();
    let user = UserId::generate();
    for (id, age) in [("live", 60), ("gone", 60), ("opening", 0)] {
        let connection = cy_data::connections::Connection {
            connection_id: id.into(),
            user_id: user.clone(),
            connected_at: Timestamp::now().plus_secs(-age),
            role: None,
        };
        cy_data::connections::connect(store.as_ref(), &connection).await.unwrap();
    }
    let push = cy_realtime::ApiGatewayPush::at(&format!("http://{addr}")).await;
    let realtime =
        cy_api::realtime::Realtime { store: store.clone(), keys: None, push: std::sync::Arc::new(push), chat: None };
    assert_eq!(realtime.push_to_user(&user, "{}").await.unwrap(), 1, "only the live one took it");
    let left = cy_data::connections::of_user(store.as_ref(), &user, Timestamp::now()).await.unwrap();
    let mut ids: Vec<&str> = left.iter().map(|c| c.connection_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["live", "opening"], "the gone one is forgotten, the opening one kept");
    assert!(cy_data::connections::get(store.as_ref(), "gone", Timestamp::now()).await.unwrap().is_none());
}
