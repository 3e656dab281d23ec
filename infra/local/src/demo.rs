//! Demo data for a fresh local marketplace: a seller and a customer with known logins, and
//! the category tree. Loading is idempotent: what exists is left alone.

use cy_api::Accounts;
use cy_api::accounts::Registration;
use cy_data::{Item, keys};
use cy_domain::{Email, Password, PersonName, Phone, Role};

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

pub async fn load(accounts: &Accounts) -> Result<Vec<Login>, StartError> {
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
    let logins = USERS
        .iter()
        .map(|u| Login { role: u.role, email: u.email.to_owned(), password: u.password.to_owned() })
        .collect();
    for (slug, name, parent) in CATEGORIES {
        // The catalog owns the categories' API; demo data only creates them if absent.
        let item = Item::new(&keys::category(slug))
            .with("slug", *slug)
            .with("name", *name)
            .with("parent", parent.map(str::to_owned));
        match accounts.store.put(item, Some(cy_data::Condition::Absent)).await {
            Ok(()) | Err(cy_data::StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(logins)
}
