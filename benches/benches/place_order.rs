//! Placing an order end to end on the embedded store: `POST /orders` through the local
//! runtime's router — JSON parsing, pricing (the quote code), the one transaction (order,
//! claim, stock, lists, timeline, outbox; durable commit) and the simulated payment.
//!
//! `cargo bench -p cy-benches --bench place_order`

use criterion::{Criterion, criterion_group, criterion_main};
use cy_tests::{TestApp, json_request, seed_customer, send, token};
use http::{Method, StatusCode};
use serde_json::json;

fn place_order(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (app, buyer, address, product) = runtime.block_on(async {
        let app = TestApp::new().await;
        let category = cy_data::catalog::CategoryRecord {
            slug: cy_domain_category("home-mugs"),
            name: "Mugs".into(),
            parent: None,
            version: 1,
        };
        cy_data::catalog::put_category_if_absent(app.store().as_ref(), &category).await.expect("category");
        let seller = token(&app.register("bench.seller@example.in", "seller").await, "access_token");
        let body = json!({"title": "Bench mug", "category_id": "home-mugs", "base_price": {"amount": 49900, "currency": "INR"}, "stock": 1_000_000,
            "options": [{"name": "Text", "kind": "text", "required": true, "max_length": 12, "price_per_char": 100}]});
        let product = app.call(Method::POST, "/seller/products", Some(&seller), Some(body)).await.body;
        let (buyer, address) = seed_customer(app.store().as_ref()).await;
        (app, buyer, address, product)
    });
    let router = app.router();
    let option = product["options"][0]["id"].as_str().expect("option id").to_owned();
    let body = json!({"items": [{"product_id": product["id"], "quantity": 1, "customizations": {option: "FOR ASHA"}}],
                      "address_id": address, "payment_provider": "stripe"});
    c.bench_function("place_order/embedded", |b| {
        b.to_async(&runtime).iter(|| {
            let (router, body, buyer) = (router.clone(), body.clone(), buyer.clone());
            async move {
                let answer = send(router, json_request(Method::POST, "/orders", Some(&buyer), Some(body))).await;
                assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            }
        })
    });
}

fn cy_domain_category(slug: &str) -> cy_data::catalog::CategoryId {
    cy_data::catalog::CategoryId::parse(slug).expect("slug")
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(10));
    targets = place_order
}
criterion_main!(benches);
