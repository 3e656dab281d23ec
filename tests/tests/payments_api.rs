//! Payments end to end, through the local runtime's router on the embedded store: signed
//! webhooks verified and applied exactly once (also when delivered ten times at once and out
//! of order), payments for expired orders refunded, mismatches flagged, cancellations and
//! partial refunds through the provider with the order moving on its confirmation.

use customiseyou_local::webhooks::{self, event_body};
use cy_data::orders::{OutboxEvent, get_order};
use cy_data::{Item, Query, keys};
use cy_domain::order::{Order, OrderStatus};
use cy_domain::payment::PaymentProvider;
use cy_domain::payment::RefundState;
use cy_domain::{OrderId, Timestamp};
use cy_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Answer, Shop, send, shop, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const PROVIDERS: [PaymentProvider; 3] = PaymentProvider::ALL;

const SUCCEEDED: [&str; 3] = ["payment_intent.succeeded", "payment.captured", "PAYMENT.CAPTURE.COMPLETED"];
const FAILED: [&str; 3] = ["payment_intent.payment_failed", "payment.failed", "PAYMENT.CAPTURE.DENIED"];
const REFUNDED: [&str; 3] = ["charge.refunded", "refund.processed", "PAYMENT.CAPTURE.REFUNDED"];

fn of(events: [&'static str; 3], provider: PaymentProvider) -> &'static str {
    events[PROVIDERS.iter().position(|p| *p == provider).unwrap()]
}

/// What these tests do with a shop.
trait Payments {
    /// A customer places an order of `quantity` units with `provider`: (customer token, order id).
    async fn order(&self, provider: PaymentProvider, quantity: u32) -> (String, OrderId);
    async fn stored(&self, id: &OrderId) -> Order;
    /// The body the provider would send for `id` now (`amount` overrides, in minor units).
    async fn event(&self, provider: PaymentProvider, event_type: &str, id: &OrderId, amount: Option<i64>) -> Vec<u8>;
    /// Delivers a provider event for `id`, signed as the provider would.
    async fn deliver(&self, provider: PaymentProvider, event_type: &str, id: &OrderId) -> Answer;
    async fn stock(&self) -> i64;
    async fn timeline(&self, buyer: &str, id: &OrderId) -> Vec<Value>;
    /// The order's events still in the outbox (no relay runs in these tests).
    async fn events(&self, id: &OrderId) -> Vec<String>;
    async fn admin(&self) -> String;
}

impl Payments for Shop {
    async fn order(&self, provider: PaymentProvider, quantity: u32) -> (String, OrderId) {
        let (buyer, address) = cy_tests::seed_customer(self.app.store().as_ref()).await;
        let body = json!({"items": [{"product_id": self.product, "quantity": quantity}], "address_id": address,
            "payment_provider": provider.as_str()});
        let placed = self.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        assert_eq!(placed.body["order"]["payment"]["reference"], placed.body["payment"]["reference"]);
        (buyer, OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap())
    }

    async fn stored(&self, id: &OrderId) -> Order {
        get_order(self.app.store().as_ref(), id).await.unwrap().unwrap()
    }

    async fn event(&self, provider: PaymentProvider, event_type: &str, id: &OrderId, amount: Option<i64>) -> Vec<u8> {
        let order = self.stored(id).await;
        let facts = webhooks::facts(&order, &self.app.local.simulator).unwrap();
        let amount = amount.map(|a| cy_domain::Money::new(a, order.total.currency).unwrap());
        event_body(provider, event_type, &facts, amount).unwrap()
    }

    async fn deliver(&self, provider: PaymentProvider, event_type: &str, id: &OrderId) -> Answer {
        let body = self.event(provider, event_type, id, None).await;
        self.app.send(self.app.local.webhook_signer.request(provider, body).unwrap()).await
    }

    async fn stock(&self) -> i64 {
        self.app.call(Method::GET, &format!("/products/{}", self.product), None, None).await.body["stock"]
            .as_i64()
            .unwrap()
    }

    async fn timeline(&self, buyer: &str, id: &OrderId) -> Vec<Value> {
        let answer = self.app.call(Method::GET, &format!("/orders/{id}/timeline"), Some(buyer), None).await;
        answer.body["items"].as_array().unwrap().clone()
    }

    async fn events(&self, id: &OrderId) -> Vec<String> {
        let page = self.app.store().query(&Query::table(keys::OUTBOX_PARTITION).limit(1000)).await.unwrap();
        page.items
            .iter()
            .map(|i: &Item| i.record::<OutboxEvent>().unwrap())
            .filter(|e| e.order_id.as_ref() == Some(id))
            .map(|e| e.kind)
            .collect()
    }

    async fn admin(&self) -> String {
        token(&self.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token")
    }
}

#[tokio::test]
async fn the_same_event_delivered_ten_times_at_once_changes_the_order_once() {
    let shop = shop(30).await;
    for provider in PROVIDERS {
        let (buyer, id) = shop.order(provider, 1).await;
        let body = shop.event(provider, of(SUCCEEDED, provider), &id, None).await;
        // A provider's retries carry the very same body and headers.
        let headers = shop.app.local.webhook_signer.headers(provider, &body).unwrap();
        let deliveries = (0..10).map(|_| {
            let request = webhooks::delivery(provider, body.clone(), &headers).unwrap();
            send(shop.app.router(), request)
        });
        let answers = futures::future::join_all(deliveries).await;
        let outcomes: Vec<&str> = answers.iter().map(|a| a.body["outcome"].as_str().unwrap_or("?")).collect();
        assert!(answers.iter().all(|a| a.status == StatusCode::OK), "{provider:?}: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{provider:?}: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == "duplicate").count(), 9, "{provider:?}: {outcomes:?}");
        let order = shop.stored(&id).await;
        assert_eq!(order.status, OrderStatus::Paid);
        assert_eq!(order.version, 3, "placed (1), reference recorded (2), paid (3)");
        let timeline = shop.timeline(&buyer, &id).await;
        assert_eq!(timeline.len(), 2, "created and paid: {timeline:?}");
        assert_eq!(timeline[1]["to"], "paid");
        assert_eq!(shop.events(&id).await, vec!["order.created", "order.status_changed"]);
        // Delivered again later: acknowledged, nothing changes.
        let again = send(shop.app.router(), webhooks::delivery(provider, body.clone(), &headers).unwrap()).await;
        assert_eq!((again.status, again.body["outcome"].as_str()), (StatusCode::OK, Some("duplicate")));
        assert_eq!(shop.stored(&id).await.version, 3);
    }
}

/// A refund's confirmation delivered ten times at once moves the order once (`refunded`, stock
/// back once, one timeline entry); for every provider.
#[tokio::test]
async fn a_refund_confirmation_delivered_ten_times_at_once_refunds_once() {
    let shop = shop(10).await;
    for provider in PROVIDERS {
        let (buyer, id) = shop.order(provider, 2).await;
        shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        let stock = shop.stock().await;
        let cancel = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
        assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
        let body = shop.event(provider, of(REFUNDED, provider), &id, None).await;
        let headers = shop.app.local.webhook_signer.headers(provider, &body).unwrap();
        let deliveries =
            (0..10).map(|_| send(shop.app.router(), webhooks::delivery(provider, body.clone(), &headers).unwrap()));
        let answers = futures::future::join_all(deliveries).await;
        let outcomes: Vec<&str> = answers.iter().map(|a| a.body["outcome"].as_str().unwrap_or("?")).collect();
        assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{provider:?}: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == "duplicate").count(), 9, "{provider:?}: {outcomes:?}");
        let order = shop.stored(&id).await;
        assert_eq!(order.status, OrderStatus::Refunded, "{provider:?}");
        assert_eq!(order.payment.as_ref().unwrap().refunded, order.total, "{provider:?}");
        assert_eq!(shop.stock().await, stock + 2, "{provider:?}: the units come back once");
        let refunded = shop.timeline(&buyer, &id).await.iter().filter(|e| e["to"] == "refunded").count();
        assert_eq!(refunded, 1, "{provider:?}");
    }
}

#[tokio::test]
async fn deliveries_that_do_not_verify_are_refused_and_change_nothing() {
    let shop = shop(5).await;
    let (_, id) = shop.order(PaymentProvider::Stripe, 1).await;
    let body = shop.event(PaymentProvider::Stripe, "payment_intent.succeeded", &id, None).await;
    let signer = &shop.app.local.webhook_signer;
    let secret = signer.stripe_secret.clone();
    let now = Timestamp::now().unix();
    let stripe = |header: Option<String>, body: Vec<u8>| {
        let headers: Vec<(String, String)> = header.into_iter().map(|h| ("stripe-signature".to_owned(), h)).collect();
        webhooks::delivery(PaymentProvider::Stripe, body, &headers).unwrap()
    };
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[at] = b'2';
    let refused = [
        stripe(Some(cy_payments::events::sign_stripe(&body, &secret, now)), tampered),
        stripe(Some(cy_payments::events::sign_stripe(&body, "whsec_wrong", now)), body.clone()),
        stripe(Some(cy_payments::events::sign_stripe(&body, &secret, now - 301)), body.clone()),
        stripe(None, body.clone()),
        stripe(Some("t=abc,v1=zz".into()), body.clone()),
    ];
    for request in refused {
        let answer = shop.app.send(request).await;
        answer.assert_error(400, "validation_failed");
        assert!(answer.body["error"]["details"]["signature"].is_string(), "{}", answer.body);
    }
    // A second v1 from a rotated secret is enough.
    let rotated = format!(
        "{},v1={}",
        cy_payments::events::sign_stripe(&body, "whsec_old_secret", now),
        cy_payments::events::sign_stripe(&body, &secret, now).split("v1=").nth(1).unwrap()
    );
    let answer = shop.app.send(stripe(Some(rotated), body.clone())).await;
    assert_eq!(answer.body["outcome"], "applied", "{}", answer.body);

    // Razorpay: the body signed with another secret; PayPal: a certificate from elsewhere.
    let (_, rzp) = shop.order(PaymentProvider::Razorpay, 1).await;
    let body = shop.event(PaymentProvider::Razorpay, "payment.captured", &rzp, None).await;
    let forged = vec![("x-razorpay-signature".to_owned(), cy_payments::events::sign_razorpay(&body, "not-the-secret"))];
    shop.app
        .send(webhooks::delivery(PaymentProvider::Razorpay, body, &forged).unwrap())
        .await
        .assert_error(400, "validation_failed");
    let (_, pp) = shop.order(PaymentProvider::Paypal, 1).await;
    let body = shop.event(PaymentProvider::Paypal, "PAYMENT.CAPTURE.COMPLETED", &pp, None).await;
    let mut headers = signer.headers(PaymentProvider::Paypal, &body).unwrap();
    for (name, value) in headers.iter_mut() {
        if name == "paypal-cert-url" {
            *value = "https://api.paypal.com.evil.example/cert.pem".to_owned();
        }
    }
    shop.app
        .send(webhooks::delivery(PaymentProvider::Paypal, body, &headers).unwrap())
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(shop.stored(&rzp).await.status, OrderStatus::PendingPayment);
    assert_eq!(shop.stored(&pp).await.status, OrderStatus::PendingPayment);
}

#[tokio::test]
async fn a_failed_payment_keeps_the_stock_and_a_later_success_pays_the_order() {
    let shop = shop(3).await;
    for (n, provider) in PROVIDERS.into_iter().enumerate() {
        let left = 3 - n as i64;
        let (_, id) = shop.order(provider, 1).await;
        assert_eq!(shop.stock().await, left - 1);
        let failed = shop.deliver(provider, of(FAILED, provider), &id).await;
        assert_eq!(failed.body["status"], "payment_failed", "{provider:?}: {}", failed.body);
        assert_eq!(shop.stock().await, left - 1, "{provider:?}: the units stay reserved for a retry");
        let paid = shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        assert_eq!(paid.body["status"], "paid", "{}", paid.body);
        assert_eq!(shop.stock().await, left - 1, "{provider:?}: nothing taken twice");
        // A failure arriving after the success is stale.
        let stale = shop.deliver(provider, of(FAILED, provider), &id).await;
        assert_eq!((stale.body["outcome"].as_str(), stale.body["status"].as_str()), (Some("ignored"), Some("paid")));
        assert_eq!(shop.stored(&id).await.status, OrderStatus::Paid);
    }
}

#[tokio::test]
async fn a_refund_delivered_before_the_success_ends_refunded() {
    let shop = shop(4).await;
    for provider in PROVIDERS {
        let (_, id) = shop.order(provider, 1).await;
        let refund = shop.deliver(provider, of(REFUNDED, provider), &id).await;
        assert_eq!(refund.body["status"], "refunded", "{provider:?}: {}", refund.body);
        let late_success = shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        assert_eq!(late_success.body["outcome"], "ignored", "{}", late_success.body);
        let order = shop.stored(&id).await;
        assert_eq!(order.status, OrderStatus::Refunded);
        let payment = order.payment.unwrap();
        assert_eq!(payment.captured, Some(order.total));
        assert_eq!(payment.refunded, order.total);
    }
    assert_eq!(shop.stock().await, 4, "refunded before shipping: every unit is back");
}

#[tokio::test]
async fn a_payment_for_an_expired_order_is_refunded_not_kept() {
    let shop = shop(2).await;
    for provider in PROVIDERS {
        let (buyer, id) = shop.order(provider, 1).await;
        let later = Timestamp::now().plus_secs(16 * 60);
        assert_eq!(shop.app.sweeps().reservations(later).await.done, 1);
        let paid = shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        assert_eq!(paid.body["outcome"], "applied", "{}", paid.body);
        let order = shop.stored(&id).await;
        assert_eq!(order.status, OrderStatus::Cancelled, "the order stays cancelled");
        let payment = order.payment.clone().unwrap();
        assert_eq!(payment.captured, Some(order.total), "the payment is on record");
        let refund = &payment.refunds[0];
        assert_eq!((refund.amount, refund.state), (order.total, RefundState::Submitted), "{provider:?}");
        assert!(refund.provider_refund_id.is_some(), "the provider took the refund");
        // The provider confirms: the money is back and the order says so.
        let confirmed = shop.deliver(provider, of(REFUNDED, provider), &id).await;
        assert_eq!(confirmed.body["status"], "refunded", "{}", confirmed.body);
        let payment = shop.stored(&id).await.payment.unwrap();
        assert_eq!(payment.refunds[0].state, RefundState::Confirmed);
        let steps: Vec<Value> = shop.timeline(&buyer, &id).await.iter().map(|e| e["to"].clone()).collect();
        assert_eq!(steps, vec![json!("pending_payment"), json!("cancelled"), json!("refunded")]);
    }
    assert_eq!(shop.stock().await, 2, "the expired orders' units stayed released");
}

#[tokio::test]
async fn an_amount_or_currency_mismatch_is_refused_and_flagged_for_admins() {
    let shop = shop(5).await;
    for provider in PROVIDERS {
        let (_, id) = shop.order(provider, 1).await;
        let body = shop.event(provider, of(SUCCEEDED, provider), &id, Some(9_999)).await;
        let answer = shop.app.send(shop.app.local.webhook_signer.request(provider, body).unwrap()).await;
        assert_eq!(
            (answer.status, answer.body["outcome"].as_str()),
            (StatusCode::OK, Some("flagged")),
            "{}",
            answer.body
        );
        assert_eq!(shop.stored(&id).await.status, OrderStatus::PendingPayment, "never applied");
    }
    let admin = shop.admin().await;
    let flags = shop.app.call(Method::GET, "/admin/payments/flags", Some(&admin), None).await;
    let items = flags.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", flags.body);
    assert!(items.iter().all(|f| f["reason"].as_str().unwrap().contains("99.99")), "{}", flags.body);
    shop.app.call(Method::GET, "/admin/payments/flags", Some(&shop.seller), None).await.assert_error(403, "forbidden");
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_it_and_it_moves_when_the_provider_confirms() {
    let shop = shop(5).await;
    let (buyer, id) = shop.order(PaymentProvider::Stripe, 2).await;
    shop.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    assert_eq!(shop.stock().await, 3);
    let cancel = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
    assert_eq!(cancel.body["status"], "paid", "the order moves on the provider's confirmation");
    assert_eq!(cancel.body["payment"]["refunds"][0]["state"], "submitted");
    // Asking again sends the same refund again, not a second one.
    let again = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["payment"]["refunds"].as_array().unwrap().len(), 1);
    // Meanwhile the seller cannot start on it.
    let body = json!({"status": "processing"});
    shop.app
        .call(Method::PUT, &format!("/orders/{id}/status"), Some(&shop.seller), Some(body))
        .await
        .assert_error(409, "invalid_transition");
    let confirmed = shop.deliver(PaymentProvider::Stripe, "charge.refunded", &id).await;
    assert_eq!(confirmed.body["status"], "refunded", "{}", confirmed.body);
    assert_eq!(shop.stock().await, 5, "the units are back");
    shop.app
        .call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None)
        .await
        .assert_error(409, "invalid_transition");
}

/// The provider's event that a refund did not reach the customer (a closed card, say).
/// PayPal says so in the refund's own status on its refund event.
async fn refund_failed_body(shop: &Shop, provider: PaymentProvider, id: &OrderId) -> Vec<u8> {
    match provider {
        PaymentProvider::Paypal => {
            let body = shop.event(provider, "PAYMENT.CAPTURE.REFUNDED", id, None).await;
            let mut event: Value = serde_json::from_slice(&body).unwrap();
            event["resource"]["status"] = json!("FAILED");
            serde_json::to_vec(&event).unwrap()
        }
        _ => shop.event(provider, "refund.failed", id, None).await,
    }
}

/// A cancellation's refund that fails at the provider after it took it: delivered ten times
/// at once it is recorded once — the refund failed, one flag for admins, one order event —
/// the order is no longer held for it, and the customer can be refunded again. A success
/// delivered late for the failed refund does not count it.
#[tokio::test]
async fn a_refund_that_fails_at_the_provider_is_flagged_once_and_frees_the_order() {
    let shop = shop(10).await;
    let admin = shop.admin().await;
    for provider in PROVIDERS {
        let (buyer, id) = shop.order(provider, 1).await;
        shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        let cancel = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
        assert_eq!(cancel.body["payment"]["refunds"][0]["state"], "submitted", "{provider:?}: {}", cancel.body);
        let mut stale_success = shop.event(provider, of(REFUNDED, provider), &id, None).await;
        if provider == PaymentProvider::Stripe {
            // Stripe's total from before the failure: its event is older than the failure's.
            let mut event: Value = serde_json::from_slice(&stale_success).unwrap();
            event["created"] = json!(event["created"].as_i64().unwrap() - 60);
            stale_success = serde_json::to_vec(&event).unwrap();
        }
        let flags_before = shop.app.call(Method::GET, "/admin/payments/flags?limit=100", Some(&admin), None).await;
        let flags_before = flags_before.body["items"].as_array().unwrap().len();
        let events_before = shop.events(&id).await.len();

        let body = refund_failed_body(&shop, provider, &id).await;
        let headers = shop.app.local.webhook_signer.headers(provider, &body).unwrap();
        let deliveries =
            (0..10).map(|_| send(shop.app.router(), webhooks::delivery(provider, body.clone(), &headers).unwrap()));
        let answers = futures::future::join_all(deliveries).await;
        let outcomes: Vec<&str> = answers.iter().map(|a| a.body["outcome"].as_str().unwrap_or("?")).collect();
        assert!(answers.iter().all(|a| a.status == StatusCode::OK), "{provider:?}: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{provider:?}: {outcomes:?}");

        let order = shop.stored(&id).await;
        let payment = order.payment.as_ref().unwrap();
        assert_eq!(order.status, OrderStatus::Paid, "{provider:?}");
        assert_eq!(payment.refunds[0].state, RefundState::Failed, "{provider:?}");
        assert_eq!(payment.refunded.amount, 0, "{provider:?}");
        assert!(!payment.cancellation_pending(), "{provider:?}");
        let flags = shop.app.call(Method::GET, "/admin/payments/flags?limit=100", Some(&admin), None).await;
        let flags = flags.body["items"].as_array().unwrap().clone();
        assert_eq!(flags.len(), flags_before + 1, "{provider:?}: one flag: {flags:?}");
        assert_eq!(flags[0]["order_id"], id.as_str());
        assert!(flags[0]["reason"].as_str().unwrap().contains("did not reach the customer"), "{:?}", flags[0]);
        let events = shop.events(&id).await;
        assert_eq!(events.len(), events_before + 1, "{provider:?}: {events:?}");
        assert_eq!(events.last().map(String::as_str), Some("order.payment_updated"));

        // The same refund reported refunded after all (a delayed, reordered delivery): the
        // failure stands, nothing is counted.
        let late = shop.app.send(shop.app.local.webhook_signer.request(provider, stale_success).unwrap()).await;
        assert_eq!(late.status, StatusCode::OK, "{}", late.body);
        assert_eq!(shop.stored(&id).await.payment.unwrap().refunded.amount, 0, "{provider:?}");
        assert_eq!(shop.stored(&id).await.status, OrderStatus::Paid, "{provider:?}");

        // Free again: the seller could work on it, and a new cancellation asks for a new refund.
        let again = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
        let refunds = again.body["payment"]["refunds"].as_array().unwrap();
        assert_eq!((refunds.len(), &refunds[1]["state"]), (2, &json!("submitted")), "{provider:?}: {refunds:?}");
        assert_ne!(refunds[1]["id"], refunds[0]["id"]);
        let confirmed = shop.deliver(provider, of(REFUNDED, provider), &id).await;
        assert_eq!(confirmed.body["status"], "refunded", "{provider:?}: {}", confirmed.body);
    }
}

/// Every change of an order (its payment, a cancellation, its refund) must fit one transaction,
/// and each writes more than placing it did: an order too big for its later changes is refused
/// when placed (400 naming `items`, nothing reserved), and the largest that fits is paid,
/// cancelled and refunded like any other.
#[tokio::test]
async fn an_order_too_big_to_change_in_one_transaction_is_refused_when_placed() {
    let shop = shop(5).await;
    let store = shop.app.store();
    let template = cy_data::catalog::get_product(store.as_ref(), &cy_domain::ProductId::parse(&shop.product).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut products = Vec::new();
    for _ in 0..23 {
        // Each from its own seller: one stock update, and per seller their list entry, a ledger
        // entry and their balance.
        let mut product = template.clone();
        product.id = cy_domain::ProductId::generate();
        product.seller_id = cy_domain::UserId::generate();
        cy_data::catalog::create_product(store.as_ref(), &product, Vec::new()).await.unwrap();
        products.push(product.id);
    }
    let (buyer, address) = cy_tests::seed_customer(store.as_ref()).await;
    let body = |n: usize| {
        let items: Vec<Value> = products[..n].iter().map(|p| json!({"product_id": p, "quantity": 1})).collect();
        json!({"items": items, "address_id": address, "payment_provider": "stripe"})
    };
    let refused = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body(23))).await;
    refused.assert_error(400, "validation_failed");
    assert!(refused.body["error"]["details"]["items"].is_string(), "{}", refused.body);
    let first = shop.app.call(Method::GET, &format!("/products/{}", products[0]), None, None).await;
    assert_eq!(first.body["stock"], 5, "nothing reserved");

    // 22 products from 22 sellers: its largest change (22 + 3 × 22 + 12 = 100) fits one
    // transaction.
    let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body(22))).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    let paid = shop.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
    let cancel = shop.app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
    let refunded = shop.deliver(PaymentProvider::Stripe, "charge.refunded", &id).await;
    assert_eq!(refunded.body["status"], "refunded", "{}", refunded.body);
    let first = shop.app.call(Method::GET, &format!("/products/{}", products[0]), None, None).await;
    assert_eq!(first.body["stock"], 5, "the units are back");
}

