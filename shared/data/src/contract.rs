//! The storage contract: one suite of cases that every adapter must pass, so the embedded store
//! and DynamoDB behave the same for everything the services rely on. Each adapter crate
//! instantiates the suite with [`crate::contract_suite!`]. Every case works in partitions of
//! its own (a fresh namespace), so cases can share one table and run concurrently.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use crate::port::{Condition, Cursor, Index, Item, Key, Query, SortKey, Store, StoreError, Update, WriteOp};

/// A namespace unique to one case run.
fn ns() -> String {
    format!("T{}", ulid::Ulid::new())
}

fn key(ns: &str, pk: &str, sk: &str) -> Key {
    Key::new(format!("{ns}#{pk}"), sk)
}

pub async fn put_then_get_round_trips_every_json_shape(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    let item = Item::new(&k)
        .with("text", "Ünïcödé ✓ \"quoted\"")
        .with("empty", "")
        .with("count", 42)
        .with("negative", -7)
        .with("big", 9_007_199_254_740_993_i64)
        .with("flag", true)
        .with("list", json!(["a", 1, false, {"nested": [1, 2]}]))
        .with("map", json!({"inner": {"deep": "yes"}, "n": 0}))
        .with("nothing", serde_json::Value::Null);
    store.put(item.clone(), None).await.expect("put");
    assert_eq!(store.get(&k).await.expect("get"), Some(item));
    assert_eq!(store.get(&key(&ns, "P", "other")).await.expect("get absent"), None);
}

pub async fn create_refuses_an_existing_item(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    store.put(Item::new(&k).with("v", 1), Some(Condition::Absent)).await.expect("first create");
    let second = store.put(Item::new(&k).with("v", 2), Some(Condition::Absent)).await;
    assert_eq!(second, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get(&k).await.unwrap().unwrap().get("v"), Some(&json!(1)));
}

pub async fn version_condition_refuses_a_stale_write(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    store.put(Item::new(&k).with("version", 1).with("name", "a"), None).await.unwrap();
    let fresh = Update::new(k.clone()).set("name", "b").add("version", 1).when(Condition::equals("version", 1));
    let after = store.update(fresh).await.expect("fresh version wins");
    assert_eq!(after.get("version"), Some(&json!(2)));
    assert_eq!(after.get("name"), Some(&json!("b")));
    let stale = Update::new(k.clone()).set("name", "c").add("version", 1).when(Condition::equals("version", 1));
    assert_eq!(store.update(stale).await, Err(StoreError::ConditionFailed { index: 0 }));
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!((stored.get("name"), stored.get("version")), (Some(&json!("b")), Some(&json!(2))));
    let stale_put = store.put(Item::new(&k).with("version", 9), Some(Condition::equals("version", 1))).await;
    assert_eq!(stale_put, Err(StoreError::ConditionFailed { index: 0 }));
}

pub async fn update_upserts_sets_adds_and_removes(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    let created = store.update(Update::new(k.clone()).add("n", 5).set("s", "x")).await.expect("upsert");
    assert_eq!(created.key(), Some(k.clone()));
    assert_eq!((created.get("n"), created.get("s")), (Some(&json!(5)), Some(&json!("x"))));
    let changed =
        store.update(Update::new(k.clone()).add("n", -2).remove("s").set("t", json!({"a": 1}))).await.unwrap();
    assert_eq!(changed.get("n"), Some(&json!(3)));
    assert_eq!(changed.get("s"), None);
    assert_eq!(store.get(&k).await.unwrap(), Some(changed));
    let must_exist = Update::new(key(&ns, "P", "absent")).set("a", 1).when(Condition::Exists);
    assert_eq!(store.update(must_exist).await, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get(&key(&ns, "P", "absent")).await.unwrap(), None);
}

