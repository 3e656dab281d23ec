//! Function `quote`: exact prices for products with their customisations, sealed in a
//! token the order will be charged by. Also the pricing settings it reads: coupons (admins),
//! sellers' shipping rates, tax rules (admins).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use cy_data::audit::AuditRecord;
use cy_data::catalog::{self as records, TaxRules};
use cy_data::{Item, Key, Store, keys};
use cy_domain::catalog::{
    Coupon, CouponValue, Quantity, QuoteInput, QuoteLineInput, ShippingRule, TaxRule, compute_quote, price_unit,
};
use cy_domain::error::Validator;
use cy_domain::product::{CategoryId, Product, ProductStatus};
use cy_domain::uploads::{UploadPurpose, is_users_upload};
use cy_domain::{Address, AddressId, CountryCode, Error, FieldErrors, Money, ProductId, Role, Timestamp, UserId};
use cy_http::auth::SIGNED_IN;
use cy_http::extract::parse_json;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{ApiResult, Caller, ErrorBody, Json, JwtKeys, require_roles};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::idempotency::{Keyed, create_once, replay_earlier};
use crate::pricing::token::{QUOTE_TTL_SECS, QuoteSigner, QuotedLine, SignedQuote};

/// How long a seller's shipping rate is cached in a warm function: a quote then reads only
/// its products, coupon, address and tax rules, in one batch.
const SHIPPING_CACHE_TTL: Duration = Duration::from_secs(60);
/// Lines in one quote.
const MAX_ITEMS: usize = 50;

/// Seller → (when read, their rule if they set one).
type ShippingCache = HashMap<UserId, (Instant, Option<ShippingRule>)>;

#[derive(Clone)]
pub struct Quoting {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub signer: Arc<QuoteSigner>,
    shipping_cache: Arc<Mutex<ShippingCache>>,
}

impl Quoting {
    pub fn new(store: Arc<dyn Store>, keys: Arc<JwtKeys>, signer: Arc<QuoteSigner>) -> Self {
        Quoting { store, keys, signer, shipping_cache: Arc::default() }
    }
}

impl FromRef<Quoting> for Arc<JwtKeys> {
    fn from_ref(q: &Quoting) -> Arc<JwtKeys> {
        q.keys.clone()
    }
}

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(quote, create_coupon, set_tax_rules, get_tax_rules, set_shipping))]
pub struct Api;

