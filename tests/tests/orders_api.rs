//! Orders end to end: never oversell, never create two orders for one checkout, and move only
//! along the lifecycle — through the local runtime's router on the embedded store.

use cy_domain::order::{Actor, OrderStatus};
use cy_domain::{OrderId, Timestamp};
use cy_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Answer, Shop, TestApp, json_request, send, shop, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn customer(app: &TestApp) -> (String, String) {
    cy_tests::seed_customer(app.store().as_ref()).await
}

fn order_body(product: &str, address: &str, quantity: u32) -> Value {
    json!({"items": [{"product_id": product, "quantity": quantity}], "address_id": address, "payment_provider": "stripe"})
}

async fn stock_of(shop: &Shop) -> i64 {
    shop.app.call(Method::GET, &format!("/products/{}", shop.product), None, None).await.body["stock"].as_i64().unwrap()
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_sell_exactly_fifty() {
    let shop = shop(50).await;
    let mut buyers = Vec::new();
    for _ in 0..200 {
        buyers.push(customer(&shop.app).await);
    }
    let router = shop.app.router();
    let attempts = buyers.iter().map(|(token, address)| {
        let (router, body) = (router.clone(), order_body(&shop.product, address, 1));
        async move { send(router, json_request(Method::POST, "/orders", Some(token), Some(body))).await }
    });
    let answers: Vec<Answer> = futures::future::join_all(attempts).await;
    let placed: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    assert_eq!(placed.len(), 50);
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_error(409, "out_of_stock");
        assert_eq!(refused.body["error"]["details"]["product_id"], shop.product.as_str());
    }
    assert_eq!(stock_of(&shop).await, 0);
    for a in &placed {
        assert_eq!(a.body["order"]["status"], "pending_payment");
        assert_eq!(a.body["order"]["total"]["amount"], 10000);
        assert!(a.body["payment"]["reference"].as_str().is_some_and(|r| r.starts_with("pi_sim_")));
    }
    let sold = shop.app.call(Method::GET, "/seller/orders?limit=100", Some(&shop.seller), None).await;
    assert_eq!(sold.body["items"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn one_idempotency_key_sent_twenty_times_at_once_makes_one_order() {
    let shop = shop(10).await;
    let (buyer, address) = customer(&shop.app).await;
    let router = shop.app.router();
    let request = |body: Value| {
        let mut r = json_request(Method::POST, "/orders", Some(&buyer), Some(body));
        r.headers_mut().insert("idempotency-key", "checkout-7f3a".parse().unwrap());
        r
    };
    let attempts = (0..20).map(|_| send(router.clone(), request(order_body(&shop.product, &address, 2))));
    let answers: Vec<Answer> = futures::future::join_all(attempts).await;
    for a in &answers {
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        assert_eq!(a.body, answers[0].body, "every retry gets the first answer");
    }
    assert_eq!(stock_of(&shop).await, 8, "stock was taken once");
    let mine = shop.app.call(Method::GET, "/orders", Some(&buyer), None).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    // The same key with another body is refused and changes nothing.
    let other = send(router.clone(), request(order_body(&shop.product, &address, 3))).await;
    other.assert_error(409, "idempotency_key_reused");
    assert_eq!(stock_of(&shop).await, 8);
}

#[tokio::test]
async fn an_order_from_a_quote_token_is_charged_the_quote_and_placed_once() {
    let shop = shop(10).await;
    let (buyer, address) = customer(&shop.app).await;
    let quote = shop
        .app
        .call(
            Method::POST,
            "/quotes",
            Some(&buyer),
            Some(json!({"items": [{"product_id": shop.product, "quantity": 3}], "address_id": address})),
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    let token_body =
        json!({"quote_token": quote.body["quote_token"], "address_id": address, "payment_provider": "razorpay"});
    let first = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(token_body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["order"]["total"], quote.body["total"]);
    assert_eq!(first.body["payment"]["amount"], quote.body["total"]);
    assert!(first.body["payment"]["reference"].as_str().is_some_and(|r| r.starts_with("order_sim")));
    // A double click: the same quote places no second order.
    let again = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(token_body)).await;
    assert_eq!(again.body, first.body);
    assert_eq!(stock_of(&shop).await, 7);
    // Someone else's quote, a forged one, a quote without the address: refused.
    let (other, other_address) = customer(&shop.app).await;
    let stolen =
        json!({"quote_token": quote.body["quote_token"], "address_id": other_address, "payment_provider": "stripe"});
    shop.app.call(Method::POST, "/orders", Some(&other), Some(stolen)).await.assert_error(400, "validation_failed");
    let forged = json!({"quote_token": "eyJ.bad", "address_id": address, "payment_provider": "stripe"});
    shop.app.call(Method::POST, "/orders", Some(&buyer), Some(forged)).await.assert_error(400, "validation_failed");
    let no_address = shop
        .app
        .call(
            Method::POST,
            "/quotes",
            Some(&buyer),
            Some(json!({"items": [{"product_id": shop.product, "quantity": 1}]})),
        )
        .await;
    let unbound =
        json!({"quote_token": no_address.body["quote_token"], "address_id": address, "payment_provider": "stripe"});
    shop.app.call(Method::POST, "/orders", Some(&buyer), Some(unbound)).await.assert_error(400, "validation_failed");
    for bad in [
        json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address, "payment_provider": "cash"}),
        json!({"address_id": address, "payment_provider": "stripe"}),
        json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": "adr_nope", "payment_provider": "stripe"}),
    ] {
        shop.app.call(Method::POST, "/orders", Some(&buyer), Some(bad)).await.assert_error(400, "validation_failed");
    }
    shop.app
        .call(Method::POST, "/orders", Some(&shop.seller), Some(order_body(&shop.product, &address, 1)))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn the_lifecycle_moves_only_along_its_table_and_keeps_a_timeline() {
    let shop = shop(10).await;
    let (buyer, address) = customer(&shop.app).await;
    let placed =
        shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 1))).await;
    let id = placed.body["order"]["id"].as_str().unwrap().to_owned();
    let status = |to: &str| json!({"status": to, "tracking": {"carrier": "BlueDart", "number": "BD123"}});
    let path = format!("/orders/{id}/status");
    // Unpaid: the seller cannot process or ship it.
    shop.app
        .call(Method::PUT, &path, Some(&shop.seller), Some(status("processing")))
        .await
        .assert_error(409, "invalid_transition");
    shop.app
        .call(Method::PUT, &path, Some(&shop.seller), Some(status("shipped")))
        .await
        .assert_error(409, "invalid_transition");
    // The payment arrives (the payments issue's webhook makes this move).
    let store = shop.app.store();
    let order = cy_data::orders::get_order(store.as_ref(), &OrderId::parse(&id).unwrap()).await.unwrap().unwrap();
    cy_data::orders::move_order(store.as_ref(), &order, OrderStatus::Paid, Actor::System, None, None)
        .await
        .unwrap()
        .unwrap();
    for to in ["processing", "shipped", "delivered"] {
        let moved = shop.app.call(Method::PUT, &path, Some(&shop.seller), Some(status(to))).await;
        assert_eq!(moved.status, StatusCode::OK, "{to}: {}", moved.body);
        assert_eq!(moved.body["status"], to);
    }
    shop.app
        .call(Method::PUT, &path, Some(&shop.seller), Some(status("completed")))
        .await
        .assert_error(403, "forbidden");
    let admin = token(&shop.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token");
    assert_eq!(shop.app.call(Method::PUT, &path, Some(&admin), Some(status("completed"))).await.status, StatusCode::OK);
    for to in ["pending_payment", "paid", "shipped", "cancelled", "refunded"] {
        shop.app.call(Method::PUT, &path, Some(&admin), Some(status(to))).await.assert_error(409, "invalid_transition");
    }
    shop.app
        .call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None)
        .await
        .assert_error(409, "invalid_transition");

    let timeline = shop.app.call(Method::GET, &format!("/orders/{id}/timeline"), Some(&buyer), None).await;
    let moves: Vec<(Value, Value)> =
        timeline.body["items"].as_array().unwrap().iter().map(|e| (e["from"].clone(), e["to"].clone())).collect();
    assert_eq!(
        moves,
        vec![
            (Value::Null, json!("pending_payment")),
            (json!("pending_payment"), json!("paid")),
            (json!("paid"), json!("processing")),
            (json!("processing"), json!("shipped")),
            (json!("shipped"), json!("delivered")),
            (json!("delivered"), json!("completed")),
        ]
    );
    // Strangers learn nothing, not even that the order exists.
    let (stranger, _) = customer(&shop.app).await;
    shop.app.call(Method::GET, &format!("/orders/{id}"), Some(&stranger), None).await.assert_error(404, "not_found");
    shop.app
        .call(Method::GET, &format!("/orders/{id}/timeline"), Some(&stranger), None)
        .await
        .assert_error(404, "not_found");
    let seen_by_seller = shop.app.call(Method::GET, &format!("/orders/{id}"), Some(&shop.seller), None).await;
    assert_eq!(seen_by_seller.body["lines"].as_array().unwrap().len(), 1);
    assert_eq!(seen_by_seller.body["fulfilments"][0]["tracking"]["number"], "BD123");
}