pub async fn at_least_guards_a_decrement(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "PRODUCT", "S");
    store.put(Item::new(&k).with("stock", 3), None).await.unwrap();
    let take = |n: i64| Update::new(k.clone()).add("stock", -n).when(Condition::at_least("stock", n));
    assert_eq!(store.update(take(2)).await.unwrap().get("stock"), Some(&json!(1)));
    assert_eq!(store.update(take(2)).await, Err(StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.update(take(1)).await.unwrap().get("stock"), Some(&json!(0)));
    let missing_attr = Update::new(key(&ns, "PRODUCT", "other")).add("stock", -1).when(Condition::at_least("stock", 0));
    assert_eq!(store.update(missing_attr).await, Err(StoreError::ConditionFailed { index: 0 }));
}

pub async fn any_condition_holds_when_one_of_its_parts_does(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "USER", "PROFILE");
    store.put(Item::new(&k).with("name", "a"), None).await.unwrap();
    // A counter that does not exist yet counts as below the cap.
    let below_cap = || Condition::LacksAttr("count".into()).or(Condition::less_than("count", 2));
    for expected in [1, 2] {
        let after = store.update(Update::new(k.clone()).add("count", 1).when(below_cap())).await.unwrap();
        assert_eq!(after.get("count"), Some(&json!(expected)));
    }
    assert_eq!(
        store.update(Update::new(k.clone()).add("count", 1).when(below_cap())).await,
        Err(StoreError::ConditionFailed { index: 0 })
    );
    assert_eq!(
        store.put(Item::new(&k), Some(Condition::Any(vec![]))).await,
        Err(StoreError::ConditionFailed { index: 0 })
    );
}

pub async fn delete_honours_its_condition(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    store.put(Item::new(&k).with("owner", "a"), None).await.unwrap();
    assert_eq!(
        store.delete(&k, Some(Condition::equals("owner", "b"))).await,
        Err(StoreError::ConditionFailed { index: 0 })
    );
    assert!(store.get(&k).await.unwrap().is_some());
    store.delete(&k, Some(Condition::equals("owner", "a"))).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    // Deleting what is not there is not an error without a condition, and is with one.
    store.delete(&k, None).await.unwrap();
    assert_eq!(store.delete(&k, Some(Condition::Exists)).await, Err(StoreError::ConditionFailed { index: 0 }));
}

pub async fn transaction_is_all_or_nothing_and_names_the_failed_op(store: Arc<dyn Store>) {
    let ns = ns();
    let (a, b, c, d) = (key(&ns, "P", "a"), key(&ns, "P", "b"), key(&ns, "P", "c"), key(&ns, "Q", "d"));
    store.put(Item::new(&c).with("stock", 1), None).await.unwrap();
    store.put(Item::new(&d).with("v", "keep"), None).await.unwrap();
    let ops = vec![
        WriteOp::create(Item::new(&a).with("x", 1)),
        WriteOp::Update(Update::new(b.clone()).add("n", 1)),
        WriteOp::Delete { key: d.clone(), condition: None },
        WriteOp::Update(Update::new(c.clone()).add("stock", -2).when(Condition::at_least("stock", 2))),
    ];
    assert_eq!(store.transact(ops).await, Err(StoreError::ConditionFailed { index: 3 }));
    assert_eq!(store.get(&a).await.unwrap(), None);
    assert_eq!(store.get(&b).await.unwrap(), None);
    assert!(store.get(&d).await.unwrap().is_some());
    assert_eq!(store.get(&c).await.unwrap().unwrap().get("stock"), Some(&json!(1)));

    let ops = vec![
        WriteOp::create(Item::new(&a).with("x", 1)),
        WriteOp::Update(Update::new(c.clone()).add("stock", -1).when(Condition::at_least("stock", 1))),
        WriteOp::Check { key: d.clone(), condition: Condition::equals("v", "keep") },
    ];
    store.transact(ops).await.expect("all conditions hold");
    assert!(store.get(&a).await.unwrap().is_some());
    assert_eq!(store.get(&c).await.unwrap().unwrap().get("stock"), Some(&json!(0)));
    let failing_check = vec![
        WriteOp::create(Item::new(&b).with("x", 1)),
        WriteOp::Check { key: d.clone(), condition: Condition::equals("v", "changed") },
    ];
    assert_eq!(store.transact(failing_check).await, Err(StoreError::ConditionFailed { index: 1 }));
    assert_eq!(store.get(&b).await.unwrap(), None);
}

