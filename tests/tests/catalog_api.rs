//! Catalog, customisation and quotes end to end, through the local runtime's router.

use std::collections::BTreeSet;

use cy_data::{Index, Query, keys};
use cy_domain::UserId;
use cy_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Answer, TestApp, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A seller, signed in, with a shipping rate; and a customer.
struct Market {
    app: TestApp,
    seller: String,
    seller_id: String,
    customer: String,
    admin: String,
}

async fn market() -> Market {
    let app = TestApp::new().await;
    seed_categories(&app).await;
    let seller_body = app.register("seller@example.in", "seller").await;
    let seller = token(&seller_body, "access_token");
    let seller_id = seller_body["user"]["id"].as_str().unwrap().to_owned();
    let customer = token(&app.register("customer@example.in", "customer").await, "access_token");
    let admin = token(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token");
    let shipping =
        json!({"flat": {"amount": 4900, "currency": "INR"}, "free_from": {"amount": 99900, "currency": "INR"}});
    let set = app.call(Method::PUT, "/seller/shipping", Some(&seller), Some(shipping)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let tax =
        json!({"rules": [{"country": "IN", "bps": 1800}, {"category": "home-prints", "country": "IN", "bps": 1200}]});
    let set = app.call(Method::PUT, "/admin/settings/tax", Some(&admin), Some(tax)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    Market { app, seller, seller_id, customer, admin }
}

async fn seed_categories(app: &TestApp) {
    use cy_data::catalog::{CategoryRecord, put_category_if_absent};
    use cy_domain::product::CategoryId;
    for (slug, parent) in
        [("home", None), ("home-mugs", Some("home")), ("home-prints", Some("home")), ("apparel", None)]
    {
        let record = CategoryRecord {
            slug: CategoryId::parse(slug).unwrap(),
            name: slug.to_uppercase(),
            parent: parent.map(|p| CategoryId::parse(p).unwrap()),
            version: 1,
        };
        put_category_if_absent(app.store().as_ref(), &record).await.unwrap();
    }
}

fn mug() -> Value {
    json!({
        "title": "Engraved steel mug",
        "description": "350 ml, engraved.",
        "category_id": "home-mugs",
        "base_price": {"amount": 79900, "currency": "INR"},
        "stock": 25,
        "options": [
            {"name": "Engraving", "kind": "text", "required": true, "max_length": 10, "allowed": "alphanumeric", "price_per_char": 500},
            {"name": "Colour", "kind": "choice", "required": true, "multi": false,
             "choices": [{"label": "Black"}, {"label": "Gold", "price_modifier": {"type": "fixed", "amount": 5000}}]},
            {"name": "Extras", "kind": "choice", "required": false, "multi": true,
             "choices": [{"label": "Ribbon", "price_modifier": {"type": "fixed", "amount": 2000}},
                         {"label": "Card", "price_modifier": {"type": "percent", "bps": 250}}]},
            {"name": "Size (oz)", "kind": "number", "required": false, "min": 10, "max": 20, "step": 2, "price_per_unit": 100},
            {"name": "Logo", "kind": "image", "required": false, "price_modifier": {"type": "percent", "bps": 1000}}
        ]
    })
}

async fn create(m: &Market, body: Value) -> Value {
    let created = m.app.call(Method::POST, "/seller/products", Some(&m.seller), Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body
}

/// The id of the option named `name`, and of its choice labelled `label`.
fn option_id(product: &Value, name: &str) -> String {
    product["options"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn choice_id(product: &Value, option: &str, label: &str) -> String {
    let opt = product["options"].as_array().unwrap().iter().find(|o| o["name"] == option).unwrap();
    opt["choices"].as_array().unwrap().iter().find(|c| c["label"] == label).unwrap()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_seller_lists_a_product_with_all_four_option_kinds_and_anyone_can_read_it() {
    let m = market().await;
    let product = create(&m, mug()).await;
    assert_eq!(product["status"], "active");
    assert_eq!(product["version"], 1);
    assert_eq!(product["seller_id"], m.seller_id);
    let kinds: Vec<&str> = product["options"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "choice", "choice", "number", "image"]);
    for option in product["options"].as_array().unwrap() {
        assert!(option["id"].as_str().is_some_and(|id| !id.is_empty()), "server assigns option ids: {option}");
    }
    let id = product["id"].as_str().unwrap();
    let page = m.app.call(Method::GET, &format!("/products/{id}"), None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["options"], product["options"]);
    assert_eq!(page.body["seller"]["id"], m.seller_id);
    assert_eq!(page.body["rating"]["count"], 0);
    let listed = m.app.call(Method::GET, "/products?category=home-mugs", None, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], product["id"]);
    let mine = m.app.call(Method::GET, "/seller/products", Some(&m.seller), None).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    let tree = m.app.call(Method::GET, "/categories", None, None).await;
    let home = tree.body["items"].as_array().unwrap().iter().find(|c| c["id"] == "home").unwrap().clone();
    assert_eq!(home["children"].as_array().unwrap().len(), 2);
}

/// A listing submitted twice with one Idempotency-Key (a double click, a retry) — one after the
/// other and both at once — makes one product; the key with another body is 409.
#[tokio::test]
async fn a_product_submitted_twice_with_one_idempotency_key_is_created_once() {
    let m = market().await;
    let submit = |key: &'static str, body: Value| {
        let mut request = cy_tests::json_request(Method::POST, "/seller/products", Some(&m.seller), Some(body));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
        m.app.send(request)
    };
    let first = submit("listing-1", mug()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = submit("listing-1", mug()).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::CREATED, &first.body["id"]), "{}", again.body);
    let mut other = mug();
    other["title"] = json!("Another mug");
    submit("listing-1", other).await.assert_error(409, "idempotency_key_reused");

    let (a, b) = tokio::join!(submit("listing-2", mug()), submit("listing-2", mug()));
    assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED), "{} {}", a.body, b.body);
    assert_eq!(a.body["id"], b.body["id"]);
    let mine = m.app.call(Method::GET, "/seller/products", Some(&m.seller), None).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 2, "one product per key: {}", mine.body);
}

