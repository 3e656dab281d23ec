//! The money side of orders in storage: which order a provider's payment belongs to, applying
//! a verified provider event exactly once, refunds asked for and not yet taken, and the events
//! refused for admins to look at.
//!
//! Exactly once: each event is applied in ONE transaction that also creates its claim
//! (`PEVT#<provider>#<event id>`, create-if-absent). A second delivery — later, or at the same
//! moment — fails on the claim and changes nothing; a delivery racing another change of the
//! same order fails on the order's version, re-reads and decides again.

use cy_domain::order::{Actor, Order};
use cy_domain::payment::{Payment, PaymentProvider, ProviderEvent, ProviderEventKind, RefundState};
use cy_domain::settlement::{Decision, PaymentChange, decide};
use cy_domain::{Error, FlagId, OrderId, RefundId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::orders::{Committed, OrderChange, commit_change, get_order};
use crate::port::{Condition, Cursor, Item, Page, Query, QueryItems, Store, Update, WriteOp};

/// How long a provider event's claim is kept: providers retry for days (Stripe up to 3,
/// Razorpay 1, PayPal 3); a month is far beyond any redelivery.
pub const EVENT_CLAIM_TTL_SECS: i64 = 30 * 24 * 3600;

/// The claim of a provider event: what it did, for support.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventClaim {
    pub provider: PaymentProvider,
    pub event_id: String,
    pub event_type: String,
    pub order_id: Option<OrderId>,
    pub outcome: String,
    pub at: Timestamp,
}

/// A provider event refused, or applied but needing a person (a refund that failed), kept for
/// admins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentFlag {
    pub id: FlagId,
    pub provider: PaymentProvider,
    pub event_id: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub reason: String,
    /// The refused event; absent for a refund the provider refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<ProviderEvent>,
    pub at: Timestamp,
}

impl PaymentFlag {
    /// A flag about `event`.
    fn of_event(event: &ProviderEvent, order: Option<&OrderId>, reason: String, now: Timestamp) -> PaymentFlag {
        PaymentFlag {
            id: FlagId::generate(),
            provider: event.provider,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            order_id: order.cloned(),
            reason,
            event: Some(event.clone()),
            at: now,
        }
    }

    fn write(&self) -> Result<WriteOp, Error> {
        Ok(WriteOp::create(Item::from_record(&keys::payment_flag(&self.id), self)?))
    }
}

/// A refund recorded but not yet taken by its provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundDue {
    pub order_id: OrderId,
    pub refund_id: RefundId,
}

/// What applying an event did.
#[derive(Clone, Debug, PartialEq)]
pub enum EventOutcome {
    /// Seen before: nothing changed.
    Duplicate,
    /// The order changed (status and/or payment); `capture` asks for a PayPal capture.
    Applied { order: Order, capture: bool },
    /// Refused and flagged for admins.
    Flagged { flag: FlagId, order: Option<Order> },
    /// Nothing to change (stale, repeated in substance, or an event type we ignore).
    Nothing { reason: String, order: Option<Order> },
}

