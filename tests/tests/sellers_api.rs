//! Function `sellers` through its routes on the local runtime: the shop and its sealed payout
//! account, KYC submitted, reviewed by an admin (and only an admin), resubmitted after a
//! rejection, and what it gates; the commission rates.

use cy_domain::UserId;
use cy_tests::{TestApp, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn seller(app: &TestApp, email: &str) -> (String, UserId) {
    let body = app.register(email, "seller").await;
    let access = token(&body, "access_token");
    let me = app.call(Method::GET, "/me", Some(&access), None).await;
    (access, UserId::parse(me.body["id"].as_str().unwrap()).unwrap())
}

/// The stored item as DynamoDB would hold it, as text.
async fn raw_item(app: &TestApp, seller: &UserId) -> String {
    let item = app.store().get(&cy_data::keys::seller_profile(seller)).await.unwrap().expect("stored");
    serde_json::to_string(item.as_map()).unwrap()
}

async fn kyc_document(app: &TestApp, token: &str) -> String {
    let body = json!({"purpose": "kyc_document", "content_type": "application/pdf", "size": 2048});
    let ticket = app.call(Method::POST, "/uploads", Some(token), Some(body)).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    ticket.body["object_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_payout_account_is_sealed_in_the_store_and_answered_masked() {
    let app = TestApp::new().await;
    let (shop, id) = seller(&app, "shop@sellers.example.in").await;
    let empty = app.call(Method::GET, "/seller/profile", Some(&shop), None).await;
    assert_eq!(
        (empty.status, &empty.body["kyc"]["status"], &empty.body["version"]),
        (StatusCode::OK, &json!("not_submitted"), &json!(0))
    );

    let body = json!({"shop_name": "Asha Engraves", "description": "Mugs, engraved by hand",
        "payout_account": {"holder_name": "Asha Rao", "account_number": "5010 0234 5678 9012", "ifsc": "hdfc0001234"}});
    let put = app.call(Method::PUT, "/seller/profile", Some(&shop), Some(body)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        put.body["payout_account"],
        json!({"holder_name": "Asha Rao", "account_number_masked": "••••9012", "ifsc": "HDFC0001234"})
    );
    let raw = raw_item(&app, &id).await;
    assert!(!raw.contains("5010023456789012") && !raw.contains("50100234"), "the number is sealed: {raw}");
    assert!(raw.contains("account_number_sealed"));
    let read = app.call(Method::GET, "/seller/profile", Some(&shop), None).await;
    assert_eq!(read.body["payout_account"]["account_number_masked"], "••••9012");
    assert!(!read.body.to_string().contains("5010023456789012"));

    // Omitting the account keeps it; a stale version is 409.
    let rename = json!({"shop_name": "Asha's Engraving", "version": 1});
    let renamed = app.call(Method::PUT, "/seller/profile", Some(&shop), Some(rename.clone())).await;
    assert_eq!(
        (renamed.status, &renamed.body["payout_account"]["account_number_masked"]),
        (StatusCode::OK, &json!("••••9012"))
    );
    app.call(Method::PUT, "/seller/profile", Some(&shop), Some(rename)).await.assert_error(409, "version_conflict");

    for (bad, field) in [
        (json!({"shop_name": ""}), "shop_name"),
        (
            json!({"shop_name": "A", "payout_account": {"holder_name": "A", "account_number": "12ab", "ifsc": "HDFC0001234"}}),
            "payout_account.account_number",
        ),
        (
            json!({"shop_name": "A", "payout_account": {"holder_name": "A", "account_number": "123456789", "ifsc": "HDFC1234"}}),
            "payout_account.ifsc",
        ),
        (json!({"shop_name": "A", "logo": "http://x.example/logo.png"}), "logo"),
    ] {
        let refused = app.call(Method::PUT, "/seller/profile", Some(&shop), Some(bad)).await;
        refused.assert_error(400, "validation_failed");
        assert!(refused.body["error"]["details"].get(field).is_some(), "{field}: {}", refused.body);
    }
    let unknown = json!({"shop_name": "A", "bank": "x"});
    app.call(Method::PUT, "/seller/profile", Some(&shop), Some(unknown)).await.assert_error(400, "validation_failed");
    let customer = token(&app.register("buyer@sellers.example.in", "customer").await, "access_token");
    app.call(Method::GET, "/seller/profile", Some(&customer), None).await.assert_error(403, "forbidden");
}

#[tokio::test]
async fn kyc_is_reviewed_by_admins_only_resubmitted_after_a_rejection_and_gates_listing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (shop, id) = seller(&app, "kyc@sellers.example.in").await;
    let (other, _) = seller(&app, "other@sellers.example.in").await;
    let platform = json!({"product_moderation": false, "kyc_required": true});
    assert_eq!(
        app.call(Method::PUT, "/admin/settings/platform", Some(&admin), Some(platform)).await.status,
        StatusCode::OK
    );
    let category = json!({"id": "home-mugs", "name": "Mugs"});
    assert_eq!(
        app.call(Method::POST, "/admin/categories", Some(&admin), Some(category)).await.status,
        StatusCode::CREATED
    );
    let product = json!({"title": "Mug", "category_id": "home-mugs", "base_price": {"amount": 10000, "currency": "INR"}, "stock": 3});
    app.call(Method::POST, "/seller/products", Some(&shop), Some(product.clone())).await.assert_error(403, "forbidden");

    // Documents must be the seller's own KYC uploads.
    let theirs = kyc_document(&app, &other).await;
    let mine = kyc_document(&app, &shop).await;
    let wrong = json!({"documents": [theirs], "id_type": "pan", "id_number": "ABCDE1234F"});
    let refused = app.call(Method::POST, "/seller/kyc", Some(&shop), Some(wrong)).await;
    refused.assert_error(400, "validation_failed");
    assert!(refused.body["error"]["details"].get("documents[0]").is_some(), "{}", refused.body);
    let bad_id = json!({"documents": [mine], "id_type": "pan", "id_number": "12345"});
    app.call(Method::POST, "/seller/kyc", Some(&shop), Some(bad_id)).await.assert_error(400, "validation_failed");
    let submission = json!({"documents": [mine], "id_type": "pan", "id_number": "abcde1234f"});
    let submitted = app.call(Method::POST, "/seller/kyc", Some(&shop), Some(submission.clone())).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(
        (submitted.body["status"].as_str(), submitted.body["id_number_masked"].as_str()),
        (Some("pending"), Some("••••234F"))
    );
    let raw = raw_item(&app, &id).await;
    assert!(!raw.contains("ABCDE1234F") && !raw.contains("abcde1234f"), "{raw}");
    app.call(Method::POST, "/seller/kyc", Some(&shop), Some(submission.clone()))
        .await
        .assert_error(409, "invalid_transition");

    // The queue, and who may decide.
    let queue = app.call(Method::GET, "/admin/sellers?kyc_status=pending", Some(&admin), None).await;
    let ids: Vec<&str> =
        queue.body["items"].as_array().unwrap().iter().filter_map(|s| s["seller_id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()]);
    app.call(Method::GET, "/admin/sellers?kyc_status=maybe", Some(&admin), None)
        .await
        .assert_error(400, "validation_failed");
    for not_admin in [&shop, &other] {
        let path = format!("/admin/sellers/{id}/approve");
        app.call(Method::POST, &path, Some(not_admin), None).await.assert_error(403, "forbidden");
    }
    let reject = |reason: &str| json!({"reason": reason});
    let path = format!("/admin/sellers/{id}/reject");
    app.call(Method::POST, &path, Some(&admin), Some(reject(""))).await.assert_error(400, "validation_failed");
    let rejected = app.call(Method::POST, &path, Some(&admin), Some(reject("The PAN card is blurry"))).await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    let kyc = app.call(Method::GET, "/seller/kyc", Some(&shop), None).await;
    assert_eq!(
        (kyc.body["status"].as_str(), kyc.body["reason"].as_str()),
        (Some("rejected"), Some("The PAN card is blurry"))
    );
    app.call(Method::POST, &format!("/admin/sellers/{id}/approve"), Some(&admin), None)
        .await
        .assert_error(409, "invalid_transition");

    // Resubmitted, approved: the seller may list now, and was told of each decision.
    let again = app.call(Method::POST, "/seller/kyc", Some(&shop), Some(submission)).await;
    assert_eq!(again.body["status"], "pending");
    let approved = app.call(Method::POST, &format!("/admin/sellers/{id}/approve"), Some(&admin), None).await;
    assert_eq!((approved.status, &approved.body["kyc"]["status"]), (StatusCode::OK, &json!("approved")));
    let listed = app.call(Method::POST, "/seller/products", Some(&shop), Some(product)).await;
    assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
    let missing = format!("/admin/sellers/{}/approve", UserId::generate());
    app.call(Method::POST, &missing, Some(&admin), None).await.assert_error(404, "not_found");

    let events = kyc_events(&app, &id).await;
    assert_eq!(events.iter().map(|e| e.data["status"].as_str().unwrap()).collect::<Vec<_>>(), ["rejected", "approved"]);
    for event in &events {
        app.local.services.notifier.on_event(event).await.unwrap();
    }
    let told = app.call(Method::GET, "/me/notifications", Some(&shop), None).await;
    let titles: Vec<&str> = told.body["items"].as_array().unwrap().iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["You are verified", "Your verification needs another look"]);
    assert!(told.body["items"][1]["body"].as_str().unwrap().contains("The PAN card is blurry"));

    // Every decision is audited.
    let q = cy_data::Query::index(
        cy_data::keys::AUDIT_BY_ACTOR,
        cy_data::keys::audit_by_actor_pk(&admin_id(&app, &admin).await),
    );
    let audit = app.store().query(&q.limit(100)).await.unwrap();
    let actions: Vec<String> =
        audit.items.iter().filter_map(|i| i.get("action").and_then(Value::as_str).map(str::to_owned)).collect();
    assert!(
        actions.contains(&"seller.kyc_rejected".to_owned()) && actions.contains(&"seller.kyc_approved".to_owned()),
        "{actions:?}"
    );
}

async fn admin_id(app: &TestApp, admin: &str) -> UserId {
    UserId::parse(app.call(Method::GET, "/me", Some(admin), None).await.body["id"].as_str().unwrap()).unwrap()
}

async fn kyc_events(app: &TestApp, seller: &UserId) -> Vec<cy_data::orders::OutboxEvent> {
    let q = cy_data::Query::table(cy_data::keys::OUTBOX_PARTITION).limit(1000);
    let page = app.store().query(&q).await.unwrap();
    page.items
        .iter()
        .map(|i| i.record::<cy_data::orders::OutboxEvent>().unwrap())
        .filter(|e| e.kind == "seller.kyc_decided" && e.sellers.contains(seller))
        .collect()
}

#[tokio::test]
async fn commission_rates_are_set_by_admins_in_basis_points() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (shop, id) = seller(&app, "rates@sellers.example.in").await;
    let none = app.call(Method::GET, "/admin/settings/commission", Some(&admin), None).await;
    assert_eq!(none.body, json!({"platform_bps": 0, "categories": {}, "sellers": {}}));
    let rates = json!({"platform_bps": 1000, "categories": {"home-mugs": 1500}, "sellers": {id.as_str(): 500}});
    let set = app.call(Method::PUT, "/admin/settings/commission", Some(&admin), Some(rates.clone())).await;
    assert_eq!((set.status, &set.body), (StatusCode::OK, &rates));
    assert_eq!(app.call(Method::GET, "/admin/settings/commission", Some(&admin), None).await.body, rates);
    for bad in [
        json!({"platform_bps": 10001}),
        json!({"platform_bps": -1}),
        json!({"platform_bps": 100, "tiers": {}}),
        json!({"platform_bps": 100, "sellers": {"nobody": 5}}),
    ] {
        app.call(Method::PUT, "/admin/settings/commission", Some(&admin), Some(bad))
            .await
            .assert_error(400, "validation_failed");
    }
    app.call(Method::PUT, "/admin/settings/commission", Some(&shop), Some(rates)).await.assert_error(403, "forbidden");
}
