//! A checkout holding two sellers' items: one order, one payment, one part (fulfilment) per
//! seller — each seller moves and sees only their own part; the order follows the least
//! advanced; parts complete when their return window ends; a return is refunded once. Through
//! the local runtime's routers on the embedded store, as clients call them.

use cy_api::orders::OrderRules;
use cy_domain::order::{FulfilmentRules, OrderStatus};
use cy_domain::payment::{PaymentProvider, RefundState};
use cy_domain::{OrderId, Timestamp};
use cy_tests::{Answer, TestApp, json_request, send, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Seller {
    token: String,
    id: String,
    product: String,
}

struct Market {
    app: TestApp,
    a: Seller,
    b: Seller,
}

/// Two sellers: A sells a mug at 100.00 (free shipping), B a print at 50.00 (5.00 shipping).
async fn market(rules: OrderRules) -> Market {
    let app = TestApp::with_rules(rules).await;
    cy_tests::seed_mugs_category(app.store().as_ref()).await;
    let mut sellers = Vec::new();
    for (email, title, price) in [("a@sellers.example.in", "Mug", 10_000), ("b@sellers.example.in", "Print", 5_000)] {
        let registered = app.register(email, "seller").await;
        let seller = token(&registered, "access_token");
        let body = json!({"title": title, "category_id": "home-mugs",
            "base_price": {"amount": price, "currency": "INR"}, "stock": 10});
        let created = app.call(Method::POST, "/seller/products", Some(&seller), Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        sellers.push(Seller {
            token: seller,
            id: registered["user"]["id"].as_str().unwrap().to_owned(),
            product: created.body["id"].as_str().unwrap().to_owned(),
        });
    }
    let shipping = json!({"flat": {"amount": 500, "currency": "INR"}});
    let set = app.call(Method::PUT, "/seller/shipping", Some(&sellers[1].token), Some(shipping)).await;
    assert!(set.status.is_success(), "{}", set.body);
    let b = sellers.remove(1);
    let a = sellers.remove(0);
    Market { app, a, b }
}

fn short_window(secs: i64) -> OrderRules {
    OrderRules { fulfilment: FulfilmentRules { return_window_secs: secs }, ..OrderRules::default() }
}

impl Market {
    /// A new customer orders 2 of A's mugs and 1 of B's prints and pays: (customer, order id).
    async fn paid_order(&self) -> (String, OrderId) {
        let (customer, address) = cy_tests::seed_customer(self.app.store().as_ref()).await;
        let body = json!({"items": [{"product_id": self.a.product, "quantity": 2}, {"product_id": self.b.product, "quantity": 1}],
            "address_id": address, "payment_provider": "stripe"});
        let placed = self.app.call(Method::POST, "/orders", Some(&customer), Some(body)).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
        let paid = self.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
        assert_eq!(paid.body["status"], "paid", "{}", paid.body);
        (customer, id)
    }

    async fn moves(&self, who: &str, id: &OrderId, body: Value) -> Answer {
        self.app.call(Method::PUT, &format!("/orders/{id}/status"), Some(who), Some(body)).await
    }

    /// Moves `seller`'s part along `statuses` (tracking given for `shipped`).
    async fn walk(&self, seller: &Seller, id: &OrderId, statuses: &[&str]) {
        for status in statuses {
            let body = json!({"status": status, "tracking": {"carrier": "BlueDart", "number": "BD123"}});
            let moved = self.moves(&seller.token, id, body).await;
            assert_eq!(moved.status, StatusCode::OK, "{status}: {}", moved.body);
            assert_eq!(moved.body["status"], *status, "a seller's view is their part: {}", moved.body);
        }
    }

    async fn status(&self, customer: &str, id: &OrderId) -> Value {
        self.app.call(Method::GET, &format!("/orders/{id}"), Some(customer), None).await.body
    }

    async fn stock(&self, product: &str) -> i64 {
        self.app.call(Method::GET, &format!("/products/{product}"), None, None).await.body["stock"].as_i64().unwrap()
    }
}

/// Nothing of `other` — their id, their product, their line's title — in `body`.
fn assert_nothing_of(other: &Seller, body: &Value, what: &str) {
    let text = body.to_string();
    assert!(!text.contains(&other.id), "{what} names the other seller: {text}");
    assert!(!text.contains(&other.product), "{what} shows the other seller's product: {text}");
    assert!(!text.contains("Print"), "{what} shows the other seller's line: {text}");
}

#[tokio::test]
async fn a_two_seller_order_has_a_part_per_seller_and_each_seller_moves_and_sees_only_theirs() {
    let m = market(OrderRules::default()).await;
    let (customer, id) = m.paid_order().await;
    let order = m.status(&customer, &id).await;
    let parts = order["fulfilments"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{order}");
    assert_eq!((parts[0]["seller_id"].as_str(), parts[0]["line_indexes"].clone()), (Some(m.a.id.as_str()), json!([0])));
    assert_eq!((parts[1]["seller_id"].as_str(), parts[1]["line_indexes"].clone()), (Some(m.b.id.as_str()), json!([1])));
    assert_eq!(
        (parts[0]["subtotal"]["amount"].as_i64(), parts[0]["shipping"]["amount"].as_i64()),
        (Some(20_000), Some(0))
    );
    assert_eq!(
        (parts[1]["subtotal"]["amount"].as_i64(), parts[1]["shipping"]["amount"].as_i64()),
        (Some(5_000), Some(500))
    );
    let parts_total: i64 = parts.iter().map(|p| p["total"]["amount"].as_i64().unwrap()).sum();
    assert_eq!(parts_total, order["total"]["amount"].as_i64().unwrap(), "the parts add up to the order");
    assert!(parts.iter().all(|p| p["status"] == "paid"));

    // A starts on their part: the order stays as far as B's.
    m.walk(&m.a, &id, &["processing"]).await;
    assert_eq!(m.status(&customer, &id).await["status"], "paid");
    // A cannot touch B's part, nor can the customer cancel once a part is processing.
    m.moves(&m.a.token, &id, json!({"status": "processing", "seller_id": m.b.id})).await.assert_error(404, "not_found");
    m.app
        .call(Method::POST, &format!("/orders/{id}/cancel"), Some(&customer), None)
        .await
        .assert_error(409, "invalid_transition");
    m.walk(&m.a, &id, &["shipped"]).await;
    m.walk(&m.b, &id, &["processing"]).await;
    assert_eq!(m.status(&customer, &id).await["status"], "processing", "the least advanced part");
    // An admin names the part on an order with several sellers.
    let admin = m.app.admin().await;
    let shipped = json!({"status": "shipped", "tracking": {"carrier": "Delhivery", "number": "DL9"}});
    m.moves(&admin, &id, shipped.clone()).await.assert_error(400, "validation_failed");
    let mut named = shipped.clone();
    named["seller_id"] = json!(m.b.id);
    let moved = m.moves(&admin, &id, named).await;
    assert_eq!((moved.status, moved.body["status"].as_str()), (StatusCode::OK, Some("shipped")), "{}", moved.body);
    m.walk(&m.a, &id, &["delivered"]).await;
    let order = m.status(&customer, &id).await;
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["fulfilments"][0]["tracking"]["number"], "BD123");
    assert_eq!(order["fulfilments"][1]["tracking"]["number"], "DL9");

    // What A reads: their line, their part, their figures — nothing of B anywhere.
    let seen = m.app.call(Method::GET, &format!("/orders/{id}"), Some(&m.a.token), None).await.body;
    assert_eq!(seen["lines"].as_array().unwrap().len(), 1);
    assert_eq!(seen["lines"][0]["product_id"], m.a.product.as_str());
    assert_eq!(seen["fulfilments"].as_array().unwrap().len(), 1);
    assert_eq!(seen["fulfilments"][0]["line_indexes"], json!([0]));
    assert_eq!((seen["status"].as_str(), seen["total"]["amount"].as_i64()), (Some("delivered"), Some(20_000)));
    assert!(seen.get("payment").is_none(), "the payment covers B's part too");

    assert_nothing_of(&m.b, &seen, "A's view of the order");
    let timeline = m.app.call(Method::GET, &format!("/orders/{id}/timeline"), Some(&m.a.token), None).await.body;
    let entries = timeline["items"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["seller_id"].is_null() || e["seller_id"] == m.a.id.as_str()), "{timeline}");
    let a_moves: Vec<&str> =
        entries.iter().filter(|e| !e["seller_id"].is_null()).map(|e| e["to"].as_str().unwrap()).collect();
    assert_eq!(a_moves, ["processing", "shipped", "delivered"]);
    assert_nothing_of(&m.b, &timeline, "A's timeline");
    for path in ["/seller/orders", "/orders", "/seller/orders?status=delivered"] {
        let list = m.app.call(Method::GET, path, Some(&m.a.token), None).await.body;
        let entry = &list["items"][0];
        assert_eq!(
            (entry["status"].as_str(), entry["total"]["amount"].as_i64()),
            (Some("delivered"), Some(20_000)),
            "{path}: {list}"
        );
        assert_eq!(entry["lines"].as_array().unwrap().len(), 1);
        assert_nothing_of(&m.b, &list, path);
    }
    let processing = m.app.call(Method::GET, "/seller/orders?status=shipped", Some(&m.a.token), None).await.body;
    assert!(processing["items"].as_array().unwrap().is_empty(), "A's part is delivered, not shipped");
    // The customer's timeline has every part's moves.
    let full = m.app.call(Method::GET, &format!("/orders/{id}/timeline"), Some(&customer), None).await.body;
    let b_moves = full["items"].as_array().unwrap().iter().filter(|e| e["seller_id"] == m.b.id.as_str()).count();
    assert_eq!(b_moves, 2, "{full}");

    // Every part's move is an order.status_changed event naming its seller and the part's status.
    let events = m.app.outbox(&id).await;
    let part_events: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.kind == "order.status_changed" && !e.data["seller_id"].is_null())
        .map(|e| {
            (e.data["seller_id"].as_str().unwrap().to_owned(), e.data["fulfilment_status"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        part_events,
        vec![
            (m.a.id.clone(), "processing".to_owned()),
            (m.a.id.clone(), "shipped".to_owned()),
            (m.b.id.clone(), "processing".to_owned()),
            (m.b.id.clone(), "shipped".to_owned()),
            (m.a.id.clone(), "delivered".to_owned()),
        ]
    );
    let shipped_event = events.iter().find(|e| e.data["fulfilment_status"] == "shipped").unwrap();
    assert_eq!(shipped_event.data["tracking"]["number"], "BD123", "shipped carries its tracking");
    let paid =
        events.iter().find(|e| e.data["to"] == "paid" && e.data["seller_id"].is_null()).expect("the payment's event");
    assert_eq!(paid.data["parts"], json!({m.a.id.as_str(): "paid", m.b.id.as_str(): "paid"}), "each part it moved");
    let b_event = events.iter().find(|e| e.data["seller_id"] == m.b.id.as_str()).unwrap();
    assert_eq!(b_event.sellers, vec![uid(&m.b.id)], "a part's event concerns its own seller only");

    // B moves on: A's view does not even say when the order last changed.
    m.walk(&m.b, &id, &["delivered"]).await;
    let seen = m.app.call(Method::GET, &format!("/orders/{id}"), Some(&m.a.token), None).await.body;
    let whole = m.status(&customer, &id).await;
    assert_eq!(seen["updated_at"], seen["fulfilments"][0]["updated_at"]);
    assert_ne!(seen["updated_at"], whole["updated_at"], "B's move is the order's last change");
}

#[tokio::test]
async fn a_seller_who_cannot_make_their_part_calls_it_off_and_the_customer_gets_that_part_back() {
    let m = market(OrderRules::default()).await;
    let (customer, id) = m.paid_order().await;
    assert_eq!((m.stock(&m.a.product).await, m.stock(&m.b.product).await), (8, 9));
    m.walk(&m.a, &id, &["processing"]).await;
    let called_off = m.moves(&m.b.token, &id, json!({"status": "cancelled", "note": "out of ink"})).await;
    assert_eq!(
        (called_off.status, called_off.body["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "{}",
        called_off.body
    );
    let order = m.app.stored(&id).await;
    assert_eq!(order.status, OrderStatus::Processing, "A's part goes on");
    let refunds = &order.payment.as_ref().unwrap().refunds;
    assert_eq!(refunds.len(), 1);
    // B's line (50.00, no discount or tax here) and B's shipping (5.00).
    assert_eq!((refunds[0].amount.amount, refunds[0].state), (5_500, RefundState::Submitted));
    assert_eq!(m.stock(&m.b.product).await, 10, "B's unit is back");
    assert_eq!(m.stock(&m.a.product).await, 8);
    // Money a seller gives back is audited with the change.
    let q =
        cy_data::Query::index(cy_data::keys::AUDIT_BY_ACTOR, cy_data::keys::audit_by_actor_pk(&uid(&m.b.id))).limit(10);
    let audited: Vec<Value> =
        m.app.store().query(&q).await.unwrap().items.iter().map(|i| Value::Object(i.as_map().clone())).collect();
    let refunded = audited.iter().find(|a| a["action"] == "order.refunded_by_seller").expect("audited");
    assert_eq!(
        (refunded["subject"].as_str(), refunded["details"]["refunds"][0]["amount"]["amount"].as_i64()),
        (Some(id.as_str()), Some(5_500))
    );
    // The provider confirms: the part's money is back; the order is not refunded as a whole.
    let confirmed = m.app.deliver(PaymentProvider::Stripe, "charge.refunded", &id).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let seen = m.status(&customer, &id).await;
    assert_eq!(seen["status"], "processing", "{seen}");
    assert_eq!(seen["payment"]["refunded"]["amount"], 5_500);
}

#[tokio::test]
async fn delivered_parts_complete_when_their_return_window_ends_and_a_return_is_refunded_once() {
    let m = market(short_window(2)).await;
    let admin = m.app.admin().await;
    let (customer, id) = m.paid_order().await;
    for seller in [&m.a, &m.b] {
        m.walk(seller, &id, &["processing", "shipped", "delivered"]).await;
    }
    let part = &m.status(&customer, &id).await["fulfilments"][0];
    assert!(part["delivered_at"].is_string() && part["returnable_until"].is_string(), "{part}");
    // The customer returns B's part within the window; A's completes when it ends.
    let path = format!("/orders/{id}/returns");
    let asked =
        m.app.call(Method::POST, &path, Some(&customer), Some(json!({"seller_id": m.b.id, "reason": "smudged"}))).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    assert_eq!(asked.body["fulfilments"][1]["status"], "return_requested");
    assert_eq!(asked.body["status"], "delivered", "A's part is the least advanced");
    m.app
        .call(Method::POST, &path, Some(&m.a.token), Some(json!({"seller_id": m.b.id, "reason": "x"})))
        .await
        .assert_error(403, "forbidden");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let late =
        m.app.call(Method::POST, &path, Some(&customer), Some(json!({"seller_id": m.a.id, "reason": "late"}))).await;
    late.assert_error(409, "invalid_transition");
    let swept = m.app.call(Method::POST, "/dev/jobs/order-sweeps", Some(&admin), None).await;
    assert_eq!(swept.status, StatusCode::OK, "{}", swept.body);
    assert_eq!(swept.body["completions"]["done"], 1, "A's part, not B's in return: {}", swept.body);
    let order = m.app.stored(&id).await;
    assert_eq!(order.fulfilment(&uid(&m.a.id)).unwrap().status, OrderStatus::Completed);
    assert!(order.fulfilment(&uid(&m.a.id)).unwrap().completed_at.is_some());
    assert_eq!(order.status, OrderStatus::ReturnRequested);
    let again = m.app.call(Method::POST, "/dev/jobs/order-sweeps", Some(&admin), None).await;
    assert_eq!(again.body["completions"]["done"], 0, "a sweep run twice completes nothing twice");
    // A completed part is its seller's to be paid for: the whole order is no longer called off.
    let whole = m.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&admin), None).await;
    whole.assert_error(409, "invalid_transition");
    assert!(whole.body["error"]["message"].as_str().unwrap().contains("completed"), "{}", whole.body);

    // B accepts the return five times at once: one move, one refund, the unit back once.
    let stock_before = m.stock(&m.b.product).await;
    let router = m.app.router();
    let accept = |_| {
        let body = json!({"status": "returned"});
        send(router.clone(), json_request(Method::PUT, &format!("/orders/{id}/status"), Some(&m.b.token), Some(body)))
    };
    let answers = futures::future::join_all((0..5).map(accept)).await;
    let ok = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", answers.iter().map(|a| a.body.to_string()).collect::<Vec<_>>());
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    }
    let order = m.app.stored(&id).await;
    let refunds = &order.payment.as_ref().unwrap().refunds;
    assert_eq!(refunds.len(), 1, "one refund: {refunds:?}");
    assert_eq!(refunds[0].amount.amount, 5_000, "B's line, not its shipping (it was delivered)");
    assert_eq!(refunds[0].lines.len(), 1);
    assert_eq!(m.stock(&m.b.product).await, stock_before + 1);
    assert_eq!(order.fulfilment(&uid(&m.b.id)).unwrap().status, OrderStatus::Returned);
    assert_eq!(order.status, OrderStatus::Completed, "the returned part has ended; A's completed");
    let returned = m.app.outbox(&id).await.into_iter().filter(|e| e.data["fulfilment_status"] == "returned").count();
    assert_eq!(returned, 1);
}

#[tokio::test]
async fn a_refused_return_goes_back_to_delivered_and_completes_when_its_window_ends() {
    let m = market(short_window(1)).await;
    let (customer, id) = m.paid_order().await;
    m.walk(&m.a, &id, &["processing", "shipped", "delivered"]).await;
    m.walk(&m.b, &id, &["cancelled"]).await;
    let path = format!("/orders/{id}/returns");
    let asked = m
        .app
        .call(Method::POST, &path, Some(&customer), Some(json!({"seller_id": m.a.id, "reason": "changed my mind"})))
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    m.walk(&m.a, &id, &["delivered"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let report = m.app.sweeps().completions(Timestamp::now()).await;
    assert_eq!(report.done, 1, "{report:?}");
    let order = m.app.stored(&id).await;
    assert_eq!(order.status, OrderStatus::Completed);
    let refunds = order.payment.unwrap().refunds;
    assert!(refunds.iter().all(|r| r.shipping_of.as_ref().map(|s| s.as_str()) == Some(m.b.id.as_str())), "{refunds:?}");
}

fn uid(raw: &str) -> cy_domain::UserId {
    cy_domain::UserId::parse(raw).unwrap()
}
