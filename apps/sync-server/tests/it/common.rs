//! Shared helpers: an app on a fresh database, requests through the router, seed data.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use pos_sync_server::config::Settings;
use pos_sync_server::jwt::JwtKeys;
use pos_sync_server::pg::testing::{test_db, TestDb};
use pos_sync_server::{router, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

use pos_core::auth::Role;
use pos_core::money::{Currency, Money};
use pos_core::sale::Tender;
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::wire::{
    Author, BootstrapPage, PushResponse, PushResult, WireChange, PROTOCOL_VERSION,
};

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";
pub const ROOT_EMAIL: &str = "root@platform.test";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub db: TestDb,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

/// The server's settings for tests: its defaults, except that TOTP is not compulsory for owners
/// and admins (`--admin-2fa optional`), so that tests log in with a password. Two-factor login
/// has its own tests (twofactor.rs), with the default.
pub fn test_settings() -> Settings {
    Settings {
        admin_2fa: pos_sync_server::config::SecondFactor::Optional,
        // One master key for every instance of a test (a second instance reads what the first
        // sealed), as every server of a deployment shares one.
        sealer: pos_sync_server::crypto::Sealer::from_hex(TEST_MASTER_KEY, &[]).expect("key"),
        // Webhook receivers in tests listen on 127.0.0.1.
        webhook_allow_private: true,
        ..Settings::default()
    }
}

/// The tests' master key (64 hex digits).
pub const TEST_MASTER_KEY: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub async fn app() -> TestApp {
    app_with(test_settings()).await
}

pub async fn app_with(settings: Settings) -> TestApp {
    let db = test_db().await.expect("test database");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(
        db.pool.clone(),
        JwtKeys::new(SECRET).expect("keys"),
        settings,
        rx,
    );
    pos_sync_server::app::bootstrap_admin(&db.pool, &state.keys, ROOT_EMAIL, PASSWORD)
        .await
        .expect("superadmin");
    TestApp {
        router: router(state.clone()),
        state,
        db,
        _shutdown: tx,
    }
}

impl TestApp {
    /// Requests through the router of an app the real startup prepared (`app::prepare`), e.g.
    /// on a managed cluster of its own; returns its cluster too (dropping it stops it).
    pub fn prepared(
        app: pos_sync_server::app::App,
    ) -> (TestApp, Option<pos_sync_server::pg::LocalCluster>) {
        let pos_sync_server::app::App {
            state,
            shutdown,
            cluster,
        } = app;
        let url = cluster
            .as_ref()
            .map(|c| c.url("postgres"))
            .unwrap_or_default();
        let db = TestDb {
            url,
            pool: state.pool.clone(),
        };
        (
            TestApp {
                router: router(state.clone()),
                state,
                db,
                _shutdown: shutdown,
            },
            cluster,
        )
    }

    /// A second server instance on the same database: its own pool, its own LISTEN task, the
    /// same signing key. Keep the returned sender alive as long as the instance.
    pub async fn second_instance(&self) -> (Router, tokio::sync::watch::Sender<bool>) {
        let pool = pos_sync_server::db::connect(&self.db.url, 4)
            .await
            .expect("second pool");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(
            pool.clone(),
            JwtKeys::new(SECRET).expect("keys"),
            test_settings(),
            rx,
        );
        pos_sync_server::app::spawn_listener(pool, state.live.clone(), state.shutdown.clone());
        (router(state), tx)
    }
}

/// An item of the catalog, as head office or a manager's till writes it.
pub fn item(name: &str, price: i64) -> pos_core::catalog::Item {
    pos_core::catalog::Item {
        sku: format!("SKU-{name}"),
        name: name.into(),
        category_id: None,
        currency: "EUR".into(),
        price,
        store_prices: Default::default(),
        tax_class: "std".into(),
        station: None,
        track_stock: false,
        low_stock_threshold: 0,
        barcodes: vec![],
        modifier_groups: Default::default(),
        active: true,
    }
}

/// The real server binary's startup (`prepare` + `serve`) on a fresh database and a socket of
/// 127.0.0.1, with `extra` flags; stopped by sending on `stop`.
pub struct RealServer {
    pub addr: std::net::SocketAddr,
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub handle: tokio::task::JoinHandle<Result<(), pos_sync_server::app::StartError>>,
}

pub async fn real_server(extra: &[&str]) -> RealServer {
    let db = test_db().await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().to_string_lossy().into_owned();
    let mut args = vec![
        "pos-sync-server",
        "--database-url",
        &db.url,
        "--data-dir",
        &data_dir,
    ];
    args.extend_from_slice(extra);
    let config = <pos_sync_server::Config as clap::Parser>::parse_from(args);
    let app = pos_sync_server::app::prepare(&config)
        .await
        .expect("prepare");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        pos_sync_server::app::serve(&config, app, listener, async {
            let _ = stop_rx.await;
        })
        .await
    });
    RealServer {
        addr,
        db,
        dir,
        stop,
        handle,
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl TestApp {
    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.raw(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// The tenant's owner revokes `device`.
    pub async fn revoke(&self, t: &Tenant, device: uuid::Uuid) -> Resp {
        self.post(
            &format!("/v1/admin/devices/{device}/revoke"),
            Some(&t.owner),
            json!({}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "login {email}: {:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    /// A tenant with an owner, a store S01 and the owner's token.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let root = self.token(ROOT_EMAIL, PASSWORD).await;
        let email = format!("owner@{}.test", name.to_lowercase());
        let r = self
            .post(
                "/v1/admin/tenants",
                Some(&root),
                json!({"name": name, "owner_email": email, "owner_name": "Owner", "owner_password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let tenant_id: Uuid = serde_json::from_value(r.body["tenant_id"].clone()).expect("id");
        let owner_id: Uuid = serde_json::from_value(r.body["owner_user_id"].clone()).expect("id");
        let owner = self.token(&email, PASSWORD).await;
        let r = self
            .post(
                "/v1/admin/stores",
                Some(&owner),
                json!({"code": "S01", "name": format!("{name} main"), "currency": "EUR",
                       "tax_mode": "Inclusive", "tax_rates": {"std": 2000}, "discount_threshold_bp": 1000}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let store_id: Uuid = serde_json::from_value(r.body["store_id"].clone()).expect("id");
        Tenant {
            tenant_id,
            owner_id,
            owner,
            store_id,
        }
    }

    /// A till's one-time enrolment code for the tenant's store, issued by its owner.
    pub async fn enrolment_code(&self, t: &Tenant) -> String {
        let r = self
            .post(
                &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
                Some(&t.owner),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["code"].as_str().expect("code").to_string()
    }

    /// A head-office user of the tenant who logs in with `email` and `password` (no role yet).
    pub async fn head_office_user(&self, t: &Tenant, email: &str, password: &str) -> Resp {
        self.post(
            "/v1/admin/users",
            Some(&t.owner),
            json!({"name": email.split('@').next(), "email": email, "password": password}),
        )
        .await
    }

    /// Enrols a device in the tenant's store; returns its enrolment and a device token.
    pub async fn device(&self, t: &Tenant) -> Device {
        self.device_enrolled_with(t, json!({})).await
    }

    /// [`TestApp::device`] with more fields in the enrolment request (`public_key`) and an
    /// enrolment code body (`kind`) from `extra`'s `code_body`.
    pub async fn device_enrolled_with(&self, t: &Tenant, extra: Value) -> Device {
        let code = match extra.get("code_body") {
            Some(body) => {
                let r = self
                    .post(
                        &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
                        Some(&t.owner),
                        body.clone(),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
                r.body["code"].as_str().expect("code").to_string()
            }
            None => self.enrolment_code(t).await,
        };
        let mut body = json!({"code": code, "name": "till"});
        if let Some(k) = extra.get("public_key") {
            body["public_key"] = k.clone();
        }
        let r = self.post("/v1/devices/enrol", None, body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let enrol: pos_sync::wire::EnrolResponse = serde_json::from_value(r.body).expect("enrol");
        Device {
            token: self.device_token(&enrol).await,
            enrol,
        }
    }

    /// A fresh access token for an enrolled device.
    pub async fn device_token(&self, enrol: &pos_sync::wire::EnrolResponse) -> String {
        let r = self
            .post(
                "/v1/devices/token",
                None,
                json!({"device_id": enrol.device_id, "device_secret": enrol.device_secret}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    /// A staff user with a role in the tenant's store.
    pub async fn staff(&self, t: &Tenant, name: &str, role: &str) -> Uuid {
        let r = self
            .post("/v1/admin/users", Some(&t.owner), json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let id: Uuid = serde_json::from_value(r.body["user_id"].clone()).expect("id");
        let r = self
            .post(
                &format!("/v1/admin/users/{id}/memberships"),
                Some(&t.owner),
                json!({"store_id": t.store_id, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        id
    }
}

pub struct Tenant {
    pub tenant_id: Uuid,
    pub owner_id: Uuid,
    pub owner: String,
    pub store_id: Uuid,
}

pub struct Device {
    pub token: String,
    pub enrol: pos_sync::wire::EnrolResponse,
}

/// Asserts the design's error shape and code.
pub fn assert_error(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{:?}", r.body);
    assert!(r.body["error"]["message"].is_string(), "{:?}", r.body);
    assert!(r.body["error"].get("details").is_some(), "{:?}", r.body);
}

/// A till of the tenant's store: a real `pos-core` store bootstrapped through the router.
pub struct Till {
    pub device: Device,
    pub store: Store,
    pub cashier: pos_core::auth::Actor,
    /// Hashes of every change the server accepted from this till, in order.
    pub acked: Vec<String>,
    _dir: tempfile::TempDir,
}

pub async fn till(app: &TestApp, t: &Tenant) -> Till {
    let device = app.device(t).await;
    till_of(app, t, device).await
}

/// A till on an enrolled `device` (see [`till`]).
pub async fn till_of(app: &TestApp, t: &Tenant, device: Device) -> Till {
    let kind = device.enrol.kind;
    till_posing_as(app, t, device, kind).await
}

/// [`till_of`], its local store believing the device is of `kind` (so it writes what the
/// server must refuse from the device's real kind).
pub async fn till_posing_as(
    app: &TestApp,
    t: &Tenant,
    device: Device,
    kind: pos_core::auth::DeviceKind,
) -> Till {
    let cashier = app.staff(t, "Cas", "cashier").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::create(
        &dir.path().join("till.sqlite"),
        DeviceIdentity {
            tenant_id: t.tenant_id,
            store_id: t.store_id,
            device_id: device.enrol.device_id,
            store_code: device.enrol.store_code.clone(),
            device_code: device.enrol.device_code.clone(),
            kind,
        },
    )
    .expect("store");
    let mut page: Option<String> = None;
    loop {
        let q = page.map(|p| format!("?page={p}")).unwrap_or_default();
        let r = app
            .get(&format!("/v1/sync/bootstrap{q}"), &device.token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let p: BootstrapPage = serde_json::from_value(r.body).expect("page");
        let docs: Vec<_> = p
            .docs
            .iter()
            .map(|d| (d.envelope, d.bytes.as_slice()))
            .collect();
        store.import_snapshots(&docs).expect("import");
        page = p.next;
        if page.is_none() {
            break;
        }
    }
    store
        .upsert_staff(cashier, "Cas", Role::Cashier, None)
        .expect("staff");
    let cashier = store.actor(cashier).expect("actor");
    Till {
        device,
        store,
        cashier,
        acked: Vec::new(),
        _dir: dir,
    }
}

impl Till {
    /// Sells `qty` of `item` paid in cash (closed), and pushes it; returns the sale id.
    pub async fn sell(&mut self, app: &TestApp, item: Uuid, qty: i64) -> Uuid {
        let c = self.cashier;
        let sale = self.store.open_sale(&c, None).expect("open");
        self.store
            .add_item(&c, sale, item, qty, &[], 1)
            .expect("add");
        let due = self
            .store
            .get::<pos_core::sale::Sale>(sale)
            .expect("sale")
            .totals()
            .expect("totals")
            .due;
        let eur = Currency::from_code("EUR").expect("EUR");
        self.store
            .pay(&c, sale, Tender::Cash, Money::new(due, eur), None)
            .expect("pay");
        self.push(app).await;
        sale
    }

    /// Opens a sale and leaves it open (pushed).
    pub async fn open(&mut self, app: &TestApp, item: Uuid) -> Uuid {
        let c = self.cashier;
        let sale = self.store.open_sale(&c, None).expect("open");
        self.store.add_item(&c, sale, item, 1, &[], 1).expect("add");
        self.push(app).await;
        sale
    }

    pub async fn push(&mut self, app: &TestApp) {
        let batch = self.store.outbox_batch(1000).expect("outbox");
        let changes: Vec<WireChange> = batch
            .iter()
            .map(|e| WireChange {
                envelope: e.envelope,
                hash: e.hash.clone(),
                bytes: e.bytes.clone(),
                author: Author {
                    user_id: e.user_id,
                    device_id: self.device.enrol.device_id,
                },
                signature: None,
            })
            .collect();
        let body = json!({"protocol": PROTOCOL_VERSION, "changes": changes});
        let mut r = app
            .post("/v1/sync/push", Some(&self.device.token), body.clone())
            .await;
        if r.status == StatusCode::UNAUTHORIZED {
            // The access token expired (a long benchmark): a fresh one, as a device does.
            self.device.token = app.device_token(&self.device.enrol).await;
            r = app
                .post("/v1/sync/push", Some(&self.device.token), body)
                .await;
        }
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let resp: PushResponse = serde_json::from_value(r.body).expect("push");
        let done: Vec<String> = resp
            .results
            .iter()
            .map(|r| match r {
                PushResult::Accepted { hash, .. } => hash.clone(),
                other => panic!("not accepted: {other:?}"),
            })
            .collect();
        self.store.outbox_done(&done).expect("done");
        self.acked.extend(done);
    }
}

pub async fn publish_item(app: &TestApp, t: &Tenant, price: i64) -> Uuid {
    let r = app
        .post(
            "/v1/admin/items",
            Some(&t.owner),
            json!({"sku": "CRO", "name": "Croissant", "currency": "EUR", "price": price, "tax_class": "std"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body["doc_id"].clone()).expect("id")
}
