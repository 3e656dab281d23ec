//! Demo data for a fresh local marketplace: a seller and a customer with known logins, the
//! category tree, the seller's shipping rate, tax rules, and two customisable products; the
//! seller verified with a payout account, and a 10 % platform commission.
//! Loading is idempotent: what exists is left alone.

use cy_api::Accounts;
use cy_api::accounts::Registration;
use cy_api::catalog::Catalog;
use cy_data::catalog::{self as records, CategoryRecord, TaxRules};
use cy_data::keys;
use cy_domain::catalog::{OptionDraft, ShippingRule, TaxRule, parse_options};
use cy_domain::product::{CategoryId, Product, ProductDescription, ProductStatus, ProductTitle};
use cy_domain::{CountryCode, Currency, Email, Money, Password, PersonName, Phone, ProductId, Role, Timestamp};

use crate::{Login, StartError};

struct DemoUser {
    role: Role,
    email: &'static str,
    password: &'static str,
    name: &'static str,
    phone: Option<&'static str>,
}

const USERS: &[DemoUser] = &[
    DemoUser {
        role: Role::Seller,
        email: "seller@demo.customiseyou.local",
        password: "demo-seller-pass",
        name: "Meera's Engraving Studio",
        phone: Some("+919800000001"),
    },
    DemoUser {
        role: Role::Customer,
        email: "customer@demo.customiseyou.local",
        password: "demo-customer-pass",
        name: "Arjun Customer",
        phone: Some("+919800000002"),
    },
];

/// The demo category tree: (slug, name, parent slug).
pub const CATEGORIES: &[(&str, &str, Option<&str>)] = &[
    ("gifts", "Personalised gifts", None),
    ("gifts-engraved", "Engraved gifts", Some("gifts")),
    ("gifts-photo", "Photo gifts", Some("gifts")),
    ("apparel", "Custom apparel", None),
    ("apparel-tshirts", "T-shirts", Some("apparel")),
    ("apparel-hoodies", "Hoodies", Some("apparel")),
    ("home", "Home and decor", None),
    ("home-mugs", "Mugs", Some("home")),
    ("home-prints", "Wall prints", Some("home")),
];

/// The demo products, as a seller would send them.
const PRODUCTS: &[(&str, &str, &str, i64, &str)] = &[
    (
        "Engraved steel mug",
        "A 350 ml double-walled steel mug, laser-engraved with your text.",
        "home-mugs",
        79_900,
        r#"[{"name": "Engraving", "kind": "text", "required": true, "max_length": 20, "allowed": "alphanumeric", "price_per_char": 500},
            {"name": "Colour", "kind": "choice", "required": true, "multi": false,
             "choices": [{"label": "Black"}, {"label": "Gold", "price_modifier": {"type": "fixed", "amount": 5000}}]},
            {"name": "Gift wrap", "kind": "choice", "required": false, "multi": true,
             "choices": [{"label": "Ribbon", "price_modifier": {"type": "fixed", "amount": 2000}}, {"label": "Card", "price_modifier": {"type": "percent", "bps": 500}}]}]"#,
    ),
    (
        "Custom photo print",
        "Your photo on archival paper, in the size you choose.",
        "home-prints",
        49_900,
        r#"[{"name": "Photo", "kind": "image", "required": true},
            {"name": "Width (cm)", "kind": "number", "required": true, "min": 20, "max": 100, "step": 10, "price_per_unit": 1000}]"#,
    ),
];

