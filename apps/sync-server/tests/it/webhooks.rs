//! Events and webhooks (issue 14) against a real HTTP receiver on loopback (an axum server in
//! the test) that answers 200, fails with 500, hangs, redirects, and recovers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use pos_sync_server::webhooks::{self, NewEvent, WebhookConfig, Worker};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ok,
    Fail,
    Hang,
    Redirect,
}

#[derive(Default)]
struct Seen {
    /// (timestamp header, signature header, body) of every request answered 2xx.
    delivered: Vec<(String, String, Vec<u8>)>,
    /// Requests of any answer.
    requests: usize,
    redirect_target_hits: usize,
}

struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    /// Fail only events of this entity (when set), answer the others.
    fail_entity: Arc<Mutex<Option<Uuid>>>,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let fail_entity: Arc<Mutex<Option<Uuid>>> = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (m, f, s) = (mode.clone(), fail_entity.clone(), seen.clone());
        let s2 = seen.clone();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let (m, f, s) = (m.clone(), f.clone(), s.clone());
                    async move {
                        s.lock().unwrap().requests += 1;
                        let mode = *m.lock().unwrap();
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let entity = v["entity_id"].as_str().and_then(|e| e.parse().ok());
                        let failing = f.lock().unwrap().is_some_and(|e| Some(e) == entity);
                        if failing {
                            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                        }
                        match mode {
                            Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                            Mode::Hang => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                StatusCode::OK.into_response()
                            }
                            Mode::Redirect => {
                                (StatusCode::FOUND, [("location", "/elsewhere")], "moved")
                                    .into_response()
                            }
                            Mode::Ok => {
                                let h = |n: &str| {
                                    headers
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or("")
                                        .to_string()
                                };
                                s.lock().unwrap().delivered.push((
                                    h(webhooks::TIMESTAMP_HEADER),
                                    h(webhooks::SIGNATURE_HEADER),
                                    body.to_vec(),
                                ));
                                StatusCode::NO_CONTENT.into_response()
                            }
                        }
                    }
                }),
            )
            .route(
                "/elsewhere",
                axum::routing::post(move || {
                    let s = s2.clone();
                    async move {
                        s.lock().unwrap().redirect_target_hits += 1;
                        StatusCode::OK
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            mode,
            fail_entity,
            seen,
            task,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn bodies(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .delivered
            .iter()
            .map(|(_, _, b)| serde_json::from_slice(b).expect("json"))
            .collect()
    }
}

fn config() -> WebhookConfig {
    WebhookConfig {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(80),
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(20),
        batch: 100,
        concurrency: 8,
        allow_private: true,
        retention: None,
    }
}

fn worker(app: &TestApp, cfg: WebhookConfig) -> Worker {
    Worker::new(app.db.pool.clone(), app.state.settings.sealer.clone(), cfg).expect("worker")
}

/// Runs the worker until `done` holds (or panics after 15 s).
async fn run_until(w: &Worker, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out");
        w.run_once().await.expect("run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn endpoint(app: &TestApp, t: &Tenant, url: &str) -> (Uuid, String) {
    let r = app
        .post("/v1/admin/webhooks", Some(&t.owner), json!({ "url": url }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let secret = r.body["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"));
    (
        serde_json::from_value(r.body["endpoint_id"].clone()).expect("id"),
        secret,
    )
}

/// Writes events through the production insert (with their deliveries).
async fn events(app: &TestApp, tenant: Uuid, list: &[(Uuid, i64)]) -> Vec<Uuid> {
    let mut tx = app.db.pool.begin().await.expect("tx");
    let evs: Vec<NewEvent> = list
        .iter()
        .map(|(entity, version)| NewEvent {
            event_type: webhooks::STOCK_LOW,
            entity_id: *entity,
            version: *version,
            data: json!({ "n": version }),
        })
        .collect();
    webhooks::insert_events(&mut tx, tenant, &evs, pos_sync_server::db::now_ms())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let rows: Vec<(Uuid,)> = sqlx_core::query_as::query_as(
        "SELECT event_id FROM events WHERE tenant_id = $1 ORDER BY event_id",
    )
    .bind(tenant)
    .fetch_all(&app.db.pool)
    .await
    .expect("events");
    rows.into_iter().map(|(e,)| e).collect()
}

async fn deliveries(app: &TestApp, t: &Tenant, q: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/admin/webhook-deliveries{q}"), &t.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body.as_array().expect("list").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_sale_pushed_writes_an_event_delivered_signed_to_the_endpoint() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let rx = Receiver::start().await;
    let (_, secret) = endpoint(&app, &t, &rx.url).await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let open = {
        let c = till.cashier;
        let s = till.store.open_sale(&c, None).expect("open");
        till.store.add_item(&c, s, item, 1, &[], 1).expect("add");
        s
    };
    let _ = open;
    let sale = till.sell(&app, item, 2).await;

    // One event, for the closed sale only (the open one pushed with it is not closed).
    let rows: Vec<(String, Uuid, i64, Value)> = sqlx_core::query_as::query_as(
        "SELECT type, entity_id, version, data FROM events WHERE tenant_id = $1",
    )
    .bind(t.tenant_id)
    .fetch_all(&app.db.pool)
    .await
    .expect("events");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "pos.sale.closed");
    assert_eq!(rows[0].1, sale);
    assert_eq!(rows[0].3["status"], "closed");
    assert_eq!(rows[0].3["total"], 500);
    let (max_seq,): (i64,) =
        sqlx_core::query_as::query_as("SELECT max(seq) FROM change_log WHERE tenant_id = $1")
            .bind(t.tenant_id)
            .fetch_one(&app.db.pool)
            .await
            .expect("seq");
    assert!(
        rows[0].2 > 0 && rows[0].2 <= max_seq,
        "version is a change sequence"
    );

    let w = worker(&app, config());
    run_until(&w, || !rx.bodies().is_empty()).await;
    let (ts, sig, body) = rx.seen.lock().unwrap().delivered[0].clone();
    let ts: i64 = ts.parse().expect("timestamp");
    assert_eq!(
        sig,
        webhooks::sign(secret.as_bytes(), ts, &body),
        "HMAC over ts.body"
    );
    assert_ne!(sig, webhooks::sign(b"whsec_wrong", ts, &body));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["type"], "pos.sale.closed");
    assert_eq!(v["entity_id"], json!(sale));
    assert_eq!(v["tenant_id"], json!(t.tenant_id));
    assert_eq!(
        v["data"]["receipt_no"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    for k in ["event_id", "version", "occurred_at"] {
        assert!(!v[k].is_null(), "{k}: {v}");
    }
    let list = deliveries(&app, &t, "").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["last_status"], 204);
    // Delivered once: nothing more to do.
    assert_eq!(w.run_once().await.expect("run").tried(), 0);

    // With the outbox off, a push writes no event.
    let off = app_with(pos_sync_server::config::Settings {
        events: false,
        ..test_settings()
    })
    .await;
    let t2 = off.tenant("Quiet").await;
    let item2 = publish_item(&off, &t2, 100).await;
    let mut till2 = crate::common::till(&off, &t2).await;
    till2.sell(&off, item2, 1).await;
    let (n,): (i64,) = sqlx_core::query_as::query_as("SELECT count(*) FROM events")
        .fetch_one(&off.db.pool)
        .await
        .expect("count");
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_of_an_entity_are_delivered_in_order_and_others_are_not_held_up() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let rx = Receiver::start().await;
    endpoint(&app, &t, &rx.url).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // Entity a: versions 10..15; entity b: 11, 12. Inserted out of order.
    events(
        &app,
        t.tenant_id,
        &[
            (a, 12),
            (a, 10),
            (b, 11),
            (a, 14),
            (a, 11),
            (b, 12),
            (a, 13),
            (a, 15),
        ],
    )
    .await;
    *rx.fail_entity.lock().unwrap() = Some(a);
    let w = worker(
        &app,
        WebhookConfig {
            max_attempts: 20,
            ..config()
        },
    );
    // While a's first version fails, none of a's later ones is sent; b's go.
    run_until(&w, || rx.bodies().len() >= 2).await;
    // Until a's first version has been tried three more times (b's two are delivered, so every
    // request now is a's): its later versions had every chance to go meanwhile.
    let tried_before = rx.seen.lock().unwrap().requests;
    run_until(&w, || {
        let seen = rx.seen.lock().unwrap();
        seen.requests >= tried_before + 3
    })
    .await;
    let got = rx.bodies();
    assert!(got.iter().all(|v| v["entity_id"] == json!(b)), "{got:?}");
    let pending_a = deliveries(&app, &t, "?status=pending").await;
    let tried: Vec<i64> = pending_a
        .iter()
        .filter(|d| d["attempts"].as_i64() > Some(0))
        .map(|d| d["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        tried,
        vec![10],
        "only version 10 of a was tried: {pending_a:?}"
    );

    // a's receiver recovers: its versions arrive, in order.
    *rx.fail_entity.lock().unwrap() = None;
    run_until(&w, || rx.bodies().len() >= 8).await;
    let versions: Vec<(String, i64)> = rx
        .bodies()
        .iter()
        .map(|v| {
            (
                v["entity_id"].as_str().unwrap().to_string(),
                v["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let of = |e: Uuid| -> Vec<i64> {
        versions
            .iter()
            .filter(|(id, _)| *id == e.to_string())
            .map(|(_, v)| *v)
            .collect()
    };
    assert_eq!(of(a), vec![10, 11, 12, 13, 14, 15]);
    assert_eq!(of(b), vec![11, 12]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hanging_or_redirecting_endpoint_is_retried_then_dead_lettered_and_replayed() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let rx = Receiver::start().await;
    endpoint(&app, &t, &rx.url).await;
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let w = worker(&app, config());

    // 500, then a hang (timed out), then a redirect (not followed): three tries, dead.
    events(&app, t.tenant_id, &[(a, 1), (a, 2)]).await;
    rx.set(Mode::Fail);
    run_until(&w, || rx.seen.lock().unwrap().requests >= 1).await;
    let d = deliveries(&app, &t, "?status=pending").await;
    let first = d.iter().find(|d| d["version"] == 1).expect("v1");
    assert_eq!(first["last_status"], 500);
    assert_eq!(first["attempts"], 1);
    rx.set(Mode::Hang);
    run_until(&w, || rx.seen.lock().unwrap().requests >= 2).await;
    let d = deliveries(&app, &t, "?status=pending").await;
    let first = d.iter().find(|d| d["version"] == 1).expect("v1");
    assert_eq!(first["last_error"], "timed out", "{first}");
    rx.set(Mode::Redirect);
    run_until(&w, || rx.seen.lock().unwrap().requests >= 3).await;
    let dead = deliveries(&app, &t, "?status=dead").await;
    assert_eq!(dead.len(), 1, "dead after 3 tries: {dead:?}");
    assert_eq!(dead[0]["version"], 1);
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["last_status"], 302);
    assert_eq!(
        rx.seen.lock().unwrap().redirect_target_hits,
        0,
        "not followed"
    );

    // The endpoint recovers: version 2 (no longer held by the dead 1) and new events go.
    rx.set(Mode::Ok);
    events(&app, t.tenant_id, &[(b, 3), (c, 4)]).await;
    run_until(&w, || rx.bodies().len() >= 3).await;
    let got: Vec<i64> = rx
        .bodies()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert!(
        got.contains(&2) && got.contains(&3) && got.contains(&4),
        "{got:?}"
    );
    assert!(!got.contains(&1));

    // Replay: the dead event is sent again, and so is a delivered one.
    let dead_event = dead[0]["event_id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/v1/admin/events/{dead_event}/replay"),
            Some(&t.owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["deliveries"], 1);
    run_until(&w, || rx.bodies().len() >= 4).await;
    let last = rx.bodies().last().cloned().expect("replayed");
    assert_eq!(last["event_id"], json!(dead_event));
    assert_eq!(last["version"], 1);
    let d = deliveries(&app, &t, "?status=dead").await;
    assert!(d.is_empty(), "{d:?}");
    let r = app
        .post(
            &format!("/v1/admin/events/{}/replay", Uuid::now_v7()),
            Some(&t.owner),
            json!({}),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_for_owners_and_admins_checked_audited_and_their_secret_shown_once() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    // Bad URLs: a typed 400.
    for url in [
        "ftp://hooks.example/x",
        "hooks.example/x",
        "https://u:p@hooks.example/",
    ] {
        let r = app
            .post("/v1/admin/webhooks", Some(&t.owner), json!({ "url": url }))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    }
    let r = app
        .post("/v1/admin/webhooks", Some(&t.owner), json!({ "nope": 1 }))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    // A manager may not.
    let r = app
        .head_office_user(&t, "manager@acme.test", PASSWORD)
        .await;
    let manager_id: Uuid = serde_json::from_value(r.body["user_id"].clone()).expect("id");
    let r = app
        .post(
            &format!("/v1/admin/users/{manager_id}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "manager"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let manager = app.token("manager@acme.test", PASSWORD).await;
    let r = app
        .post(
            "/v1/admin/webhooks",
            Some(&manager),
            json!({ "url": "https://hooks.example/x" }),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app.get("/v1/admin/webhook-deliveries", &manager).await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");

    let (id, secret) = endpoint(&app, &t, "https://hooks.example/pos").await;
    let r = app.get("/v1/admin/webhooks", &t.owner).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    assert_eq!(r.body[0]["url"], "https://hooks.example/pos");
    assert!(
        r.body[0].get("secret").is_none(),
        "shown once: {:?}",
        r.body
    );
    assert!(!r.body.to_string().contains(&secret));
    // The secret is not stored in clear.
    let (sealed,): (Vec<u8>,) = sqlx_core::query_as::query_as(
        "SELECT secret_sealed FROM webhook_endpoints WHERE endpoint_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .expect("row");
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret[6..]));
    // Another tenant neither sees nor deletes it.
    let r = app.get("/v1/admin/webhooks", &other.owner).await;
    assert_eq!(r.body, json!([]));
    let r = app
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/admin/webhooks/{id}"),
            Some(&other.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r = app
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/admin/webhooks/{id}"),
            Some(&t.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get("/v1/admin/audit", &t.owner).await;
    let actions: Vec<String> = r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        actions.contains(&"webhook.create".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"webhook.delete".to_string()),
        "{actions:?}"
    );
    assert!(!r.body.to_string().contains(&secret));

    // Without --webhook-allow-private-targets, loopback is refused.
    let strict = app_with(pos_sync_server::config::Settings {
        webhook_allow_private: false,
        ..test_settings()
    })
    .await;
    let ts = strict.tenant("Strict").await;
    let r = strict
        .post(
            "/v1/admin/webhooks",
            Some(&ts.owner),
            json!({ "url": "http://127.0.0.1:9/hook" }),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

/// The stock-low event from real pushes: it fires once, when a tracked item's level enters the
/// low band (received 5, threshold 2: at 2), not again while it stays low, and its level is the
/// real one also when a push closes a sale that an earlier push opened (that document's old
/// movement rows are replaced, not added to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_entering_the_low_band_writes_one_event_with_the_real_level() {
    let app = app().await;
    let t = app.tenant("Stocky").await;
    let r = app
        .post(
            "/v1/admin/items",
            Some(&t.owner),
            json!({"sku": "BEA", "name": "Beans", "currency": "EUR", "price": 900,
                   "tax_class": "std", "track_stock": true, "low_stock_threshold": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let beans: Uuid = serde_json::from_value(r.body["doc_id"].clone()).unwrap();
    let mut till = till(&app, &t).await;
    let manager = app.staff(&t, "Mia", "manager").await;
    till.store
        .upsert_staff(manager, "Mia", pos_core::auth::Role::Manager, None)
        .unwrap();
    let m = till.store.actor(manager).unwrap();
    till.store
        .receive_stock(
            &m,
            "PO-1",
            &[pos_core::store::StockInput {
                item_id: beans,
                qty: 5,
                unit_cost: Some(400),
            }],
        )
        .unwrap();
    till.push(&app).await;
    let low_events = || async {
        let rows: Vec<(Value,)> = sqlx_core::query_as::query_as(
            "SELECT data FROM events WHERE tenant_id = $1 AND type = 'inventory.stock.low'
             ORDER BY version",
        )
        .bind(t.tenant_id)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        rows.into_iter().map(|(d,)| d).collect::<Vec<_>>()
    };
    till.sell(&app, beans, 2).await; // 3: not low
    assert!(low_events().await.is_empty());
    till.sell(&app, beans, 1).await; // 2: low
    let ev = low_events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["on_hand"], 2);
    assert_eq!(ev[0]["item_id"], json!(beans.to_string()));
    // A sale opened in one push and closed in the next, then another: still low, no event.
    let c = till.cashier;
    let open = till.store.open_sale(&c, None).unwrap();
    till.store.add_item(&c, open, beans, 1, &[], 1).unwrap();
    till.push(&app).await;
    let due = till
        .store
        .get::<pos_core::sale::Sale>(open)
        .unwrap()
        .totals()
        .unwrap()
        .due;
    let eur = pos_core::money::Currency::from_code("EUR").unwrap();
    till.store
        .pay(
            &c,
            open,
            pos_core::sale::Tender::Cash,
            pos_core::money::Money::new(due, eur),
            None,
        )
        .unwrap();
    till.push(&app).await;
    assert_eq!(low_events().await.len(), 1);
    let (level,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT on_hand::bigint FROM p_stock_levels WHERE tenant_id = $1 AND item_id = $2",
    )
    .bind(t.tenant_id)
    .bind(beans.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(level, 1);
    // Received again (back to 6), then sold down to 2: low again, a second event at 2.
    till.store
        .receive_stock(
            &m,
            "PO-2",
            &[pos_core::store::StockInput {
                item_id: beans,
                qty: 5,
                unit_cost: Some(400),
            }],
        )
        .unwrap();
    till.push(&app).await;
    till.sell(&app, beans, 4).await;
    let ev = low_events().await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["on_hand"], 2);
}

/// Retention: settled events older than the retention go with their deliveries; an old event
/// with a delivery still pending stays, and so do recent ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_settled_events_are_pruned_and_pending_ones_kept() {
    let app = app().await;
    let t = app.tenant("Keeper").await;
    let (ep, _) = endpoint(&app, &t, "http://127.0.0.1:9/hook").await;
    let ids = events(
        &app,
        t.tenant_id,
        &[
            (Uuid::now_v7(), 1),
            (Uuid::now_v7(), 2),
            (Uuid::now_v7(), 3),
        ],
    )
    .await;
    assert_eq!(ids.len(), 3);
    let day = 86_400_000i64;
    // Event 0: 40 days old, delivered. Event 1: 40 days old, still pending. Event 2: recent,
    // delivered.
    for (id, age, status) in [
        (ids[0], 40 * day, "delivered"),
        (ids[1], 40 * day, "pending"),
        (ids[2], 0, "delivered"),
    ] {
        sqlx_core::query::query(
            "UPDATE events SET occurred_at = occurred_at - $2 WHERE event_id = $1",
        )
        .bind(id)
        .bind(age)
        .execute(&app.db.pool)
        .await
        .unwrap();
        sqlx_core::query::query(
            "UPDATE webhook_deliveries SET status = $2 WHERE event_id = $1 AND endpoint_id = $3",
        )
        .bind(id)
        .bind(status)
        .bind(ep)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let w = worker(
        &app,
        WebhookConfig {
            retention: Some(Duration::from_secs(30 * 86_400)),
            ..config()
        },
    );
    assert_eq!(w.prune(pos_sync_server::db::now_ms()).await.unwrap(), 1);
    let left: Vec<(Uuid,)> = sqlx_core::query_as::query_as(
        "SELECT event_id FROM events WHERE tenant_id = $1 ORDER BY event_id",
    )
    .bind(t.tenant_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(left, vec![(ids[1],), (ids[2],)]);
    let (deliveries,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND event_id = $2",
    )
    .bind(t.tenant_id)
    .bind(ids[0])
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(deliveries, 0, "its deliveries went with it");
    // Without a retention nothing goes.
    let keep_all = worker(&app, config());
    sqlx_core::query::query("UPDATE webhook_deliveries SET status = 'dead' WHERE event_id = $1")
        .bind(ids[1])
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        keep_all.prune(pos_sync_server::db::now_ms()).await.unwrap(),
        0
    );
    assert_eq!(w.prune(pos_sync_server::db::now_ms()).await.unwrap(), 1);
}
