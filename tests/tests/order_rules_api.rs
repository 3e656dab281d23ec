//! The rules placing an order is counted against, under concurrency: a coupon's redemptions, a
//! customer's unpaid orders, an Idempotency-Key's endpoint and first answer; and what a request
//! body may hold (tracking, money). Through the local runtime's routers on the embedded store.

use cy_api::orders::OrderRules;
use cy_domain::OrderId;
use cy_domain::payment::PaymentProvider;
use cy_tests::{Answer, Shop, TestApp, json_request, send, shop};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn order_body(product: &str, address: &str, coupon: Option<&str>) -> Value {
    let mut body = json!({"items": [{"product_id": product, "quantity": 1}], "address_id": address,
        "payment_provider": "stripe"});
    if let Some(code) = coupon {
        body["coupon"] = json!(code);
    }
    body
}

async fn coupon(app: &TestApp, body: Value) {
    let admin = app.admin().await;
    let created = app.call(Method::POST, "/admin/coupons", Some(&admin), Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

async fn coupon_record(app: &TestApp, code: &str) -> cy_domain::catalog::Coupon {
    cy_data::catalog::get_coupon(app.store().as_ref(), code).await.unwrap().unwrap()
}

#[tokio::test]
async fn twenty_buyers_at_once_for_a_coupon_of_five_redemptions_make_exactly_five_orders_with_it() {
    let shop = shop(100).await;
    coupon(&shop.app, json!({"code": "FIVE", "type": "percent", "bps": 1000, "max_redemptions": 5})).await;
    let mut buyers = Vec::new();
    for _ in 0..20 {
        buyers.push(cy_tests::seed_customer(shop.app.store().as_ref()).await);
    }
    let router = shop.app.router();
    let attempts = buyers.iter().map(|(token, address)| {
        let (router, body) = (router.clone(), order_body(&shop.product, address, Some("FIVE")));
        async move { send(router, json_request(Method::POST, "/orders", Some(token), Some(body))).await }
    });
    let answers: Vec<Answer> = futures::future::join_all(attempts).await;
    let placed: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    assert_eq!(placed.len(), 5, "{:?}", answers.iter().map(|a| a.body.to_string()).collect::<Vec<_>>());
    for a in &placed {
        assert_eq!(a.body["order"]["discount"]["amount"], 1_000, "{}", a.body);
        assert_eq!(a.body["order"]["coupon"], "FIVE");
    }
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        // Refused when placed (the count raced) or already when priced (the count was reached).
        match refused.status.as_u16() {
            409 => refused.assert_error(409, "coupon_exhausted"),
            _ => refused.assert_error(400, "validation_failed"),
        }
        assert!(refused.body["error"]["details"]["coupon"].is_string(), "{}", refused.body);
    }
    assert_eq!(coupon_record(&shop.app, "FIVE").await.redemptions, 5);
    assert_eq!(stock(&shop).await, 95, "the refused orders reserved nothing");

    // An order called off unpaid gives its redemption back.
    let id = placed[0].body["order"]["id"].as_str().unwrap();
    let mut buyer = None;
    for (token, _) in &buyers {
        if shop.app.call(Method::GET, &format!("/orders/{id}"), Some(token), None).await.status == StatusCode::OK {
            buyer = Some(token);
        }
    }
    let buyer = buyer.expect("the order's buyer");
    let cancelled = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(buyer), None).await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
    assert_eq!(coupon_record(&shop.app, "FIVE").await.redemptions, 4);
    let (late, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let again = shop
        .app
        .call(Method::POST, "/orders", Some(&late), Some(order_body(&shop.product, &address, Some("FIVE"))))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
}

#[tokio::test]
async fn a_customer_uses_a_coupon_at_most_its_per_customer_limit_even_at_once() {
    let shop = shop(100).await;
    coupon(
        &shop.app,
        json!({"code": "ONCE", "type": "fixed", "amount": {"amount": 500, "currency": "INR"}, "per_customer_limit": 1}),
    )
    .await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let router = shop.app.router();
    let attempt = |n: usize| {
        let mut request = json_request(
            Method::POST,
            "/orders",
            Some(&buyer),
            Some(order_body(&shop.product, &address, Some("ONCE"))),
        );
        request.headers_mut().insert("idempotency-key", format!("k{n}").parse().unwrap());
        send(router.clone(), request)
    };
    let answers = futures::future::join_all((0..4).map(attempt)).await;
    assert_eq!(answers.iter().filter(|a| a.status == StatusCode::CREATED).count(), 1);
    let (other, other_address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let theirs = shop
        .app
        .call(Method::POST, "/orders", Some(&other), Some(order_body(&shop.product, &other_address, Some("ONCE"))))
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "another customer has their own use: {}", theirs.body);
}

#[tokio::test]
async fn a_customer_holds_at_most_the_configured_unpaid_orders_and_paying_one_frees_a_slot() {
    let app = TestApp::with_rules(OrderRules { max_unpaid_orders: 3, ..OrderRules::default() }).await;
    let shop = shop_on(app).await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let router = shop.app.router();
    let attempt = |n: usize| {
        let mut request =
            json_request(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, None)));
        request.headers_mut().insert("idempotency-key", format!("order-{n}").parse().unwrap());
        send(router.clone(), request)
    };
    let answers = futures::future::join_all((0..8).map(attempt)).await;
    let placed: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    assert_eq!(placed.len(), 3);
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_error(409, "too_many_unpaid_orders");
        assert_eq!(refused.body["error"]["details"]["limit"], 3);
    }
    assert_eq!(stock(&shop).await, 97, "the refused orders hold nothing");
    // Paying one frees its slot; so does cancelling one.
    let first = OrderId::parse(placed[0].body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &first).await;
    assert_eq!(attempt(100).await.status, StatusCode::CREATED);
    attempt(101).await.assert_error(409, "too_many_unpaid_orders");
    let second = placed[1].body["order"]["id"].as_str().unwrap();
    shop.app.call(Method::POST, &format!("/orders/{second}/cancel"), Some(&buyer), None).await;
    assert_eq!(attempt(102).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_as_it_was_and_a_key_used_elsewhere_is_a_conflict() {
    let shop = shop(10).await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let keyed = |path: &str, key: &str, body: Value| {
        let mut request = json_request(Method::POST, path, Some(&buyer), Some(body));
        request.headers_mut().insert("idempotency-key", key.parse().unwrap());
        shop.app.send(request)
    };
    let first = keyed("/orders", "checkout-1", order_body(&shop.product, &address, None)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.body["payment"]["client_secret"].is_string());
    let id = OrderId::parse(first.body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    // The order is paid now; the retry still answers what the first request got.
    let again = keyed("/orders", "checkout-1", order_body(&shop.product, &address, None)).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    assert_eq!(again.body["order"]["status"], "pending_payment");
    // The answer is kept sealed: the client secret is not in the table in the clear.
    let claim = cy_data::idempotency::claim(shop.app.store().as_ref(), &buyer_id(&shop, &id).await, "checkout-1")
        .await
        .unwrap()
        .unwrap();
    let kept = claim.answer.expect("a kept answer");
    assert!(kept.sealed && !kept.body.contains("secret"), "{kept:?}");

    // The same key on another endpoint is the client's mistake, answered 409 (never a 500).
    let address_body =
        json!({"name": "Asha", "line1": "1 MG Road", "city": "Pune", "postal_code": "411001", "country": "IN"});
    keyed("/me/addresses", "checkout-1", address_body.clone()).await.assert_error(409, "idempotency_key_reused");
    let added = keyed("/me/addresses", "address-1", address_body).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    keyed("/orders", "address-1", order_body(&shop.product, &address, None))
        .await
        .assert_error(409, "idempotency_key_reused");
    assert_eq!(stock(&shop).await, 9, "one order, however often it was asked for");
}

#[tokio::test]
async fn tracking_and_money_in_request_bodies_are_checked() {
    let shop = shop(10).await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let placed =
        shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, None))).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    let path = format!("/orders/{id}/status");
    assert_eq!(
        shop.app.call(Method::PUT, &path, Some(&shop.seller), Some(json!({"status": "processing"}))).await.status,
        StatusCode::OK
    );
    for tracking in [
        json!({"carrier": "", "number": "BD1"}),
        json!({"carrier": "BlueDart", "number": "x".repeat(101)}),
        json!({"carrier": "BlueDart", "number": "BD1", "url": "http://track.example.in/BD1"}),
        json!({"carrier": "BlueDart", "number": "BD1", "url": "javascript:alert(1)"}),
        json!({"carrier": "BlueDart", "number": "BD1", "eta": "tomorrow"}),
        json!({"carrier": "BlueDart"}),
    ] {
        let answer = shop
            .app
            .call(Method::PUT, &path, Some(&shop.seller), Some(json!({"status": "shipped", "tracking": tracking})))
            .await;
        answer.assert_error(400, "validation_failed");
        assert!(
            answer.body["error"]["details"].as_object().unwrap().keys().any(|k| k.starts_with("tracking")),
            "{}",
            answer.body
        );
    }
    let shipped = json!({"status": "shipped", "tracking": {"carrier": "BlueDart", "number": "BD1", "url": "https://track.example.in/BD1"}});
    assert_eq!(shop.app.call(Method::PUT, &path, Some(&shop.seller), Some(shipped)).await.status, StatusCode::OK);

    let admin = shop.app.admin().await;
    for body in [
        json!({"code": "HUGE", "type": "fixed", "amount": {"amount": 1_000_000_000_000_001i64, "currency": "INR"}}),
        json!({"code": "HUGE", "type": "percent", "bps": 10, "min_order": {"amount": -9_223_372_036_854_775_807i64, "currency": "INR"}}),
        json!({"code": "ZERO", "type": "percent", "bps": 10, "max_redemptions": 0}),
    ] {
        shop.app
            .call(Method::POST, "/admin/coupons", Some(&admin), Some(body))
            .await
            .assert_error(400, "validation_failed");
    }
    let huge = json!({"flat": {"amount": 9_000_000_000_000_000_000u64, "currency": "INR"}});
    shop.app
        .call(Method::PUT, "/seller/shipping", Some(&shop.seller), Some(huge))
        .await
        .assert_error(400, "validation_failed");
}

async fn stock(shop: &Shop) -> i64 {
    shop.app.call(Method::GET, &format!("/products/{}", shop.product), None, None).await.body["stock"].as_i64().unwrap()
}

async fn buyer_id(shop: &Shop, id: &OrderId) -> cy_domain::UserId {
    shop.app.stored(id).await.customer_id
}

/// [`cy_tests::shop`] on a runtime made with other rules.
async fn shop_on(app: TestApp) -> Shop {
    cy_tests::shop_in(app, 100).await
}
