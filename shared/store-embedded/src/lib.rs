//! The embedded store: the storage port on a local redb file, for the local runtime and tests.
//!
//! It reproduces DynamoDB's semantics (see `cy_data::port`): items are JSON objects under
//! (PK, SK) in one ordered table; each GSI is a second ordered table keyed by
//! (index PK, index SK, PK, SK), maintained in the same write transaction as the item.
//! redb serialises write transactions, so a conditional write or a transaction evaluates its
//! conditions and applies its changes with no other writer in between: all-or-nothing, and
//! exactly as many winners as the conditions allow. Every commit is durable (fsync) before it
//! returns, so the data survives a restart or a crash; concurrent writes share a commit (group
//! commit, `writer`), so they share its fsync too.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use cy_data::port::{
    self, Condition, Index, Item, Key, Page, Query, QueryItems, ReadItems, StoreError, StoreResult, Update, WriteItems,
    WriteOp,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

mod writer;

use writer::Writer;

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");
const GSI2: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi2");

fn index_table(index: Index) -> TableDefinition<'static, (&'static str, &'static str, &'static str, &'static str), ()> {
    match index {
        Index::Gsi1 => GSI1,
        Index::Gsi2 => GSI2,
    }
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

pub(crate) fn fault(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {e}"))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in the file at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let db = Arc::new(Database::create(path).map_err(fault)?);
        ensure_tables(&db)?;
        let writer = Arc::new(Writer::start(db.clone())?);
        Ok(EmbeddedStore { db, writer })
    }

    /// Runs a read on the caller's task. A read of the store's cached pages takes microseconds,
    /// less than handing it to tokio's blocking pool and back (measured together with group
    /// commit: docs/PERFORMANCE.md, "Load against a bare axum server"); redb's readers never
    /// wait for the writer (MVCC), so a read cannot stall behind a commit's fsync. A page not in
    /// the cache is read from disk on the worker, which the local runtime can afford.
    fn read<T>(&self, work: impl FnOnce(&Database) -> StoreResult<T>) -> StoreResult<T> {
        work(&self.db)
    }
}

fn ensure_tables(db: &Database) -> StoreResult<()> {
    let txn = db.begin_write().map_err(fault)?;
    txn.open_table(ITEMS).map_err(fault)?;
    txn.open_table(GSI1).map_err(fault)?;
    txn.open_table(GSI2).map_err(fault)?;
    txn.commit().map_err(fault)
}

fn decode(bytes: &[u8]) -> StoreResult<Item> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(Item::from_map(map)),
        _ => Err(StoreError::Corrupt("an embedded item is not a JSON object".into())),
    }
}

pub(crate) fn encode(item: &Item) -> StoreResult<Vec<u8>> {
    let bytes = serde_json::to_vec(item.as_map()).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if bytes.len() > port::MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!("item of {} bytes exceeds the item size limit", bytes.len())));
    }
    Ok(bytes)
}

/// Checks what DynamoDB would refuse about an item's own attributes.
fn check_item(item: &Item) -> StoreResult<Key> {
    let key = item.key().ok_or_else(|| StoreError::Invalid("an item needs string PK and SK".into()))?;
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("key attributes must not be empty".into()));
    }
    for index in Index::ALL {
        for attr in [index.pk_attr(), index.sk_attr()] {
            match item.get(attr) {
                None => {}
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => return Err(StoreError::Invalid(format!("{attr} must be a non-empty string"))),
            }
        }
    }
    Ok(key)
}

type ItemsTable<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
type IndexTable<'t> = redb::Table<'t, (&'static str, &'static str, &'static str, &'static str), ()>;

