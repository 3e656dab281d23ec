//! The oversell race on DynamoDB itself (moto's server, started by the test command): 200
//! concurrent orders for a stock of 50, through the orders router on the DynamoDB adapter.
//! Skips without an emulator unless `CY_REQUIRE_EMULATOR` is set.

use std::sync::Arc;

use cy_api::orders::Orders;
use cy_api::quote::Quoting;
use cy_api::quote_token::QuoteSigner;
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
    let router = cy_http::finish(cy_api::orders::router(Orders { store: store.clone(), keys, quoting, payments }));

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

    // What one order costs, shipping rates cached: from items, one batch read (products,
    // address, tax) and one transaction; from a quote token, one address read and one
    // transaction.
    assert_eq!(cy_data::catalog::adjust_stock(store.as_ref(), &product.id, 10).await.unwrap(), 10);
    let (token, address) = seed_customer(store.as_ref()).await;
    let body = json!({"items": [{"product_id": product.id, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let before = dynamo.calls();
    let one = send(router.clone(), json_request(Method::POST, "/orders", Some(&token), Some(body))).await;
    assert_eq!(one.status, StatusCode::CREATED, "{}", one.body);
    let from_items = dynamo.calls() - before;
    let quote_router = cy_http::finish(cy_api::quote::router(quoting_for_costs));
    let quote_body = json!({"items": [{"product_id": product.id, "quantity": 1}], "address_id": address});
    let quote = send(quote_router, json_request(Method::POST, "/quotes", Some(&token), Some(quote_body))).await;
    let body = json!({"quote_token": quote.body["quote_token"], "address_id": address, "payment_provider": "stripe"});
    let before = dynamo.calls();
    let two = send(router, json_request(Method::POST, "/orders", Some(&token), Some(body))).await;
    assert_eq!(two.status, StatusCode::CREATED, "{}", two.body);
    let from_token = dynamo.calls() - before;
    println!("DynamoDB requests per POST /orders: {from_items} from items, {from_token} from a quote token");
    assert_eq!(from_items, 2, "one batch read and one transaction");
    assert_eq!(from_token, 2, "one address read and one transaction");
}