pub fn router(quoting: Quoting) -> Router {
    routes(quoting).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(quoting: Quoting) -> Routes {
    let admins = route!(Routes::new(), create_coupon, set_tax_rules, get_tax_rules)
        .route_layer(require_roles(quoting.keys.clone(), &[Role::Admin]));
    let sellers = route!(Routes::new(), set_shipping).route_layer(require_roles(quoting.keys.clone(), &[Role::Seller]));
    let signed_in = route!(Routes::new(), quote).route_layer(require_roles(quoting.keys.clone(), SIGNED_IN));
    signed_in.merge(admins).merge(sellers).with_state(quoting)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    items: Vec<QuoteItem>,
    coupon: Option<String>,
    address_id: Option<String>,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteItem {
    #[schema(value_type = cy_domain::ProductId)]
    product_id: String,
    #[schema(minimum = 1, maximum = 10000)]
    quantity: i64,
    /// Option id → value: text, a choice id, a number, or an uploaded file's key.
    #[serde(default)]
    #[schema(value_type = Object)]
    customizations: BTreeMap<String, Value>,
}

/// The contract's quote answer: the sealed quote's fields (lines with their customisations,
/// totals, expiry), its currency, and the token.
#[derive(Serialize, utoipa::ToSchema)]
struct QuoteView {
    #[serde(flatten)]
    quote: SignedQuote,
    currency: String,
    quote_token: String,
}

/// Moves each field error of `err` under `prefix` (`customizations.opt_1` → `items[0].customizations.opt_1`).
fn nest(prefix: &str, err: Error, into: &mut FieldErrors) {
    if err.details.is_empty() {
        into.insert(prefix.trim_end_matches('.').to_owned(), err.message);
    }
    for (field, problem) in err.details {
        into.insert(format!("{prefix}{field}"), problem.as_str().unwrap_or("is invalid").to_owned());
    }
}

/// What one batch read brings for a quote.
struct QuoteReads {
    products: HashMap<ProductId, Product>,
    coupon: Option<Coupon>,
    /// How many standing orders of the customer use the coupon.
    coupon_uses: u32,
    address: Option<Address>,
    tax: TaxRules,
}

impl Quoting {
    /// Products, coupon, address and tax rules: one `BatchGetItem`.
    async fn read_for_quote(
        &self,
        products: &[ProductId],
        coupon: Option<&str>,
        customer: &UserId,
        address: Option<&AddressId>,
    ) -> Result<QuoteReads, Error> {
        let mut wanted: Vec<Key> = products.iter().map(keys::product).collect();
        let coupon_key = coupon.map(keys::coupon);
        let coupon_use_key = coupon.map(|code| keys::coupon_use(code, customer));
        let address_key = address.map(|a| keys::address(customer, a));
        wanted.extend(coupon_key.iter().cloned());
        wanted.extend(coupon_use_key.iter().cloned());
        wanted.extend(address_key.iter().cloned());
        wanted.push(keys::tax_rules());
        let items = self.store.get_many(&wanted).await?;
        let mut reads = QuoteReads {
            products: HashMap::new(),
            coupon: None,
            coupon_uses: 0,
            address: None,
            tax: TaxRules::default(),
        };
        for item in items {
            let key = item.key();
            if key == Some(keys::tax_rules()) {
                reads.tax = item.record()?;
            } else if key.is_some() && key == coupon_use_key {
                let uses = item.get("uses").and_then(|v| v.as_i64()).unwrap_or(0);
                reads.coupon_uses = u32::try_from(uses.max(0)).unwrap_or(u32::MAX);
            } else if key.is_some() && key == coupon_key {
                reads.coupon = Some(item.record()?);
            } else if key.is_some() && key == address_key {
                reads.address = Some(item.record()?);
            } else {
                let product: Product = item.record()?;
                reads.products.insert(product.id.clone(), product);
            }
        }
        Ok(reads)
    }

    /// Sellers' shipping rules, from the warm cache or one batch read for the missing ones.
    async fn shipping_rules(&self, sellers: &[UserId]) -> Result<HashMap<UserId, Option<ShippingRule>>, Error> {
        let now = Instant::now();
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.shipping_cache.lock().map_err(|_| Error::internal())?;
            for seller in sellers {
                match cache.get(seller) {
                    Some((at, rule)) if now.duration_since(*at) < SHIPPING_CACHE_TTL => {
                        found.insert(seller.clone(), *rule);
                    }
                    _ => missing.push(seller.clone()),
                }
            }
        }
        if !missing.is_empty() {
            let loaded: HashMap<UserId, ShippingRule> =
                records::shipping_rules(self.store.as_ref(), &missing).await?.into_iter().collect();
            let mut cache = self.shipping_cache.lock().map_err(|_| Error::internal())?;
            for seller in missing {
                let rule = loaded.get(&seller).copied();
                cache.insert(seller.clone(), (now, rule));
                found.insert(seller, rule);
            }
        }
        Ok(found)
    }

    /// Prices a request and seals it. Also hands back the address it read (in the same batch),
    /// so placing an order from items needs no second read.
    pub async fn quote(
        &self,
        caller: &Caller,
        body: QuoteBodyParsed,
    ) -> Result<(SignedQuote, String, Option<Address>), Error> {
        let product_ids: Vec<ProductId> = {
            let mut ids: Vec<ProductId> = body.items.iter().map(|i| i.product_id.clone()).collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let reads = self
            .read_for_quote(&product_ids, body.coupon.as_deref(), &caller.user_id, body.address_id.as_ref())
            .await?;
        let mut problems = FieldErrors::new();
        if body.coupon.is_some() && reads.coupon.is_none() {
            problems.insert("coupon".into(), "is not a valid coupon".into());
        }
        if body.address_id.is_some() && reads.address.is_none() {
            problems.insert("address_id".into(), "is not one of your addresses".into());
        }
        let customer = caller.user_id.clone();
        let image_allowed = move |key: &str| is_users_upload(key, &customer, UploadPurpose::Customization);
        let mut lines = Vec::with_capacity(body.items.len());
        for (index, item) in body.items.iter().enumerate() {
            let Some(product) = reads.products.get(&item.product_id).filter(|p| p.status == ProductStatus::Active)
            else {
                problems.insert(format!("items[{index}].product_id"), "is not a product on sale".into());
                continue;
            };
            match price_unit(product.base_price, &product.options, &item.customizations, &image_allowed) {
                Ok(unit) => lines.push(QuoteLineInput {
                    product_id: product.id.clone(),
                    seller_id: product.seller_id.clone(),
                    category: product.category_id.as_str().to_owned(),
                    quantity: item.quantity,
                    unit,
                }),
                Err(e) => nest(&format!("items[{index}]."), e, &mut problems),
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid_fields(problems));
        }
        let mut sellers: Vec<UserId> = lines.iter().map(|l| l.seller_id.clone()).collect();
        sellers.sort();
        sellers.dedup();
        let shipping = self.shipping_rules(&sellers).await?;
        let currency =
            lines.first().map(|l| l.unit.unit.currency).ok_or_else(|| Error::invalid("items", "must not be empty"))?;
        // A seller without a shipping rate ships for free.
        let shipping_for = |seller: &UserId| {
            shipping
                .get(seller)
                .cloned()
                .flatten()
                .unwrap_or(ShippingRule { flat: Money::zero(currency), free_from: None })
        };
        let now = Timestamp::now();
        let destination: Option<CountryCode> = reads.address.as_ref().map(|a| a.fields.country);
        let totals = compute_quote(QuoteInput {
            lines,
            coupon: reads.coupon.as_ref(),
            coupon_used_by_customer: reads.coupon_uses,
            now,
            shipping: &shipping_for,
            tax_rules: &reads.tax.rules,
            destination,
        })?;
        let values_by_line: Vec<Value> = body.items.iter().map(|i| json!(i.customizations)).collect();
        let quote = SignedQuote {
            quote_id: format!("quo_{}", ulid::Ulid::new()),
            customer_id: caller.user_id.clone(),
            expires_at: now.plus_secs(QUOTE_TTL_SECS),
            address_id: body.address_id.as_ref().map(|a| a.to_string()),
            coupon: reads.coupon.as_ref().map(|c| c.code.clone()),
            lines: totals
                .lines
                .iter()
                .zip(values_by_line)
                .map(|(l, customizations)| QuotedLine {
                    title: reads.products.get(&l.product_id).map(|p| p.title.as_str().to_owned()).unwrap_or_default(),
                    product_id: l.product_id.clone(),
                    seller_id: l.seller_id.clone(),
                    quantity: l.quantity,
                    customizations,
                    unit_price: l.unit_price,
                    customization_total: l.customization_total,
                    line_total: l.line_total,
                    discount: l.discount,
                    tax: l.tax,
                    category_id: reads.products.get(&l.product_id).map(|p| p.category_id.clone()),
                    commission_bps: None,
                })
                .collect(),
            subtotal: totals.subtotal,
            discount: totals.discount,
            shipping: totals.shipping,
            shipping_by_seller: totals.shipping_by_seller,
            tax: totals.tax,
            total: totals.total,
        };
        let token = self.signer.sign(&quote)?;
        Ok((quote, token, reads.address))
    }
}

/// A quote request, parsed.
#[derive(Clone)]
pub struct QuoteBodyParsed {
    items: Vec<ParsedItem>,
    coupon: Option<String>,
    address_id: Option<AddressId>,
}

#[derive(Clone)]
struct ParsedItem {
    product_id: ProductId,
    quantity: Quantity,
    customizations: BTreeMap<String, Value>,
}

impl QuoteBody {
    pub fn new(items: Vec<QuoteItem>, coupon: Option<String>, address_id: Option<String>) -> Self {
        QuoteBody { items, coupon, address_id }
    }

    pub fn parse(self) -> Result<QuoteBodyParsed, Error> {
        let mut v = Validator::new();
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            v.check::<()>("items", Err(Error::bad_request(format!("must hold 1 to {MAX_ITEMS} items"))));
        }
        let mut items = Vec::with_capacity(self.items.len());
        for (index, item) in self.items.into_iter().enumerate() {
            let id = v.check(
                &format!("items[{index}].product_id"),
                ProductId::parse(&item.product_id).map_err(|_| Error::bad_request("is not a product id")),
            );
            let quantity = v.check(&format!("items[{index}].quantity"), Quantity::parse(item.quantity));
            if let (Some(product_id), Some(quantity)) = (id, quantity) {
                items.push(ParsedItem { product_id, quantity, customizations: item.customizations });
            }
        }
        let coupon = self.coupon.map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty());
        if coupon.as_ref().is_some_and(|c| c.len() > 32) {
            v.check::<()>("coupon", Err(Error::bad_request("is not a valid coupon")));
        }
        let address_id = self.address_id.map(|a| {
            v.check("address_id", AddressId::parse(&a).map_err(|_| Error::bad_request("is not one of your addresses")))
        });
        v.finish()?;
        Ok(QuoteBodyParsed { items, coupon, address_id: address_id.flatten() })
    }
}

