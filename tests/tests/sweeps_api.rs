//! The scheduled sweeps never stall: an order that cannot be read or changed (undecodable, or
//! too large for one transaction under an older, looser bound), or a refund entry that cannot be
//! read, fails on its own, is counted, and after repeated failures is set aside for an admin —
//! while every other due order is moved on every run.

use cy_data::orders::sweeps::FAILURES_TO_SET_ASIDE;
use cy_data::{Item, Store, keys};
use cy_domain::order::{Order, OrderStatus};
use cy_domain::{OrderId, ProductId, Timestamp, UserId};
use cy_tests::{Shop, shop};
use http::{Method, StatusCode};
use serde_json::json;

async fn unpaid_orders(shop: &Shop, n: usize) -> Vec<OrderId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (buyer, address) = cy_tests::seed_customer(shop.app.store().as_ref()).await;
        let body = json!({"items": [{"product_id": shop.product, "quantity": 1}], "address_id": address,
            "payment_provider": "stripe"});
        let placed = shop.app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        ids.push(OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap());
    }
    ids
}

/// An order item that does not read as an order, first on the reservation list.
async fn undecodable_order(store: &dyn Store) -> OrderId {
    let id = OrderId::generate();
    let item = Item::new(&keys::order(&id))
        .with("id", id.as_str())
        .with("status", "pending_payment")
        .with("lines", "not a list")
        .in_index(keys::RESERVATIONS, keys::RESERVATIONS_PK, format!("{:012}#{id}", 1));
    store.put(item, None).await.unwrap();
    id
}

/// An unpaid order of 60 products from 60 sellers, as an older, looser bound let one be placed:
/// it reads, but no change of it fits one transaction.
async fn oversized_order(shop: &Shop) -> OrderId {
    let template = shop.app.stored(&unpaid_orders(shop, 1).await[0]).await;
    let mut order: Order = template.clone();
    order.id = OrderId::generate();
    order.lines = (0..60)
        .map(|_| {
            let mut line = template.lines[0].clone();
            line.product_id = ProductId::generate();
            line.seller_id = UserId::generate();
            line
        })
        .collect();
    order.fulfilments = Vec::new();
    order.upgrade_stored();
    order.reserved_until = Timestamp::from_unix(2).unwrap();
    let item = Item::from_record(&keys::order(&order.id), &order).unwrap().in_index(
        keys::RESERVATIONS,
        keys::RESERVATIONS_PK,
        keys::due_sort_value(order.reserved_until, &order.id),
    );
    shop.app.store().put(item, None).await.unwrap();
    order.id
}

#[tokio::test]
async fn a_poisoned_order_is_set_aside_and_every_other_due_order_still_moves() {
    let shop = shop(20).await;
    let store = shop.app.store();
    let poisoned = undecodable_order(store.as_ref()).await;
    let oversized = oversized_order(&shop).await;
    let due = unpaid_orders(&shop, 3).await;
    let later = Timestamp::now().plus_secs(16 * 60);

    // The reservation of the order made for the oversized one's template ended too: 4 in all.
    let first = shop.app.sweeps().reservations(later).await;
    assert_eq!((first.done, first.failed, first.set_aside), (4, 2, 0), "{first:?}");
    for id in &due {
        assert_eq!(shop.app.stored(id).await.status, OrderStatus::Cancelled);
    }
    // New due orders keep moving while the two keep failing, until they are set aside.
    let mut set_aside = 0;
    for run in 2..=FAILURES_TO_SET_ASIDE {
        let more = unpaid_orders(&shop, 1).await;
        let report = shop.app.sweeps().reservations(later).await;
        assert_eq!(report.done, 1, "run {run}: {report:?}");
        assert_eq!(shop.app.stored(&more[0]).await.status, OrderStatus::Cancelled);
        set_aside += report.set_aside;
    }
    assert_eq!(set_aside, 2, "both set aside on their third failure");
    let quiet = shop.app.sweeps().reservations(later).await;
    assert_eq!((quiet.done, quiet.failed, quiet.set_aside), (0, 0, 0), "off the list: {quiet:?}");

    let admin = shop.app.admin().await;
    let listed = shop.app.call(Method::GET, "/admin/sweeps/set-aside", Some(&admin), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let subjects: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|i| i["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects.len(), 2, "{}", listed.body);
    assert!(subjects.contains(&poisoned.as_str()) && subjects.contains(&oversized.as_str()));
    let entry = listed.body["items"].as_array().unwrap().iter().find(|i| i["subject"] == oversized.as_str()).unwrap();
    assert_eq!((entry["sweep"].as_str(), entry["failures"].as_u64()), (Some("reservations"), Some(3)));
    assert!(entry["last_error"].as_str().unwrap().contains("too many"), "{entry}");
    shop.app
        .call(Method::GET, "/admin/sweeps/set-aside", Some(&shop.seller), None)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn one_sweep_failing_does_not_keep_the_others_from_running() {
    let shop = shop(10).await;
    let store = shop.app.store();
    // A refund entry that does not read as one, and a completion that does not read as an order.
    store.put(Item::new(&keys::refund_due_raw("rfd_garbage")).with("nonsense", true), None).await.unwrap();
    let broken = OrderId::generate();
    let item = Item::new(&keys::order(&broken)).with("status", "delivered").in_index(
        keys::COMPLETIONS,
        keys::COMPLETIONS_PK,
        format!("{:012}#{broken}", 1),
    );
    store.put(item, None).await.unwrap();
    let due = unpaid_orders(&shop, 2).await;
    let admin = shop.app.admin().await;
    let later = Timestamp::now().plus_secs(16 * 60);
    let report = shop.app.sweeps().run_all(later).await;
    assert_eq!(report["reservations"]["done"], 2, "{report}");
    assert_eq!(report["refunds"]["failed"], 1, "{report}");
    assert_eq!(report["completions"]["failed"], 1, "{report}");
    for id in &due {
        assert_eq!(shop.app.stored(id).await.status, OrderStatus::Cancelled);
    }
    for _ in 1..FAILURES_TO_SET_ASIDE {
        shop.app.sweeps().run_all(later).await;
    }
    // Through the local runtime's job endpoint: nothing left failing.
    let swept = shop.app.call(Method::POST, "/dev/jobs/order-sweeps", Some(&admin), None).await;
    assert_eq!(swept.status, StatusCode::OK, "{}", swept.body);
    for sweep in ["reservations", "refunds", "completions"] {
        assert_eq!(swept.body[sweep]["failed"], 0, "{}", swept.body);
    }
    let entry = store.get(&keys::refund_due_raw("rfd_garbage")).await.unwrap();
    assert!(entry.is_none(), "set aside, off the list");
    shop.app.call(Method::POST, "/dev/jobs/nope", Some(&admin), None).await.assert_error(404, "not_found");
    shop.app
        .call(Method::POST, "/dev/jobs/order-sweeps", Some(&shop.seller), None)
        .await
        .assert_error(403, "forbidden");
}
