//! The storage port. Items are JSON objects carrying their own key attributes (`PK`, `SK`, and
//! the overloaded index attributes `GSI1PK`/`GSI1SK`, `GSI2PK`/`GSI2SK`), exactly as they sit in
//! DynamoDB. The semantics below are DynamoDB's, and the embedded adapter reproduces them:
//!
//! - reads of the table are strongly consistent; index reads may lag (DynamoDB GSIs are
//!   eventually consistent), so nothing that must be read-your-writes goes through an index;
//! - an item is in an index only when it has both of that index's attributes;
//! - a condition is evaluated against the item as stored before the write (an absent item has
//!   no attributes); comparisons with a missing attribute are false;
//! - a transaction holds 1–100 operations on distinct keys and either all apply or none does;
//!   a failed condition names the operation ([`StoreError::ConditionFailed`]);
//! - queries return items of one partition in sort-key byte order (UTF-8), ascending or
//!   descending; a page holds at most `limit` items and `next` is `None` exactly when nothing
//!   follows; a cursor resumes after the last item of its page even if items were added since.

use std::ops::Bound;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// Epoch seconds after which DynamoDB's TTL may delete the item. Deletion is lazy (hours to
/// days), so readers must still check expiry themselves.
pub const TTL: &str = "ttl";
/// The most operations DynamoDB accepts in one `TransactWriteItems`.
pub const MAX_TRANSACTION_OPS: usize = 100;
/// DynamoDB's item size limit; the embedded store refuses larger items too.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The overloaded global secondary indexes. What each serves is in `keys` and
/// docs/ARCHITECTURE.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1",
            Index::Gsi2 => "GSI2",
        }
    }

    pub fn pk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1PK",
            Index::Gsi2 => "GSI2PK",
        }
    }

    pub fn sk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1SK",
            Index::Gsi2 => "GSI2SK",
        }
    }
}

/// Attribute names owned by the table layout; records may not use them as field names.
pub fn is_reserved_attr(name: &str) -> bool {
    name == PK || name == SK || name == TTL || Index::ALL.iter().any(|i| name == i.pk_attr() || name == i.sk_attr())
}

/// A table key. Build one with the functions in `keys`, never by hand.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key { pk: pk.into(), sk: sk.into() }
    }
}

/// One stored item: a JSON object holding its key attributes and its record's fields.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Item(Map<String, Value>);

impl Item {
    pub fn new(key: &Key) -> Self {
        let mut map = Map::new();
        map.insert(PK.into(), Value::String(key.pk.clone()));
        map.insert(SK.into(), Value::String(key.sk.clone()));
        Item(map)
    }

    /// The item for `record` stored under `key`: the record's fields plus the key attributes.
    pub fn from_record<T: Serialize>(key: &Key, record: &T) -> Result<Self, StoreError> {
        let mut item = Item::new(key);
        match serde_json::to_value(record).map_err(|e| StoreError::Invalid(format!("record: {e}")))? {
            Value::Object(fields) => {
                for (name, value) in fields {
                    if is_reserved_attr(&name) {
                        return Err(StoreError::Invalid(format!("record field {name} is a reserved attribute")));
                    }
                    item.0.insert(name, value);
                }
                Ok(item)
            }
            _ => Err(StoreError::Invalid("a record must serialise to an object".into())),
        }
    }

    /// Puts the item into `index` under the given partition and sort values.
    pub fn in_index(mut self, index: Index, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.0.insert(index.pk_attr().into(), Value::String(pk.into()));
        self.0.insert(index.sk_attr().into(), Value::String(sk.into()));
        self
    }

