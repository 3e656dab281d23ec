//! The local stand-in for S3 presigned uploads: `PUT /local-files/<key>?…` with the URL an
//! upload ticket gave. The signature, expiry, type and size are checked by `LocalFiles`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::put;
use cy_files::LocalFiles;
use cy_http::ApiResult;

/// The largest upload any purpose allows, plus headroom; the signed size is checked exactly.
const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;

pub fn router(files: Arc<LocalFiles>) -> Router {
    Router::new()
        .route("/local-files/{*key}", put(accept))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(files)
}

async fn accept(
    State(files): State<Arc<LocalFiles>>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    files.accept(&key, &query, content_type, &body).await?;
    Ok(StatusCode::OK)
}
