//! Email through Amazon SES v2 (`SendEmail`, simple content: the subject and text body are
//! rendered by the caller's templates, so one template set serves SES and the local outbox).

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::{Outgoing, SendError, Sender, emulator_endpoint};

/// What an SES error means for the message. Only errors about the message itself are final
/// (`MessageRejected`: SES refused this mail, e.g. a suppressed address or an unverified sender;
/// `BadRequestException`: it is malformed). Throttling, a daily quota, sending paused, an
/// account under review, missing permissions or an unreachable SES all pass or get fixed:
/// retried with the message (and dead-lettered if they never do), never given up silently.
fn classify(code: Option<&str>, why: &str) -> SendError {
    match code {
        Some("MessageRejected" | "BadRequestException" | "NotFoundException") => {
            SendError::Rejected(why.chars().take(300).collect())
        }
        _ => SendError::Failed(why.chars().take(300).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_about_the_message_are_final() {
        for code in ["MessageRejected", "BadRequestException"] {
            assert!(matches!(classify(Some(code), "x"), SendError::Rejected(_)), "{code}");
        }
        for code in [
            Some("TooManyRequestsException"),
            Some("LimitExceededException"),
            Some("SendingPausedException"),
            Some("AccountSuspendedException"),
            Some("AccessDeniedException"),
            None,
        ] {
            assert!(matches!(classify(code, "x"), SendError::Failed(_)), "{code:?}");
        }
    }
}

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    /// The verified identity mail is sent from (`MAIL_FROM`).
    from: String,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        SesMailer { client, from: from.into() }
    }

    /// `MAIL_FROM` names the sender identity; `CY_AWS_ENDPOINT` points at an emulator.
    pub async fn from_env() -> Result<Self, String> {
        let from = std::env::var("MAIL_FROM").map_err(|_| "MAIL_FROM is not set".to_owned())?;
        let shared = cy_outbound::aws_config().await;
        // A send that hangs must not hold a batch past the function's timeout: it fails and
        // is retried with the message.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(std::time::Duration::from_secs(5))
            .operation_timeout(std::time::Duration::from_secs(12))
            .build();
        let mut config = aws_sdk_sesv2::config::Builder::from(&shared).timeout_config(timeouts);
        if let Some(endpoint) = emulator_endpoint() {
            config = config.endpoint_url(endpoint);
        }
        Ok(SesMailer::new(Client::from_conf(config.build()), from))
    }
}

fn text(data: &str) -> Result<Content, SendError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| SendError::Rejected(e.to_string()))
}

#[async_trait]
impl Sender for SesMailer {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(text(message.subject.as_deref().unwrap_or("CustomiseYou"))?)
                    .body(Body::builder().text(text(&message.body)?).build())
                    .build(),
            )
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(content)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let why = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                let code = e.as_service_error().and_then(|s| s.meta().code()).map(str::to_owned);
                Err(classify(code.as_deref(), &why))
            }
        }
    }
}
