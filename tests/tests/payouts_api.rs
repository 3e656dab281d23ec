//! Sellers' earnings and payouts on the local runtime: orders sold, paid, completed and refunded
//! through their routes and webhooks; the payout batch run as its schedule runs it — once,
//! twice, twice at once, and after a crash at each step — against the simulated provider,
//! which counts transfer requests per payout id.

use std::sync::Arc;

use async_trait::async_trait;
use cy_api::payouts::PayoutBatch;
use cy_domain::payment::PaymentProvider;
use cy_domain::{OrderId, Timestamp, UserId};
use cy_payouts::{PayoutError, PayoutGateway, PayoutRequest, SimulatedPayouts};
use cy_tests::{TestApp, token};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 24 * 3600;

struct Market {
    app: TestApp,
    admin: String,
    sellers: Vec<(String, UserId, String)>,
}

/// An approved seller with a payout account and one product (10 000 INR, no shipping).
async fn approved_seller(app: &TestApp, admin: &str, n: usize) -> (String, UserId, String) {
    let body = app.register(&format!("seller{n}@payouts.example.in"), "seller").await;
    let access = token(&body, "access_token");
    let id =
        UserId::parse(app.call(Method::GET, "/me", Some(&access), None).await.body["id"].as_str().unwrap()).unwrap();
    let profile = json!({"shop_name": format!("Shop {n}"),
        "payout_account": {"holder_name": "Asha Rao", "account_number": format!("50100234567{n:03}"), "ifsc": "HDFC0001234"}});
    assert_eq!(app.call(Method::PUT, "/seller/profile", Some(&access), Some(profile)).await.status, StatusCode::OK);
    let doc = json!({"purpose": "kyc_document", "content_type": "application/pdf", "size": 100});
    let key = app.call(Method::POST, "/uploads", Some(&access), Some(doc)).await.body["object_key"].clone();
    let kyc = json!({"documents": [key], "id_type": "pan", "id_number": "ABCDE1234F"});
    assert_eq!(app.call(Method::POST, "/seller/kyc", Some(&access), Some(kyc)).await.status, StatusCode::OK);
    let approved = app.call(Method::POST, &format!("/admin/sellers/{id}/approve"), Some(admin), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let product = json!({"title": format!("Mug {n}"), "category_id": "home-mugs",
        "base_price": {"amount": 10000, "currency": "INR"}, "stock": 1000});
    let created = app.call(Method::POST, "/seller/products", Some(&access), Some(product)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (access, id, created.body["id"].as_str().unwrap().to_owned())
}

async fn market(sellers: usize, rates: Value) -> Market {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    cy_tests::seed_mugs_category(app.store().as_ref()).await;
    assert_eq!(
        app.call(Method::PUT, "/admin/settings/commission", Some(&admin), Some(rates)).await.status,
        StatusCode::OK
    );
    let mut list = Vec::new();
    for n in 0..sellers {
        list.push(approved_seller(&app, &admin, n).await);
    }
    Market { app, admin, sellers: list }
}

impl Market {
    /// A customer buys `units` of seller `s`'s product and pays; the seller delivers it.
    async fn sell(&self, s: usize, units: u32) -> OrderId {
        let (buyer, address) = cy_tests::seed_customer(self.app.store().as_ref()).await;
        let (seller, _, product) = &self.sellers[s];
        let body = json!({"items": [{"product_id": product, "quantity": units}], "address_id": address, "payment_provider": "stripe"});
        let placed = self.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
        assert_eq!(
            self.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await.status,
            StatusCode::OK
        );
        for status in ["processing", "shipped", "delivered"] {
            let body = json!({"status": status, "tracking": {"carrier": "BlueDart", "number": "BD1"}});
            let moved = self.app.call(Method::PUT, &format!("/orders/{id}/status"), Some(seller), Some(body)).await;
            assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        }
        id
    }

    /// Completes every delivered part (their return windows over).
    async fn complete(&self) {
        self.app.sweeps().run_all(Timestamp::now().plus_secs(8 * DAY)).await;
    }

    async fn balance(&self, s: usize) -> Value {
        self.app.call(Method::GET, "/seller/balance", Some(&self.sellers[s].0), None).await.body
    }

    async fn payouts(&self, s: usize) -> Vec<Value> {
        let listed = self.app.call(Method::GET, "/seller/payouts", Some(&self.sellers[s].0), None).await;
        listed.body["items"].as_array().unwrap().clone()
    }

    fn batch(&self, gateway: Arc<dyn PayoutGateway>) -> PayoutBatch {
        PayoutBatch { gateway, ..self.app.local.services.payouts.clone() }
    }

    async fn refund_one_unit(&self, id: &OrderId) {
        let body = json!({"lines": [{"line": 0, "quantity": 1}], "reason": "one arrived chipped"});
        let refunded =
            self.app.call(Method::POST, &format!("/orders/{id}/refunds"), Some(&self.admin), Some(body)).await;
        assert_eq!(refunded.status, StatusCode::ACCEPTED, "{}", refunded.body);
    }
}

fn inr(amount: i64) -> Value {
    json!({"amount": amount, "currency": "INR"})
}

#[tokio::test]
async fn earnings_move_from_pending_to_available_to_paid_out_and_a_later_refund_is_netted() {
    let m = market(1, json!({"platform_bps": 1000})).await;
    let first = m.sell(0, 2).await;
    // 2 × 10 000 less 10 % commission, waiting for the part to complete.
    let b = m.balance(0).await;
    assert_eq!((&b["pending"], &b["available"], &b["paid_out"]), (&inr(18_000), &inr(0), &inr(0)), "{b}");
    m.complete().await;
    let b = m.balance(0).await;
    assert_eq!((&b["pending"], &b["available"]), (&inr(0), &inr(18_000)), "{b}");

    let now = Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1);
    let report = m.app.local.services.payouts.run(now).await.unwrap();
    assert_eq!((report.payouts, report.paid, report.amounts.get("INR")), (1, 1, Some(&18_000)), "{report:?}");
    let b = m.balance(0).await;
    assert_eq!((&b["available"], &b["processing"], &b["paid_out"]), (&inr(0), &inr(0), &inr(18_000)), "{b}");
    let payouts = m.payouts(0).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!((payouts[0]["status"].as_str(), &payouts[0]["amount"]), (Some("paid"), &inr(18_000)));
    assert!(payouts[0]["provider_reference"].as_str().unwrap().starts_with("sim_tr_"));
    let id = payouts[0]["id"].as_str().unwrap();
    let one = m.app.call(Method::GET, &format!("/seller/payouts/{id}"), Some(&m.sellers[0].0), None).await;
    assert_eq!(
        one.body["lines"],
        json!([{"order_id": first.as_str(), "amount": inr(18_000), "commission": inr(2_000)}])
    );
    assert_eq!(payouts[0]["lines"], one.body["lines"], "the list shows each payout's lines too");
    // Run again the same day: nothing more.
    let again = m.app.local.services.payouts.run(now).await.unwrap();
    assert_eq!((again.payouts, again.paid), (0, 0));

    // A refund after the payout: the balance goes below zero, and the next payout nets it.
    m.refund_one_unit(&first).await;
    let b = m.balance(0).await;
    assert_eq!(b["available"], inr(-9_000), "one unit's 10 000 less its 1 000 commission: {b}");
    let second = m.sell(0, 3).await;
    m.complete().await;
    let tomorrow = now.plus_secs(DAY);
    let report = m.app.local.services.payouts.run(tomorrow).await.unwrap();
    assert_eq!(report.amounts.get("INR"), Some(&(27_000 - 9_000)), "{report:?}");
    let payouts = m.payouts(0).await;
    assert_eq!(payouts.len(), 2);
    let id = payouts[0]["id"].as_str().unwrap();
    let lines =
        m.app.call(Method::GET, &format!("/seller/payouts/{id}"), Some(&m.sellers[0].0), None).await.body["lines"]
            .clone();
    let mut expected = vec![
        json!({"order_id": first.as_str(), "amount": inr(-9_000), "commission": inr(-1_000)}),
        json!({"order_id": second.as_str(), "amount": inr(27_000), "commission": inr(3_000)}),
    ];
    expected.sort_by_key(|l| l["order_id"].as_str().unwrap().to_owned());
    assert_eq!(lines, json!(expected));
    let b = m.balance(0).await;
    assert_eq!((&b["available"], &b["paid_out"]), (&inr(0), &inr(36_000)), "{b}");

    // Someone else's payout is not found; a customer has no balance.
    let (other, ..) = approved_seller(&m.app, &m.admin, 9).await;
    m.app.call(Method::GET, &format!("/seller/payouts/{id}"), Some(&other), None).await.assert_error(404, "not_found");
}

/// A provider that dies (the process, as a crash would) before or after making the transfer.
struct Crashing {
    inner: Arc<SimulatedPayouts>,
    after_transfer: bool,
}

#[async_trait]
impl PayoutGateway for Crashing {
    fn name(&self) -> &'static str {
        "simulator"
    }
    fn key_retention_secs(&self) -> i64 {
        self.inner.key_retention_secs()
    }
    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError> {
        self.inner.find(payout_id).await
    }
    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        if !self.after_transfer {
            panic!("the run dies after the claim, before the transfer");
        }
        let made = self.inner.transfer(request).await;
        panic!("the run dies after the transfer ({made:?}), before recording it");
    }
}

