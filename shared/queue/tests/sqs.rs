//! The SQS adapter against moto's SQS (started by the test command): published messages
//! arrive with their body and their id as an attribute, in batches larger than SQS's 10.

use cy_queue::{Message, Publisher, SqsQueue};

#[tokio::test]
async fn messages_arrive_with_their_ids() {
    let Ok(endpoint) = std::env::var("CY_AWS_ENDPOINT") else {
        assert!(std::env::var("CY_REQUIRE_EMULATOR").is_err(), "CY_REQUIRE_EMULATOR is set but CY_AWS_ENDPOINT is not");
        eprintln!("skipping: no emulator configured");
        return;
    };
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client =
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&shared).endpoint_url(endpoint).build());
    let name = format!("order-events-{}", ulid::Ulid::new());
    let url = client.create_queue().queue_name(&name).send().await.expect("create queue").queue_url.expect("url");
    let queue = SqsQueue::new(client.clone(), &url);
    let messages: Vec<Message> = (0..13)
        .map(|i| Message { id: format!("evt_{i:02}"), kind: "order.created".into(), body: format!("{{\"n\": {i}}}") })
        .collect();
    assert!(queue.publish(&messages).await.expect("publish").is_empty());

    let mut received = Vec::new();
    for _ in 0..10 {
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let id = m
                .message_attributes()
                .and_then(|a| a.get("event_id"))
                .and_then(|v| v.string_value())
                .unwrap_or("")
                .to_owned();
            received.push((id, m.body().unwrap_or("").to_owned()));
        }
        if received.len() >= 13 {
            break;
        }
    }
    received.sort();
    let expected: Vec<(String, String)> = messages.iter().map(|m| (m.id.clone(), m.body.clone())).collect();
    assert_eq!(received, expected);
}