#[tokio::test]
async fn a_customer_cancels_an_unpaid_order_and_the_stock_comes_back() {
    let shop = shop(5).await;
    let (buyer, address) = customer(&shop.app).await;
    let placed =
        shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 4))).await;
    assert_eq!(stock_of(&shop).await, 1);
    let id = placed.body["order"]["id"].as_str().unwrap();
    let cancelled = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
    assert_eq!(stock_of(&shop).await, 5);
    shop.app
        .call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None)
        .await
        .assert_error(409, "invalid_transition");
    assert_eq!(stock_of(&shop).await, 5, "cancelling twice gives nothing back twice");
}

/// The reservation sweep and a payment race for the same unpaid orders, many times over:
/// each order ends paid or released, never both, and stock matches.
#[tokio::test]
async fn expiry_and_a_concurrent_payment_never_both_win() {
    let shop = shop(40).await;
    let store = shop.app.store();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (buyer, address) = customer(&shop.app).await;
        let placed =
            shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 2))).await;
        ids.push(OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap());
    }
    assert_eq!(stock_of(&shop).await, 0);
    let later = Timestamp::now().plus_secs(16 * 60);
    let pay_all = {
        let (store, ids) = (store.clone(), ids.clone());
        async move {
            let mut paid = 0;
            for id in ids {
                let order = cy_data::orders::get_order(store.as_ref(), &id).await.unwrap().unwrap();
                if order.status == OrderStatus::PendingPayment
                    && cy_data::orders::move_order(store.as_ref(), &order, OrderStatus::Paid, Actor::System, None, None)
                        .await
                        .unwrap()
                        .is_some()
                {
                    paid += 1;
                }
            }
            paid
        }
    };
    let sweeps = (0..3).map(|_| {
        let sweeps = shop.app.sweeps();
        async move {
            let report = sweeps.reservations(later).await;
            assert_eq!((report.failed, report.set_aside), (0, 0), "{report:?}");
            report.done
        }
    });
    let (paid, released) = tokio::join!(pay_all, futures::future::join_all(sweeps));
    let released: usize = released.iter().sum();
    assert_eq!(paid + released, 20, "every order ended exactly once (paid {paid}, released {released})");
    let mut counted = (0, 0);
    for id in &ids {
        match cy_data::orders::get_order(store.as_ref(), id).await.unwrap().unwrap().status {
            OrderStatus::Paid => counted.0 += 1,
            OrderStatus::Cancelled => counted.1 += 1,
            other => panic!("order left {other:?}"),
        }
    }
    assert_eq!(counted, (paid, released));
    assert_eq!(stock_of(&shop).await, 2 * released as i64, "released orders gave back exactly their units");
    // Running the sweep again changes nothing.
    assert_eq!(shop.app.sweeps().reservations(later).await.done, 0);
}

