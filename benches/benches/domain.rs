//! The hot domain code on its own (criterion): pricing a 10-line quote with tax rules and
//! shipping, checking a state move, verifying an access token (HS256), and the earnings of a
//! paid part — the work every request repeats, beside the place-order and webhook benches.
//!
//! `cargo bench -p cy-benches --bench domain`

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use cy_domain::catalog::quote::{QuoteInput, QuoteLineInput, ShippingRule, TaxRule, compute_quote};
use cy_domain::catalog::{Quantity, UnitPrice};
use cy_domain::order::Actor;
use cy_domain::order::lifecycle::{OrderStatus, check_move};
use cy_domain::{Currency, Money, ProductId, Role, SessionId, Timestamp, UserId};

fn inr(amount: i64) -> Money {
    Money { amount, currency: Currency::parse("INR").expect("INR") }
}

fn quote_lines(sellers: &[UserId]) -> Vec<QuoteLineInput> {
    (0..10)
        .map(|n| QuoteLineInput {
            product_id: ProductId::generate(),
            seller_id: sellers[n % sellers.len()].clone(),
            category: if n % 2 == 0 { "home-mugs".into() } else { "home-prints".into() },
            quantity: Quantity::parse(1 + (n as i64 % 3)).expect("quantity"),
            unit: UnitPrice {
                base: inr(99_900 + n as i64),
                customization: inr(5_000),
                unit: inr(104_900 + n as i64),
                values: BTreeMap::new(),
            },
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let sellers = [UserId::generate(), UserId::generate(), UserId::generate()];
    let shipping = |_: &UserId| ShippingRule { flat: inr(4_900), free_from: Some(inr(200_000)) };
    let rules = [
        TaxRule { category: Some("home-mugs".into()), country: None, bps: 1_200 },
        TaxRule { category: None, country: None, bps: 1_800 },
    ];
    let now = Timestamp::now();
    c.bench_function("price a 10-line quote (3 sellers, tax rules, shipping)", |b| {
        b.iter(|| {
            compute_quote(QuoteInput {
                lines: quote_lines(&sellers),
                coupon: None,
                coupon_used_by_customer: 0,
                now,
                shipping: &shipping,
                tax_rules: &rules,
                destination: None,
            })
            .expect("priced")
        })
    });
    c.bench_function("check a state move (seller: paid → processing)", |b| {
        b.iter(|| check_move(OrderStatus::Paid, OrderStatus::Processing, Actor::Seller).expect("allowed"))
    });
    let keys = cy_http::JwtKeys::new(&[7u8; 40], None).expect("keys");
    let token = keys.issue(&UserId::generate(), Role::Customer, &SessionId::generate(), now).expect("token");
    c.bench_function("verify an access token (HS256)", |b| b.iter(|| keys.verify(&token).expect("valid")));
}

criterion_group!(domain, benches);
criterion_main!(domain);
