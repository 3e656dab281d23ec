//! The catalog (function `products`): public browsing and the category tree ([`browse`]),
//! sellers' products ([`seller_products`]), uploads ([`uploads`]), and what admins decide:
//! platform switches and the product review queue ([`moderation`]), the category tree
//! ([`categories`]).

mod browse;
mod categories;
mod moderation;
mod seller_products;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use cy_data::Store;
use cy_data::catalog::{self as records, PlatformSettings};
use cy_domain::{Currency, Error, Role};
use cy_files::FileStore;
use cy_http::auth::SIGNED_IN;
use cy_http::route;
use cy_http::routes::Routes;
use cy_http::{Caller, JwtKeys, require_roles};

use browse::*;
use categories::*;
use moderation::*;
use seller_products::*;
use uploads::*;

/// This function's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    browse,
    product_page,
    category_tree,
    my_products,
    create_product,
    edit_product,
    archive_product,
    product_image_upload,
    upload,
    platform_settings,
    set_platform_settings,
    moderation_queue,
    approve_product,
    reject_product,
    admin_categories,
    create_category,
    edit_category
))]
pub struct Api;

/// What the products routes need.
#[derive(Clone)]
pub struct Catalog {
    pub store: Arc<dyn Store>,
    pub keys: Arc<JwtKeys>,
    pub files: Arc<dyn FileStore>,
    /// The currency price filters and the price sort use when a client names none.
    pub default_currency: Currency,
}

impl FromRef<Catalog> for Arc<JwtKeys> {
    fn from_ref(c: &Catalog) -> Arc<JwtKeys> {
        c.keys.clone()
    }
}

pub fn router(catalog: Catalog) -> Router {
    routes(catalog).into_router()
}

/// The routes with the operations they document (`Api` must list the same).
pub fn routes(catalog: Catalog) -> Routes {
    let sellers =
        route!(Routes::new(), my_products, create_product, edit_product, archive_product, product_image_upload)
            .route_layer(require_roles(catalog.keys.clone(), &[Role::Seller]));
    let signed_in = route!(Routes::new(), upload).route_layer(require_roles(catalog.keys.clone(), SIGNED_IN));
    let admins = route!(
        Routes::new(),
        platform_settings,
        set_platform_settings,
        moderation_queue,
        approve_product,
        reject_product,
        admin_categories,
        create_category,
        edit_category
    )
    .route_layer(require_roles(catalog.keys.clone(), &[Role::Admin]));
    route!(Routes::new(), browse, product_page, category_tree)
        .merge(sellers)
        .merge(signed_in)
        .merge(admins)
        .with_state(catalog)
}

/// The one place that decides whether a seller may list products: while the platform's
/// `kyc_required` switch is on, only a seller whose verification an admin approved.
pub(crate) async fn approved_seller(
    catalog: &Catalog,
    caller: &Caller,
) -> Result<(cy_domain::User, PlatformSettings), Error> {
    let user = cy_data::accounts::get_user(catalog.store.as_ref(), &caller.user_id)
        .await?
        .ok_or_else(|| Error::forbidden("This account no longer exists."))?;
    if user.role != Role::Seller {
        return Err(Error::forbidden("Only sellers may manage products."));
    }
    let settings = records::platform_settings(catalog.store.as_ref()).await?;
    if settings.kyc_required && !crate::sellers::Sellers::is_approved(catalog.store.as_ref(), &user.id).await? {
        return Err(Error::forbidden("Complete seller verification (KYC) before listing products."));
    }
    Ok((user, settings))
}
