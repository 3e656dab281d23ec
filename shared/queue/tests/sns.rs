//! The SNS adapter against moto (started by the test command): one topic, a queue per
//! consumer subscribed with raw delivery, one of them filtered by `type` — each consumer gets
//! its own copy of what it subscribed to, bodies as published, ids as attributes.

use cy_queue::{Message, Publisher, SnsTopic};

async fn received(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let id =
                m.message_attributes().and_then(|a| a.get("event_id")).and_then(|v| v.string_value()).unwrap_or("");
            got.push((id.to_owned(), m.body().unwrap_or("").to_owned()));
        }
        if got.len() >= want {
            break;
        }
    }
    got.sort();
    got
}

#[tokio::test]
async fn every_consumer_gets_its_own_copy_of_what_it_subscribed_to() {
    let Ok(endpoint) = std::env::var("CY_AWS_ENDPOINT") else {
        assert!(std::env::var("CY_REQUIRE_EMULATOR").is_err(), "CY_REQUIRE_EMULATOR is set but CY_AWS_ENDPOINT is not");
        eprintln!("skipping: no emulator configured");
        return;
    };
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs =
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&shared).endpoint_url(&endpoint).build());
    let sns =
        aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&shared).endpoint_url(&endpoint).build());
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let topic =
        sns.create_topic().name(format!("order-events-{suffix}")).send().await.expect("topic").topic_arn.expect("arn");
    let mut queues = Vec::new();
    for (name, filter) in [("everything", None), ("status-only", Some(r#"{"type": ["order.status_changed"]}"#))] {
        let url = sqs
            .create_queue()
            .queue_name(format!("{name}-{suffix}"))
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes");
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("arn")
            .clone();
        let mut subscribe =
            sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(arn).attributes("RawMessageDelivery", "true");
        if let Some(filter) = filter {
            subscribe = subscribe.attributes("FilterPolicy", filter);
        }
        subscribe.send().await.expect("subscribe");
        queues.push(url);
    }
    let messages = vec![
        Message { id: "evt_1".into(), kind: "order.created".into(), body: r#"{"n":1}"#.into() },
        Message { id: "evt_2".into(), kind: "order.status_changed".into(), body: r#"{"n":2}"#.into() },
        Message { id: "evt_3".into(), kind: "order.status_changed".into(), body: r#"{"n":3}"#.into() },
    ];
    let topic = SnsTopic::new(sns, topic);
    assert!(topic.publish(&messages).await.expect("publish").is_empty());
    let all: Vec<(String, String)> = messages.iter().map(|m| (m.id.clone(), m.body.clone())).collect();
    assert_eq!(received(&sqs, &queues[0], 3).await, all, "the unfiltered consumer gets every event, raw");
    assert_eq!(received(&sqs, &queues[1], 2).await, all[1..].to_vec(), "the filtered one only its type");
}
