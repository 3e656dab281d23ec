//! The oversell race on DynamoDB itself (moto's server, started by the test command): 200
//! concurrent orders for a stock of 50, through the orders router on the DynamoDB adapter.
//! Skips without an emulator unless `CY_REQUIRE_EMULATOR` is set.

use std::sync::Arc;

use cy_api::orders::Orders;
use cy_api::pricing::Quoting;
use cy_api::pricing::token::QuoteSigner;
use cy_domain::product::{CategoryId, Product, ProductDescription, ProductStatus, ProductTitle};
use cy_domain::{Currency, Money, ProductId, Timestamp, UserId};
use cy_http::JwtKeys;
use cy_store_dynamodb::DynamoStore;
use cy_tests::{TEST_JWT_SECRET, json_request, seed_customer, send};
use http::{Method, StatusCode};
use serde_json::json;

/// The orders function on DynamoDB (moto's server), as its Lambda wires it; `None` (the test
/// skips) without an emulator unless `CY_REQUIRE_EMULATOR` is set.
struct OnDynamo {
    dynamo: DynamoStore,
    store: Arc<dyn cy_data::Store>,
    keys: Arc<JwtKeys>,
    quoting: Quoting,
    router: axum::Router,
}

async fn on_dynamo() -> Option<OnDynamo> {
    if std::env::var("CY_DYNAMODB_ENDPOINT").is_err() {
        assert!(
            std::env::var("CY_REQUIRE_EMULATOR").is_err(),
            "CY_REQUIRE_EMULATOR is set but no emulator is configured"
        );
        eprintln!("skipping: no DynamoDB emulator configured");
        return None;
    }
    let dynamo = DynamoStore::from_env().await.expect("store");
    let store: Arc<dyn cy_data::Store> = Arc::new(dynamo.clone());
    let keys = Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap());
    let signer = Arc::new(QuoteSigner::new(b"orders-test-quote-secret-orders-test!").unwrap());
    let quoting = Quoting::new(store.clone(), keys.clone(), signer);
    let payments = Arc::new(cy_payments::SimulatedPayments::new(b"payments", "http://127.0.0.1"));
    let data_key = Arc::new(cy_api::sealed::DataKey::from_base64(cy_tests::TEST_DATA_KEY).unwrap());
    let orders = Orders {
        store: store.clone(),
        keys: keys.clone(),
        quoting: quoting.clone(),
        payments,
        data_key,
        rules: Default::default(),
    };
    let router = cy_http::finish(cy_api::orders::router(orders));
    Some(OnDynamo { dynamo, store, keys, quoting, router })
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_sell_exactly_fifty_on_dynamodb() {
    let Some(OnDynamo { dynamo, store, quoting: quoting_for_costs, router, .. }) = on_dynamo().await else { return };

    let now = Timestamp::now();
    let product = Product {
        id: ProductId::generate(),
        seller_id: UserId::generate(),
        seller_name: "Race Seller".into(),
        title: ProductTitle::parse("Race mug").unwrap(),
        description: ProductDescription::parse("").unwrap(),
        category_id: CategoryId::parse("home-mugs").unwrap(),
        base_price: Money::new(10_000, Currency::parse("INR").unwrap()).unwrap(),
        stock: 50,
        images: Vec::new(),
        status: ProductStatus::Active,
        version: 1,
        options: Vec::new(),
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    };
    cy_data::catalog::create_product(store.as_ref(), &product, Vec::new()).await.unwrap();
    let mut buyers = Vec::new();
    for _ in 0..200 {
        buyers.push(seed_customer(store.as_ref()).await);
    }
    let before = dynamo.calls();
    let attempts = buyers.iter().map(|(token, address)| {
        let body = json!({"items": [{"product_id": product.id, "quantity": 1}], "address_id": address, "payment_provider": "paypal"});
        send(router.clone(), json_request(Method::POST, "/orders", Some(token), Some(body)))
    });
    let answers = futures::future::join_all(attempts).await;
    let calls = dynamo.calls() - before;
    let placed = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_error(409, "out_of_stock");
    }
    assert_eq!(placed, 50);
    let stored = cy_data::catalog::get_product(store.as_ref(), &product.id).await.unwrap().unwrap();
    assert_eq!(stored.stock, 0);
    let (sold, _) =
        cy_data::orders::list_orders(store.as_ref(), &product.seller_id, true, None, 100, None).await.unwrap();
    assert_eq!(sold.len(), 50);
    println!("200 concurrent POST /orders on DynamoDB: {placed} placed, {calls} DynamoDB requests");
    // Admins see them all through GSI2 (other tests' orders may share the table).
    let (mut every, mut cursor) = (std::collections::BTreeSet::new(), None);
    loop {
        let (page, next) = cy_data::orders::list_all_orders(store.as_ref(), None, 100, cursor).await.unwrap();
        every.extend(page.into_iter().map(|e| e.order_id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(sold.iter().all(|e| every.contains(&e.order_id)), "every order is in the admins' list");

    // What one order costs, shipping rates cached: from items, one batch read (products,
    // address, tax) and one transaction; from a quote token, one address read and one
    // transaction; then one more transaction records the payment's reference (known only once
    // the provider answered) with its PAYREF entry.
    assert_eq!(cy_data::catalog::adjust_stock(store.as_ref(), &product.id, 10).await.unwrap(), 10);
    let (token, address) = seed_customer(store.as_ref()).await;
    let body = json!({"items": [{"product_id": product.id, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let before = dynamo.calls();
    let one = send(router.clone(), json_request(Method::POST, "/orders", Some(&token), Some(body))).await;
    assert_eq!(one.status, StatusCode::CREATED, "{}", one.body);
    let from_items = dynamo.calls() - before;
    let quote_router = cy_http::finish(cy_api::pricing::router(quoting_for_costs));
    let quote_body = json!({"items": [{"product_id": product.id, "quantity": 1}], "address_id": address});
    let quote = send(quote_router, json_request(Method::POST, "/quotes", Some(&token), Some(quote_body))).await;
    let body = json!({"quote_token": quote.body["quote_token"], "address_id": address, "payment_provider": "stripe"});
    let before = dynamo.calls();
    let two = send(router, json_request(Method::POST, "/orders", Some(&token), Some(body))).await;
    assert_eq!(two.status, StatusCode::CREATED, "{}", two.body);
    let from_token = dynamo.calls() - before;
    println!("DynamoDB requests per POST /orders: {from_items} from items, {from_token} from a quote token");
    assert_eq!(from_items, 3, "one batch read, the order's transaction, the reference's");
    assert_eq!(from_token, 3, "one address read, the order's transaction, the reference's");

    // The same signed webhook delivered ten times at once, on DynamoDB: one change.
    let order = cy_domain::OrderId::parse(two.body["order"]["id"].as_str().unwrap()).unwrap();
    let reference = two.body["payment"]["reference"].as_str().unwrap().to_owned();
    let secret = "whsec_dynamodb_test_secret";
    let gateway = Arc::new(cy_payments::SimulatedPayments::new(b"payments", "http://127.0.0.1"));
    let webhooks = cy_api::payments::Webhooks {
        payments: cy_api::payments::Payments { store: store.clone(), gateway },
        secrets: Arc::new(cy_api::payments::WebhookSecrets {
            stripe: vec![secret.to_owned()],
            stripe_tolerance_secs: 300,
            razorpay: None,
            paypal_webhook_id: None,
        }),
        certificates: Arc::new(cy_payments::certs::LocalCertificates::default()),
    };
    let hooks = cy_http::finish(cy_api::payments::router(webhooks));
    let facts = cy_payments::events::SampleFacts {
        order_id: order.clone(),
        reference: reference.clone(),
        payment_id: reference,
        amount: serde_json::from_value(two.body["order"]["total"].clone()).unwrap(),
        refund_id: None,
        provider_refund_id: "re_unused".into(),
    };
    let event = cy_payments::events::sample_event(
        cy_domain::payment::PaymentProvider::Stripe,
        "payment_intent.succeeded",
        &facts,
        "evt_dynamodb_race_1",
        Timestamp::now().unix(),
    )
    .unwrap();
    let signature = cy_payments::events::sign_stripe(&event, secret, Timestamp::now().unix());
    let delivery = || {
        http::Request::builder()
            .method("POST")
            .uri("/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", signature.as_str())
            .body(axum::body::Body::from(event.clone()))
            .unwrap()
    };
    let before = dynamo.calls();
    let answers = futures::future::join_all((0..10).map(|_| send(hooks.clone(), delivery()))).await;
    let calls = dynamo.calls() - before;
    let outcomes: Vec<&str> = answers.iter().map(|a| a.body["outcome"].as_str().unwrap_or("?")).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "duplicate").count(), 9, "{outcomes:?}");
    let paid = cy_data::orders::get_order(store.as_ref(), &order).await.unwrap().unwrap();
    assert_eq!(paid.status, cy_domain::order::OrderStatus::Paid);
    let (timeline, _) = cy_data::orders::timeline(store.as_ref(), &order, None, 10, None).await.unwrap();
    assert_eq!(timeline.len(), 2, "created, paid");
    let before = dynamo.calls();
    let again = send(hooks, delivery()).await;
    assert_eq!(again.body["outcome"], "duplicate");
    println!(
        "10 concurrent deliveries of one webhook on DynamoDB: {calls} requests; a later duplicate: {}",
        dynamo.calls() - before
    );
}

/// A product of a seller of its own, created in `store`.
async fn product_of(store: &dyn cy_data::Store, title: &str, price: i64) -> Product {
    let now = Timestamp::now();
    let product = Product {
        id: ProductId::generate(),
        seller_id: UserId::generate(),
        seller_name: "Seller".into(),
        title: ProductTitle::parse(title).unwrap(),
        description: ProductDescription::parse("").unwrap(),
        category_id: CategoryId::parse("home-mugs").unwrap(),
        base_price: Money::new(price, Currency::parse("INR").unwrap()).unwrap(),
        stock: 5,
        images: Vec::new(),
        status: ProductStatus::Active,
        version: 1,
        options: Vec::new(),
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    };
    cy_data::catalog::create_product(store, &product, Vec::new()).await.unwrap();
    product
}

/// Fulfilments on DynamoDB itself: a two-seller order is placed with a part per seller, each
/// seller moves only theirs, the order follows the least advanced, each seller's list holds
/// their part; an order item that no longer reads is set aside off the due list (the REMOVE of
/// its index attributes).
#[tokio::test]
async fn a_two_seller_order_places_and_moves_its_parts_on_dynamodb() {
    let Some(OnDynamo { store, keys, router, .. }) = on_dynamo().await else { return };
    let (a, b) = (product_of(store.as_ref(), "Mug", 10_000).await, product_of(store.as_ref(), "Print", 5_000).await);
    let (customer, address) = seed_customer(store.as_ref()).await;
    let body = json!({"items": [{"product_id": a.id, "quantity": 1}, {"product_id": b.id, "quantity": 2}],
        "address_id": address, "payment_provider": "stripe"});
    let placed = send(router.clone(), json_request(Method::POST, "/orders", Some(&customer), Some(body))).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let id = cy_domain::OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    let order = cy_data::orders::get_order(store.as_ref(), &id).await.unwrap().unwrap();
    assert_eq!(order.fulfilments.len(), 2);
    let paid = cy_data::orders::move_order(
        store.as_ref(),
        &order,
        cy_domain::order::OrderStatus::Paid,
        cy_domain::order::Actor::System,
        None,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(paid.fulfilments.iter().all(|f| f.status == cy_domain::order::OrderStatus::Paid));
    let seller = |s: &UserId| {
        keys.issue(s, cy_domain::Role::Seller, &cy_domain::SessionId::generate(), Timestamp::now()).unwrap()
    };
    let path = format!("/orders/{id}/status");
    let moved = send(
        router.clone(),
        json_request(Method::PUT, &path, Some(&seller(&a.seller_id)), Some(json!({"status": "processing"}))),
    )
    .await;
    assert_eq!((moved.status, moved.body["status"].as_str()), (StatusCode::OK, Some("processing")), "{}", moved.body);
    assert_eq!(moved.body["lines"].as_array().unwrap().len(), 1, "A's part only");
    let stored = cy_data::orders::get_order(store.as_ref(), &id).await.unwrap().unwrap();
    assert_eq!(stored.status, cy_domain::order::OrderStatus::Paid, "B's part is still paid");
    let (a_list, _) = cy_data::orders::list_orders(store.as_ref(), &a.seller_id, true, None, 10, None).await.unwrap();
    let (b_list, _) = cy_data::orders::list_orders(store.as_ref(), &b.seller_id, true, None, 10, None).await.unwrap();
    // Each list holds the seller's part: its status and its total (tax rules other tests left in
    // the shared table may apply), never the order's.
    let part_total = |s: &UserId| stored.fulfilment(s).unwrap().total;
    assert_eq!(
        (a_list[0].status, a_list[0].total),
        (cy_domain::order::OrderStatus::Processing, part_total(&a.seller_id))
    );
    assert_eq!((b_list[0].status, b_list[0].total), (cy_domain::order::OrderStatus::Paid, part_total(&b.seller_id)));
    assert_eq!(part_total(&a.seller_id).checked_add(part_total(&b.seller_id)).unwrap(), stored.total);
    assert_eq!((a_list[0].lines.len(), b_list[0].lines.len()), (1, 1));
    let (timeline, _) = cy_data::orders::timeline(store.as_ref(), &id, Some(&b.seller_id), 10, None).await.unwrap();
    assert!(timeline.iter().all(|e| e.seller_id.is_none()), "B sees nothing of A's part: {timeline:?}");

    // An item on the reservation list that no longer reads as an order: taken off the list.
    let broken = cy_domain::OrderId::generate();
    let item = cy_data::Item::new(&cy_data::keys::order(&broken)).with("status", "pending_payment").in_index(
        cy_data::keys::RESERVATIONS,
        cy_data::keys::RESERVATIONS_PK,
        format!("{:012}#{broken}", 1),
    );
    store.put(item, None).await.unwrap();
    let record = cy_data::orders::sweeps::SetAside {
        sweep: cy_data::orders::sweeps::Sweep::Reservations,
        subject: broken.as_str().to_owned(),
        order_id: None,
        failures: 3,
        last_error: "does not read".into(),
        at: Timestamp::now(),
    };
    let off = vec![cy_data::orders::sweeps::take_off_due_list(store.as_ref(), &broken).await.unwrap()];
    cy_data::orders::sweeps::set_aside(store.as_ref(), &record, off).await.unwrap();
    let (due, _) = cy_data::orders::sweeps::due_orders(
        store.as_ref(),
        cy_data::orders::sweeps::Sweep::Reservations,
        Timestamp::now(),
        1000,
        None,
    )
    .await
    .unwrap();
    assert!(!due.contains(&broken), "off the reservation list on DynamoDB too");
    let kept = store.get(&cy_data::keys::order(&broken)).await.unwrap().unwrap();
    assert_eq!(kept.get("status").and_then(|v| v.as_str()), Some("pending_payment"), "the item itself is kept");
}

/// WebSocket connections on DynamoDB: recorded in two items, found by their user, forgotten
/// by `$disconnect` (by the connection alone) or after a push found them gone.
#[tokio::test]
async fn connections_are_recorded_found_and_forgotten_on_dynamodb() {
    let Some(OnDynamo { store, .. }) = on_dynamo().await else { return };
    let user = UserId::generate();
    for n in 0..3 {
        let connection = cy_data::connections::Connection {
            connection_id: format!("conn-{user}-{n}"),
            user_id: user.clone(),
            connected_at: Timestamp::now(),
            role: None,
        };
        cy_data::connections::connect(store.as_ref(), &connection).await.unwrap();
    }
    let live = cy_data::connections::of_user(store.as_ref(), &user, Timestamp::now()).await.unwrap();
    assert_eq!(live.len(), 3);
    cy_data::connections::disconnect(store.as_ref(), &format!("conn-{user}-0")).await.unwrap();
    cy_data::connections::forget(store.as_ref(), &user, &format!("conn-{user}-1")).await.unwrap();
    cy_data::connections::disconnect(store.as_ref(), "never-connected").await.unwrap();
    let live = cy_data::connections::of_user(store.as_ref(), &user, Timestamp::now()).await.unwrap();
    assert_eq!(live.iter().map(|c| c.connection_id.clone()).collect::<Vec<_>>(), vec![format!("conn-{user}-2")]);
    let later = Timestamp::now().plus_secs(cy_data::connections::CONNECTION_TTL_SECS + 1);
    assert!(cy_data::connections::of_user(store.as_ref(), &user, later).await.unwrap().is_empty(), "expired");
}