#[tokio::test]
async fn an_admin_refunds_units_of_a_line_and_the_order_keeps_its_status() {
    let shop = shop(5).await;
    let (_, id) = shop.order(PaymentProvider::Razorpay, 3).await;
    shop.deliver(PaymentProvider::Razorpay, "payment.captured", &id).await;
    let admin = shop.admin().await;
    let path = format!("/orders/{id}/refunds");
    let too_many = json!({"lines": [{"line": 0, "quantity": 4}]});
    shop.app.call(Method::POST, &path, Some(&admin), Some(too_many)).await.assert_error(400, "validation_failed");
    let no_line = json!({"lines": [{"line": 3, "quantity": 1}]});
    shop.app.call(Method::POST, &path, Some(&admin), Some(no_line)).await.assert_error(400, "validation_failed");
    let one = json!({"lines": [{"line": 0, "quantity": 1}], "reason": "one mug arrived chipped"});
    let answer = shop.app.call(Method::POST, &path, Some(&admin), Some(one)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let order = shop.stored(&id).await;
    let refund = order.payment.as_ref().unwrap().refunds[0].clone();
    assert_eq!(refund.amount.amount, 10_000, "one of three units of 10 000");
    let confirmed = shop.deliver(PaymentProvider::Razorpay, "refund.processed", &id).await;
    assert_eq!(confirmed.body["status"], "paid", "{}", confirmed.body);
    let payment = shop.stored(&id).await.payment.unwrap();
    assert_eq!(payment.refunded.amount, 10_000);
    assert_eq!(payment.refunds[0].state, RefundState::Confirmed);
    // The rest of the line: exactly what is left.
    let rest = json!({"lines": [{"line": 0, "quantity": 2}]});
    let answer = shop.app.call(Method::POST, &path, Some(&admin), Some(rest)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let more = json!({"lines": [{"line": 0, "quantity": 1}]});
    shop.app.call(Method::POST, &path, Some(&admin), Some(more)).await.assert_error(400, "validation_failed");
    shop.app
        .call(Method::POST, &path, Some(&shop.seller), Some(json!({"lines": []})))
        .await
        .assert_error(403, "forbidden");
    // Each refund an admin asked for is audited with the order, by whom and how much.
    let me = shop.app.call(Method::GET, "/me", Some(&admin), None).await;
    let admin_id = cy_domain::UserId::parse(me.body["id"].as_str().unwrap()).unwrap();
    let audit =
        shop.app.store().query(&Query::index(cy_data::Index::Gsi1, keys::audit_by_actor_pk(&admin_id))).await.unwrap();
    let changes: Vec<Value> = audit
        .items
        .iter()
        .filter(|i| i.get("action") == Some(&json!("order.changed_by_admin")))
        .map(|i| i.get("details").cloned().unwrap())
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let amounts: Vec<&Value> = changes.iter().map(|d| &d["refunds"][0]["amount"]["amount"]).collect();
    assert!(amounts.contains(&&json!(10_000)) && amounts.contains(&&json!(20_000)), "{changes:?}");
}

/// An admin's partial refund sent twice (a double click, a retry after a timeout) — one after
/// the other and both at once — refunds once; the key with another body is 409.
#[tokio::test]
async fn a_partial_refund_sent_twice_with_one_idempotency_key_refunds_once() {
    let shop = shop(5).await;
    let (_, id) = shop.order(PaymentProvider::Stripe, 3).await;
    shop.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    let admin = shop.admin().await;
    let path = format!("/orders/{id}/refunds");
    let one = json!({"lines": [{"line": 0, "quantity": 1}], "reason": "chipped"});
    let refund = |key: &'static str, body: &Value| {
        let mut request = cy_tests::json_request(Method::POST, &path, Some(&admin), Some(body.clone()));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
        shop.app.send(request)
    };
    let refunds = || async { shop.stored(&id).await.payment.unwrap().refunds };

    let first = refund("refund-a", &one).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = refund("refund-a", &one).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["payment"]["refunds"], first.body["payment"]["refunds"], "the same refund, not a second");
    assert_eq!(refunds().await.len(), 1);
    let two = json!({"lines": [{"line": 0, "quantity": 2}]});
    refund("refund-a", &two).await.assert_error(409, "idempotency_key_reused");

    let (a, b) = tokio::join!(refund("refund-b", &one), refund("refund-b", &one));
    assert_eq!((a.status, b.status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED), "{} {}", a.body, b.body);
    let refunds = refunds().await;
    assert_eq!(refunds.len(), 2, "one refund per key: {refunds:?}");
    assert_eq!(refunds.iter().map(|r| r.amount.amount).sum::<i64>(), 20_000);
    assert_eq!(shop.stored(&id).await.status, OrderStatus::Paid);
}

