//! The accounts API end to end, through the local runtime's router (the same routers the
//! `auth` and `users` Lambdas run), on the embedded store.

use cy_data::{Index, Query, keys};
use cy_domain::{Role, SessionId, Timestamp, UserId};
use cy_http::JwtKeys;
use cy_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TEST_JWT_SECRET, TestApp, json_request, token};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn register_answers_the_contract_and_stores_a_bcrypt_hash_and_an_audit_record() {
    let app = TestApp::new().await;
    let body = app.register("Asha.Rao@Example.in", "seller").await;
    assert_eq!(body["user"]["email"], "Asha.Rao@Example.in");
    assert_eq!(body["user"]["role"], "seller");
    assert_eq!(body["user"]["name"], "Test Person");
    assert_eq!(body["expires_in"], 900);
    let id = body["user"]["id"].as_str().unwrap();
    assert!(id.starts_with("usr_"));
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() == 43));

    let me = app.call(Method::GET, "/me", Some(&token(&body, "access_token")), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["email_verified"], false);
    assert!(me.body.get("password_hash").is_none());

    let user_id = UserId::parse(id).unwrap();
    let stored = app.store().get(&keys::user(&user_id)).await.unwrap().expect("user stored");
    assert!(stored.get("password_hash").and_then(Value::as_str).is_some_and(|h| h.starts_with("$2b$12$")));
    let audit = app.store().query(&Query::index(Index::Gsi1, keys::audit_by_actor_pk(&user_id))).await.unwrap();
    let actions: Vec<_> = audit.items.iter().filter_map(|i| i.get("action").cloned()).collect();
    assert_eq!(actions, vec![json!("account.registered")]);
    // The refresh token is stored only as its hash.
    let sessions =
        app.store().query(&Query::table(keys::user_partition(&user_id)).begins_with("SESSION#")).await.unwrap();
    assert_eq!(sessions.items.len(), 1);
}

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    let app = TestApp::new().await;
    app.register("Asha@Example.in", "customer").await;
    let again = app
        .call(
            Method::POST,
            "/auth/register",
            None,
            Some(
                json!({"email": "asha@example.IN", "password": "another-password", "name": "Other", "role": "seller"}),
            ),
        )
        .await;
    again.assert_error(409, "already_exists");
    let login = app.login("ASHA@example.in", "a-long-password").await;
    assert_eq!(login.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = TestApp::new().await;
    let router = app.router();
    let attempts = (0..10).map(|i| {
        let router = router.clone();
        async move {
            let body = json!({"email": "race@example.in", "password": format!("password-{i:02}"), "name": "Racer", "role": "customer"});
            cy_tests::send(router, json_request(Method::POST, "/auth/register", None, Some(body))).await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    assert_eq!(created, 1);
    for a in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        a.assert_error(409, "already_exists");
    }
    let users = app.store().query(&Query::index(Index::Gsi1, keys::users_by_role_pk(Role::Customer))).await.unwrap();
    assert_eq!(users.items.len(), 1);
}

#[tokio::test]
async fn login_answers_the_same_for_an_unknown_email_and_a_wrong_password() {
    let app = TestApp::new().await;
    app.register("known@example.in", "customer").await;
    let wrong_password = app.login("known@example.in", "not-the-password").await;
    let unknown_email = app.login("nobody@example.in", "not-the-password").await;
    wrong_password.assert_error(401, "unauthenticated");
    assert_eq!(wrong_password.body, unknown_email.body);
    assert_eq!(wrong_password.status, unknown_email.status);

    let ok = app.login("known@example.in", "a-long-password").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["expires_in"], 900);
    assert!(ok.body["access_token"].is_string() && ok.body["refresh_token"].is_string());
    let admin = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.status, StatusCode::OK);
}

