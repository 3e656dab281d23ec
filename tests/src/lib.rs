//! A harness for end-to-end tests: a fresh local marketplace (embedded store in a temp dir)
//! and helpers that send HTTP requests through its router, exactly as a client would.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use cy_data::audit::AuditRecord;
use cy_domain::account::{AddressLine, Locality, PostalCode};
use cy_domain::order::Order;
use cy_domain::payment::PaymentProvider;
use cy_domain::{
    Address, AddressDraft, AddressId, CountryCode, Email, OrderId, PersonName, Role, SessionId, Timestamp, User, UserId,
};
use cy_http::JwtKeys;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub use customiseyou_local::Local;

/// The JWT secret of test runtimes, so tests can mint expired or forged tokens.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// A data key (AES-256, base64) for services built by hand in tests.
pub const TEST_DATA_KEY: &str = "dGVzdC1kYXRhLWtleS10ZXN0LWRhdGEta2V5LTAxMjM=";
pub const ADMIN_EMAIL: &str = "admin@test.customiseyou.local";
pub const ADMIN_PASSWORD: &str = "admin-test-password";

pub struct TestApp {
    pub local: Local,
    _dir: tempfile::TempDir,
}

/// An answer: status, headers, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts a 4xx in the contract's error shape with the given status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", self.body);
        assert!(self.body["error"]["details"].is_object(), "no details object: {}", self.body);
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_demo(false).await
    }

    pub async fn with_demo(demo_data: bool) -> TestApp {
        Self::configured(demo_data, None).await
    }

    /// A runtime with these order rules (a short return window, a small unpaid-order limit).
    pub async fn with_rules(rules: cy_api::orders::OrderRules) -> TestApp {
        Self::configured(false, Some(rules)).await
    }

    /// The runtime on a store of the caller's (the DynamoDB adapter on the emulator).
    pub async fn on_store(store: Arc<dyn cy_data::Store>) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Self::config(dir.path(), false, None);
        let local = customiseyou_local::start_on(config, store).await.expect("local runtime starts");
        TestApp { local, _dir: dir }
    }

    fn config(
        data_dir: &std::path::Path,
        demo_data: bool,
        order_rules: Option<cy_api::orders::OrderRules>,
    ) -> customiseyou_local::LocalConfig {
        customiseyou_local::LocalConfig {
            data_dir: data_dir.to_path_buf(),
            jwt_secret: Some(TEST_JWT_SECRET.to_owned()),
            admin_email: ADMIN_EMAIL.to_owned(),
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
            demo_data,
            public_url: "http://127.0.0.1:3000".to_owned(),
            quote_secret: Some("test-quote-secret-test-quote-secret-0123".to_owned()),
            order_rules,
        }
    }

    async fn configured(demo_data: bool, order_rules: Option<cy_api::orders::OrderRules>) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Self::config(dir.path(), demo_data, order_rules);
        let local = customiseyou_local::start(config).await.expect("local runtime starts");
        TestApp { local, _dir: dir }
    }

    pub fn router(&self) -> Router {
        self.local.router.clone()
    }

    pub fn store(&self) -> Arc<dyn cy_data::Store> {
        self.local.store.clone()
    }

    /// The order sweeps over this runtime (what `POST /dev/jobs/order-sweeps` runs).
    pub fn sweeps(&self) -> cy_api::jobs::Sweeps {
        self.local.services.sweeps()
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        send(self.router(), request).await
    }

    /// A JSON request, optionally with a bearer token.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.send(json_request(method, path, token, body)).await
    }

    /// Registers an account and returns the 201 body.
    pub async fn register(&self, email: &str, role: &str) -> Value {
        let body =
            serde_json::json!({"email": email, "password": "a-long-password", "name": "Test Person", "role": role});
        let answer = self.call(Method::POST, "/auth/register", None, Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        let body = serde_json::json!({"email": email, "password": password});
        self.call(Method::POST, "/auth/login", None, Some(body)).await
    }

    /// The admin's access token.
    pub async fn admin(&self) -> String {
        token(&self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body, "access_token")
    }

    /// The order as stored.
    pub async fn stored(&self, id: &OrderId) -> Order {
        cy_data::orders::get_order(self.store().as_ref(), id).await.expect("read").expect("the order")
    }

    /// Delivers `event_type` for order `id` as its provider would: the body it would send now,
    /// signed with the secrets this runtime verifies, through the router.
    pub async fn deliver(&self, provider: PaymentProvider, event_type: &str, id: &OrderId) -> Answer {
        let order = self.stored(id).await;
        let facts = customiseyou_local::webhooks::facts(&order, &self.local.simulator).expect("facts");
        let body = customiseyou_local::webhooks::event_body(provider, event_type, &facts, None).expect("a body");
        self.send(self.local.webhook_signer.request(provider, body).expect("signed")).await
    }

    /// The order's events still in the outbox (tests start no relay), oldest first.
    pub async fn outbox(&self, id: &OrderId) -> Vec<cy_data::orders::OutboxEvent> {
        let q = cy_data::Query::table(cy_data::keys::OUTBOX_PARTITION).limit(1000);
        let page = self.store().query(&q).await.expect("outbox");
        page.items
            .iter()
            .map(|i| i.record::<cy_data::orders::OutboxEvent>().expect("an event"))
            .filter(|e| e.order_id.as_ref() == Some(id))
            .collect()
    }
}