    pub fn expires_at(mut self, epoch_secs: i64) -> Self {
        self.0.insert(TTL.into(), Value::from(epoch_secs));
        self
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn key(&self) -> Option<Key> {
        Some(Key::new(self.0.get(PK)?.as_str()?, self.0.get(SK)?.as_str()?))
    }

    /// The (partition, sort) values of this item in `index`, if it is in that index.
    pub fn index_key(&self, index: Index) -> Option<(&str, &str)> {
        Some((self.0.get(index.pk_attr())?.as_str()?, self.0.get(index.sk_attr())?.as_str()?))
    }

    /// The record stored in this item (key attributes are ignored by the record type).
    pub fn record<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        T::deserialize(Value::Object(self.0.clone())).map_err(|e| StoreError::Corrupt(format!("{:?}: {e}", self.key())))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn from_map(map: Map<String, Value>) -> Self {
        Item(map)
    }
}

/// A condition on the item as stored before a write.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// No item is stored under the key.
    Absent,
    /// The attribute exists and equals the value (scalars: strings, numbers, booleans).
    Equals(String, Value),
    /// The attribute is a number ≥ the value.
    AtLeast(String, i64),
    /// The attribute is a number ≤ the value.
    AtMost(String, i64),
    /// The attribute is a number < the value.
    LessThan(String, i64),
    HasAttr(String),
    LacksAttr(String),
    All(Vec<Condition>),
    /// At least one holds (an empty list never holds).
    Any(Vec<Condition>),
}

impl Condition {
    pub fn equals(attr: &str, value: impl Into<Value>) -> Self {
        Condition::Equals(attr.into(), value.into())
    }

    pub fn at_least(attr: &str, n: i64) -> Self {
        Condition::AtLeast(attr.into(), n)
    }

    pub fn less_than(attr: &str, n: i64) -> Self {
        Condition::LessThan(attr.into(), n)
    }

    /// Either this or `other`.
    pub fn or(self, other: Condition) -> Self {
        match self {
            Condition::Any(mut any) => {
                any.push(other);
                Condition::Any(any)
            }
            first => Condition::Any(vec![first, other]),
        }
    }

    pub fn and(self, other: Condition) -> Self {
        match self {
            Condition::All(mut all) => {
                all.push(other);
                Condition::All(all)
            }
            first => Condition::All(vec![first, other]),
        }
    }

    /// Evaluates the condition against a stored item (`None`: no item). The embedded store uses
    /// this; the DynamoDB adapter renders the same condition as an expression.
    pub fn holds_for(&self, item: Option<&Item>) -> bool {
        let attr = |name: &str| item.and_then(|i| i.get(name));
        let number = |name: &str| attr(name).and_then(Value::as_i64);
        match self {
            Condition::Exists => item.is_some(),
            Condition::Absent => item.is_none(),
            Condition::Equals(name, value) => attr(name).is_some_and(|v| scalar_eq(v, value)),
            Condition::AtLeast(name, n) => number(name).is_some_and(|v| v >= *n),
            Condition::AtMost(name, n) => number(name).is_some_and(|v| v <= *n),
            Condition::LessThan(name, n) => number(name).is_some_and(|v| v < *n),
            Condition::HasAttr(name) => attr(name).is_some(),
            Condition::LacksAttr(name) => attr(name).is_none(),
            Condition::All(all) => all.iter().all(|c| c.holds_for(item)),
            Condition::Any(any) => any.iter().any(|c| c.holds_for(item)),
        }
    }
}

fn scalar_eq(stored: &Value, expected: &Value) -> bool {
    match (stored, expected) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a == b,
        },
        (a, b) => a == b,
    }
}

