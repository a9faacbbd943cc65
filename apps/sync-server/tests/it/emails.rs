use axum::http::StatusCode;
use pos_sync::wire::{ReceiptEmailResponse, ReceiptEmailResult, PROTOCOL_VERSION};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    emails: serde_json::Value,
) -> ReceiptEmailResponse {
    let r = app
        .post(
            "/v1/sync/receipt-emails",
            Some(token),
            json!({"protocol": PROTOCOL_VERSION, "emails": emails}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body).expect("response")
}

fn spool_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub(crate) async fn app_with_spool() -> (TestApp, tempfile::TempDir) {
    let spool = tempfile::tempdir().expect("spool");
    let app = app_with(pos_sync_server::config::Settings {
        mail_spool_dir: spool.path().join("mail-spool"),
        mail_from: "receipts@pos.test".into(),
        ..test_settings()
    })
    .await;
    (app, spool)
}

async fn queued_rows(app: &TestApp, tenant: Uuid) -> i64 {
    let (n,): (i64,) =
        sqlx_core::query_as::query_as("SELECT count(*) FROM receipt_emails WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_email_is_queued_and_written_to_the_spool_once() {
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let sale = till.sell(&app, item, 3).await;
    let id = Uuid::now_v7();
    let emails = json!([{"id": id, "doc_id": sale, "email": "Ann@Shop.Example"}]);
    let r = send(&app, &till.device.token, emails.clone()).await;
    assert_eq!(r.results, vec![ReceiptEmailResult::Queued { id }]);

    let dir = spool.path().join("mail-spool");
    let files = spool_files(&dir);
    assert_eq!(
        files,
        vec![dir.join(format!("{id}.eml"))],
        "no temporary file left"
    );
    let eml = std::fs::read_to_string(&files[0]).expect("eml");
    assert!(eml.contains("\r\nTo: Ann@shop.example\r\n"), "{eml}");
    assert!(eml.starts_with("From: receipts@pos.test\r\n"), "{eml}");
    let receipt_no = till
        .store
        .get::<pos_core::sale::Sale>(sale)
        .expect("sale")
        .receipt_no
        .expect("closed");
    assert!(
        eml.contains(&format!(
            "\r\nSubject: Your receipt {receipt_no} from Acme main\r\n"
        )),
        "{eml}"
    );
    assert!(
        eml.contains(&format!("\r\nMessage-ID: <{id}@pos.test>\r\n")),
        "{eml}"
    );
    assert!(eml.contains("\r\n\r\nAcme main\r\n"), "{eml}");
    assert!(eml.contains("3 x Croissant"), "{eml}");
    let total = eml
        .lines()
        .find(|l| l.starts_with("TOTAL EUR"))
        .expect("total line");
    assert!(total.ends_with(" 7.50"), "{total:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0])
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "personal data: owner only");
    }

    // the same id again (the answer was lost): queued, not twice
    std::fs::remove_file(&files[0]).expect("the MTA took it");
    let r = send(&app, &till.device.token, emails).await;
    assert_eq!(r.results, vec![ReceiptEmailResult::Queued { id }]);
    assert!(spool_files(&dir).is_empty(), "not written again");
    assert_eq!(queued_rows(&app, t.tenant_id).await, 1);

    // head office sees it, and the audit log has the event without the address
    let r = app.get("/v1/admin/receipt-emails", &t.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let list = r.body.as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["email_id"], json!(id));
    assert_eq!(list[0]["doc_id"], json!(sale));
    assert_eq!(list[0]["recipient"], "Ann@shop.example");
    assert_eq!(list[0]["status"], "queued");
    let r = app.get("/v1/admin/audit", &t.owner).await;
    let events = r.body["events"].as_array().expect("events").clone();
    let ev = events
        .iter()
        .find(|e| e["action"] == "receipt_email.queue")
        .expect("audit event");
    assert_eq!(ev["actor_device"], json!(till.device.enrol.device_id));
    assert!(!ev.to_string().contains("shop.example"), "{ev}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_emails_for_another_store_a_bad_address_or_an_open_sale_are_refused() {
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let sale = till.sell(&app, item, 1).await;
    let open = till.open(&app, item).await;

    // a second store of the same tenant, with its own till
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S02", "name": "Acme two", "currency": "EUR",
                   "tax_mode": "Inclusive", "tax_rates": {"std": 2000}, "discount_threshold_bp": 1000}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let other = Tenant {
        store_id: serde_json::from_value(r.body["store_id"].clone()).expect("id"),
        tenant_id: t.tenant_id,
        owner_id: t.owner_id,
        owner: t.owner.clone(),
    };
    let other_till = app.device(&other).await;
    // and another tenant's device
    let u = app.tenant("Umbrella").await;
    let foreign = app.device(&u).await;

    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let r = send(
        &app,
        &till.device.token,
        json!([
            {"id": ids[0], "doc_id": sale, "email": "not an address"},
            {"id": ids[1], "doc_id": open, "email": "ann@shop.example"},
            {"id": ids[2], "doc_id": Uuid::now_v7(), "email": "ann@shop.example"},
            {"id": ids[3], "doc_id": sale, "email": "ann@shop.example\r\nBcc: x"},
        ]),
    )
    .await;
    let codes: Vec<(Uuid, String)> = r
        .results
        .iter()
        .map(|r| match r {
            ReceiptEmailResult::Refused { id, code, .. } => (*id, code.clone()),
            other => panic!("not refused: {other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (ids[0], "bad_address".to_string()),
            (ids[1], "not_a_receipt".to_string()),
            (ids[2], "unknown_document".to_string()),
            (ids[3], "bad_address".to_string()),
        ]
    );
    for token in [&other_till.token, &foreign.token] {
        let id = Uuid::now_v7();
        let r = send(
            &app,
            token,
            json!([{"id": id, "doc_id": sale, "email": "ann@shop.example"}]),
        )
        .await;
        assert!(
            matches!(&r.results[..], [ReceiptEmailResult::Refused { code, .. }] if code == "unknown_document"),
            "{r:?}"
        );
    }
    assert_eq!(queued_rows(&app, t.tenant_id).await, 0);
    assert_eq!(queued_rows(&app, u.tenant_id).await, 0);
    assert!(spool_files(&spool.path().join("mail-spool")).is_empty());

    // the list needs a user token; a bad protocol version is refused
    let r = app
        .get("/v1/admin/receipt-emails", &till.device.token)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    let r = app
        .post(
            "/v1/sync/receipt-emails",
            Some(&till.device.token),
            json!({"protocol": 99, "emails": []}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_email_list_needs_report_view_in_the_store_or_tenant_wide() {
    let (app, _spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let sale = till.sell(&app, item, 1).await;
    let id = Uuid::now_v7();
    let r = send(
        &app,
        &till.device.token,
        json!([{"id": id, "doc_id": sale, "email": "ann@shop.example"}]),
    )
    .await;
    assert_eq!(r.results, vec![ReceiptEmailResult::Queued { id }]);
    // head-office logins with a store role: a manager and a cashier of S01
    let mut tokens = Vec::new();
    for (role, email) in [("manager", "mia@acme.test"), ("cashier", "cas@acme.test")] {
        let r = app
            .post(
                "/v1/admin/users",
                Some(&t.owner),
                json!({"name": role, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let user = r.body["user_id"].as_str().expect("id").to_string();
        let r = app
            .post(
                &format!("/v1/admin/users/{user}/memberships"),
                Some(&t.owner),
                json!({"store_id": t.store_id, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        tokens.push(app.token(email, PASSWORD).await);
    }
    let (manager, cashier) = (&tokens[0], &tokens[1]);
    let in_store = format!("/v1/admin/receipt-emails?store_id={}", t.store_id);
    let r = app.get(&in_store, manager).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body.as_array().expect("list").len(), 1);
    // a store manager is not a tenant-wide reader; a cashier reads nothing
    assert_error(
        &app.get("/v1/admin/receipt-emails", manager).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    assert_error(
        &app.get(&in_store, cashier).await,
        StatusCode::FORBIDDEN,
        "AUTHZ",
    );
    // another tenant's owner sees none of them
    let u = app.tenant("Umbrella").await;
    let r = app.get("/v1/admin/receipt-emails", &u.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!([]));
}