pub fn json_request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    builder.body(body).expect("request")
}

pub async fn send<S>(service: S, request: Request<Body>) -> Answer
where
    S: tower::Service<Request<Body>, Response = axum::response::Response, Error = std::convert::Infallible>,
{
    let response = service.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
    };
    Answer { status, headers, body }
}

pub fn token(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_else(|| panic!("no {field} in {body}")).to_owned()
}

/// A customer made directly in the store (no bcrypt: these tests need hundreds), signed in,
/// with one address. Returns (token, address id).
pub async fn seed_customer(store: &dyn cy_data::Store) -> (String, String) {
    let now = Timestamp::now();
    let user = User {
        id: UserId::generate(),
        email: Email::parse(&format!("{}@buyers.example.in", UserId::generate().as_str().to_lowercase())).unwrap(),
        name: PersonName::parse("Buyer").unwrap(),
        role: Role::Customer,
        phone: None,
        email_verified: false,
        phone_verified: false,
        password_hash: "not-a-login".into(),
        address_count: 0,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let audit = AuditRecord::new(None, "test.seed", user.id.as_str(), json!({}));
    cy_data::accounts::create_user(store, &user, &audit, Vec::new()).await.unwrap();
    let address = Address {
        id: AddressId::generate(),
        fields: AddressDraft {
            name: PersonName::parse("Buyer").unwrap(),
            line1: AddressLine::parse("1 MG Road").unwrap(),
            line2: None,
            city: Locality::parse("Pune").unwrap(),
            state: None,
            postal_code: PostalCode::parse("411001").unwrap(),
            country: CountryCode::parse("IN").unwrap(),
            phone: None,
        },
        created_at: now,
        updated_at: now,
        version: 1,
    };
    cy_data::accounts::add_address(store, &user.id, &address, Vec::new()).await.unwrap();
    let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes(), None).unwrap();
    (keys.issue(&user.id, Role::Customer, &SessionId::generate(), now).unwrap(), address.id.to_string())
}

/// The `home-mugs` category the tests' products are listed in (once per store).
pub async fn seed_mugs_category(store: &dyn cy_data::Store) {
    let category = cy_data::catalog::CategoryRecord {
        slug: cy_domain::product::CategoryId::parse("home-mugs").expect("slug"),
        name: "Mugs".into(),
        parent: None,
        version: 1,
    };
    cy_data::catalog::put_category_if_absent(store, &category).await.expect("category");
}

/// A marketplace with one seller and one product: `stock` units at 10 000 INR, no options.
pub struct Shop {
    pub app: TestApp,
    /// The seller's access token.
    pub seller: String,
    pub product: String,
}

pub async fn shop(stock: i64) -> Shop {
    shop_in(TestApp::new().await, stock).await
}

/// [`shop`] on a runtime already started (with other rules, say).
pub async fn shop_in(app: TestApp, stock: i64) -> Shop {
    seed_mugs_category(app.store().as_ref()).await;
    let seller = token(&app.register("seller@shop.example.in", "seller").await, "access_token");
    let body = json!({"title": "Plain mug", "category_id": "home-mugs", "base_price": {"amount": 10000, "currency": "INR"}, "stock": stock});
    let created = app.call(Method::POST, "/seller/products", Some(&seller), Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Shop { app, seller, product: created.body["id"].as_str().expect("product id").to_owned() }
}

/// A runtime on a real loopback port with real WebSocket clients.
pub mod live {
    use std::time::Duration;

    use futures::StreamExt;
    use serde_json::Value;
    use tokio_tungstenite::tungstenite::Message;

    use crate::Shop;

    pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    /// The shop's runtime listening on a loopback port, its relay and consumers running.
    pub async fn serve(shop: &mut Shop) -> std::net::SocketAddr {
        shop.app.local.start_jobs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = shop.app.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    }

    pub async fn connect(
        addr: std::net::SocketAddr,
        token: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}")).await.map(|(socket, _)| socket)
    }

    /// The next JSON frame within `within`, passing over `notification` frames (the in-app
    /// notifications that follow events; [`next_frame_of`] waits for those).
    pub async fn next_frame(socket: &mut Socket, within: Duration) -> Value {
        loop {
            let frame = any_frame(socket, within).await;
            if frame["type"] != "notification" {
                return frame;
            }
        }
    }

    /// The next frame of type `kind` within `within`, passing over the others.
    pub async fn next_frame_of(socket: &mut Socket, kind: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = any_frame(socket, left).await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    async fn any_frame(socket: &mut Socket, within: Duration) -> Value {
        loop {
            let message =
                tokio::time::timeout(within, socket.next()).await.expect("a frame in time").expect("open").unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Reads and drops whatever frames arrive within `quiet` of each other.
    pub async fn drain(socket: &mut Socket, quiet: Duration) {
        while tokio::time::timeout(quiet, socket.next()).await.is_ok() {}
    }
}
