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

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_sell_exactly_fifty_on_dynamodb() {
    if std::env::var("CY_DYNAMODB_ENDPOINT").is_err() {
        assert!(
            std::env::var("CY_REQUIRE_EMULATOR").is_err(),
            "CY_REQUIRE_EMULATOR is set but no emulator is configured"
        );
        eprintln!("skipping: no DynamoDB emulator configured");
        return;
    }
    let dynamo = DynamoStore::from_env().await.expect("store");
    let store: Arc<dyn cy_data::Store> = Arc::new(dynamo.clone());
    let keys = Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap());
    let signer = Arc::new(QuoteSigner::new(b"orders-test-quote-secret-orders-test!").unwrap());
    let quoting = Quoting::new(store.clone(), keys.clone(), signer);
    let quoting_for_costs = quoting.clone();
    let payments = Arc::new(cy_payments::SimulatedPayments::new(b"payments", "http://127.0.0.1"));
    let data_key = Arc::new(cy_api::sealed::DataKey::from_base64(cy_tests::TEST_DATA_KEY).unwrap());
    let orders = Orders { store: store.clone(), keys, quoting, payments, data_key, rules: Default::default() };
    let router = cy_http::finish(cy_api::orders::router(orders));

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
