//! A generated month of trade, paid out by the batch, checked against an independent
//! computation written here from the test's own inputs (prices, quantities, rates, refunded
//! units) — not from anything the system stored. 50 sellers, 2,000 orders of one to three
//! sellers each, commission overrides at all three levels, partial refunds before payout
//! (delivered parts) and after it (completed parts, leaving balances below zero that the next
//! payout nets), three payout runs on three days.

use std::collections::BTreeMap;

use cy_data::sellers::{KycRecord, SellerRecord, StoredPayoutAccount};
use cy_domain::payment::PaymentProvider;
use cy_domain::product::CategoryId;
use cy_domain::seller::KycStatus;
use cy_domain::{Email, OrderId, PersonName, Role, SessionId, Timestamp, User, UserId};
use cy_tests::{TEST_JWT_SECRET, shop};
use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::json;

const SELLERS: usize = 50;
const ORDERS: usize = 2000;
const DAY: i64 = 24 * 3600;

/// A small deterministic generator (the month is the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// `amount × n / d`, rounded half to even — written again here, on purpose, from the rule.
fn half_even(amount: i64, n: i64, d: i64) -> i64 {
    let (num, den) = (i128::from(amount) * i128::from(n), i128::from(d));
    let (q, r) = (num.div_euclid(den), num.rem_euclid(den));
    let q = match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    q as i64
}

