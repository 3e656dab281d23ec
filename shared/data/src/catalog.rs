//! Catalog records: products, the listing cards that make browsing one query, sellers'
//! own lists, categories, platform settings, coupons, shipping and tax rules.

use cy_domain::catalog::{Coupon, ShippingRule, TaxRule};
pub use cy_domain::product::CategoryId;
use cy_domain::product::{ObjectKey, Product, ProductStatus};
use cy_domain::{Error, ErrorCode, Money, ProductId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::keys::{self, ListingOrder, ListingScope};
use crate::port::{
    Condition, Cursor, Item, Key, Page, Query, QueryItems, ReadItems, SortKey, Store, Update, WriteItems, WriteOp,
};

/// What a list shows of a product: enough for a product card, no second read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductCard {
    pub id: ProductId,
    pub seller_id: UserId,
    pub seller_name: String,
    pub title: String,
    pub category_id: CategoryId,
    pub base_price: Money,
    pub image: Option<ObjectKey>,
    pub status: ProductStatus,
    pub created_at: Timestamp,
}

impl ProductCard {
    pub fn of(p: &Product) -> Self {
        ProductCard {
            id: p.id.clone(),
            seller_id: p.seller_id.clone(),
            seller_name: p.seller_name.clone(),
            title: p.title.as_str().to_owned(),
            category_id: p.category_id.clone(),
            base_price: p.base_price,
            image: p.images.first().cloned(),
            status: p.status,
            created_at: p.created_at,
        }
    }
}

/// The index entries a product has: four listing cards while active, one moderation entry
/// while pending review or rejected, none otherwise.
fn listing_items(p: &Product) -> Result<Vec<Item>, Error> {
    if matches!(p.status, ProductStatus::PendingReview | ProductStatus::Rejected) {
        return Ok(vec![Item::from_record(&keys::moderation(p.status, &p.id), &ProductCard::of(p))?]);
    }
    if p.status != ProductStatus::Active {
        return Ok(Vec::new());
    }
    let card = ProductCard::of(p);
    let mut items = Vec::with_capacity(4);
    for scope in [ListingScope::All, ListingScope::Category(&p.category_id)] {
        for order in [ListingOrder::Newest, ListingOrder::Price] {
            items.push(Item::from_record(&keys::listing(scope, order, &p.id, p.base_price), &card)?);
        }
    }
    Ok(items)
}

fn seller_item(p: &Product) -> Result<Item, Error> {
    Ok(Item::from_record(&keys::seller_product(&p.seller_id, &p.id), &ProductCard::of(p))?)
}

/// The writes that move listing cards from how `before` was listed to how `after` is: a card
/// whose key stays is overwritten, others deleted or created (a transaction may touch a key
/// only once).
fn listing_changes(before: Option<&Product>, after: &Product) -> Result<Vec<WriteOp>, Error> {
    let old = before.map(listing_items).transpose()?.unwrap_or_default();
    let new = listing_items(after)?;
    let new_keys: Vec<Key> = new.iter().filter_map(Item::key).collect();
    let mut ops: Vec<WriteOp> = old
        .iter()
        .filter_map(Item::key)
        .filter(|k| !new_keys.contains(k))
        .map(|key| WriteOp::Delete { key, condition: None })
        .collect();
    ops.extend(new.into_iter().map(WriteOp::put));
    Ok(ops)
}

/// Stores a new product with its seller-list entry and, if active, its listing cards.
pub async fn create_product(store: &dyn WriteItems, product: &Product, also: Vec<WriteOp>) -> Result<(), Error> {
    let mut ops = vec![
        WriteOp::create(Item::from_record(&keys::product(&product.id), product)?),
        WriteOp::put(seller_item(product)?),
    ];
    ops.extend(listing_changes(None, product)?);
    ops.extend(also);
    store.transact(ops).await.map_err(Error::from)
}

pub async fn get_product(store: &dyn ReadItems, id: &ProductId) -> Result<Option<Product>, Error> {
    Ok(store.get(&keys::product(id)).await?.map(|i| i.record()).transpose()?)
}