async fn three_sellers_with_earnings() -> Market {
    let m = market(3, json!({"platform_bps": 500})).await;
    for s in 0..3 {
        m.sell(s, 1).await;
    }
    m.complete().await;
    m
}

fn every_payout_sent_once(sim: &SimulatedPayouts, payouts: &[Vec<Value>]) {
    for of_seller in payouts {
        assert_eq!(of_seller.len(), 1, "one payout per seller per period: {of_seller:?}");
        assert_eq!(of_seller[0]["status"], "paid", "{of_seller:?}");
        assert_eq!(sim.requests_for(of_seller[0]["id"].as_str().unwrap()), 1, "one transfer request");
    }
    assert_eq!(sim.transfers().len(), payouts.len());
}

#[tokio::test]
async fn run_twice_and_twice_at_once_each_seller_is_paid_once() {
    let m = three_sellers_with_earnings().await;
    let sim = Arc::new(SimulatedPayouts::new());
    let batch = m.batch(sim.clone());
    let now = Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1);
    let (a, b) = tokio::join!(batch.run(now), batch.run(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.payouts + b.payouts, 3, "{a:?} {b:?}");
    let again = batch.run(now).await.unwrap();
    assert_eq!(again.payouts, 0);
    let later = batch.run(now.plus_secs(DAY)).await.unwrap();
    assert_eq!(later.payouts, 0, "nothing new to pay: {later:?}");
    let mut all = Vec::new();
    for s in 0..3 {
        all.push(m.payouts(s).await);
        assert_eq!(m.balance(s).await["paid_out"], inr(9_500));
    }
    every_payout_sent_once(&sim, &all);
}

