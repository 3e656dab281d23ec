//! SMS through Twilio's REST API: one `POST` to the "Create a Message" resource
//! (`/2010-04-01/Accounts/{AccountSid}/Messages.json`) per message.
//!
//! Twilio takes a form (`To`, `From`, `Body`) and authenticates with HTTP basic auth, the
//! account SID as the user and the auth token as the password. It answers `201 Created` once it
//! has queued the message; delivery to the handset happens later and is not reported here. A
//! refusal comes as a 4xx with Twilio's own error code in a JSON body (e.g. `21211`, "invalid
//! 'To' phone number"), which [`classify_status`] reads as "retrying cannot help"; 429 and 5xx
//! may pass.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Outgoing, SendError, Sender, classify_status, describe, setting};

/// Twilio's API, unless `TWILIO_BASE_URL` points elsewhere (a mock, a regional edge).
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// How long one call to Twilio may take, from connecting to the last byte of the answer. A send
/// that hangs longer fails and is retried later rather than holding up the batch it is in.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends SMS with Twilio's "Create a Message" resource.
pub struct TwilioSms {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    /// The sender: a Twilio phone number of the account in E.164, or an alphanumeric sender ID
    /// where the destination country allows one.
    from: String,
}

impl TwilioSms {
    /// `base_url` is [`DEFAULT_BASE_URL`] in production; a trailing `/` is ignored.
    ///
    /// # Panics
    ///
    /// Fails if the HTTP client's TLS backend cannot start.
    pub fn new(
        base_url: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        from: impl Into<String>,
    ) -> Result<Self, String> {
        let http = cy_outbound::https_client()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("twilio: the HTTP client cannot start: {}", describe(&e)))?;
        Ok(TwilioSms {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.into(),
        })
    }

    /// The adapter `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and `TWILIO_FROM` describe, with
    /// `TWILIO_BASE_URL` (default [`DEFAULT_BASE_URL`]). `None` when `TWILIO_ACCOUNT_SID` is
    /// unset: this deployment sends no SMS. An error when it is set but the token or the sender
    /// is not, so a half-done configuration fails at start rather than at the first message.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |name: &str| setting(var(name));
        let Some(account_sid) = get("TWILIO_ACCOUNT_SID") else {
            return Ok(None);
        };
        // The SID goes into the request's path: anything but letters and digits (`AC` and 32
        // hex digits) is a mistake, not something to escape.
        if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("TWILIO_ACCOUNT_SID must be letters and digits (AC followed by 32 hex digits)".to_owned());
        }
        let auth_token = get("TWILIO_AUTH_TOKEN").ok_or("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not")?;
        let from = get("TWILIO_FROM").ok_or("TWILIO_ACCOUNT_SID is set but TWILIO_FROM is not")?;
        let base_url = get("TWILIO_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        TwilioSms::new(base_url, account_sid, auth_token, from).map(Some)
    }

    /// The account's Messages list, where a `POST` creates (and sends) a message.
    fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid)
    }
}

#[async_trait]
impl Sender for TwilioSms {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let form = [("To", message.to.as_str()), ("From", self.from.as_str()), ("Body", message.body.as_str())];
        let reply = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("twilio: {}", describe(&e))))?;
        let status = reply.status();
        if status.is_success() {
            return Ok(());
        }
        // An answer whose body cannot be read is still classified by its status.
        let body = reply.text().await.unwrap_or_default();
        match status.as_u16() {
            // Our credentials were refused: no message is at fault, and a fixed configuration
            // should send it, so it is retried (and, failing on, lands in the DLQ).
            401 | 403 => Err(SendError::Failed(format!("twilio: credentials refused: {status}"))),
            code => Err(classify_status(code, &body)),
        }
    }
}

