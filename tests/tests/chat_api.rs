//! Buyer–seller chat through its entry points: REST (`/conversations`), and the WebSocket at
//! `/ws` of a runtime on a loopback port (`chat.send`, `chat.typing`), with real clients.

use std::time::Duration;

use cy_tests::live::{Socket, connect, drain, next_frame, next_frame_of, serve};
use cy_tests::{Shop, TestApp, shop, token};
use futures::SinkExt;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn me(app: &TestApp, token: &str) -> String {
    app.call(Method::GET, "/me", Some(token), None).await.body["id"].as_str().unwrap().to_owned()
}

/// A customer's conversation with the shop's seller: (customer token, conversation id).
async fn conversation(shop: &Shop) -> (String, String) {
    let (buyer, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let seller = me(&shop.app, &shop.seller).await;
    let opened = shop.app.call(Method::POST, "/conversations", Some(&buyer), Some(json!({"seller_id": seller}))).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    (buyer, opened.body["id"].as_str().unwrap().to_owned())
}

async fn post(app: &TestApp, token: &str, conversation: &str, body: Value) -> cy_tests::Answer {
    app.call(Method::POST, &format!("/conversations/{conversation}/messages"), Some(token), Some(body)).await
}

#[tokio::test]
async fn a_customer_opens_one_conversation_per_seller_and_subject() {
    let shop = shop(1).await;
    let seller = me(&shop.app, &shop.seller).await;
    let (buyer, id) = conversation(&shop).await;
    let again = shop.app.call(Method::POST, "/conversations", Some(&buyer), Some(json!({"seller_id": seller}))).await;
    assert_eq!((again.status, again.body["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "the existing one");
    let about = json!({"seller_id": seller, "product_id": shop.product});
    let product = shop.app.call(Method::POST, "/conversations", Some(&buyer), Some(about)).await;
    assert_eq!(product.status, StatusCode::CREATED, "{}", product.body);
    assert_ne!(product.body["id"], json!(id));
    assert_eq!(product.body["product_id"], json!(shop.product));

    let customer = me(&shop.app, &buyer).await;
    for (body, field) in [
        (json!({"seller_id": customer}), "seller_id"),
        (json!({"seller_id": "usr_nope"}), "seller_id"),
        (json!({"seller_id": seller, "product_id": "prd_01J00000000000000000000000"}), "product_id"),
        (json!({"seller_id": seller, "order_id": "ord_01J00000000000000000000000"}), "order_id"),
    ] {
        let refused = shop.app.call(Method::POST, "/conversations", Some(&buyer), Some(body)).await;
        refused.assert_error(400, "validation_failed");
        assert!(refused.body["error"]["details"].get(field).is_some(), "{}", refused.body);
    }
    let unknown = json!({"seller_id": seller, "topic": "hi"});
    shop.app
        .call(Method::POST, "/conversations", Some(&buyer), Some(unknown))
        .await
        .assert_error(400, "validation_failed");
    let by_seller = json!({"seller_id": seller});
    shop.app
        .call(Method::POST, "/conversations", Some(&shop.seller), Some(by_seller))
        .await
        .assert_error(403, "forbidden");

    for token in [&buyer, &shop.seller] {
        let listed = shop.app.call(Method::GET, "/conversations", Some(token), None).await;
        let ids: Vec<&str> = listed.body["items"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids.len(), 2, "{}", listed.body);
        assert!(ids.contains(&id.as_str()));
    }
}

#[tokio::test]
async fn only_the_two_parties_post_and_only_they_and_admins_read() {
    let shop = shop(1).await;
    let (buyer, id) = conversation(&shop).await;
    let first = post(&shop.app, &buyer, &id, json!({"body": "  Can you engrave in italics?\nThanks  "})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["body"], "Can you engrave in italics?\nThanks");
    assert_eq!(first.body["conversation_id"], json!(id));
    let reply = post(&shop.app, &shop.seller, &id, json!({"body": "Yes."})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let (stranger, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let other_seller = token(&shop.app.register("other@shop.example.in", "seller").await, "access_token");
    for outsider in [&stranger, &other_seller] {
        let read = shop.app.call(Method::GET, &format!("/conversations/{id}/messages"), Some(outsider), None).await;
        read.assert_error(404, "not_found");
        post(&shop.app, outsider, &id, json!({"body": "hi"})).await.assert_error(404, "not_found");
        let listed = shop.app.call(Method::GET, "/conversations", Some(outsider), None).await;
        assert_eq!(listed.body["items"], json!([]));
    }
    let admin = shop.app.admin().await;
    let read = shop.app.call(Method::GET, &format!("/conversations/{id}/messages"), Some(&admin), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let bodies: Vec<&str> = read.body["items"].as_array().unwrap().iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, ["Yes.", "Can you engrave in italics?\nThanks"], "newest first");
    post(&shop.app, &admin, &id, json!({"body": "hi"})).await.assert_error(403, "forbidden");
    // Both parties' lists show the latest message.
    for token in [&buyer, &shop.seller] {
        let listed = shop.app.call(Method::GET, "/conversations", Some(token), None).await;
        assert_eq!(listed.body["items"][0]["last_message_at"], reply.body["created_at"], "{}", listed.body);
    }

    for bad in [json!({"body": "   "}), json!({"body": "x".repeat(2001)}), json!({"body": "hi", "to": "x"}), json!({})]
    {
        post(&shop.app, &buyer, &id, bad).await.assert_error(400, "validation_failed");
    }
    post(&shop.app, &buyer, "cnv_nope", json!({"body": "hi"})).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_repeated_post_with_the_same_idempotency_key_is_one_message() {
    let shop = shop(1).await;
    let (buyer, id) = conversation(&shop).await;
    let keyed = |body: &str| {
        let mut request = cy_tests::json_request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(&buyer),
            Some(json!({"body": body})),
        );
        request.headers_mut().insert("Idempotency-Key", "msg-key-1".parse().unwrap());
        request
    };
    let first = shop.app.send(keyed("hello")).await;
    let second = shop.app.send(keyed("hello")).await;
    assert_eq!((first.status, second.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body, second.body);
    shop.app.send(keyed("something else")).await.assert_error(409, "idempotency_key_reused");
    let read = shop.app.call(Method::GET, &format!("/conversations/{id}/messages"), Some(&buyer), None).await;
    assert_eq!(read.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn messages_are_rate_limited_per_sender() {
    let shop = shop(1).await;
    let (buyer, id) = conversation(&shop).await;
    // The limit counts per minute: start early in one, so the run does not straddle two.
    let second = cy_domain::Timestamp::now().unix().rem_euclid(60);
    if second > 40 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let limit = cy_api::chat::DEFAULT_MESSAGES_PER_MINUTE;
    for n in 0..limit {
        let sent = post(&shop.app, &buyer, &id, json!({"body": format!("message {n}")})).await;
        assert_eq!(sent.status, StatusCode::CREATED, "{n}: {}", sent.body);
    }
    let refused = post(&shop.app, &buyer, &id, json!({"body": "one too many"})).await;
    refused.assert_error(429, "rate_limited");
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The other party is not limited by the customer's count.
    assert_eq!(post(&shop.app, &shop.seller, &id, json!({"body": "hi"})).await.status, StatusCode::CREATED);
    let read = shop.app.call(Method::GET, &format!("/conversations/{id}/messages?limit=100"), Some(&buyer), None).await;
    assert_eq!(read.body["items"].as_array().unwrap().len(), limit as usize + 1, "the refused one was not stored");
}

async fn send_frame(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

#[tokio::test]
async fn messages_reach_the_other_partys_socket_over_rest_and_over_the_socket() {
    let mut shop = shop(1).await;
    let addr = serve(&mut shop).await;
    let (buyer, id) = conversation(&shop).await;
    let mut customer = connect(addr, &buyer).await.expect("the customer connects");
    let mut seller = connect(addr, &shop.seller).await.expect("the seller connects");
    drain(&mut customer, Duration::from_millis(100)).await;
    drain(&mut seller, Duration::from_millis(100)).await;

    // Over REST → the seller's socket.
    let posted = post(&shop.app, &buyer, &id, json!({"body": "Is gold ink possible?"})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let started = std::time::Instant::now();
    let frame = next_frame(&mut seller, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(frame["type"], "chat.message", "{frame}");
    assert_eq!(frame["data"], posted.body);

    // Over the socket → the customer's socket; the sender gets their copy back.
    send_frame(&mut seller, json!({"action": "chat.send", "conversation_id": id, "body": "It is!"})).await;
    let ack = next_frame(&mut seller, Duration::from_secs(1)).await;
    assert_eq!((ack["type"].as_str(), ack["data"]["body"].as_str()), (Some("chat.message"), Some("It is!")));
    let heard = next_frame(&mut customer, Duration::from_secs(1)).await;
    assert_eq!(heard["type"], "chat.message", "{heard}");
    assert_eq!(heard["data"]["id"], ack["data"]["id"]);

    // Typing is relayed, never stored.
    send_frame(&mut customer, json!({"action": "chat.typing", "conversation_id": id})).await;
    let typing = next_frame(&mut seller, Duration::from_secs(1)).await;
    assert_eq!(
        (typing["type"].as_str(), typing["data"]["conversation_id"].as_str()),
        (Some("chat.typing"), Some(id.as_str()))
    );
    let read = shop.app.call(Method::GET, &format!("/conversations/{id}/messages"), Some(&buyer), None).await;
    assert_eq!(read.body["items"].as_array().unwrap().len(), 2);

    // A conversation that is not theirs, a bad body: an error frame, and the socket stays.
    let (stranger, _) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
    let mut outsider = connect(addr, &stranger).await.unwrap();
    send_frame(&mut outsider, json!({"action": "chat.send", "conversation_id": id, "body": "hi"})).await;
    let refused = next_frame(&mut outsider, Duration::from_secs(1)).await;
    assert_eq!((refused["type"].as_str(), refused["data"]["code"].as_str()), (Some("error"), Some("not_found")));
    send_frame(&mut outsider, json!({"action": "chat.typing", "conversation_id": id})).await;
    assert_eq!(next_frame(&mut outsider, Duration::from_secs(1)).await["data"]["code"], "not_found");
    send_frame(&mut customer, json!({"action": "chat.send", "conversation_id": id, "body": ""})).await;
    assert_eq!(next_frame(&mut customer, Duration::from_secs(1)).await["data"]["code"], "validation_failed");
    send_frame(&mut customer, json!({"action": "ping"})).await;
    assert_eq!(next_frame(&mut customer, Duration::from_secs(1)).await["type"], "pong", "still open");
}

#[tokio::test]
async fn a_party_with_no_socket_open_is_notified_instead() {
    let mut shop = shop(1).await;
    let addr = serve(&mut shop).await;
    let (buyer, id) = conversation(&shop).await;
    // The seller is connected; the customer is not.
    let mut seller = connect(addr, &shop.seller).await.unwrap();
    drain(&mut seller, Duration::from_millis(100)).await;
    assert_eq!(post(&shop.app, &buyer, &id, json!({"body": "Hello?"})).await.status, StatusCode::CREATED);
    next_frame_of(&mut seller, "chat.message", Duration::from_secs(2)).await;
    assert_eq!(post(&shop.app, &shop.seller, &id, json!({"body": "Here to help."})).await.status, StatusCode::CREATED);
    assert_eq!(
        post(&shop.app, &shop.seller, &id, json!({"body": "Gold ink is fine."})).await.status,
        StatusCode::CREATED
    );

    let customer = me(&shop.app, &buyer).await;
    let seller_id = me(&shop.app, &shop.seller).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let notes = loop {
        let notes = shop.app.call(Method::GET, "/me/notifications", Some(&buyer), None).await.body["items"].clone();
        if notes.as_array().unwrap().len() >= 2 || tokio::time::Instant::now() > deadline {
            break notes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(notes.as_array().unwrap().len(), 2, "{notes}");
    assert_eq!(
        (notes[0]["type"].as_str(), notes[0]["body"].as_str()),
        (Some("chat.message"), Some("Gold ink is fine."))
    );
    assert_eq!(notes[1]["body"], "Here to help.");
    assert_eq!(notes[0]["data"]["conversation_id"], json!(id));
    // One mail for the conversation's hour, without the seller's words; never an SMS.
    let mail = shop.app.call(Method::GET, &format!("/dev/outbox?user_id={customer}&channel=email"), None, None).await;
    let mail = mail.body["items"].as_array().unwrap().clone();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(!mail[0]["body"].as_str().unwrap().contains("Here to help"), "{}", mail[0]);
    let sms = shop.app.call(Method::GET, &format!("/dev/outbox?user_id={customer}&channel=sms"), None, None).await;
    assert_eq!(sms.body["items"], json!([]));
    // The connected seller was told live, not by notification.
    let theirs = shop.app.call(Method::GET, &format!("/dev/outbox?user_id={seller_id}"), None, None).await;
    assert_eq!(theirs.body["items"], json!([]));
    let seller_notes = shop.app.call(Method::GET, "/me/notifications", Some(&shop.seller), None).await;
    assert_eq!(seller_notes.body["items"], json!([]));
}
