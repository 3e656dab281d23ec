//! The storage contract suite against the embedded store, each case on its own database file.

use std::sync::Arc;

use cy_data::Store;
use cy_store_embedded::EmbeddedStore;

async fn fresh_store() -> Option<Arc<dyn Store>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("open");
    // The directory must outlive the store; leaking it keeps the file for the test's life.
    std::mem::forget(dir);
    Some(Arc::new(store))
}

cy_data::contract_suite!(fresh_store());

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    use cy_data::{Item, Key, ReadItems, WriteItems};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let key = Key::new("USER#1", "PROFILE");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        store
            .put(Item::new(&key).with("name", "Asha").in_index(cy_data::Index::Gsi1, "ROLE#customer", "USER#1"), None)
            .await
            .unwrap();
    }
    let reopened = EmbeddedStore::open(&path).unwrap();
    assert_eq!(reopened.get(&key).await.unwrap().unwrap().get("name"), Some(&serde_json::json!("Asha")));
    let page = cy_data::QueryItems::query(&reopened, &cy_data::Query::index(cy_data::Index::Gsi1, "ROLE#customer"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}
