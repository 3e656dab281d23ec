//! notify-fanout as its Lambda runs it, on the emulator (moto): the table on DynamoDB, email
//! through SES v2. The same SQS batch delivered twice, and twice at once, sends each email
//! once — counted in the emulator's own store of sent mail (`/moto-api/data.json`). Skips
//! without an emulator unless `CY_REQUIRE_EMULATOR` is set.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use cy_api::notifications::fanout::{Notifier, Senders};
use cy_api::realtime::Realtime;
use cy_domain::{EventId, OrderId, Timestamp, UserId};
use cy_notify::ses::SesMailer;
use cy_store_dynamodb::DynamoStore;
use serde_json::{Value, json};

const FROM: &str = "orders@customiseyou.test";

struct OnEmulator {
    endpoint: String,
    notifier: Notifier,
    store: Arc<dyn cy_data::Store>,
}

async fn on_emulator() -> Option<OnEmulator> {
    let Ok(endpoint) = std::env::var("CY_AWS_ENDPOINT") else {
        assert!(std::env::var("CY_REQUIRE_EMULATOR").is_err(), "CY_REQUIRE_EMULATOR is set but no emulator");
        eprintln!("skipping: no emulator configured");
        return None;
    };
    let store: Arc<dyn cy_data::Store> = Arc::new(DynamoStore::from_env().await.expect("store"));
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&shared).endpoint_url(endpoint.clone()).build(),
    );
    // SES sends only from a verified identity (moto checks it too).
    ses.create_email_identity().email_identity("customiseyou.test").send().await.expect("identity");
    let realtime =
        Realtime { store: store.clone(), keys: None, push: Arc::new(cy_realtime::LocalPush::new()), chat: None };
    let senders = Senders { email: Some(Arc::new(SesMailer::new(ses, FROM))), sms: None, push: None };
    Some(OnEmulator { endpoint, notifier: Notifier { realtime, senders }, store })
}

/// A customer stored directly (the fan-out reads their email and name).
async fn customer(store: &dyn cy_data::Store) -> (UserId, String) {
    let (token, _) = cy_tests::seed_customer(store).await;
    let keys = cy_http::JwtKeys::new(cy_tests::TEST_JWT_SECRET.as_bytes(), None).unwrap();
    let id = keys.verify(&token).unwrap().sub;
    let user = cy_data::accounts::get_user(store, &id).await.unwrap().unwrap();
    (id, user.email.to_string())
}

fn batch(customer: &UserId, statuses: &[&str]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = statuses
        .iter()
        .enumerate()
        .map(|(n, status)| {
            let body = json!({"id": EventId::generate(), "type": "order.status_changed",
                "order_id": OrderId::generate(), "customer_id": customer, "sellers": [],
                "at": Timestamp::now(), "data": {"status": status}});
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m{n}"));
            message.body = Some(body.to_string());
            message
        })
        .collect();
    event
}

/// The subjects of the mail the emulator's SES holds for `to`.
async fn sent_to(endpoint: &str, to: &str) -> Vec<String> {
    let data: Value = reqwest_get(&format!("{endpoint}/moto-api/data.json")).await;
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["destinations"]["ToAddresses"].as_array().is_some_and(|a| a.iter().any(|t| t == to)))
        .filter_map(|m| m["subject"].as_str().map(str::to_owned))
        .collect()
}

async fn reqwest_get(url: &str) -> Value {
    reqwest::get(url).await.expect("the emulator answers").json().await.expect("the emulator's data")
}

#[tokio::test]
async fn a_batch_delivered_twice_and_twice_at_once_sends_each_email_once() {
    let Some(OnEmulator { endpoint, notifier, store }) = on_emulator().await else { return };

    let (id, email) = customer(store.as_ref()).await;
    let twice = batch(&id, &["paid", "shipped"]);
    for _ in 0..2 {
        let response = cy_api::notifications::lambda::on_events(&notifier, twice.clone()).await;
        assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    }
    let mut subjects = sent_to(&endpoint, &email).await;
    subjects.sort();
    assert_eq!(subjects, ["Payment received", "Your order has shipped"]);

    let (id, email) = customer(store.as_ref()).await;
    let at_once = batch(&id, &["processing", "delivered", "refunded"]);
    let (a, b) = tokio::join!(
        cy_api::notifications::lambda::on_events(&notifier, at_once.clone()),
        cy_api::notifications::lambda::on_events(&notifier, at_once.clone())
    );
    // A message whose send the other delivery holds is reported, for SQS to redeliver: the
    // redelivery finds it sent.
    let retried: Vec<String> =
        a.batch_item_failures.iter().chain(&b.batch_item_failures).map(|f| f.item_identifier.clone()).collect();
    let mut redelivery = at_once.clone();
    redelivery.records.retain(|m| m.message_id.as_ref().is_some_and(|id| retried.contains(id)));
    if !redelivery.records.is_empty() {
        let again = cy_api::notifications::lambda::on_events(&notifier, redelivery).await;
        assert!(again.batch_item_failures.is_empty(), "{:?}", again.batch_item_failures);
    }
    let mut subjects = sent_to(&endpoint, &email).await;
    subjects.sort();
    assert_eq!(subjects, ["Your order is being prepared", "Your order was delivered", "Your order was refunded"]);
    // And the in-app records, once each.
    let (notes, _) = cy_data::notifications::list(store.as_ref(), &id, 100, None).await.unwrap();
    assert_eq!(notes.len(), 3);
}

#[tokio::test]
async fn a_poison_message_is_reported_alone_and_an_unverified_sender_is_given_up_not_retried() {
    let Some(OnEmulator { notifier, store, endpoint }) = on_emulator().await else { return };
    let (id, email) = customer(store.as_ref()).await;
    let mut mixed = batch(&id, &["paid", "shipped"]);
    let mut poison = SqsMessage::default();
    poison.message_id = Some("poison".into());
    poison.body = Some("{\"type\": 1}".into());
    mixed.records.insert(1, poison);
    let response = cy_api::notifications::lambda::on_events(&notifier, mixed).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison"]);
    assert_eq!(sent_to(&endpoint, &email).await.len(), 2);

    // SES refuses an unverified sender for good (400 MessageRejected): the send is given up,
    // not retried forever.
    let mut unverified = notifier.clone();
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&shared).endpoint_url(endpoint.clone()).build(),
    );
    unverified.senders.email = Some(Arc::new(SesMailer::new(ses, "someone@unverified.example")));
    let (id, email) = customer(store.as_ref()).await;
    let response = cy_api::notifications::lambda::on_events(&unverified, batch(&id, &["paid"])).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(sent_to(&endpoint, &email).await.is_empty());
}
