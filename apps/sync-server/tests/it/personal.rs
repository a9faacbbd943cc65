//! Personal data at rest (issue 13): emails and names sealed by the application under per-tenant
//! data keys wrapped by the master key, the email blind index for login, rotation with the old
//! master key still opening until it ends, rows written in clear before sealed at start, and no
//! email or name in the server's logs.

use std::io::Read;
use std::process::{Command, Stdio};

use axum::http::StatusCode;
use pos_sync_server::config::Settings;
use pos_sync_server::crypto::Sealer;
use pos_sync_server::keys::{self, Column};
use pos_sync_server::{router, AppState};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::*;

/// Every text and JSON value in every table of the database, as text.
async fn all_text(pool: &sqlx_postgres::PgPool) -> String {
    let cols: Vec<(String, String)> = sqlx_core::query_as::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'json', 'character varying')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = String::new();
    for (t, c) in cols {
        let rows: Vec<(Option<String>,)> = sqlx_core::query_as::query_as(
            sqlx_core::sql_str::AssertSqlSafe(format!("SELECT \"{c}\"::text FROM \"{t}\"")),
        )
        .fetch_all(pool)
        .await
        .unwrap();
        for (v,) in rows {
            out.push_str(&v.unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn emails_and_names_are_sealed_and_login_finds_them_by_blind_index() {
    let app = app().await;
    let t = app.tenant("Sealed").await;
    let r = app
        .post(
            "/v1/admin/users",
            Some(&t.owner),
            json!({"name": "Zelda Quartermain", "email": "zelda.q@sealed.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let zelda: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    // The API answers them in clear, to those who may read them.
    let users = app.get("/v1/admin/users", &t.owner).await;
    let listed = users.body.to_string();
    assert!(listed.contains("zelda.q@sealed.test") && listed.contains("Zelda Quartermain"));
    assert_eq!(
        app.login("zelda.q@sealed.test", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ZELDA.Q@sealed.test", PASSWORD).await.status,
        StatusCode::OK
    );
    // A second account with the email in the tenant is refused by the index's uniqueness.
    assert_error(
        &app.head_office_user(&t, "zelda.q@sealed.test", PASSWORD)
            .await,
        StatusCode::CONFLICT,
        "CONFLICT",
    );

    // Nowhere in the database in clear: not in users, not in the audit log.
    let text = all_text(&app.db.pool).await.to_lowercase();
    for needle in [
        "zelda",
        "quartermain",
        "owner@sealed.test",
        "root@platform.test",
    ] {
        assert!(!text.contains(needle), "{needle} is stored in clear");
    }
    let (email, index, name): (Vec<u8>, Vec<u8>, Vec<u8>) = sqlx_core::query_as::query_as(
        "SELECT email_sealed, email_index, name_sealed FROM users WHERE user_id = $1",
    )
    .bind(zelda)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(index.len(), 32, "an HMAC-SHA256");
    for sealed in [&email, &name] {
        assert!(!String::from_utf8_lossy(sealed)
            .to_lowercase()
            .contains("zelda"));
    }
    // Bound to its row: the same bytes do not open as another user's, or another column.
    let pool = &app.db.pool;
    let keys = &app.state.keys;
    assert_eq!(
        keys.open(pool, t.tenant_id, Column::UserEmail, zelda, &email)
            .await
            .unwrap(),
        "zelda.q@sealed.test"
    );
    assert!(keys
        .open(pool, t.tenant_id, Column::UserEmail, t.owner_id, &email)
        .await
        .is_err());
    assert!(keys
        .open(pool, t.tenant_id, Column::UserName, zelda, &email)
        .await
        .is_err());
    assert!(keys
        .open(pool, Uuid::now_v7(), Column::UserEmail, zelda, &email)
        .await
        .is_err());
    // The tenant's data key is stored only wrapped.
    let (wrapped,): (Vec<u8>,) =
        sqlx_core::query_as::query_as("SELECT wrapped FROM tenant_keys WHERE tenant_id = $1")
            .bind(t.tenant_id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        wrapped.len(),
        1 + 8 + 12 + 32 + 16,
        "version, key id, nonce, key, tag"
    );
}

/// A state on the same database under another master key (and previous ones).
fn state_with(app: &TestApp, master: &str, previous: &[&str]) -> AppState {
    let previous: Vec<String> = previous.iter().map(|s| s.to_string()).collect();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    AppState::new(
        app.db.pool.clone(),
        pos_sync_server::jwt::JwtKeys::new(b"a-test-secret-a-test-secret-0123456789").unwrap(),
        Settings {
            sealer: Sealer::from_hex(master, &previous).unwrap(),
            ..test_settings()
        },
        rx,
    )
}

#[tokio::test]
async fn rotation_rewraps_and_reseals_and_the_old_master_key_opens_until_it_ends() {
    let app = app().await;
    let t = app.tenant("Rotate").await;
    for i in 0..7 {
        let r = app
            .head_office_user(&t, &format!("person{i}@rotate.test"), PASSWORD)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let old = TEST_MASTER_KEY;
    let new = Sealer::new_key_hex();
    let names = |s: AppState| async move {
        pos_sync_server::admin::user_names(&s, t.tenant_id)
            .await
            .map(|m| m.len())
    };
    // Under the new master key alone nothing opens; with the old one as previous, all does.
    assert!(names(state_with(&app, &new, &[])).await.is_err());
    let during = state_with(&app, &new, &[old]);
    assert_eq!(names(during.clone()).await.unwrap(), 8);
    let rotated = keys::rotate(&during.pool, &during.keys, 3).await.unwrap();
    assert!(rotated.keys_rewrapped >= 3, "{rotated:?}");
    assert!(rotated.rows_resealed >= 8, "{rotated:?}");
    // After: the new master key alone opens everything, the old one nothing.
    let after = state_with(&app, &new, &[]);
    assert_eq!(names(after.clone()).await.unwrap(), 8);
    assert!(names(state_with(&app, old, &[])).await.is_err());
    // Every row sealed under each tenant's newest data key; login by email still works.
    let (stale,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM users u WHERE u.name_sealed IS NOT NULL
           AND substring(u.name_sealed from 2 for 4) <> int4send(
             (SELECT max(key_id) FROM tenant_keys k WHERE k.tenant_id = u.tenant_id))",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stale, 0);
    let router = router(after);
    let r = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::post("/v1/auth/login")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"email": "person3@rotate.test", "password": PASSWORD}).to_string(),
            ))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A second rotation re-seals again, and is harmless.
    let again = keys::rotate(&app.db.pool, &state_with(&app, &new, &[]).keys, 100)
        .await
        .unwrap();
    assert_eq!(again.keys_rewrapped, 0, "{again:?}");
}

#[tokio::test]
async fn rows_written_in_clear_before_are_sealed_at_start() {
    let app = app().await;
    let t = app.tenant("Legacy").await;
    let id = Uuid::now_v7();
    // A row as the server wrote it before migration 0013.
    sqlx_core::query::query(
        "INSERT INTO users (tenant_id, user_id, email, name, password_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.tenant_id)
    .bind(id)
    .bind("old.timer@legacy.test")
    .bind("Old Timer")
    .bind(pos_core::secret::hash_secret(PASSWORD).unwrap())
    .execute(&app.db.pool)
    .await
    .unwrap();
    let n = keys::seal_clear_rows(&app.db.pool, &app.state.keys)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(!all_text(&app.db.pool).await.contains("old.timer"));
    assert_eq!(
        app.login("old.timer@legacy.test", PASSWORD).await.status,
        StatusCode::OK
    );
    let names = pos_sync_server::admin::user_names(&app.state, t.tenant_id)
        .await
        .unwrap();
    assert_eq!(names[&id], "Old Timer");
}

/// One HTTP/1.1 request on a fresh connection; the status and body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.to_string();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap_or(0);
    let json = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// The server's own binary, logging at debug level as JSON, through a day of head office:
/// logins right and wrong, tenants, users, duplicate and malformed emails, a till's receipt
/// email. Then its whole log holds none of the emails or names used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_no_email_or_name() {
    let db = pos_sync_server::pg::testing::test_db().await.expect("db");
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (log_path, err_path) = (logs.path().join("stdout.json"), logs.path().join("stderr"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
        .args(["--database-url", &db.url, "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "debug"])
        .args(["--bootstrap-admin-email", "Root.Person@platform.test"])
        .args([
            "--bootstrap-admin-password",
            PASSWORD,
            "--admin-2fa",
            "optional",
        ])
        // Into a file: a pipe nobody reads while the server runs would fill and stop it.
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("server");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the server listens");

    let (s, r) = http(
        addr,
        "POST",
        "/v1/auth/login",
        None,
        json!({"email": "root.person@platform.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let root = r["access_token"].as_str().unwrap().to_string();
    let (s, r) = http(addr, "POST", "/v1/admin/tenants", Some(&root), json!({"name": "Logs", "owner_email": "olga.owner@logs.test", "owner_name": "Olga Ownerova", "owner_password": PASSWORD})).await;
    assert_eq!(s, 200, "{r}");
    let (s, _) = http(
        addr,
        "POST",
        "/v1/auth/login",
        None,
        json!({"email": "olga.owner@logs.test", "password": "wrong password!"}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = http(
        addr,
        "POST",
        "/v1/auth/login",
        None,
        json!({"email": "nobody.known@logs.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, r) = http(
        addr,
        "POST",
        "/v1/auth/login",
        None,
        json!({"email": "olga.owner@logs.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let owner = r["access_token"].as_str().unwrap().to_string();
    let (s, r) = http(
        addr,
        "POST",
        "/v1/admin/users",
        Some(&owner),
        json!({"name": "Bruno Bystander", "email": "bruno.b@logs.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, _) = http(
        addr,
        "POST",
        "/v1/admin/users",
        Some(&owner),
        json!({"name": "Bruno Again", "email": "bruno.b@logs.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = http(
        addr,
        "POST",
        "/v1/admin/users",
        Some(&owner),
        json!({"name": "Carla Malformed", "email": "carla at logs"}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, r) = http(addr, "GET", "/v1/admin/users", Some(&owner), json!(null)).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = http(addr, "POST", "/v1/admin/stores", Some(&owner), json!({"code": "S01", "name": "Logs main", "currency": "EUR", "tax_mode": "Inclusive", "tax_rates": {"std": 2000}, "discount_threshold_bp": 1000})).await;
    assert_eq!(s, 200, "{r}");
    let store = r["store_id"].as_str().unwrap().to_string();
    let (s, r) = http(
        addr,
        "POST",
        &format!("/v1/admin/stores/{store}/enrolment-codes"),
        Some(&owner),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, enrol) = http(
        addr,
        "POST",
        "/v1/devices/enrol",
        None,
        json!({"code": r["code"], "name": "till"}),
    )
    .await;
    assert_eq!(s, 200, "{enrol}");
    let (s, tok) = http(
        addr,
        "POST",
        "/v1/devices/token",
        None,
        json!({"device_id": enrol["device_id"], "device_secret": enrol["device_secret"]}),
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    let till = tok["access_token"].as_str().unwrap().to_string();
    let (s, r) = http(addr, "POST", "/v1/sync/receipt-emails", Some(&till), json!({"protocol": pos_sync::wire::PROTOCOL_VERSION, "emails": [{"id": Uuid::now_v7(), "doc_id": Uuid::now_v7(), "email": "dora.diner@customer.test"}]})).await;
    assert_eq!(s, 200, "{r}");
    let (s, _) = http(addr, "GET", "/v1/sync/staff", Some(&till), json!(null)).await;
    assert_eq!(s, 200);

    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let mut log = String::new();
    for p in [&log_path, &err_path] {
        std::fs::File::open(p)
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
    }
    assert!(
        log.contains("\"response\""),
        "the log was captured: {}",
        &log[..log.len().min(500)]
    );
    let lower = log.to_lowercase();
    for needle in [
        "root.person",
        "olga",
        "ownerova",
        "nobody.known",
        "bruno",
        "bystander",
        "carla",
        "malformed",
        "dora.diner",
        "@logs.test",
        "@customer.test",
        "@platform.test",
    ] {
        assert!(!lower.contains(needle), "the log names {needle:?}");
    }
}

/// `pos-sync-server --rotate-keys` (the binary): with the new master key and the old one as
/// previous, it rotates and exits; then the new key alone opens everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotate_keys_command_rotates_and_exits() {
    let app = app().await;
    let t = app.tenant("Command").await;
    let new = Sealer::new_key_hex();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
        .args(["--database-url", &app.db.url, "--data-dir"])
        .arg(dir.path())
        .args([
            "--master-key",
            &new,
            "--previous-master-key",
            TEST_MASTER_KEY,
        ])
        .args(["--rotate-keys", "--log", "warn"])
        .stdout(Stdio::null())
        .status()
        .expect("runs");
    assert!(status.success());
    let names = pos_sync_server::admin::user_names(&state_with(&app, &new, &[]), t.tenant_id)
        .await
        .unwrap();
    assert_eq!(names[&t.owner_id], "Owner");
    assert!(pos_sync_server::admin::user_names(
        &state_with(&app, TEST_MASTER_KEY, &[]),
        t.tenant_id
    )
    .await
    .is_err());
}