pub async fn malformed_transactions_are_refused(store: Arc<dyn Store>) {
    let ns = ns();
    let a = key(&ns, "P", "a");
    let twice = vec![WriteOp::create(Item::new(&a)), WriteOp::Update(Update::new(a.clone()).add("n", 1))];
    assert!(matches!(store.transact(twice).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.transact(vec![]).await, Err(StoreError::Invalid(_))));
    let too_many = (0..101).map(|i| WriteOp::create(Item::new(&key(&ns, "P", &format!("{i:03}"))))).collect();
    assert!(matches!(store.transact(too_many).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.get(&a).await.unwrap(), None);
    let hundred: Vec<_> = (0..100).map(|i| WriteOp::create(Item::new(&key(&ns, "P", &format!("{i:03}"))))).collect();
    store.transact(hundred).await.expect("100 operations are allowed");
}

async fn seed_partition(store: &Arc<dyn Store>, pk: &Key, sks: &[&str]) {
    for sk in sks {
        store.put(Item::new(&Key::new(pk.pk.clone(), *sk)).with("sk_copy", *sk), None).await.unwrap();
    }
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.key().map(|k| k.sk).unwrap_or_default()).collect()
}

pub async fn query_returns_sort_key_byte_order(store: Arc<dyn Store>) {
    let ns = ns();
    let p = key(&ns, "P", "");
    let all = [
        "ADDRESS#b",
        "ADDRESS#a",
        "ADDRESS#B",
        "ADDRESS#é",
        "ADDRESS#z",
        "PROFILE",
        "SESSION#1",
        "ADDRESS$",
        "ADDRESS",
    ];
    seed_partition(&store, &p, &all).await;
    store.put(Item::new(&key(&ns, "OTHER", "ADDRESS#a")), None).await.unwrap();

    let page = store.query(&Query::table(p.pk.clone()).begins_with("ADDRESS#")).await.unwrap();
    assert_eq!(sks(&page.items), ["ADDRESS#B", "ADDRESS#a", "ADDRESS#b", "ADDRESS#z", "ADDRESS#é"]);
    assert_eq!(page.next, None);
    let desc = store.query(&Query::table(p.pk.clone()).begins_with("ADDRESS#").descending()).await.unwrap();
    assert_eq!(sks(&desc.items), ["ADDRESS#é", "ADDRESS#z", "ADDRESS#b", "ADDRESS#a", "ADDRESS#B"]);
    let everything = store.query(&Query::table(p.pk.clone())).await.unwrap();
    assert_eq!(everything.items.len(), all.len());
    let between = store
        .query(&Query::table(p.pk.clone()).sort(SortKey::Between("ADDRESS#a".into(), "ADDRESS#z".into())))
        .await
        .unwrap();
    assert_eq!(sks(&between.items), ["ADDRESS#a", "ADDRESS#b", "ADDRESS#z"]);
    let at_least = store.query(&Query::table(p.pk.clone()).sort(SortKey::AtLeast("PROFILE".into()))).await.unwrap();
    assert_eq!(sks(&at_least.items), ["PROFILE", "SESSION#1"]);
    let at_most = store.query(&Query::table(p.pk.clone()).sort(SortKey::AtMost("ADDRESS#B".into()))).await.unwrap();
    assert_eq!(sks(&at_most.items), ["ADDRESS", "ADDRESS#B"]);
    let none = store.query(&Query::table(key(&ns, "EMPTY", "").pk)).await.unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
}

