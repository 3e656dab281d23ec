//! Function `payout-batch` (daily; locally on a timer and `POST /dev/jobs/payout-batch`): every
//! approved seller is paid what their ledger made available and no payout covered yet, one
//! payout per seller, period (the run's UTC day) and currency, exactly once.
//!
//! Per seller and currency: the uncovered ledger range up to the cutoff (`now` less a margin, so
//! no transaction still in flight can add an entry inside a range already paid) is summed page
//! by page; a positive sum is claimed in one transaction (`cy_data::payouts::claim`) with a
//! lease for this run; then sent through the payout port keyed by the payout id. Before any
//! transfer the provider is asked whether one exists for that id (a run that died after the
//! transfer and before recording it is found out, not repeated): found → `paid`; a transfer
//! made → `paid`; refused → `failed`, its range uncovered for the next run; unknown (a timeout,
//! a 5xx) → `unresolved`, for an admin. A `processing` payout whose lease ended (its run died)
//! is taken over by the next run and sent the same way — only while the provider still keeps
//! its idempotency key; older, it is `unresolved`.

pub mod routes;

use std::collections::BTreeMap;
use std::sync::Arc;

use cy_data::payouts::{self as records, Claimed, Payout, PayoutStatus};
use cy_data::{Store, sellers};
use cy_domain::seller::KycStatus;
use cy_domain::{Error, Money, PayoutId, Timestamp, UserId};
use cy_payouts::{Destination, PayoutError, PayoutGateway, PayoutRequest};
use serde::Serialize;

use crate::sealed::DataKey;

/// How long before the run's start an entry must be for a payout to cover it: longer than any
/// order change can stay in flight.
pub const SETTLE_MARGIN_SECS: i64 = 300;
/// How long a run holds a payout it is sending.
pub const LEASE_SECS: i64 = 300;

#[derive(Clone)]
pub struct PayoutBatch {
    pub store: Arc<dyn Store>,
    pub gateway: Arc<dyn PayoutGateway>,
    pub data_key: Arc<DataKey>,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub sellers: u32,
    pub payouts: u32,
    pub paid: u32,
    pub failed: u32,
    pub unresolved: u32,
    /// Taken over from a run that died.
    pub resumed: u32,
    /// Sellers with nothing to pay, no payout account, or an open payout.
    pub skipped: u32,
    /// Paid, by currency (minor units).
    pub amounts: BTreeMap<String, i64>,
}

/// The UTC day of `at`, `YYYY-MM-DD`.
pub fn period_of(at: Timestamp) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(at.unix()).map(|t| t.date()).unwrap_or(time::Date::MIN);
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// How one sending attempt ended.
enum Sent {
    Paid(String),
    Failed(String),
    Unresolved(String),
    /// The provider could not be asked: left `processing` for the next run.
    Deferred,
}

/// One run: its id (the lease holder's name) and its clock — the time it was started at, moved
/// on by the real time elapsed since (runs may last minutes; a lease counts from when it is
/// taken, not from the run's start).
struct Run {
    id: String,
    started_at: Timestamp,
    started: std::time::Instant,
}

impl Run {
    fn now(&self) -> Timestamp {
        self.started_at.plus_secs(i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX / 2))
    }
}