struct Line {
    seller: usize,
    product: usize,
    quantity: i64,
    refunded: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_month_pays_each_seller_exactly_what_an_independent_computation_says() {
    let shop = shop(1).await;
    let app = &shop.app;
    let store = app.store();
    let admin = app.admin().await;
    let keys = cy_http::JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap();
    let data_key = app.local.services.payouts.data_key.clone();
    let template = cy_data::catalog::get_product(store.as_ref(), &cy_domain::ProductId::parse(&shop.product).unwrap())
        .await
        .unwrap()
        .unwrap();
    for (slug, name) in [("home-prints", "Prints"), ("home-frames", "Frames")] {
        let category = cy_data::catalog::CategoryRecord {
            slug: CategoryId::parse(slug).unwrap(),
            name: name.into(),
            parent: None,
            version: 1,
        };
        cy_data::catalog::put_category_if_absent(store.as_ref(), &category).await.unwrap();
    }
    let categories = ["home-mugs", "home-prints", "home-frames"];

    // 50 approved sellers with payout accounts, two products each (prices that make rounding
    // matter), written directly (no bcrypt for 50 accounts).
    let mut rng = Lcg(20261201);
    let now = Timestamp::now();
    let mut sellers: Vec<(UserId, String)> = Vec::new();
    let mut products: Vec<(String, usize, i64, &str)> = Vec::new(); // (id, seller, price, category)
    for s in 0..SELLERS {
        let id = UserId::generate();
        let user = User {
            id: id.clone(),
            email: Email::parse(&format!("seller{s}@month.example.in")).unwrap(),
            name: PersonName::parse("Seller").unwrap(),
            role: Role::Seller,
            phone: None,
            email_verified: true,
            phone_verified: false,
            password_hash: "not-a-login".into(),
            address_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let audit = cy_data::audit::AuditRecord::new(None, "test.seed", id.as_str(), json!({}));
        cy_data::accounts::create_user(store.as_ref(), &user, &audit, Vec::new()).await.unwrap();
        let number = format!("5010{s:08}");
        let record = SellerRecord {
            seller_id: id.clone(),
            shop_name: Some(format!("Shop {s}")),
            description: None,
            logo: None,
            payout_account: Some(StoredPayoutAccount {
                holder_name: "Holder".into(),
                account_number_sealed: data_key.seal(number.as_bytes(), &format!("seller:{id}:account")).unwrap(),
                account_number_last4: number[number.len() - 4..].to_owned(),
                ifsc: "HDFC0001234".into(),
                stripe_account: None,
            }),
            kyc: KycRecord { status: KycStatus::Approved, ..KycRecord::default() },
            updated_at: now,
            version: 0,
        };
        cy_data::sellers::save(store.as_ref(), 0, &record, Vec::new()).await.unwrap();
        let token = keys.issue(&id, Role::Seller, &SessionId::generate(), now).unwrap();
        for p in 0..2 {
            let mut product = template.clone();
            product.id = cy_domain::ProductId::generate();
            product.seller_id = id.clone();
            product.stock = 100_000;
            product.base_price.amount = 999 + rng.next(40_000) as i64;
            let category = categories[(s + p) % 3];
            product.category_id = CategoryId::parse(category).unwrap();
            cy_data::catalog::create_product(store.as_ref(), &product, Vec::new()).await.unwrap();
            products.push((product.id.to_string(), s, product.base_price.amount, category));
        }
        sellers.push((id, token));
    }

    // Commission at all three levels: the platform's, two categories', five sellers' (one 0).
    let mut seller_rates = serde_json::Map::new();
    for (s, bps) in [(0, 500), (7, 0), (13, 2_250), (21, 333), (42, 1_999)] {
        seller_rates.insert(sellers[s].0.to_string(), json!(bps));
    }
    let rates = json!({"platform_bps": 1_250, "categories": {"home-prints": 1_500, "home-frames": 875}, "sellers": seller_rates});
    let set = app.call(Method::PUT, "/admin/settings/commission", Some(&admin), Some(rates)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let rate_of = |seller: usize, category: &str| -> i64 {
        match seller {
            0 => 500,
            7 => 0,
            13 => 2_250,
            21 => 333,
            42 => 1_999,
            _ => match category {
                "home-prints" => 1_500,
                "home-frames" => 875,
                _ => 1_250,
            },
        }
    };

    // 2,000 orders: one to three sellers each, paid, each part delivered.
    let mut customers = Vec::new();
    for _ in 0..40 {
        customers.push(cy_tests::seed_customer(store.as_ref()).await);
    }
    let mut plans: Vec<Vec<Line>> = Vec::new();
    for _ in 0..ORDERS {
        let parts = 1 + rng.next(3) as usize;
        let mut lines: Vec<Line> = Vec::new();
        while lines.len() < parts {
            let seller = rng.next(SELLERS as u64) as usize;
            if lines.iter().any(|l| l.seller == seller) {
                continue;
            }
            let product = seller * 2 + rng.next(2) as usize;
            lines.push(Line { seller, product, quantity: 1 + rng.next(4) as i64, refunded: 0 });
        }
        plans.push(lines);
    }
    let placed: Vec<OrderId> = futures::stream::iter(plans.iter().enumerate())
        .map(|(n, lines)| {
            let (buyer, address) = &customers[n % customers.len()];
            let products = &products;
            let sellers = &sellers;
            async move {
                let items: Vec<_> = lines
                    .iter()
                    .map(|l| json!({"product_id": products[l.product].0, "quantity": l.quantity}))
                    .collect();
                let body = json!({"items": items, "address_id": address, "payment_provider": "razorpay"});
                let answer = app.call(Method::POST, "/orders", Some(buyer), Some(body)).await;
                assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
                let id = OrderId::parse(answer.body["order"]["id"].as_str().unwrap()).unwrap();
                let paid = app.deliver(PaymentProvider::Razorpay, "payment.captured", &id).await;
                assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
                for line in lines {
                    for status in ["processing", "shipped", "delivered"] {
                        let body = json!({"status": status, "tracking": {"carrier": "BlueDart", "number": "BD1"}});
                        let token = &sellers[line.seller].1;
                        let moved =
                            app.call(Method::PUT, &format!("/orders/{id}/status"), Some(token), Some(body)).await;
                        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
                    }
                }
                id
            }
        })
        .buffered(8)
        .collect()
        .await;

    // The lines of a placed order are in the order asked; a line's index is its position.
    let refund = |id: &OrderId, line: usize, units: i64| {
        let body = json!({"lines": [{"line": line, "quantity": units}], "reason": "partial refund"});
        let path = format!("/orders/{id}/refunds");
        let admin = admin.clone();
        async move {
            let answer = app.call(Method::POST, &path, Some(&admin), Some(body)).await;
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        }
    };
    // Refunds before payout: units of delivered lines (one order in seven).
    for (n, id) in placed.iter().enumerate().filter(|(n, _)| n % 7 == 0) {
        let line = n % plans[n].len();
        let units = 1 + (n as i64 % plans[n][line].quantity);
        refund(id, line, units).await;
        plans[n][line].refunded += units;
    }
    let payouts = &app.local.services.payouts;
    let day1 = Timestamp::now().plus_secs(8 * DAY);
    // The completion sweep works in time slices: run it until nothing is left to complete.
    while app.sweeps().run_all(day1).await["completions"]["done"].as_u64() != Some(0) {}
    let first = payouts.run(day1).await.unwrap();
    assert_eq!(first.paid as usize, SELLERS, "{first:?}");

    // Refunds after payout: completed lines (one order in eleven), leaving some balances below
    // zero; then the next days' runs net them.
    for (n, id) in placed.iter().enumerate().filter(|(n, _)| n % 11 == 3) {
        let line = (n / 11) % plans[n].len();
        let left = plans[n][line].quantity - plans[n][line].refunded;
        if left == 0 {
            continue;
        }
        let units = 1 + (n as i64 % left);
        refund(id, line, units).await;
        plans[n][line].refunded += units;
    }
    payouts.run(day1.plus_secs(DAY)).await.unwrap();
    payouts.run(day1.plus_secs(2 * DAY)).await.unwrap();

    // The independent computation: per seller, each line's net less commission at its rate,
    // less the earned share of its refunded units.
    let mut expected: BTreeMap<usize, (i64, i64)> = BTreeMap::new(); // seller → (net, commission)
    for lines in &plans {
        for l in lines {
            let (_, seller, price, category) = products[l.product];
            let net = price * l.quantity;
            let commission = half_even(net, rate_of(seller, category), 10_000);
            let earned = net - commission;
            let kept = earned - half_even(earned, l.refunded, l.quantity);
            let kept_commission = commission - half_even(commission, l.refunded, l.quantity);
            let e = expected.entry(seller).or_default();
            e.0 += kept;
            e.1 += kept_commission;
        }
    }
    let mut total_paid = 0;
    for (s, (id, token)) in sellers.iter().enumerate() {
        let (net, _) = expected.get(&s).copied().unwrap_or_default();
        let balance = app.call(Method::GET, "/seller/balance", Some(token), None).await.body;
        let paid_out = balance["paid_out"]["amount"].as_i64().unwrap();
        let available = balance["available"]["amount"].as_i64().unwrap();
        assert_eq!(balance["pending"]["amount"], 0, "{id}: {balance}");
        assert_eq!(balance["processing"]["amount"], 0, "{id}: {balance}");
        assert_eq!(paid_out + available, net, "seller {s}: paid out and left must be what they earned: {balance}");
        assert!(available <= 0, "whatever was positive was paid: {balance}");
        // The payouts add up to what was paid out, and each payout's lines to its amount.
        let listed = app.call(Method::GET, "/seller/payouts?limit=100", Some(token), None).await.body;
        let mut sum = 0;
        for payout in listed["items"].as_array().unwrap() {
            assert_eq!(payout["status"], "paid");
            let amount = payout["amount"]["amount"].as_i64().unwrap();
            sum += amount;
            let pid = payout["id"].as_str().unwrap();
            let one = app.call(Method::GET, &format!("/seller/payouts/{pid}"), Some(token), None).await.body;
            let lines: i64 =
                one["lines"].as_array().unwrap().iter().map(|l| l["amount"]["amount"].as_i64().unwrap()).sum();
            assert_eq!(lines, amount, "{one}");
        }
        assert_eq!(sum, paid_out, "seller {s}");
        total_paid += paid_out;
    }
    let expected_total: i64 = expected.values().map(|(net, _)| net).sum();
    assert!(total_paid > 0 && total_paid >= expected_total, "refunds after payout leave balances below zero");
}