/// A sign-up sent again with its Idempotency-Key (a retry after a timeout), or five times at
/// once, makes one account and answers exactly the first answer, tokens included; the key with
/// another body is 409. What is kept for the retries holds no token or password in the clear.
#[tokio::test]
async fn a_sign_up_sent_again_with_its_idempotency_key_answers_the_first_answer() {
    let app = TestApp::new().await;
    let body =
        json!({"email": "retry.signup@example.in", "password": "a-long-password", "name": "Asha", "role": "customer"});
    let sign_up = |key: &'static str, body: Value| {
        let mut request = json_request(Method::POST, "/auth/register", None, Some(body));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
        app.send(request)
    };
    let first = sign_up("signup-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = sign_up("signup-1", body.clone()).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "the very first answer");
    let mut other = body.clone();
    other["name"] = json!("Someone Else");
    sign_up("signup-1", other).await.assert_error(409, "idempotency_key_reused");
    // Without the key, the same sign-up is the plain conflict.
    let plain = app.call(Method::POST, "/auth/register", None, Some(body)).await;
    plain.assert_error(409, "already_exists");
    // The tokens of the first answer work.
    let me = app.call(Method::GET, "/me", Some(first.body["access_token"].as_str().unwrap()), None).await;
    assert_eq!(me.body["email"], "retry.signup@example.in");

    let racing =
        json!({"email": "race.signup@example.in", "password": "a-long-password", "name": "Ravi", "role": "seller"});
    let answers = futures::future::join_all((0..5).map(|_| sign_up("signup-2", racing.clone()))).await;
    for answer in &answers {
        assert_eq!((answer.status, &answer.body), (StatusCode::CREATED, &answers[0].body), "{}", answer.body);
    }
    let logins = app.login("race.signup@example.in", "a-long-password").await;
    assert_eq!(logins.status, StatusCode::OK, "one account, signed in with its password");
    // What is kept for the retries: sealed, no token and no password in the clear.
    let data_key = app.local.services.accounts.data_key.clone().unwrap();
    let claim_key = keys::registration_claim(&data_key.mac("register-key", b"signup-2"));
    let kept = format!("{:?}", app.store().get(&claim_key).await.unwrap().expect("the key's claim"));
    assert!(kept.contains("sealed_answer"), "{kept}");
    for secret in [
        answers[0].body["refresh_token"].as_str().unwrap(),
        answers[0].body["access_token"].as_str().unwrap(),
        "a-long-password",
    ] {
        assert!(!kept.contains(secret), "{secret} kept in the clear");
    }
}

/// Password guessing is bounded per email and client: ten attempts a window, then 429
/// `rate_limited` with `Retry-After` even for the right password, the same for an email with no
/// account; twenty guesses at once get exactly ten tries; a successful sign-in forgets the
/// failures; and the owner signs in from another address meanwhile (one guesser cannot lock
/// them out), while all addresses together get at most a hundred.
#[tokio::test]
async fn sign_in_attempts_per_email_are_limited_and_a_success_forgets_them() {
    // Counts live in 15-minute windows: start well inside one, so the test never straddles two.
    let into = Timestamp::now().unix().rem_euclid(cy_data::accounts::LOGIN_WINDOW_SECS);
    if into > cy_data::accounts::LOGIN_WINDOW_SECS - 60 {
        tokio::time::sleep(std::time::Duration::from_secs((cy_data::accounts::LOGIN_WINDOW_SECS - into + 1) as u64))
            .await;
    }
    let app = TestApp::new().await;
    app.register("guarded@example.in", "customer").await;
    for _ in 0..3 {
        app.login("guarded@example.in", "not-the-password").await.assert_error(401, "unauthenticated");
    }
    assert_eq!(app.login("guarded@example.in", "a-long-password").await.status, StatusCode::OK, "forgets the failures");
    for _ in 0..10 {
        app.login("guarded@example.in", "not-the-password").await.assert_error(401, "unauthenticated");
    }
    let limited = app.login("guarded@example.in", "a-long-password").await;
    limited.assert_error(429, "rate_limited");
    let retry_after: u32 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // The owner, from their own address, is not locked out by the guesser.
    let mut from_home = json_request(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": "guarded@example.in", "password": "a-long-password"})),
    );
    let home: std::net::SocketAddr = "203.0.113.7:50000".parse().unwrap();
    from_home.extensions_mut().insert(axum::extract::ConnectInfo(home));
    assert_eq!(app.send(from_home).await.status, StatusCode::OK, "another client");
    // Another email is not affected; an unknown one is limited the same way.
    assert_eq!(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status, StatusCode::OK);
    let guesses = (0..20).map(|_| app.login("nobody@example.in", "guess"));
    let answers = futures::future::join_all(guesses).await;
    let tried = answers.iter().filter(|a| a.status == StatusCode::UNAUTHORIZED).count();
    let limited = answers.iter().filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((tried, limited), (10, 10));

    // All clients together: a hundred attempts a window for one email.
    let email = cy_domain::Email::parse("spread@example.in").unwrap();
    let (now, store) = (Timestamp::now(), app.store());
    for n in 0..100 {
        let client = format!("198.51.100.{n}");
        let claimed = cy_data::accounts::claim_login_attempt(store.as_ref(), &email, &client, now).await;
        assert_eq!(claimed.unwrap(), Ok(()), "attempt {n}");
    }
    let past = cy_data::accounts::claim_login_attempt(store.as_ref(), &email, "192.0.2.1", now).await.unwrap();
    assert!(past.is_err(), "the hundred and first, from a new address");
}

