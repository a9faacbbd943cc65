use axum::http::StatusCode;
use pos_sync_server::config::Settings;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn enrolment_gives_codes_and_a_secret_that_yields_a_device_token() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d1 = app.device(&t).await;
    let d2 = app.device(&t).await;
    assert_eq!(d1.enrol.store_code, "S01");
    assert_eq!(d1.enrol.device_code, "T1");
    assert_eq!(d2.enrol.device_code, "T2");
    assert_eq!(d1.enrol.tenant_id, t.tenant_id);
    let r = app.get("/v1/sync/pull?cursor=0", &d1.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(
            "/v1/devices/token",
            None,
            json!({"device_id": d1.enrol.device_id, "device_secret": "nope"}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
}

#[tokio::test]
async fn an_enrolment_code_works_only_once() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&t.owner),
            json!({}),
        )
        .await;
    let code = r.body["code"].as_str().expect("code").to_string();
    let first = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": code, "name": "a"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": code, "name": "b"}),
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "CONFLICT");
    // Case and dashes do not matter; a wrong code is refused.
    let wrong = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": "AAAAA-AAAAA", "name": "c"}),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "AUTHN");
}

#[tokio::test]
async fn an_expired_enrolment_code_is_refused() {
    let app = app_with(Settings {
        enrol_code_ttl_secs: 0,
        ..test_settings()
    })
    .await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&t.owner),
            json!({}),
        )
        .await;
    let code = r.body["code"].as_str().expect("code").to_lowercase();
    let r = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": code, "name": "a"}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
}

#[tokio::test]
async fn a_cashier_cannot_issue_enrolment_codes() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            "/v1/admin/users",
            Some(&t.owner),
            json!({"name": "Cass", "email": "cass@acme.test", "password": PASSWORD}),
        )
        .await;
    let id = r.body["user_id"].as_str().expect("id").to_string();
    app.post(
        &format!("/v1/admin/users/{id}/memberships"),
        Some(&t.owner),
        json!({"store_id": t.store_id, "role": "cashier"}),
    )
    .await;
    let cashier = app.token("cass@acme.test", PASSWORD).await;
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&cashier),
            json!({}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
}

#[tokio::test]
async fn a_revoked_device_is_refused_on_its_next_request() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    assert_eq!(
        app.get("/v1/sync/pull?cursor=0", &d.token).await.status,
        StatusCode::OK
    );
    let r = app.revoke(&t, d.enrol.device_id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["revoked_at"].is_i64());
    // The token has not expired, but the device is revoked: refused at once.
    assert_error(
        &app.get("/v1/sync/pull?cursor=0", &d.token).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    assert_error(
        &app.get("/v1/sync/staff", &d.token).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    let r = app
        .post(
            "/v1/devices/token",
            None,
            json!({"device_id": d.enrol.device_id, "device_secret": d.enrol.device_secret}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
}

#[tokio::test]
async fn staff_sync_down_with_roles_and_pin_hashes() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let cashier = app.staff(&t, "Cass", "cashier").await;
    let r = app
        .call(
            axum::http::Method::PUT,
            &format!("/v1/admin/users/{cashier}/pin"),
            Some(&t.owner),
            Some(json!({"pin": "2468"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let bad = app
        .call(
            axum::http::Method::PUT,
            &format!("/v1/admin/users/{cashier}/pin"),
            Some(&t.owner),
            Some(json!({"pin": "12"})),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION");
    let d = app.device(&t).await;
    let r = app.get("/v1/sync/staff", &d.token).await;
    let staff: Vec<pos_sync::wire::StaffRecord> = serde_json::from_value(r.body).expect("staff");
    let c = staff
        .iter()
        .find(|s| s.user_id == cashier)
        .expect("cashier synced");
    assert_eq!(c.role, "cashier");
    let hash = c.pin_hash.as_deref().expect("pin hash");
    assert!(pos_core::secret::verify_secret("2468", hash).expect("phc"));
    let owner = staff
        .iter()
        .find(|s| s.user_id == t.owner_id)
        .expect("owner (tenant-wide)");
    assert_eq!(owner.role, "owner");
}

#[tokio::test]
async fn a_device_of_tenant_a_cannot_read_tenant_b() {
    let app = app().await;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    let da = app.device(&a).await;
    let db = app.device(&b).await;
    // B's store has a settings document and a published item.
    let item = app
        .post("/v1/admin/items", Some(&b.owner), json!({"sku": "B-1", "name": "Beta tea", "currency": "EUR", "price": 300, "tax_class": "std"}))
        .await;
    assert_eq!(item.status, StatusCode::OK, "{:?}", item.body);
    let pulled_b = app.get("/v1/sync/pull?cursor=0", &db.token).await;
    assert_eq!(
        pulled_b.body["changes"].as_array().expect("changes").len(),
        2
    );
    let pulled_a = app.get("/v1/sync/pull?cursor=0", &da.token).await;
    let changes = pulled_a.body["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "only A's own store settings: {changes:?}");
    assert_eq!(changes[0]["envelope"]["tenant_id"], a.tenant_id.to_string());
    let boot = app.get("/v1/sync/bootstrap", &da.token).await;
    assert_eq!(boot.body["total"], 1);
    let b_item = item.body["doc_id"].as_str().expect("doc id");
    assert_error(
        &app.get(&format!("/v1/sync/doc/{b_item}"), &da.token).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(
        app.get(&format!("/v1/sync/doc/{b_item}"), &db.token)
            .await
            .status,
        StatusCode::OK
    );
    // Nor can A's owner manage B's store.
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", b.store_id),
            Some(&a.owner),
            json!({}),
        )
        .await;
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn a_kitchen_code_enrols_a_kitchen_screen_and_an_unknown_kind_is_refused() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let codes = format!("/v1/admin/stores/{}/enrolment-codes", t.store_id);
    let r = app
        .post(&codes, Some(&t.owner), json!({"kind": "kds"}))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("kds")),
        "{:?}",
        r.body
    );
    let r = app
        .post(&codes, Some(&t.owner), json!({"kind": "kitchen"}))
        .await;
    assert_eq!(r.body["kind"], "kitchen", "{:?}", r.body);
    let e = app
        .post(
            "/v1/devices/enrol",
            None,
            json!({"code": r.body["code"], "name": "pass"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.body);
    assert_eq!(e.body["kind"], "kitchen");
    // No body at all (`curl -X POST`) is a till's code, as `{}` is.
    let r = app
        .call(axum::http::Method::POST, &codes, Some(&t.owner), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["kind"], "till");
    let list = app
        .get(
            &format!("/v1/admin/stores/{}/devices", t.store_id),
            &t.owner,
        )
        .await;
    let kinds: Vec<&str> = list
        .body
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["kitchen"]);
}
