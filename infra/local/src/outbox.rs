//! `GET /dev/outbox` (local only): the mail, SMS and push the local senders kept instead of
//! sending, newest first, paged like every list. Filters `?to=`, `?channel=`, `?user_id=`
//! narrow a page to what a test or a developer looks for.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use cy_data::Store;
use cy_data::dev_outbox::{self, OutboxMessage};
use cy_http::{ApiResult, Json, Listed, Query};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    limit: Option<String>,
    cursor: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    user_id: Option<String>,
}

pub fn router(store: Arc<dyn Store>) -> Router {
    Router::new().route("/dev/outbox", get(list)).with_state(store)
}

async fn list(State(store): State<Arc<dyn Store>>, Query(q): Query<OutboxQuery>) -> ApiResult<Json<Listed<Value>>> {
    let paging = cy_http::Paging { limit: q.limit, cursor: q.cursor.clone() };
    let (limit, mut cursor) = (paging.limit()?, paging.cursor()?);
    let wanted = |m: &OutboxMessage| {
        q.to.as_ref().is_none_or(|to| *to == m.to)
            && q.channel.as_ref().is_none_or(|c| *c == m.channel)
            && q.user_id.as_ref().is_none_or(|u| *u == m.user_id)
    };
    // Filters apply before the page is cut: read on until the page is full or the outbox ends
    // (a local, bounded list: no index for a filter is worth it).
    let mut items = Vec::new();
    loop {
        let (page, next) = dev_outbox::list(store.as_ref(), limit, cursor).await?;
        items.extend(page.into_iter().filter(wanted).map(|m| serde_json::json!(m)));
        cursor = next;
        if items.len() >= limit as usize || cursor.is_none() {
            break;
        }
    }
    // A page that overshot ends at its limit; the next one resumes after the last kept item.
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        let last = items.last().and_then(|m| m["id"].as_str()).map(str::to_owned);
        match last {
            Some(id) => Some(dev_outbox::cursor_after(&id)?),
            None => None,
        }
    } else {
        cursor
    };
    Ok(Json(Listed::new(items, next)))
}