/// Pages through a partition while items are added behind and ahead of the cursor: nothing is
/// returned twice, nothing that existed at the start is missed, and the last page says so.
pub async fn paging_neither_repeats_nor_skips_under_inserts(store: Arc<dyn Store>) {
    for descending in [false, true] {
        let ns = ns();
        let p = key(&ns, "P", "").pk;
        let initial: Vec<String> = (0..25).map(|i| format!("ITEM#{:03}", i * 4)).collect();
        for sk in &initial {
            store.put(Item::new(&Key::new(p.clone(), sk.clone())), None).await.unwrap();
        }
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let mut q = Query::table(p.clone()).begins_with("ITEM#").limit(7).after(cursor.clone());
            if descending {
                q = q.descending();
            }
            let page = store.query(&q).await.unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(sks(&page.items));
            pages += 1;
            // Between pages, add one item just after and one just before the last seen item.
            if let Some(last) = seen.last() {
                let n: u32 = last.trim_start_matches("ITEM#").parse().unwrap();
                for extra in [n.saturating_sub(1), n + 1] {
                    let sk = format!("ITEM#{extra:03}");
                    store.put(Item::new(&Key::new(p.clone(), sk)), None).await.unwrap();
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 20, "paging does not end");
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an item came back twice: {seen:?}");
        for sk in &initial {
            assert!(unique.contains(sk), "{sk} was skipped");
        }
        let mut expected_order = seen.clone();
        expected_order.sort();
        if descending {
            expected_order.reverse();
        }
        assert_eq!(seen, expected_order, "pages are out of order");
    }
}

pub async fn a_full_last_page_has_no_cursor(store: Arc<dyn Store>) {
    let ns = ns();
    let p = key(&ns, "P", "").pk;
    for i in 0..14 {
        store.put(Item::new(&Key::new(p.clone(), format!("I#{i:02}"))), None).await.unwrap();
    }
    let first = store.query(&Query::table(p.clone()).limit(7)).await.unwrap();
    assert_eq!(first.items.len(), 7);
    let second = store.query(&Query::table(p.clone()).limit(7).after(first.next.clone())).await.unwrap();
    assert_eq!(second.items.len(), 7);
    assert_eq!(second.next, None, "the last page must say nothing follows");
    assert_eq!(sks(&second.items).first().map(String::as_str), Some("I#07"));
}

pub async fn a_cursor_from_another_list_is_refused(store: Arc<dyn Store>) {
    let ns = ns();
    let mine = key(&ns, "MINE", "").pk;
    let theirs = key(&ns, "THEIRS", "").pk;
    for i in 0..3 {
        store.put(Item::new(&Key::new(mine.clone(), format!("I#{i}"))), None).await.unwrap();
        store.put(Item::new(&Key::new(theirs.clone(), format!("I#{i}"))), None).await.unwrap();
    }
    let page = store.query(&Query::table(theirs.clone()).limit(1)).await.unwrap();
    let foreign = page.next.expect("more follow");
    assert_eq!(store.query(&Query::table(mine).limit(1).after(Some(foreign))).await, Err(StoreError::InvalidCursor));
    assert!(matches!(Cursor::from_client("not-a-cursor"), Err(StoreError::InvalidCursor)));
}

pub async fn index_holds_exactly_the_items_with_both_index_attributes(store: Arc<dyn Store>) {
    let ns = ns();
    let gpk = format!("{ns}#ROLE#seller");
    for i in 0..5 {
        let item = Item::new(&key(&ns, &format!("USER#{i}"), "PROFILE")).with("i", i).in_index(
            Index::Gsi1,
            gpk.clone(),
            format!("U#{i}"),
        );
        store.put(item, None).await.unwrap();
    }
    // Only one of the two index attributes: not in the index.
    store.put(Item::new(&key(&ns, "USER#x", "PROFILE")).with("GSI1PK", gpk.clone()), None).await.unwrap();
    // Same values in the other index: not in this one.
    store.put(Item::new(&key(&ns, "USER#y", "PROFILE")).in_index(Index::Gsi2, gpk.clone(), "U#9"), None).await.unwrap();

    let page1 = store.query(&Query::index(Index::Gsi1, gpk.clone()).limit(3)).await.unwrap();
    let page2 = store.query(&Query::index(Index::Gsi1, gpk.clone()).limit(3).after(page1.next.clone())).await.unwrap();
    let order: Vec<_> = page1.items.iter().chain(&page2.items).map(|i| i.get("i").cloned()).collect();
    assert_eq!(order, (0..5).map(|i| Some(json!(i))).collect::<Vec<_>>());
    assert_eq!(page2.next, None);
    let tail = store
        .query(&Query::index(Index::Gsi1, gpk.clone()).sort(SortKey::AtLeast("U#3".into())).descending())
        .await
        .unwrap();
    assert_eq!(
        tail.items.iter().map(|i| i.get("i").cloned()).collect::<Vec<_>>(),
        vec![Some(json!(4)), Some(json!(3))]
    );

    // Moving an item within the index, and out of it.
    let k0 = key(&ns, "USER#0", "PROFILE");
    store.update(Update::new(k0.clone()).set("GSI1SK", "U#9")).await.unwrap();
    let k1 = key(&ns, "USER#1", "PROFILE");
    store.update(Update::new(k1).remove("GSI1PK")).await.unwrap();
    store.delete(&key(&ns, "USER#2", "PROFILE"), None).await.unwrap();
    let after = store.query(&Query::index(Index::Gsi1, gpk.clone())).await.unwrap();
    assert_eq!(
        after.items.iter().map(|i| i.get("i").cloned()).collect::<Vec<_>>(),
        vec![Some(json!(3)), Some(json!(4)), Some(json!(0))]
    );
    assert_eq!(store.query(&Query::index(Index::Gsi2, gpk)).await.unwrap().items.len(), 1);
}

pub async fn get_many_keeps_the_asked_order_and_skips_the_absent(store: Arc<dyn Store>) {
    let ns = ns();
    let keys: Vec<Key> = (0..150).map(|i| key(&ns, "P", &format!("{i:03}"))).collect();
    for k in keys.iter().step_by(2) {
        store.put(Item::new(k).with("sk_copy", k.sk.clone()), None).await.unwrap();
    }
    let mut asked = keys.clone();
    asked.reverse();
    let found = store.get_many(&asked).await.unwrap();
    let expected: Vec<Key> = asked.iter().filter(|k| k.sk.parse::<u32>().unwrap() % 2 == 0).cloned().collect();
    assert_eq!(found.iter().filter_map(Item::key).collect::<Vec<_>>(), expected);
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

/// 50 tasks race to add to a counter capped at 10: exactly 10 win.
pub async fn racing_conditional_updates_let_exactly_the_allowed_number_win(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "COUNTER", "S");
    store.put(Item::new(&k).with("n", 0), None).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, k) = (store.clone(), k.clone());
        tasks.spawn(async move { store.update(Update::new(k).add("n", 1).when(Condition::less_than("n", 10))).await });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => won += 1,
            Err(StoreError::ConditionFailed { index: 0 }) => lost += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, lost), (10, 40));
    assert_eq!(store.get(&k).await.unwrap().unwrap().get("n"), Some(&json!(10)));
}

