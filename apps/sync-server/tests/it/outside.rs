//! Issue 15: the six defects found by trying the server from outside, one regression test (or
//! a few) each, against the real router or the real socket and PostgreSQL. Each test failed on
//! the code before the fix (see the note for how that was checked).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use pos_sync::wire::{PushResult, PROTOCOL_VERSION};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::*;
use crate::sync::new_item_change;

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx_core::query_scalar::query_scalar(sql)
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
}

/// How many rows the tables a NUL could reach hold: none of them may grow on a refusal.
async fn written(app: &TestApp) -> [i64; 6] {
    [
        count(app, "SELECT count(*) FROM users").await,
        count(app, "SELECT count(*) FROM stores").await,
        count(app, "SELECT count(*) FROM devices").await,
        count(app, "SELECT count(*) FROM documents").await,
        count(app, "SELECT count(*) FROM change_log").await,
        count(app, "SELECT count(*) FROM audit_events").await,
    ]
}

// ------------------------------------------------------------------ 1. NUL bytes

#[tokio::test]
async fn regression_a_nul_in_any_text_answers_400_not_500_and_writes_nothing() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let code = app.enrolment_code(&t).await;
    let before = written(&app).await;
    let cases = [
        (
            "/v1/auth/login",
            None,
            json!({"email": "owner@acme.test\u{0}", "password": PASSWORD}),
        ),
        (
            "/v1/auth/login",
            None,
            json!({"email": "owner@acme.test", "password": "x\u{0}y"}),
        ),
        (
            "/v1/devices/enrol",
            None,
            json!({"code": code, "name": "till\u{0}1"}),
        ),
        (
            "/v1/admin/users",
            Some(&t.owner),
            json!({"name": "Mia\u{0}"}),
        ),
        (
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S02", "name": "Bar\u{0}", "currency": "EUR", "tax_mode": "Inclusive"}),
        ),
        (
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S03", "name": "Bar", "currency": "EUR", "tax_mode": "Inclusive",
                   "receipt_footer": "Thank you\u{0}"}),
        ),
        (
            "/v1/admin/items",
            Some(&t.owner),
            json!({"sku": "LAT", "name": "Latte\u{0}", "currency": "EUR", "price": 350,
                   "tax_class": "std"}),
        ),
    ];
    for (path, token, body) in cases {
        let r = app
            .post(path, token.map(String::as_str), body.clone())
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{path} {body}: {:?}",
            r.body
        );
    }
    // A percent-encoded NUL in a query string is refused the same way.
    let r = app
        .get("/v1/admin/receipt-emails?status=sent%00", &t.owner)
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    // The enrolment code was not used up, and nothing else was written.
    assert_eq!(written(&app).await, before);
    let r = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": code, "name": "till 1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn regression_a_nul_in_a_pushed_item_name_refuses_that_change_and_accepts_the_rest() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let good = new_item_change(&t, &d, manager, &item("Latte", 350));
    let bad = new_item_change(&t, &d, manager, &item("Mocha\u{0}", 400));
    let also_good = new_item_change(&t, &d, manager, &item("Tea", 250));
    let logged = count(&app, "SELECT count(*) FROM change_log").await;
    let r = app
        .post(
            "/v1/sync/push",
            Some(&d.token),
            json!({"protocol": PROTOCOL_VERSION, "changes": [good, bad, also_good]}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the push is answered: {:?}",
        r.body
    );
    let results: Vec<PushResult> = serde_json::from_value(r.body["results"].clone()).unwrap();
    assert!(
        matches!(results[0], PushResult::Accepted { .. }),
        "{results:?}"
    );
    match &results[1] {
        PushResult::Rejected { code, message, .. } => {
            assert_eq!(code, "invalid_text");
            assert!(message.contains("name"), "{message}");
        }
        other => panic!("the NUL change must be refused: {other:?}"),
    }
    assert!(
        matches!(results[2], PushResult::Accepted { .. }),
        "{results:?}"
    );
    let names: Vec<(String,)> = sqlx_core::query_as::query_as(
        "SELECT name FROM p_items WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(t.tenant_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(names, vec![("Latte".into(),), ("Tea".into(),)]);
    assert_eq!(
        count(&app, "SELECT count(*) FROM change_log").await,
        logged + 2
    );
}

// ------------------------------------------------------------------ 2. the lockout

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_concurrent_wrong_passwords_cannot_get_around_the_lockout() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let attempts = (0..9).map(|i| {
        let app = &app;
        async move {
            app.login("owner@acme.test", &format!("wrong password {i}"))
                .await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429]);
    let (failures, locked): (i64, Option<i64>) = sqlx_core::query_as::query_as(
        "SELECT failed_logins, locked_until FROM users WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(t.tenant_id)
    .bind(t.owner_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(failures, pos_core::auth::MAX_FAILURES);
    assert!(locked.is_some());
    let r = app.login("owner@acme.test", PASSWORD).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT");
}

// ------------------------------------------------------------------ 3. client-keyed memory

#[tokio::test]
async fn regression_huge_login_emails_are_refused_before_the_rate_limiter_keeps_them() {
    let app = app().await;
    let before = app.state.limiter.len();
    for i in 0..40 {
        // 32 KiB: under the body limit of the routes before any token (64 KiB, issue 16), so
        // the handler's own check answers (a body of 1 MiB is now a 413 before it is read).
        let email = format!("{}{i}@x.test", "a".repeat(32 << 10));
        let r = app
            .post(
                "/v1/auth/login",
                None,
                json!({"email": email, "password": "whatever1"}),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.len() < 200,
            "the value is not echoed: {} bytes",
            message.len()
        );
    }
    assert_eq!(app.state.limiter.len(), before, "no key was kept for them");
}

// ------------------------------------------------------------------ 4. rank

/// The defect: a store manager gives the owner a role in the manager's store, sets the owner's
/// PIN, and the store's tills then let the manager log in as the owner.
#[tokio::test]
async fn regression_a_manager_cannot_take_over_the_owners_identity_on_the_tills() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let r = app.head_office_user(&t, "mia@acme.test", PASSWORD).await;
    let mia: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    let r = app
        .post(
            &format!("/v1/admin/users/{mia}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "manager"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mia_token = app.token("mia@acme.test", PASSWORD).await;
    let pins = || count(&app, "SELECT count(*) FROM staff_pins");
    let memberships = || count(&app, "SELECT count(*) FROM memberships");
    let (pins_before, members_before) = (pins().await, memberships().await);

    // Grant the owner a role in the store: refused by rank.
    let r = app
        .post(
            &format!("/v1/admin/users/{}/memberships", t.owner_id),
            Some(&mia_token),
            json!({"store_id": t.store_id, "role": "cashier"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outrank"),
        "{:?}",
        r.body
    );
    // Set the owner's PIN: refused.
    let pin = |user: Uuid| {
        let app = &app;
        let token = mia_token.clone();
        async move {
            app.call(
                axum::http::Method::PUT,
                &format!("/v1/admin/users/{user}/pin"),
                Some(&token),
                Some(json!({"pin": "9999"})),
            )
            .await
        }
    };
    assert_error(&pin(t.owner_id).await, StatusCode::FORBIDDEN, "AUTHZ");
    // A peer manager's PIN is not hers to set either; a role above her own not hers to give.
    assert_error(&pin(manager).await, StatusCode::FORBIDDEN, "AUTHZ");
    let cashier = app.staff(&t, "Carl", "cashier").await;
    let r = app
        .post(
            &format!("/v1/admin/users/{cashier}/memberships"),
            Some(&mia_token),
            json!({"store_id": t.store_id, "role": "admin"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    // And the owner's own membership cannot be revoked by her.
    let owner_membership: Uuid = sqlx_core::query_scalar::query_scalar(
        "SELECT membership_id FROM memberships WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(t.tenant_id)
    .bind(t.owner_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let r = app
        .call(
            axum::http::Method::DELETE,
            &format!(
                "/v1/admin/users/{}/memberships/{owner_membership}",
                t.owner_id
            ),
            Some(&mia_token),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    assert_eq!(
        (pins().await, memberships().await),
        (pins_before, members_before + 1)
    );
    // What is hers to do still works: a cashier's PIN.
    assert_eq!(pin(cashier).await.status, StatusCode::NO_CONTENT);
}

// ------------------------------------------------------------------ 5. schema names, emails

#[tokio::test]
async fn regression_error_bodies_name_no_schema_object() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", Uuid::now_v7()),
            Some(&t.owner),
            json!({}),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r2 = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S01", "name": "Again", "currency": "EUR", "tax_mode": "Inclusive"}),
        )
        .await;
    assert_error(&r2, StatusCode::CONFLICT, "CONFLICT");
    for body in [r.body, r2.body] {
        let text = body.to_string();
        for schema_word in [
            "fkey",
            "_unique",
            "constraint",
            "enrolment_codes",
            "stores_",
        ] {
            assert!(!text.contains(schema_word), "{schema_word} in {text}");
        }
    }
}

#[tokio::test]
async fn regression_email_already_exists_never_answers_across_tenants() {
    let app = app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Bistro").await;
    let create = |t, password| app.head_office_user(t, "sam@shared.test", password);
    assert_eq!(create(&a, PASSWORD).await.status, StatusCode::OK);
    // Bistro's owner learns nothing of Acme's users: the email is free in Bistro.
    assert_eq!(create(&b, "another password").await.status, StatusCode::OK);
    // Within one tenant it is still unique, said without naming the index.
    let r = create(&b, "another password").await;
    assert_error(&r, StatusCode::CONFLICT, "CONFLICT");
    assert!(!r.body.to_string().contains("_unique"), "{:?}", r.body);
    // Each password opens its own tenant's account.
    let r = app.login("sam@shared.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["tenant_id"], json!(a.tenant_id));
    let r = app.login("sam@shared.test", "another password").await;
    assert_eq!(r.body["tenant_id"], json!(b.tenant_id));
    // A wrong password counts against both accounts and opens neither.
    assert_error(
        &app.login("sam@shared.test", "nope nope").await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
}

#[tokio::test]
async fn one_email_and_password_in_two_tenants_asks_which_tenant() {
    let app = app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Bistro").await;
    for t in [&a, &b] {
        let r = app.head_office_user(t, "sam@shared.test", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = app.login("sam@shared.test", PASSWORD).await;
    assert_error(&r, StatusCode::CONFLICT, "CONFLICT");
    let tenants = r.body["error"]["details"]["tenants"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(tenants.len(), 2);
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "sam@shared.test", "password": PASSWORD, "tenant_id": b.tenant_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["tenant_id"], json!(b.tenant_id));
}

// ------------------------------------------------------------------ 6. slow clients

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_stalled_request_head_or_body_is_closed() {
    let srv = real_server(&[
        "--header-read-timeout-secs",
        "1",
        "--body-read-timeout-secs",
        "1",
    ])
    .await;
    // Half a head.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"POST /v1/auth/login HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let out = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(out.is_some(), "the stalled head is still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A whole head, a tenth of the body.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let out = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the unfinished body is still open after 10 s");
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("VALIDATION"), "{out}");
    let _ = srv.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_connections_per_address_are_capped() {
    let srv = real_server(&["--max-connections-per-ip", "3"]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(tokio::net::TcpStream::connect(srv.addr).await.unwrap());
    }
    // The fourth from the same address is closed before it is read.
    let mut fourth = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let _ = fourth
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    let out = read_until_closed(&mut fourth, Duration::from_secs(5))
        .await
        .expect("the fourth connection is closed");
    assert!(out.is_empty(), "{out}");
    // One given back makes room again.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let out = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let _ = srv.stop.send(());
}
