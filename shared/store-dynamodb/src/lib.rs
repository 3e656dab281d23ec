//! The storage port on DynamoDB (`aws-sdk-dynamodb`, items mapped with `serde_dynamo`).
//!
//! Conditions render as condition expressions; a failed condition — on a single write or
//! inside `TransactWriteItems` (read from the `CancellationReasons`) — becomes
//! [`StoreError::ConditionFailed`] naming the operation, which services map to a 409, never a
//! 500. Transactions that lose to a concurrent transaction (`TransactionConflict`) are retried
//! with jittered backoff; the SDK's own retries are safe because it fills
//! `ClientRequestToken`, making a retried `TransactWriteItems` idempotent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
    Update as DynamoUpdate,
};
use cy_data::port::{
    self, Condition, CursorKey, Index, Item, Key, Page, Query, QueryItems, ReadItems, SortKey, StoreError, StoreResult,
    Update, WriteItems, WriteOp,
};
use serde_json::{Map, Value};

mod usage;

use usage::Meter;
pub use usage::{ReadKind, Usage, item_size, write_units};

type AttrMap = HashMap<String, AttributeValue>;

/// Retries of a transaction that lost to a concurrent one, before answering `Contention`.
const CONFLICT_RETRIES: u32 = 8;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    meter: Arc<Meter>,
    /// Whether the units of each request are worked out (tests and the cost report only: it
    /// sizes every item read and written, and reads an item before deleting or after a
    /// transaction updated it, uncounted, to learn its size).
    recording: bool,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), meter: Arc::new(Meter::default()), recording: false }
    }

    /// The store a Lambda uses: the table from `TABLE_NAME` (or `CY_TABLE_NAME`), credentials
    /// and region from the environment, and `CY_DYNAMODB_ENDPOINT` (or `CY_AWS_ENDPOINT`) to
    /// point at a local emulator.
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME")
            .or_else(|_| std::env::var("CY_TABLE_NAME"))
            .map_err(|_| "TABLE_NAME is not set".to_owned())?;
        Ok(Self::for_table(table).await)
    }

    /// The store on `table`, credentials and region from the environment (an operator's
    /// command names the table), `CY_DYNAMODB_ENDPOINT` for an emulator.
    pub async fn for_table(table: String) -> Self {
        let shared = cy_outbound::aws_config().await;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Ok(endpoint) = std::env::var("CY_DYNAMODB_ENDPOINT").or_else(|_| std::env::var("CY_AWS_ENDPOINT")) {
            config = config.endpoint_url(endpoint);
        }
        DynamoStore::new(Client::from_conf(config.build()), table)
    }

    /// DynamoDB requests sent so far by this store (and its clones): what tests measure to keep
    /// each API call's cost in check.
    pub fn calls(&self) -> u64 {
        self.meter.snapshot().calls
    }

    /// This store (a fresh meter) with the read and write units of each request worked out.
    pub fn recording_usage(self) -> Self {
        DynamoStore { meter: Arc::new(Meter::default()), recording: true, ..self }
    }

    /// Requests and units so far (units stay zero unless [`Self::recording_usage`]).
    pub fn usage(&self) -> Usage {
        self.meter.snapshot()
    }

    fn count(&self) {
        self.meter.call();
    }

    fn metered_read(&self, kind: ReadKind, bytes: u64) {
        if self.recording {
            self.meter.read(kind, bytes);
        }
    }

    /// A write that turned `before` into `after` (either absent): the table's units on the
    /// larger of the two, as DynamoDB bills, plus each index's writes (ALL projection: the whole
    /// item) — one to add, change or remove the item's entry, two when its index key moved (a
    /// delete and a put there). Assumed, not found in AWS's documents: index writes are not
    /// doubled by a transaction.
    fn metered_write(&self, before: Option<&AttrMap>, after: Option<&AttrMap>, transactional: bool) {
        if !self.recording {
            return;
        }
        let (old, new) = (before.map_or(0, item_size), after.map_or(0, item_size));
        self.meter.write(old.max(new), transactional);
        for index in Index::ALL {
            let entry = |item: Option<&AttrMap>| {
                // In the index only with both key attributes (both GSIs have a sort key).
                item.and_then(|item| Some((item.get(index.pk_attr())?.clone(), item.get(index.sk_attr())?.clone())))
            };
            match (entry(before), entry(after)) {
                (Some(was), Some(is)) if was != is => {
                    self.meter.write(old, false);
                    self.meter.write(new, false);
                }
                (Some(_), Some(_)) | (None, Some(_)) => self.meter.write(new, false),
                (Some(_), None) => self.meter.write(old, false),
                (None, None) => {}
            }
        }
    }

    /// What a write that ended in `outcome` cost: a committed one by [`Self::metered_write`]; one
    /// refused by its condition still bills the table write on the item it found (at least one
    /// unit), and no index write; a request that failed otherwise is not counted.
    fn metered_outcome<T>(
        &self,
        outcome: &StoreResult<T>,
        before: Option<&AttrMap>,
        after: Option<&AttrMap>,
        transactional: bool,
    ) {
        match outcome {
            Ok(_) => self.metered_write(before, after, transactional),
            Err(StoreError::ConditionFailed { .. }) if self.recording => {
                self.meter.write(before.map_or(0, item_size), transactional);
            }
            Err(_) => {}
        }
    }

    /// The item at `key` as stored, read without counting: the recording's way to size what
    /// a delete removes or a transaction's update left.
    async fn stored(&self, key: &Key) -> Option<AttrMap> {
        self.get_item(key).send().await.ok().and_then(|out| out.item)
    }

    /// A strongly consistent `GetItem` of `key`.
    fn get_item(&self, key: &Key) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
        self.client.get_item().table_name(&self.table).set_key(Some(key_attrs(key))).consistent_read(true)
    }

    /// Sends a request (built afresh by `send` for each attempt), counting it, mapping its
    /// failure with `classify`, and retrying while it loses to a concurrent transaction.
    async fn send<T, E, Fut>(
        &self,
        classify: fn(SdkError<E, HttpResponse>) -> StoreError,
        send: impl Fn() -> Fut,
    ) -> StoreResult<T>
    where
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        retry_on_conflict(|| {
            self.count();
            let attempt = send();
            async move { attempt.await.map_err(classify) }
        })
        .await
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn to_attrs(item: &Item) -> StoreResult<AttrMap> {
    let bytes = serde_json::to_vec(item.as_map()).map_err(|e| StoreError::Invalid(e.to_string()))?.len();
    if bytes > port::MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!("item of {bytes} bytes exceeds the item size limit")));
    }
    serde_dynamo::aws_sdk_dynamodb_1::to_item(item.as_map()).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_attrs(attrs: AttrMap) -> StoreResult<Item> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item::<Map<String, Value>>(attrs)
        .map(Item::from_map)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key_attrs(key: &Key) -> AttrMap {
    HashMap::from([
        (port::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (port::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Placeholders for attribute names and values of one request's expressions.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| a.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, value: &Value) -> StoreResult<String> {
        let placeholder = format!(":v{}", self.values.len());
        let av = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.values.insert(placeholder.clone(), av);
        Ok(placeholder)
    }

    fn condition(&mut self, condition: &Condition) -> StoreResult<String> {
        Ok(match condition {
            Condition::Exists => format!("attribute_exists({})", self.name(port::PK)),
            Condition::Absent => format!("attribute_not_exists({})", self.name(port::PK)),
            Condition::Equals(attr, v) => format!("{} = {}", self.name(attr), self.value(v)?),
            Condition::AtLeast(attr, n) => format!("{} >= {}", self.name(attr), self.value(&Value::from(*n))?),
            Condition::AtMost(attr, n) => format!("{} <= {}", self.name(attr), self.value(&Value::from(*n))?),
            Condition::LessThan(attr, n) => format!("{} < {}", self.name(attr), self.value(&Value::from(*n))?),
            Condition::HasAttr(attr) => format!("attribute_exists({})", self.name(attr)),
            Condition::LacksAttr(attr) => format!("attribute_not_exists({})", self.name(attr)),
            Condition::All(all) if all.is_empty() => {
                let pk = self.name(port::PK);
                format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
            }
            Condition::All(all) => {
                let parts =
                    all.iter().map(|c| self.condition(c).map(|e| format!("({e})"))).collect::<StoreResult<Vec<_>>>()?;
                parts.join(" AND ")
            }
            Condition::Any(any) if any.is_empty() => {
                let pk = self.name(port::PK);
                format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))")
            }
            Condition::Any(any) => {
                let parts =
                    any.iter().map(|c| self.condition(c).map(|e| format!("({e})"))).collect::<StoreResult<Vec<_>>>()?;
                parts.join(" OR ")
            }
        })
    }

    fn update(&mut self, update: &Update) -> StoreResult<String> {
        let mut clauses = Vec::new();
        if !update.set.is_empty() {
            let sets = update
                .set
                .iter()
                .map(|(attr, v)| Ok(format!("{} = {}", self.name(attr), self.value(v)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !update.add.is_empty() {
            let adds = update
                .add
                .iter()
                .map(|(attr, n)| Ok(format!("{} {}", self.name(attr), self.value(&Value::from(*n))?)))
                .collect::<StoreResult<Vec<_>>>()?;
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !update.remove.is_empty() {
            let removes = update.remove.iter().map(|attr| self.name(attr)).collect::<Vec<_>>();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        Ok(clauses.join(" "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<AttrMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Maps an SDK failure onto the port's errors. `op_index` names the operation for a failed
/// condition on a single write.
fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match inner.code() {
                Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
                Some("ValidationException") => StoreError::Invalid(inner.message().unwrap_or("validation").to_owned()),
                Some("TransactionConflictException") => StoreError::Contention,
                Some("ResourceNotFoundException") => {
                    StoreError::Unavailable(format!("table missing: {}", inner.message().unwrap_or("")))
                }
                code => {
                    StoreError::Unavailable(format!("{}: {}", code.unwrap_or("unknown"), inner.message().unwrap_or("")))
                }
            }
        }
        other => StoreError::Unavailable(format!("{other:?}")),
    }
}

/// What a cancelled transaction's reasons say: the first failed condition, or a conflict.
fn classify_transaction(
    err: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    if let SdkError::ServiceError(service) = &err
        && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
    {
        let reasons = cancelled.cancellation_reasons();
        if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
            return StoreError::ConditionFailed { index };
        }
        if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
            return StoreError::Contention;
        }
        if let Some(r) = reasons.iter().find(|r| r.code().is_some_and(|c| c != "None")) {
            let detail = format!("{}: {}", r.code().unwrap_or(""), r.message().unwrap_or(""));
            return if r.code() == Some("ValidationError") {
                StoreError::Invalid(detail)
            } else {
                StoreError::Unavailable(detail)
            };
        }
        // An emulator may omit the reasons; the message still says which condition failed.
        if cancelled.message().is_some_and(|m| m.contains("ConditionalCheckFailed")) {
            return StoreError::ConditionFailed { index: parse_failed_index(cancelled.message().unwrap_or("")) };
        }
    }
    classify(err)
}

/// "Transaction cancelled, please refer cancellation reasons for specific reasons
/// [None, ConditionalCheckFailed]" → 1.
fn parse_failed_index(message: &str) -> usize {
    let list = message.rsplit_once('[').map(|(_, rest)| rest.trim_end_matches(']')).unwrap_or("");
    list.split(',').position(|r| r.trim() == "ConditionalCheckFailed").unwrap_or(0)
}

fn start_key(cursor: CursorKey, index: Option<Index>) -> AttrMap {
    let mut key = key_attrs(&Key::new(cursor.pk, cursor.sk));
    if let (Some(index), Some((ipk, isk))) = (index, cursor.index) {
        key.insert(index.pk_attr().to_owned(), AttributeValue::S(ipk));
        key.insert(index.sk_attr().to_owned(), AttributeValue::S(isk));
    }
    key
}

/// Runs a write, retrying while it loses to a concurrent transaction (DynamoDB answers a plain
/// write that collides with an in-flight transaction with `TransactionConflictException`,
/// which the SDK does not retry).
async fn retry_on_conflict<T, F, Fut>(mut write: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(StoreError::Contention) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                backoff(attempt).await;
            }
            other => return other,
        }
    }
}

async fn backoff(attempt: u32) {
    // Full jitter from the clock's nanoseconds: enough to spread racing retries apart.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let cap_ms = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(u64::from(nanos) % cap_ms + 1)).await;
}

#[async_trait]
impl ReadItems for DynamoStore {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.count();
        let out = self.get_item(key).send().await.map_err(classify)?;
        self.metered_read(ReadKind::Strong, out.item.as_ref().map_or(0, item_size));
        out.item.map(from_attrs).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let mut unique: Vec<&Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(100) {
            let mut pending: Vec<AttrMap> = chunk.iter().map(|k| key_attrs(k)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                self.count();
                let out =
                    self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
                for attrs in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    // BatchGetItem rounds each item on its own.
                    self.metered_read(ReadKind::Strong, item_size(&attrs));
                    let item = from_attrs(attrs)?;
                    if let Some(key) = item.key() {
                        found.insert(key, item);
                    }
                }
                if let Some(mut unprocessed) = out.unprocessed_keys
                    && let Some(rest) = unprocessed.remove(&self.table)
                {
                    pending = rest.keys;
                }
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > CONFLICT_RETRIES {
                        return Err(StoreError::Unavailable("batch get kept leaving keys unprocessed".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        // A key with no item still costs the minimum read.
        for _ in found.len()..unique.len() {
            self.metered_read(ReadKind::Strong, 0);
        }
        Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
    }
}

#[async_trait]
impl QueryItems for DynamoStore {
    async fn query(&self, q: &Query) -> StoreResult<Page> {
        let start = q.start_after()?;
        let wanted = q.limit as usize + 1;
        let mut out: Vec<Item> = Vec::with_capacity(wanted.min(128));
        let mut exclusive_start = start.map(|c| start_key(c, q.index));
        loop {
            let mut expr = Expr::default();
            let (pk_attr, sk_attr) = q.key_attrs();
            let mut condition = format!("{} = {}", expr.name(pk_attr), expr.value(&Value::String(q.pk.clone()))?);
            // DynamoDB refuses placeholders an expression does not use: name the sort key only
            // when the query constrains it.
            let sort = match &q.sort {
                SortKey::Any => None,
                SortKey::BeginsWith(p) if p.is_empty() => None,
                sort => Some(sort),
            };
            if let Some(sort) = sort {
                let sk = expr.name(sk_attr);
                let value = |expr: &mut Expr, s: &String| expr.value(&Value::String(s.clone()));
                condition += &match sort {
                    SortKey::BeginsWith(p) => format!(" AND begins_with({sk}, {})", value(&mut expr, p)?),
                    SortKey::Between(a, b) => {
                        let (a, b) = (value(&mut expr, a)?, value(&mut expr, b)?);
                        format!(" AND {sk} BETWEEN {a} AND {b}")
                    }
                    SortKey::AtLeast(a) => format!(" AND {sk} >= {}", value(&mut expr, a)?),
                    SortKey::AtMost(b) => format!(" AND {sk} <= {}", value(&mut expr, b)?),
                    SortKey::Any => String::new(),
                };
            }
            let remaining = i32::try_from(wanted - out.len()).unwrap_or(i32::MAX);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(!q.descending)
                .limit(remaining)
                .set_exclusive_start_key(exclusive_start.take());
            request = match q.index {
                Some(index) => request.index_name(index.name()),
                None => request.consistent_read(true),
            };
            self.count();
            let page = request.send().await.map_err(classify)?;
            if self.recording {
                // A query rounds the sum of what one page read; an index is read eventually
                // consistently.
                let bytes = page.items().iter().map(item_size).sum();
                self.metered_read(if q.index.is_some() { ReadKind::Eventual } else { ReadKind::Strong }, bytes);
            }
            for attrs in page.items.unwrap_or_default() {
                out.push(from_attrs(attrs)?);
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() && out.len() < wanted => exclusive_start = Some(last),
                _ => break,
            }
        }
        Page::from_overfetch(out, q.limit, q.index)
    }
}

impl DynamoStore {
    fn transact_item(&self, op: &WriteOp) -> StoreResult<TransactWriteItem> {
        let mut expr = Expr::default();
        let built = match op {
            WriteOp::Put { item, condition } => {
                let condition = condition.as_ref().map(|c| expr.condition(c)).transpose()?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attrs(item)?))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Update(update) => {
                let update_expr = expr.update(update)?;
                let condition = update.condition.as_ref().map(|c| expr.condition(c)).transpose()?;
                let built = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(&update.key)))
                    .update_expression(update_expr)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().update(built).build()
            }
            WriteOp::Delete { key, condition } => {
                let condition = condition.as_ref().map(|c| expr.condition(c)).transpose()?;
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { key, condition } => {
                let condition = expr.condition(condition)?;
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(built)
    }
}

#[async_trait]
impl WriteItems for DynamoStore {
    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        let mut expr = Expr::default();
        let condition = condition.as_ref().map(|c| expr.condition(c)).transpose()?;
        let attrs = to_attrs(&item)?;
        let (before, written) = match item.key() {
            Some(key) if self.recording => (self.stored(&key).await, Some(attrs.clone())),
            _ => (None, None),
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values());
        let outcome = self.send(classify, || request.clone().send()).await.map(drop);
        self.metered_outcome(&outcome, before.as_ref(), written.as_ref(), false);
        outcome
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        update.validate()?;
        let mut expr = Expr::default();
        let update_expr = expr.update(&update)?;
        let condition = update.condition.as_ref().map(|c| expr.condition(c)).transpose()?;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&update.key)))
            .update_expression(update_expr)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew);
        let before = if self.recording { self.stored(&update.key).await } else { None };
        let outcome = self.send(classify, || request.clone().send()).await;
        let after = outcome.as_ref().ok().and_then(|out| out.attributes.as_ref());
        self.metered_outcome(&outcome, before.as_ref(), after, false);
        from_attrs(outcome?.attributes.unwrap_or_default())
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> StoreResult<()> {
        let mut expr = Expr::default();
        let condition = condition.as_ref().map(|c| expr.condition(c)).transpose()?;
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values());
        let before = if self.recording { self.stored(key).await } else { None };
        let outcome = self.send(classify, || request.clone().send()).await.map(drop);
        self.metered_outcome(&outcome, before.as_ref(), None, false);
        outcome
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        port::validate_transaction(&ops)?;
        let items = ops.iter().map(|op| self.transact_item(op)).collect::<StoreResult<Vec<_>>>()?;
        // What each written item was before, for the recording (uncounted reads).
        let mut befores = Vec::new();
        if self.recording {
            for op in &ops {
                let key = match op {
                    WriteOp::Put { item, .. } => item.key(),
                    WriteOp::Update(update) => Some(update.key.clone()),
                    WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Some(key.clone()),
                };
                befores.push(match key {
                    Some(key) => self.stored(&key).await,
                    None => None,
                });
            }
        }
        // A new request per attempt: the SDK gives each its own ClientRequestToken, so a retry
        // after a conflict is not mistaken for a replay of the first attempt.
        let outcome = self
            .send(classify_transaction, || {
                self.client.transact_write_items().set_transact_items(Some(items.clone())).send()
            })
            .await
            .map(drop);
        if self.recording {
            for ((op, item), before) in ops.iter().zip(&items).zip(&befores) {
                match op {
                    WriteOp::Put { .. } => {
                        self.metered_outcome(&outcome, before.as_ref(), item.put().map(|put| put.item()), true);
                    }
                    // What the update left (when the transaction committed).
                    WriteOp::Update(update) => {
                        let after = if outcome.is_ok() { self.stored(&update.key).await } else { None };
                        self.metered_outcome(&outcome, before.as_ref(), after.as_ref(), true);
                    }
                    WriteOp::Delete { .. } => self.metered_outcome(&outcome, before.as_ref(), None, true),
                    WriteOp::Check { .. } => {
                        self.metered_read(ReadKind::Transactional, before.as_ref().map_or(0, item_size));
                    }
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_render_as_dynamodb_expressions() {
        let mut expr = Expr::default();
        let rendered = expr
            .condition(&Condition::Exists.and(Condition::at_least("stock", 2)).and(Condition::equals("version", 3)))
            .unwrap();
        assert_eq!(rendered, "(attribute_exists(#n0)) AND (#n1 >= :v0) AND (#n2 = :v1)");
        assert_eq!(expr.names.get("#n1").map(String::as_str), Some("stock"));
        assert_eq!(expr.values.get(":v1"), Some(&AttributeValue::N("3".into())));
    }

    #[test]
    fn updates_render_set_add_remove() {
        let mut expr = Expr::default();
        let update = Update::new(Key::new("P", "S")).set("a", "x").add("n", -1).remove("gone");
        assert_eq!(expr.update(&update).unwrap(), "SET #n0 = :v0 ADD #n1 :v1 REMOVE #n2");
    }

    #[test]
    fn the_failed_index_is_read_from_a_reasons_message() {
        assert_eq!(
            parse_failed_index(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]"
            ),
            2
        );
        assert_eq!(parse_failed_index("no list"), 0);
    }
}
