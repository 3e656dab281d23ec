//! The order sweeps: reservations ended unpaid, refunds not yet taken by their provider, and
//! delivered parts whose return window ended. Each sweep runs on its own (one that fails does
//! not keep the others from running) and handles each subject on its own: a subject that fails
//! is logged and counted, and one that keeps failing is set aside for an admin
//! (`cy_data::orders::sweeps`), so one order that cannot be changed never stalls the rest.

use std::fmt;
use std::time::{Duration, Instant};

use cy_data::orders::sweeps::{
    self as due, FAILURES_TO_SET_ASIDE, SetAside, Sweep, due_orders, note_failure, take_off_due_list,
};
use cy_data::orders::{self as records, Committed, OrderChange};
use cy_data::payments as payment_records;
use cy_data::{Store, WriteOp, keys};
use cy_domain::order::{Actor, FulfilmentRules, OrderStatus};
use cy_domain::payment::{PaymentProvider, RefundState};
use cy_domain::{Error, OrderId, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::payments::Payments;

/// How many subjects one sweep handles per run, at most (providers asked, for refunds): a run
/// ends well within its function's timeout, and the next (a minute later) goes on.
pub const SWEEP_BUDGET: usize = 1000;

/// How long one sweep may run in one run: the three together stay well within the function's
/// 60 s timeout whatever one of them meets (a provider timing out on every call, a backlog), so
/// a slow sweep never keeps the others from running; each goes on where it stopped next run.
pub const SWEEP_TIME_SLICE: Duration = Duration::from_secs(15);

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    /// Subjects moved on (orders released or completed, refunds sent).
    pub done: usize,
    /// Subjects that failed this time (tried again next run).
    pub failed: usize,
    /// Subjects that kept failing and were set aside for an admin.
    pub set_aside: usize,
    /// Why the sweep itself stopped early, if it did (its list could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The sweep used its time slice and stops here; the next run goes on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub out_of_time: bool,
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "done {}, failed {}, set aside {}", self.done, self.failed, self.set_aside)
    }
}

/// A subject a sweep failed on, and what takes it off that sweep's list.
struct Failing<'a> {
    sweep: Sweep,
    subject: &'a str,
    order_id: Option<&'a OrderId>,
    off_the_list: OffTheList,
}

/// What takes a subject off its sweep's list.
enum OffTheList {
    /// The order leaves the due list (GSI1), if still as found.
    Order(OrderId),
    /// These writes (a due refund's entry deleted).
    Writes(Vec<WriteOp>),
}

/// The sweeps, over the store and the payment providers.
#[derive(Clone)]
pub struct Sweeps {
    pub payments: Payments,
}

impl Sweeps {
    fn store(&self) -> &dyn Store {
        self.payments.store.as_ref()
    }

    /// Every sweep, each on its own; their reports.
    pub async fn run_all(&self, now: Timestamp) -> Value {
        let reservations = self.reservations(now).await;
        let refunds = self.refunds(now).await;
        let completions = self.completions(now).await;
        json!({"reservations": reservations, "refunds": refunds, "completions": completions})
    }

