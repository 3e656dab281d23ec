//! Buyer–seller chat (function `chat`, and `chat.send` / `chat.typing` over the WebSocket).
//! A customer opens a conversation with a seller, about a product of theirs, an order they
//! share, or nothing in particular; the two parties post; admins read. A message is stored
//! with its `chat.message` event in one transaction; the fan-out pushes it to the other
//! party's sockets and notifies them when none is connected.

pub mod routes;

use std::sync::Arc;

use cy_data::chat as records;
use cy_data::{Cursor, Store, accounts, catalog, orders};
use cy_domain::chat::{Conversation, Message, MessageBody, Subject};
use cy_domain::{ConversationId, Error, MessageId, OrderId, ProductId, Role, Timestamp, UserId};

use crate::idempotency::{Keyed, create_once, replay_earlier};

/// How many messages one user may post per minute (`CHAT_MESSAGES_PER_MINUTE`): enough for a
/// brisk conversation, too few for a spam run.
pub const DEFAULT_MESSAGES_PER_MINUTE: u32 = 20;

#[derive(Clone)]
pub struct Chat {
    pub store: Arc<dyn Store>,
    pub messages_per_minute: u32,
}

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Asker {
    pub user: UserId,
    pub role: Role,
}

impl Chat {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let per_minute = std::env::var("CHAT_MESSAGES_PER_MINUTE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MESSAGES_PER_MINUTE);
        Chat { store, messages_per_minute: per_minute }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A customer opens a conversation with a seller (the existing one for the same seller and
    /// subject). `Ok((conversation, created))`.
    pub async fn open(
        &self,
        asker: &Asker,
        seller: &str,
        product: Option<&str>,
        order: Option<&str>,
    ) -> Result<(Conversation, bool), Error> {
        if asker.role != Role::Customer {
            return Err(Error::forbidden("Customers open conversations with sellers."));
        }
        let seller = UserId::parse(seller).map_err(|_| Error::invalid("seller_id", "is not a seller"))?;
        match accounts::get_user(self.store(), &seller).await? {
            Some(user) if user.role == Role::Seller => {}
            _ => return Err(Error::invalid("seller_id", "is not a seller")),
        }
        let product = match product {
            Some(raw) => {
                let id = ProductId::parse(raw).map_err(|_| Error::invalid("product_id", "is not a product"))?;
                match catalog::get_product(self.store(), &id).await? {
                    Some(p) if p.seller_id == seller => Some(id),
                    _ => return Err(Error::invalid("product_id", "is not a product of this seller")),
                }
            }
            None => None,
        };
        let order = match order {
            Some(raw) => {
                let id = OrderId::parse(raw).map_err(|_| Error::invalid("order_id", "is not an order"))?;
                match orders::get_order(self.store(), &id).await? {
                    Some(o) if o.customer_id == asker.user && o.sellers().contains(&seller) => Some(id),
                    _ => return Err(Error::invalid("order_id", "is not an order of yours with this seller")),
                }
            }
            None => None,
        };
        let conversation = Conversation {
            id: ConversationId::generate(),
            customer_id: asker.user.clone(),
            seller_id: seller,
            subject: Subject { product_id: product, order_id: order },
            created_at: Timestamp::now(),
            last_message_at: None,
        };
        records::open(self.store(), conversation).await
    }

    pub async fn list(
        &self,
        asker: &Asker,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Conversation>, Option<Cursor>), Error> {
        records::list_of(self.store(), &asker.user, limit, cursor).await
    }

    /// The conversation, if `asker` may read it; 404 otherwise (a stranger learns nothing,
    /// not even that it exists).
    pub async fn readable(&self, asker: &Asker, id: &str) -> Result<Conversation, Error> {
        let id = ConversationId::parse(id)?;
        match records::get(self.store(), &id).await? {
            Some(c) if c.may_read(&asker.user, asker.role) => Ok(c),
            _ => Err(Error::not_found("The conversation")),
        }
    }

    pub async fn messages(
        &self,
        asker: &Asker,
        id: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), Error> {
        let conversation = self.readable(asker, id).await?;
        records::messages(self.store(), &conversation.id, limit, cursor).await
    }

    /// Posts a message (the two parties only; an admin reads but does not speak for either).
    pub(crate) async fn post(
        &self,
        asker: &Asker,
        id: &str,
        body: MessageBody,
        keyed: Option<&Keyed>,
    ) -> Result<Message, Error> {
        let conversation = self.readable(asker, id).await?;
        if !conversation.is_party(&asker.user) {
            return Err(Error::forbidden("Only the customer and the seller post in a conversation."));
        }
        let store = self.store();
        let user = &asker.user;
        let replay = |created: String| async move {
            let (cid, mid) = created.split_once('/').ok_or_else(Error::internal)?;
            let (cid, mid) = (ConversationId::parse(cid)?, MessageId::parse(mid)?);
            records::get_message(store, &cid, &mid).await?.ok_or_else(|| Error::not_found("The message"))
        };
        if let Some(earlier) = replay_earlier(keyed, store, user, replay).await? {
            return Ok(earlier);
        }
        let message = Message {
            id: MessageId::generate(),
            conversation_id: conversation.id.clone(),
            sender_id: asker.user.clone(),
            body,
            created_at: Timestamp::now(),
        };
        let created = format!("{}/{}", conversation.id, message.id);
        let per_minute = self.messages_per_minute;
        create_once(
            keyed,
            store,
            user,
            &created,
            &message,
            |claims| async {
                records::post(store, &conversation, &message, per_minute, claims).await.map(|_| message.clone())
            },
            replay,
        )
        .await
    }

    /// `chat.typing`: the party to tell (typing is relayed, never stored).
    pub async fn typing_to(&self, asker: &Asker, id: &str) -> Result<UserId, Error> {
        let conversation = self.readable(asker, id).await?;
        if !conversation.is_party(&asker.user) {
            return Err(Error::forbidden("Only the customer and the seller post in a conversation."));
        }
        Ok(conversation.other_party(&asker.user).clone())
    }
}