/// Prices lines exactly (options, coupon, shipping, tax) and seals the result in a `quote_token`.
#[utoipa::path(post, path = "/quotes", tag = "quotes", request_body = QuoteBody, security(("bearer" = [])),
    responses((status = 200, description = "The quote", body = QuoteView),
        (status = 400, description = "`validation_failed`, naming each bad line or option", body = ErrorBody)))]
async fn quote(
    State(quoting): State<Quoting>,
    caller: Caller,
    Json(body): Json<QuoteBody>,
) -> ApiResult<Json<QuoteView>> {
    let (quote, quote_token, _) = quoting.quote(&caller, body.parse()?).await?;
    Ok(Json(QuoteView { currency: quote.total.currency.code().to_owned(), quote, quote_token }))
}

// ---- settings ----------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CouponBody {
    code: String,
    #[serde(rename = "type")]
    kind: String,
    bps: Option<u32>,
    amount: Option<Money>,
    min_order: Option<Money>,
    expires_at: Option<Timestamp>,
    /// How many orders may use it in all.
    #[schema(minimum = 1)]
    max_redemptions: Option<u32>,
    /// How many orders of one customer may use it.
    #[schema(minimum = 1)]
    per_customer_limit: Option<u32>,
}

fn parse_coupon(body: CouponBody) -> Result<Coupon, Error> {
    let mut v = Validator::new();
    let code = body.code.trim().to_uppercase();
    let code_ok = (3..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !code_ok {
        v.check::<()>("code", Err(Error::bad_request("must be 3 to 32 letters, digits or dashes")));
    }
    let value = v.check(
        "type",
        match (body.kind.as_str(), body.bps, body.amount) {
            ("percent", Some(bps), None) if (1..=10_000).contains(&bps) => Ok(CouponValue::Percent { bps }),
            ("percent", _, _) => Err(Error::bad_request("percent coupons need bps from 1 to 10000 and no amount")),
            ("fixed", None, Some(amount)) if amount.amount > 0 => Ok(CouponValue::Fixed { amount }),
            ("fixed", _, _) => Err(Error::bad_request("fixed coupons need a positive amount and no bps")),
            _ => Err(Error::bad_request("must be percent or fixed")),
        },
    );
    if body.min_order.is_some_and(|m| m.amount < 0) {
        v.check::<()>("min_order", Err(Error::bad_request("must not be negative")));
    }
    for (field, limit) in [("max_redemptions", body.max_redemptions), ("per_customer_limit", body.per_customer_limit)] {
        if limit == Some(0) {
            v.check::<()>(field, Err(Error::bad_request("must be at least 1 (leave it out for no limit)")));
        }
    }
    v.finish()?;
    let value = value.ok_or_else(Error::internal)?;
    Ok(Coupon {
        code,
        value,
        min_order: body.min_order,
        expires_at: body.expires_at,
        max_redemptions: body.max_redemptions,
        per_customer_limit: body.per_customer_limit,
        redemptions: 0,
    })
}

#[utoipa::path(post, path = "/admin/coupons", tag = "admin", request_body = CouponBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same body")),
    responses((status = 201, description = "The coupon", body = Coupon),
        (status = 409, description = "`already_exists` (the code is taken) or `idempotency_key_reused`", body = ErrorBody)))]