async fn refresh(app: &TestApp, refresh_token: &str) -> cy_tests::Answer {
    app.call(Method::POST, "/auth/refresh", None, Some(json!({"refresh_token": refresh_token}))).await
}

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_revokes_its_whole_login_only() {
    let app = TestApp::new().await;
    app.register("rotate@example.in", "customer").await;
    let login_a = app.login("rotate@example.in", "a-long-password").await.body;
    let login_b = app.login("rotate@example.in", "a-long-password").await.body;

    let first = token(&login_a, "refresh_token");
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = token(&rotated.body, "refresh_token");
    assert_ne!(first, second);
    let me = app.call(Method::GET, "/me", Some(&token(&rotated.body, "access_token")), None).await;
    assert_eq!(me.status, StatusCode::OK);

    // Presenting the spent token again: refused, and the whole login is revoked.
    refresh(&app, &first).await.assert_error(401, "unauthenticated");
    refresh(&app, &second).await.assert_error(401, "unauthenticated");
    // The other login is untouched.
    assert_eq!(refresh(&app, &token(&login_b, "refresh_token")).await.status, StatusCode::OK);

    let user_id = UserId::parse(login_a_user(&app, &login_a).await.as_str()).unwrap();
    let sessions =
        app.store().query(&Query::table(keys::user_partition(&user_id)).begins_with("SESSION#")).await.unwrap();
    let reasons: Vec<_> = sessions.items.iter().map(|s| s.get("revoked_reason").cloned()).collect();
    assert!(reasons.contains(&Some(json!("refresh_token_reuse"))), "{reasons:?}");
    assert!(reasons.contains(&None), "{reasons:?}");
}