/// The contract's path on the local runtime, every step through HTTP: register → quote →
/// order → signed webhook → paid → processing → shipped → delivered.
#[tokio::test]
async fn register_quote_order_pay_and_deliver() {
    let shop = shop(5).await;
    let app = &shop.app;
    let buyer = token(&app.register("buyer@example.in", "customer").await, "access_token");
    let address =
        json!({"name": "Asha", "line1": "12 MG Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"});
    let address = app.call(Method::POST, "/me/addresses", Some(&buyer), Some(address)).await;
    let address_id = address.body["id"].as_str().unwrap().to_owned();
    let quote = json!({"items": [{"product_id": shop.product, "quantity": 2}], "address_id": address_id});
    let quote = app.call(Method::POST, "/quotes", Some(&buyer), Some(quote)).await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    let order =
        json!({"quote_token": quote.body["quote_token"], "address_id": address_id, "payment_provider": "paypal"});
    let placed = app.call(Method::POST, "/orders", Some(&buyer), Some(order)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert!(placed.body["payment"]["redirect_url"].is_string());
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    // Its redirect_url is the simulated approval page of the local runtime; here the signed
    // webhooks are sent one by one instead (the page is tested below).
    // The customer approves on PayPal: we capture (the simulator's capture is pending) ...
    let approved = shop.deliver(PaymentProvider::Paypal, "CHECKOUT.ORDER.APPROVED", &id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "pending_payment");
    // ... and PayPal reports the capture completed.
    let paid = shop.deliver(PaymentProvider::Paypal, "PAYMENT.CAPTURE.COMPLETED", &id).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
    let path = format!("/orders/{id}/status");
    for (status, extra) in [
        ("processing", json!({})),
        ("shipped", json!({"tracking": {"carrier": "BlueDart", "number": "BD123456"}})),
        ("delivered", json!({})),
    ] {
        let mut body = json!({"status": status});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let moved = app.call(Method::PUT, &path, Some(&shop.seller), Some(body)).await;
        assert_eq!((moved.status, moved.body["status"].as_str()), (StatusCode::OK, Some(status)), "{}", moved.body);
    }
    let seen = app.call(Method::GET, &format!("/orders/{id}"), Some(&buyer), None).await;
    assert_eq!(seen.body["status"], "delivered");
    assert_eq!(seen.body["payment"]["captured"], placed.body["order"]["total"]);
    let steps: Vec<Value> = shop.timeline(&buyer, &id).await.iter().map(|e| e["to"].clone()).collect();
    assert_eq!(
        steps,
        vec![json!("pending_payment"), json!("paid"), json!("processing"), json!("shipped"), json!("delivered")]
    );
}

#[tokio::test]
async fn event_types_we_do_not_act_on_are_acknowledged_and_ignored() {
    let shop = shop(1).await;
    let bodies = [
        (
            PaymentProvider::Stripe,
            json!({"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}),
        ),
        (
            PaymentProvider::Razorpay,
            json!({"entity": "event", "event": "order.paid", "payload": {"order": {"entity": {"id": "order_1"}}}, "created_at": 1}),
        ),
        (PaymentProvider::Paypal, json!({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {}})),
    ];
    for (provider, body) in bodies {
        let request = shop.app.local.webhook_signer.request(provider, body.to_string().into_bytes()).unwrap();
        let answer = shop.app.send(request).await;
        assert_eq!(
            (answer.status, answer.body["outcome"].as_str()),
            (StatusCode::OK, Some("ignored")),
            "{}",
            answer.body
        );
    }
    let admin = shop.admin().await;
    let flags = shop.app.call(Method::GET, "/admin/payments/flags", Some(&admin), None).await;
    assert_eq!(flags.body["items"], json!([]), "nothing to flag");
}

/// The simulator, misbehaving as told: `down` and `declining` refunds until told otherwise;
/// `opening_orders` like Razorpay's Orders API, which takes no idempotency key: every create
/// call opens a new payment (numbered), slowly enough for two calls to overlap.
struct Flaky {
    inner: std::sync::Arc<cy_payments::SimulatedPayments>,
    mode: std::sync::Mutex<&'static str>,
    refunds_asked: std::sync::Mutex<Vec<String>>,
    closed: std::sync::Mutex<Vec<String>>,
    opened: std::sync::atomic::AtomicUsize,
}

impl Flaky {
    fn new(shop: &Shop, mode: &'static str) -> std::sync::Arc<Flaky> {
        std::sync::Arc::new(Flaky {
            inner: shop.app.local.simulator.clone(),
            mode: std::sync::Mutex::new(mode),
            refunds_asked: std::sync::Mutex::new(Vec::new()),
            closed: std::sync::Mutex::new(Vec::new()),
            opened: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl cy_payments::PaymentGateway for Flaky {
    async fn create_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        amount: cy_domain::Money,
    ) -> Result<cy_payments::PaymentIntent, cy_payments::PaymentError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            "opening_orders" => {}
            "opening_down" => return Err(cy_payments::PaymentError::Unavailable("503 from the provider".into())),
            "refusing_payments" => {
                return Err(cy_payments::PaymentError::Declined {
                    code: "amount_too_small".into(),
                    message: "Amount must be at least 50.00 INR".into(),
                });
            }
            _ => return self.inner.create_payment(provider, order, amount).await,
        }
        let n = self.opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut intent = self.inner.create_payment(provider, order, amount).await?;
        intent.reference = format!("{}{n}", intent.reference);
        Ok(intent)
    }

    async fn capture_payment(
        &self,
        provider: PaymentProvider,
        order: &OrderId,
        reference: &str,
        amount: cy_domain::Money,
    ) -> Result<Option<cy_payments::Capture>, cy_payments::PaymentError> {
        self.inner.capture_payment(provider, order, reference, amount).await
    }

    async fn refund(
        &self,
        request: &cy_payments::RefundRequest,
    ) -> Result<cy_payments::RefundAccepted, cy_payments::PaymentError> {
        self.refunds_asked.lock().unwrap().push(request.refund_id.to_string());
        let mode = *self.mode.lock().unwrap();
        match mode {
            "down" => Err(cy_payments::PaymentError::Unavailable("503 from the provider".into())),
            "declining" => Err(cy_payments::PaymentError::Declined {
                code: "charge_disputed".into(),
                message: "the charge is disputed".into(),
            }),
            "razorpay_down" if request.provider == PaymentProvider::Razorpay => {
                Err(cy_payments::PaymentError::Unavailable("503 from Razorpay".into()))
            }
            _ => self.inner.refund(request).await,
        }
    }

    async fn close_payment(
        &self,
        _provider: PaymentProvider,
        _order: &OrderId,
        reference: &str,
    ) -> Result<(), cy_payments::PaymentError> {
        self.closed.lock().unwrap().push(reference.to_owned());
        match *self.mode.lock().unwrap() {
            "closing_down" => Err(cy_payments::PaymentError::Unavailable("the provider times out".into())),
            _ => Ok(()),
        }
    }
}

/// An order called off before its money came, by the reservation sweep or by its customer,
/// has its payment closed at the provider (Stripe then refuses a late attempt); a paid order's
/// is never closed.
#[tokio::test]
async fn payments_of_orders_called_off_unpaid_are_closed() {
    let shop = shop(10).await;
    let flaky = Flaky::new(&shop, "up");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let payments = cy_api::jobs::Sweeps {
        payments: cy_api::payments::Payments { store: shop.app.store(), gateway: flaky.clone() },
    };
    let reference = async |id: &OrderId| shop.stored(id).await.payment.unwrap().reference;
    let (_, expiring) = shop.order(PaymentProvider::Stripe, 1).await;
    let (buyer, cancelled) = shop.order(PaymentProvider::Stripe, 1).await;
    let path = format!("/orders/{cancelled}/cancel");
    let answer = send(router.clone(), cy_tests::json_request(Method::POST, &path, Some(&buyer), None)).await;
    assert_eq!(answer.body["status"], "cancelled", "{}", answer.body);
    let (cancelled_ref, closed) = (reference(&cancelled).await, flaky.closed.lock().unwrap().clone());
    assert_eq!(closed, vec![cancelled_ref.clone()]);

    let (_, paid) = shop.order(PaymentProvider::Stripe, 1).await;
    shop.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &paid).await;
    let later = Timestamp::now().plus_secs(16 * 60);
    assert_eq!(payments.reservations(later).await.done, 1, "only the unpaid one");
    let (expiring_ref, closed) = (reference(&expiring).await, flaky.closed.lock().unwrap().clone());
    assert_eq!(closed, vec![cancelled_ref, expiring_ref]);
    assert_eq!(shop.stored(&expiring).await.status, OrderStatus::Cancelled);
    assert_eq!(shop.stored(&paid).await.status, OrderStatus::Paid);
}

/// One provider's outage holds back neither the sweep nor the others' refunds: with more than
/// a page of Razorpay refunds due while Razorpay is down, the sweep asks Razorpay once, skips
/// its other refunds, and reaches the Stripe refund due after them all.
#[tokio::test]
async fn the_sweep_skips_a_provider_that_is_down_and_sends_the_others_refunds() {
    let shop = shop(200).await;
    let flaky = Flaky::new(&shop, "down");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let payments = cy_api::jobs::Sweeps {
        payments: cy_api::payments::Payments { store: shop.app.store(), gateway: flaky.clone() },
    };
    let cancel = async |provider: PaymentProvider| {
        let (buyer, id) = shop.order(provider, 1).await;
        shop.deliver(provider, of(SUCCEEDED, provider), &id).await;
        let path = format!("/orders/{id}/cancel");
        let cancelled = send(router.clone(), cy_tests::json_request(Method::POST, &path, Some(&buyer), None)).await;
        assert_eq!(cancelled.body["payment"]["refunds"][0]["state"], "requested", "{}", cancelled.body);
        id
    };
    for _ in 0..101 {
        cancel(PaymentProvider::Razorpay).await;
    }
    let stripe = cancel(PaymentProvider::Stripe).await;
    assert_eq!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 200).await.unwrap().len(), 102);

    *flaky.mode.lock().unwrap() = "razorpay_down";
    flaky.refunds_asked.lock().unwrap().clear();
    assert_eq!(payments.refunds(Timestamp::now()).await.done, 1, "the Stripe refund");
    assert_eq!(flaky.refunds_asked.lock().unwrap().len(), 2, "Razorpay asked once, Stripe once");
    let refund = &shop.stored(&stripe).await.payment.unwrap().refunds[0];
    assert_eq!(refund.state, RefundState::Submitted);
    assert_eq!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 200).await.unwrap().len(), 101);

    // Razorpay back: the next sweep sends all of its refunds.
    *flaky.mode.lock().unwrap() = "up";
    assert_eq!(payments.refunds(Timestamp::now()).await.done, 101);
    assert!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 200).await.unwrap().is_empty());
}

