//! The payout batch over many completed fulfilments on the embedded store: 10,000 and 100,000
//! ledger entries (each a completed part's earnings) spread over 100 approved sellers, paid by
//! one run through the simulated provider. Prints the run's time and the process's peak RSS
//! during the run (VmHWM, reset before it through /proc/self/clear_refs), so a run over ten
//! times the entries shows whether memory stays flat (entries are streamed page by page).
//!
//! `cargo bench -p cy-benches --bench payout_batch`

use std::time::Instant;

use cy_data::ledger::{Balance, LedgerEntry};
use cy_data::sellers::{KycRecord, SellerRecord, StoredPayoutAccount};
use cy_data::{Item, WriteOp, keys};
use cy_domain::seller::KycStatus;
use cy_domain::{Currency, OrderId, Timestamp, UserId};

const SELLERS: usize = 100;

fn proc_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak RSS to the current RSS (Linux: `5` to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn seed(app: &cy_tests::TestApp, entries: usize) -> i64 {
    let store = app.store();
    let data_key = app.local.services.payouts.data_key.clone();
    let inr = Currency::parse("INR").expect("INR");
    let now = Timestamp::now();
    let mut sellers = Vec::new();
    for s in 0..SELLERS {
        let id = UserId::generate();
        let record = SellerRecord {
            seller_id: id.clone(),
            shop_name: Some(format!("Shop {s}")),
            description: None,
            logo: None,
            payout_account: Some(StoredPayoutAccount {
                holder_name: "Holder".into(),
                account_number_sealed: data_key.seal(b"501000001234", &format!("seller:{id}:account")).expect("seal"),
                account_number_last4: "1234".into(),
                ifsc: "HDFC0001234".into(),
                stripe_account: None,
            }),
            kyc: KycRecord { status: KycStatus::Approved, ..KycRecord::default() },
            updated_at: now,
            version: 0,
        };
        cy_data::sellers::save(store.as_ref(), 0, &record, Vec::new()).await.expect("seller");
        sellers.push(id);
    }
    let mut totals = vec![0i64; SELLERS];
    let mut ops = Vec::new();
    for n in 0..entries {
        let s = n % SELLERS;
        let amount = 1_000 + (n as i64 % 9_000);
        totals[s] += amount;
        let entry = LedgerEntry {
            entry: ulid::Ulid::new().to_string(),
            seller_id: sellers[s].clone(),
            order_id: OrderId::generate(),
            kind: "settled".into(),
            currency: inr,
            pending: 0,
            available: amount,
            commission: amount / 10,
            at: now,
        };
        ops.push(WriteOp::create(
            Item::from_record(&keys::ledger_entry(&entry.seller_id, &entry.entry), &entry).expect("item"),
        ));
        if ops.len() == 100 {
            store.transact(std::mem::take(&mut ops)).await.expect("seed");
        }
    }
    if !ops.is_empty() {
        store.transact(ops).await.expect("seed");
    }
    for (s, id) in sellers.iter().enumerate() {
        let balance = Balance { available: totals[s], ..Balance::default() };
        store
            .put(Item::from_record(&keys::seller_balance(id, inr), &balance).expect("item"), None)
            .await
            .expect("balance");
    }
    totals.iter().sum()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a smoke test, small.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[10_000, 100_000] } else { &[300] };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for &entries in sizes {
            let app = cy_tests::TestApp::new().await;
            let total = seed(&app, entries).await;
            let batch = app.local.services.payouts.clone();
            let before = proc_mb("VmRSS");
            reset_peak();
            let started = Instant::now();
            let report =
                batch.run(Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1)).await.expect("run");
            let took = started.elapsed();
            assert_eq!(report.paid as usize, SELLERS, "{report:?}");
            assert_eq!(report.amounts.get("INR"), Some(&total));
            let peak = proc_mb("VmHWM");
            println!(
                "payout batch: {entries} completed fulfilments, {SELLERS} sellers: {:.0} ms; RSS before the run \
                 {before:.1} MB (the seeded store), peak during it {peak:.1} MB (+{:.1} MB)",
                took.as_secs_f64() * 1000.0,
                peak - before,
            );
        }
    });
}
