//! Head office's reports (issue 11): scope and bad input on every route, the CSV export, the
//! feed's cursor, freshness. The figures themselves are proved against the tills' documents in
//! `tests/reports_e2e.rs` (real devices through the sync engine); here sales are projection
//! rows written straight into the tenant's tables, which is all the isolation checks need.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

const ROUTES: &[&str] = &[
    "sales-summary",
    "items",
    "tenders",
    "taxes",
    "staff",
    "shifts",
    "cash",
    "stock",
    "transfers",
    "feed",
];

/// A closed sale of `total` in `store`, closed at `closed_at`, as its projection row.
async fn sold(app: &TestApp, tenant: Uuid, store: Uuid, closed_at: i64, total: i64) {
    sqlx_core::query::query(
        "INSERT INTO p_sales (tenant_id, doc_id, store_id, status, closed_at, subtotal, discount,
                              tax, total, opened_by, receipt_no)
         VALUES ($1, $2, $3, 'closed', $4, $5, 0, 0, $5, 'someone', 'R-1')",
    )
    .bind(tenant)
    .bind(Uuid::now_v7().to_string())
    .bind(store.to_string())
    .bind(closed_at)
    .bind(total)
    .execute(&app.db.pool)
    .await
    .expect("sale row");
}

/// 2026-06-12 12:00 UTC.
const NOON: i64 = 1_781_265_600_000;

