//! A provider webhook end to end on the embedded store: `POST /webhooks/stripe` through the
//! local runtime's router — HMAC verification on the raw body, parsing, the order found by the
//! id we attached, the decision, and the one transaction (event claim, order, lists, timeline,
//! outbox; durable commit).
//!
//! - `webhook/first_delivery`: a success for a fresh unpaid order (pending → paid);
//! - `webhook/duplicate`: a redelivery of an event already applied (refused by its claim).
//!
//! `cargo bench -p cy-benches --bench webhook`

use criterion::{Criterion, criterion_group, criterion_main};
use cy_domain::payment::PaymentProvider;
use cy_tests::{json_request, seed_customer, send};
use http::{Method, StatusCode};
use serde_json::json;

fn webhook(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (app, buyer, address, product) = runtime.block_on(async {
        let shop = cy_tests::shop(1_000_000).await;
        let (buyer, address) = seed_customer(shop.app.store().as_ref()).await;
        (shop.app, buyer, address, shop.product)
    });
    let order_body =
        json!({"items": [{"product_id": product, "quantity": 1}], "address_id": address, "payment_provider": "stripe"});
    let app = std::sync::Arc::new(app);
    // A fresh unpaid order and the provider's signed success for it.
    let fresh_delivery = {
        let app = app.clone();
        move || {
            let (app, order_body, buyer) = (app.clone(), order_body.clone(), buyer.clone());
            async move {
                let placed =
                    send(app.router(), json_request(Method::POST, "/orders", Some(&buyer), Some(order_body))).await;
                assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
                let id = cy_domain::OrderId::parse(placed.body["order"]["id"].as_str().expect("id")).expect("order id");
                let order = cy_data::orders::get_order(app.store().as_ref(), &id).await.expect("read").expect("order");
                let facts = customiseyou_local::webhooks::facts(&order, &app.local.simulator).expect("facts");
                let body = customiseyou_local::webhooks::event_body(
                    PaymentProvider::Stripe,
                    "payment_intent.succeeded",
                    &facts,
                    None,
                )
                .expect("event");
                let headers = app.local.webhook_signer.headers(PaymentProvider::Stripe, &body).expect("signed");
                customiseyou_local::webhooks::delivery(PaymentProvider::Stripe, body, &headers).expect("request")
            }
        }
    };
    let router = app.router();
    c.bench_function("webhook/first_delivery", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (router, fresh_delivery) = (router.clone(), fresh_delivery.clone());
            async move {
                // Orders are placed (and their events signed) outside the timed part.
                let mut deliveries = Vec::new();
                for _ in 0..iters {
                    deliveries.push(fresh_delivery().await);
                }
                let started = std::time::Instant::now();
                for request in deliveries {
                    let answer = send(router.clone(), request).await;
                    assert_eq!(answer.body["outcome"], "applied", "{}", answer.body);
                }
                started.elapsed()
            }
        })
    });
    let (body, headers) = runtime.block_on(async {
        let request = fresh_delivery().await;
        let (parts, body) = request.into_parts();
        let body = http_body_util::BodyExt::collect(body).await.expect("body").to_bytes().to_vec();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().expect("header").to_owned()))
            .collect();
        let first = customiseyou_local::webhooks::delivery(PaymentProvider::Stripe, body.clone(), &headers);
        assert_eq!(send(app.router(), first.expect("request")).await.body["outcome"], "applied");
        (body, headers)
    });
    c.bench_function("webhook/duplicate", |b| {
        b.to_async(&runtime).iter(|| {
            let (router, body, headers) = (router.clone(), body.clone(), headers.clone());
            async move {
                let request =
                    customiseyou_local::webhooks::delivery(PaymentProvider::Stripe, body, &headers).expect("request");
                let answer = send(router, request).await;
                assert_eq!(answer.body["outcome"], "duplicate", "{}", answer.body);
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(10));
    targets = webhook
}
criterion_main!(benches);