pub(crate) struct Tables<'t> {
    items: ItemsTable<'t>,
    gsi: [IndexTable<'t>; 2],
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t redb::WriteTransaction) -> StoreResult<Self> {
        Ok(Tables {
            items: txn.open_table(ITEMS).map_err(fault)?,
            gsi: [txn.open_table(GSI1).map_err(fault)?, txn.open_table(GSI2).map_err(fault)?],
        })
    }

    pub(crate) fn load(&self, key: &Key) -> StoreResult<Option<Item>> {
        match self.items.get((key.pk.as_str(), key.sk.as_str())).map_err(fault)? {
            Some(bytes) => decode(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces what is stored under `key` (`None`: deletes), keeping both indexes in step.
    /// `after` comes with its encoding ([`encode`], done while planning, so an item too large
    /// is that write's refusal rather than a fault of the whole commit).
    pub(crate) fn store(&mut self, key: &Key, before: Option<&Item>, after: Option<(&Item, &[u8])>) -> StoreResult<()> {
        for (slot, index) in Index::ALL.into_iter().enumerate() {
            if let Some((ipk, isk)) = before.and_then(|b| b.index_key(index)) {
                self.gsi[slot].remove((ipk, isk, key.pk.as_str(), key.sk.as_str())).map_err(fault)?;
            }
            if let Some((ipk, isk)) = after.and_then(|(a, _)| a.index_key(index)) {
                self.gsi[slot].insert((ipk, isk, key.pk.as_str(), key.sk.as_str()), ()).map_err(fault)?;
            }
        }
        match after {
            Some((_, bytes)) => {
                self.items.insert((key.pk.as_str(), key.sk.as_str()), bytes).map_err(fault)?;
            }
            None => {
                self.items.remove((key.pk.as_str(), key.sk.as_str())).map_err(fault)?;
            }
        }
        Ok(())
    }
}

/// The item an operation leaves under its key: `Ok(None)` deletes, `Err` for a bad request.
pub(crate) fn outcome(op: &WriteOp, current: Option<&Item>) -> StoreResult<Option<Option<Item>>> {
    Ok(match op {
        WriteOp::Put { item, .. } => {
            check_item(item)?;
            Some(Some(item.clone()))
        }
        WriteOp::Update(update) => {
            let next = update.apply_to(current)?;
            check_item(&next)?;
            Some(Some(next))
        }
        WriteOp::Delete { .. } => Some(None),
        WriteOp::Check { .. } => None,
    })
}

#[async_trait]
impl ReadItems for EmbeddedStore {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.read(|db| {
            let txn = db.begin_read().map_err(fault)?;
            let items = txn.open_table(ITEMS).map_err(fault)?;
            match items.get((key.pk.as_str(), key.sk.as_str())).map_err(fault)? {
                Some(bytes) => decode(bytes.value()).map(Some),
                None => Ok(None),
            }
        })
    }

    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        self.read(|db| {
            let txn = db.begin_read().map_err(fault)?;
            let items = txn.open_table(ITEMS).map_err(fault)?;
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(bytes) = items.get((key.pk.as_str(), key.sk.as_str())).map_err(fault)? {
                    found.push(decode(bytes.value())?);
                }
            }
            Ok(found)
        })
    }
}