/// `POST /admin/coupons`. With an `Idempotency-Key`, a repeated request answers the coupon
/// the first one created instead of 409 `already_exists` for its own code.
async fn create_coupon(
    State(quoting): State<Quoting>,
    caller: Caller,
    headers: HeaderMap,
    Json(raw): Json<Value>,
) -> ApiResult<(StatusCode, Json<Coupon>)> {
    let (canonical, keyed) = Keyed::from_request(&headers, &raw, cy_data::idempotency::Scope::Coupon)?;
    let coupon = parse_coupon(parse_json(&canonical)?)?;
    let store = quoting.store.as_ref();
    let replay = |code: String| async move {
        records::get_coupon(store, &code).await?.ok_or_else(|| Error::not_found("The coupon"))
    };
    if let Some(earlier) = replay_earlier(keyed.as_ref(), store, &caller.user_id, replay).await? {
        return Ok((StatusCode::CREATED, Json(earlier)));
    }
    let audit =
        AuditRecord::new(Some(&caller.user_id), "pricing.coupon_created", &coupon.code, json!({"coupon": coupon}));
    let coupon = create_once(
        keyed.as_ref(),
        store,
        &caller.user_id,
        &coupon.code,
        &coupon,
        |mut claims| async {
            claims.push(audit.write()?);
            records::create_coupon(store, &coupon, claims).await.map(|()| coupon.clone())
        },
        replay,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(coupon)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ShippingBody {
    flat: Money,
    free_from: Option<Money>,
}

/// The seller's shipping rate: flat, free from an order value.
#[utoipa::path(put, path = "/seller/shipping", tag = "quotes", request_body = ShippingBody, security(("bearer" = [])),
    responses((status = 200, description = "The rule", body = ShippingRule)))]
