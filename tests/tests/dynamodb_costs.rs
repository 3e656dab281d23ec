//! What the catalog's hot paths cost on DynamoDB, counted on the adapter while requests go
//! through the real routers: a product page is one request; a quote is one batch read (plus
//! one for sellers' shipping rates when the function's cache is cold). Runs against moto's
//! DynamoDB from the test command; skips without it unless `CY_REQUIRE_EMULATOR` is set.

use std::sync::Arc;

use cy_api::catalog::Catalog;
use cy_api::pricing::Quoting;
use cy_api::pricing::token::QuoteSigner;
use cy_data::audit::AuditRecord;
use cy_data::catalog::{self as records, TaxRules};
use cy_domain::catalog::{Coupon, CouponValue, OptionDraft, ShippingRule, TaxRule, parse_options};
use cy_domain::product::{CategoryId, Product, ProductDescription, ProductStatus, ProductTitle};
use cy_domain::{
    Address, AddressDraft, AddressId, CountryCode, Currency, Email, Money, PersonName, ProductId, Role, SessionId,
    Timestamp, User, UserId,
};
use cy_http::JwtKeys;
use cy_store_dynamodb::DynamoStore;
use cy_tests::{TEST_JWT_SECRET, json_request, send};
use http::{Method, StatusCode};
use serde_json::json;

async fn emulator() -> Option<DynamoStore> {
    if std::env::var("CY_DYNAMODB_ENDPOINT").is_err() {
        assert!(
            std::env::var("CY_REQUIRE_EMULATOR").is_err(),
            "CY_REQUIRE_EMULATOR is set but no emulator is configured"
        );
        eprintln!("skipping: no DynamoDB emulator configured");
        return None;
    }
    Some(DynamoStore::from_env().await.expect("store"))
}

fn inr(amount: i64) -> Money {
    Money::new(amount, Currency::parse("INR").unwrap()).unwrap()
}

