//! Module entitlements per tenant (issue 13): the superadmin switches them (audited, nobody
//! else); a module off closes its routes with 403 `AUTHZ`, its pushed documents are refused
//! (`module_disabled`) while others pass, devices read the entitlements, and nothing is deleted.

use axum::http::{Method, StatusCode};
use pos_core::doc::{DocType, Envelope};
use pos_core::inventory::{StockDoc, StockDocKind};
use pos_sync::merge::author_change;
use pos_sync::wire::{Author, PushResult, WireChange, PROTOCOL_VERSION};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;
use crate::sync::push;

async fn switch(app: &TestApp, token: &str, tenant: Uuid, modules: serde_json::Value) -> Resp {
    app.call(
        Method::PUT,
        &format!("/v1/admin/tenants/{tenant}/modules"),
        Some(token),
        Some(json!({ "modules": modules })),
    )
    .await
}

fn stock_change(t: &Tenant, d: &Device, user: Uuid) -> WireChange {
    let env = Envelope {
        doc_id: Uuid::now_v7(),
        tenant_id: t.tenant_id,
        store_id: Some(t.store_id),
        doc_type: DocType::Stock,
        created_by_device: d.enrol.device_id,
    };
    let doc = StockDoc::new(StockDocKind::Adjust, user, 1);
    let (hash, bytes) = author_change(env, None, &doc, Uuid::new_v4().as_bytes()).expect("change");
    WireChange {
        envelope: env,
        hash,
        bytes,
        author: Author {
            user_id: user,
            device_id: d.enrol.device_id,
        },
        signature: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_off_closes_its_routes_and_documents_and_deletes_nothing() {
    let app = app().await;
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    let t = app.tenant("Mods").await;
    let other = app.tenant("Others").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let till = app.device(&t).await;

    // Everything is on at first; the tenant's owner may read its own list, not another's.
    let list = app
        .get(
            &format!("/v1/admin/tenants/{}/modules", t.tenant_id),
            &t.owner,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert!(list
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["enabled"] == true));
    assert_eq!(list.body.as_array().unwrap().len(), 7);
    assert_error(
        &app.get(
            &format!("/v1/admin/tenants/{}/modules", t.tenant_id),
            &other.owner,
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let day = "2026-01-05";
    let report = format!("/v1/admin/reports/sales-summary?from={day}&to={day}");
    assert_eq!(app.get(&report, &t.owner).await.status, StatusCode::OK);
    // An item change (catalog: no module) and a stock adjustment both pass while on.
    let pushed = push(&app, &till, vec![stock_change(&t, &till, manager)]).await;
    assert!(
        matches!(pushed.results[0], PushResult::Accepted { .. }),
        "{pushed:?}"
    );

    // Only the superadmin switches; a bad module name is a clear 400.
    assert_error(
        &switch(&app, &t.owner, t.tenant_id, json!({"reports": false})).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    assert_error(
        &switch(&app, &root, t.tenant_id, json!({"payroll": false})).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    );
    assert_error(
        &switch(&app, &root, Uuid::now_v7(), json!({"reports": false})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let off = json!({"reports": false, "inventory": false, "email_receipts": false,
                     "transfers": false, "multi_store": false});
    let r = switch(&app, &root, t.tenant_id, off).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let enabled = |body: &serde_json::Value, m: &str| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|x| x["module"] == m)
            .map(|x| x["enabled"] == true)
            .unwrap()
    };
    assert!(!enabled(&r.body, "reports") && enabled(&r.body, "pos"));

    // Its routes answer 403 with the module named; another tenant is untouched.
    let refused = app.get(&report, &t.owner).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "AUTHZ");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reports module"));
    assert_eq!(app.get(&report, &other.owner).await.status, StatusCode::OK);
    assert_error(
        &app.get("/v1/sync/transfers/incoming", &till.token).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    assert_error(
        &app.post(
            "/v1/sync/receipt-emails",
            Some(&till.token),
            json!({"protocol": PROTOCOL_VERSION, "emails": []}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    assert_error(
        &app.post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S02", "name": "Second", "currency": "EUR", "tax_mode": "Inclusive",
                   "tax_rates": {"std": 2000}, "discount_threshold_bp": 1000}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    // The device reads what is off.
    let e = app.get("/v1/sync/entitlements", &till.token).await;
    assert_eq!(e.status, StatusCode::OK);
    let off: Vec<String> = serde_json::from_value(e.body["off"].clone()).unwrap();
    assert_eq!(
        off,
        [
            "inventory",
            "transfers",
            "email_receipts",
            "reports",
            "multi_store"
        ]
    );
    // A pushed document of a module that is off is refused, with its reason; a catalog change
    // in the same push passes.
    let item = crate::sync::new_item_change(&t, &till, manager, &item("Tea", 250));
    let pushed = push(&app, &till, vec![stock_change(&t, &till, manager), item]).await;
    match &pushed.results[0] {
        PushResult::Rejected { code, .. } => assert_eq!(code, "module_disabled"),
        other => panic!("stock pushed with inventory off: {other:?}"),
    }
    assert!(
        matches!(pushed.results[1], PushResult::Accepted { .. }),
        "{pushed:?}"
    );

    // Audited, and nothing deleted: on again, the first adjustment is still there.
    let audit = app.get("/v1/admin/audit", &t.owner).await;
    assert!(
        audit.body.to_string().contains("tenant.module"),
        "{:?}",
        audit.body
    );
    let r = switch(
        &app,
        &root,
        t.tenant_id,
        json!({"reports": true, "inventory": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.get(&report, &t.owner).await.status, StatusCode::OK);
    let (docs,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM documents WHERE tenant_id = $1 AND doc_type = 'stock'",
    )
    .bind(t.tenant_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(docs, 1);
}
