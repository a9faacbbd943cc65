use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[tokio::test]
async fn health_live_and_ready_answer_when_the_database_is_up() {
    let app = app().await;
    let r = app.call(Method::GET, "/health/live", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.headers.contains_key("x-request-id"),
        "request id propagated"
    );
    app.db.pool.close().await;
    // Not ready is a state to wait out (503 with Retry-After, as documented), not a fault.
    let r = app.call(Method::GET, "/health/ready", None, None).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert_eq!(
        r.body["error"]["message"], "the database is not ready",
        "no detail leaks"
    );
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_format() {
    let app = app().await;
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body.as_str().expect("text");
    assert!(text.contains("pos_sync_changes_total"), "{text}");
    assert!(text.contains("pos_sync_connected_devices"), "{text}");
}

#[tokio::test]
async fn malformed_body_gives_400_with_the_error_shape() {
    let app = app().await;
    let req = Request::post("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .expect("req");
    assert_error(&app.raw(req).await, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app.post("/v1/auth/login", None, json!({"email": 3})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let req = Request::post("/v1/auth/login")
        .body(Body::from("{}"))
        .expect("req");
    assert_error(&app.raw(req).await, StatusCode::BAD_REQUEST, "VALIDATION");
}

#[tokio::test]
async fn oversized_body_gives_413_with_the_error_shape() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    let big = vec![b' '; pos_sync::wire::MAX_BODY_BYTES + 1];
    let req = Request::post("/v1/sync/push")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", d.token))
        .body(Body::from(big))
        .expect("req");
    assert_error(
        &app.raw(req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "VALIDATION",
    );
}

#[tokio::test]
async fn unknown_routes_and_bad_ids_use_the_error_shape() {
    let app = app().await;
    assert_error(
        &app.call(Method::GET, "/v1/nope", None, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    assert_error(
        &app.get("/v1/sync/doc/not-a-uuid", &d.token).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    assert_error(
        &app.get("/v1/sync/pull?cursor=x", &d.token).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
}

#[tokio::test]
async fn openapi_document_is_generated_from_the_code() {
    let app = app().await;
    let r = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    for p in [
        "/v1/auth/login",
        "/v1/admin/stores",
        "/v1/admin/audit",
        "/v1/admin/stores/{store_id}/enrolment-codes",
    ] {
        assert!(r.body["paths"].get(p).is_some(), "missing {p}");
    }
    assert!(r.body["components"]["schemas"].get("CreateStore").is_some());
}

/// The migration's projection tables are `pos_core::projection::TABLES` with `tenant_id` first.
#[tokio::test]
async fn projection_tables_match_the_core_definitions() {
    let app = app().await;
    for t in pos_core::projection::TABLES {
        let cols: Vec<(String,)> = sqlx_core::query_as::query_as(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        )
        .bind(t.name)
        .fetch_all(&app.db.pool)
        .await
        .expect("columns");
        let cols: Vec<String> = cols.into_iter().map(|(c,)| c).collect();
        let mut want = vec!["tenant_id".to_string()];
        want.extend(t.columns.iter().map(|c| c.to_string()));
        assert_eq!(cols, want, "table {}", t.name);
    }
}

/// A real server on a real socket: health, and the graceful shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_socket_server_answers_and_shuts_down_gracefully() {
    let RealServer {
        addr,
        dir,
        stop: stop_tx,
        handle: server,
        ..
    } = real_server(&["--listen", "127.0.0.1:0"]).await;
    assert!(
        dir.path().join("jwt-secret").exists(),
        "secret generated and kept"
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /health/ready HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("ready"));
    let _ = stop_tx.send(());
    let r = tokio::time::timeout(std::time::Duration::from_secs(20), server)
        .await
        .expect("stops in time")
        .expect("join");
    assert!(r.is_ok(), "{r:?}");
}

/// Graceful shutdown drains a push that is in flight: the push is held inside the server (the
/// test holds the tenant's sequence row), the server is told to stop and stops accepting
/// connections, and only when the row is let go does the push finish, answered "accepted" and
/// committed, before the server returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_in_flight_at_shutdown_is_finished_before_the_server_stops() {
    use pos_sync::device::Transport;
    use std::time::{Duration, Instant};

    let RealServer {
        addr,
        db,
        stop: stop_tx,
        handle: server,
        ..
    } = real_server(&[
        "--bootstrap-admin-email",
        ROOT_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
        // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
        "--admin-2fa",
        "optional",
        "--shutdown-grace-secs",
        "60",
    ])
    .await;
    let url = format!("http://{addr}");

    // Head office sets up a tenant, a store and a manager; a till enrols.
    let setup_url = url.clone();
    let (tenant, cred, manager, device) = tokio::task::spawn_blocking(move || {
        use pos_sync::headoffice::HeadOffice;
        let root = HeadOffice::login(&setup_url, ROOT_EMAIL, PASSWORD).expect("root");
        let tenant = root
            .create_tenant("Acme", "owner@acme.test", PASSWORD)
            .expect("tenant");
        let owner = HeadOffice::login(&setup_url, "owner@acme.test", PASSWORD).expect("owner");
        let store = owner
            .create_store(json!({"code": "S01", "name": "Acme", "currency": "EUR",
                "tax_mode": "Inclusive", "tax_rates": {"std": 2000}, "discount_threshold_bp": 1000}))
            .expect("store");
        let manager = owner
            .create_staff(store, "Mia", "manager", "2222")
            .expect("manager");
        let code = owner.enrolment_code(store).expect("code");
        let (e, cred) = pos_sync::http::enrol(&setup_url, &code, "till").expect("enrol");
        (tenant, cred, manager, e.device_id)
    })
    .await
    .expect("setup");

    // Hold the tenant's sequence row: a push waits for it inside the server.
    let mut holder = db.pool.begin().await.expect("begin");
    sqlx_core::query::query("SELECT last_seq FROM tenant_seq WHERE tenant_id = $1 FOR UPDATE")
        .bind(tenant)
        .fetch_one(&mut *holder)
        .await
        .expect("the tenant's sequence row");
    let envelope = pos_core::doc::Envelope {
        doc_id: uuid::Uuid::now_v7(),
        tenant_id: tenant,
        store_id: None,
        doc_type: pos_core::doc::DocType::Item,
        created_by_device: device,
    };
    let item = item("Latte", 350);
    let (hash, bytes) =
        pos_sync::merge::author_change(envelope, None, &item, uuid::Uuid::new_v4().as_bytes())
            .expect("change");
    let change = pos_sync::wire::WireChange {
        envelope,
        hash: hash.clone(),
        bytes,
        author: pos_sync::wire::Author {
            user_id: manager,
            device_id: device,
        },
        signature: None,
    };
    let pushing = tokio::task::spawn_blocking(move || {
        pos_sync::http::HttpTransport::new(cred).push(&pos_sync::wire::PushRequest {
            protocol: pos_sync::wire::PROTOCOL_VERSION,
            changes: vec![change],
        })
    });

    // Wait until the push is waiting for the row, inside the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx_core::query_scalar::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("locks");
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the push never reached the server"
        );
        tokio::task::yield_now().await;
    }

    // Stop: the server stops accepting connections but keeps the push.
    let _ = stop_tx.send(());
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept accepting connections"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        !server.is_finished(),
        "the server stopped with a push in flight"
    );
    assert!(!pushing.is_finished(), "the push was answered while held");

    holder.rollback().await.expect("let go");
    let answer = pushing.await.expect("join").expect("push answered");
    assert!(
        matches!(&answer.results[0], pos_sync::wire::PushResult::Accepted { hash: h, .. } if *h == hash),
        "{answer:?}"
    );
    let r = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("stops once drained")
        .expect("join");
    assert!(r.is_ok(), "{r:?}");
    let stored: i64 = sqlx_core::query_scalar::query_scalar(
        "SELECT count(*) FROM change_log WHERE tenant_id = $1 AND hash = $2",
    )
    .bind(tenant)
    .bind(&hash)
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(stored, 1, "the drained push was committed");
}