/// A coupon created twice with one Idempotency-Key answers the coupon both times (not 409
/// `already_exists` for its own code), ten at once create and audit it once, and the key with
/// another body is 409. Without a key the second create is the plain conflict.
#[tokio::test]
async fn a_coupon_created_twice_with_one_idempotency_key_is_created_and_audited_once() {
    let m = market().await;
    let create = |key: Option<&'static str>, body: Value| {
        let mut request = cy_tests::json_request(Method::POST, "/admin/coupons", Some(&m.admin), Some(body));
        if let Some(key) = key {
            request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
        }
        m.app.send(request)
    };
    let coupon = json!({"code": "Diwali10", "type": "percent", "bps": 1000});
    let first = create(Some("coupon-1"), coupon.clone()).await;
    assert_eq!((first.status, &first.body["code"]), (StatusCode::CREATED, &json!("DIWALI10")), "{}", first.body);
    let again = create(Some("coupon-1"), coupon.clone()).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    create(Some("coupon-1"), json!({"code": "Diwali10", "type": "percent", "bps": 2000}))
        .await
        .assert_error(409, "idempotency_key_reused");
    create(None, coupon).await.assert_error(409, "already_exists");

    let festive = json!({"code": "Holi-50", "type": "fixed", "amount": {"amount": 5000, "currency": "INR"}});
    let answers = futures::future::join_all((0..10).map(|_| create(Some("coupon-2"), festive.clone()))).await;
    for answer in &answers {
        assert_eq!((answer.status, &answer.body["code"]), (StatusCode::CREATED, &json!("HOLI-50")), "{}", answer.body);
    }
    let me = m.app.call(Method::GET, "/me", Some(&m.admin), None).await;
    let admin = UserId::parse(me.body["id"].as_str().unwrap()).unwrap();
    let audit = m.app.store().query(&Query::index(Index::Gsi1, keys::audit_by_actor_pk(&admin))).await.unwrap();
    let created: Vec<_> =
        audit.items.iter().filter(|i| i.get("action") == Some(&json!("pricing.coupon_created"))).collect();
    assert_eq!(created.len(), 2, "one audit record per coupon: {created:?}");
}

