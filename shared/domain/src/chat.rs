//! Buyer–seller chat: a conversation between one customer and one seller about a subject (a
//! product, an order, or nothing in particular), and its messages.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, Error, MessageId, OrderId, ProductId, Role, Timestamp, UserId};

/// A message's text: 1–2000 characters after trimming; line breaks and tabs are fine, other
/// control characters are not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > Self::MAX_CHARS {
            return Err(Error::invalid("body", "must be 1–2000 characters"));
        }
        if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(Error::invalid("body", "must not contain control characters"));
        }
        Ok(MessageBody(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageBody {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.message)
    }
}

impl From<MessageBody> for String {
    fn from(b: MessageBody) -> String {
        b.0
    }
}

/// What a conversation is about; the same customer, seller and subject make the same
/// conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
}

impl Subject {
    /// The subject as a key part: `-` for none.
    pub fn key(&self) -> String {
        let part = |id: Option<&str>| id.unwrap_or("-").to_owned();
        format!(
            "{}#{}",
            part(self.product_id.as_ref().map(ProductId::as_str)),
            part(self.order_id.as_ref().map(OrderId::as_str))
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub customer_id: UserId,
    pub seller_id: UserId,
    #[serde(flatten)]
    pub subject: Subject,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_at: Option<Timestamp>,
}

impl Conversation {
    /// The two parties read and post; admins read (and do not post: they speak for neither).
    pub fn may_read(&self, user: &UserId, role: Role) -> bool {
        role == Role::Admin || self.is_party(user)
    }

    pub fn is_party(&self, user: &UserId) -> bool {
        *user == self.customer_id || *user == self.seller_id
    }

    /// The party a message from `sender` is for (the customer for an admin's message).
    pub fn other_party(&self, sender: &UserId) -> &UserId {
        if *sender == self.customer_id { &self.seller_id } else { &self.customer_id }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub body: MessageBody,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bodies_are_bounded_and_keep_line_breaks() {
        assert_eq!(MessageBody::parse("  hi\nthere ").unwrap().as_str(), "hi\nthere");
        assert!(MessageBody::parse("   ").is_err());
        assert!(MessageBody::parse(&"é".repeat(2000)).is_ok());
        assert!(MessageBody::parse(&"é".repeat(2001)).is_err());
        assert!(MessageBody::parse("bell\u{7}").is_err());
    }

    #[test]
    fn subjects_key_the_same_pair_apart() {
        let none = Subject { product_id: None, order_id: None };
        let product = Subject { product_id: Some(ProductId::generate()), order_id: None };
        assert_eq!(none.key(), "-#-");
        assert_ne!(none.key(), product.key());
    }

    #[test]
    fn only_the_parties_and_admins_read() {
        let c = Conversation {
            id: ConversationId::generate(),
            customer_id: UserId::generate(),
            seller_id: UserId::generate(),
            subject: Subject { product_id: None, order_id: None },
            created_at: Timestamp::now(),
            last_message_at: None,
        };
        let stranger = UserId::generate();
        assert!(c.may_read(&c.customer_id, Role::Customer));
        assert!(c.may_read(&c.seller_id, Role::Seller));
        assert!(!c.may_read(&stranger, Role::Seller));
        assert!(c.may_read(&stranger, Role::Admin));
        assert_eq!(c.other_party(&c.customer_id), &c.seller_id);
    }
}