async fn login_a_user(app: &TestApp, login: &Value) -> String {
    let me = app.call(Method::GET, "/me", Some(&token(login, "access_token")), None).await;
    me.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn concurrent_exchanges_of_one_refresh_token_let_exactly_one_win_then_revoke_the_login() {
    let app = TestApp::new().await;
    let registered = app.register("twice@example.in", "customer").await;
    let presented = token(&registered, "refresh_token");
    let router = app.router();
    let attempts = (0..10).map(|_| {
        let (router, presented) = (router.clone(), presented.clone());
        async move {
            let body = json!({"refresh_token": presented});
            cy_tests::send(router, json_request(Method::POST, "/auth/refresh", None, Some(body))).await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let winners: Vec<_> = answers.iter().filter(|a| a.status == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for loser in answers.iter().filter(|a| a.status != StatusCode::OK) {
        loser.assert_error(401, "unauthenticated");
    }
    // Nine replays of a spent token: the login is revoked, so even the winner's new token fails.
    refresh(&app, &token(&winners[0].body, "refresh_token")).await.assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn logout_ends_that_login_and_is_idempotent() {
    let app = TestApp::new().await;
    app.register("bye@example.in", "customer").await;
    let a = app.login("bye@example.in", "a-long-password").await.body;
    let b = app.login("bye@example.in", "a-long-password").await.body;
    let body = json!({"refresh_token": token(&a, "refresh_token")});
    app.call(Method::POST, "/auth/logout", None, Some(body.clone())).await.assert_error(401, "unauthenticated");
    let out = app.call(Method::POST, "/auth/logout", Some(&token(&a, "access_token")), Some(body.clone())).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(out.body, Value::Null);
    refresh(&app, &token(&a, "refresh_token")).await.assert_error(401, "unauthenticated");
    let b_refreshed = refresh(&app, &token(&b, "refresh_token")).await;
    assert_eq!(b_refreshed.status, StatusCode::OK, "the other login goes on");
    let again = app.call(Method::POST, "/auth/logout", Some(&token(&a, "access_token")), Some(body)).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    // Someone else's refresh token cannot sign its owner out.
    let mallory = app.register("mallory@example.in", "customer").await;
    let b_now = json!({"refresh_token": token(&b_refreshed.body, "refresh_token")});
    let attempt =
        app.call(Method::POST, "/auth/logout", Some(&token(&mallory, "access_token")), Some(b_now.clone())).await;
    assert_eq!(attempt.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &token(&b_now, "refresh_token")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn profile_changes_use_versions_and_move_the_email_claim() {
    let app = TestApp::new().await;
    let asha = app.register("asha@example.in", "customer").await;
    let t = token(&asha, "access_token");
    let changed = app
        .call(Method::PATCH, "/me", Some(&t), Some(json!({"name": "Asha R", "phone": "+91 98765 43210", "version": 1})))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        (changed.body["name"].clone(), changed.body["phone"].clone()),
        (json!("Asha R"), json!("+919876543210"))
    );
    assert_eq!(changed.body["version"], 2);

    app.call(Method::PATCH, "/me", Some(&t), Some(json!({"name": "Stale", "version": 1})))
        .await
        .assert_error(409, "version_conflict");
    let stale_header = Request::builder()
        .method(Method::PATCH)
        .uri("/me")
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", "application/json")
        .header("if-match", "\"1\"")
        .body(axum::body::Body::from(r#"{"name": "Stale"}"#))
        .unwrap();
    app.send(stale_header).await.assert_error(409, "version_conflict");
    app.call(Method::PATCH, "/me", Some(&t), Some(json!({"role": "admin"})))
        .await
        .assert_error(400, "validation_failed");

    let cleared = app.call(Method::PATCH, "/me", Some(&t), Some(json!({"phone": null}))).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert!(cleared.body.get("phone").is_none());

    app.register("taken@example.in", "customer").await;
    app.call(Method::PATCH, "/me", Some(&t), Some(json!({"email": "TAKEN@example.in"})))
        .await
        .assert_error(409, "already_exists");
    let moved = app.call(Method::PATCH, "/me", Some(&t), Some(json!({"email": "asha.new@example.in"}))).await;
    assert_eq!(moved.body["email"], "asha.new@example.in");
    // The old address is free again, the new one signs in.
    app.register("asha@example.in", "seller").await;
    assert_eq!(app.login("asha.new@example.in", "a-long-password").await.status, StatusCode::OK);
    // The change of sign-in email is audited (the refused one is not: nothing changed).
    let user_id = UserId::parse(asha["user"]["id"].as_str().unwrap()).unwrap();
    let audit = app.store().query(&Query::index(Index::Gsi1, keys::audit_by_actor_pk(&user_id))).await.unwrap();
    let changes: Vec<_> =
        audit.items.iter().filter(|i| i.get("action") == Some(&json!("account.email_changed"))).collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].get("details"), Some(&json!({"from": "asha@example.in", "to": "asha.new@example.in"})));
}

fn address(city: &str) -> Value {
    json!({"name": "Asha Rao", "line1": "12 MG Road", "city": city, "postal_code": "560001", "country": "IN"})
}

/// An address sent twice with one Idempotency-Key (a retry after a timeout), or ten times at
/// once, is added once; the key with another body is 409, and keys are the caller's own.
#[tokio::test]
async fn an_address_sent_twice_with_one_idempotency_key_is_added_once() {
    let app = TestApp::new().await;
    let t = token(&app.register("retry@example.in", "customer").await, "access_token");
    let other = token(&app.register("other@example.in", "customer").await, "access_token");
    let add = |who: &str, key: &'static str, body: Value| {
        let mut request = json_request(Method::POST, "/me/addresses", Some(who), Some(body));
        request.headers_mut().insert("idempotency-key", http::HeaderValue::from_static(key));
        app.send(request)
    };
    let first = add(&t, "addr-1", address("Bengaluru")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = add(&t, "addr-1", address("Bengaluru")).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    add(&t, "addr-1", address("Mumbai")).await.assert_error(409, "idempotency_key_reused");
    let theirs = add(&other, "addr-1", address("Mumbai")).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert_ne!(theirs.body["id"], first.body["id"]);

    let answers = futures::future::join_all((0..10).map(|_| add(&t, "addr-2", address("Pune")))).await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
            a.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "ten deliveries of one key, one address: {ids:?}");
    let book = app.call(Method::GET, "/me/addresses", Some(&t), None).await;
    assert_eq!(book.body["items"].as_array().unwrap().len(), 2, "{}", book.body);

    // Removed since: a retry still gets the first answer (contract: "the same key with the same
    // body returns the first answer again"), and adds nothing again.
    let path = format!("/me/addresses/{}", first.body["id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &path, Some(&t), None).await.status, StatusCode::NO_CONTENT);
    let replayed = add(&t, "addr-1", address("Bengaluru")).await;
    assert_eq!((replayed.status, &replayed.body), (StatusCode::CREATED, &first.body));
    let book = app.call(Method::GET, "/me/addresses", Some(&t), None).await;
    assert_eq!(book.body["items"].as_array().unwrap().len(), 1, "{}", book.body);
}

#[tokio::test]
async fn the_address_book_lists_pages_edits_and_deletes_only_ones_own() {
    let app = TestApp::new().await;
    let t = token(&app.register("book@example.in", "customer").await, "access_token");
    let mut ids = Vec::new();
    for city in ["Bengaluru", "Mumbai", "Pune"] {
        let created = app.call(Method::POST, "/me/addresses", Some(&t), Some(address(city))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["country"], "IN");
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }
    let first = app.call(Method::GET, "/me/addresses?limit=2", Some(&t), None).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().expect("a cursor").to_owned();
    let second = app.call(Method::GET, &format!("/me/addresses?limit=2&cursor={cursor}"), Some(&t), None).await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["next_cursor"], Value::Null);
    app.call(Method::GET, "/me/addresses?limit=0", Some(&t), None).await.assert_error(400, "validation_failed");
    app.call(Method::GET, "/me/addresses?limit=101", Some(&t), None).await.assert_error(400, "validation_failed");
    app.call(Method::GET, "/me/addresses?cursor=bogus", Some(&t), None).await.assert_error(400, "validation_failed");
    app.call(Method::GET, "/me/addresses?sort=x", Some(&t), None).await.assert_error(400, "validation_failed");

    let path = format!("/me/addresses/{}", ids[0]);
    let edited = app
        .call(Method::PATCH, &path, Some(&t), Some(json!({"city": "Mysuru", "line2": "Flat 4", "version": 1})))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(
        (edited.body["city"].clone(), edited.body["line2"].clone(), edited.body["version"].clone()),
        (json!("Mysuru"), json!("Flat 4"), json!(2))
    );
    app.call(Method::PATCH, &path, Some(&t), Some(json!({"city": "X", "version": 1})))
        .await
        .assert_error(409, "version_conflict");
    let bad = app.call(Method::PATCH, &path, Some(&t), Some(json!({"country": "India", "postal_code": ""}))).await;
    bad.assert_error(400, "validation_failed");
    assert!(
        bad.body["error"]["details"]["country"].is_string() && bad.body["error"]["details"]["postal_code"].is_string()
    );

    let other = token(&app.register("other@example.in", "customer").await, "access_token");
    app.call(Method::PATCH, &path, Some(&other), Some(json!({"city": "Stolen"}))).await.assert_error(404, "not_found");
    app.call(Method::DELETE, &path, Some(&other), None).await.assert_error(404, "not_found");
    app.call(Method::DELETE, "/me/addresses/not-an-id", Some(&t), None).await.assert_error(404, "not_found");

    assert_eq!(app.call(Method::DELETE, &path, Some(&t), None).await.status, StatusCode::NO_CONTENT);
    app.call(Method::DELETE, &path, Some(&t), None).await.assert_error(404, "not_found");
    let left = app.call(Method::GET, "/me/addresses", Some(&t), None).await;
    assert_eq!(left.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_additions_never_overfill_the_address_book() {
    let app = TestApp::new().await;
    let t = token(&app.register("full@example.in", "customer").await, "access_token");
    let router = app.router();
    let adds = (0..60).map(|i| {
        let (router, t) = (router.clone(), t.clone());
        async move {
            cy_tests::send(
                router,
                json_request(Method::POST, "/me/addresses", Some(&t), Some(address(&format!("City {i}")))),
            )
            .await
        }
    });
    let answers = futures::future::join_all(adds).await;
    assert_eq!(answers.iter().filter(|a| a.status == StatusCode::CREATED).count(), 50);
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_error(400, "validation_failed");
    }
    let listed = app.call(Method::GET, "/me/addresses?limit=100", Some(&t), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn protected_routes_refuse_missing_malformed_forged_and_expired_tokens() {
    let app = TestApp::new().await;
    let registered = app.register("tok@example.in", "customer").await;
    let user = UserId::parse(registered["user"]["id"].as_str().unwrap()).unwrap();
    let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap();
    let expired =
        keys.issue(&user, Role::Customer, &SessionId::generate(), Timestamp::now().plus_secs(-16 * 60)).unwrap();
    let forger = JwtKeys::new(b"not-the-secret-not-the-secret-!!", None).unwrap();
    let forged = forger.issue(&user, Role::Admin, &SessionId::generate(), Timestamp::now()).unwrap();
    let mut tampered = token(&registered, "access_token");
    tampered.insert(tampered.len() / 2, 'x');

    let routes = [
        (Method::GET, "/me"),
        (Method::PATCH, "/me"),
        (Method::GET, "/me/addresses"),
        (Method::POST, "/me/addresses"),
        (Method::POST, "/auth/logout"),
    ];
    for (method, path) in routes {
        for bad in [None, Some("garbage"), Some(expired.as_str()), Some(forged.as_str()), Some(tampered.as_str())] {
            let answer = app.call(method.clone(), path, bad, Some(json!({}))).await;
            answer.assert_error(401, "unauthenticated");
            assert_eq!(answer.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
        }
        let wrong_scheme = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("authorization", format!("Basic {}", token(&registered, "access_token")))
            .body(axum::body::Body::empty())
            .unwrap();
        app.send(wrong_scheme).await.assert_error(401, "unauthenticated");
    }
}

/// Every accounts endpoint, fed every kind of bad body: each gets a 4xx in the contract's
/// shape, never a 5xx.
#[tokio::test]
async fn bad_input_to_every_accounts_endpoint_is_a_clear_4xx() {
    let app = TestApp::new().await;
    let registered = app.register("input@example.in", "customer").await;
    let t = token(&registered, "access_token");
    let address_id = app.call(Method::POST, "/me/addresses", Some(&t), Some(address("Pune"))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let address_path = format!("/me/addresses/{address_id}");
    let endpoints: Vec<(Method, &str, bool)> = vec![
        (Method::POST, "/auth/register", false),
        (Method::POST, "/auth/login", false),
        (Method::POST, "/auth/refresh", false),
        (Method::POST, "/auth/logout", true),
        (Method::PATCH, "/me", true),
        (Method::POST, "/me/addresses", true),
        (Method::PATCH, &address_path, true),
    ];
    let oversize = format!("{{\"name\": \"{}\"}}", "a".repeat(1024 * 1024));
    let bodies: Vec<(&str, String, &str, u16, &str)> = vec![
        ("malformed", "{\"email\": ".into(), "application/json", 400, "validation_failed"),
        ("not an object", "[1, 2]".into(), "application/json", 400, "validation_failed"),
        ("unknown field", "{\"surprise\": true}".into(), "application/json", 400, "validation_failed"),
        (
            "wrong types",
            "{\"email\": 5, \"name\": [], \"city\": {}}".into(),
            "application/json",
            400,
            "validation_failed",
        ),
        ("empty", String::new(), "application/json", 400, "validation_failed"),
        ("trailing garbage", "{} {}".into(), "application/json", 400, "validation_failed"),
        ("oversize", oversize, "application/json", 413, "payload_too_large"),
        ("form body", "email=a%40b.in".into(), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ];
    for (method, path, signed_in) in &endpoints {
        for (what, body, content_type, status, code) in &bodies {
            let mut request =
                Request::builder().method(method.clone()).uri(*path).header("content-type", *content_type);
            if *signed_in {
                request = request.header("authorization", format!("Bearer {t}"));
            }
            let answer = app.send(request.body(axum::body::Body::from(body.clone())).unwrap()).await;
            assert!(answer.status.is_client_error(), "{method} {path} with {what}: {}", answer.status);
            assert_eq!(
                (answer.status.as_u16(), answer.code()),
                (*status, *code),
                "{method} {path} with {what}: {}",
                answer.body
            );
        }
    }
    // Field-level problems are named.
    let register = app
        .call(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"email": "not-an-email", "password": "short", "name": " ", "role": "admin", "phone": "12"})),
        )
        .await;
    register.assert_error(400, "validation_failed");
    for field in ["email", "password", "name", "role", "phone"] {
        assert!(register.body["error"]["details"][field].is_string(), "{field} not named: {}", register.body);
    }
    let long = app
        .call(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"email": "long@example.in", "password": "x".repeat(129), "name": "L", "role": "customer"})),
        )
        .await;
    long.assert_error(400, "validation_failed");
    app.call(Method::POST, "/auth/login", None, Some(json!({"email": "bad", "password": "x"})))
        .await
        .assert_error(400, "validation_failed");
    app.call(Method::POST, "/auth/refresh", None, Some(json!({"refresh_token": "forged"})))
        .await
        .assert_error(401, "unauthenticated");
    app.call(Method::POST, "/auth/refresh", None, Some(json!({"refresh_token": "A".repeat(43)})))
        .await
        .assert_error(401, "unauthenticated");
    app.call(Method::GET, "/auth/login", None, None).await.assert_error(405, "method_not_allowed");
    app.call(Method::GET, "/no/such/path", None, None).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn role_checks_declared_at_the_route_admit_only_those_roles() {
    use axum::routing::get;
    let app = TestApp::new().await;
    let keys = std::sync::Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap());
    let admin_only = cy_http::finish(
        axum::Router::new()
            .route("/admin/ping", get(|caller: cy_http::Caller| async move { caller.role.as_str().to_owned() }))
            .route_layer(cy_http::require_roles(keys.clone(), &[Role::Admin]))
            .with_state(keys),
    );
    let customer = token(&app.register("c@example.in", "customer").await, "access_token");
    let admin = token(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token");
    let as_customer =
        cy_tests::send(admin_only.clone(), json_request(Method::GET, "/admin/ping", Some(&customer), None)).await;
    as_customer.assert_error(403, "forbidden");
    let request = json_request(Method::GET, "/admin/ping", Some(&admin), None);
    let response = tower::ServiceExt::oneshot(admin_only, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