/// A provider that refuses to open the payment at all (an amount under its minimum, say)
/// answers 409 with its reason, not a 5xx, and the order is cancelled at once: its stock is
/// back now, not when the reservation ends. A retry with the same key answers the same.
#[tokio::test]
async fn a_payment_the_provider_refuses_to_open_cancels_the_order_and_frees_its_stock() {
    let shop = shop(5).await;
    let flaky = Flaky::new(&shop, "refusing_payments");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 2}], "address_id": address,
        "payment_provider": "stripe"});
    let place = || {
        let mut request = cy_tests::json_request(Method::POST, "/orders", Some(&buyer), Some(body.clone()));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("checkout-1"));
        send(router.clone(), request)
    };
    let refused = place().await;
    refused.assert_error(409, "invalid_transition");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("at least 50.00"), "{}", refused.body);
    assert_eq!(refused.body["error"]["details"]["provider_code"], "amount_too_small");
    let id = OrderId::parse(refused.body["error"]["details"]["order_id"].as_str().unwrap()).unwrap();
    assert_eq!(shop.stored(&id).await.status, OrderStatus::Cancelled);
    assert_eq!(shop.stock().await, 5, "the units are back at once");
    // The retry answers the same refusal, and opens no payment even if the provider would now.
    *flaky.mode.lock().unwrap() = "up";
    let again = place().await;
    again.assert_error(409, "invalid_transition");
    assert_eq!(again.body["error"]["details"]["order_id"], id.as_str());
    assert!(shop.stored(&id).await.payment.is_none());
    assert_eq!(shop.stock().await, 5);
}