#[tokio::test]
async fn only_the_owning_seller_edits_with_the_current_version_and_archiving_unlists() {
    let m = market().await;
    let product = create(&m, mug()).await;
    let path = format!("/seller/products/{}", product["id"].as_str().unwrap());
    m.app.call(Method::POST, "/seller/products", Some(&m.customer), Some(mug())).await.assert_error(403, "forbidden");
    let other = token(&m.app.register("other.seller@example.in", "seller").await, "access_token");
    m.app
        .call(Method::PATCH, &path, Some(&other), Some(json!({"title": "Mine now", "version": 1})))
        .await
        .assert_error(403, "forbidden");
    m.app
        .call(Method::PATCH, &path, Some(&m.seller), Some(json!({"title": "No version"})))
        .await
        .assert_error(400, "validation_failed");

    let edited = m.app.call(Method::PATCH, &path, Some(&m.seller), Some(json!({"title": "Steel mug", "base_price": {"amount": 89900, "currency": "INR"}, "stock_delta": -5, "version": 1}))).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(
        (edited.body["version"].clone(), edited.body["stock"].clone(), edited.body["title"].clone()),
        (json!(2), json!(20), json!("Steel mug"))
    );
    m.app
        .call(Method::PATCH, &path, Some(&m.seller), Some(json!({"title": "Stale", "version": 1})))
        .await
        .assert_error(409, "version_conflict");
    m.app
        .call(Method::PATCH, &path, Some(&m.seller), Some(json!({"stock_delta": -21, "version": 2})))
        .await
        .assert_error(409, "out_of_stock");
    let unchanged =
        m.app.call(Method::GET, &format!("/products/{}", product["id"].as_str().unwrap()), None, None).await;
    assert_eq!((unchanged.body["stock"].clone(), unchanged.body["version"].clone()), (json!(20), json!(2)));
    // Listing cards follow the new price.
    let by_price =
        m.app.call(Method::GET, "/products?sort=price_asc&min_price=89900&max_price=89900", None, None).await;
    assert_eq!(by_price.body["items"].as_array().unwrap().len(), 1, "{}", by_price.body);

    assert_eq!(m.app.call(Method::DELETE, &path, Some(&m.seller), None).await.status, StatusCode::NO_CONTENT);
    let gone = m.app.call(Method::GET, "/products", None, None).await;
    assert!(gone.body["items"].as_array().unwrap().is_empty());
    m.app
        .call(Method::GET, &format!("/products/{}", product["id"].as_str().unwrap()), None, None)
        .await
        .assert_error(404, "not_found");
    let owner_view =
        m.app.call(Method::GET, &format!("/products/{}", product["id"].as_str().unwrap()), Some(&m.seller), None).await;
    assert_eq!(owner_view.body["status"], "archived");
    m.app
        .call(Method::PATCH, &path, Some(&m.seller), Some(json!({"title": "Back", "version": 3})))
        .await
        .assert_error(409, "invalid_transition");
}

