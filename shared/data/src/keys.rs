//! Every key and index pattern of the single table. Handlers and repositories build keys only
//! through these functions, so the layout documented in docs/ARCHITECTURE.md is the layout in
//! the code.
//!
//! | entity            | PK                   | SK                  | GSI1PK / GSI1SK           |
//! |-------------------|----------------------|---------------------|---------------------------|
//! | user              | `USER#<user>`        | `PROFILE`           | `ROLE#<role>` / `<user>`  |
//! | email claim       | `EMAIL#<lower email>`| `EMAIL`             |                           |
//! | sign-up key claim | `REGISTER#<key mac>` | `KEY`               | (TTL 48 h)                |
//! | sign-in attempts  | `LOGIN#<lower email>`| `WINDOW#<n>`, `WINDOW#<n>#CLIENT#<ip>` | (TTL: the window's end + one window) |
//! | login (session)   | `USER#<user>`        | `SESSION#<session>` |                           |
//! | refresh token     | `REFRESH#<sha256>`   | `REFRESH`           |                           |
//! | address           | `USER#<user>`        | `ADDRESS#<address>` |                           |
//! | audit record      | `AUDIT#<yyyy-mm-dd>` | `<audit id>`        | `ACTOR#<user>` / `<audit>`|
//! | category          | `CATEGORY`           | `<slug>`            |                           |
//! | product           | `PRODUCT#<product>`  | `DETAILS`           |                           |
//! | seller's product  | `SELLER#<seller>`    | `PRODUCT#<product>` |                           |
//! | listing card      | `LIST#<scope>#<order>` | `<order value>`   |                           |
//! | moderation entry  | `MODERATION#<pending_review or rejected>` | `<product>` |             |
//! | seller shipping   | `SELLER#<seller>`    | `SHIPPING`          |                           |
//! | platform settings | `SETTINGS`           | `PLATFORM`, `TAX`   |                           |
//! | coupon            | `COUPON#<CODE>`      | `COUPON`            |                           |
//! | order             | `ORDER#<order>`      | `DETAILS`           | `RESERVED` / `<until>#<order>` while unpaid, else `COMPLETIONS` / `<due>#<order>` while a part is delivered; GSI2 `ORDERS` / `<order>` |
//! | order timeline    | `ORDER#<order>`      | `TIMELINE#<event>`  |                           |
//! | customer's order  | `USER#<customer>`    | `ORDER#<order>`     |                           |
//! | seller's order    | `SELLER#<seller>`    | `ORDER#<order>`     |                           |
//! | idempotency claim | `IDEMPOTENCY#<caller>#<sha256 key>`   | `KEY` |                      |
//! | outbox event      | `OUTBOX`             | `<event>`           |                           |
//! | cart line         | `USER#<customer>`    | `CART#<line id>`    |                           |
//! | payment reference | `PAYREF#<provider>#<reference or payment id>` | `PAYREF` |                 |
//! | provider event    | `PEVT#<provider>#<event id>` | `PEVT`      |                           |
//! | transmission      | `PTX#<provider>#<transmission id>` | `PTX` | (TTL 1 h)                 |
//! | payment flag      | `PAYMENT_FLAGS`      | `<flag id>`         |                           |
//! | refund to send    | `REFUNDS_DUE`        | `<refund id>`       |                           |
//! | unpaid orders     | `USER#<customer>`    | `UNPAID_ORDERS`     |                           |
//! | coupon use        | `COUPON#<CODE>`      | `USER#<customer>`   |                           |
//! | sweep failure     | `SWEEP_FAILURES#<sweep>` | `<subject>#<hour>` | (TTL 2 h)               |
//! | set aside         | `SET_ASIDE`          | `<sweep>#<subject>` |                           |
//! | user's connection | `USER#<user>`        | `CONN#<connection>` | (TTL 2 h)                 |
//! | connection        | `CONN#<connection>`  | `CONN`              | (TTL 2 h)                 |
//! | notification      | `USER#<user>`        | `NOTE#<event>`      |                           |
//! | notification prefs| `USER#<user>`        | `NOTIFY_PREFS`      |                           |
//! | device            | `USER#<user>`        | `DEVICE#<device>`   |                           |
//! | delivery claim    | `DELIVERY#<event or collapse key>#<user>#<channel>` | `CLAIM` | (TTL 14 d) |
//! | push token        | `PUSHTOKEN#<sha256 of token>` | `PUSHTOKEN` |                       |
//! | seller profile    | `SELLER#<seller>`    | `PROFILE`           | `KYC#<kyc status>` / `<seller>` |
//! | commission rates  | `SETTINGS`           | `COMMISSION`        |                           |
//! | ledger entry      | `LEDGER#<seller>`    | `<entry ulid>`      |                           |
//! | seller balance    | `SELLER#<seller>`    | `BALANCE#<currency>`|                           |
//! | payout            | `PAYOUT#<payout>`    | `PAYOUT`            | `PAYOUTS#<seller>` / `<payout>`; GSI2 `PAYOUT_STATUS#<status>` / `<payout>` |
//! | payout claim      | `PAYOUTCLAIM#<seller>#<period>#<currency>` | `CLAIM` |                    |
//! | conversation      | `CONV#<conversation>`| `CONV`              |                           |
//! | conversation pair | `CONVPAIR#<customer>#<seller>#<product or ->#<order or ->` | `CONVPAIR` |   |
//! | user's conversation | `USER#<user>`      | `CONV#<conversation>` |                         |
//! | message           | `CONV#<conversation>`| `MSG#<message>`     |                           |
//! | chat rate window  | `CHATRATE#<user>`    | `<minute>`          | (TTL 1 h)                 |
//! | dev outbox (local)| `DEV_OUTBOX`         | `<outbox id>`       |                           |