/// A change to one item: set attributes, add to numbers (a missing number counts as 0), remove
/// attributes. Without a condition an update creates the item if it is absent (an upsert), as
/// DynamoDB's `UpdateItem` does.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub key: Key,
    pub set: Vec<(String, Value)>,
    pub add: Vec<(String, i64)>,
    pub remove: Vec<String>,
    pub condition: Option<Condition>,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Update { key, set: Vec::new(), add: Vec::new(), remove: Vec::new(), condition: None }
    }

    pub fn set(mut self, attr: &str, value: impl Into<Value>) -> Self {
        self.set.push((attr.into(), value.into()));
        self
    }

    /// Sets every field of a record (an object), e.g. a changed profile.
    pub fn set_record<T: Serialize>(mut self, record: &T) -> Result<Self, StoreError> {
        match serde_json::to_value(record).map_err(|e| StoreError::Invalid(format!("record: {e}")))? {
            Value::Object(fields) => {
                for (name, value) in fields {
                    self.set.push((name, value));
                }
                Ok(self)
            }
            _ => Err(StoreError::Invalid("a record must serialise to an object".into())),
        }
    }

    pub fn add(mut self, attr: &str, delta: i64) -> Self {
        self.add.push((attr.into(), delta));
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.into());
        self
    }

    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = Some(match self.condition.take() {
            Some(existing) => existing.and(condition),
            None => condition,
        });
        self
    }

    /// Checks what DynamoDB would refuse as a malformed request, so both adapters refuse it.
    pub fn validate(&self) -> Result<(), StoreError> {
        let mut touched: Vec<&str> = Vec::new();
        touched.extend(self.set.iter().map(|(n, _)| n.as_str()));
        touched.extend(self.add.iter().map(|(n, _)| n.as_str()));
        touched.extend(self.remove.iter().map(String::as_str));
        if touched.is_empty() {
            return Err(StoreError::Invalid("an update must change something".into()));
        }
        if touched.iter().any(|n| *n == PK || *n == SK) {
            return Err(StoreError::Invalid("an update cannot change the key".into()));
        }
        let mut sorted = touched.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(StoreError::Invalid("an update touches one attribute twice".into()));
        }
        Ok(())
    }

    /// The item after this update is applied to `current` (the embedded store's semantics of
    /// `UpdateItem`).
    pub fn apply_to(&self, current: Option<&Item>) -> Result<Item, StoreError> {
        let mut item = current.cloned().unwrap_or_else(|| Item::new(&self.key));
        for (name, value) in &self.set {
            item.0.insert(name.clone(), value.clone());
        }
        for (name, delta) in &self.add {
            let now = match item.0.get(name) {
                None => 0,
                Some(v) => v.as_i64().ok_or_else(|| StoreError::Invalid(format!("ADD to non-number {name}")))?,
            };
            let next = now.checked_add(*delta).ok_or_else(|| StoreError::Invalid(format!("ADD overflows {name}")))?;
            item.0.insert(name.clone(), Value::from(next));
        }
        for name in &self.remove {
            item.0.remove(name);
        }
        Ok(item)
    }
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update(Update),
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; the transaction fails unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn put(item: Item) -> Self {
        WriteOp::Put { item, condition: None }
    }

    /// Creates the item; fails if one exists under its key.
    pub fn create(item: Item) -> Self {
        WriteOp::Put { item, condition: Some(Condition::Absent) }
    }

    pub fn key(&self) -> Option<Key> {
        match self {
            WriteOp::Put { item, .. } => item.key(),
            WriteOp::Update(u) => Some(u.key.clone()),
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Some(key.clone()),
        }
    }

    pub fn condition(&self) -> Option<&Condition> {
        match self {
            WriteOp::Put { condition, .. } | WriteOp::Delete { condition, .. } => condition.as_ref(),
            WriteOp::Update(u) => u.condition.as_ref(),
            WriteOp::Check { condition, .. } => Some(condition),
        }
    }
}

/// Checks a transaction the way DynamoDB would, before anything is sent or written.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<Vec<Key>, StoreError> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::Invalid(format!("a transaction holds 1 to {MAX_TRANSACTION_OPS} operations")));
    }
    let mut keys = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key().ok_or_else(|| StoreError::Invalid("an item without PK/SK".into()))?;
        if let WriteOp::Update(u) = op {
            u.validate()?;
        }
        keys.push(key);
    }
    let mut sorted = keys.clone();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid("a transaction touches one item twice".into()));
    }
    Ok(keys)
}

/// Which sort keys of the partition a query returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    Any,
    BeginsWith(String),
    /// Inclusive at both ends.
    Between(String, String),
    AtLeast(String),
    AtMost(String),
}