#[tokio::test]
async fn a_run_that_dies_before_or_after_the_transfer_is_finished_by_the_next_without_a_second_transfer() {
    for after_transfer in [false, true] {
        let m = three_sellers_with_earnings().await;
        let sim = Arc::new(SimulatedPayouts::new());
        let crashing = m.batch(Arc::new(Crashing { inner: sim.clone(), after_transfer }));
        let now = Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1);
        let died = tokio::spawn(async move { crashing.run(now).await }).await;
        assert!(died.is_err_and(|e| e.is_panic()), "the run died");
        let open: Vec<Vec<Value>> = futures::future::join_all((0..3).map(|s| m.payouts(s))).await;
        let processing = open.iter().flatten().filter(|p| p["status"] == "processing").count();
        assert_eq!(processing, 1, "the claimed payout waits: {open:?}");

        // Within its lease nobody touches it; after, the next run finishes it.
        let batch = m.batch(sim.clone());
        let early = batch.run(now.plus_secs(10)).await.unwrap();
        assert_eq!(early.resumed, 0, "{early:?}");
        let report = batch.run(now.plus_secs(cy_api::payouts::LEASE_SECS + 1)).await.unwrap();
        assert_eq!(report.resumed, 1, "{report:?}");
        let mut all = Vec::new();
        for s in 0..3 {
            all.push(m.payouts(s).await);
        }
        every_payout_sent_once(&sim, &all);
    }
}

