//! Audit records for critical operations (sign-ups, revoked logins, role and money changes).
//! An audit record is a [`WriteOp`] so it commits in the same transaction as the change it
//! describes: there is never a change without its record, nor a record of a change that failed.

use cy_domain::{AuditId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys;
use crate::port::{Item, StoreError, WriteOp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: Timestamp,
    /// Who did it; `None` for the system (scheduled jobs, provider webhooks).
    pub actor: Option<UserId>,
    /// What happened, as `area.verb`, e.g. `account.registered`.
    pub action: String,
    /// What it happened to, e.g. a user or order id.
    pub subject: String,
    pub details: Value,
}

impl AuditRecord {
    pub fn new(actor: Option<&UserId>, action: &str, subject: &str, details: Value) -> Self {
        AuditRecord {
            id: AuditId::generate(),
            at: Timestamp::now(),
            actor: actor.cloned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            details,
        }
    }

    /// The write that stores this record, to put in the transaction of the change.
    pub fn write(&self) -> Result<WriteOp, StoreError> {
        let mut item = Item::from_record(&keys::audit(&self.id, self.at), self)?;
        if let Some(actor) = &self.actor {
            item = item.in_index(keys::AUDIT_BY_ACTOR, keys::audit_by_actor_pk(actor), self.id.as_str());
        }
        Ok(WriteOp::create(item))
    }
}