use cy_domain::payment::PaymentProvider;
use cy_domain::product::CategoryId;
use cy_domain::{
    AddressId, AuditId, Email, EventId, FlagId, Money, OrderId, ProductId, RefundId, Role, SessionId, Timestamp, UserId,
};

use crate::port::{Index, Key};

pub const PROFILE: &str = "PROFILE";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const ADDRESS_PREFIX: &str = "ADDRESS#";

/// The partition holding a user's profile, logins and address book, so "everything of one
/// user" is one query.
pub fn user_partition(id: &UserId) -> String {
    format!("USER#{id}")
}

pub fn user(id: &UserId) -> Key {
    Key::new(user_partition(id), PROFILE)
}

/// Users listed by role, newest last (ids sort by creation): the admin's user lists.
pub const USERS_BY_ROLE: Index = Index::Gsi1;

pub fn users_by_role_pk(role: Role) -> String {
    format!("ROLE#{}", role.as_str())
}

/// The claim on an email address: exists while an account uses it. Creating it with
/// "must not exist" in the same transaction as the user makes emails unique.
pub fn email_claim(email: &Email) -> Key {
    Key::new(format!("EMAIL#{}", email.normalized()), "EMAIL")
}

/// A sign-up's `Idempotency-Key` claim, by the key's MAC (sign-ups have no caller to scope by).
pub fn registration_claim(key_mac: &str) -> Key {
    Key::new(format!("REGISTER#{key_mac}"), "KEY")
}

/// Sign-in attempts for one email in one window (`window` = epoch seconds / window length),
/// from one client or (`None`) from all.
pub fn login_attempts(email: &Email, client: Option<&str>, window: i64) -> Key {
    let sk = match client {
        Some(client) => format!("WINDOW#{window}#CLIENT#{client}"),
        None => format!("WINDOW#{window}"),
    };
    Key::new(format!("LOGIN#{}", email.normalized()), sk)
}

pub fn session(user: &UserId, session: &SessionId) -> Key {
    Key::new(user_partition(user), format!("{SESSION_PREFIX}{session}"))
}

/// A refresh token, found by the SHA-256 of the token (hex): the token itself is never stored.
pub fn refresh_token(token_sha256_hex: &str) -> Key {
    Key::new(format!("REFRESH#{token_sha256_hex}"), "REFRESH")
}