impl PayoutBatch {
    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// One run at `now`.
    pub async fn run(&self, now: Timestamp) -> Result<BatchReport, Error> {
        let run = Run { id: format!("run_{}", ulid::Ulid::new()), started_at: now, started: std::time::Instant::now() };
        let mut report = BatchReport::default();
        tracing::info!(run = %run.id, period = period_of(now), "payout batch starts");
        self.resume(&run, &mut report).await?;
        let mut cursor = None;
        loop {
            let (sellers, next) = sellers::by_kyc(self.store(), KycStatus::Approved, 100, cursor).await?;
            for seller in sellers {
                report.sellers += 1;
                if let Err(e) = self.pay_seller(&run, &seller, &mut report).await {
                    // One seller's trouble (a store hiccup) does not stop the others; the next run
                    // picks them up (nothing half-written: each step is one transaction).
                    tracing::error!(seller = %seller.seller_id, error = %e.message, "a seller's payout failed this run");
                    report.skipped += 1;
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        tracing::info!(run = %run.id, ?report, "payout batch done");
        Ok(report)
    }

    /// Payouts left `processing` by runs that died: taken over once their lease ended. One
    /// payout's trouble is logged and left for the next run; it does not stop this one.
    async fn resume(&self, run: &Run, report: &mut BatchReport) -> Result<(), Error> {
        let mut cursor = None;
        loop {
            let (open, next) = records::by_status(self.store(), PayoutStatus::Processing, 100, cursor).await?;
            for payout in open {
                if payout.lease_until >= run.now().unix() {
                    continue; // another run is sending it
                }
                if let Err(e) = self.resume_one(run, payout, report).await {
                    tracing::error!(error = %e.message, "a payout could not be resumed this run");
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(()),
            }
        }
    }

    async fn resume_one(&self, run: &Run, payout: Payout, report: &mut BatchReport) -> Result<(), Error> {
        let Some(payout) = records::take_lease(self.store(), &payout, &run.id, run.now().unix(), LEASE_SECS).await?
        else {
            return Ok(());
        };
        report.resumed += 1;
        match self.destination(&payout.seller_id).await? {
            Some(destination) => self.send(run, payout, &destination, report).await,
            None => {
                let why = "the seller has no payout account now";
                self.end(run, &payout, PayoutStatus::Unresolved, None, why, report).await
            }
        }
    }

    /// Where the seller's money goes, read afresh (a payout resumed later).
    async fn destination(&self, seller: &UserId) -> Result<Option<Destination>, Error> {
        match sellers::get(self.store(), seller).await? {
            Some(record) => self.destination_of(&record),
            None => Ok(None),
        }
    }

    /// Where the seller's money goes (the account number unsealed only here, for the transfer).
    fn destination_of(&self, record: &sellers::SellerRecord) -> Result<Option<Destination>, Error> {
        let seller = &record.seller_id;
        let Some(account) = record.payout_account.clone() else { return Ok(None) };
        let number = self.data_key.open(&account.account_number_sealed, &format!("seller:{seller}:account"))?;
        Ok(Some(Destination {
            holder_name: account.holder_name,
            account_number: String::from_utf8(number).map_err(|_| Error::internal())?,
            ifsc: account.ifsc,
            stripe_account: account.stripe_account,
        }))
    }

    async fn pay_seller(
        &self,
        run: &Run,
        seller: &sellers::SellerRecord,
        report: &mut BatchReport,
    ) -> Result<(), Error> {
        let balances = records::balances(self.store(), &seller.seller_id).await?;
        let mut paid_any = false;
        for (currency, balance) in balances {
            if balance.available <= 0 || balance.open_payout.is_some() {
                continue;
            }
            // The record the seller list gave: no second read of it.
            let Some(destination) = self.destination_of(seller)? else {
                tracing::info!(seller = %seller.seller_id, "no payout account: skipped");
                continue;
            };
            // Stripe pays only to a connected account: without one, no payout is claimed (a
            // claim would use up the day and be refused).
            if self.gateway.name() == "stripe" && destination.stripe_account.is_none() {
                tracing::info!(seller = %seller.seller_id, "no Stripe connected account: skipped");
                continue;
            }
            let now = run.now();
            let through_bound = records::last_key_before(run.started_at.plus_secs(-SETTLE_MARGIN_SECS));
            let (mut amount, mut commission, mut entries, mut through) = (0i64, 0i64, 0u32, None);
            records::entries_between(
                self.store(),
                &seller.seller_id,
                balance.covered_through.as_deref(),
                &through_bound,
                |e| {
                    if e.currency == currency && (e.available != 0 || e.commission != 0) {
                        amount += e.available;
                        commission += e.commission;
                        entries += 1;
                    }
                    through = Some(e.entry);
                },
            )
            .await?;
            let Some(through) = through.filter(|_| amount > 0) else { continue };
            let payout = Payout {
                id: PayoutId::generate(),
                seller_id: seller.seller_id.clone(),
                period: period_of(run.started_at),
                amount: Money { amount, currency },
                commission,
                from: balance.covered_through.clone(),
                through,
                entries,
                status: PayoutStatus::Processing,
                provider: self.gateway.name().to_owned(),
                provider_reference: None,
                claimed_at: now,
                lease_until: now.unix() + LEASE_SECS,
                lease_holder: run.id.clone(),
                attempts: 0,
                note: None,
                resolved_by: None,
                updated_at: now,
                version: 1,
            };
            match records::claim(self.store(), &payout).await? {
                Claimed::Taken => continue,
                Claimed::Claimed => {}
            }
            tracing::info!(payout = %payout.id, seller = %payout.seller_id, amount, %currency, entries, "payout claimed");
            report.payouts += 1;
            paid_any = true;
            self.send(run, payout, &destination, report).await?;
        }
        if !paid_any {
            report.skipped += 1;
        }
        Ok(())
    }

    async fn send(
        &self,
        run: &Run,
        mut payout: Payout,
        to: &Destination,
        report: &mut BatchReport,
    ) -> Result<(), Error> {
        match self.attempt(run, &mut payout, to).await? {
            Sent::Paid(reference) => self.end(run, &payout, PayoutStatus::Paid, Some(reference), "", report).await,
            Sent::Failed(why) => self.end(run, &payout, PayoutStatus::Failed, None, &why, report).await,
            Sent::Unresolved(why) => self.end(run, &payout, PayoutStatus::Unresolved, None, &why, report).await,
            Sent::Deferred => Ok(()),
        }
    }

    /// Asks the provider, then transfers only if nothing was made for this payout, only while
    /// the provider keeps its key, and only while this run holds its lease.
    async fn attempt(&self, run: &Run, payout: &mut Payout, to: &Destination) -> Result<Sent, Error> {
        // A transfer made is found by the payout id whatever its key's age.
        match self.gateway.find(payout.id.as_str()).await {
            Ok(Some(reference)) => return Ok(Sent::Paid(reference)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(payout = %payout.id, error = %e, "the provider could not be asked; the next run asks again");
                return Ok(Sent::Deferred);
            }
        }
        if run.now().unix() - payout.claimed_at.unix() >= self.gateway.key_retention_secs() {
            let why = "the provider no longer keeps this payout's idempotency key; decide by hand";
            return Ok(Sent::Unresolved(why.to_owned()));
        }
        if !records::note_attempt(self.store(), payout, &run.id, run.now().unix()).await? {
            tracing::warn!(payout = %payout.id, "this run's lease ran out; the next run resumes the payout");
            return Ok(Sent::Deferred);
        }
        payout.attempts += 1;
        let request = PayoutRequest {
            payout_id: payout.id.to_string(),
            seller_id: payout.seller_id.to_string(),
            amount: payout.amount.amount,
            currency: payout.amount.currency.code().to_owned(),
            destination: to.clone(),
        };
        Ok(match self.gateway.transfer(&request).await {
            Ok(reference) => Sent::Paid(reference),
            Err(PayoutError::Refused(why)) => Sent::Failed(why),
            Err(PayoutError::Unknown(why)) => Sent::Unresolved(why),
        })
    }

    /// Records how the payout ended (and counts it); the seller hears of a payout paid or
    /// failed (an outbox event in the same transaction).
    async fn end(
        &self,
        run: &Run,
        payout: &Payout,
        status: PayoutStatus,
        reference: Option<String>,
        note: &str,
        report: &mut BatchReport,
    ) -> Result<(), Error> {
        let mut after = payout.clone();
        after.status = status;
        after.provider_reference = reference.or(after.provider_reference);
        after.note = (!note.is_empty()).then(|| note.chars().take(500).collect());
        after.updated_at = run.now();
        after.version += 1;
        let also = payout_event(&after).into_iter().collect::<Result<Vec<_>, _>>()?;
        if !records::settle(self.store(), payout, &after, Some(&run.id), also).await? {
            return Ok(()); // ended by someone else meanwhile
        }
        match status {
            PayoutStatus::Paid => {
                report.paid += 1;
                *report.amounts.entry(payout.amount.currency.code().to_owned()).or_default() += payout.amount.amount;
                tracing::info!(payout = %payout.id, "payout paid");
            }
            PayoutStatus::Failed => {
                report.failed += 1;
                tracing::warn!(payout = %payout.id, note, "payout failed; its earnings wait for the next run");
            }
            PayoutStatus::Unresolved => {
                report.unresolved += 1;
                tracing::error!(payout = %payout.id, note, "payout unresolved: an admin decides");
            }
            PayoutStatus::Processing => {}
        }
        Ok(())
    }
}

/// The seller's event of a payout paid or failed (`payout.paid`, `payout.failed`), for the
/// fan-out; none for the other states.
pub fn payout_event(payout: &Payout) -> Option<Result<cy_data::WriteOp, Error>> {
    let kind = match payout.status {
        PayoutStatus::Paid => "payout.paid",
        PayoutStatus::Failed => "payout.failed",
        _ => return None,
    };
    // Not an order's event: `customer_id` names the user it concerns (the seller).
    let event = cy_data::orders::OutboxEvent {
        id: cy_domain::EventId::generate(),
        kind: kind.into(),
        order_id: None,
        customer_id: payout.seller_id.clone(),
        sellers: vec![payout.seller_id.clone()],
        at: payout.updated_at,
        data: serde_json::json!({"payout_id": payout.id, "amount": payout.amount, "period": payout.period}),
    };
    Some(cy_data::orders::outbox_write(&event))
}

/// The scheduled event's handler (function `payout-batch`): one run, its summary answered (and
/// logged).
pub async fn on_schedule(
    batch: &PayoutBatch,
    event: aws_lambda_events::event::eventbridge::EventBridgeEvent,
) -> Result<serde_json::Value, Error> {
    let report = batch.run(Timestamp::now()).await?;
    tracing::info!(?report, rule = ?event.resources, "scheduled payout batch");
    Ok(serde_json::json!(report))
}

/// The payout provider configured for this stage: Stripe Connect (`STRIPE_SECRET_KEY`) or
/// RazorpayX (`RAZORPAYX_KEY_ID`…) as `PAYOUT_PROVIDER` names, else the simulator when
/// `PAYOUT_PROVIDER=simulator` (a stage without real payouts).
pub fn gateway_from_env() -> Result<Arc<dyn PayoutGateway>, String> {
    match std::env::var("PAYOUT_PROVIDER").unwrap_or_default().as_str() {
        "stripe" => Ok(Arc::new(cy_payouts::stripe::StripeConnect::from_env()?.ok_or("STRIPE_SECRET_KEY is not set")?)),
        "razorpayx" => {
            Ok(Arc::new(cy_payouts::razorpayx::RazorpayX::from_env()?.ok_or("RAZORPAYX_KEY_ID is not set")?))
        }
        "simulator" => Ok(Arc::new(cy_payouts::SimulatedPayouts::new())),
        other => Err(format!("PAYOUT_PROVIDER must be stripe, razorpayx or simulator, not {other:?}")),
    }
}