impl SortKey {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortKey::Any => true,
            SortKey::BeginsWith(p) => sk.starts_with(p.as_str()),
            SortKey::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            SortKey::AtLeast(a) => a.as_str() <= sk,
            SortKey::AtMost(b) => sk <= b.as_str(),
        }
    }

    /// The sort-key range as bounds in UTF-8 byte order, for stores that scan ordered keys.
    pub fn bounds(&self) -> (Bound<String>, Bound<String>) {
        match self {
            SortKey::Any => (Bound::Unbounded, Bound::Unbounded),
            SortKey::BeginsWith(p) => {
                (Bound::Included(p.clone()), prefix_successor(p).map_or(Bound::Unbounded, Bound::Excluded))
            }
            SortKey::Between(a, b) => (Bound::Included(a.clone()), Bound::Included(b.clone())),
            SortKey::AtLeast(a) => (Bound::Included(a.clone()), Bound::Unbounded),
            SortKey::AtMost(b) => (Bound::Unbounded, Bound::Included(b.clone())),
        }
    }
}

/// The least string greater than every string that starts with `prefix`, if there is one.
/// UTF-8 byte order is code point order, so bumping the last bumpable character works.
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A query of one partition of the table or of an index.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// The largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;

impl Query {
    pub fn table(pk: impl Into<String>) -> Self {
        Query { index: None, pk: pk.into(), sort: SortKey::Any, descending: false, limit: 100, cursor: None }
    }

    pub fn index(index: Index, pk: impl Into<String>) -> Self {
        Query { index: Some(index), ..Query::table(pk) }
    }

    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    pub fn begins_with(self, prefix: impl Into<String>) -> Self {
        self.sort(SortKey::BeginsWith(prefix.into()))
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The key of the partition/sort attributes this query ranges over.
    pub fn key_attrs(&self) -> (&'static str, &'static str) {
        match self.index {
            None => (PK, SK),
            Some(i) => (i.pk_attr(), i.sk_attr()),
        }
    }

    /// Checks the query and decodes its cursor into the key to resume after. A cursor from
    /// another query (other partition, outside the sort range, other index) is refused, so a
    /// client can neither break a store nor read past the partition it asked for.
    pub fn start_after(&self) -> Result<Option<CursorKey>, StoreError> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(StoreError::Invalid(format!("limit must be 1..={MAX_PAGE}")));
        }
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let key = cursor.decode()?;
        let index_matches = match (self.index, &key.index) {
            (None, None) => true,
            (Some(i), Some((ipk, isk))) => {
                *ipk == self.pk && self.sort.matches(isk) && i.name() == key.index_name.as_deref().unwrap_or("")
            }
            _ => false,
        };
        let table_matches = self.index.is_some() || (key.pk == self.pk && self.sort.matches(&key.sk));
        if index_matches && table_matches { Ok(Some(key)) } else { Err(StoreError::InvalidCursor) }
    }
}

/// Where a page ended: the key attributes of its last item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorKey {
    pub pk: String,
    pub sk: String,
    pub index_name: Option<String>,
    /// The index partition and sort values of the last item, for index queries.
    pub index: Option<(String, String)>,
}

/// An opaque page cursor handed to clients: base64url of the last item's key attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn from_client(raw: &str) -> Result<Self, StoreError> {
        let cursor = Cursor(raw.to_owned());
        cursor.decode()?;
        Ok(cursor)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor that resumes after `item` in a query over `index` (or the table).
    pub fn after(item: &Item, index: Option<Index>) -> Result<Self, StoreError> {
        let key = item.key().ok_or_else(|| StoreError::Corrupt("item without key".into()))?;
        let mut map = Map::new();
        map.insert("p".into(), Value::String(key.pk));
        map.insert("s".into(), Value::String(key.sk));
        if let Some(i) = index {
            let (ipk, isk) =
                item.index_key(i).ok_or_else(|| StoreError::Corrupt("index item without index key".into()))?;
            map.insert("i".into(), Value::String(i.name().into()));
            map.insert("ip".into(), Value::String(ipk.into()));
            map.insert("is".into(), Value::String(isk.into()));
        }
        Ok(Cursor(URL_SAFE_NO_PAD.encode(Value::Object(map).to_string())))
    }

    pub fn decode(&self) -> Result<CursorKey, StoreError> {
        if self.0.len() > 2048 {
            return Err(StoreError::InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).map_err(|_| StoreError::InvalidCursor)?;
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(StoreError::InvalidCursor);
        };
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(pk), Some(sk)) = (text("p"), text("s")) else { return Err(StoreError::InvalidCursor) };
        let index = match (text("ip"), text("is")) {
            (Some(a), Some(b)) => Some((a, b)),
            (None, None) => None,
            _ => return Err(StoreError::InvalidCursor),
        };
        Ok(CursorKey { pk, sk, index_name: text("i"), index })
    }
}