pub fn address(user: &UserId, address: &AddressId) -> Key {
    Key::new(user_partition(user), format!("{ADDRESS_PREFIX}{address}"))
}

/// Audit records are partitioned by day (bounded partitions, easy export of a day) and listed
/// per actor through GSI1.
pub fn audit(id: &AuditId, at: Timestamp) -> Key {
    let day = at.rfc3339().get(..10).unwrap_or("unknown").to_owned();
    Key::new(format!("AUDIT#{day}"), id.as_str())
}

pub const AUDIT_BY_ACTOR: Index = Index::Gsi1;

pub fn audit_by_actor_pk(actor: &UserId) -> String {
    format!("ACTOR#{actor}")
}

/// All categories share one partition: the whole tree is one query (it is small and read
/// often; the catalog caches it).
pub const CATEGORIES_PARTITION: &str = "CATEGORY";

pub fn category(slug: &str) -> Key {
    Key::new(CATEGORIES_PARTITION, slug)
}

/// A product: details, options and stock in one item, so a product page is one read and a
/// quote's products one batch read.
pub fn product(id: &ProductId) -> Key {
    Key::new(format!("PRODUCT#{id}"), "DETAILS")
}

pub fn seller_partition(seller: &UserId) -> String {
    format!("SELLER#{seller}")
}

pub const SELLER_PRODUCT_PREFIX: &str = "PRODUCT#";

/// A seller's own product list (every status), in the table so a seller sees a new product
/// at once (an index would be eventually consistent).
pub fn seller_product(seller: &UserId, product: &ProductId) -> Key {
    Key::new(seller_partition(seller), format!("{SELLER_PRODUCT_PREFIX}{product}"))
}

pub fn seller_shipping(seller: &UserId) -> Key {
    Key::new(seller_partition(seller), "SHIPPING")
}

pub fn moderation_partition(status: cy_domain::product::ProductStatus) -> String {
    format!("MODERATION#{}", status.as_str())
}

/// A product waiting for review (or rejected), for admins: by product id, so oldest first.
pub fn moderation(status: cy_domain::product::ProductStatus, product: &ProductId) -> Key {
    Key::new(moderation_partition(status), product.as_str())
}

/// Which products a listing partition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingScope<'a> {
    All,
    Category(&'a CategoryId),
}

/// The order of a listing partition's sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingOrder {
    /// By product id: ids are ULIDs, so this is creation order.
    Newest,
    /// By `<currency>#<zero-padded base price>#<product id>`: a price range is a key range.
    Price,
}

/// Active products' cards, one partition per (scope, order). Each active product has a card
/// in four partitions (all and its category, by newest and by price), written in the same
/// transaction as the product, so a list is one strongly consistent query.
pub fn listing_partition(scope: ListingScope<'_>, order: ListingOrder) -> String {
    let order = match order {
        ListingOrder::Newest => "NEWEST",
        ListingOrder::Price => "PRICE",
    };
    match scope {
        ListingScope::All => format!("LIST#ALL#{order}"),
        ListingScope::Category(c) => format!("LIST#CAT#{}#{order}", c.as_str()),
    }
}

/// The sort value of a price-ordered card: amounts are non-negative and at most 10^15, so 16
/// zero-padded digits order them numerically.
pub fn price_sort_value(price: Money) -> String {
    format!("{}#{:016}", price.currency.code(), price.amount.max(0))
}

pub fn listing(scope: ListingScope<'_>, order: ListingOrder, product: &ProductId, price: Money) -> Key {
    let sk = match order {
        ListingOrder::Newest => product.to_string(),
        ListingOrder::Price => format!("{}#{product}", price_sort_value(price)),
    };
    Key::new(listing_partition(scope, order), sk)
}

pub const SETTINGS_PARTITION: &str = "SETTINGS";

pub fn platform_settings() -> Key {
    Key::new(SETTINGS_PARTITION, "PLATFORM")
}