/// Products by id in one batch read, in the order asked; missing ones are left out.
pub async fn get_products(store: &dyn ReadItems, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
    let keys: Vec<Key> = ids.iter().map(keys::product).collect();
    Ok(store.get_many(&keys).await?.iter().map(Item::record).collect::<Result<_, _>>()?)
}

/// The fields a seller edits; stock is not among them (it moves only by atomic additions).
#[derive(Serialize)]
struct EditableFields<'a> {
    seller_name: &'a str,
    title: &'a str,
    description: &'a str,
    category_id: &'a CategoryId,
    base_price: Money,
    images: &'a [ObjectKey],
    status: ProductStatus,
    options: &'a [cy_domain::catalog::ProductOption],
    /// Null clears it (an approval).
    rejection_reason: Option<&'a str>,
    updated_at: Timestamp,
    version: u64,
}

/// Saves an edited product if its version is still `before.version`, moving its listing
/// cards and seller-list entry in the same transaction. 409 `version_conflict` on a stale
/// version.
///
/// A non-zero `stock_delta` is added in the same update, under a "stock stays within 0 and
/// the cap" condition: the edit and the stock change happen together or not at all.
pub async fn save_product(
    store: &dyn Store,
    before: &Product,
    after: &Product,
    stock_delta: i64,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let fields = EditableFields {
        seller_name: &after.seller_name,
        title: after.title.as_str(),
        description: after.description.as_str(),
        category_id: &after.category_id,
        base_price: after.base_price,
        images: &after.images,
        status: after.status,
        options: &after.options,
        rejection_reason: after.rejection_reason.as_deref(),
        updated_at: after.updated_at,
        version: after.version,
    };
    let mut update =
        Update::new(keys::product(&after.id)).set_record(&fields)?.when(Condition::equals("version", before.version));
    if stock_delta != 0 {
        update = update.add("stock", stock_delta).when(stock_bounds(stock_delta));
    }
    let mut ops = vec![WriteOp::Update(update), WriteOp::put(seller_item(after)?)];
    ops.extend(listing_changes(Some(before), after)?);
    ops.extend(also);
    match store.transact(ops).await {
        Ok(()) => Ok(()),
        // The version or the stock bound failed: a fresh read tells which.
        Err(e) if e.failed_op() == Some(0) => {
            let now = get_product(store, &after.id).await?;
            if stock_delta == 0 || now.is_none_or(|p| p.version != before.version) {
                Err(version_conflict())
            } else {
                Err(stock_refused(&after.id, stock_delta))
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn version_conflict() -> Error {
    Error::conflict(ErrorCode::VersionConflict, "The product changed since it was read; reload and retry.")
}

/// The condition that keeps stock within 0 and the cap after adding `delta`.
fn stock_bounds(delta: i64) -> Condition {
    if delta < 0 {
        Condition::at_least("stock", -delta)
    } else {
        Condition::AtMost("stock".into(), cy_domain::product::MAX_STOCK - delta)
    }
}

fn stock_refused(id: &ProductId, delta: i64) -> Error {
    if delta < 0 {
        Error::conflict(ErrorCode::OutOfStock, "There is not that much stock to remove.")
            .with_detail("product_id", id.as_str())
    } else {
        Error::invalid("stock_delta", format!("would take stock past {}", cy_domain::product::MAX_STOCK))
    }
}

/// Adds `delta` to a product's stock atomically, never below 0 nor above the cap. Returns the
/// new stock. 409 `out_of_stock` when a decrease would go below zero.
pub async fn adjust_stock(store: &dyn WriteItems, id: &ProductId, delta: i64) -> Result<i64, Error> {
    let update = Update::new(keys::product(id)).add("stock", delta).when(Condition::Exists.and(stock_bounds(delta)));
    match store.update(update).await {
        Ok(item) => item.get("stock").and_then(serde_json::Value::as_i64).ok_or_else(Error::internal),
        Err(e) if e.failed_op() == Some(0) => Err(stock_refused(id, delta)),
        Err(e) => Err(e.into()),
    }
}

/// Products in `status` (pending review or rejected) for admins, oldest first.
pub async fn moderation_queue(
    store: &dyn QueryItems,
    status: ProductStatus,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<ProductCard>, Option<Cursor>), Error> {
    let q = Query::table(keys::moderation_partition(status)).limit(limit).after(cursor);
    let Page { items, next } = store.query(&q).await?;
    Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
}

/// How to read one listing partition.
pub struct Browse<'a> {
    pub scope: ListingScope<'a>,
    pub order: ListingOrder,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: u32,
    pub cursor: Option<Cursor>,
    /// Filters DynamoDB cannot apply by key (seller, text, a price range on the newest
    /// order); `None` when every card qualifies.
    pub keep: Option<&'a (dyn Fn(&ProductCard) -> bool + Sync)>,
}

/// A page of listing cards: one query when nothing is filtered, else
/// [`crate::port::query_filtered`] (bounded scan, exact cursor).
pub async fn browse(store: &dyn QueryItems, b: Browse<'_>) -> Result<(Vec<ProductCard>, Option<Cursor>), Error> {
    let mut query = Query::table(keys::listing_partition(b.scope, b.order)).sort(b.sort).limit(b.limit).after(b.cursor);
    if b.descending {
        query = query.descending();
    }
    match b.keep {
        Some(keep) => Ok(crate::port::query_filtered(store, &query, keep).await?),
        None => {
            let Page { items, next } = store.query(&query).await?;
            Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
        }
    }
}

/// A page of a seller's own products (every status), newest first.
pub async fn list_seller_products(
    store: &dyn QueryItems,
    seller: &UserId,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<ProductCard>, Option<Cursor>), Error> {
    let query = Query::table(keys::seller_partition(seller))
        .begins_with(keys::SELLER_PRODUCT_PREFIX)
        .descending()
        .limit(limit)
        .after(cursor);
    let Page { items, next } = store.query(&query).await?;
    Ok((items.iter().map(Item::record).collect::<Result<_, _>>()?, next))
}

/// A category as stored (and as admins see it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryRecord {
    /// Its id, the slug products name.
    #[serde(rename = "id", alias = "slug")]
    pub slug: CategoryId,
    pub name: String,
    pub parent: Option<CategoryId>,
    /// Starts at 1; each change raises it (`PATCH` names the version it changes).
    #[serde(default = "first_version")]
    pub version: u64,
}

fn first_version() -> u64 {
    1
}

/// A category still at `version` (categories stored before versions read as version 1).
pub fn at_version(version: u64) -> Condition {
    let stored = Condition::equals("version", version);
    if version == 1 { stored.or(Condition::LacksAttr("version".into())) } else { stored }
}

/// Creates a category (409 `already_exists` if its id is taken) with `also` (its audit record,
/// an idempotency claim) in one transaction.
pub async fn create_category(
    store: &dyn WriteItems,
    category: &CategoryRecord,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = vec![WriteOp::create(Item::from_record(&keys::category(category.slug.as_str()), category)?)];
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(0) => {
            Error::conflict(ErrorCode::AlreadyExists, "A category with this id exists.").with_detail("field", "id")
        }
        _ => e.into(),
    })
}