/// One page of a query.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
}

impl Page {
    /// Builds a page from up to `limit + 1` items read in order: the extra item, if any, only
    /// proves that more follow.
    pub fn from_overfetch(mut items: Vec<Item>, limit: u32, index: Option<Index>) -> Result<Page, StoreError> {
        let limit = limit as usize;
        if items.len() > limit {
            items.truncate(limit);
            let next = items.last().map(|last| Cursor::after(last, index)).transpose()?;
            Ok(Page { items, next })
        } else {
            Ok(Page { items, next: None })
        }
    }

    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.items.iter().map(Item::record).collect()
    }
}

/// The most items one filtered page examines before it answers with what it found and a
/// cursor to go on from: a bound on the cost of a request whose filter matches little.
pub const MAX_EXAMINED: usize = 500;

/// A page of the records of `query` that `keep` accepts: filters the key cannot express,
/// applied while paging. Reads in chunks of 100, stops at `query.limit` matches or
/// [`MAX_EXAMINED`] items, and resumes right after the last item examined, so nothing is
/// returned twice or skipped and `next` is `None` only at the end of the partition. A page may
/// hold fewer than `limit` records while `next` is set (the scan bound was reached).
pub async fn query_filtered<T: DeserializeOwned>(
    store: &dyn QueryItems,
    query: &Query,
    keep: &(dyn Fn(&T) -> bool + Sync),
) -> StoreResult<(Vec<T>, Option<Cursor>)> {
    let limit = query.limit as usize;
    let mut chunk = query.clone().limit(100);
    let mut out = Vec::with_capacity(limit);
    let mut examined = 0;
    loop {
        let Page { items, next } = store.query(&chunk).await?;
        for (index, item) in items.iter().enumerate() {
            examined += 1;
            let record: T = item.record()?;
            if keep(&record) {
                out.push(record);
            }
            if out.len() == limit || examined >= MAX_EXAMINED {
                let at_end = index + 1 == items.len() && next.is_none();
                let next = if at_end { None } else { Some(Cursor::after(item, query.index)?) };
                return Ok((out, next));
            }
        }
        match next {
            Some(n) => chunk.cursor = Some(n),
            None => return Ok((out, None)),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// The condition of operation `index` (0 for a single write) did not hold; nothing was
    /// written.
    #[error("the condition of write {index} did not hold")]
    ConditionFailed { index: usize },
    /// Concurrent transactions kept colliding on the same items after retries.
    #[error("too much contention on the same items")]
    Contention,
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    /// A request the store refuses as malformed: a bug in our code, not the client's.
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The store could not be reached or throttled us past our retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not parse: a bug or a migration gap.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn failed_op(&self) -> Option<usize> {
        match self {
            StoreError::ConditionFailed { index } => Some(*index),
            _ => None,
        }
    }
}

/// The mapping of storage failures onto the contract. Callers translate the conditions they
/// expect (a taken email, a stale version) themselves; what reaches this is either a condition
/// nobody anticipated (a concurrent change: 409) or a fault of ours.
impl From<StoreError> for cy_domain::Error {
    fn from(err: StoreError) -> Self {
        use cy_domain::{Error, ErrorCode};
        match err {
            StoreError::ConditionFailed { .. } => Error::conflict(
                ErrorCode::VersionConflict,
                "The record changed while this request was applied; reload and retry.",
            ),
            StoreError::Contention => Error::rate_limited(1),
            StoreError::InvalidCursor => Error::invalid("cursor", "is not a cursor this list gave out"),
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "store unavailable");
                Error::unavailable(1)
            }
            StoreError::Invalid(cause) | StoreError::Corrupt(cause) => {
                tracing::error!(%cause, "store fault");
                Error::internal()
            }
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Reads single items by key (strongly consistent).
#[async_trait]
pub trait ReadItems: Send + Sync {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;
    /// The items found, in the order asked; absent keys are skipped. One round trip for up to
    /// 100 keys on DynamoDB.
    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Item>>;
}

/// Reads a partition of the table or an index, a page at a time.
#[async_trait]
pub trait QueryItems: Send + Sync {
    async fn query(&self, query: &Query) -> StoreResult<Page>;
}

/// Writes: single conditional writes and all-or-nothing transactions.
#[async_trait]
pub trait WriteItems: Send + Sync {
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()>;
    /// Applies the update and returns the item as it is afterwards.
    async fn update(&self, update: Update) -> StoreResult<Item>;
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()>;
    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()>;
}

/// Everything; what wiring code holds. Handlers take the narrower traits they need.
pub trait Store: ReadItems + QueryItems + WriteItems {}
impl<T: ReadItems + QueryItems + WriteItems + ?Sized> Store for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor("ADDRESS#").as_deref(), Some("ADDRESS$"));
        assert_eq!(prefix_successor(""), None);
        let succ = prefix_successor("a\u{10FFFF}").unwrap();
        assert_eq!(succ, "b");
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let item = Item::new(&Key::new("P", "S")).in_index(Index::Gsi1, "G", "g");
        let c = Cursor::after(&item, Some(Index::Gsi1)).unwrap();
        let k = c.decode().unwrap();
        assert_eq!((k.pk.as_str(), k.sk.as_str()), ("P", "S"));
        assert_eq!(k.index, Some(("G".into(), "g".into())));
        for bad in ["", "!!!", "e30", &"A".repeat(5000)] {
            assert!(Cursor::from_client(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cursor_only_resumes_its_own_query() {
        let item = Item::new(&Key::new("USER#1", "ADDRESS#9"));
        let c = Cursor::after(&item, None).unwrap();
        let q = Query::table("USER#1").begins_with("ADDRESS#").after(Some(c.clone()));
        assert!(q.start_after().unwrap().is_some());
        assert_eq!(Query::table("USER#2").after(Some(c.clone())).start_after(), Err(StoreError::InvalidCursor));
        assert_eq!(
            Query::table("USER#1").begins_with("SESSION#").after(Some(c.clone())).start_after(),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(Query::index(Index::Gsi1, "USER#1").after(Some(c)).start_after(), Err(StoreError::InvalidCursor));
    }

    #[test]
    fn conditions_follow_dynamodb_semantics_on_missing_values() {
        let item = Item::new(&Key::new("P", "S")).with("n", 5).with("s", "x");
        assert!(Condition::at_least("n", 5).holds_for(Some(&item)));
        assert!(!Condition::at_least("missing", 0).holds_for(Some(&item)));
        assert!(!Condition::at_least("s", 0).holds_for(Some(&item)));
        assert!(!Condition::equals("n", 5).holds_for(None));
        assert!(Condition::LacksAttr("n".into()).holds_for(None));
        assert!(Condition::Absent.holds_for(None));
        assert!(Condition::equals("n", 5).and(Condition::equals("s", "x")).holds_for(Some(&item)));
    }

    #[test]
    fn malformed_transactions_are_refused_before_any_store_sees_them() {
        let k = Key::new("P", "S");
        let dup = vec![
            WriteOp::Check { key: k.clone(), condition: Condition::Exists },
            WriteOp::Delete { key: k.clone(), condition: None },
        ];
        assert!(matches!(validate_transaction(&dup), Err(StoreError::Invalid(_))));
        assert!(validate_transaction(&[]).is_err());
        let empty_update = vec![WriteOp::Update(Update::new(k.clone()))];
        assert!(validate_transaction(&empty_update).is_err());
        let key_change = vec![WriteOp::Update(Update::new(k).set(PK, "x"))];
        assert!(validate_transaction(&key_change).is_err());
    }
}