pub fn tax_rules() -> Key {
    Key::new(SETTINGS_PARTITION, "TAX")
}

/// Coupons by their code, upper-cased (codes compare case-insensitively).
pub fn coupon(code: &str) -> Key {
    Key::new(format!("COUPON#{}", code.to_uppercase()), "COUPON")
}

pub const ORDER_PARTITION_PREFIX: &str = "ORDER#";

pub fn order_partition(id: &OrderId) -> String {
    format!("{ORDER_PARTITION_PREFIX}{id}")
}

/// An order: one item, so reading it and moving it are one request each.
pub fn order(id: &OrderId) -> Key {
    Key::new(order_partition(id), "DETAILS")
}

pub const TIMELINE_PREFIX: &str = "TIMELINE#";

/// A timeline entry, sorted by its event id (a ULID: creation order).
pub fn order_timeline_entry(order: &OrderId, event: &EventId) -> Key {
    Key::new(order_partition(order), format!("{TIMELINE_PREFIX}{event}"))
}

pub const ORDER_PREFIX: &str = "ORDER#";

pub fn customer_order(customer: &UserId, order: &OrderId) -> Key {
    Key::new(user_partition(customer), format!("{ORDER_PREFIX}{order}"))
}

pub fn seller_order(seller: &UserId, order: &OrderId) -> Key {
    Key::new(seller_partition(seller), format!("{ORDER_PREFIX}{order}"))
}

/// Every order, newest first, for admins: GSI2 over the order items themselves, so it costs no
/// write of its own (it may lag a moment behind a change).
pub const ALL_ORDERS: Index = Index::Gsi2;
pub const ALL_ORDERS_PK: &str = "ORDERS";

/// Unpaid orders by the time their reservation ends, for the reservation sweep (GSI1).
pub const RESERVATIONS: Index = Index::Gsi1;
pub const RESERVATIONS_PK: &str = "RESERVED";

/// Orders with a delivered part, by when the earliest such part's return window ends, for the
/// completion sweep (GSI1: an order is never unpaid and delivered at once).
pub const COMPLETIONS: Index = Index::Gsi1;
pub const COMPLETIONS_PK: &str = "COMPLETIONS";

/// The sort value of an order on a due list: when it is due (12-digit epoch seconds, so the
/// order is numeric), then the order id.
pub fn due_sort_value(due: Timestamp, order: &OrderId) -> String {
    format!("{:012}#{order}", due.unix().max(0))
}

/// How many unpaid orders a customer holds (a counter raised under its limit when one is
/// placed, lowered when one is paid or called off).
pub fn unpaid_orders(customer: &UserId) -> Key {
    Key::new(user_partition(customer), "UNPAID_ORDERS")
}

/// How many standing orders of one customer use a coupon (its per-customer limit).
pub fn coupon_use(code: &str, customer: &UserId) -> Key {
    Key::new(format!("COUPON#{}", code.to_uppercase()), format!("USER#{customer}"))
}

/// A client's idempotency key, scoped to the caller and hashed (any characters, bounded size).
pub fn idempotency(caller: &UserId, key: &str) -> Key {
    use sha2::{Digest, Sha256};
    Key::new(format!("IDEMPOTENCY#{caller}#{}", hex::encode(Sha256::digest(key.as_bytes()))), "KEY")
}

pub const OUTBOX_PARTITION: &str = "OUTBOX";

/// An event waiting to be published (transactional outbox).
pub fn outbox(event: &EventId) -> Key {
    Key::new(OUTBOX_PARTITION, event.as_str())
}

pub const CART_PREFIX: &str = "CART#";

/// A line of a customer's cart, under the id the client chose (so `PUT` is idempotent).
pub fn cart_line(customer: &UserId, line_id: &str) -> Key {
    Key::new(user_partition(customer), format!("{CART_PREFIX}{line_id}"))
}