impl EventOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Applied { .. } => "applied",
            EventOutcome::Flagged { .. } => "flagged",
            EventOutcome::Nothing { .. } => "ignored",
        }
    }

    pub fn order(&self) -> Option<&Order> {
        match self {
            EventOutcome::Applied { order, .. } => Some(order),
            EventOutcome::Flagged { order, .. } | EventOutcome::Nothing { order, .. } => order.as_ref(),
            EventOutcome::Duplicate => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct PaymentRef {
    order_id: OrderId,
}

fn ref_write(provider: PaymentProvider, id: &str, order: &OrderId) -> Result<WriteOp, Error> {
    Ok(WriteOp::put(Item::from_record(&keys::payment_ref(provider, id), &PaymentRef { order_id: order.clone() })?))
}

/// Records the reference of the payment just opened for `order` (and which order that
/// reference belongs to), unless a payment is recorded already, with `also(order as recorded)`
/// in the same transaction (the first answer kept on the order's idempotency claim). Returns
/// the order as stored, and whether this call recorded it.
pub async fn record_payment_reference(
    store: &dyn Store,
    order: &Order,
    reference: &str,
    also: &(dyn Fn(&Order) -> Result<Vec<WriteOp>, Error> + Sync),
) -> Result<(Order, bool), Error> {
    let mut current = order.clone();
    for _ in 0..5 {
        if current.payment.is_some() {
            return Ok((current, false));
        }
        let payment = Payment::opened(reference.to_owned(), current.total.currency);
        let update = Update::new(keys::order(&current.id))
            .set("payment", serde_json::to_value(&payment).map_err(|_| Error::internal())?)
            .set("version", current.version + 1)
            .when(Condition::equals("version", current.version).and(Condition::LacksAttr("payment".into())));
        let mut recorded = current.clone();
        recorded.payment = Some(payment);
        recorded.version += 1;
        let mut ops = vec![WriteOp::Update(update), ref_write(current.payment_provider, reference, &current.id)?];
        ops.extend(also(&recorded)?);
        match store.transact(ops).await {
            Ok(()) => return Ok((recorded, true)),
            Err(e) if e.failed_op() == Some(0) => {
                current = get_order(store, &current.id).await?.ok_or_else(Error::internal)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::unavailable(1))
}

/// The order an event is about: through the order id we attached to the payment (one read),
/// else through the reference or the payment id we recorded. `None` if it is none of ours.
pub async fn order_for_event(store: &dyn Store, event: &ProviderEvent) -> Result<Option<Order>, Error> {
    if let Some(id) = &event.lookup.order_id
        && let Some(order) = get_order(store, id).await?
    {
        return Ok(Some(order));
    }
    for id in [&event.lookup.reference, &event.lookup.payment_id].into_iter().flatten() {
        if let Some(order) = order_by_payment_ref(store, event.provider, id).await? {
            return Ok(Some(order));
        }
    }
    Ok(None)
}

/// The order a provider's reference or payment id belongs to, if we recorded it.
pub async fn order_by_payment_ref(
    store: &dyn Store,
    provider: PaymentProvider,
    id: &str,
) -> Result<Option<Order>, Error> {
    match store.get(&keys::payment_ref(provider, id)).await? {
        Some(item) => get_order(store, &item.record::<PaymentRef>()?.order_id).await,
        None => Ok(None),
    }
}

fn claim_write(
    event: &ProviderEvent,
    order: Option<&OrderId>,
    outcome: &str,
    now: Timestamp,
) -> Result<WriteOp, Error> {
    let claim = EventClaim {
        provider: event.provider,
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        order_id: order.cloned(),
        outcome: outcome.to_owned(),
        at: now,
    };
    let key = keys::provider_event(event.provider, &event.event_id);
    Ok(WriteOp::create(Item::from_record(&key, &claim)?.expires_at(now.unix() + EVENT_CLAIM_TTL_SECS)))
}

fn due_write(order: &OrderId, refund: &RefundId) -> Result<WriteOp, Error> {
    let due = RefundDue { order_id: order.clone(), refund_id: refund.clone() };
    Ok(WriteOp::put(Item::from_record(&keys::refund_due(refund), &due)?))
}

/// Refunds in `after` that `before` did not have: each gets a "due" entry in the same
/// transaction, so it is sent even if we crash right after committing.
fn new_refunds_due(before: &Order, after: &Payment) -> Result<Vec<WriteOp>, Error> {
    let known = |id: &RefundId| before.payment.as_ref().is_some_and(|p| p.refunds.iter().any(|r| &r.id == id));
    after
        .refunds
        .iter()
        .filter(|r| r.state == RefundState::Requested && !known(&r.id))
        .map(|r| due_write(&before.id, &r.id))
        .collect()
}

/// Applies a verified provider event exactly once (see the module's doc).
pub async fn apply_provider_event(store: &dyn Store, event: &ProviderEvent) -> Result<EventOutcome, Error> {
    if event.kind == ProviderEventKind::Ignored {
        // Acknowledged without a trace: nothing to apply, nothing to dedupe.
        let reason = format!("{} is not an event we act on", event.event_type);
        return Ok(EventOutcome::Nothing { reason, order: None });
    }
    for _ in 0..8 {
        let now = Timestamp::now();
        let Some(order) = order_for_event(store, event).await? else {
            let reason = "no order of ours has this payment".to_owned();
            return flag(store, event, None, reason, now).await;
        };
        let decision = decide(&order, event, now)?;
        let change = match decision {
            Decision::Nothing(reason) => {
                return match store.transact(vec![claim_write(event, Some(&order.id), "ignored", now)?]).await {
                    Ok(()) => Ok(EventOutcome::Nothing { reason, order: Some(order) }),
                    Err(e) if e.failed_op() == Some(0) => Ok(EventOutcome::Duplicate),
                    Err(e) => Err(e.into()),
                };
            }
            Decision::Flag(reason) => return flag(store, event, Some(order), reason, now).await,
            Decision::Apply(change) => *change,
        };
        let PaymentChange { to, payment, note, capture, flag } = change;
        let mut after_ops = new_refunds_due(&order, &payment)?;
        if let Some(reason) = flag {
            let record = PaymentFlag::of_event(event, Some(&order.id), reason, now);
            after_ops.push(record.write()?);
        }
        let newly_collected = payment.payment_id.as_ref().filter(|id| {
            **id != payment.reference && order.payment.as_ref().and_then(|p| p.payment_id.as_ref()) != Some(*id)
        });
        if let Some(id) = newly_collected {
            after_ops.push(ref_write(event.provider, id, &order.id)?);
        }
        if order.payment.is_none() && !payment.reference.is_empty() {
            after_ops.push(ref_write(event.provider, &payment.reference, &order.id)?);
        }
        let mut after = order.clone();
        after.payment = Some(payment);
        if let Some(to) = to {
            // `decide` checked the move against the order's status; parts that cannot make it
            // (a completed part when the rest is refunded) stay.
            if let Err(e) = after.move_whole(to, Actor::System, now) {
                tracing::info!(order_id = %order.id, to = to.as_str(), reason = %e.message, "no part of the order moves");
            }
        }
        let mut change = OrderChange::new(after, Actor::System, None, Some(note));
        change.before_ops = vec![claim_write(event, Some(&order.id), "applied", now)?];
        change.after_ops = after_ops;
        match commit_change(store, &order, change).await? {
            Committed::Done(order) => return Ok(EventOutcome::Applied { order: *order, capture }),
            Committed::OtherOp(0) => return Ok(EventOutcome::Duplicate),
            Committed::OtherOp(_) => return Err(Error::internal()),
            Committed::Moved => continue,
        }
    }
    // Other changes of this order kept winning: the provider will deliver again.
    Err(Error::unavailable(5))
}

/// Refuses `event` and flags it for admins, once (its claim is written with the flag).
pub async fn flag(
    store: &dyn Store,
    event: &ProviderEvent,
    order: Option<Order>,
    reason: String,
    now: Timestamp,
) -> Result<EventOutcome, Error> {
    tracing::warn!(provider = ?event.provider, event_id = %event.event_id, %reason, "payment event refused and flagged");
    let record = PaymentFlag::of_event(event, order.as_ref().map(|o| &o.id), reason, now);
    let ops = vec![claim_write(event, record.order_id.as_ref(), "flagged", now)?, record.write()?];
    match store.transact(ops).await {
        Ok(()) => Ok(EventOutcome::Flagged { flag: record.id, order }),
        Err(e) if e.failed_op() == Some(0) => Ok(EventOutcome::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Records a refund asked for by a person (`change.after.payment` holds it, as
/// [`cy_domain::settlement::plan_refund`] made it) with its "due" entry, and `change.before_ops`
/// (an idempotency claim) in the same transaction.
pub async fn request_refund(store: &dyn Store, before: &Order, change: OrderChange) -> Result<Committed, Error> {
    let mut change = change;
    if let Some(payment) = &change.after.payment {
        change.after_ops.extend(new_refunds_due(before, payment)?);
    }
    commit_change(store, before, change).await
}

/// Notes what the provider said to a refund request: taken (`Ok(provider refund id)`) or
/// refused for good (`Err(reason)`); either way it is no longer due. Returns the order.
pub async fn settle_refund_request(
    store: &dyn Store,
    order_id: &OrderId,
    refund_id: &RefundId,
    answer: Result<String, String>,
) -> Result<Option<Order>, Error> {
    for _ in 0..8 {
        let Some(order) = get_order(store, order_id).await? else { return Ok(None) };
        let mut payment = order.payment.clone().ok_or_else(Error::internal)?;
        let Some(refund) = payment.refunds.iter_mut().find(|r| &r.id == refund_id) else {
            store.delete(&keys::refund_due(refund_id), None).await?;
            return Ok(Some(order));
        };
        // Only a refund still waiting for the provider's answer takes it (a retry may bring the
        // same answer twice; a fast webhook may have confirmed it already).
        if refund.state != RefundState::Requested {
            store.delete(&keys::refund_due(refund_id), None).await?;
            return Ok(Some(order));
        }
        let note = match &answer {
            Ok(provider_refund_id) => {
                refund.provider_refund_id = Some(provider_refund_id.clone());
                refund.state = RefundState::Submitted;
                format!(
                    "refund {} of {} {} sent to the provider",
                    refund.id,
                    refund.amount.to_decimal_string(),
                    refund.amount.currency
                )
            }
            Err(reason) => {
                refund.state = RefundState::Failed;
                format!("the provider refused refund {}: {reason}", refund.id)
            }
        };
        let mut after_ops = vec![WriteOp::Delete { key: keys::refund_due(refund_id), condition: None }];
        if answer.is_err() {
            // Money the customer is owed did not go back: an admin must look at it.
            let record = PaymentFlag {
                id: FlagId::generate(),
                provider: order.payment_provider,
                event_id: format!("refund:{refund_id}"),
                event_type: "refund refused".to_owned(),
                order_id: Some(order.id.clone()),
                reason: note.clone(),
                event: None,
                at: Timestamp::now(),
            };
            after_ops.push(record.write()?);
        }
        let mut after = order.clone();
        after.payment = Some(payment);
        let mut change = OrderChange::new(after, Actor::System, None, Some(note));
        change.after_ops = after_ops;
        match commit_change(store, &order, change).await? {
            Committed::Done(order) => return Ok(Some(*order)),
            Committed::Moved => continue,
            Committed::OtherOp(_) => return Err(Error::internal()),
        }
    }
    Err(Error::unavailable(1))
}

/// How long a transmission id is remembered: well past the tolerance its time is checked
/// against, after which a replay is refused as stale anyway.
pub const TRANSMISSION_CLAIM_TTL_SECS: i64 = 3600;

/// Claims a delivery's transmission id (PayPal `PAYPAL-TRANSMISSION-ID`): `false` if it was
/// claimed before (a replay of the very same transmission).
pub async fn claim_transmission(
    store: &dyn Store,
    provider: PaymentProvider,
    transmission_id: &str,
    now: Timestamp,
) -> Result<bool, Error> {
    let item = Item::new(&keys::transmission(provider, transmission_id))
        .with("at", serde_json::to_value(now).map_err(|_| Error::internal())?)
        .expires_at(now.unix() + TRANSMISSION_CLAIM_TTL_SECS);
    match store.put(item, Some(Condition::Absent)).await {
        Ok(()) => Ok(true),
        Err(e) if e.failed_op().is_some() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Forgets a transmission claimed by a delivery that then failed (answered 5xx), so that the
/// provider's retry of it is applied.
pub async fn release_transmission(
    store: &dyn Store,
    provider: PaymentProvider,
    transmission_id: &str,
) -> Result<(), Error> {
    Ok(store.delete(&keys::transmission(provider, transmission_id), None).await?)
}

/// Refunds recorded and not yet taken by their provider, oldest first.
pub async fn refunds_due(store: &dyn QueryItems, limit: u32) -> Result<Vec<RefundDue>, Error> {
    let (entries, _) = refunds_due_page(store, limit, None).await?;
    Ok(entries.into_iter().filter_map(Result::ok).collect())
}

/// A page of [`refunds_due`], after `cursor`. An entry that does not read as one is returned as
/// its key's refund id, so the sweep deals with it on its own instead of failing the page.
pub async fn refunds_due_page(
    store: &dyn QueryItems,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<Result<RefundDue, String>>, Option<Cursor>), Error> {
    let Page { items, next } =
        store.query(&Query::table(keys::REFUNDS_DUE_PARTITION).limit(limit).after(cursor)).await?;
    let entries = items
        .iter()
        .map(|item| item.record::<RefundDue>().map_err(|_| item.key().map(|k| k.sk).unwrap_or_default()))
        .collect();
    Ok((entries, next))
}

/// Flagged payment events, newest first.
pub async fn payment_flags(
    store: &dyn QueryItems,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<PaymentFlag>, Option<Cursor>), Error> {
    let q = Query::table(keys::PAYMENT_FLAGS_PARTITION).descending().limit(limit).after(cursor);
    let Page { items, next } = store.query(&q).await?;
    Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
}