/// Saves a changed category under the version it was read at, with each of its new ancestors
/// checked at the version read (so two moves at once cannot make a cycle between them), and
/// `also` (its audit record), in one transaction. 409 `version_conflict` if any moved meanwhile.
pub async fn save_category(
    store: &dyn WriteItems,
    read_at: u64,
    category: &CategoryRecord,
    ancestors: &[CategoryRecord],
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = vec![WriteOp::Put {
        item: Item::from_record(&keys::category(category.slug.as_str()), category)?,
        condition: Some(at_version(read_at)),
    }];
    for ancestor in ancestors {
        ops.push(WriteOp::Check {
            key: keys::category(ancestor.slug.as_str()),
            condition: at_version(ancestor.version),
        });
    }
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(_) => {
            Error::conflict(ErrorCode::VersionConflict, "The category tree changed meanwhile; reload and retry.")
        }
        None => e.into(),
    })
}

pub async fn put_category_if_absent(store: &dyn WriteItems, category: &CategoryRecord) -> Result<(), Error> {
    let item = Item::from_record(&keys::category(category.slug.as_str()), category)?;
    match store.put(item, Some(Condition::Absent)).await {
        Ok(()) => Ok(()),
        Err(e) if e.failed_op() == Some(0) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every category (one query; the tree is small).
pub async fn categories(store: &dyn QueryItems) -> Result<Vec<CategoryRecord>, Error> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            store.query(&Query::table(keys::CATEGORIES_PARTITION).limit(crate::port::MAX_PAGE).after(cursor)).await?;
        all.extend(page.items.iter().map(Item::record).collect::<Result<Vec<CategoryRecord>, _>>()?);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

pub async fn get_category(store: &dyn ReadItems, id: &CategoryId) -> Result<Option<CategoryRecord>, Error> {
    Ok(store.get(&keys::category(id.as_str())).await?.map(|i| i.record()).transpose()?)
}

pub async fn category_exists(store: &dyn ReadItems, id: &CategoryId) -> Result<bool, Error> {
    Ok(store.get(&keys::category(id.as_str())).await?.is_some())
}

/// Platform-wide switches an admin controls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlatformSettings {
    /// New and edited products wait for an admin's approval (`pending_review`).
    #[serde(default)]
    pub product_moderation: bool,
    /// Sellers must pass KYC before they may list products.
    #[serde(default)]
    pub kyc_required: bool,
}

pub async fn platform_settings(store: &dyn ReadItems) -> Result<PlatformSettings, Error> {
    Ok(store.get(&keys::platform_settings()).await?.map(|i| i.record()).transpose()?.unwrap_or_default())
}

/// Replaces the platform settings, with `also` (the audit record) in the same transaction.
pub async fn save_platform_settings(
    store: &dyn WriteItems,
    settings: &PlatformSettings,
    also: Vec<WriteOp>,
) -> Result<(), Error> {
    let mut ops = vec![WriteOp::put(Item::from_record(&keys::platform_settings(), settings)?)];
    ops.extend(also);
    store.transact(ops).await.map_err(Error::from)
}

/// Tax rules, kept as one settings item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaxRules {
    pub rules: Vec<TaxRule>,
}