/// Which order a provider's payment id belongs to: written when the payment is opened (its
/// reference) and when money is collected (Razorpay payment id, PayPal capture id), so a
/// webhook finds its order in one read.
pub fn payment_ref(provider: PaymentProvider, id: &str) -> Key {
    Key::new(format!("PAYREF#{}#{id}", provider.as_str()), "PAYREF")
}

/// A provider event seen: created in the same transaction as the change it made, so a second
/// delivery finds it and changes nothing.
pub fn provider_event(provider: PaymentProvider, event_id: &str) -> Key {
    Key::new(format!("PEVT#{}#{event_id}", provider.as_str()), "PEVT")
}

/// A delivery's transmission seen (PayPal signs each transmission with its own id): created
/// before the delivery is applied, so a replay of the very same transmission changes nothing.
pub fn transmission(provider: PaymentProvider, transmission_id: &str) -> Key {
    Key::new(format!("PTX#{}#{transmission_id}", provider.as_str()), "PTX")
}

/// Payment events refused for admins to look at, newest last.
pub const PAYMENT_FLAGS_PARTITION: &str = "PAYMENT_FLAGS";

pub fn payment_flag(id: &FlagId) -> Key {
    Key::new(PAYMENT_FLAGS_PARTITION, id.as_str())
}

/// Refunds recorded but not yet taken by their provider: the sweep (re)sends them, so a
/// crash between recording a refund and asking for it cannot lose it.
pub const REFUNDS_DUE_PARTITION: &str = "REFUNDS_DUE";

pub fn refund_due(id: &RefundId) -> Key {
    refund_due_raw(id.as_str())
}

/// A due entry by its key as stored (one that no longer reads as a refund id, to remove it).
pub fn refund_due_raw(sort_key: &str) -> Key {
    Key::new(REFUNDS_DUE_PARTITION, sort_key)
}

pub const USER_CONNECTION_PREFIX: &str = "CONN#";

/// A user's WebSocket connection (their connections are one query of their partition).
pub fn user_connection(user: &UserId, connection: &str) -> Key {
    Key::new(user_partition(user), format!("{USER_CONNECTION_PREFIX}{connection}"))
}

/// A WebSocket connection by its id (what `$disconnect` knows).
pub fn connection(connection: &str) -> Key {
    Key::new(format!("CONN#{connection}"), "CONN")
}

/// A subject's failures on a sweep within one hour (the hour is in the key, so a count starts
/// afresh every hour; TTL cleans up).
pub fn sweep_failure(sweep: &str, subject: &str, at: Timestamp) -> Key {
    Key::new(format!("SWEEP_FAILURES#{sweep}"), format!("{subject}#{}", at.unix().max(0) / 3600))
}

/// What the sweeps gave up on, for admins: one record per sweep and subject.
pub const SET_ASIDE_PARTITION: &str = "SET_ASIDE";

pub fn set_aside(sweep: &str, subject: &str) -> Key {
    Key::new(SET_ASIDE_PARTITION, format!("{sweep}#{subject}"))
}

pub const NOTIFICATION_PREFIX: &str = "NOTE#";

/// An in-app notification, by the event it reports (one per event and recipient); a user's
/// notifications are one query of their partition, newest first.
pub fn notification(user: &UserId, event: &EventId) -> Key {
    Key::new(user_partition(user), format!("{NOTIFICATION_PREFIX}{event}"))
}

/// A user's channel choices.
pub fn notification_preferences(user: &UserId) -> Key {
    Key::new(user_partition(user), "NOTIFY_PREFS")
}

pub const DEVICE_PREFIX: &str = "DEVICE#";

/// A device registered for mobile push.
pub fn device(user: &UserId, device: &cy_domain::DeviceId) -> Key {
    Key::new(user_partition(user), format!("{DEVICE_PREFIX}{device}"))
}

/// The claim on sending one subject (an event's id, or a collapse key such as a
/// conversation's hour) to one recipient on one channel (at most once).
pub fn delivery_claim(subject: &str, user: &UserId, channel: &str) -> Key {
    Key::new(format!("DELIVERY#{subject}#{user}#{channel}"), "CLAIM")
}