/// A publisher that refuses everything: nothing may be removed from the outbox then.
struct Down;

#[async_trait::async_trait]
impl cy_queue::Publisher for Down {
    async fn publish(&self, messages: &[cy_queue::Message]) -> Result<Vec<String>, cy_domain::Error> {
        Ok(messages.iter().map(|m| m.id.clone()).collect())
    }
}

#[tokio::test]
async fn an_event_committed_by_a_writer_that_died_is_still_published_once() {
    use cy_data::orders::OutboxEvent;
    use cy_data::{Item, Query, keys};
    let shop = shop(5).await;
    let store = shop.app.store();
    let (buyer, address) = customer(&shop.app).await;
    let placed =
        shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 1))).await;
    let order_id = placed.body["order"]["id"].as_str().unwrap().to_owned();
    // An entry as a function leaves it when it dies right after its transaction committed.
    let orphan = OutboxEvent {
        id: cy_domain::EventId::generate(),
        kind: "order.status_changed".into(),
        order_id: Some(OrderId::parse(&order_id).unwrap()),
        customer_id: cy_domain::UserId::generate(),
        sellers: Vec::new(),
        at: Timestamp::now(),
        data: json!({"from": "pending_payment", "to": "cancelled"}),
    };
    store.put(Item::from_record(&keys::outbox(&orphan.id), &orphan).unwrap(), None).await.unwrap();

    assert_eq!(cy_api::relay::drain_outbox(store.as_ref(), &Down, 100).await.unwrap(), 0);
    let pending = store.query(&Query::table(keys::OUTBOX_PARTITION)).await.unwrap();
    assert_eq!(pending.items.len(), 2, "a failed publication removes nothing");

    let queue = cy_queue::LocalQueue::new();
    assert_eq!(cy_api::relay::drain_outbox(store.as_ref(), &queue, 100).await.unwrap(), 2);
    let published = queue.published();
    let kinds: Vec<&str> = published.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, vec!["order.created", "order.status_changed"], "in the order they were committed");
    assert!(published[0].body.contains(&order_id));
    assert_eq!(published[1].id, orphan.id.to_string());
    assert!(store.query(&Query::table(keys::OUTBOX_PARTITION)).await.unwrap().items.is_empty());
    assert_eq!(cy_api::relay::drain_outbox(store.as_ref(), &queue, 100).await.unwrap(), 0);
    assert_eq!(queue.published().len(), 2, "nothing is published twice by a second pass");
}

