//! Lambda `notify-fanout`, the consumer of its own events queue (partial batch responses):
//! configuration, clients, handler, run. Email goes through SES v2 (`MAIL_FROM`), SMS through
//! Twilio and mobile push through FCM when those are configured (each channel is off without
//! its provider). The logic lives in `cy_api::notifications`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use cy_api::notifications::fanout::{Notifier, Senders};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cy_http::telemetry::init();
    let store = Arc::new(cy_store_dynamodb::DynamoStore::from_env().await?);
    let push = Arc::new(cy_realtime::ApiGatewayPush::from_env().await?);
    let realtime = cy_api::realtime::Realtime { store, keys: None, push, chat: None };
    let senders = Senders {
        email: Some(Arc::new(cy_notify::ses::SesMailer::from_env().await?)),
        sms: cy_notify::twilio::TwilioSms::from_env()?.map(|s| Arc::new(s) as _),
        push: cy_notify::fcm::FcmPush::from_env()?.map(|s| Arc::new(s) as _),
    };
    let notifier = Notifier { realtime, senders };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let notifier = notifier.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(cy_api::notifications::lambda::on_events(&notifier, event.payload).await)
        }
    }))
    .await
}