/// Replaces the tax rules, with `also` (the audit record) in the same transaction.
pub async fn save_tax_rules(store: &dyn WriteItems, rules: &TaxRules, also: Vec<WriteOp>) -> Result<(), Error> {
    let mut ops = vec![WriteOp::put(Item::from_record(&keys::tax_rules(), rules)?)];
    ops.extend(also);
    store.transact(ops).await.map_err(Error::from)
}

pub async fn save_shipping_rule(store: &dyn WriteItems, seller: &UserId, rule: &ShippingRule) -> Result<(), Error> {
    store.put(Item::from_record(&keys::seller_shipping(seller), rule)?, None).await.map_err(Error::from)
}

pub async fn shipping_rules(store: &dyn ReadItems, sellers: &[UserId]) -> Result<Vec<(UserId, ShippingRule)>, Error> {
    let keys: Vec<Key> = sellers.iter().map(keys::seller_shipping).collect();
    let items = store.get_many(&keys).await?;
    let mut rules = Vec::with_capacity(items.len());
    for item in items {
        let Some(key) = item.key() else { continue };
        let seller = key.pk.trim_start_matches("SELLER#");
        if let Ok(seller) = UserId::parse(seller) {
            rules.push((seller, item.record()?));
        }
    }
    Ok(rules)
}

/// The coupon with this code (any case).
pub async fn get_coupon(store: &dyn ReadItems, code: &str) -> Result<Option<Coupon>, Error> {
    Ok(store.get(&keys::coupon(code)).await?.map(|i| i.record()).transpose()?)
}

/// Creates a coupon; 409 `already_exists` if the code is taken.
pub async fn create_coupon(store: &dyn WriteItems, coupon: &Coupon, also: Vec<WriteOp>) -> Result<(), Error> {
    let mut ops = vec![WriteOp::create(Item::from_record(&keys::coupon(&coupon.code), coupon)?)];
    ops.extend(also);
    store.transact(ops).await.map_err(|e| match e.failed_op() {
        Some(0) => {
            Error::conflict(ErrorCode::AlreadyExists, "A coupon with this code exists.").with_detail("field", "code")
        }
        _ => e.into(),
    })
}