impl fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::Channel;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "twilio-auth-token-secret";
    const FROM: &str = "+15005550006";
    const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

    fn sms(to: &str, body: &str) -> Outgoing {
        Outgoing {
            channel: Channel::Sms,
            to: to.to_owned(),
            subject: None,
            body: body.to_owned(),
            user_id: "user-1".to_owned(),
            event_id: "event-1".to_owned(),
            data: Default::default(),
        }
    }

    fn twilio(base: &str) -> TwilioSms {
        TwilioSms::new(base, SID, TOKEN, FROM).expect("a valid configuration")
    }

    async fn answered(answer: ResponseTemplate) -> Result<(), SendError> {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(MESSAGES_PATH)).respond_with(answer).expect(1).mount(&server).await;
        twilio(&server.uri()).send(&sms("+15558675310", "Your order has shipped")).await
    }

    #[tokio::test]
    async fn a_message_is_posted_as_a_form_with_basic_auth() {
        let server = MockServer::start().await;
        let authorization = format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")));
        Mock::given(method("POST"))
            .and(path(MESSAGES_PATH))
            .and(header("authorization", authorization.as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains("To=%2B15558675310"))
            .and(body_string_contains("From=%2B15005550006"))
            .and(body_string_contains("Body=Your+order+%2342+has+shipped"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "sid": "SM0123456789abcdef0123456789abcdef",
                "account_sid": SID,
                "to": "+15558675310",
                "from": FROM,
                "body": "Your order #42 has shipped",
                "status": "queued",
            })))
            .expect(1)
            .mount(&server)
            .await;

        // A trailing slash on the base URL does not double the path's.
        let sent = twilio(&format!("{}/", server.uri())).send(&sms("+15558675310", "Your order #42 has shipped")).await;
        assert_eq!(sent, Ok(()));
    }

    #[tokio::test]
    async fn an_invalid_number_is_rejected() {
        let answer = ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "code": 21211,
            "message": "The 'To' number +15558675310 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        }));
        match answered(answer).await {
            Err(SendError::Rejected(why)) => assert!(why.contains("21211"), "{why}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unavailable_twilio_fails_for_a_retry() {
        let answer = ResponseTemplate::new(503).set_body_string("Service Unavailable");
        assert!(matches!(answered(answer).await, Err(SendError::Failed(_))));
    }

    #[tokio::test]
    async fn throttling_fails_for_a_retry() {
        let answer = ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "code": 20429, "message": "Too Many Requests", "status": 429,
        }));
        assert!(matches!(answered(answer).await, Err(SendError::Failed(_))));
    }

    #[tokio::test]
    async fn an_unreachable_twilio_fails_for_a_retry() {
        // A port nobody listens on: bound, then released.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("the bound port").port();
        drop(listener);
        let sent = twilio(&format!("http://127.0.0.1:{port}")).send(&sms("+15558675310", "hi")).await;
        assert!(matches!(sent, Err(SendError::Failed(_))), "{sent:?}");
    }

    fn vars<'a>(set: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn sms_is_off_without_an_account_sid() {
        assert!(matches!(TwilioSms::from_vars(vars(&[])), Ok(None)));
        assert!(matches!(TwilioSms::from_vars(vars(&[("TWILIO_ACCOUNT_SID", "-")])), Ok(None)));
    }

    #[test]
    fn a_partial_configuration_is_an_error() {
        let missing_token = TwilioSms::from_vars(vars(&[("TWILIO_ACCOUNT_SID", SID), ("TWILIO_FROM", FROM)]));
        assert!(matches!(missing_token, Err(why) if why.contains("TWILIO_AUTH_TOKEN")));
        let missing_from = TwilioSms::from_vars(vars(&[("TWILIO_ACCOUNT_SID", SID), ("TWILIO_AUTH_TOKEN", TOKEN)]));
        assert!(matches!(missing_from, Err(why) if why.contains("TWILIO_FROM")));
        let bad_sid = TwilioSms::from_vars(vars(&[
            ("TWILIO_ACCOUNT_SID", "AC../../x"),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TWILIO_FROM", FROM),
        ]));
        assert!(bad_sid.is_err());
    }

    #[test]
    fn a_full_configuration_defaults_to_twilios_api() {
        let set = [("TWILIO_ACCOUNT_SID", SID), ("TWILIO_AUTH_TOKEN", TOKEN), ("TWILIO_FROM", FROM)];
        let Ok(Some(sms)) = TwilioSms::from_vars(vars(&set)) else { panic!("configured") };
        assert_eq!(sms.messages_url(), format!("https://api.twilio.com{MESSAGES_PATH}"));
    }

    #[test]
    fn debug_does_not_show_the_auth_token() {
        let shown = format!("{:?}", twilio("https://api.twilio.com"));
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains(SID), "{shown}");
    }
}
