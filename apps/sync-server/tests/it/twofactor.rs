//! Two-factor login (issue 13): TOTP enrolment with a QR code, the two-step login, codes
//! accepted once, recovery codes, the shared lockout, compulsory 2FA for owners, admins and the
//! superadmin (the server's default, `--admin-2fa required`), the sealed secret, the reset.

use axum::http::{Method, StatusCode};
use pos_sync_server::config::{SecondFactor, Settings};
use serde_json::{json, Value};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

use crate::common::*;

/// The server's defaults: 2FA compulsory for owners, admins and the superadmin.
async fn strict_app() -> TestApp {
    let s = Settings::default();
    assert_eq!(
        s.admin_2fa,
        SecondFactor::Required,
        "the default is required"
    );
    // These tests log the same people in many times a minute.
    app_with(Settings {
        login_per_email_per_min: 1000,
        login_per_ip_per_min: 1000,
        ..s
    })
    .await
}

/// Waits, if needed, for a time step with at least 15 seconds left, so that a test that reasons
/// about "this step" and "the next" does not see the step change under it.
async fn fresh_step() {
    let into = now() % 30;
    if into > 15 {
        tokio::time::sleep(std::time::Duration::from_secs(30 - into)).await;
    }
}

fn totp(secret_b32: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret_b32).expect("base32"))
        .build()
        .expect("totp")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The code of the step `offset` steps from now.
fn code(secret_b32: &str, offset: i64) -> String {
    let t = (now() as i64 + offset * 30) as u64;
    totp(secret_b32).generate(t).to_string()
}

/// A user who has enrolled: their full access token, TOTP secret and recovery codes.
struct Enrolled {
    token: String,
    secret: String,
    recovery: Vec<String>,
}

/// Logs in (which must answer an enrolment-only session), enrols and confirms with the current
/// code.
async fn enrol(app: &TestApp, email: &str, password: &str) -> Enrolled {
    let r = app.login(email, password).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["second_factor_enrolment_required"], true,
        "{:?}",
        r.body
    );
    let limited = r.body["access_token"].as_str().expect("token").to_string();
    let e = app
        .post("/v1/auth/2fa/enrol", Some(&limited), json!({}))
        .await;
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.body);
    let secret = e.body["secret"].as_str().expect("secret").to_string();
    let uri = e.body["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=POS"), "{uri}");
    assert!(e.body["qr_svg"].as_str().expect("svg").contains("<svg"));
    let c = app
        .post(
            "/v1/auth/2fa/confirm",
            Some(&limited),
            json!({"code": code(&secret, 0)}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["session"]["second_factor_enrolment_required"], false);
    let recovery: Vec<String> = serde_json::from_value(c.body["recovery_codes"].clone()).unwrap();
    Enrolled {
        token: c.body["session"]["access_token"]
            .as_str()
            .expect("token")
            .to_string(),
        secret,
        recovery,
    }
}

/// Password, then the second step with `second`; the second step's answer.
async fn two_step(app: &TestApp, email: &str, second: Value) -> Resp {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["second_factor_required"], true, "{:?}", r.body);
    assert!(
        r.body.get("access_token").is_none(),
        "no session before the code"
    );
    let mut body = second;
    body["challenge_token"] = r.body["challenge_token"].clone();
    app.post("/v1/auth/login/2fa", None, body).await
}