pub async fn load(
    accounts: &Accounts,
    catalog: &Catalog,
    data_key: &cy_api::sealed::DataKey,
) -> Result<Vec<Login>, StartError> {
    let mut provisioning = tokio::task::JoinSet::new();
    for user in USERS {
        let registration = Registration {
            email: Email::parse(user.email)?,
            password: Password::parse(user.password)?,
            name: PersonName::parse(user.name)?,
            role: user.role,
            phone: user.phone.map(Phone::parse).transpose()?,
        };
        let accounts = accounts.clone();
        provisioning.spawn(async move { accounts.provision(registration, "demo-data").await.map(drop) });
    }
    while let Some(done) = provisioning.join_next().await {
        done??;
    }
    let store = catalog.store.as_ref();
    for (slug, name, parent) in CATEGORIES {
        let category = CategoryRecord {
            slug: CategoryId::parse(slug)?,
            name: (*name).to_owned(),
            parent: parent.map(CategoryId::parse).transpose()?,
            version: 1,
        };
        records::put_category_if_absent(store, &category).await?;
    }
    let inr = Currency::parse("INR")?;
    if store.get(&keys::tax_rules()).await?.is_none() {
        let rule = |category: Option<&str>, bps| TaxRule {
            category: category.map(str::to_owned),
            country: CountryCode::parse("IN").ok(),
            bps,
        };
        let rules = TaxRules {
            rules: vec![rule(None, 1800), rule(Some("home-prints"), 1200), rule(Some("apparel-tshirts"), 500)],
        };
        records::save_tax_rules(store, &rules, Vec::new()).await?;
    }
    let seller = cy_data::accounts::find_user_by_email(store, &Email::parse(USERS[0].email)?)
        .await?
        .ok_or("the demo seller is missing")?;
    let shipping = ShippingRule { flat: Money::new(4_900, inr)?, free_from: Some(Money::new(99_900, inr)?) };
    records::save_shipping_rule(store, &seller.id, &shipping).await?;
    // The demo seller is verified, with a (made-up) payout account, and the platform keeps 10 %:
    // the payout batch (`POST /dev/jobs/payout-batch`) has someone to pay.
    if cy_data::sellers::get(store, &seller.id).await?.is_none() {
        let number = "50100123456789";
        let record = cy_data::sellers::SellerRecord {
            seller_id: seller.id.clone(),
            shop_name: Some("Asha's Engraving Studio".into()),
            description: Some("Mugs and prints, engraved and printed to order.".into()),
            logo: None,
            payout_account: Some(cy_data::sellers::StoredPayoutAccount {
                holder_name: "Asha Rao".into(),
                account_number_sealed: data_key.seal(number.as_bytes(), &format!("seller:{}:account", seller.id))?,
                account_number_last4: number[number.len() - 4..].to_owned(),
                ifsc: "HDFC0001234".into(),
                stripe_account: None,
            }),
            kyc: cy_data::sellers::KycRecord {
                status: cy_domain::seller::KycStatus::Approved,
                decided_at: Some(Timestamp::now()),
                ..Default::default()
            },
            updated_at: Timestamp::now(),
            version: 0,
        };
        cy_data::sellers::save(store, 0, &record, Vec::new()).await?;
    }
    if store.get(&keys::commission_rates()).await?.is_none() {
        let rates = cy_domain::seller::CommissionRates {
            platform_bps: cy_domain::seller::Bps::new(1000)?,
            ..Default::default()
        };
        cy_data::sellers::save_commission_rates(store, &rates, Vec::new()).await?;
    }
    let (existing, _) = records::list_seller_products(store, &seller.id, 1, None).await?;
    if existing.is_empty() {
        for (title, description, category, price, options) in PRODUCTS {
            let drafts: Vec<OptionDraft> = serde_json::from_str(options)?;
            let now = Timestamp::now();
            let product = Product {
                id: ProductId::generate(),
                seller_id: seller.id.clone(),
                seller_name: seller.name.as_str().to_owned(),
                title: ProductTitle::parse(title)?,
                description: ProductDescription::parse(description)?,
                category_id: CategoryId::parse(category)?,
                base_price: Money::new(*price, inr)?,
                stock: 50,
                images: Vec::new(),
                status: ProductStatus::Active,
                version: 1,
                options: parse_options(drafts)?,
                rejection_reason: None,
                created_at: now,
                updated_at: now,
            };
            records::create_product(store, &product, Vec::new()).await?;
        }
    }
    // The demo customer gets an address, so quotes carry tax and orders can be placed at once.
    let customer = cy_data::accounts::find_user_by_email(store, &Email::parse(USERS[1].email)?)
        .await?
        .ok_or("the demo customer is missing")?;
    let (addresses, _) = cy_data::accounts::list_addresses(store, &customer.id, 1, None).await?;
    if addresses.is_empty() {
        let now = Timestamp::now();
        let address = cy_domain::Address {
            id: cy_domain::AddressId::generate(),
            fields: cy_domain::AddressDraft {
                name: PersonName::parse(USERS[1].name)?,
                line1: cy_domain::account::AddressLine::parse("12 MG Road")?,
                line2: None,
                city: cy_domain::account::Locality::parse("Bengaluru")?,
                state: Some(cy_domain::account::Locality::parse("Karnataka")?),
                postal_code: cy_domain::account::PostalCode::parse("560001")?,
                country: CountryCode::parse("IN")?,
                phone: USERS[1].phone.map(Phone::parse).transpose()?,
            },
            created_at: now,
            updated_at: now,
            version: 1,
        };
        cy_data::accounts::add_address(store, &customer.id, &address, Vec::new()).await?;
    }
    Ok(USERS
        .iter()
        .map(|u| Login { role: u.role, email: u.email.to_owned(), password: u.password.to_owned() })
        .collect())
}
