use axum::http::StatusCode;
use base64::Engine;
use pos_sync_server::config::Settings;
use pos_sync_server::jwt::{Claims, JwtKeys, Kind, AUDIENCE};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(t: &Tenant, exp_offset: i64) -> Claims {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    Claims {
        sub: t.owner_id,
        kind: Kind::User,
        tenant: t.tenant_id,
        store: None,
        device: None,
        sa: false,
        aud: AUDIENCE.into(),
        iat: now - 3600,
        exp: now + exp_offset,
        jti: Uuid::new_v4(),
    }
}

#[tokio::test]
async fn login_gives_an_access_token_that_opens_the_admin_api() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app.get("/v1/admin/stores", &t.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body[0]["code"], "S01");
    let r = app.login("owner@acme.test", PASSWORD).await;
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body["refresh_token"]
        .as_str()
        .is_some_and(|s| s.len() > 30));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_authn_errors() {
    let app = app().await;
    let _t = app.tenant("Acme").await;
    assert_error(
        &app.login("owner@acme.test", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    assert_error(
        &app.login("nobody@acme.test", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    assert_error(
        &app.get("/v1/admin/stores", "").await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
}

#[tokio::test]
async fn expired_token_is_rejected_with_authn() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let keys = JwtKeys::new(SECRET).expect("keys");
    let expired = keys.sign(&claims(&t, -1)).expect("sign");
    assert_error(
        &app.get("/v1/admin/stores", &expired).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    let fresh = keys.sign(&claims(&t, 60)).expect("sign");
    assert_eq!(
        app.get("/v1/admin/stores", &fresh).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tampered_token_is_rejected_with_authn() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let parts: Vec<&str> = t.owner.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("payload"),
    )
    .expect("json");
    payload["sa"] = json!(true);
    let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_error(
        &app.get("/v1/admin/tenants", &forged).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    // Signed with another key.
    let other = JwtKeys::new(b"another-secret-another-secret-0123456789").expect("keys");
    let foreign = other.sign(&claims(&t, 60)).expect("sign");
    assert_error(
        &app.get("/v1/admin/stores", &foreign).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
}

#[tokio::test]
async fn alg_none_token_is_rejected_with_authn() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let c = serde_json::to_value(claims(&t, 600)).expect("claims");
    for alg in ["none", "None", "NONE", "HS512"] {
        let token = format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&c));
        assert_error(
            &app.get("/v1/admin/stores", &token).await,
            StatusCode::UNAUTHORIZED,
            "AUTHN",
        );
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_family() {
    let app = app().await;
    let _t = app.tenant("Acme").await;
    let first = app.login("owner@acme.test", PASSWORD).await.body["refresh_token"].clone();
    let r = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": first}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second = r.body["refresh_token"].clone();
    assert_ne!(first, second);
    assert_eq!(
        app.get(
            "/v1/admin/stores",
            r.body["access_token"].as_str().expect("t")
        )
        .await
        .status,
        StatusCode::OK
    );
    // The first token again: reuse. The whole family goes, including the second token.
    let r = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": first}))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    let r = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": second}))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    // Another login is another family, unaffected.
    let other = app.login("owner@acme.test", PASSWORD).await.body["refresh_token"].clone();
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": other}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_for_the_right_one() {
    let app = app().await;
    let _t = app.tenant("Acme").await;
    for _ in 0..pos_core::auth::MAX_FAILURES {
        assert_error(
            &app.login("owner@acme.test", "wrong password").await,
            StatusCode::UNAUTHORIZED,
            "AUTHN",
        );
    }
    let r = app.login("owner@acme.test", PASSWORD).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT");
    assert!(r.headers.contains_key("retry-after"));
    // Another account is not affected.
    assert_eq!(app.login(ROOT_EMAIL, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_is_rate_limited_per_email_and_per_ip() {
    let app = app_with(Settings {
        login_per_email_per_min: 3,
        login_per_ip_per_min: 6,
        ..test_settings()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login("x@y.test", "whatever1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_error(
        &app.login("x@y.test", "whatever1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT",
    );
    // Other emails from the same address: the per-address budget runs out too.
    assert_eq!(
        app.login("a@y.test", "whatever1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("b@y.test", "whatever1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_error(
        &app.login("c@y.test", "whatever1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT",
    );
}

#[tokio::test]
async fn a_device_token_does_not_open_the_admin_api_nor_a_user_token_the_sync_api() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    assert_error(
        &app.get("/v1/admin/stores", &d.token).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    assert_error(
        &app.get("/v1/sync/pull?cursor=0", &t.owner).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
}