#[tokio::test]
async fn browsing_filters_sorts_and_pages_without_repeats_or_gaps_while_products_are_added() {
    let m = market().await;
    let mut all = BTreeSet::new();
    for i in 0..12 {
        let mut body = mug();
        body["title"] = json!(format!("Mug number {i}"));
        body["base_price"]["amount"] = json!(10_000 + i * 1000);
        body["category_id"] = json!(if i % 3 == 0 { "home-prints" } else { "home-mugs" });
        body["options"] = json!([]);
        all.insert(create(&m, body).await["id"].as_str().unwrap().to_owned());
    }
    // Page through newest-first, 5 at a time, adding a product between pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/products?limit=5&cursor={c}"),
            None => "/products?limit=5".to_owned(),
        };
        let page = m.app.call(Method::GET, &path, None, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        let mut late = mug();
        late["title"] = json!(format!("Late {round}"));
        late["options"] = json!([]);
        create(&m, late).await;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a product came twice");
    for id in &all {
        assert!(unique.contains(id), "{id} was skipped");
    }

    let prices = |a: &Answer| {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["base_price"]["amount"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let asc = m
        .app
        .call(Method::GET, "/products?category=home-mugs&sort=price_asc&min_price=12000&max_price=17000", None, None)
        .await;
    assert_eq!(prices(&asc), vec![12000, 14000, 15000, 17000]);
    let desc = m.app.call(Method::GET, "/products?category=home-prints&sort=price_desc", None, None).await;
    assert_eq!(prices(&desc), vec![19000, 16000, 13000, 10000]);
    let text = m.app.call(Method::GET, "/products?q=NUMBER%201", None, None).await;
    let titles: BTreeSet<String> =
        text.body["items"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        titles,
        BTreeSet::from(["Mug number 1".to_owned(), "Mug number 10".to_owned(), "Mug number 11".to_owned()])
    );
    let newest_in_range =
        m.app.call(Method::GET, "/products?min_price=20000&max_price=21000&limit=2", None, None).await;
    assert_eq!(prices(&newest_in_range), vec![21000, 20000]);
    let by_seller =
        m.app.call(Method::GET, &format!("/products?seller_id={}&limit=100", m.seller_id), None, None).await;
    assert!(by_seller.body["items"].as_array().unwrap().len() >= 12);
    for bad in [
        "/products?sort=cheapest",
        "/products?limit=0",
        "/products?min_price=-1",
        "/products?min_price=5&max_price=1",
        "/products?category=Not%20A%20Slug",
        "/products?cursor=zzz",
        "/products?colour=red",
    ] {
        m.app.call(Method::GET, bad, None, None).await.assert_error(400, "validation_failed");
    }
}

async fn quote(m: &Market, body: Value) -> Answer {
    m.app.call(Method::POST, "/quotes", Some(&m.customer), Some(body)).await
}

#[tokio::test]
async fn a_quote_prices_every_figure_exactly_and_seals_it() {
    let m = market().await;
    let product = create(&m, mug()).await;
    let pid = product["id"].as_str().unwrap();
    let coupon = json!({"code": "Diwali10", "type": "percent", "bps": 1000});
    let created = m.app.call(Method::POST, "/admin/coupons", Some(&m.admin), Some(coupon)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let address = m
        .app
        .call(
            Method::POST,
            "/me/addresses",
            Some(&m.customer),
            Some(json!({"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"})),
        )
        .await;
    let customizations = json!({
        option_id(&product, "Engraving"): "ASHA",
        option_id(&product, "Colour"): choice_id(&product, "Colour", "Gold"),
        option_id(&product, "Extras"): [choice_id(&product, "Extras", "Card")],
        option_id(&product, "Size (oz)"): 12,
    });
    let answer = quote(&m, json!({"items": [{"product_id": pid, "quantity": 2, "customizations": customizations}], "coupon": "diwali10", "address_id": address.body["id"]})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let q = &answer.body;
    // One unit: base 79 900; engraving 4 chars × 500 = 2 000; Gold + 5 000;
    // Card 2.5 % of base = 1 997.5 → 1 998 (half to even); size 12 × 100 = 1 200.
    // Customisation per unit 10 198; unit 90 098; × 2: line 180 196, customisation 20 396.
    let inr = |amount: i64| json!({"amount": amount, "currency": "INR"});
    assert_eq!(q["currency"], "INR");
    assert_eq!(q["lines"][0]["unit_price"], inr(90_098));
    assert_eq!(q["lines"][0]["customization_total"], inr(20_396));
    assert_eq!(q["lines"][0]["line_total"], inr(180_196));
    assert_eq!(q["subtotal"], inr(180_196));
    // 10 % of 180 196 = 18 019.6 → 18 020.
    assert_eq!(q["discount"], inr(18_020));
    // The seller ships free from 99 900.
    assert_eq!(q["shipping"], inr(0));
    // 18 % of (180 196 − 18 020 = 162 176) = 29 191.68 → 29 192.
    assert_eq!(q["tax"], inr(29_192));
    assert_eq!(q["total"], inr(180_196 - 18_020 + 29_192));
    assert!(q["quote_id"].as_str().is_some_and(|id| id.starts_with("quo_")));
    let token = q["quote_token"].as_str().unwrap();
    let sealed =
        m.app.local.services.quoting.signer.verify(token, cy_domain::Timestamp::now()).expect("the token verifies");
    assert_eq!(sealed.total.amount, 180_196 - 18_020 + 29_192);
    assert_eq!(sealed.lines[0].quantity, 2);
    let mut forged = token.to_owned();
    forged.replace_range(5..6, if &token[5..6] == "A" { "B" } else { "A" });
    assert!(m.app.local.services.quoting.signer.verify(&forged, cy_domain::Timestamp::now()).is_err());
    assert!(m.app.local.services.quoting.signer.verify(token, cy_domain::Timestamp::now().plus_secs(16 * 60)).is_err());

    // Below the free-shipping threshold the flat rate applies; prints are taxed at 12 %.
    let mut print = mug();
    print["category_id"] = json!("home-prints");
    print["base_price"]["amount"] = json!(30_001);
    print["options"] = json!([]);
    let print = create(&m, print).await;
    let small =
        quote(&m, json!({"items": [{"product_id": print["id"], "quantity": 1}], "address_id": address.body["id"]}))
            .await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.body);
    assert_eq!(small.body["shipping"], inr(4_900));
    // 12 % of 30 001 = 3 600.12 → 3 600.
    assert_eq!(small.body["tax"], inr(3_600));
    assert_eq!(small.body["total"], inr(30_001 + 4_900 + 3_600));
}

#[tokio::test]
async fn invalid_customisations_are_400s_naming_the_option() {
    let m = market().await;
    let product = create(&m, mug()).await;
    let pid = product["id"].as_str().unwrap();
    let (engraving, colour, extras, size, logo) = (
        option_id(&product, "Engraving"),
        option_id(&product, "Colour"),
        option_id(&product, "Extras"),
        option_id(&product, "Size (oz)"),
        option_id(&product, "Logo"),
    );
    let gold = choice_id(&product, "Colour", "Gold");
    let valid = json!({engraving.clone(): "ASHA", colour.clone(): gold.clone()});
    assert_eq!(
        quote(&m, json!({"items": [{"product_id": pid, "quantity": 1, "customizations": valid}]})).await.status,
        StatusCode::OK
    );
    let someone_elses = format!("uploads/{}/customization/01J0000000000000000000000.png", m.seller_id);
    let cases: Vec<(Value, &str)> = vec![
        (json!({colour.clone(): gold.clone()}), engraving.as_str()),
        (json!({engraving.clone(): "ABCDEFGHIJK", colour.clone(): gold.clone()}), engraving.as_str()),
        (json!({engraving.clone(): "ASHA!", colour.clone(): gold.clone()}), engraving.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): "chc_nope"}), colour.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), extras.clone(): ["nope"]}), extras.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), size.clone(): 22}), size.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), size.clone(): 13}), size.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), size.clone(): "12"}), size.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), logo.clone(): someone_elses}), logo.as_str()),
        (json!({engraving.clone(): "ASHA", colour.clone(): gold.clone(), "opt_unknown": "x"}), "opt_unknown"),
    ];
    for (customizations, option) in cases {
        let answer =
            quote(&m, json!({"items": [{"product_id": pid, "quantity": 1, "customizations": customizations.clone()}]}))
                .await;
        answer.assert_error(400, "validation_failed");
        let key = format!("items[0].customizations.{option}");
        assert!(
            answer.body["error"]["details"][&key].is_string(),
            "{customizations} should name {key}: {}",
            answer.body
        );
    }
    for (item, field) in [
        (
            json!({"product_id": pid, "quantity": 0, "customizations": valid_for(&engraving, &colour, &gold)}),
            "items[0].quantity",
        ),
        (
            json!({"product_id": pid, "quantity": 10_001, "customizations": valid_for(&engraving, &colour, &gold)}),
            "items[0].quantity",
        ),
        (json!({"product_id": "prd_nope", "quantity": 1}), "items[0].product_id"),
    ] {
        let answer = quote(&m, json!({"items": [item]})).await;
        answer.assert_error(400, "validation_failed");
        assert!(answer.body["error"]["details"][field].is_string(), "{}", answer.body);
    }
    quote(&m, json!({"items": []})).await.assert_error(400, "validation_failed");
    quote(&m, json!({"items": [{"product_id": pid, "quantity": 1, "customizations": valid_for(&engraving, &colour, &gold)}], "coupon": "NOPE"})).await.assert_error(400, "validation_failed");
}

