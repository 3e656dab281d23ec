//! `/me/notifications`, `/me/notification-preferences` and `/me/devices` (function `users`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cy_domain::notification::{Platform, Preferences, PushToken};
use cy_http::JwtKeys;
use cy_http::auth::SIGNED_IN;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, Listed, Paging, Query, require_roles};
use serde::Deserialize;
use std::sync::Arc;

use super::{DeviceView, NotificationView, Notifications};

/// The routes' state: the service, and the keys that verify callers' tokens.
#[derive(Clone)]
struct Served {
    service: Notifications,
    keys: Arc<JwtKeys>,
}

impl axum::extract::FromRef<Served> for Arc<JwtKeys> {
    fn from_ref(s: &Served) -> Self {
        s.keys.clone()
    }
}

/// These operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_notifications, read_notification, get_preferences, put_preferences, add_device, remove_device))]
pub struct Api;

pub fn router(notifications: Notifications, keys: Arc<JwtKeys>) -> Router {
    routes(notifications, keys).into_router()
}

pub fn routes(notifications: Notifications, keys: Arc<JwtKeys>) -> Routes {
    route!(
        Routes::new(),
        list_notifications,
        read_notification,
        get_preferences,
        put_preferences,
        add_device,
        remove_device
    )
    .route_layer(require_roles(keys.clone(), SIGNED_IN))
    .with_state(Served { service: notifications, keys })
}

/// The caller's in-app notifications, newest first.
#[utoipa::path(get, path = "/me/notifications", tag = "notifications", params(Paging), security(("bearer" = [])),
    responses((status = 200, description = "A page of notifications", body = Listed<NotificationView>)))]
async fn list_notifications(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Listed<NotificationView>>> {
    let (items, next) = n.list(&caller.user_id, paging.limit()?, paging.cursor()?).await?;
    Ok(Json(Listed::new(items, next)))
}

/// Marks a notification read (again is fine: `read_at` keeps the first reading).
#[utoipa::path(post, path = "/me/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "The notification id")),
    responses((status = 200, description = "The notification, read", body = NotificationView),
        (status = 404, description = "No such notification of the caller's", body = ErrorBody)))]
async fn read_notification(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    Ok(Json(n.mark_read(&caller.user_id, &id).await?))
}

/// The caller's channel choices (all on until changed; OTP codes and security mail ignore them).
#[utoipa::path(get, path = "/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "The preferences", body = Preferences)))]
async fn get_preferences(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(n.preferences(&caller.user_id).await?))
}

/// Replaces the caller's channel choices (all four booleans).
#[utoipa::path(put, path = "/me/notification-preferences", tag = "notifications", request_body = Preferences,
    security(("bearer" = [])), responses((status = 200, description = "The preferences", body = Preferences)))]
async fn put_preferences(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
    Json(prefs): Json<Preferences>,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(n.set_preferences(&caller.user_id, prefs).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    platform: Platform,
    /// The push service's registration token.
    #[schema(min_length = 1, max_length = 4096)]
    token: String,
}

/// Registers a device for mobile push. A token already registered answers its registration
/// (so a retry, with or without `Idempotency-Key`, creates nothing twice).
#[utoipa::path(post, path = "/me/devices", tag = "notifications", request_body = DeviceBody, security(("bearer" = [])),
    responses((status = 201, description = "The registration", body = DeviceView),
        (status = 409, description = "`already_exists`: the device limit is reached", body = ErrorBody)))]
async fn add_device(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
    Json(body): Json<DeviceBody>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let token = PushToken::parse(&body.token)?;
    let (device, _) = n.register_device(&caller.user_id, body.platform, token).await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// Removes a device registration of the caller's.
#[utoipa::path(delete, path = "/me/devices/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "The device id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such device", body = ErrorBody)))]
async fn remove_device(
    State(Served { service: n, .. }): State<Served>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    n.remove_device(&caller.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