fn summary(t: &Tenant) -> String {
    format!(
        "/v1/admin/reports/sales-summary?stores={}&from=2026-06-01&to=2026-06-30",
        t.store_id
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_sees_only_its_own_sales_and_another_tenants_store_is_not_found() {
    let app = app().await;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    sold(&app, a.tenant_id, a.store_id, NOON, 1111).await;
    sold(&app, b.tenant_id, b.store_id, NOON, 2222).await;

    let r = app.get(&summary(&a), &a.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"][0]["sales_total"], 1111);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    // Without `stores`, every store of the caller's own tenant, nothing of another.
    let r = app
        .get(
            "/v1/admin/reports/sales-summary?from=2026-06-01&to=2026-06-30&group=store",
            &b.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rows = r.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["sales_total"], 2222);
    assert_eq!(rows[0]["store_id"], json!(b.store_id.to_string()));

    // Every route: another tenant's store is "not found", and no row of it is answered.
    for route in ROUTES {
        let r = app
            .get(
                &format!(
                    "/v1/admin/reports/{route}?stores={}&from=2026-06-01&to=2026-06-30",
                    a.store_id
                ),
                &b.owner,
            )
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert!(!r.body.to_string().contains("1111"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_sees_their_store_only_and_a_cashier_or_a_device_sees_none() {
    let app = app().await;
    let t = app.tenant("Gamma").await;
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S02", "name": "Second", "currency": "EUR", "tax_mode": "Inclusive",
                   "time_zone": "Asia/Kolkata", "business_day_start": "05:30"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second: Uuid = serde_json::from_value(r.body["store_id"].clone()).unwrap();
    sold(&app, t.tenant_id, t.store_id, NOON, 500).await;
    sold(&app, t.tenant_id, second, NOON, 700).await;

    // A manager of S01 with a head-office login.
    let r = app
        .head_office_user(&t, "mgr@gamma.test", "manager password 1")
        .await;
    let mgr_id: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    let r = app
        .post(
            &format!("/v1/admin/users/{mgr_id}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "manager"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mgr = app.token("mgr@gamma.test", "manager password 1").await;
    let r = app
        .get(
            "/v1/admin/reports/sales-summary?from=2026-06-01&to=2026-06-30&group=store",
            &mgr,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rows = r.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only S01: {rows:?}");
    assert_eq!(rows[0]["sales_total"], 500);
    for route in ROUTES {
        let r = app
            .get(
                &format!("/v1/admin/reports/{route}?stores={second}&from=2026-06-01&to=2026-06-30"),
                &mgr,
            )
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    }

    // The owner sees the second store on its own clock.
    let r = app
        .get(
            &format!(
                "/v1/admin/reports/sales-summary?stores={second}&from=2026-06-01&to=2026-06-30"
            ),
            &t.owner,
        )
        .await;
    assert_eq!(r.body["stores"][0]["time_zone"], "Asia/Kolkata");
    assert_eq!(r.body["stores"][0]["business_day_start"], "05:30");
    // 12:00 UTC is 17:30 in Kolkata: business day 2026-06-12.
    assert_eq!(r.body["data"][0]["business_day"], "2026-06-12");

    // A cashier with a login, and a device token: never.
    let r = app
        .head_office_user(&t, "cash@gamma.test", "cashier password 1")
        .await;
    let cashier_id: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    app.post(
        &format!("/v1/admin/users/{cashier_id}/memberships"),
        Some(&t.owner),
        json!({"store_id": t.store_id, "role": "cashier"}),
    )
    .await;
    let cashier = app.token("cash@gamma.test", "cashier password 1").await;
    let device = app.device(&t).await;
    for route in ROUTES {
        let path = format!("/v1/admin/reports/{route}?from=2026-06-01&to=2026-06-30");
        assert_error(
            &app.get(&path, &cashier).await,
            StatusCode::FORBIDDEN,
            "AUTHZ",
        );
        let r = app.get(&path, &device.token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{route}: {:?}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ranges_zones_cursors_and_options_are_typed_400s_on_every_route() {
    let app = app().await;
    let t = app.tenant("Delta").await;
    let s = t.store_id;
    let ranged = [
        ("from=2026-06-30&to=2026-06-01", "reversed"),
        ("from=2025-01-01&to=2026-06-30", "at most 400"),
        ("from=2026-02-30&to=2026-03-01", "invalid date"),
        ("from=2026-06-01", "required"),
        (
            "from=2026-06-01&to=2026-06-30&zone=Mars/Olympus",
            "unknown time zone",
        ),
    ];
    let any = [
        ("format=xml", "format must be"),
        ("limit=0", "limit must be"),
        ("limit=100000", "limit must be"),
        ("cursor=%%%%", "malformed cursor"),
        ("cursor=b2s6LTU", "malformed cursor"),
        ("refunds_by=week", "refunds_by must be"),
        ("stores=not-a-uuid", "is not a store id"),
        ("stale_after_min=0", "stale_after_min"),
        ("max_age_secs=61", "max_age_secs must be"),
    ];
    for route in ROUTES {
        let ranged_route = !matches!(*route, "stock" | "transfers" | "feed");
        for (q, words) in ranged.iter().filter(|_| ranged_route).chain(any.iter()) {
            let q = if q.starts_with("from") || !ranged_route {
                q.to_string()
            } else {
                format!("from=2026-06-01&to=2026-06-30&{q}")
            };
            let path = if q.contains("stores=") {
                format!("/v1/admin/reports/{route}?{q}")
            } else {
                format!("/v1/admin/reports/{route}?stores={s}&{q}")
            };
            let r = app.get(&path, &t.owner).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
            let msg = r.body["error"]["message"].as_str().unwrap();
            assert!(msg.contains(words), "{route}?{q}: {msg}");
        }
    }
    for (route, group) in [
        ("sales-summary", "week"),
        ("items", "store"),
        ("cash", "day"),
    ] {
        let r = app
            .get(
                &format!("/v1/admin/reports/{route}?from=2026-06-01&to=2026-06-30&group={group}"),
                &t.owner,
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    }
    // A store id that exists nowhere is not found, not a server error.
    let r = app
        .get(
            &format!(
                "/v1/admin/reports/items?stores={}&from=2026-06-01&to=2026-06-01",
                Uuid::now_v7()
            ),
            &t.owner,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_export_has_a_header_local_days_and_no_formula_cells() {
    let app = app().await;
    let t = app.tenant("Epsilon").await;
    sold(&app, t.tenant_id, t.store_id, NOON, 1234).await;
    sold(&app, t.tenant_id, t.store_id, NOON + 86_400_000, 766).await;
    sqlx_core::query::query(
        "INSERT INTO p_sale_lines (tenant_id, doc_id, line_id, item_id, name, qty, total)
         SELECT tenant_id, doc_id, 'l1', 'item-x', '=HYPERLINK(\"x\")', 1, total FROM p_sales
         WHERE tenant_id = $1",
    )
    .bind(t.tenant_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let r = app
        .get(
            &format!(
                "/v1/admin/reports/sales-summary?stores={}&from=2026-06-01&to=2026-06-30&format=csv",
                t.store_id
            ),
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("sales-summary-2026-06-01-2026-06-30.csv"));
    let text = r.body.as_str().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("store_id,store_code,business_day,sales_count,"),
        "{text}"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains(",2026-06-12,1,") && lines[1].contains(",1234,"),
        "{text}"
    );
    assert!(lines[2].contains(",2026-06-13,1,"), "{text}");

    let r = app
        .get(
            &format!(
                "/v1/admin/reports/items?stores={}&from=2026-06-01&to=2026-06-30&format=csv",
                t.store_id
            ),
            &t.owner,
        )
        .await;
    let text = r.body.as_str().unwrap().to_string();
    assert!(
        text.contains("'=HYPERLINK"),
        "a formula is neutralised: {text}"
    );
    assert!(
        text.contains(",2,2000,10000"),
        "quantity, sales, share: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_cursor_and_freshness_names_each_device() {
    let app = app().await;
    let t = app.tenant("Zeta").await;
    for day in 0..5 {
        sold(&app, t.tenant_id, t.store_id, NOON + day * 86_400_000, 100).await;
    }
    let device = app.device(&t).await;
    let base = format!(
        "/v1/admin/reports/sales-summary?stores={}&from=2026-06-01&to=2026-06-30&limit=2",
        t.store_id
    );
    let mut days = Vec::new();
    let mut path = base.clone();
    loop {
        let r = app.get(&path, &t.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        for row in r.body["data"].as_array().unwrap() {
            days.push(row["business_day"].as_str().unwrap().to_string());
        }
        match r.body["pagination"]["next_cursor"].as_str() {
            Some(c) => path = format!("{base}&cursor={c}"),
            None => {
                // Freshness: the enrolled device, never synced, is stale.
                let f = &r.body["freshness"][0];
                assert_eq!(f["device_id"], json!(device.enrol.device_id));
                assert_eq!(f["stale"], true);
                assert!(f["complete_until"].is_null());
                break;
            }
        }
    }
    assert_eq!(
        days,
        [
            "2026-06-12",
            "2026-06-13",
            "2026-06-14",
            "2026-06-15",
            "2026-06-16"
        ]
    );
    // After a pull the device is fresh, with its local time (the store is on UTC).
    let r = app.get("/v1/sync/pull?cursor=0", &device.token).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get(&base, &t.owner).await;
    let f = &r.body["freshness"][0];
    assert_eq!(f["stale"], false, "{f}");
    assert!(
        f["complete_until_local"]
            .as_str()
            .unwrap()
            .ends_with("+00:00"),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_day_ended_mails_its_summary_once_to_those_who_read_its_reports() {
    let spool = tempfile::tempdir().unwrap();
    let app = app_with(pos_sync_server::config::Settings {
        mail_spool_dir: spool.path().to_path_buf(),
        mail_from: "reports@cafe.test".into(),
        ..test_settings()
    })
    .await;
    let t = app.tenant("Eta").await;
    // A Paris bar with a 04:00 day, in business since January.
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "P1", "name": "Paris Bar", "currency": "EUR", "tax_mode": "Inclusive",
                   "time_zone": "Europe/Paris", "business_day_start": "04:00"}),
        )
        .await;
    let paris: Uuid = serde_json::from_value(r.body["store_id"].clone()).unwrap();
    sqlx_core::query::query("UPDATE stores SET created_at = 1767225600000 WHERE tenant_id = $1")
        .bind(t.tenant_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    // 2026-06-13 01:30 in Paris: still the business day of 2026-06-12.
    sold(&app, t.tenant_id, paris, 1_781_307_000_000, 1234).await;
    for (email, role) in [("mgr@eta.test", "manager"), ("till@eta.test", "cashier")] {
        let r = app.head_office_user(&t, email, "a password for eta").await;
        let id: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
        let r = app
            .post(
                &format!("/v1/admin/users/{id}/memberships"),
                Some(&t.owner),
                json!({"store_id": paris, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }

    // 2026-06-13 05:00 in Paris: the 12th has ended.
    let now = 1_781_319_600_000;
    let sent = pos_sync_server::daily::send_due(&app.state, now)
        .await
        .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(spool.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("Paris Bar"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        2,
        "owner and manager, not the cashier: {files:?}"
    );
    let to: Vec<&str> = files
        .iter()
        .map(|m| m.lines().find(|l| l.starts_with("To: ")).unwrap())
        .collect();
    assert!(
        to.contains(&"To: mgr@eta.test") && to.contains(&"To: owner@eta.test"),
        "{to:?}"
    );
    let m = &files[0];
    assert!(
        m.contains("Subject: P1 Paris Bar: the day's figures, 2026-06-12"),
        "{m}"
    );
    assert!(
        m.contains("2026-06-12 04:00 to 2026-06-13 04:00 (Europe/Paris)"),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("sales_total") && l.ends_with("12.34 EUR")),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("sales_count") && l.ends_with(" 1")),
        "{m}"
    );
    assert!(sent.summaries >= 1 && sent.emails >= 2, "{sent:?}");

    // Sent once: a second run (or another instance) writes nothing more.
    let again = pos_sync_server::daily::send_due(&app.state, now + 60_000)
        .await
        .unwrap();
    assert_eq!(again, pos_sync_server::daily::Sent::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_may_take_a_recent_answer_but_never_past_its_permissions() {
    let app = app().await;
    let t = app.tenant("Theta").await;
    sold(&app, t.tenant_id, t.store_id, NOON, 100).await;
    let r = app
        .head_office_user(&t, "mgr@theta.test", "manager password 1")
        .await;
    let mgr_id: Uuid = serde_json::from_value(r.body["user_id"].clone()).unwrap();
    let r = app
        .post(
            &format!("/v1/admin/users/{mgr_id}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "manager"}),
        )
        .await;
    let membership = r.body["membership_id"].as_str().unwrap().to_string();
    let mgr = app.token("mgr@theta.test", "manager password 1").await;
    let cached = format!("{}&group=store&max_age_secs=30", summary(&t));
    let first = app.get(&cached, &mgr).await;
    assert_eq!(first.body["data"][0]["sales_total"], 100);
    sold(&app, t.tenant_id, t.store_id, NOON, 50).await;
    // Within max_age: the same answer, computed once.
    let again = app.get(&cached, &mgr).await;
    assert_eq!(again.body, first.body);
    // Without it: computed now.
    let fresh = app.get(&format!("{}&group=store", summary(&t)), &mgr).await;
    assert_eq!(fresh.body["data"][0]["sales_total"], 150);
    assert!(fresh.body["as_of"].as_i64() >= first.body["as_of"].as_i64());
    // Another person asking the same question gets their own answer.
    let owner = app.get(&cached, &t.owner).await;
    assert_eq!(owner.body["data"][0]["sales_total"], 150);
    // A role taken away is refused at once, cached answer or not.
    let r = app
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/admin/users/{mgr_id}/memberships/{membership}"),
            Some(&t.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_error(
        &app.get(&cached, &mgr).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    assert!(app.state.report_cache.len() <= pos_sync_server::reports::AnswerCache::MAX_ENTRIES);
}