fn valid_for(engraving: &str, colour: &str, gold: &str) -> Value {
    json!({engraving: "ASHA", colour: gold})
}

#[tokio::test]
async fn mixed_currencies_in_one_quote_are_refused() {
    let m = market().await;
    let rupees = create(&m, json!({"title": "Rupee mug", "category_id": "home-mugs", "base_price": {"amount": 100, "currency": "INR"}, "stock": 1})).await;
    let dollars = create(&m, json!({"title": "Dollar mug", "category_id": "home-mugs", "base_price": {"amount": 100, "currency": "USD"}, "stock": 1})).await;
    let answer = quote(
        &m,
        json!({"items": [{"product_id": rupees["id"], "quantity": 1}, {"product_id": dollars["id"], "quantity": 1}]}),
    )
    .await;
    answer.assert_error(400, "validation_failed");
}

#[tokio::test]
async fn uploads_are_checked_stored_and_usable_only_by_their_owner() {
    let m = market().await;
    let ticket = m
        .app
        .call(
            Method::POST,
            "/uploads",
            Some(&m.customer),
            Some(json!({"purpose": "customization", "content_type": "image/png", "size": 4})),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let key = ticket.body["object_key"].as_str().unwrap().to_owned();
    let url = ticket.body["upload_url"].as_str().unwrap();
    let path = url.split_once("/local-files/").map(|(_, rest)| format!("/local-files/{rest}")).unwrap();
    let put = |body: &'static [u8], content_type: &'static str| {
        http::Request::builder()
            .method(Method::PUT)
            .uri(path.clone())
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    m.app.send(put(b"12345", "image/png")).await.assert_error(400, "validation_failed");
    m.app.send(put(b"1234", "image/jpeg")).await.assert_error(400, "validation_failed");
    let tampered = http::Request::builder()
        .method(Method::PUT)
        .uri(path.replace("size=4", "size=5"))
        .header("content-type", "image/png")
        .body(axum::body::Body::from(&b"12345"[..]))
        .unwrap();
    m.app.send(tampered).await.assert_error(403, "forbidden");
    let stored = m.app.send(put(b"\x89PNG", "image/png")).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let object = cy_domain::product::ObjectKey::parse(&key).unwrap();
    assert_eq!(m.app.local.services.files.read(&object).await.as_deref(), Some(&b"\x89PNG"[..]));

    for (body, field) in [
        (json!({"purpose": "customization", "content_type": "image/gif", "size": 4}), "content_type"),
        (json!({"purpose": "customization", "content_type": "image/png", "size": 100 * 1024 * 1024}), "size"),
        (json!({"purpose": "selfie", "content_type": "image/png", "size": 4}), "purpose"),
    ] {
        let refused = m.app.call(Method::POST, "/uploads", Some(&m.customer), Some(body)).await;
        refused.assert_error(400, "validation_failed");
        assert!(refused.body["error"]["details"][field].is_string(), "{}", refused.body);
    }

    let product = create(&m, mug()).await;
    let (engraving, colour, logo) =
        (option_id(&product, "Engraving"), option_id(&product, "Colour"), option_id(&product, "Logo"));
    let gold = choice_id(&product, "Colour", "Gold");
    let with_logo = json!({"items": [{"product_id": product["id"], "quantity": 1, "customizations": {engraving: "ASHA", colour: gold, logo.clone(): key}}]});
    let mine = quote(&m, with_logo.clone()).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    // The logo adds 10 % of the base price: 7 990.
    assert_eq!(mine.body["lines"][0]["customization_total"]["amount"], 2000 + 5000 + 7990);
    let thief = token(&m.app.register("thief@example.in", "customer").await, "access_token");
    let stolen = m.app.call(Method::POST, "/quotes", Some(&thief), Some(with_logo)).await;
    stolen.assert_error(400, "validation_failed");

    let image = m
        .app
        .call(
            Method::POST,
            &format!("/seller/products/{}/images", product["id"].as_str().unwrap()),
            Some(&m.seller),
            Some(json!({"content_type": "image/webp", "size": 1000})),
        )
        .await;
    assert_eq!(image.status, StatusCode::CREATED, "{}", image.body);
    let image_key = image.body["object_key"].as_str().unwrap();
    let path = format!("/seller/products/{}", product["id"].as_str().unwrap());
    let with_image =
        m.app.call(Method::PATCH, &path, Some(&m.seller), Some(json!({"images": [image_key], "version": 1}))).await;
    assert_eq!(with_image.body["images"], json!([image_key]));
    let foreign = m
        .app
        .call(
            Method::PATCH,
            &path,
            Some(&m.seller),
            Some(json!({"images": ["products/prd_other/x.png"], "version": 2})),
        )
        .await;
    foreign.assert_error(400, "validation_failed");
}

#[tokio::test]
async fn concurrent_stock_changes_never_go_negative() {
    let m = market().await;
    let mut body = mug();
    body["stock"] = json!(10);
    body["options"] = json!([]);
    let product = create(&m, body).await;
    let id = cy_domain::ProductId::parse(product["id"].as_str().unwrap()).unwrap();
    let store = m.app.store();
    let takes = (0..30).map(|_| {
        let (store, id) = (store.clone(), id.clone());
        async move { cy_data::catalog::adjust_stock(store.as_ref(), &id, -1).await }
    });
    let results = futures::future::join_all(takes).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code, cy_domain::ErrorCode::OutOfStock);
    }
    let page = m.app.call(Method::GET, &format!("/products/{id}"), None, None).await;
    assert_eq!(page.body["stock"], 0);
}