/// 50 tasks race to create one item: exactly one wins.
pub async fn racing_creates_let_exactly_one_win(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "EMAIL#a@x.in", "EMAIL");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (store, k) = (store.clone(), k.clone());
        tasks.spawn(async move { store.put(Item::new(&k).with("owner", i), Some(Condition::Absent)).await.map(|_| i) });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(i) => winners.push(i),
            Err(StoreError::ConditionFailed { index: 0 }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.get(&k).await.unwrap().unwrap().get("owner"), Some(&json!(winners[0])));
}

/// 50 tasks race, each in one transaction taking one unit of a stock of 20 and recording its
/// own order: exactly 20 orders exist and the stock ends at 0, never below.
pub async fn racing_transactions_never_oversell(store: Arc<dyn Store>) {
    let ns = ns();
    let product = key(&ns, "PRODUCT", "P");
    store.put(Item::new(&product).with("stock", 20), None).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (store, product, ns) = (store.clone(), product.clone(), ns.clone());
        tasks.spawn(async move {
            let ops = vec![
                WriteOp::Update(Update::new(product).add("stock", -1).when(Condition::at_least("stock", 1))),
                WriteOp::create(Item::new(&key(&ns, "ORDERS", &format!("O#{i:02}")))),
            ];
            store.transact(ops).await
        });
    }
    let (mut won, mut sold_out) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(()) => won += 1,
            Err(StoreError::ConditionFailed { index: 0 }) => sold_out += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, sold_out), (20, 30));
    assert_eq!(store.get(&product).await.unwrap().unwrap().get("stock"), Some(&json!(0)));
    let orders = store.query(&Query::table(key(&ns, "ORDERS", "").pk).limit(100)).await.unwrap();
    assert_eq!(orders.items.len(), 20);
}

