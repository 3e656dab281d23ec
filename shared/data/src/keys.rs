//! Every key and index pattern of the single table. Handlers and repositories build keys only
//! through these functions, so the layout documented in docs/ARCHITECTURE.md is the layout in
//! the code.
//!
//! | entity            | PK                   | SK                  | GSI1PK / GSI1SK           |
//! |-------------------|----------------------|---------------------|---------------------------|
//! | user              | `USER#<user>`        | `PROFILE`           | `ROLE#<role>` / `<user>`  |
//! | email claim       | `EMAIL#<lower email>`| `EMAIL`             |                           |
//! | login (session)   | `USER#<user>`        | `SESSION#<session>` |                           |
//! | refresh token     | `REFRESH#<sha256>`   | `REFRESH`           |                           |
//! | address           | `USER#<user>`        | `ADDRESS#<address>` |                           |
//! | audit record      | `AUDIT#<yyyy-mm-dd>` | `<audit id>`        | `ACTOR#<user>` / `<audit>`|
//! | category          | `CATEGORY`           | `<slug>`            |                           |

use cy_domain::{AddressId, AuditId, Email, Role, SessionId, Timestamp, UserId};

use crate::port::{Index, Key};

pub const PROFILE: &str = "PROFILE";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const ADDRESS_PREFIX: &str = "ADDRESS#";

/// The partition holding a user's profile, logins and address book, so "everything of one
/// user" is one query.
pub fn user_partition(id: &UserId) -> String {
    format!("USER#{id}")
}

pub fn user(id: &UserId) -> Key {
    Key::new(user_partition(id), PROFILE)
}

/// Users listed by role, newest last (ids sort by creation): the admin's user lists.
pub const USERS_BY_ROLE: Index = Index::Gsi1;

pub fn users_by_role_pk(role: Role) -> String {
    format!("ROLE#{}", role.as_str())
}

/// The claim on an email address: exists while an account uses it. Creating it with
/// "must not exist" in the same transaction as the user makes emails unique.
pub fn email_claim(email: &Email) -> Key {
    Key::new(format!("EMAIL#{}", email.normalized()), "EMAIL")
}

pub fn session(user: &UserId, session: &SessionId) -> Key {
    Key::new(user_partition(user), format!("{SESSION_PREFIX}{session}"))
}

/// A refresh token, found by the SHA-256 of the token (hex): the token itself is never stored.
pub fn refresh_token(token_sha256_hex: &str) -> Key {
    Key::new(format!("REFRESH#{token_sha256_hex}"), "REFRESH")
}

pub fn address(user: &UserId, address: &AddressId) -> Key {
    Key::new(user_partition(user), format!("{ADDRESS_PREFIX}{address}"))
}

/// Audit records are partitioned by day (bounded partitions, easy export of a day) and listed
/// per actor through GSI1.
pub fn audit(id: &AuditId, at: Timestamp) -> Key {
    let day = at.rfc3339().get(..10).unwrap_or("unknown").to_owned();
    Key::new(format!("AUDIT#{day}"), id.as_str())
}

pub const AUDIT_BY_ACTOR: Index = Index::Gsi1;

pub fn audit_by_actor_pk(actor: &UserId) -> String {
    format!("ACTOR#{actor}")
}

/// All categories share one partition: the whole tree is one query (it is small and read
/// often; the catalog caches it).
pub const CATEGORIES_PARTITION: &str = "CATEGORY";

pub fn category(slug: &str) -> Key {
    Key::new(CATEGORIES_PARTITION, slug)
}
