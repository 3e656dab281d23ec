//! Function `notify-fanout`'s logic: for each event, who is told what, on which channels, at
//! most once per (event, recipient, channel).
//!
//! - `order.created` → each seller of the order; `order.status_changed` → the customer (the
//!   part's status for a part's move, with its tracking once shipped); `chat.message` → the
//!   other party, pushed live to their sockets and notified only when none is connected.
//! - Channels follow the recipient's preferences: in-app (the record, and a `notification`
//!   frame to their sockets when it is new), email, SMS (a verified phone only: an unverified
//!   number may be a stranger's), mobile push to each registered device (one the push service
//!   reports gone is removed).
//! - Every send is claimed first (`cy_data::notifications::claim`). A send that may work later
//!   releases its claim and fails the event, so the queue redelivers it and only the sends not
//!   yet done happen again.

use std::sync::Arc;

use cy_data::notifications::{self as records, Claim};
use cy_data::orders::OutboxEvent;
use cy_data::{Store, accounts};
use cy_domain::notification::Notification;
use cy_domain::{Error, EventId, Money, Timestamp, UserId};
use cy_notify::{Channel, Outgoing, SendError, Sender};
use cy_realtime::frame;
use serde_json::{Value, json};

use super::templates::{self, Words};
use crate::realtime::Realtime;

/// The senders of the channels that leave the platform; `None`: that channel is off here
/// (no provider configured).
#[derive(Clone, Default)]
pub struct Senders {
    pub email: Option<Arc<dyn Sender>>,
    pub sms: Option<Arc<dyn Sender>>,
    pub push: Option<Arc<dyn Sender>>,
}

impl Senders {
    /// Every channel to the local outbox (`GET /dev/outbox`).
    pub fn local(store: Arc<dyn Store>) -> Self {
        let outbox: Arc<dyn Sender> = Arc::new(cy_notify::outbox::OutboxSender { store });
        Senders { email: Some(outbox.clone()), sms: Some(outbox.clone()), push: Some(outbox) }
    }
}

#[derive(Clone)]
pub struct Notifier {
    pub realtime: Realtime,
    pub senders: Senders,
}

/// One recipient's notice of one event.
struct Notice {
    recipient: UserId,
    kind: &'static str,
    context: Value,
    data: Value,
    /// Whether it may go by SMS (never for text another user wrote: SMS costs us per message
    /// and must not relay anyone's words).
    sms: bool,
    /// Mail for many events under one claim (a conversation's hour): at most one such mail.
    email_once_per: Option<String>,
}

impl Notice {
    fn new(recipient: UserId, kind: &'static str, context: Value, data: Value) -> Self {
        Notice { recipient, kind, context, data, sms: true, email_once_per: None }
    }
}

impl Notifier {
    fn store(&self) -> &dyn Store {
        self.realtime.store.as_ref()
    }