pub async fn oversized_items_are_refused(store: Arc<dyn Store>) {
    let ns = ns();
    let k = key(&ns, "P", "S");
    let big = "x".repeat(crate::port::MAX_ITEM_BYTES + 1);
    assert!(matches!(store.put(Item::new(&k).with("blob", big), None).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.get(&k).await.unwrap(), None);
}

/// The notification fan-out's at-most-once claim (`notifications::claim`): of racing claims
/// exactly one is taken; a finished one is done for good; a live `in_progress` one is busy, an
/// expired one (its worker crashed) is taken over; a released one is free again.
pub async fn delivery_claims_are_taken_once_and_taken_over_only_when_expired(store: Arc<dyn Store>) {
    use crate::notifications::{CLAIM_HOLD_SECS, Claim, claim, finish, release};
    use cy_domain::{EventId, UserId};
    let (event, user, now) = (EventId::generate().to_string(), UserId::generate(), 1_800_000_000);
    let racing = (0..8).map(|_| {
        let store = store.clone();
        let (event, user) = (event.clone(), user.clone());
        tokio::spawn(async move { claim(store.as_ref(), &event, &user, "email", now).await.unwrap() })
    });
    let mut taken = 0;
    for outcome in racing {
        match outcome.await.unwrap() {
            Claim::Taken => taken += 1,
            other => assert_eq!(other, Claim::Busy),
        }
    }
    assert_eq!(taken, 1);
    let s = store.as_ref();
    assert_eq!(claim(s, &event, &user, "email", now + CLAIM_HOLD_SECS - 1).await.unwrap(), Claim::Busy);
    assert_eq!(claim(s, &event, &user, "email", now + CLAIM_HOLD_SECS + 1).await.unwrap(), Claim::Taken, "expired");
    finish(s, &event, &user, "email", "sent", now + CLAIM_HOLD_SECS + 2).await.unwrap();
    assert_eq!(claim(s, &event, &user, "email", now + 10 * CLAIM_HOLD_SECS).await.unwrap(), Claim::Done);
    release(s, &event, &user, "email").await.unwrap();
    assert_eq!(claim(s, &event, &user, "email", now).await.unwrap(), Claim::Done, "a done claim is not released");
    assert_eq!(claim(s, &event, &user, "sms", now).await.unwrap(), Claim::Taken, "per channel");
    release(s, &event, &user, "sms").await.unwrap();
    assert_eq!(claim(s, &event, &user, "sms", now).await.unwrap(), Claim::Taken, "released: free again");
}

/// Instantiates every contract case as a test. `$make` is an expression evaluating to a future
/// of `Option<Arc<dyn Store>>`; `None` skips (an adapter whose backend is not available and not
/// required).
#[macro_export]
macro_rules! contract_suite {
    ($make:expr) => {
        $crate::contract_suite!(@cases $make;
            put_then_get_round_trips_every_json_shape,
            create_refuses_an_existing_item,
            version_condition_refuses_a_stale_write,
            update_upserts_sets_adds_and_removes,
            at_least_guards_a_decrement,
            delete_honours_its_condition,
            any_condition_holds_when_one_of_its_parts_does,
            transaction_is_all_or_nothing_and_names_the_failed_op,
            malformed_transactions_are_refused,
            query_returns_sort_key_byte_order,
            paging_neither_repeats_nor_skips_under_inserts,
            a_full_last_page_has_no_cursor,
            a_cursor_from_another_list_is_refused,
            index_holds_exactly_the_items_with_both_index_attributes,
            get_many_keeps_the_asked_order_and_skips_the_absent,
            racing_conditional_updates_let_exactly_the_allowed_number_win,
            racing_creates_let_exactly_one_win,
            racing_transactions_never_oversell,
            oversized_items_are_refused,
            delivery_claims_are_taken_once_and_taken_over_only_when_expired
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(store) = $make.await else { return };
                $crate::contract::$case(store).await;
            }
        )*
    };
}