fn product(seller: &UserId, title: &str, options: &str) -> Product {
    let drafts: Vec<OptionDraft> = serde_json::from_str(options).unwrap();
    let now = Timestamp::now();
    Product {
        id: ProductId::generate(),
        seller_id: seller.clone(),
        seller_name: "Cost Seller".into(),
        title: ProductTitle::parse(title).unwrap(),
        description: ProductDescription::parse("").unwrap(),
        category_id: CategoryId::parse("home-mugs").unwrap(),
        base_price: inr(50_000),
        stock: 10,
        images: Vec::new(),
        status: ProductStatus::Active,
        version: 1,
        options: parse_options(drafts).unwrap(),
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn a_product_page_costs_one_request_and_a_quote_one_batch_read() {
    let Some(store) = emulator().await else { return };
    let shared: Arc<dyn cy_data::Store> = Arc::new(store.clone());
    let keys = Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(cy_files::LocalFiles::new(dir.path().to_path_buf(), "http://127.0.0.1", b"files-secret"));
    let catalog =
        Catalog { store: shared.clone(), keys: keys.clone(), files, default_currency: Currency::parse("INR").unwrap() };
    let signer = Arc::new(QuoteSigner::new(b"cost-test-quote-secret-cost-test-quote").unwrap());
    let quoting = Quoting::new(shared.clone(), keys.clone(), signer);
    let products_router = cy_http::finish(cy_api::catalog::router(catalog));
    let quote_router = cy_http::finish(cy_api::pricing::router(quoting));

    // Seed: a seller's two products, shipping, tax, a coupon, a customer with an address.
    let seller = UserId::generate();
    let engraved =
        product(&seller, "Cost mug", r#"[{"name": "Text", "kind": "text", "required": true, "max_length": 10}]"#);
    let plain = product(&seller, "Cost print", "[]");
    for p in [&engraved, &plain] {
        records::create_product(shared.as_ref(), p, Vec::new()).await.unwrap();
    }
    records::save_shipping_rule(shared.as_ref(), &seller, &ShippingRule { flat: inr(4_900), free_from: None })
        .await
        .unwrap();
    let tax = TaxRules { rules: vec![TaxRule { category: None, country: CountryCode::parse("IN").ok(), bps: 1800 }] };
    records::save_tax_rules(shared.as_ref(), &tax, Vec::new()).await.unwrap();
    let code = format!("COST{}", &ulid::Ulid::new().to_string()[20..]);
    let coupon = Coupon {
        code: code.clone(),
        value: CouponValue::Percent { bps: 500 },
        min_order: None,
        expires_at: None,
        max_redemptions: None,
        per_customer_limit: None,
        redemptions: 0,
    };
    records::create_coupon(shared.as_ref(), &coupon, Vec::new()).await.unwrap();
    let now = Timestamp::now();
    let customer = User {
        id: UserId::generate(),
        email: Email::parse(&format!("{}@cost.example.in", ulid::Ulid::new().to_string().to_lowercase())).unwrap(),
        name: PersonName::parse("Cost Customer").unwrap(),
        role: Role::Customer,
        phone: None,
        email_verified: false,
        phone_verified: false,
        password_hash: "unused".into(),
        address_count: 0,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let audit = AuditRecord::new(None, "test.seed", customer.id.as_str(), json!({}));
    cy_data::accounts::create_user(shared.as_ref(), &customer, &audit, Vec::new()).await.unwrap();
    let address = Address {
        id: AddressId::generate(),
        fields: AddressDraft {
            name: PersonName::parse("Cost Customer").unwrap(),
            line1: cy_domain::account::AddressLine::parse("1 Road").unwrap(),
            line2: None,
            city: cy_domain::account::Locality::parse("Pune").unwrap(),
            state: None,
            postal_code: cy_domain::account::PostalCode::parse("411001").unwrap(),
            country: CountryCode::parse("IN").unwrap(),
            phone: None,
        },
        created_at: now,
        updated_at: now,
        version: 1,
    };
    cy_data::accounts::add_address(shared.as_ref(), &customer.id, &address, Vec::new()).await.unwrap();
    let token = keys.issue(&customer.id, Role::Customer, &SessionId::generate(), now).unwrap();

    let before = store.calls();
    let page =
        send(products_router.clone(), json_request(Method::GET, &format!("/products/{}", engraved.id), None, None))
            .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page_calls = store.calls() - before;

    let text_option = engraved.options[0].id.to_string();
    let body = json!({
        "items": [
            {"product_id": engraved.id, "quantity": 2, "customizations": {text_option: "ASHA"}},
            {"product_id": plain.id, "quantity": 1}
        ],
        "coupon": code,
        "address_id": address.id,
    });
    let before = store.calls();
    let cold =
        send(quote_router.clone(), json_request(Method::POST, "/quotes", Some(&token), Some(body.clone()))).await;
    assert_eq!(cold.status, StatusCode::OK, "{}", cold.body);
    let cold_calls = store.calls() - before;
    let before = store.calls();
    let warm = send(quote_router, json_request(Method::POST, "/quotes", Some(&token), Some(body))).await;
    assert_eq!(warm.status, StatusCode::OK, "{}", warm.body);
    let warm_calls = store.calls() - before;
    assert_eq!(warm.body["total"], cold.body["total"]);
    // 2 × 50 000 + 50 000 = 150 000; 5 % off = 7 500; shipping 4 900; 18 % tax on 142 500 = 25 650.
    assert_eq!(cold.body["total"]["amount"], 150_000 - 7_500 + 4_900 + 25_650);

    println!(
        "DynamoDB requests: GET /products/{{id}} = {page_calls}; POST /quotes (2 products, coupon, address) = {cold_calls} cold, {warm_calls} warm"
    );
    assert_eq!(page_calls, 1, "a product page is one GetItem");
    assert_eq!(cold_calls, 2, "products + coupon + address + tax in one batch, sellers' shipping in a second");
    assert_eq!(warm_calls, 1, "with shipping rates cached, one batch read");
}