fn as_str(b: &Bound<String>) -> Bound<&str> {
    match b {
        Bound::Included(s) => Bound::Included(s.as_str()),
        Bound::Excluded(s) => Bound::Excluded(s.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Narrows the query's sort range to what lies after the cursor (in the query's direction).
fn after_cursor(
    lo: Bound<String>,
    hi: Bound<String>,
    cursor_sk: Option<String>,
    descending: bool,
) -> (Bound<String>, Bound<String>) {
    match (cursor_sk, descending) {
        (None, _) => (lo, hi),
        (Some(c), false) => (Bound::Excluded(c), hi),
        (Some(c), true) => (lo, Bound::Excluded(c)),
    }
}

fn query_table(db: &Database, q: &Query) -> StoreResult<Page> {
    let start = q.start_after()?;
    let (lo, hi) = q.sort.bounds();
    let (lo, hi) = after_cursor(lo, hi, start.map(|c| c.sk), q.descending);
    let txn = db.begin_read().map_err(fault)?;
    let items = txn.open_table(ITEMS).map_err(fault)?;
    let pk = q.pk.as_str();
    // Unbounded sort ends become the partition's ends: "" is the least sort key, and every key
    // of the partition sorts before (pk + "\0", "").
    let pk_end = format!("{pk}\0");
    let lower = match as_str(&lo) {
        Bound::Included(s) => Bound::Included((pk, s)),
        Bound::Excluded(s) => Bound::Excluded((pk, s)),
        Bound::Unbounded => Bound::Included((pk, "")),
    };
    let upper = match as_str(&hi) {
        Bound::Included(s) => Bound::Included((pk, s)),
        Bound::Excluded(s) => Bound::Excluded((pk, s)),
        Bound::Unbounded => Bound::Excluded((pk_end.as_str(), "")),
    };
    let range = items.range::<(&str, &str)>((lower, upper)).map_err(fault)?;
    let wanted = q.limit as usize + 1;
    let mut out = Vec::with_capacity(wanted.min(128));
    let entries: Box<dyn Iterator<Item = _>> = if q.descending { Box::new(range.rev()) } else { Box::new(range) };
    for entry in entries {
        let (_, bytes) = entry.map_err(fault)?;
        out.push(decode(bytes.value())?);
        if out.len() >= wanted {
            break;
        }
    }
    Page::from_overfetch(out, q.limit, None)
}

fn query_index(db: &Database, index: Index, q: &Query) -> StoreResult<Page> {
    let start = q.start_after()?;
    let txn = db.begin_read().map_err(fault)?;
    let gsi = txn.open_table(index_table(index)).map_err(fault)?;
    let items = txn.open_table(ITEMS).map_err(fault)?;
    let ipk = q.pk.as_str();
    let ipk_end = format!("{ipk}\0");
    let (lo, hi) = q.sort.bounds();
    // Index keys are (ipk, isk, pk, sk); a bound on isk alone becomes a bound on the tuple:
    // ("", "") is below every (pk, sk), and isk + "\0" is the least sort value above isk.
    let hi_incl_end = match &hi {
        Bound::Included(s) => Some(format!("{s}\0")),
        _ => None,
    };
    let mut lower = match as_str(&lo) {
        Bound::Included(s) => Bound::Included((ipk, s, "", "")),
        Bound::Excluded(_) | Bound::Unbounded => Bound::Included((ipk, "", "", "")),
    };
    let mut upper = match (&hi, &hi_incl_end) {
        (Bound::Included(_), Some(end)) => Bound::Excluded((ipk, end.as_str(), "", "")),
        (Bound::Excluded(s), _) => Bound::Excluded((ipk, s.as_str(), "", "")),
        _ => Bound::Excluded((ipk_end.as_str(), "", "", "")),
    };
    let cursor = start.and_then(|c| c.index.map(|(cpk, csk)| (cpk, csk, c.pk, c.sk)));
    if let Some((cpk, csk, pk, sk)) = &cursor {
        let at = (cpk.as_str(), csk.as_str(), pk.as_str(), sk.as_str());
        if q.descending {
            upper = Bound::Excluded(at);
        } else {
            lower = Bound::Excluded(at);
        }
    }
    let range = gsi.range::<(&str, &str, &str, &str)>((lower, upper)).map_err(fault)?;
    let wanted = q.limit as usize + 1;
    let mut out = Vec::with_capacity(wanted.min(128));
    let entries: Box<dyn Iterator<Item = _>> = if q.descending { Box::new(range.rev()) } else { Box::new(range) };
    for entry in entries {
        let (k, _) = entry.map_err(fault)?;
        let (_, _, pk, sk) = k.value();
        let bytes = items
            .get((pk, sk))
            .map_err(fault)?
            .ok_or_else(|| StoreError::Corrupt(format!("index entry without item: {pk}/{sk}")))?;
        out.push(decode(bytes.value())?);
        if out.len() >= wanted {
            break;
        }
    }
    Page::from_overfetch(out, q.limit, Some(index))
}

#[async_trait]
impl QueryItems for EmbeddedStore {
    async fn query(&self, query: &Query) -> StoreResult<Page> {
        self.read(|db| match query.index {
            None => query_table(db, query),
            Some(index) => query_index(db, index, query),
        })
    }
}

fn single(op: WriteOp) -> StoreResult<(Vec<WriteOp>, Vec<Key>)> {
    if let WriteOp::Update(u) = &op {
        u.validate()?;
    }
    let key = op.key().ok_or_else(|| StoreError::Invalid("an item needs string PK and SK".into()))?;
    Ok((vec![op], vec![key]))
}

#[async_trait]
impl WriteItems for EmbeddedStore {
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        let (ops, keys) = single(WriteOp::Put { item, condition })?;
        self.writer.write(ops, keys).await.map(drop)
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        let (ops, keys) = single(WriteOp::Update(update))?;
        self.writer
            .write(ops, keys)
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| StoreError::Corrupt("update left no item".into()))
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        let (ops, keys) = single(WriteOp::Delete { key: key.clone(), condition })?;
        self.writer.write(ops, keys).await.map(drop)
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let keys = port::validate_transaction(&ops)?;
        self.writer.write(ops, keys).await.map(drop)
    }
}