#[tokio::test]
async fn with_moderation_on_submissions_wait_for_review_and_are_not_listed() {
    let m = market().await;
    let settings = json!({"product_moderation": true, "kyc_required": false});
    m.app
        .call(Method::PUT, "/admin/settings/platform", Some(&m.seller), Some(settings.clone()))
        .await
        .assert_error(403, "forbidden");
    let set = m.app.call(Method::PUT, "/admin/settings/platform", Some(&m.admin), Some(settings.clone())).await;
    assert_eq!(set.body, settings);
    let product = create(&m, mug()).await;
    assert_eq!(product["status"], "pending_review");
    assert!(m.app.call(Method::GET, "/products", None, None).await.body["items"].as_array().unwrap().is_empty());
    let id = product["id"].as_str().unwrap();
    m.app.call(Method::GET, &format!("/products/{id}"), None, None).await.assert_error(404, "not_found");
    let draft = create(&m, json!({"title": "Draft", "category_id": "home-mugs", "base_price": {"amount": 1, "currency": "INR"}, "stock": 0, "status": "draft"})).await;
    assert_eq!(draft["status"], "draft");
    // With KYC required, sellers may no longer list.
    let kyc = json!({"product_moderation": false, "kyc_required": true});
    assert_eq!(
        m.app.call(Method::PUT, "/admin/settings/platform", Some(&m.admin), Some(kyc)).await.status,
        StatusCode::OK
    );
    m.app.call(Method::POST, "/seller/products", Some(&m.seller), Some(mug())).await.assert_error(403, "forbidden");
}

