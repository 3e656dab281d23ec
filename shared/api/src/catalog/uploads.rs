//! `POST /uploads`: a presigned upload URL for anyone signed in.

use axum::extract::State;
use axum::http::StatusCode;
use cy_domain::Error;
use cy_domain::uploads::{UploadPurpose, plan_user_upload};
use cy_files::UploadTicket;
use cy_http::{ApiResult, Caller, Json};
use serde::Deserialize;

use super::*;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadBody {
    #[schema(value_type = cy_domain::uploads::UploadPurpose)]
    purpose: String,
    /// The file's MIME type (the purpose says which are accepted).
    content_type: String,
    /// The exact length in bytes, signed into the URL.
    #[schema(minimum = 1)]
    size: u64,
}

/// A presigned URL to upload a file (artwork for a customisation, …) straight to storage.
#[utoipa::path(post, path = "/uploads", tag = "catalog", request_body = UploadBody, security(("bearer" = [])),
    responses((status = 201, description = "Where and how to PUT the file", body = UploadTicket)))]
pub(super) async fn upload(
    State(catalog): State<Catalog>,
    caller: Caller,
    Json(body): Json<UploadBody>,
) -> ApiResult<(StatusCode, Json<UploadTicket>)> {
    let purpose = UploadPurpose::parse(&body.purpose).map_err(|e| Error::invalid("purpose", e.message))?;
    let plan = plan_user_upload(&caller.user_id, purpose, &body.content_type, body.size)?;
    Ok((StatusCode::CREATED, Json(catalog.files.upload_ticket(&plan).await?)))
}