/// A provider that answers nothing useful: the payout is left to an admin, never resent.
struct Silent;

#[async_trait]
impl PayoutGateway for Silent {
    fn name(&self) -> &'static str {
        "simulator"
    }
    fn key_retention_secs(&self) -> i64 {
        DAY
    }
    async fn find(&self, _: &str) -> Result<Option<String>, PayoutError> {
        Ok(None)
    }
    async fn transfer(&self, _: &PayoutRequest) -> Result<String, PayoutError> {
        Err(PayoutError::Unknown("timed out".into()))
    }
}

#[tokio::test]
async fn an_unknown_outcome_waits_for_an_admin_and_a_refusal_frees_the_earnings() {
    let m = market(2, json!({"platform_bps": 0})).await;
    m.sell(0, 1).await;
    m.sell(1, 1).await;
    m.complete().await;
    let now = Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1);
    let report = m.batch(Arc::new(Silent)).run(now).await.unwrap();
    assert_eq!(report.unresolved, 2, "{report:?}");
    // Never resent: a later run leaves them alone (the sellers have an open payout).
    let sim = Arc::new(SimulatedPayouts::new());
    let later = m.batch(sim.clone()).run(now.plus_secs(2 * DAY)).await.unwrap();
    assert_eq!((later.payouts, later.resumed), (0, 0), "{later:?}");
    assert!(sim.transfers().is_empty());

    let listed = m.app.call(Method::GET, "/admin/payouts?status=unresolved", Some(&m.admin), None).await;
    let ids: Vec<String> =
        listed.body["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    let resolve = |outcome: &str| json!({"outcome": outcome, "note": "checked the bank statement"});
    let seller = &m.sellers[0].0;
    m.app
        .call(Method::POST, &format!("/admin/payouts/{}/resolve", ids[0]), Some(seller), Some(resolve("paid")))
        .await
        .assert_error(403, "forbidden");
    m.app
        .call(Method::POST, &format!("/admin/payouts/{}/resolve", ids[0]), Some(&m.admin), Some(resolve("maybe")))
        .await
        .assert_error(400, "validation_failed");
    let paid = m
        .app
        .call(Method::POST, &format!("/admin/payouts/{}/resolve", ids[0]), Some(&m.admin), Some(resolve("paid")))
        .await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("paid")), "{}", paid.body);
    m.app
        .call(Method::POST, &format!("/admin/payouts/{}/resolve", ids[0]), Some(&m.admin), Some(resolve("failed")))
        .await
        .assert_error(409, "invalid_transition");
    let failed = m
        .app
        .call(Method::POST, &format!("/admin/payouts/{}/resolve", ids[1]), Some(&m.admin), Some(resolve("failed")))
        .await;
    assert_eq!(failed.body["status"], "failed");

    // The failed one's earnings are available again and the next run pays them.
    let seller_of = |id: &str| failed.body["seller_id"].as_str().filter(|_| !id.is_empty()).unwrap().to_owned();
    let s = m.sellers.iter().position(|(_, u, _)| u.as_str() == seller_of(&ids[1])).unwrap();
    assert_eq!(m.balance(s).await["available"], inr(10_000));
    let report = m.batch(sim.clone()).run(now.plus_secs(3 * DAY)).await.unwrap();
    assert_eq!((report.payouts, report.paid), (1, 1), "{report:?}");
    assert_eq!(m.balance(s).await["paid_out"], inr(10_000));

    // A refusal at the provider frees the earnings at once.
    let refusing = Arc::new(SimulatedPayouts::new());
    m.sell(0, 1).await;
    m.complete().await;
    let at = now.plus_secs(4 * DAY);
    let claimed = m.batch(Arc::new(RefuseAll)).run(at).await.unwrap();
    assert_eq!(claimed.failed, 1, "{claimed:?}");
    let s0 = m.balance(0).await;
    assert_eq!((&s0["available"], &s0["processing"]), (&inr(10_000), &inr(0)), "{s0}");
    let report = m.batch(refusing).run(at.plus_secs(DAY)).await.unwrap();
    assert_eq!(report.paid, 1, "{report:?}");
}

struct RefuseAll;