#[tokio::test]
async fn the_cart_checks_lines_by_the_quote_rules_and_shows_todays_prices() {
    let shop = shop(5).await;
    let (buyer, _) = customer(&shop.app).await;
    // A product with a required engraving.
    let body = json!({"title": "Engraved pen", "category_id": "home-mugs", "base_price": {"amount": 2000, "currency": "INR"}, "stock": 9,
        "options": [{"name": "Text", "kind": "text", "required": true, "max_length": 5, "price_per_char": 100}]});
    let pen = shop.app.call(Method::POST, "/seller/products", Some(&shop.seller), Some(body)).await.body;
    let text = pen["options"][0]["id"].as_str().unwrap().to_owned();
    let put = |line: &str, body: Value| {
        let path = format!("/me/cart/items/{line}");
        let (app, buyer) = (&shop.app, buyer.clone());
        async move { app.call(Method::PUT, &path, Some(&buyer), Some(body)).await }
    };

    let refused =
        put("pen-1", json!({"product_id": pen["id"], "quantity": 1, "customizations": {text.clone(): "TOOLONG"}}))
            .await;
    refused.assert_error(400, "validation_failed");
    assert!(refused.body["error"]["details"][format!("customizations.{text}")].is_string(), "{}", refused.body);
    put("bad.id!", json!({"product_id": pen["id"], "quantity": 1})).await.assert_error(400, "validation_failed");
    put("mug-1", json!({"product_id": shop.product, "quantity": 0})).await.assert_error(400, "validation_failed");

    assert_eq!(
        put("pen-1", json!({"product_id": pen["id"], "quantity": 2, "customizations": {text.clone(): "ASHA"}}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(put("mug-1", json!({"product_id": shop.product, "quantity": 1})).await.status, StatusCode::OK);
    // PUT again replaces the line (idempotent), it does not add one.
    assert_eq!(put("mug-1", json!({"product_id": shop.product, "quantity": 3})).await.status, StatusCode::OK);
    let cart = shop.app.call(Method::GET, "/me/cart", Some(&buyer), None).await;
    let items = cart.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Pen: (2 000 + 4 × 100) × 2 = 4 800; mug: 10 000 × 3 = 30 000.
    assert_eq!(cart.body["subtotal"]["amount"], 34_800, "{}", cart.body);

    // The seller archives the mug: the line stays, with its problem, out of the subtotal.
    let path = format!("/seller/products/{}", shop.product);
    assert_eq!(shop.app.call(Method::DELETE, &path, Some(&shop.seller), None).await.status, StatusCode::NO_CONTENT);
    let cart = shop.app.call(Method::GET, "/me/cart", Some(&buyer), None).await;
    let mug = cart.body["items"].as_array().unwrap().iter().find(|l| l["line_id"] == "mug-1").unwrap().clone();
    assert!(mug["problem"].is_string(), "{mug}");
    assert_eq!(cart.body["subtotal"]["amount"], 4_800);

    assert_eq!(
        shop.app.call(Method::DELETE, "/me/cart/items/mug-1", Some(&buyer), None).await.status,
        StatusCode::NO_CONTENT
    );
    shop.app.call(Method::DELETE, "/me/cart/items/mug-1", Some(&buyer), None).await.assert_error(404, "not_found");
    shop.app.call(Method::GET, "/me/cart", Some(&shop.seller), None).await.assert_error(403, "forbidden");
}

/// A failed payment keeps the order's stock until its reservation ends (the buyer may retry with
/// the provider, and a retry that succeeds pays it); then the sweep cancels it, giving the stock
/// back and closing its payment.
#[tokio::test]
async fn a_failed_payment_keeps_its_stock_until_the_reservation_ends() {
    let shop = shop(4).await;
    let store = shop.app.store();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (buyer, address) = customer(&shop.app).await;
        let placed =
            shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 2))).await;
        ids.push(OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap());
    }
    let get = |id: OrderId| {
        let store = store.clone();
        async move { cy_data::orders::get_order(store.as_ref(), &id).await.unwrap().unwrap() }
    };
    for id in &ids {
        let order = get(id.clone()).await;
        let failed =
            cy_data::orders::move_order(store.as_ref(), &order, OrderStatus::PaymentFailed, Actor::System, None, None)
                .await
                .unwrap();
        assert_eq!(failed.unwrap().status, OrderStatus::PaymentFailed);
    }
    assert_eq!(stock_of(&shop).await, 0, "a failed payment keeps its units reserved");
    // The first buyer retries and pays; the second does not.
    let retried = get(ids[0].clone()).await;
    cy_data::orders::move_order(store.as_ref(), &retried, OrderStatus::Paid, Actor::System, None, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock_of(&shop).await, 0, "paying after a failure takes nothing twice");
    let report = shop.app.sweeps().reservations(Timestamp::now()).await;
    assert_eq!(report.done, 0, "not before the reservation ends");
    let report = shop.app.sweeps().reservations(Timestamp::now().plus_secs(16 * 60)).await;
    assert_eq!(report.done, 1, "{report:?}");
    assert_eq!(get(ids[0].clone()).await.status, OrderStatus::Paid);
    assert_eq!(get(ids[1].clone()).await.status, OrderStatus::Cancelled);
    assert_eq!(stock_of(&shop).await, 2, "the unpaid order's units are back");
}

