//! WebSocket connections: who is connected on which connection, so events reach their users'
//! sockets. Two items per connection, written and removed together: the user's entry (a
//! user's connections are one strongly consistent query of their partition) and the
//! connection's own (`$disconnect` names only the connection). Both expire within API
//! Gateway's 2-hour connection limit; `$disconnect` (which API Gateway does not guarantee) and a
//! push answered `410 Gone` remove them sooner.

use cy_domain::{Error, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::port::{Item, Query, QueryItems, Store, WriteOp};

/// API Gateway closes a WebSocket connection after 2 hours at most.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub user_id: UserId,
    pub connected_at: Timestamp,
    /// The role the token carried at connect (records from before roles were kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<cy_domain::Role>,
}

/// Records a connection (both items, one transaction).
pub async fn connect(store: &dyn Store, connection: &Connection) -> Result<(), Error> {
    let expires = connection.connected_at.unix() + CONNECTION_TTL_SECS;
    let ops = vec![
        WriteOp::put(
            Item::from_record(&keys::user_connection(&connection.user_id, &connection.connection_id), connection)?
                .expires_at(expires),
        ),
        WriteOp::put(Item::from_record(&keys::connection(&connection.connection_id), connection)?.expires_at(expires)),
    ];
    Ok(store.transact(ops).await?)
}

/// The connection's record, if it is live (DynamoDB's TTL deletes lazily: an expired record
/// may still be there, and is no connection).
pub async fn get(store: &dyn Store, connection_id: &str, now: Timestamp) -> Result<Option<Connection>, Error> {
    let Some(item) = store.get(&keys::connection(connection_id)).await? else { return Ok(None) };
    let expired = item.get(crate::port::TTL).and_then(serde_json::Value::as_i64).is_some_and(|t| t <= now.unix());
    if expired { Ok(None) } else { Ok(Some(item.record()?)) }
}

/// Forgets a connection (both items); one already forgotten is fine.
pub async fn disconnect(store: &dyn Store, connection_id: &str) -> Result<(), Error> {
    let Some(item) = store.get(&keys::connection(connection_id)).await? else { return Ok(()) };
    let connection: Connection = item.record()?;
    forget(store, &connection.user_id, connection_id).await
}

/// Forgets `user`'s connection (after a push found it gone).
pub async fn forget(store: &dyn Store, user: &UserId, connection_id: &str) -> Result<(), Error> {
    let ops = vec![
        WriteOp::Delete { key: keys::user_connection(user, connection_id), condition: None },
        WriteOp::Delete { key: keys::connection(connection_id), condition: None },
    ];
    Ok(store.transact(ops).await?)
}

/// `user`'s live connections (those not yet expired), read page by page (at most
/// [`MAX_CONNECTIONS_READ`]).
pub async fn of_user(store: &dyn QueryItems, user: &UserId, now: Timestamp) -> Result<Vec<Connection>, Error> {
    let mut live = Vec::new();
    let mut cursor = None;
    loop {
        let q = Query::table(keys::user_partition(user))
            .begins_with(keys::USER_CONNECTION_PREFIX)
            .limit(crate::port::MAX_PAGE)
            .after(cursor);
        let page = store.query(&q).await?;
        for item in &page.items {
            let expired =
                item.get(crate::port::TTL).and_then(serde_json::Value::as_i64).is_some_and(|t| t <= now.unix());
            if !expired {
                live.push(item.record::<Connection>()?);
            }
        }
        match page.next {
            Some(next) if live.len() < MAX_CONNECTIONS_READ => cursor = Some(next),
            _ => return Ok(live),
        }
    }
}

/// The most connections one user's fan-out reads (tabs and devices: far fewer in practice).
pub const MAX_CONNECTIONS_READ: usize = 10_000;
