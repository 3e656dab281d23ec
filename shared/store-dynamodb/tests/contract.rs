//! The storage contract suite against DynamoDB: moto's server started by the test command
//! (`python3 infra/dev.py test`), with the table created from template.yaml. Without an
//! emulator configured the cases skip, unless `CY_REQUIRE_EMULATOR` is set (as the test
//! command sets it), in which case a missing emulator fails them.

use std::sync::Arc;

use cy_data::Store;
use cy_store_dynamodb::DynamoStore;

async fn emulator_store() -> Option<Arc<dyn Store>> {
    let configured = std::env::var("CY_DYNAMODB_ENDPOINT").is_ok() && std::env::var("CY_TABLE_NAME").is_ok();
    if !configured {
        assert!(
            std::env::var("CY_REQUIRE_EMULATOR").is_err(),
            "CY_REQUIRE_EMULATOR is set but CY_DYNAMODB_ENDPOINT/CY_TABLE_NAME are not"
        );
        eprintln!("skipping: no DynamoDB emulator configured (run through `python3 infra/dev.py test`)");
        return None;
    }
    Some(Arc::new(DynamoStore::from_env().await.expect("store from env")))
}

cy_data::contract_suite!(emulator_store());

/// The adapter counts the requests it sends, so endpoint tests can pin their DynamoDB cost:
/// one request per read, per write and per transaction (not per operation in it).
#[tokio::test]
async fn each_read_write_and_transaction_is_one_request() {
    use cy_data::{Item, Key, ReadItems, WriteItems, WriteOp};
    let Some(_) = emulator_store().await else { return };
    let store = DynamoStore::from_env().await.expect("store");
    let ns = format!("CALLS{}", std::process::id());
    let k = |sk: &str| Key::new(format!("{ns}#{}", ulid_like()), sk);
    let (a, b) = (k("a"), k("b"));
    let before = store.calls();
    store.put(Item::new(&a), None).await.unwrap();
    store.get(&a).await.unwrap();
    store
        .transact(vec![WriteOp::create(Item::new(&b)), WriteOp::Delete { key: a.clone(), condition: None }])
        .await
        .unwrap();
    store.get_many(&[a, b]).await.unwrap();
    assert_eq!(store.calls() - before, 4);
}

fn ulid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}