/// A tenant made by an enrolled superadmin; its owner enrolled too.
async fn tenant(app: &TestApp, root: &Enrolled, name: &str) -> (Uuid, String, Enrolled) {
    let email = format!("owner@{name}.test");
    let r = app
        .post(
            "/v1/admin/tenants",
            Some(&root.token),
            json!({"name": name, "owner_email": email, "owner_name": "Owner", "owner_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let tenant: Uuid = serde_json::from_value(r.body["tenant_id"].clone()).unwrap();
    let owner = enrol(app, &email, PASSWORD).await;
    (tenant, email, owner)
}

#[tokio::test]
async fn an_admin_role_without_2fa_can_only_enrol_then_logs_in_with_a_code_used_once() {
    let app = strict_app().await;
    fresh_step().await;
    // The superadmin's first login opens enrolment only.
    let r = app.login(ROOT_EMAIL, PASSWORD).await;
    assert_eq!(
        r.body["second_factor_enrolment_required"], true,
        "{:?}",
        r.body
    );
    let limited = r.body["access_token"].as_str().unwrap().to_string();
    assert_error(
        &app.get("/v1/admin/tenants", &limited).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    let status = app.get("/v1/auth/2fa", &limited).await;
    assert_eq!(status.body["required"], true, "{:?}", status.body);
    assert_eq!(status.body["enabled"], false);
    // Refreshing does not get past enrolment either.
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": r.body["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.body["second_factor_enrolment_required"], true);

    // A wrong first code does not turn 2FA on.
    let e = app
        .post("/v1/auth/2fa/enrol", Some(&limited), json!({}))
        .await;
    let secret = e.body["secret"].as_str().unwrap().to_string();
    let wrong = if code(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_error(
        &app.post(
            "/v1/auth/2fa/confirm",
            Some(&limited),
            json!({"code": wrong}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    assert_error(
        &app.post(
            "/v1/auth/2fa/confirm",
            Some(&limited),
            json!({"code": "12ab56"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    assert_eq!(root.recovery.len(), 10);
    assert_eq!(
        app.get("/v1/admin/tenants", &root.token).await.status,
        StatusCode::OK
    );
    // Enrolling again once it is on is a conflict.
    assert_error(
        &app.post("/v1/auth/2fa/enrol", Some(&root.token), json!({}))
            .await,
        StatusCode::CONFLICT,
        "CONFLICT",
    );

    // The next login needs a code; the one used to confirm (this step) is refused...
    let replay = two_step(&app, ROOT_EMAIL, json!({"code": code(&root.secret, 0)})).await;
    assert_error(&replay, StatusCode::UNAUTHORIZED, "AUTHN");
    // ...an earlier step's too, even within the drift...
    let earlier = two_step(&app, ROOT_EMAIL, json!({"code": code(&root.secret, -1)})).await;
    assert_error(&earlier, StatusCode::UNAUTHORIZED, "AUTHN");
    // ...the next step's (one step of drift) opens a full session, once.
    let next = two_step(&app, ROOT_EMAIL, json!({"code": code(&root.secret, 1)})).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(next.body["second_factor_enrolment_required"], false);
    let token = next.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/admin/tenants", token).await.status,
        StatusCode::OK
    );
    let again = two_step(&app, ROOT_EMAIL, json!({"code": code(&root.secret, 1)})).await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "AUTHN");
    // Two steps ahead is outside the drift.
    let far = two_step(&app, ROOT_EMAIL, json!({"code": code(&root.secret, 3)})).await;
    assert_error(&far, StatusCode::UNAUTHORIZED, "AUTHN");

    // A recovery code works once, in any case, with or without spaces.
    let rc = root.recovery[0].to_lowercase();
    let ok = two_step(&app, ROOT_EMAIL, json!({"recovery_code": rc})).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let used = two_step(&app, ROOT_EMAIL, json!({"recovery_code": root.recovery[0]})).await;
    assert_error(&used, StatusCode::UNAUTHORIZED, "AUTHN");
    let status = app.get("/v1/auth/2fa", token).await;
    assert_eq!(status.body["enabled"], true);
    assert_eq!(status.body["recovery_codes_left"], 9);

    // Neither or both: a clear 400; an unknown challenge: 401.
    let r = app.login(ROOT_EMAIL, PASSWORD).await;
    let ch = r.body["challenge_token"].clone();
    assert_error(
        &app.post("/v1/auth/login/2fa", None, json!({"challenge_token": ch}))
            .await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    assert_error(
        &app.post(
            "/v1/auth/login/2fa",
            None,
            json!({"challenge_token": "nope", "code": "123456"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_password_lockout() {
    let app = strict_app().await;
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    let (_, email, owner) = tenant(&app, &root, "lock").await;
    let wrong = |n: i64| {
        let right = code(&owner.secret, n);
        if right == "000000" {
            "000001".to_string()
        } else {
            "000000".to_string()
        }
    };
    for _ in 1..pos_core::auth::MAX_FAILURES {
        let r = two_step(&app, &email, json!({"code": wrong(0)})).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    }
    let r = two_step(&app, &email, json!({"code": wrong(0)})).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    // Locked: the password alone is now refused, and a right code too.
    assert_error(
        &app.login(&email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT",
    );
}

#[tokio::test]
async fn two_requests_with_one_code_at_once_open_one_session() {
    let app = strict_app().await;
    fresh_step().await;
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    let (_, email, owner) = tenant(&app, &root, "race").await;
    let c = code(&owner.secret, 1);
    let mut challenges = Vec::new();
    for _ in 0..2 {
        let r = app.login(&email, PASSWORD).await;
        challenges.push(r.body["challenge_token"].clone());
    }
    let (a, b) = tokio::join!(
        app.post(
            "/v1/auth/login/2fa",
            None,
            json!({"challenge_token": challenges[0], "code": c})
        ),
        app.post(
            "/v1/auth/login/2fa",
            None,
            json!({"challenge_token": challenges[1], "code": c})
        ),
    );
    let ok = [&a, &b]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{:?} / {:?}", a.body, b.body);
}

#[tokio::test]
async fn the_totp_secret_is_sealed_bound_to_its_row_and_recovery_codes_are_argon2id() {
    let app = strict_app().await;
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    let (tenant_id, _, owner) = tenant(&app, &root, "sealed").await;
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx_core::query_as::query_as(
        "SELECT user_id, secret_sealed FROM user_totp WHERE confirmed_at IS NOT NULL ORDER BY user_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let raw: Vec<u8> = Secret::try_from_base32(&owner.secret)
        .unwrap()
        .as_ref()
        .to_vec();
    for (_, sealed) in &rows {
        assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
        assert!(!String::from_utf8_lossy(sealed).contains(&owner.secret));
    }
    // Moving the owner's sealed secret onto the superadmin's row breaks the superadmin's login
    // (the row is bound as associated data): an internal error is logged, never the secret.
    let owner_row: (Uuid,) =
        sqlx_core::query_as::query_as("SELECT user_id FROM user_totp WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let owner_sealed = rows
        .iter()
        .find(|(u, _)| *u == owner_row.0)
        .unwrap()
        .1
        .clone();
    sqlx_core::query::query("UPDATE user_totp SET secret_sealed = $1 WHERE tenant_id <> $2")
        .bind(&owner_sealed)
        .bind(tenant_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let moved = two_step(&app, ROOT_EMAIL, json!({"code": code(&owner.secret, 1)})).await;
    assert_ne!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let hashes: Vec<(String,)> =
        sqlx_core::query_as::query_as("SELECT hash FROM recovery_codes WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|(h,)| h.starts_with("$argon2id$")));
    assert!(owner
        .recovery
        .iter()
        .all(|c| hashes.iter().all(|(h,)| !h.contains(c.as_str()))));
}

#[tokio::test]
async fn an_owner_resets_an_admins_lost_2fa_and_the_admin_enrols_again() {
    let app = strict_app().await;
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    let (_, _, owner) = tenant(&app, &root, "reset").await;
    let r = app
        .post(
            "/v1/admin/users",
            Some(&owner.token),
            json!({"name": "Ada", "email": "ada@reset.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ada: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    // Without a role that needs it, Ada logs in with a password alone.
    let plain = app.login("ada@reset.test", PASSWORD).await;
    assert_eq!(
        plain.body["second_factor_enrolment_required"], false,
        "{:?}",
        plain.body
    );
    let r = app
        .post(
            &format!("/v1/admin/users/{ada}/memberships"),
            Some(&owner.token),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // As an admin she must enrol; her session from before turns enrolment-only at refresh.
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": plain.body["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.body["second_factor_enrolment_required"], true);
    let ada_2fa = enrol(&app, "ada@reset.test", PASSWORD).await;
    // She may not reset her own, nor the owner's.
    let own = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/users/{ada}/2fa"),
            Some(&ada_2fa.token),
            None,
        )
        .await;
    assert_error(&own, StatusCode::FORBIDDEN, "AUTHZ");
    // The owner resets hers: she enrols again at her next login.
    let reset = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/users/{ada}/2fa"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);
    let again = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/users/{ada}/2fa"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "NOT_FOUND");
    enrol(&app, "ada@reset.test", PASSWORD).await;
    let audit = app.get("/v1/admin/audit", &owner.token).await;
    assert!(
        audit.body.to_string().contains("auth.2fa_reset"),
        "{:?}",
        audit.body
    );
}

#[tokio::test]
async fn the_console_login_takes_the_second_step_and_sets_its_cookies_only_then() {
    let app = strict_app().await;
    let root = enrol(&app, ROOT_EMAIL, PASSWORD).await;
    let r = app
        .post(
            "/v1/auth/console/login",
            None,
            json!({"email": ROOT_EMAIL, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["second_factor_required"], true);
    assert!(
        r.headers.get("set-cookie").is_none(),
        "no session cookie yet"
    );
    let s = app
        .post(
            "/v1/auth/console/login/2fa",
            None,
            json!({"challenge_token": r.body["challenge_token"], "code": code(&root.secret, 1)}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    assert!(s.body["access_token"].is_string());
    assert!(
        s.body.get("refresh_token").is_none(),
        "the refresh token is a cookie"
    );
    let cookies: Vec<_> = s
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("pos_refresh=") && c.contains("HttpOnly")));
}
