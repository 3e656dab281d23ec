//! What a cold start pays to build the HTTP functions' routers, each built from its handlers'
//! OpenAPI annotations (`cy_http::route!` reads only their paths and methods):
//! `router_build/<function>` builds the router a Lambda `main.rs` builds once per instance;
//! `router_build/openapi_document` builds the whole document (the first `GET /openapi.json` of
//! an instance, and only then).
//!
//! `cargo bench -p cy-benches --bench router_build`

use criterion::{Criterion, criterion_group, criterion_main};

fn router_build(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let app = runtime.block_on(cy_tests::TestApp::new());
    let services = &app.local.services;
    c.bench_function("router_build/auth", |b| b.iter(|| cy_api::accounts::auth::router(services.accounts.clone())));
    c.bench_function("router_build/products", |b| b.iter(|| cy_api::catalog::router(services.catalog.clone())));
    c.bench_function("router_build/orders", |b| b.iter(|| cy_api::orders::router(services.orders.clone())));
    c.bench_function("router_build/openapi_document", |b| b.iter(cy_api::openapi::document));
}

criterion_group!(benches, router_build);
criterion_main!(benches);