#[async_trait]
impl PayoutGateway for RefuseAll {
    fn name(&self) -> &'static str {
        "simulator"
    }
    fn key_retention_secs(&self) -> i64 {
        DAY
    }
    async fn find(&self, _: &str) -> Result<Option<String>, PayoutError> {
        Ok(None)
    }
    async fn transfer(&self, _: &PayoutRequest) -> Result<String, PayoutError> {
        Err(PayoutError::Refused("account closed".into()))
    }
}

/// A provider that makes the transfer and then times out answering: the outcome is unknown to
/// the run, but the provider shows the transfer.
struct MadeButSilent {
    inner: Arc<SimulatedPayouts>,
}

#[async_trait]
impl PayoutGateway for MadeButSilent {
    fn name(&self) -> &'static str {
        "simulator"
    }
    fn key_retention_secs(&self) -> i64 {
        DAY
    }
    async fn find(&self, payout_id: &str) -> Result<Option<String>, PayoutError> {
        self.inner.find(payout_id).await
    }
    async fn transfer(&self, request: &PayoutRequest) -> Result<String, PayoutError> {
        self.inner.transfer(request).await.and(Err(PayoutError::Unknown("timed out reading the answer".into())))
    }
}

#[tokio::test]
async fn an_admin_cannot_fail_a_payout_the_provider_shows_as_made() {
    let m = market(1, json!({"platform_bps": 0})).await;
    m.sell(0, 1).await;
    m.complete().await;
    // The app's own simulator stands for the provider (what the admin route asks).
    let provider = m.app.local.services.simulated_payouts.clone();
    let now = Timestamp::now().plus_secs(cy_api::payouts::SETTLE_MARGIN_SECS + 1);
    let report = m.batch(Arc::new(MadeButSilent { inner: provider.clone() })).run(now).await.unwrap();
    assert_eq!(report.unresolved, 1, "{report:?}");
    let id = m.payouts(0).await[0]["id"].as_str().unwrap().to_owned();
    let resolve = |outcome: &str| json!({"outcome": outcome, "note": "looked at the provider"});
    let path = format!("/admin/payouts/{id}/resolve");
    let refused = m.app.call(Method::POST, &path, Some(&m.admin), Some(resolve("failed"))).await;
    refused.assert_error(409, "invalid_transition");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("resolve it as paid"), "{}", refused.body);
    let paid = m.app.call(Method::POST, &path, Some(&m.admin), Some(resolve("paid"))).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
    assert_eq!(m.balance(0).await["paid_out"], inr(10_000));
    assert_eq!(provider.requests_for(&id), 1);
    // The seller was told (an event for the fan-out).
    let q = cy_data::Query::table(cy_data::keys::OUTBOX_PARTITION).limit(1000);
    let events = m.app.store().query(&q).await.unwrap();
    let told = events.items.iter().filter(|i| i.get("type").and_then(Value::as_str) == Some("payout.paid")).count();
    assert_eq!(told, 1);
}

#[tokio::test]
async fn an_order_refunded_at_the_provider_earns_its_seller_nothing() {
    let m = market(1, json!({"platform_bps": 1000})).await;
    let (buyer, address) = cy_tests::seed_customer(m.app.store().as_ref()).await;
    let body = json!({"items": [{"product_id": m.sellers[0].2, "quantity": 2}], "address_id": address, "payment_provider": "stripe"});
    let placed = m.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
    let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
    m.app.deliver(PaymentProvider::Stripe, "payment_intent.succeeded", &id).await;
    assert_eq!(m.balance(0).await["pending"], inr(18_000));
    // Refunded in Stripe's dashboard: no refund of ours names lines, the order ends refunded.
    let refunded = m.app.deliver(PaymentProvider::Stripe, "charge.refunded", &id).await;
    assert_eq!(refunded.body["status"], "refunded", "{}", refunded.body);
    let b = m.balance(0).await;
    assert_eq!((&b["pending"], &b["available"]), (&inr(0), &inr(0)), "{b}");
    let report = m.app.local.services.payouts.run(Timestamp::now().plus_secs(DAY)).await.unwrap();
    assert_eq!(report.payouts, 0, "{report:?}");
}