#[tokio::test]
async fn a_refund_the_provider_could_not_take_is_sent_by_the_sweep_once_even_when_sweeps_overlap() {
    let shop = shop(5).await;
    let flaky = Flaky::new(&shop, "down");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let payments = cy_api::jobs::Sweeps {
        payments: cy_api::payments::Payments { store: shop.app.store(), gateway: flaky.clone() },
    };
    let (buyer, id) = shop.order(PaymentProvider::Stripe, 1).await;
    shop.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;

    // The provider is down: the cancellation is accepted, its refund recorded and due.
    let cancel =
        send(router.clone(), cy_tests::json_request(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None))
            .await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
    assert_eq!(cancel.body["payment"]["refunds"][0]["state"], "requested");
    assert_eq!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 10).await.unwrap().len(), 1);
    // Still down: the sweep leaves it due.
    assert_eq!(payments.refunds(Timestamp::now()).await.done, 0);
    assert_eq!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 10).await.unwrap().len(), 1);

    // Back up: two overlapping sweeps send it with the same refund id (the idempotency key);
    // it is taken once, noted once, and no longer due.
    *flaky.mode.lock().unwrap() = "up";
    let (a, b) = tokio::join!(payments.refunds(Timestamp::now()), payments.refunds(Timestamp::now()));
    assert!(a.done + b.done >= 1 && a.failed + b.failed == 0, "{a:?} {b:?}");
    let asked = flaky.refunds_asked.lock().unwrap().clone();
    let refund_id = cancel.body["payment"]["refunds"][0]["id"].as_str().unwrap();
    assert!(asked.iter().all(|r| r == refund_id), "one refund, one idempotency key: {asked:?}");
    let order = shop.stored(&id).await;
    let refunds = &order.payment.as_ref().unwrap().refunds;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].state, RefundState::Submitted);
    assert!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 10).await.unwrap().is_empty());
    assert_eq!(payments.refunds(Timestamp::now()).await.done, 0, "a later sweep has nothing to send");
    assert_eq!(order.status, OrderStatus::Paid, "the order moves on the provider's confirmation");
    let confirmed = shop.deliver(PaymentProvider::Stripe, "charge.refunded", &id).await;
    assert_eq!(confirmed.body["status"], "refunded", "{}", confirmed.body);
}

