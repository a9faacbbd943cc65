//! A tenant that leaves (issue 14): its export holds exactly its documents and projection rows,
//! its delete removes every row it has in every table and nothing of another tenant, refuses
//! without the right confirmation or from anyone but the superadmin, and both are audited in
//! the platform's log.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::Value;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use uuid::Uuid;

use crate::common::*;

/// Two tenants with a till each and a few sales; the first tenant's till.
async fn two_tenants(app: &TestApp) -> (Tenant, Tenant, Till) {
    let a = app.tenant("Leaving Co").await;
    let b = app.tenant("Staying Co").await;
    let mut tills = Vec::new();
    for t in [&a, &b] {
        let item = publish_item(app, t, 250).await;
        let mut till = till(app, t).await;
        for q in 1..=3 {
            till.sell(app, item, q).await;
        }
        till.open(app, item).await;
        tills.push(till);
    }
    (a, b, tills.swap_remove(0))
}

async fn export(app: &TestApp, token: &str, tenant: Uuid) -> (StatusCode, String) {
    let req = axum::http::Request::builder()
        .uri(format!("/v1/admin/tenants/{tenant}/export"))
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert!(
        r.status != StatusCode::OK
            || r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/x-ndjson")
    );
    let text = match r.body {
        Value::String(s) => s,
        other => other.to_string(),
    };
    (r.status, text)
}

