//! `--replica-database-url` (issue 11): reports read from a real streaming replica (a standby
//! made with `pg_basebackup` from a primary on loopback), say how far behind it is, and catch
//! up when it does.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use pos_sync_server::pg::{ClusterOptions, LocalCluster};
use serde_json::{json, Value};
use sqlx_core::executor::Executor;
use tower::ServiceExt;
use uuid::Uuid;

use crate::common::{PASSWORD, ROOT_EMAIL};

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
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
    .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_the_streaming_replica_and_say_how_far_behind_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ClusterOptions {
        ephemeral: true,
        ..ClusterOptions::default()
    };
    let (primary, standby) = {
        let root = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let primary = LocalCluster::start(&root.join("primary"), &opts).expect("primary");
            let standby = LocalCluster::start_standby(&primary, &root.join("standby"), &opts)
                .expect("standby");
            (primary, standby)
        })
        .await
        .unwrap()
    };
    let config = <pos_sync_server::Config as clap::Parser>::parse_from([
        "pos-sync-server",
        "--database-url",
        &primary.url("postgres"),
        "--replica-database-url",
        &standby.url("postgres"),
        "--data-dir",
        &dir.path().join("server").display().to_string(),
        "--jwt-secret",
        "replica-test-secret-replica-test-secret-01",
        "--bootstrap-admin-email",
        ROOT_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
        // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
        "--admin-2fa",
        "optional",
    ]);
    let app = pos_sync_server::app::prepare(&config).await.expect("app");
    let router = pos_sync_server::router(app.state.clone());

    let (_, r) = call(
        &router,
        "POST",
        "/v1/auth/login",
        None,
        Some(json!({"email": ROOT_EMAIL, "password": PASSWORD})),
    )
    .await;
    let root = r["access_token"].as_str().unwrap().to_string();
    let (s, r) = call(
        &router,
        "POST",
        "/v1/admin/tenants",
        Some(&root),
        Some(json!({"name": "Replica Co",
        "owner_email": "owner@replica.test", "owner_name": "Owner", "owner_password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let tenant: Uuid = serde_json::from_value(r["tenant_id"].clone()).unwrap();
    let (_, r) = call(
        &router,
        "POST",
        "/v1/auth/login",
        None,
        Some(json!({"email": "owner@replica.test", "password": PASSWORD})),
    )
    .await;
    let owner = r["access_token"].as_str().unwrap().to_string();
    let (s, r) = call(
        &router,
        "POST",
        "/v1/admin/stores",
        Some(&owner),
        Some(json!({"code": "R1", "name": "Replica",
        "currency": "EUR", "tax_mode": "Inclusive"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let store: Uuid = serde_json::from_value(r["store_id"].clone()).unwrap();

    let sell = |total: i64| {
        let pool = app.state.pool.clone();
        async move {
            sqlx_core::query::query(
                "INSERT INTO p_sales (tenant_id, doc_id, store_id, status, closed_at, subtotal,
                    discount, tax, total) VALUES ($1, $2, $3, 'closed', $4, $5, 0, 0, $5)",
            )
            .bind(tenant)
            .bind(Uuid::now_v7().to_string())
            .bind(store.to_string())
            .bind(pos_sync_server::db::now_ms())
            .bind(total)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let today = pos_core::calendar::StoreClock::utc()
        .business_day(pos_sync_server::db::now_ms())
        .unwrap();
    let path = format!(
        "/v1/admin/reports/sales-summary?stores={store}&from={today}&to={today}&group=store"
    );
    // Until the replica has replayed `total`, within 20 s.
    let until = |want: i64| {
        let (router, owner, path) = (router.clone(), owner.clone(), path.clone());
        async move {
            let start = Instant::now();
            loop {
                let (s, r) = call(&router, "GET", &path, Some(&owner), None).await;
                assert_eq!(s, StatusCode::OK, "{r}");
                if r["data"][0]["sales_total"] == want {
                    return r;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "replica never showed {want}: {r}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    sell(1000).await;
    let r = until(1000).await;
    assert_eq!(r["source"]["replica"], true, "{r}");
    assert_eq!(r["source"]["lag_bytes"], 0, "caught up: {r}");

    // The replica stops replaying: the report still answers, from the replica, what it had,
    // and says it is behind; the master already has the new sale.
    let replica = app.state.replica.clone().expect("replica pool");
    replica
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    sell(234).await;
    let (_, on_master): (i64, i64) = sqlx_core::query_as::query_as(
        "SELECT 0::bigint, sum(total)::bigint FROM p_sales WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(on_master, 1234);
    // Give the WAL time to reach the standby (it is received, only not replayed).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, r) = call(&router, "GET", &path, Some(&owner), None).await;
    assert_eq!(
        r["data"][0]["sales_total"], 1000,
        "read from the paused replica: {r}"
    );
    assert!(r["source"]["lag_bytes"].as_i64().unwrap() > 0, "{r}");
    assert!(r["source"]["lag_ms"].as_i64().is_some(), "{r}");

    replica
        .execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let r = until(1234).await;
    assert_eq!(r["source"]["lag_bytes"], 0, "{r}");
    drop(router);
    drop(app);
    drop(standby);
    drop(primary);
}