#[tokio::test]
async fn a_refund_the_provider_refuses_is_marked_failed_and_the_order_stays_paid() {
    let shop = shop(5).await;
    let flaky = Flaky::new(&shop, "declining");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let (buyer, id) = shop.order(PaymentProvider::Razorpay, 1).await;
    shop.deliver(PaymentProvider::Razorpay, "payment.captured", &id).await;
    let path = format!("/orders/{id}/cancel");
    let cancel = send(router.clone(), cy_tests::json_request(Method::POST, &path, Some(&buyer), None)).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
    assert_eq!(cancel.body["status"], "paid");
    assert_eq!(cancel.body["payment"]["refunds"][0]["state"], "failed");
    assert!(cy_data::payments::refunds_due(shop.app.store().as_ref(), 10).await.unwrap().is_empty());
    assert!(shop.events(&id).await.iter().any(|e| e == "order.payment_updated"), "the refusal is an order event");
    let admin = shop.admin().await;
    let flags = shop.app.call(Method::GET, "/admin/payments/flags", Some(&admin), None).await;
    assert_eq!(flags.body["items"][0]["order_id"], id.as_str(), "admins see the refused refund: {}", flags.body);
    // The customer may ask again: a new refund, not the refused one.
    *flaky.mode.lock().unwrap() = "up";
    let again = send(router, cy_tests::json_request(Method::POST, &path, Some(&buyer), None)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    let refunds = again.body["payment"]["refunds"].as_array().unwrap();
    assert_eq!((refunds.len(), refunds[1]["state"].as_str()), (2, Some("submitted")));
}

/// A double submit whose two attempts each opened a Razorpay order: both answers name the one
/// recorded (the one webhooks find), so the customer cannot pay an orphan.
#[tokio::test]
async fn a_double_submit_that_opened_two_razorpay_orders_answers_the_recorded_one_both_times() {
    let shop = shop(5).await;
    let razorpay = Flaky::new(&shop, "opening_orders");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = razorpay.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address,
        "payment_provider": "razorpay"});
    let attempt = || {
        let mut request = cy_tests::json_request(Method::POST, "/orders", Some(&buyer), Some(body.clone()));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("checkout-7f3a"));
        send(router.clone(), request)
    };
    let (first, second) = tokio::join!(attempt(), attempt());
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{} {}",
        first.body,
        second.body
    );
    assert_eq!(razorpay.opened.load(std::sync::atomic::Ordering::SeqCst), 2, "both attempts opened a Razorpay order");
    assert_eq!(first.body["order"]["id"], second.body["order"]["id"], "one order");
    let id = OrderId::parse(first.body["order"]["id"].as_str().unwrap()).unwrap();
    let recorded = shop.stored(&id).await.payment.expect("a payment recorded").reference;
    for answer in [&first, &second] {
        assert_eq!(answer.body["payment"]["reference"], recorded.as_str(), "{}", answer.body);
        assert_eq!(answer.body["order"]["payment"]["reference"], recorded.as_str(), "{}", answer.body);
    }
    let paid = shop.deliver(PaymentProvider::Razorpay, "payment.captured", &id).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
}