#[tokio::test]
async fn a_sellers_orders_filtered_by_status_page_fully_and_miss_none() {
    let shop = shop(20).await;
    let mut cancelled = std::collections::BTreeSet::new();
    for i in 0..7 {
        let (buyer, address) = customer(&shop.app).await;
        let placed =
            shop.app.call(Method::POST, "/orders", Some(&buyer), Some(order_body(&shop.product, &address, 1))).await;
        let id = placed.body["order"]["id"].as_str().unwrap().to_owned();
        if i % 2 == 0 {
            let c = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
            assert_eq!(c.status, StatusCode::OK);
            cancelled.insert(id);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/seller/orders?status=cancelled&limit=2&cursor={c}"),
            None => "/seller/orders?status=cancelled&limit=2".to_owned(),
        };
        let page = shop.app.call(Method::GET, &path, Some(&shop.seller), None).await;
        let items = page.body["items"].as_array().unwrap();
        for e in items {
            assert_eq!(e["status"], "cancelled");
            assert!(seen.insert(e["order_id"].as_str().unwrap().to_owned()), "an order came twice");
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 2, "a page with more to come is full");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen, cancelled);
    shop.app
        .call(Method::GET, "/seller/orders?status=lost", Some(&shop.seller), None)
        .await
        .assert_error(400, "validation_failed");
}