async fn set_shipping(
    State(quoting): State<Quoting>,
    caller: Caller,
    Json(body): Json<ShippingBody>,
) -> ApiResult<Json<ShippingRule>> {
    let mut v = Validator::new();
    v.check("flat", Money::non_negative(body.flat.amount, body.flat.currency));
    if let Some(free) = body.free_from {
        v.check("free_from", Money::non_negative(free.amount, free.currency));
        if free.currency != body.flat.currency {
            v.check::<()>("free_from", Err(Error::bad_request("must be in the same currency as flat")));
        }
    }
    v.finish()?;
    let rule = ShippingRule { flat: body.flat, free_from: body.free_from };
    records::save_shipping_rule(quoting.store.as_ref(), &caller.user_id, &rule).await?;
    if let Ok(mut cache) = quoting.shipping_cache.lock() {
        cache.remove(&caller.user_id);
    }
    Ok(Json(rule))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxBody {
    rules: Vec<TaxRuleBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxRuleBody {
    category: Option<String>,
    country: Option<String>,
    bps: u32,
}

/// Replaces the tax rules (by category and country, in basis points).
#[utoipa::path(put, path = "/admin/settings/tax", tag = "admin", request_body = TaxBody, security(("bearer" = [])),
    responses((status = 200, description = "The rules", body = TaxRules)))]
async fn set_tax_rules(
    State(quoting): State<Quoting>,
    caller: Caller,
    Json(body): Json<TaxBody>,
) -> ApiResult<Json<TaxRules>> {
    let mut v = Validator::new();
    if body.rules.len() > 500 {
        v.check::<()>("rules", Err(Error::bad_request("at most 500 rules")));
    }
    let mut rules = Vec::with_capacity(body.rules.len());
    for (i, r) in body.rules.into_iter().enumerate() {
        let category = r.category.map(|c| v.check(&format!("rules[{i}].category"), CategoryId::parse(&c)));
        let country = r.country.map(|c| v.check(&format!("rules[{i}].country"), CountryCode::parse(&c)));
        if r.bps > 10_000 {
            v.check::<()>(&format!("rules[{i}].bps"), Err(Error::bad_request("must be 0 to 10000")));
        }
        rules.push(TaxRule {
            category: category.flatten().map(|c| c.as_str().to_owned()),
            country: country.flatten(),
            bps: r.bps,
        });
    }
    v.finish()?;
    let rules = TaxRules { rules };
    let audit = AuditRecord::new(Some(&caller.user_id), "pricing.tax_rules_set", "tax", json!(rules));
    records::save_tax_rules(quoting.store.as_ref(), &rules, vec![audit.write()?]).await?;
    Ok(Json(rules))
}

/// The tax rules.
#[utoipa::path(get, path = "/admin/settings/tax", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The rules", body = TaxRules)))]
async fn get_tax_rules(State(quoting): State<Quoting>) -> ApiResult<Json<TaxRules>> {
    let rules = quoting.store.get(&keys::tax_rules()).await?.map(|i: Item| i.record()).transpose()?.unwrap_or_default();
    Ok(Json(rules))
}
