//! The S3 adapter against moto's S3 (started by the test command): a presigned PUT made from an
//! upload ticket stores exactly the bytes, under the server-chosen key, with the signed type.
//! Skips without an emulator unless `CY_REQUIRE_EMULATOR` is set.

use cy_domain::UserId;
use cy_domain::uploads::{UploadPurpose, plan_user_upload};
use cy_files::{FileStore, S3Files};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn emulator() -> Option<(aws_sdk_s3::Client, String)> {
    let Ok(endpoint) = std::env::var("CY_AWS_ENDPOINT") else {
        assert!(std::env::var("CY_REQUIRE_EMULATOR").is_err(), "CY_REQUIRE_EMULATOR is set but CY_AWS_ENDPOINT is not");
        eprintln!("skipping: no emulator configured (run through `python3 infra/dev.py test`)");
        return None;
    };
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = aws_sdk_s3::config::Builder::from(&shared).endpoint_url(endpoint).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = format!("uploads-{}", ulid::Ulid::new().to_string().to_lowercase());
    client.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    Some((client, bucket))
}

/// PUTs `body` to an absolute `http://host:port/path?query` URL with `headers`; returns the status.
async fn put(url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_once('/').expect("path");
    let mut stream = tokio::net::TcpStream::connect(authority).await.expect("connect");
    let mut request = format!("PUT /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_presigned_put_stores_the_file_under_the_planned_key() {
    let Some((client, bucket)) = emulator().await else { return };
    // SAFETY: single-threaded point of this test binary's only test, before the adapter reads it.
    unsafe { std::env::set_var("UPLOADS_BUCKET", &bucket) };
    let files = S3Files::from_env().await.expect("files from env");
    let owner = UserId::generate();
    let body = b"\x89PNG\r\n\x1a\n-not-really-an-image".to_vec();
    let plan = plan_user_upload(&owner, UploadPurpose::Customization, "image/png", body.len() as u64).unwrap();
    let ticket = files.upload_ticket(&plan).await.expect("ticket");
    assert_eq!(ticket.method, "PUT");
    assert_eq!(ticket.object_key, plan.key);
    assert!(ticket.upload_url.contains("X-Amz-Signature="), "{}", ticket.upload_url);
    assert!(ticket.upload_url.contains(&format!("/{bucket}/uploads/{owner}/customization/")), "{}", ticket.upload_url);
    assert_eq!(ticket.headers.get("content-type").map(String::as_str), Some("image/png"));
    assert_eq!(ticket.headers.get("content-length"), Some(&body.len().to_string()));

    let headers: Vec<(String, String)> = ticket.headers.clone().into_iter().collect();
    let status = put(&ticket.upload_url, &headers, &body).await;
    assert_eq!(status, 200);

    let stored = client.get_object().bucket(&bucket).key(plan.key.as_str()).send().await.expect("object exists");
    assert_eq!(stored.content_type(), Some("image/png"));
    let bytes = stored.body.collect().await.expect("body").into_bytes();
    assert_eq!(bytes.as_ref(), body.as_slice());
}
