//! `customiseyou-admin bootstrap`: what a fresh stage needs before anyone can use it — an
//! admin account (nobody can be made admin through the API) and, if asked, a starter category
//! tree (no seller can list a product without a category). Idempotent: run again, it creates
//! what is missing and leaves the rest as it is.

use std::sync::Arc;

use cy_api::accounts::{Accounts, Registration};
use cy_data::Store;
use cy_data::catalog::{self, CategoryRecord};
use cy_domain::product::CategoryId;
use cy_domain::{Email, Password, PersonName, Role};
use rand::RngCore;

/// The starter tree: (id, name, parent).
pub const STARTER_CATEGORIES: &[(&str, &str, Option<&str>)] = &[
    ("home", "Home & living", None),
    ("home-mugs", "Mugs", Some("home")),
    ("home-cushions", "Cushions", Some("home")),
    ("apparel", "Apparel", None),
    ("apparel-tshirts", "T-shirts", Some("apparel")),
    ("apparel-hoodies", "Hoodies", Some("apparel")),
    ("prints", "Prints & posters", None),
    ("jewellery", "Jewellery", None),
    ("gifts", "Gifts", None),
];

/// What a bootstrap did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bootstrapped {
    /// Whether the admin account was created now (`false`: the email had an account already).
    pub admin_created: bool,
    /// How many starter categories were created now.
    pub categories_created: usize,
}

/// What to bootstrap.
pub struct Bootstrap {
    pub email: Email,
    pub password: Password,
    pub name: PersonName,
    pub starter_categories: bool,
}

/// Creates the admin account (if its email has none) and the starter categories asked for
/// (those missing), on `store`. The account is made exactly as the API makes one: bcrypt cost
/// 12, an email claim, an audit record (`account.provisioned` by `bootstrap`), one transaction.
pub async fn bootstrap(store: Arc<dyn Store>, what: Bootstrap) -> Result<Bootstrapped, String> {
    // Provisioning issues no tokens; the signing key only has to exist.
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let keys = Arc::new(cy_http::JwtKeys::new(&key, None).map_err(|e| e.to_string())?);
    let accounts = Accounts::new(store.clone(), keys);
    let registration =
        Registration { email: what.email, password: what.password, name: what.name, role: Role::Admin, phone: None };
    let admin_created = accounts.provision(registration, "bootstrap").await.map_err(|e| e.message)?.is_some();
    let mut categories_created = 0;
    if what.starter_categories {
        let existing = catalog::categories(store.as_ref()).await.map_err(|e| e.message)?;
        for (id, name, parent) in STARTER_CATEGORIES {
            if existing.iter().any(|c| c.slug.as_str() == *id) {
                continue;
            }
            let record = CategoryRecord {
                slug: CategoryId::parse(id).map_err(|e| e.message)?,
                name: (*name).to_owned(),
                parent: parent.map(CategoryId::parse).transpose().map_err(|e| e.message)?,
                version: 1,
            };
            catalog::put_category_if_absent(store.as_ref(), &record).await.map_err(|e| e.message)?;
            categories_created += 1;
        }
    }
    Ok(Bootstrapped { admin_created, categories_created })
}