    /// Counts a subject's failure; sets it aside (taking it off the sweep's list) once it has
    /// failed [`FAILURES_TO_SET_ASIDE`] times within the hour.
    async fn failed(&self, report: &mut SweepReport, failing: Failing<'_>, error: &Error, now: Timestamp) {
        let Failing { sweep, subject, order_id, off_the_list } = failing;
        tracing::error!(sweep = sweep.as_str(), subject, error = %error.message, "a sweep failed on one subject; going on");
        let failures = match note_failure(self.store(), sweep, subject, &error.message, now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(sweep = sweep.as_str(), subject, error = %e.message, "counting the failure failed");
                report.failed += 1;
                return;
            }
        };
        if failures < FAILURES_TO_SET_ASIDE {
            report.failed += 1;
            return;
        }
        let off_the_list = match off_the_list {
            OffTheList::Writes(ops) => ops,
            OffTheList::Order(id) => match take_off_due_list(self.store(), &id).await {
                Ok(op) => vec![op],
                Err(e) => {
                    tracing::warn!(sweep = sweep.as_str(), subject, error = %e.message, "reading the order to set it aside failed");
                    report.failed += 1;
                    return;
                }
            },
        };
        let record = SetAside {
            sweep,
            subject: subject.to_owned(),
            order_id: order_id.filter(|o| o.as_str() != subject).cloned(),
            failures,
            last_error: error.message.clone(),
            at: now,
        };
        match due::set_aside(self.store(), &record, off_the_list).await {
            Ok(()) => {
                tracing::error!(
                    sweep = sweep.as_str(),
                    subject,
                    failures,
                    "set aside for an admin after repeated failures"
                );
                report.set_aside += 1;
            }
            Err(e) => {
                tracing::warn!(sweep = sweep.as_str(), subject, error = %e.message, "setting aside failed");
                report.failed += 1;
            }
        }
    }

    /// Pages through `sweep`'s due orders, handling each with `handle` (`Ok(n)`: n subjects done).
    async fn over_due_orders<F, Fut>(&self, sweep: Sweep, now: Timestamp, handle: F) -> SweepReport
    where
        F: Fn(OrderId) -> Fut,
        Fut: Future<Output = Result<usize, Error>>,
    {
        let deadline = Instant::now() + SWEEP_TIME_SLICE;
        let mut report = SweepReport::default();
        let (mut cursor, mut read) = (None, 0);
        loop {
            let (ids, next) = match due_orders(self.store(), sweep, now, 100, cursor).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(sweep = sweep.as_str(), error = %e.message, "reading the due list failed");
                    report.error = Some(e.message);
                    return report;
                }
            };
            for id in ids {
                if Instant::now() >= deadline {
                    report.out_of_time = true;
                    return report;
                }
                read += 1;
                match handle(id.clone()).await {
                    Ok(n) => report.done += n,
                    Err(e) => {
                        let off_the_list = OffTheList::Order(id.clone());
                        let failing = Failing { sweep, subject: id.as_str(), order_id: Some(&id), off_the_list };
                        self.failed(&mut report, failing, &e, now).await;
                    }
                }
            }
            match next {
                Some(next) if read < SWEEP_BUDGET => cursor = Some(next),
                _ => return report,
            }
        }
    }

    /// Cancels unpaid orders whose reservation ended by `now` (their stock back, their coupon and
    /// unpaid slot freed) and closes their payments. Safe against a payment arriving at the same
    /// moment: the move is conditional on the order still being unpaid at the version read.
    pub async fn reservations(&self, now: Timestamp) -> SweepReport {
        // A provider that could not close one payment is not asked again this run (each try may
        // wait out a timeout); its late payments are refunded when they come.
        let unreachable: std::sync::Mutex<Vec<cy_domain::payment::PaymentProvider>> = std::sync::Mutex::default();
        let unreachable = &unreachable;
        self.over_due_orders(Sweep::Reservations, now, |id| async move {
            let Some(order) = records::get_order(self.store(), &id).await? else { return Ok(0) };
            if !order.status.is_unpaid() || order.reserved_until > now {
                return Ok(0);
            }
            let note = Some("reservation expired unpaid".to_owned());
            match records::move_order(self.store(), &order, OrderStatus::Cancelled, Actor::System, None, note).await? {
                Some(cancelled) => {
                    let provider = cancelled.payment_provider;
                    let skip = unreachable.lock().is_ok_and(|u| u.contains(&provider));
                    if !skip
                        && !self.payments.close_payment(&cancelled).await
                        && let Ok(mut u) = unreachable.lock()
                    {
                        u.push(provider);
                    }
                    Ok(1)
                }
                // Paid (or released by an overlapping run) meanwhile.
                None => Ok(0),
            }
        })
        .await
    }

    /// Completes delivered parts whose return window ended by `now`, one transaction per part
    /// (each is its own event: its seller is paid on it).
    pub async fn completions(&self, now: Timestamp) -> SweepReport {
        self.over_due_orders(Sweep::Completions, now, |id| async move {
            let mut done = 0;
            for _ in 0..100 {
                let Some(order) = records::get_order(self.store(), &id).await? else { return Ok(done) };
                if order.payment.as_ref().is_some_and(|p| p.cancellation_pending()) {
                    // Being called off whole: nothing completes until its refund is settled.
                    return Ok(done);
                }
                let Some(seller) = order.parts_due_for_completion(now).into_iter().next() else { return Ok(done) };
                let mut after = order.clone();
                let rules = FulfilmentRules::default();
                after.move_fulfilment(&seller, OrderStatus::Completed, Actor::System, None, &rules, now)?;
                let note = Some("the return window ended".to_owned());
                let change = OrderChange::new(after, Actor::System, None, note).of_part(&seller);
                match records::commit_change(self.store(), &order, change).await? {
                    Committed::Done(_) => done += 1,
                    // Moved meanwhile: read it again.
                    Committed::Moved => {}
                    Committed::OtherOp(_) => return Err(Error::internal()),
                }
            }
            Ok(done)
        })
        .await
    }

    /// Sends refunds recorded and not yet taken by their provider, oldest first, page by page:
    /// at most [`SWEEP_BUDGET`] asked a run (and ten times as many entries read, skipping those
    /// of a provider that is down). A provider that could not be reached is not asked again in
    /// the same run, so one provider's outage holds back neither the run nor the others'
    /// refunds; an outage is not the refund's failure.
    pub async fn refunds(&self, now: Timestamp) -> SweepReport {
        let deadline = Instant::now() + SWEEP_TIME_SLICE;
        let mut report = SweepReport::default();
        let (mut tried, mut read) = (0, 0);
        let mut unreachable: Vec<PaymentProvider> = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = match payment_records::refunds_due_page(self.store(), 100, cursor).await {
                Ok(page) => page,
                Err(e) => {
                    report.error = Some(e.message);
                    return report;
                }
            };
            for entry in page {
                if Instant::now() >= deadline {
                    report.out_of_time = true;
                    return report;
                }
                read += 1;
                let due = match entry {
                    Ok(due) => due,
                    Err(refund_id) => {
                        let off_the_list = OffTheList::Writes(vec![WriteOp::Delete {
                            key: keys::refund_due_raw(&refund_id),
                            condition: None,
                        }]);
                        let e = Error::bad_request("the due entry does not read as one");
                        let failing =
                            Failing { sweep: Sweep::Refunds, subject: &refund_id, order_id: None, off_the_list };
                        self.failed(&mut report, failing, &e, now).await;
                        continue;
                    }
                };
                let failing = |order_id| Failing {
                    sweep: Sweep::Refunds,
                    subject: due.refund_id.as_str(),
                    order_id: Some(order_id),
                    off_the_list: OffTheList::Writes(vec![WriteOp::Delete {
                        key: keys::refund_due(&due.refund_id),
                        condition: None,
                    }]),
                };
                let order = match records::get_order(self.store(), &due.order_id).await {
                    Ok(Some(order)) => order,
                    Ok(None) => continue,
                    Err(e) => {
                        self.failed(&mut report, failing(&due.order_id), &e, now).await;
                        continue;
                    }
                };
                if unreachable.contains(&order.payment_provider) {
                    continue;
                }
                tried += 1;
                let open = order
                    .payment
                    .as_ref()
                    .and_then(|p| p.refunds.iter().find(|r| r.id == due.refund_id))
                    .is_some_and(|r| r.state == RefundState::Requested);
                if open {
                    let (sent, down) = self.payments.send_refunds_reporting(&order).await;
                    report.done += sent;
                    if down {
                        unreachable.push(order.payment_provider);
                    }
                } else if let Err(e) =
                    payment_records::settle_refund_request(self.store(), &order.id, &due.refund_id, Ok(String::new()))
                        .await
                {
                    // Answered already (the entry outlived its refund's answer).
                    self.failed(&mut report, failing(&order.id), &e, now).await;
                }
            }
            match next {
                Some(next) if tried < SWEEP_BUDGET && read < 10 * SWEEP_BUDGET => cursor = Some(next),
                _ => return report,
            }
        }
    }
}