#[tokio::test]
async fn the_local_paypal_approval_page_pays_the_order() {
    let shop = shop(2).await;
    let (buyer, id) = shop.order(PaymentProvider::Paypal, 1).await;
    let order = shop.app.call(Method::GET, &format!("/orders/{id}"), Some(&buyer), None).await;
    let reference = order.body["payment"]["reference"].as_str().unwrap().to_owned();
    let page = shop.app.call(Method::GET, &format!("/dev/paypal/approve?token={reference}"), None, None).await;
    assert_eq!((page.status, page.body["status"].as_str()), (StatusCode::OK, Some("paid")), "{}", page.body);
    let again = shop.app.call(Method::GET, &format!("/dev/paypal/approve?token={reference}"), None, None).await;
    assert_eq!(again.body["status"], "paid", "approving twice changes nothing: {}", again.body);
    assert_eq!(shop.stored(&id).await.version, 3);
    shop.app.call(Method::GET, "/dev/paypal/approve?token=NOPE", None, None).await.assert_error(404, "not_found");
}

/// PayPal signs each transmission with its time and id: one sent (or replayed) outside the
/// tolerance is refused as stale, and the very same transmission delivered again changes
/// nothing — an approval included, which would otherwise capture again.
#[tokio::test]
async fn a_stale_paypal_transmission_is_refused_and_a_replayed_one_changes_nothing() {
    let shop = shop(5).await;
    let (_, id) = shop.order(PaymentProvider::Paypal, 1).await;
    let signer = &shop.app.local.webhook_signer;
    let approval = shop.event(PaymentProvider::Paypal, "CHECKOUT.ORDER.APPROVED", &id, None).await;
    let stale_at = Timestamp::now().plus_secs(-(cy_payments::webhooks::PAYPAL_TOLERANCE_SECS + 60));
    let stale = signer.paypal_headers(&approval, "tx-stale-1", stale_at).unwrap();
    let refused = shop.app.send(webhooks::delivery(PaymentProvider::Paypal, approval.clone(), &stale).unwrap()).await;
    refused.assert_error(400, "validation_failed");
    assert!(refused.body["error"]["details"]["signature"].as_str().unwrap().contains("tolerance"), "{}", refused.body);
    assert!(shop.stored(&id).await.payment.unwrap().captured.is_none());

    // One paying transmission, then the same transmission five times, at once.
    let paid = shop.event(PaymentProvider::Paypal, "PAYMENT.CAPTURE.COMPLETED", &id, None).await;
    let headers = signer.paypal_headers(&paid, "tx-paid-1", Timestamp::now()).unwrap();
    let deliver = || shop.app.send(webhooks::delivery(PaymentProvider::Paypal, paid.clone(), &headers).unwrap());
    let first = deliver().await;
    assert_eq!((first.status, first.body["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{}", first.body);
    let replays = futures::future::join_all((0..5).map(|_| deliver())).await;
    for replay in &replays {
        assert_eq!(
            (replay.status, replay.body["outcome"].as_str()),
            (StatusCode::OK, Some("duplicate")),
            "{}",
            replay.body
        );
    }
    let order = shop.stored(&id).await;
    assert_eq!(order.status, OrderStatus::Paid);
    let paid_entries = shop.timeline(&shop.admin().await, &id).await.iter().filter(|e| e["to"] == "paid").count();
    assert_eq!(paid_entries, 1);
    // A replayed approval captures nothing again.
    let approved = signer.paypal_headers(&approval, "tx-approval-1", Timestamp::now()).unwrap();
    for expected in ["ignored", "duplicate"] {
        let answer =
            shop.app.send(webhooks::delivery(PaymentProvider::Paypal, approval.clone(), &approved).unwrap()).await;
        assert_eq!(answer.body["outcome"], expected, "{}", answer.body);
    }
}

/// Before a PayPal capture marks an order paid, PayPal's API is asked (the delivery's
/// signature binds its body only by CRC32): a capture the API does not know, or whose amount the
/// body misstates, is refused and flagged; the order stays unpaid.
#[tokio::test]
async fn a_paypal_capture_its_api_does_not_confirm_never_pays_the_order() {
    let shop = shop(5).await;
    let (_, id) = shop.order(PaymentProvider::Paypal, 1).await;
    let order = shop.stored(&id).await;
    let mut facts = webhooks::facts(&order, &shop.app.local.simulator).unwrap();
    facts.payment_id = "CAPNOTAPAYPALCAPTURE".into();
    let forged = event_body(PaymentProvider::Paypal, "PAYMENT.CAPTURE.COMPLETED", &facts, None).unwrap();
    let answer = shop.app.send(shop.app.local.webhook_signer.request(PaymentProvider::Paypal, forged).unwrap()).await;
    assert_eq!((answer.status, answer.body["outcome"].as_str()), (StatusCode::OK, Some("flagged")), "{}", answer.body);
    assert_eq!(shop.stored(&id).await.status, OrderStatus::PendingPayment);
    let admin = shop.admin().await;
    let flags = shop.app.call(Method::GET, "/admin/payments/flags", Some(&admin), None).await;
    assert!(flags.body["items"][0]["reason"].as_str().unwrap().contains("does not confirm"), "{}", flags.body);
    // The genuine capture pays it.
    let paid = shop.deliver(PaymentProvider::Paypal, "PAYMENT.CAPTURE.COMPLETED", &id).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
}

/// The provider could not open the payment (503): the order was placed, with its coupon use and
/// its stock. The retry with the same key answers that order, its payment opened now — not a
/// new quote, which would refuse the coupon this very order used up.
#[tokio::test]
async fn a_retry_after_the_payment_could_not_be_opened_answers_the_order_already_placed() {
    let shop = shop(5).await;
    let admin = shop.admin().await;
    let coupon = json!({"code": "ONLYONCE", "type": "percent", "bps": 1000, "per_customer_limit": 1});
    assert_eq!(
        shop.app.call(Method::POST, "/admin/coupons", Some(&admin), Some(coupon)).await.status,
        StatusCode::CREATED
    );
    let flaky = Flaky::new(&shop, "opening_down");
    let mut orders = shop.app.local.services.orders.clone();
    orders.payments = flaky.clone();
    let router = cy_http::finish(cy_api::orders::router(orders));
    let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address,
        "payment_provider": "stripe", "coupon": "ONLYONCE"});
    let place = || {
        let mut request = cy_tests::json_request(Method::POST, "/orders", Some(&buyer), Some(body.clone()));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("checkout-9"));
        send(router.clone(), request)
    };
    let down = place().await;
    down.assert_error(503, "unavailable");
    let placed_id = down.body["error"]["details"]["order_id"].as_str().unwrap().to_owned();
    *flaky.mode.lock().unwrap() = "up";
    let retried = place().await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body["order"]["id"], placed_id.as_str());
    assert_eq!(retried.body["order"]["discount"]["amount"], 1_000);
    assert_eq!(place().await.body, retried.body, "and its answer is kept from then on");
    assert_eq!(shop.stock().await, 4, "one order, one unit");
}

/// A provider that cannot close one expired order's payment is not asked again in the same
/// run (each try may wait out a timeout): the sweep still releases every expired order.
#[tokio::test]
async fn the_reservation_sweep_stops_asking_a_provider_that_cannot_close_payments() {
    let shop = shop(10).await;
    for _ in 0..3 {
        shop.order(PaymentProvider::Stripe, 1).await;
    }
    let flaky = Flaky::new(&shop, "closing_down");
    let sweeps = cy_api::jobs::Sweeps {
        payments: cy_api::payments::Payments { store: shop.app.store(), gateway: flaky.clone() },
    };
    let report = sweeps.reservations(Timestamp::now().plus_secs(16 * 60)).await;
    assert_eq!((report.done, report.failed), (3, 0), "{report:?}");
    assert_eq!(flaky.closed.lock().unwrap().len(), 1, "asked once, then skipped for the run");
    assert_eq!(shop.stock().await, 10);
}