/// Which device of which user a push token is registered to (a token belongs to one device
/// of one user: a phone that changes hands moves it).
pub fn push_token(token_sha256: &str) -> Key {
    Key::new(format!("PUSHTOKEN#{token_sha256}"), "PUSHTOKEN")
}

pub fn conversation_partition(id: &cy_domain::ConversationId) -> String {
    format!("CONV#{id}")
}

pub fn conversation(id: &cy_domain::ConversationId) -> Key {
    Key::new(conversation_partition(id), "CONV")
}

/// The claim making one conversation per customer, seller and subject.
pub fn conversation_pair(customer: &UserId, seller: &UserId, subject_key: &str) -> Key {
    Key::new(format!("CONVPAIR#{customer}#{seller}#{subject_key}"), "CONVPAIR")
}

pub const USER_CONVERSATION_PREFIX: &str = "CONV#";

/// A party's entry for a conversation (their list is one query of their partition).
pub fn user_conversation(user: &UserId, id: &cy_domain::ConversationId) -> Key {
    Key::new(user_partition(user), format!("{USER_CONVERSATION_PREFIX}{id}"))
}

pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn message(conversation: &cy_domain::ConversationId, id: &cy_domain::MessageId) -> Key {
    Key::new(conversation_partition(conversation), format!("{MESSAGE_PREFIX}{id}"))
}

/// A user's chat messages within one minute (`minute`: epoch minutes).
pub fn chat_rate_window(user: &UserId, minute: i64) -> Key {
    Key::new(format!("CHATRATE#{user}"), minute.to_string())
}

/// The local runtime's outbox of mail, SMS and push (never written on AWS).
pub const DEV_OUTBOX_PK: &str = "DEV_OUTBOX";

pub fn dev_outbox(id: &str) -> Key {
    Key::new(DEV_OUTBOX_PK, id)
}

/// A seller's shop, payout account (sealed) and verification.
pub fn seller_profile(seller: &UserId) -> Key {
    Key::new(seller_partition(seller), "PROFILE")
}

/// Sellers by verification status, oldest first: the admins' KYC review queue.
pub const SELLERS_BY_KYC: Index = Index::Gsi1;

pub fn sellers_by_kyc_pk(status: cy_domain::seller::KycStatus) -> String {
    format!("KYC#{}", status.as_str())
}

/// The commission rates (platform, per category, per seller).
pub fn commission_rates() -> Key {
    Key::new(SETTINGS_PARTITION, "COMMISSION")
}

pub fn ledger_partition(seller: &UserId) -> String {
    format!("LEDGER#{seller}")
}

/// A seller's ledger entry; its sort key is a ULID, so a seller's entries sort by time and a
/// payout covers a range of them.
pub fn ledger_entry(seller: &UserId, entry: &str) -> Key {
    Key::new(ledger_partition(seller), entry)
}

pub const BALANCE_PREFIX: &str = "BALANCE#";

/// A seller's running balance in one currency.
pub fn seller_balance(seller: &UserId, currency: cy_domain::Currency) -> Key {
    Key::new(seller_partition(seller), format!("{BALANCE_PREFIX}{currency}"))
}

pub fn payout(id: &cy_domain::PayoutId) -> Key {
    Key::new(format!("PAYOUT#{id}"), "PAYOUT")
}

/// A seller's payouts, newest first.
pub const PAYOUTS_OF_SELLER: Index = Index::Gsi1;

pub fn payouts_of_seller_pk(seller: &UserId) -> String {
    format!("PAYOUTS#{seller}")
}

/// Payouts by status (admins: the unresolved ones).
pub const PAYOUTS_BY_STATUS: Index = Index::Gsi2;

pub fn payouts_by_status_pk(status: &str) -> String {
    format!("PAYOUT_STATUS#{status}")
}

/// The claim making one payout per seller, period and currency.
pub fn payout_claim(seller: &UserId, period: &str, currency: cy_domain::Currency) -> Key {
    Key::new(format!("PAYOUTCLAIM#{seller}#{period}#{currency}"), "CLAIM")
}