/// Admins see every order, newest first, a page at a time (customers only their own); anyone
/// may narrow their list by status.
#[tokio::test]
async fn admins_list_every_order_and_lists_filter_by_status() {
    let shop = shop(10).await;
    let (a, a_address) = customer(&shop.app).await;
    let (b, b_address) = customer(&shop.app).await;
    let place = async |buyer: &str, address: &str| {
        let placed =
            shop.app.call(Method::POST, "/orders", Some(buyer), Some(order_body(&shop.product, address, 1))).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        placed.body["order"]["id"].as_str().unwrap().to_owned()
    };
    let first = place(&a, &a_address).await;
    let second = place(&b, &b_address).await;
    let third = place(&a, &a_address).await;
    let cancelled = shop.app.call(Method::POST, &format!("/orders/{second}/cancel"), Some(&b), None).await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);

    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["items"].as_array().unwrap().iter().map(|e| e["order_id"].as_str().unwrap().to_owned()).collect()
    };
    let admin = token(&shop.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token");
    let page = shop.app.call(Method::GET, "/orders?limit=2", Some(&admin), None).await;
    assert_eq!(ids(&page), vec![third.clone(), second.clone()], "{}", page.body);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = shop.app.call(Method::GET, &format!("/orders?limit=2&cursor={cursor}"), Some(&admin), None).await;
    assert_eq!(ids(&rest), vec![first.clone()]);
    let by_status = shop.app.call(Method::GET, "/orders?status=cancelled", Some(&admin), None).await;
    assert_eq!(ids(&by_status), vec![second.clone()]);

    let mine = shop.app.call(Method::GET, "/orders", Some(&a), None).await;
    assert_eq!(ids(&mine), vec![third, first]);
    assert!(ids(&shop.app.call(Method::GET, "/orders?status=cancelled", Some(&a), None).await).is_empty());
    assert_eq!(ids(&shop.app.call(Method::GET, "/orders?status=cancelled", Some(&b), None).await), vec![second]);
    shop.app.call(Method::GET, "/orders?status=lost", Some(&a), None).await.assert_error(400, "validation_failed");
}
