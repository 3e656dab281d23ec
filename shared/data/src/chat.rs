//! Buyer–seller chat: conversations (one per customer, seller and subject, made unique by a
//! pair claim written in the same transaction), each party's list entry, and messages. A
//! message, its conversation's `last_message_at`, the sender's rate window and the outbox
//! event that pushes and notifies it are one transaction.

use cy_domain::chat::{Conversation, Message};
use cy_domain::{ConversationId, Error, EventId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::orders::{OutboxEvent, outbox_write};
use crate::port::{Condition, Cursor, Item, Query, QueryItems, Store, StoreError, Update, WriteOp};

#[derive(Serialize, Deserialize)]
struct PairClaim {
    conversation_id: ConversationId,
}

pub async fn get(store: &dyn Store, id: &ConversationId) -> Result<Option<Conversation>, Error> {
    Ok(store.get(&keys::conversation(id)).await?.map(|i| i.record()).transpose()?)
}

/// Opens `conversation`, or answers the one its customer, seller and subject already have.
/// `Ok((conversation, created))`.
pub async fn open(store: &dyn Store, conversation: Conversation) -> Result<(Conversation, bool), Error> {
    let c = &conversation;
    let pair = keys::conversation_pair(&c.customer_id, &c.seller_id, &c.subject.key());
    let ops = vec![
        WriteOp::create(Item::from_record(&pair, &PairClaim { conversation_id: c.id.clone() })?),
        WriteOp::create(Item::from_record(&keys::conversation(&c.id), c)?),
        WriteOp::create(Item::from_record(&keys::user_conversation(&c.customer_id, &c.id), c)?),
        WriteOp::create(Item::from_record(&keys::user_conversation(&c.seller_id, &c.id), c)?),
    ];
    match store.transact(ops).await {
        Ok(()) => Ok((conversation, true)),
        Err(StoreError::ConditionFailed { index: 0 }) => {
            let claim: PairClaim = store.get(&pair).await?.ok_or_else(Error::internal)?.record()?;
            let existing = get(store, &claim.conversation_id).await?.ok_or_else(Error::internal)?;
            Ok((existing, false))
        }
        Err(e) => Err(e.into()),
    }
}

/// The conversations `user` is a party of, newest opened first (each with its latest
/// message's time).
pub async fn list_of(
    store: &dyn QueryItems,
    user: &cy_domain::UserId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Conversation>, Option<Cursor>), Error> {
    let q = Query::table(keys::user_partition(user))
        .begins_with(keys::USER_CONVERSATION_PREFIX)
        .descending()
        .limit(limit)
        .after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// A conversation's messages, newest first.
pub async fn messages(
    store: &dyn QueryItems,
    conversation: &ConversationId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Message>, Option<Cursor>), Error> {
    let q = Query::table(keys::conversation_partition(conversation))
        .begins_with(keys::MESSAGE_PREFIX)
        .descending()
        .limit(limit)
        .after(cursor);
    let page = store.query(&q).await?;
    Ok((page.records()?, page.next))
}

/// Stores `message` and its `chat.message` event (with `claims`: an `Idempotency-Key`'s),
/// unless its sender has posted `per_minute` messages this minute already (429, retry when the
/// minute ends).
pub async fn post(
    store: &dyn Store,
    conversation: &Conversation,
    message: &Message,
    per_minute: u32,
    claims: Vec<WriteOp>,
) -> Result<OutboxEvent, Error> {
    let now = message.created_at.unix();
    let minute = now.div_euclid(60);
    let recipient = conversation.other_party(&message.sender_id).clone();
    let event = OutboxEvent {
        id: EventId::generate(),
        kind: "chat.message".into(),
        order_id: None,
        customer_id: conversation.customer_id.clone(),
        sellers: vec![conversation.seller_id.clone()],
        at: message.created_at,
        data: serde_json::json!({"recipient_id": recipient, "message": message}),
    };
    let window = Update::new(keys::chat_rate_window(&message.sender_id, minute))
        .add("count", 1)
        .set(crate::port::TTL, (minute + 61) * 60)
        .when(Condition::LacksAttr("count".into()).or(Condition::less_than("count", i64::from(per_minute))));
    let at = serde_json::to_value(message.created_at).map_err(|_| Error::internal())?;
    let touch = |key| Update::new(key).set("last_message_at", at.clone()).when(Condition::Exists);
    let mut ops = vec![
        WriteOp::create(Item::from_record(&keys::message(&conversation.id, &message.id), message)?),
        WriteOp::Update(touch(keys::conversation(&conversation.id))),
        WriteOp::Update(window),
        outbox_write(&event)?,
        // Each party's list entry shows the latest message too.
        WriteOp::Update(touch(keys::user_conversation(&conversation.customer_id, &conversation.id))),
        WriteOp::Update(touch(keys::user_conversation(&conversation.seller_id, &conversation.id))),
    ];
    ops.extend(claims);
    match store.transact(ops).await {
        Ok(()) => Ok(event),
        Err(StoreError::ConditionFailed { index: 2 }) => {
            let retry = u32::try_from(60 - now.rem_euclid(60)).unwrap_or(60);
            Err(Error::rate_limited(retry).with_detail("limit_per_minute", u64::from(per_minute)))
        }
        Err(StoreError::ConditionFailed { index: 1 }) => Err(Error::not_found("The conversation")),
        Err(e) => Err(e.into()),
    }
}

pub async fn get_message(
    store: &dyn Store,
    conversation: &ConversationId,
    id: &cy_domain::MessageId,
) -> Result<Option<Message>, Error> {
    Ok(store.get(&keys::message(conversation, id)).await?.map(|i| i.record()).transpose()?)
}
