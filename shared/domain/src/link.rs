//! Links people follow: absolute https URLs only (a tracking page shown to customers must not
//! be `javascript:` or plain http).

use serde::{Deserialize, Serialize};

use crate::Error;

/// An absolute `https://` URL with a host and no credentials, at most 2,048 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpsUrl(String);

/// The longest link accepted (what browsers and carriers reliably keep).
pub const MAX_URL_LENGTH: usize = 2048;

impl HttpsUrl {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        if raw.len() > MAX_URL_LENGTH {
            return Err(Error::bad_request(format!("must be at most {MAX_URL_LENGTH} characters")));
        }
        let parsed = url::Url::parse(raw).map_err(|_| Error::bad_request("must be an absolute https URL"))?;
        if parsed.scheme() != "https" {
            return Err(Error::bad_request("must be an https URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) || !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::bad_request("must be an https URL with a host and no credentials"));
        }
        Ok(HttpsUrl(parsed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HttpsUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<HttpsUrl> for String {
    fn from(url: HttpsUrl) -> String {
        url.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_https_links_with_a_host_are_links() {
        assert_eq!(HttpsUrl::parse(" https://track.example.in/BD1 ").unwrap().as_str(), "https://track.example.in/BD1");
        for bad in [
            "http://track.example.in/BD1",
            "javascript:alert(1)",
            "/track/BD1",
            "https://user:pw@track.example.in/",
            "https://",
            "",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(HttpsUrl::parse(&format!("https://a.in/{}", "x".repeat(MAX_URL_LENGTH))).is_err());
    }
}
