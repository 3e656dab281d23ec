//! The files port: the server hands out upload tickets (a presigned PUT) for keys it chose;
//! clients send the bytes straight to storage, never through the API.
//!
//! - [`S3Files`]: presigned S3 `PutObject` URLs, with content type and length signed in, so
//!   a client cannot upload another type or size than the one the server agreed to;
//! - [`LocalFiles`]: the same contract for `customiseyou-local`: HMAC-signed URLs that the
//!   local runtime itself accepts (`PUT /local-files/<key>`), storing under its data dir.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use cy_domain::product::ObjectKey;
use cy_domain::uploads::UploadPlan;
use cy_domain::{Error, Timestamp};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// How long an upload URL works.
pub const UPLOAD_TTL_SECS: u64 = 15 * 60;

/// What a client needs to upload one file: `PUT` the bytes to `url` with `headers`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub object_key: ObjectKey,
    pub upload_url: String,
    pub method: &'static str,
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait FileStore: Send + Sync {
    /// An upload URL for exactly this key, content type and size.
    async fn upload_ticket(&self, plan: &UploadPlan) -> Result<UploadTicket, Error>;
}

/// S3 presigned uploads.
#[derive(Clone)]
pub struct S3Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Files { client, bucket: bucket.into() }
    }

    /// The bucket from `UPLOADS_BUCKET`; `CY_S3_ENDPOINT` (or `CY_AWS_ENDPOINT`) points at an
    /// emulator, which then needs path-style addressing.
    pub async fn from_env() -> Result<Self, String> {
        let bucket = std::env::var("UPLOADS_BUCKET").map_err(|_| "UPLOADS_BUCKET is not set".to_owned())?;
        let shared = cy_outbound::aws_config().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Ok(endpoint) = std::env::var("CY_S3_ENDPOINT").or_else(|_| std::env::var("CY_AWS_ENDPOINT")) {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Ok(S3Files::new(aws_sdk_s3::Client::from_conf(config.build()), bucket))
    }
}

#[async_trait]
impl FileStore for S3Files {
    async fn upload_ticket(&self, plan: &UploadPlan) -> Result<UploadTicket, Error> {
        let presigning = PresigningConfig::expires_in(Duration::from_secs(UPLOAD_TTL_SECS)).map_err(|e| {
            tracing::error!(error = %e, "presigning config");
            Error::internal()
        })?;
        let size = i64::try_from(plan.size).map_err(|_| Error::invalid("size", "is too large"))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(plan.key.as_str())
            .content_type(plan.content_type)
            .content_length(size)
            .presigned(presigning)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "presigning an upload failed");
                Error::internal()
            })?;
        let mut headers: BTreeMap<String, String> =
            presigned.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect();
        headers.insert("content-type".into(), plan.content_type.into());
        headers.insert("content-length".into(), plan.size.to_string());
        Ok(UploadTicket {
            object_key: plan.key.clone(),
            upload_url: presigned.uri().to_owned(),
            method: "PUT",
            headers,
            expires_at: Timestamp::now().plus_secs(UPLOAD_TTL_SECS as i64),
        })
    }
}

/// Local uploads for `customiseyou-local`: files under `root`, URLs signed with `secret`.
#[derive(Clone)]
pub struct LocalFiles {
    root: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

/// Where the local runtime accepts uploads: `PUT {LOCAL_UPLOAD_PATH}/<key>?…`.
pub const LOCAL_UPLOAD_PATH: &str = "/local-files";

type HmacSha256 = Hmac<Sha256>;

impl LocalFiles {
    pub fn new(root: PathBuf, base_url: impl Into<String>, secret: &[u8]) -> Self {
        LocalFiles { root, base_url: base_url.into().trim_end_matches('/').to_owned(), secret: secret.to_vec() }
    }

    fn mac(&self, key: &str, expires: i64, content_type: &str, size: u64) -> HmacSha256 {
        // An HMAC key of any length is valid.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("PUT\n{key}\n{expires}\n{content_type}\n{size}").as_bytes());
        mac
    }

    /// Accepts an upload made with a ticket: the signature, expiry, content type and exact
    /// size must all match what was signed. Stores the bytes atomically (temp file + rename).
    pub async fn accept(
        &self,
        key: &str,
        query: &BTreeMap<String, String>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ObjectKey, Error> {
        let refused = || Error::forbidden("The upload URL is not valid for this upload.");
        let key = ObjectKey::parse(key).map_err(|_| refused())?;
        let expires: i64 = query.get("expires").and_then(|v| v.parse().ok()).ok_or_else(refused)?;
        let size: u64 = query.get("size").and_then(|v| v.parse().ok()).ok_or_else(refused)?;
        let signed_type = query.get("type").ok_or_else(refused)?;
        let signature = query.get("signature").and_then(|s| hex::decode(s).ok()).ok_or_else(refused)?;
        self.mac(key.as_str(), expires, signed_type, size).verify_slice(&signature).map_err(|_| refused())?;
        if Timestamp::now().unix() > expires {
            return Err(Error::forbidden("The upload URL has expired."));
        }
        if content_type.map(str::trim) != Some(signed_type.as_str()) {
            return Err(Error::invalid("content-type", format!("must be {signed_type}")));
        }
        if body.len() as u64 != size {
            return Err(Error::invalid("content-length", format!("must be exactly {size} bytes")));
        }
        let path = self.root.join(key.as_str());
        let parent = path.parent().ok_or_else(Error::internal)?;
        let io = |e: std::io::Error| {
            tracing::error!(error = %e, "storing a local upload");
            Error::internal()
        };
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
        let temp = path.with_extension("part");
        tokio::fs::write(&temp, body).await.map_err(io)?;
        tokio::fs::rename(&temp, &path).await.map_err(io)?;
        Ok(key)
    }

    /// The stored bytes of a key, if uploaded.
    pub async fn read(&self, key: &ObjectKey) -> Option<Vec<u8>> {
        tokio::fs::read(self.root.join(key.as_str())).await.ok()
    }
}

#[async_trait]
impl FileStore for LocalFiles {
    async fn upload_ticket(&self, plan: &UploadPlan) -> Result<UploadTicket, Error> {
        let expires_at = Timestamp::now().plus_secs(UPLOAD_TTL_SECS as i64);
        let signature = hex::encode(
            self.mac(plan.key.as_str(), expires_at.unix(), plan.content_type, plan.size).finalize().into_bytes(),
        );
        let upload_url = format!(
            "{}{LOCAL_UPLOAD_PATH}/{}?expires={}&type={}&size={}&signature={signature}",
            self.base_url,
            plan.key.as_str(),
            expires_at.unix(),
            plan.content_type.replace('/', "%2F"),
            plan.size,
        );
        let headers = BTreeMap::from([
            ("content-type".to_owned(), plan.content_type.to_owned()),
            ("content-length".to_owned(), plan.size.to_string()),
        ]);
        Ok(UploadTicket { object_key: plan.key.clone(), upload_url, method: "PUT", headers, expires_at })
    }
}