    /// Handles one event: live pushes, then each recipient's notifications. An error means
    /// "deliver this event again later" (sends already done are not repeated).
    pub async fn on_event(&self, event: &OutboxEvent) -> Result<(), Error> {
        self.realtime.on_event(event).await?;
        let notices = match event.kind.as_str() {
            "order.created" => order_created(event),
            "order.status_changed" => order_moved(event).into_iter().collect(),
            "order.payment_updated" => order_refunded(event).into_iter().collect(),
            "seller.kyc_decided" => kyc_decided(event).into_iter().collect(),
            "payout.paid" | "payout.failed" => payout_ended(event).into_iter().collect(),
            "chat.message" => self.chat_message(event).await?.into_iter().collect(),
            _ => Vec::new(),
        };
        let mut first_error = None;
        for notice in notices {
            if let Err(e) = self.deliver(event, notice).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Pushes a chat message to the recipient's sockets; a notice when none took it.
    async fn chat_message(&self, event: &OutboxEvent) -> Result<Option<Notice>, Error> {
        let recipient = event.data.get("recipient_id").cloned().map(serde_json::from_value::<UserId>);
        let Some(Ok(recipient)) = recipient else {
            return Err(Error::invalid("data.recipient_id", "a chat event names its recipient"));
        };
        let message = event.data.get("message").cloned().unwrap_or(Value::Null);
        let conversation = message.get("conversation_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let reference = format!("/conversations/{conversation}/messages");
        let live = self.realtime.push_to_user(&recipient, &frame("chat.message", &message, &reference)).await?;
        if live > 0 {
            return Ok(None);
        }
        let body = message.get("body").and_then(Value::as_str).unwrap_or_default();
        let excerpt: String = body.chars().take(140).collect();
        // In-app and push carry the excerpt (to the recipient's own screens); mail says only
        // that there is a message, at most once per conversation an hour, and SMS stays out:
        // a chat must not turn our sender into anyone's relay.
        let hour = event.at.unix().div_euclid(3600);
        Ok(Some(Notice {
            sms: false,
            email_once_per: Some(format!("{conversation}#{hour}")),
            ..Notice::new(
                recipient,
                "chat.message",
                json!({"excerpt": excerpt}),
                json!({"conversation_id": conversation, "message_id": message.get("id")}),
            )
        }))
    }

    async fn deliver(&self, event: &OutboxEvent, notice: Notice) -> Result<(), Error> {
        let Some(user) = accounts::get_user(self.store(), &notice.recipient).await? else {
            return Ok(()); // an account gone since: nobody to tell
        };
        let mut context = notice.context;
        if let Some(map) = context.as_object_mut() {
            map.insert("name".into(), Value::from(user.name.as_str()));
        }
        let Some(words) = templates::render(notice.kind, &context) else { return Ok(()) };
        let prefs = records::preferences(self.store(), &user.id).await?;
        let mut first_error = None;
        if prefs.in_app {
            let note = Notification {
                id: event.id.clone(),
                user_id: user.id.clone(),
                kind: notice.kind.to_owned(),
                title: words.title.clone(),
                body: words.body.clone(),
                data: notice.data.clone(),
                read_at: None,
                created_at: event.at,
            };
            match records::record(self.store(), &note).await {
                Ok(true) => {
                    let shown = super::NotificationView::from(note);
                    let live = frame("notification", &json!(shown), "/me/notifications");
                    self.realtime.push_to_user(&user.id, &live).await.map(drop).unwrap_or_else(|e| {
                        tracing::warn!(error = %e.message, "a notification frame was not pushed");
                    });
                }
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut sends = Vec::new();
        let subject = event.id.to_string();
        if prefs.email
            && let Some(sender) = &self.senders.email
        {
            let to = user.email.to_string();
            let once_per = notice.email_once_per.clone().unwrap_or_else(|| subject.clone());
            sends.push((Channel::Email, once_per, "email".to_owned(), to, sender.clone(), None));
        }
        if prefs.sms
            && notice.sms
            && user.phone_verified
            && let (Some(sender), Some(phone)) = (&self.senders.sms, &user.phone)
        {
            let to = phone.as_str().to_owned();
            sends.push((Channel::Sms, subject.clone(), "sms".to_owned(), to, sender.clone(), None));
        }
        if prefs.push
            && let Some(sender) = &self.senders.push
        {
            for device in records::devices(self.store(), &user.id).await? {
                let claim = format!("push#{}", device.id);
                let to = device.token.as_str().to_owned();
                sends.push((Channel::Push, subject.clone(), claim, to, sender.clone(), Some(device.id)));
            }
        }
        for (channel, subject, claim, to, sender, device) in sends {
            let message = outgoing(channel, to, &words, &user.id, &event.id, &notice.data);
            let send = Send { subject: &subject, user: &user.id, claim: &claim, device: device.as_ref() };
            if let Err(e) = self.once(&send, sender.as_ref(), &message).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// One send under its claim.
    async fn once(&self, send: &Send<'_>, sender: &dyn Sender, message: &Outgoing) -> Result<(), Error> {
        let Send { subject, user, claim, device } = *send;
        let now = Timestamp::now().unix();
        match records::claim(self.store(), subject, user, claim, now).await? {
            Claim::Done => return Ok(()),
            Claim::Busy => return Err(Error::unavailable(records::CLAIM_HOLD_SECS as u32)),
            Claim::Taken => {}
        }
        let outcome = match sender.send(message).await {
            Ok(()) => "sent".to_owned(),
            Err(SendError::Gone) => {
                if let Some(device) = device {
                    records::remove_device(self.store(), user, device).await?;
                    tracing::info!(device = %device, "a device the push service reports gone was removed");
                }
                "gone".to_owned()
            }
            Err(SendError::Rejected(why)) => {
                tracing::warn!(event_id = %message.event_id, channel = claim, %why, "a provider refused a notification");
                format!("rejected: {}", why.chars().take(200).collect::<String>())
            }
            Err(SendError::Failed(why)) => {
                tracing::warn!(event_id = %message.event_id, channel = claim, %why, "a send failed; retried later");
                records::release(self.store(), subject, user, claim).await?;
                return Err(Error::unavailable(5));
            }
        };
        // Sent: marking it done must not be lost to a blip, or the claim's expiry would let a
        // redelivery send it again.
        let mut attempt = 0;
        loop {
            match records::finish(self.store(), subject, user, claim, &outcome, Timestamp::now().unix()).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= 2 => return Err(e),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
            }
        }
    }
}

/// What one send is claimed under: the subject (the event, or a collapse key), its recipient,
/// the claim's channel name (`push#<device>` per device) and the device it goes to.
#[derive(Clone, Copy)]
struct Send<'a> {
    subject: &'a str,
    user: &'a UserId,
    claim: &'a str,
    device: Option<&'a cy_domain::DeviceId>,
}

fn outgoing(channel: Channel, to: String, words: &Words, user: &UserId, event: &EventId, data: &Value) -> Outgoing {
    let (subject, body) = match channel {
        Channel::Email => (Some(words.title.clone()), words.email.clone()),
        Channel::Sms => (None, format!("CustomiseYou: {}", words.body)),
        Channel::Push => (Some(words.title.clone()), words.body.clone()),
    };
    let data = match (channel, data.as_object()) {
        (Channel::Push, Some(map)) => {
            map.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect()
        }
        _ => Default::default(),
    };
    Outgoing { channel, to, subject, body, user_id: user.to_string(), event_id: event.to_string(), data }
}

fn order_created(event: &OutboxEvent) -> Vec<Notice> {
    let Some(order) = &event.order_id else { return Vec::new() };
    let total = event.data.get("total").cloned().and_then(|t| serde_json::from_value::<Money>(t).ok());
    let total = total.map(|t| t.to_string()).unwrap_or_default();
    event
        .sellers
        .iter()
        .map(|seller| {
            let context = json!({"order_id": order, "total": total});
            Notice::new(seller.clone(), "order.created", context, json!({"order_id": order}))
        })
        .collect()
}

/// The customer's notice of a move; `None` for moves they need not hear of.
fn order_moved(event: &OutboxEvent) -> Option<Notice> {
    let order = event.order_id.as_ref()?;
    let part = event.data.get("seller_id").is_some();
    let status = if part { event.data.get("fulfilment_status") } else { event.data.get("status") };
    let headline = match status.and_then(Value::as_str)? {
        "paid" => "Payment received",
        "processing" => "Your order is being prepared",
        "shipped" => "Your order has shipped",
        "delivered" => "Your order was delivered",
        "return_requested" => "Your return was requested",
        "returned" => "Your return was received",
        "cancelled" => "Your order was cancelled",
        "refunded" => "Your order was refunded",
        "payment_failed" => "Your payment did not go through",
        // pending_payment (nothing moved for the customer), completed (the quiet end of a return window)
        _ => return None,
    };
    let tracking = event.data.get("tracking").and_then(|t| {
        let (carrier, number) = (t.get("carrier")?.as_str()?, t.get("number")?.as_str()?);
        Some(match t.get("url").and_then(Value::as_str) {
            Some(url) => format!("{carrier} {number} ({url})"),
            None => format!("{carrier} {number}"),
        })
    });
    Some(Notice::new(
        event.customer_id.clone(),
        "order.status_changed",
        json!({"order_id": order, "headline": headline, "tracking": tracking}),
        json!({"order_id": order, "status": status}),
    ))
}

/// The seller's notice of a payout paid, or failed (its earnings wait for the next run).
fn payout_ended(event: &OutboxEvent) -> Option<Notice> {
    let seller = event.sellers.first()?.clone();
    let amount: Money = serde_json::from_value(event.data.get("amount")?.clone()).ok()?;
    let kind = if event.kind == "payout.paid" { "payout.paid" } else { "payout.failed" };
    Some(Notice::new(
        seller,
        kind,
        json!({"amount": amount.to_string(), "period": event.data.get("period")}),
        json!({"payout_id": event.data.get("payout_id")}),
    ))
}

/// The seller's notice of an admin's decision on their verification.
fn kyc_decided(event: &OutboxEvent) -> Option<Notice> {
    let seller = event.sellers.first()?.clone();
    let approved = event.data.get("status").and_then(Value::as_str)? == "approved";
    let reason = event.data.get("reason").and_then(Value::as_str).unwrap_or_default();
    Some(Notice::new(
        seller,
        "seller.kyc_decided",
        json!({"approved": approved, "reason": reason}),
        json!({"status": event.data.get("status")}),
    ))
}

/// The customer's notice of refunds recorded without a move (a partial refund: some units, a
/// part's shipping); `None` when the change recorded none.
fn order_refunded(event: &OutboxEvent) -> Option<Notice> {
    let order = event.order_id.as_ref()?;
    let refunds = event.data.get("refunds").and_then(Value::as_array)?;
    let amounts: Vec<Money> =
        refunds.iter().filter_map(|r| serde_json::from_value(r.get("amount")?.clone()).ok()).collect();
    let first = amounts.first()?;
    let total = amounts.iter().try_fold(0i64, |sum, m| {
        (m.currency == first.currency).then_some(())?;
        sum.checked_add(m.amount)
    })?;
    let total = Money { amount: total, currency: first.currency };
    Some(Notice::new(
        event.customer_id.clone(),
        "order.refunded",
        json!({"order_id": order, "amount": total.to_string()}),
        json!({"order_id": order, "amount": total}),
    ))
}
