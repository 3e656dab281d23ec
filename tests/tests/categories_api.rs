//! Admins keep the category tree: create, rename, move — audited, versioned, a tree whatever
//! two admins do at once — and sellers list products in what they made. Through the local
//! runtime's routers on the embedded store.

use cy_data::{Query, keys};
use cy_tests::{TestApp, json_request, send, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(app: &TestApp, admin: &str, body: Value) -> cy_tests::Answer {
    app.call(Method::POST, "/admin/categories", Some(admin), Some(body)).await
}

#[tokio::test]
async fn admins_create_rename_and_move_categories_and_the_tree_stays_a_tree() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let home = create(&app, &admin, json!({"id": "home", "name": "Home"})).await;
    assert_eq!(home.status, StatusCode::CREATED, "{}", home.body);
    assert_eq!(home.body, json!({"id": "home", "name": "Home", "parent": null, "version": 1}));
    let mugs = create(&app, &admin, json!({"id": "mugs", "name": "Mugs", "parent": "home"})).await;
    assert_eq!(mugs.status, StatusCode::CREATED, "{}", mugs.body);
    create(&app, &admin, json!({"id": "mugs", "name": "Again"})).await.assert_error(409, "already_exists");
    for bad in [
        json!({"id": "Not A Slug", "name": "X"}),
        json!({"id": "x", "name": ""}),
        json!({"id": "x", "name": "X", "parent": "nowhere"}),
        json!({"id": "x", "name": "X", "colour": "red"}),
    ] {
        create(&app, &admin, bad).await.assert_error(400, "validation_failed");
    }
    let seller = token(&app.register("maker@sellers.example.in", "seller").await, "access_token");
    create(&app, &seller, json!({"id": "x", "name": "X"})).await.assert_error(403, "forbidden");
    let tree = app.call(Method::GET, "/categories", None, None).await.body;
    assert_eq!(tree["items"][0]["id"], "home");
    assert_eq!(tree["items"][0]["children"][0]["id"], "mugs", "{tree}");

    // Renamed with the version read; a stale version is a conflict.
    let path = "/admin/categories/mugs";
    let renamed = app.call(Method::PATCH, path, Some(&admin), Some(json!({"name": "Mugs & cups", "version": 1}))).await;
    assert_eq!((renamed.status, renamed.body["version"].as_u64()), (StatusCode::OK, Some(2)), "{}", renamed.body);
    app.call(Method::PATCH, path, Some(&admin), Some(json!({"name": "Stale", "version": 1})))
        .await
        .assert_error(409, "version_conflict");
    app.call(Method::PATCH, path, Some(&admin), Some(json!({"name": "No version"})))
        .await
        .assert_error(400, "validation_failed");
    // Never under itself or its own descendant; to the top with null.
    app.call(Method::PATCH, "/admin/categories/home", Some(&admin), Some(json!({"parent": "mugs", "version": 1})))
        .await
        .assert_error(400, "validation_failed");
    let top = app.call(Method::PATCH, path, Some(&admin), Some(json!({"parent": null, "version": 2}))).await;
    assert_eq!((top.status, &top.body["parent"]), (StatusCode::OK, &Value::Null), "{}", top.body);
    app.call(Method::PATCH, "/admin/categories/nope", Some(&admin), Some(json!({"name": "X", "version": 1})))
        .await
        .assert_error(404, "not_found");

    // Each change is audited.
    let admin_id = cy_data::accounts::find_user_by_email(
        app.store().as_ref(),
        &cy_domain::Email::parse(cy_tests::ADMIN_EMAIL).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id;
    let q = Query::index(keys::AUDIT_BY_ACTOR, keys::audit_by_actor_pk(&admin_id)).limit(100);
    let audited: Vec<String> = app
        .store()
        .query(&q)
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|i| i.get("action").and_then(|a| a.as_str()).map(str::to_owned))
        .filter(|a| a.starts_with("catalog.category"))
        .collect();
    assert_eq!(
        audited,
        [
            "catalog.category_created",
            "catalog.category_created",
            "catalog.category_changed",
            "catalog.category_changed"
        ]
    );

    // A seller lists a product in a category an admin just made.
    let body = json!({"title": "Travel mug", "category_id": "mugs", "base_price": {"amount": 45000, "currency": "INR"}, "stock": 3});
    let listed = app.call(Method::POST, "/seller/products", Some(&seller), Some(body)).await;
    assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
}

#[tokio::test]
async fn two_admins_moving_two_categories_under_each_other_at_once_never_make_a_cycle() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for id in ["a", "b"] {
        assert_eq!(create(&app, &admin, json!({"id": id, "name": id})).await.status, StatusCode::CREATED);
    }
    let router = app.router();
    for _ in 0..10 {
        let current = app.call(Method::GET, "/admin/categories", Some(&admin), None).await.body;
        let version =
            |id: &str| current["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["version"].clone();
        let (va, vb) = (version("a"), version("b"));
        let move_under = |id: &str, parent: &str, version: Value| {
            let body = json!({"parent": parent, "version": version});
            send(
                router.clone(),
                json_request(Method::PATCH, &format!("/admin/categories/{id}"), Some(&admin), Some(body)),
            )
        };
        let (first, second) = tokio::join!(move_under("a", "b", va), move_under("b", "a", vb));
        let ok = [&first, &second].iter().filter(|a| a.status == StatusCode::OK).count();
        assert!(ok <= 1, "both moves won: {} / {}", first.body, second.body);
        let tree = app.call(Method::GET, "/admin/categories", Some(&admin), None).await.body;
        let parent =
            |id: &str| tree["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["parent"].clone();
        assert!(!(parent("a") == "b" && parent("b") == "a"), "a cycle: {tree}");
        // Back to the top for the next round.
        for id in ["a", "b"] {
            let current = app.call(Method::GET, "/admin/categories", Some(&admin), None).await.body;
            let v = current["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["version"].clone();
            let reset = app
                .call(
                    Method::PATCH,
                    &format!("/admin/categories/{id}"),
                    Some(&admin),
                    Some(json!({"parent": null, "version": v})),
                )
                .await;
            assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        }
    }
}

#[tokio::test]
async fn a_category_created_twice_with_one_idempotency_key_answers_the_first_answer() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let post = || {
        let mut request = json_request(
            Method::POST,
            "/admin/categories",
            Some(&admin),
            Some(json!({"id": "gifts", "name": "Gifts"})),
        );
        request.headers_mut().insert("idempotency-key", "cat-1".parse().unwrap());
        app.send(request)
    };
    let first = post().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post().await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
}
