//! Notifications through their entry points: the order events an order's life writes are fed
//! to the fan-out (notify-fanout's handler, as its queue would deliver them: once, twice, and
//! twice at once), and what each user was told is read back over REST (`/me/notifications`)
//! and from the local outbox (`GET /dev/outbox`). Preferences, devices and the push service's
//! "gone" go through the same path.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use cy_api::notifications::fanout::{Notifier, Senders};
use cy_data::orders::OutboxEvent;
use cy_domain::payment::PaymentProvider;
use cy_domain::{OrderId, Timestamp, UserId};
use cy_notify::{Outgoing, SendError, Sender};
use cy_tests::{Shop, TestApp, shop};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A paid order of one unit, and its customer's token and id.
async fn paid_order(shop: &Shop) -> (OrderId, String, UserId) {
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await.status, StatusCode::OK);
    let customer = shop.app.stored(&id).await.customer_id;
    (id, buyer, customer)
}

async fn outbox(app: &TestApp, query: &str) -> Vec<Value> {
    let answer = app.call(Method::GET, &format!("/dev/outbox?limit=100&{query}"), None, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.call(Method::GET, "/me/notifications", Some(token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

fn notifier(app: &TestApp) -> Notifier {
    app.local.services.notifier.clone()
}

/// Feeds the order's events still in the outbox to the fan-out, as its queue would.
async fn fan_out(app: &TestApp, id: &OrderId) -> Vec<OutboxEvent> {
    let events = app.outbox(id).await;
    for event in &events {
        notifier(app).on_event(event).await.expect("delivered");
    }
    events
}

#[tokio::test]
async fn the_customer_and_the_seller_are_told_in_app_and_by_email_once_however_often_events_arrive() {
    let shop = shop(5).await;
    let (id, buyer, customer) = paid_order(&shop).await;
    for status in ["processing", "shipped"] {
        let body = json!({"status": status, "tracking": {"carrier": "BlueDart", "number": "BD123"}});
        let body = if status == "shipped" { body } else { json!({"status": status}) };
        let moved = shop.app.call(Method::PUT, &format!("/orders/{id}/status"), Some(&shop.seller), Some(body)).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    }
    let events = fan_out(&shop.app, &id).await;
    // Delivered again, and twice at once: nothing more is sent.
    fan_out(&shop.app, &id).await;
    let (a, b) = tokio::join!(
        async {
            for e in &events {
                let _ = notifier(&shop.app).on_event(e).await;
            }
        },
        async {
            for e in &events {
                let _ = notifier(&shop.app).on_event(e).await;
            }
        }
    );
    let ((), ()) = (a, b);

    let mine = notifications(&shop.app, &buyer).await;
    let titles: Vec<&str> = mine.iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["Your order has shipped", "Your order is being prepared", "Payment received"], "newest first");
    let shipped = &mine[0];
    assert_eq!(shipped["type"], "order.status_changed");
    assert_eq!(shipped["data"]["order_id"], id.as_str());
    assert!(shipped["body"].as_str().unwrap().contains("Tracking: BlueDart BD123"), "{shipped}");
    assert!(shipped.get("read_at").is_none());

    let mail = outbox(&shop.app, &format!("user_id={customer}&channel=email")).await;
    let subjects: Vec<&str> = mail.iter().filter_map(|m| m["subject"].as_str()).collect();
    assert_eq!(subjects, ["Your order has shipped", "Your order is being prepared", "Payment received"]);
    assert!(mail[0]["body"].as_str().unwrap().contains("Hello Buyer"), "{}", mail[0]);
    assert!(mail[0]["to"].as_str().unwrap().ends_with("@buyers.example.in"));
    for m in &mail {
        assert!(events.iter().any(|e| e.id.as_str() == m["event_id"].as_str().unwrap()), "{m}");
    }
    // The seller hears of the new order (and not of the moves they made).
    let seller = app_user(&shop.app, &shop.seller).await;
    let theirs = outbox(&shop.app, &format!("user_id={seller}&channel=email")).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["subject"], format!("New order {id}"));
    assert!(theirs[0]["body"].as_str().unwrap().contains("INR 100.00"), "{}", theirs[0]);

    // Read: once; reading again keeps the first time. Another user's or a made-up id: 404.
    let nid = shipped["id"].as_str().unwrap();
    let read = shop.app.call(Method::POST, &format!("/me/notifications/{nid}/read"), Some(&buyer), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let first = read.body["read_at"].clone();
    assert!(first.is_string());
    let again = shop.app.call(Method::POST, &format!("/me/notifications/{nid}/read"), Some(&buyer), None).await;
    assert_eq!(again.body["read_at"], first);
    shop.app
        .call(Method::POST, &format!("/me/notifications/{nid}/read"), Some(&shop.seller), None)
        .await
        .assert_error(404, "not_found");
    shop.app.call(Method::POST, "/me/notifications/nope/read", Some(&buyer), None).await.assert_error(404, "not_found");
    assert_eq!(notifications(&shop.app, &buyer).await[0]["read_at"], first);
    let unauthenticated = shop.app.call(Method::GET, "/me/notifications", None, None).await;
    unauthenticated.assert_error(401, "unauthenticated");
}

async fn app_user(app: &TestApp, token: &str) -> String {
    app.call(Method::GET, "/me", Some(token), None).await.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn email_turned_off_sends_no_email_and_keeps_the_in_app_record() {
    let shop = shop(5).await;
    let (buyer, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let prefs = shop.app.call(Method::GET, "/me/notification-preferences", Some(&buyer), None).await;
    assert_eq!(prefs.body, json!({"email": true, "sms": true, "push": true, "in_app": true}));
    for bad in
        [json!({"email": false}), json!({"email": false, "sms": true, "push": true, "in_app": true, "fax": true})]
    {
        shop.app
            .call(Method::PUT, "/me/notification-preferences", Some(&buyer), Some(bad))
            .await
            .assert_error(400, "validation_failed");
    }
    let off = json!({"email": false, "sms": true, "push": true, "in_app": true});
    let put = shop.app.call(Method::PUT, "/me/notification-preferences", Some(&buyer), Some(off.clone())).await;
    assert_eq!((put.status, &put.body), (StatusCode::OK, &off));
    assert_eq!(shop.app.call(Method::GET, "/me/notification-preferences", Some(&buyer), None).await.body, off);

    // This customer's order, paid: the payment event is fanned out.
    let address = shop.app.call(Method::GET, "/me/addresses", Some(&buyer), None).await.body["items"][0]["id"].clone();
    let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    fan_out(&shop.app, &id).await;
    let customer = shop.app.stored(&id).await.customer_id;
    assert!(outbox(&shop.app, &format!("user_id={customer}&channel=email")).await.is_empty());
    let mine = notifications(&shop.app, &buyer).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["title"], "Payment received");
}

/// A push sender that answers what the test says and counts its calls.
struct Scripted {
    answer: Result<(), SendError>,
    calls: AtomicUsize,
}

#[async_trait]
impl Sender for Scripted {
    async fn send(&self, _: &Outgoing) -> Result<(), SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
}

fn moved_event(customer: &UserId, status: &str) -> OutboxEvent {
    OutboxEvent {
        id: cy_domain::EventId::generate(),
        kind: "order.status_changed".into(),
        order_id: Some(OrderId::generate()),
        customer_id: customer.clone(),
        sellers: Vec::new(),
        at: Timestamp::now(),
        data: json!({"status": status}),
    }
}

#[tokio::test]
async fn devices_get_push_and_one_the_push_service_reports_gone_is_removed() {
    let shop = shop(1).await;
    let (buyer, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let customer = UserId::parse(&app_user(&shop.app, &buyer).await).unwrap();
    let device = json!({"platform": "android", "token": "fcm-token-1"});
    let added = shop.app.call(Method::POST, "/me/devices", Some(&buyer), Some(device.clone())).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert!(added.body.get("token").is_none(), "the token is not echoed");
    let again = shop.app.call(Method::POST, "/me/devices", Some(&buyer), Some(device)).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::CREATED, &added.body["id"]), "one registration");
    for bad in [json!({"platform": "symbian", "token": "x"}), json!({"platform": "ios", "token": " "})] {
        shop.app
            .call(Method::POST, "/me/devices", Some(&buyer), Some(bad))
            .await
            .assert_error(400, "validation_failed");
    }

    // Locally, the push goes to the outbox.
    notifier(&shop.app).on_event(&moved_event(&customer, "shipped")).await.unwrap();
    let pushed = outbox(&shop.app, &format!("user_id={customer}&channel=push")).await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(
        (pushed[0]["to"].as_str(), pushed[0]["subject"].as_str()),
        (Some("fcm-token-1"), Some("Your order has shipped"))
    );

    // The push service says the token is gone: the device is forgotten, and not tried again.
    let gone = Arc::new(Scripted { answer: Err(SendError::Gone), calls: AtomicUsize::new(0) });
    let mut with_gone = notifier(&shop.app);
    with_gone.senders = Senders { email: None, sms: None, push: Some(gone.clone()) };
    with_gone.on_event(&moved_event(&customer, "delivered")).await.unwrap();
    with_gone.on_event(&moved_event(&customer, "delivered")).await.unwrap();
    assert_eq!(gone.calls.load(Ordering::SeqCst), 1);
    let id = added.body["id"].as_str().unwrap();
    shop.app
        .call(Method::DELETE, &format!("/me/devices/{id}"), Some(&buyer), None)
        .await
        .assert_error(404, "not_found");

    // A send that may work later fails the event (the queue redelivers it) and is retried.
    let again = shop
        .app
        .call(Method::POST, "/me/devices", Some(&buyer), Some(json!({"platform": "ios", "token": "apns-2"})))
        .await;
    let flaky = Arc::new(Scripted { answer: Err(SendError::Failed("503".into())), calls: AtomicUsize::new(0) });
    let mut with_flaky = notifier(&shop.app);
    with_flaky.senders = Senders { email: None, sms: None, push: Some(flaky.clone()) };
    let event = moved_event(&customer, "refunded");
    assert!(with_flaky.on_event(&event).await.is_err());
    assert!(with_flaky.on_event(&event).await.is_err());
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2, "released, so the redelivery tries again");
    // The phone changes hands: the token is registered by another user, and moves to them.
    let (next_owner, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let apns = json!({"platform": "ios", "token": "apns-2"});
    let moved = shop.app.call(Method::POST, "/me/devices", Some(&next_owner), Some(apns)).await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.body);
    let old = again.body["id"].as_str().unwrap();
    shop.app
        .call(Method::DELETE, &format!("/me/devices/{old}"), Some(&buyer), None)
        .await
        .assert_error(404, "not_found");
    notifier(&shop.app).on_event(&moved_event(&customer, "cancelled")).await.unwrap();
    let to_old_phone = outbox(&shop.app, &format!("user_id={customer}&channel=push")).await;
    assert!(to_old_phone.iter().all(|m| m["to"] != "apns-2"), "{to_old_phone:?}");
    // Removing a device: 204, then 404.
    let id = moved.body["id"].as_str().unwrap();
    let removed = shop.app.call(Method::DELETE, &format!("/me/devices/{id}"), Some(&next_owner), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    shop.app
        .call(Method::DELETE, &format!("/me/devices/{id}"), Some(&next_owner), None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn sms_goes_to_a_verified_phone_only() {
    let app = TestApp::new().await;
    let store = app.store();
    let mut users = Vec::new();
    for (n, verified) in [(1, true), (2, false)] {
        let (token, _) = cy_tests::seed_customer(store.as_ref()).await;
        let id = UserId::parse(&app_user(&app, &token).await).unwrap();
        let mut user = cy_data::accounts::get_user(store.as_ref(), &id).await.unwrap().unwrap();
        user.phone = Some(cy_domain::Phone::parse(&format!("+9198765432{n:02}")).unwrap());
        user.phone_verified = verified;
        store.put(cy_data::Item::from_record(&cy_data::keys::user(&id), &user).unwrap(), None).await.unwrap();
        users.push(id);
    }
    for user in &users {
        notifier(&app).on_event(&moved_event(user, "shipped")).await.unwrap();
    }
    let texts = outbox(&app, "channel=sms").await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], "+919876543201");
    assert_eq!(texts[0]["user_id"], users[0].as_str());
    assert!(texts[0]["body"].as_str().unwrap().starts_with("CustomiseYou: Order "), "{}", texts[0]);
}

#[tokio::test]
async fn a_partial_refund_tells_the_customer_what_comes_back() {
    let shop = shop(5).await;
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 3}], "address_id": address, "payment_provider": "stripe"});
    let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    shop.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    let admin = shop.app.admin().await;
    let one = json!({"lines": [{"line": 0, "quantity": 1}], "reason": "one mug arrived chipped"});
    let refunded = shop.app.call(Method::POST, &format!("/orders/{id}/refunds"), Some(&admin), Some(one)).await;
    assert_eq!(refunded.status, StatusCode::ACCEPTED, "{}", refunded.body);
    fan_out(&shop.app, &id).await;
    let mine = notifications(&shop.app, &buyer).await;
    let titles: Vec<&str> = mine.iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["A refund is on its way", "Payment received"]);
    assert_eq!(mine[0]["type"], "order.refunded");
    assert_eq!(mine[0]["data"]["amount"], json!({"amount": 10000, "currency": "INR"}));
    assert!(mine[0]["body"].as_str().unwrap().starts_with("INR 100.00 of order"), "{}", mine[0]);
}
