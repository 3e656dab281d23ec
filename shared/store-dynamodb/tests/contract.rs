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
