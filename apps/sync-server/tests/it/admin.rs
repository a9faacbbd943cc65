use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn only_a_superadmin_manages_tenants() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    assert_error(
        &app.get("/v1/admin/tenants", &t.owner).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    let r = app.get("/v1/admin/tenants", &root).await;
    assert_eq!(
        r.body.as_array().expect("list").len(),
        2,
        "platform and Acme"
    );
}

#[tokio::test]
async fn duplicate_store_code_is_a_conflict() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S01", "name": "again", "currency": "EUR", "tax_mode": "Inclusive"}),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "CONFLICT");
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "bad code!", "name": "x", "currency": "EUR", "tax_mode": "Inclusive"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

#[tokio::test]
async fn roles_come_from_memberships_and_the_core_matrix() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post(
            "/v1/admin/users",
            Some(&t.owner),
            json!({"name": "Mia", "email": "mia@acme.test", "password": PASSWORD}),
        )
        .await;
    let mia = r.body["user_id"].as_str().expect("id").to_string();
    let r = app
        .post(
            &format!("/v1/admin/users/{mia}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "manager"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let membership = r.body["membership_id"].as_str().expect("id").to_string();
    let manager = app.token("mia@acme.test", PASSWORD).await;
    // A manager may enrol devices in her store but not create stores (tenant.admin).
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&manager),
            json!({"code": "S02", "name": "x", "currency": "EUR", "tax_mode": "Inclusive"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    // Nor make herself an admin.
    let r = app
        .post(
            &format!("/v1/admin/users/{mia}/memberships"),
            Some(&manager),
            json!({"store_id": null, "role": "admin"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/users/{mia}/memberships/{membership}"),
            Some(&t.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
}

#[tokio::test]
async fn published_prices_update_the_item_and_its_projection() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let r = app
        .post("/v1/admin/items", Some(&t.owner), json!({"sku": "LAT", "name": "Latte", "currency": "EUR", "price": 350, "tax_class": "std", "barcodes": ["4006381333931"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = r.body["doc_id"].as_str().expect("id").to_string();
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/items/{id}/prices"),
            Some(&t.owner),
            Some(json!({"price": 380, "store_prices": {t.store_id.to_string(): 400}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (price,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT price FROM p_items WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(&id)
    .fetch_one(&app.db.pool)
    .await
    .expect("projection");
    assert_eq!(price, 380);
    let (sp,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT price FROM p_item_store_prices WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(&id)
    .fetch_one(&app.db.pool)
    .await
    .expect("store price");
    assert_eq!(sp, 400);
    let r = app
        .post(
            "/v1/admin/items",
            Some(&t.owner),
            json!({"sku": "X", "name": "", "currency": "EUR", "price": 1, "tax_class": "std"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

#[tokio::test]
async fn audit_log_pages_by_cursor_newest_first_without_gaps() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    for i in 0..7 {
        let r = app
            .post(
                "/v1/admin/users",
                Some(&t.owner),
                json!({"name": format!("u{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/audit?limit=3&cursor={c}"),
            None => "/v1/admin/audit?limit=3".to_string(),
        };
        let r = app.get(&path, &t.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        for e in r.body["events"].as_array().expect("events") {
            seen.push(e.clone());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: Vec<&str> = seen
        .iter()
        .map(|e| e["event_id"].as_str().expect("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, no duplicates");
    let creates = seen.iter().filter(|e| e["action"] == "user.create").count();
    assert_eq!(creates, 7);
    let e = seen
        .iter()
        .find(|e| e["action"] == "user.create")
        .expect("event");
    assert_eq!(e["actor_user"], t.owner_id.to_string());
    // Whether an email was given, never the email or the name (issue 13: no personal data in
    // the audit log).
    assert!(e["diff"]["after"]["email"].is_boolean(), "{e}");
    assert!(e["diff"]["after"].get("name").is_none(), "{e}");
    assert!(seen.iter().any(|e| e["action"] == "store.create"));
    assert_error(
        &app.get("/v1/admin/audit?limit=0", &t.owner).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    assert_error(
        &app.get("/v1/admin/audit?cursor=nope", &t.owner).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
}

/// Issue 13: the audit trail is partitioned by UTC month. Events land in their month's
/// partition; an event of a month with no partition yet goes to the default one and moves to
/// its own when that month's partition is made; the paged log reads across all of them.
#[tokio::test]
async fn the_audit_trail_is_partitioned_by_month() {
    let app = app().await;
    let t = app.tenant("Months").await;
    let made = pos_sync_server::db::audit_partitions(&app.db.pool, 2)
        .await
        .unwrap();
    assert_eq!(made.len(), 3);
    assert!(
        made.iter().all(|n| n.starts_with("audit_events_20")),
        "{made:?}"
    );
    let where_is = |action: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            let (p,): (String,) = sqlx_core::query_as::query_as(
                "SELECT tableoid::regclass::text FROM audit_events WHERE action = $1",
            )
            .bind(action)
            .fetch_one(&pool)
            .await
            .unwrap();
            p
        }
    };
    // Today's events are in this month's partition.
    assert_eq!(where_is("tenant.create").await, made[0]);
    // An event of March 2020 (no partition): the default partition, then its own.
    let march_2020 = 1_584_000_000_000i64; // 2020-03-12
    sqlx_core::query::query(
        "INSERT INTO audit_events (tenant_id, event_id, at, action, target)
         VALUES ($1, $2, $3, 'old.event', 'x')",
    )
    .bind(t.tenant_id)
    .bind(uuid::Uuid::now_v7())
    .bind(march_2020)
    .execute(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(where_is("old.event").await, "audit_events_default");
    let (name,): (String,) = sqlx_core::query_as::query_as("SELECT audit_partition($1)")
        .bind(march_2020)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(name, "audit_events_2020_03");
    assert_eq!(where_is("old.event").await, "audit_events_2020_03");
    let (parts,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(
        parts >= 5,
        "default, three months ahead and March 2020: {parts}"
    );
    // The log pages across partitions.
    let page = app.get("/v1/admin/audit?limit=500", &t.owner).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let text = page.body.to_string();
    assert!(
        text.contains("old.event") && text.contains("store.create"),
        "{text}"
    );
}