/// With moderation on, an admin works the review queue: a rejected product goes back to its
/// seller with the reason, an edit resubmits it, an approval lists it at once. Repeats answer
/// the decision already made (also two admins at once); anything not waiting for review is 409;
/// each decision is audited.
#[tokio::test]
async fn admins_approve_or_reject_products_waiting_for_review() {
    let m = market().await;
    let settings = json!({"product_moderation": true, "kyc_required": false});
    m.app.call(Method::PUT, "/admin/settings/platform", Some(&m.admin), Some(settings)).await;
    let product = create(&m, mug()).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let app = &m.app;
    let admin = Some(m.admin.as_str());
    let queue =
        async |status: &str| app.call(Method::GET, &format!("/admin/products?status={status}"), admin, None).await;
    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&queue("pending_review").await), vec![id.clone()]);
    m.app.call(Method::GET, "/admin/products", Some(&m.seller), None).await.assert_error(403, "forbidden");
    queue("active").await.assert_error(400, "validation_failed");

    let reject_path = format!("/admin/products/{id}/reject");
    let reject = async |body: Value| app.call(Method::POST, &reject_path, admin, Some(body)).await;
    let reviewed = product["version"].clone();
    reject(json!({"reason": "", "version": reviewed})).await.assert_error(400, "validation_failed");
    reject(json!({"reason": "Blurry photo."})).await.assert_error(400, "validation_failed");
    let rejected = reject(json!({"reason": "Show the engraving area in a photo.", "version": reviewed})).await;
    assert_eq!((rejected.status, &rejected.body["status"]), (StatusCode::OK, &json!("rejected")), "{}", rejected.body);
    assert_eq!(rejected.body["rejection_reason"], "Show the engraving area in a photo.");
    assert!(ids(&queue("pending_review").await).is_empty());
    assert_eq!(ids(&queue("rejected").await), vec![id.clone()]);
    let again = reject(json!({"reason": "Another reason", "version": reviewed})).await;
    assert_eq!((again.status, &again.body["version"]), (StatusCode::OK, &rejected.body["version"]), "a repeat");
    let approve_path = format!("/admin/products/{id}/approve");
    let approve = async |version: &Value| {
        let mut request = cy_tests::json_request(Method::POST, &approve_path, admin, None);
        request.headers_mut().insert("if-match", version.to_string().parse().unwrap());
        app.send(request).await
    };
    approve(&rejected.body["version"]).await.assert_error(409, "invalid_transition");
    app.call(Method::POST, &approve_path, admin, None).await.assert_error(400, "validation_failed");

    // The seller sees why, edits, and it is back for review.
    let mine = m.app.call(Method::GET, &format!("/products/{id}"), Some(&m.seller), None).await;
    assert_eq!(mine.body["rejection_reason"], "Show the engraving area in a photo.");
    let edit = json!({"version": mine.body["version"], "description": "350 ml; engraving on the front."});
    let edited = m.app.call(Method::PATCH, &format!("/seller/products/{id}"), Some(&m.seller), Some(edit)).await;
    assert_eq!(edited.body["status"], "pending_review", "{}", edited.body);
    assert_eq!(ids(&queue("pending_review").await), vec![id.clone()]);
    assert!(ids(&queue("rejected").await).is_empty());
    // A decision on what the admin saw before the edit is refused: they review it again.
    approve(&rejected.body["version"]).await.assert_error(409, "version_conflict");

    // Two admins approve at once: one decision, both answered with it.
    let (a, b) = tokio::join!(approve(&edited.body["version"]), approve(&edited.body["version"]));
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK), "{} {}", a.body, b.body);
    assert_eq!((&a.body["status"], &a.body["version"]), (&json!("active"), &b.body["version"]));
    assert!(a.body.get("rejection_reason").is_none(), "cleared on approval: {}", a.body);
    let listed = m.app.call(Method::GET, "/products", None, None).await;
    assert_eq!(ids(&listed), vec![id.clone()], "listed at once");
    assert!(ids(&queue("pending_review").await).is_empty());
    let draft = create(&m, json!({"title": "Draft", "category_id": "home-mugs", "base_price": {"amount": 1, "currency": "INR"}, "stock": 0, "status": "draft"})).await;
    let path = format!("/admin/products/{}/approve", draft["id"].as_str().unwrap());
    let mut request = cy_tests::json_request(Method::POST, &path, admin, None);
    request.headers_mut().insert("if-match", draft["version"].to_string().parse().unwrap());
    app.send(request).await.assert_error(409, "invalid_transition");
    let mut request = cy_tests::json_request(Method::POST, "/admin/products/prd_nope/approve", admin, None);
    request.headers_mut().insert("if-match", "1".parse().unwrap());
    app.send(request).await.assert_error(404, "not_found");

    let me = m.app.call(Method::GET, "/me", Some(&m.admin), None).await;
    let admin = UserId::parse(me.body["id"].as_str().unwrap()).unwrap();
    let audit = m.app.store().query(&Query::index(Index::Gsi1, keys::audit_by_actor_pk(&admin))).await.unwrap();
    let decisions: Vec<_> = audit
        .items
        .iter()
        .filter_map(|i| i.get("action").and_then(Value::as_str))
        .filter(|a| a.starts_with("catalog.product_"))
        .collect();
    assert_eq!(decisions.len(), 2, "one rejection, one approval: {decisions:?}");
}