/// Every table with a `tenant_id`, from the catalog, with the rows it holds for `tenant`.
async fn rows_of(app: &TestApp, tenant: Uuid) -> Vec<(String, i64)> {
    let tables: Vec<String> = query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
          WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = query_scalar(sqlx_core::sql_str::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{t}\" WHERE tenant_id = $1"
        )))
        .bind(tenant)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        out.push((t, n));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_holds_every_document_and_projection_row_of_the_tenant_and_nothing_else() {
    let app = app().await;
    let (a, b, _) = two_tenants(&app).await;
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    let (status, text) = export(&app, &root, a.tenant_id).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value a line"))
        .collect();
    assert_eq!(lines[0]["kind"], "tenant");
    assert_eq!(lines[0]["format"], "pos-tenant-export/1");
    assert_eq!(lines[0]["tenant_id"], a.tenant_id.to_string());
    let end = lines.last().unwrap();
    assert_eq!(end["kind"], "end", "the file is whole");
    // Nothing of the other tenant anywhere in the file.
    for id in [b.tenant_id, b.store_id, b.owner_id] {
        assert!(!text.contains(&id.to_string()), "{id} of the other tenant");
    }

    // Every document, loadable by automerge, and typed as its row says.
    let docs: Vec<(Uuid, String)> =
        query_as("SELECT doc_id, doc_type FROM documents WHERE tenant_id = $1 ORDER BY doc_id")
            .bind(a.tenant_id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let exported: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "document").collect();
    assert_eq!(exported.len(), docs.len());
    assert_eq!(end["documents"], docs.len());
    for (l, (id, ty)) in exported.iter().zip(&docs) {
        assert_eq!(l["doc_id"], id.to_string());
        assert_eq!(l["doc_type"], *ty);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(l["automerge"].as_str().unwrap())
            .unwrap();
        let am = automerge::AutoCommit::load(&bytes).expect("a whole automerge document");
        let doc_type: pos_core::doc::DocType = ty.parse().unwrap();
        pos_core::doc::AnyDoc::hydrate(doc_type, &am).expect("typed document");
    }
    assert!(docs.iter().any(|(_, t)| t == "sale"));

    // Every projection row of the tenant, table by table.
    let rows: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "row").collect();
    let mut want = 0;
    for (table, n) in rows_of(&app, a.tenant_id).await {
        if !table.starts_with("p_") {
            continue;
        }
        let got = rows.iter().filter(|l| l["table"] == table).count() as i64;
        assert_eq!(got, n, "{table}");
        want += n;
    }
    assert_eq!(rows.len() as i64, want);
    assert_eq!(end["rows"], want);
    assert!(rows.iter().any(|l| l["table"] == "p_sales"));
    assert_eq!(
        lines.iter().filter(|l| l["kind"] == "store").count(),
        1,
        "its one store"
    );
    // No credential leaves: no hash, token or key column is a projection or a document.
    for secret in ["secret_hash", "password_hash", "pin_hash", "wrapped"] {
        assert!(!text.contains(secret), "{secret}");
    }

    // Only the superadmin; a tenant that does not exist is 404; both exports are audited.
    let (status, _) = export(&app, &a.owner, a.tenant_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = export(&app, &root, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let n: i64 = query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'tenant.export' AND target = $1",
    )
    .bind(format!("tenant:{}", a.tenant_id))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_removes_every_row_it_has_and_nothing_of_another() {
    let app = app().await;
    let (a, b, till_a) = two_tenants(&app).await;
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    // This month's audit partition detached (to be archived): its rows are still the tenant's.
    let month: String = query_scalar("SELECT audit_partition(now_ms())")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx_core::query::query(sqlx_core::sql_str::AssertSqlSafe(format!(
        "ALTER TABLE audit_events DETACH PARTITION {month}"
    )))
    .execute(&app.db.pool)
    .await
    .unwrap();
    let b_before = rows_of(&app, b.tenant_id).await;
    let a_before = rows_of(&app, a.tenant_id).await;
    assert!(a_before.iter().any(|(t, n)| t == "p_sales" && *n > 0));
    assert!(
        a_before.iter().any(|(t, n)| *t == month && *n > 0),
        "{a_before:?}"
    );
    let path = |confirm: &str| {
        format!(
            "/v1/admin/tenants/{}?confirm={}",
            a.tenant_id,
            confirm.replace(' ', "%20")
        )
    };

    // A non-admin, even the tenant's owner: 403. No or a wrong confirmation: 400. Unknown: 404.
    let r = app
        .call(Method::DELETE, &path("Leaving Co"), Some(&a.owner), None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/tenants/{}", a.tenant_id),
            Some(&root),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app
        .call(Method::DELETE, &path("Staying Co"), Some(&root), None)
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app
        .call(Method::DELETE, &path("leaving co"), Some(&root), None)
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/tenants/{}?confirm=x", Uuid::now_v7()),
            Some(&root),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        rows_of(&app, a.tenant_id).await,
        a_before,
        "nothing deleted"
    );

    let r = app
        .call(Method::DELETE, &path("Leaving Co"), Some(&root), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["tenant_id"], a.tenant_id.to_string());
    assert!(
        r.body["rows"]["p_sales"].as_i64().unwrap() > 0,
        "{:?}",
        r.body
    );

    // Nothing of the tenant is left in any table; the other tenant is untouched.
    for (table, n) in rows_of(&app, a.tenant_id).await {
        assert_eq!(n, 0, "{table} still holds rows of the deleted tenant");
    }
    let gone: bool = query_scalar("SELECT NOT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)")
        .bind(a.tenant_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(gone);
    assert_eq!(rows_of(&app, b.tenant_id).await, b_before);
    // The other tenant's owner still logs in and its store still answers.
    let owner_b = app.token("owner@staying co.test", PASSWORD).await;
    let r = app.get("/v1/admin/stores", &owner_b).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The deleted tenant's owner no longer logs in; an access token issued before finds no
    // role left, and its till's token is refused.
    assert_eq!(
        app.login("owner@leaving co.test", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.get("/v1/admin/users", &a.owner).await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app
        .get("/v1/sync/pull?cursor=0", &till_a.device.token)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);

    // Audited in the platform's log, which outlives the tenant.
    let (tenant, actor, diff): (Uuid, Option<Uuid>, Value) = query_as(
        "SELECT tenant_id, actor_user, diff FROM audit_events
          WHERE action = 'tenant.delete' AND target = $1",
    )
    .bind(format!("tenant:{}", a.tenant_id))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let root_tenant: Uuid = query_scalar("SELECT tenant_id FROM users WHERE is_superadmin")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(tenant, root_tenant);
    assert!(actor.is_some());
    assert_eq!(diff["before"]["name"], "Leaving Co");

    // Deleting it again: 404; the platform's own tenant cannot be deleted.
    let r = app
        .call(Method::DELETE, &path("Leaving Co"), Some(&root), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/tenants/{root_tenant}?confirm=Platform"),
            Some(&root),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}
