//! The head-office console (issue 11): its cookie sessions (flags, CSRF double submit,
//! rotation, logout), its files (CSP, client-side routing, the API's 404s), the OpenAPI
//! document the console's types are generated from (checked in as `console/openapi.json`), the
//! reports' documented shape, and the catalog's list and CSV import.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

const HOST: &str = "pos.example.com";

fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The `Set-Cookie` line for `name`.
fn set_cookie<'a>(all: &'a [String], name: &str) -> &'a str {
    all.iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {all:?}"))
}

/// The value a `Set-Cookie` line sets.
fn value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v)
        .unwrap()
}

fn attrs(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// A console request with a `Host`, optional cookies and CSRF header, and a JSON body.
fn console_req(
    path: &str,
    cookies: &[(&str, &str)],
    csrf: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, HOST);
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        b = b.header(header::COOKIE, c.join("; "));
    }
    if let Some(t) = csrf {
        b = b.header("x-csrf-token", t);
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .unwrap()
}

struct Session {
    access: String,
    refresh: String,
    csrf: String,
}

async fn console_login(app: &TestApp, email: &str) -> (Resp, Session) {
    let r = app
        .raw(console_req(
            "/v1/auth/console/login",
            &[],
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let all = set_cookies(&r);
    let s = Session {
        access: r.body["access_token"].as_str().unwrap().to_string(),
        refresh: value(set_cookie(&all, "pos_refresh")).to_string(),
        csrf: value(set_cookie(&all, "pos_csrf")).to_string(),
    };
    (r, s)
}

#[tokio::test]
async fn console_login_puts_the_refresh_token_in_an_httponly_strict_secure_cookie_only() {
    let app = app().await;
    let t = app.tenant("Cookies").await;
    let (r, s) = console_login(&app, "owner@cookies.test").await;
    let all = set_cookies(&r);
    let refresh = attrs(set_cookie(&all, "pos_refresh"));
    for a in [
        "httponly",
        "secure",
        "samesite=strict",
        "path=/v1/auth/console",
    ] {
        assert!(refresh.contains(&a.to_string()), "{a} in {refresh:?}");
    }
    assert!(refresh
        .iter()
        .any(|a| a.starts_with("max-age=") && a != "max-age=0"));
    let csrf = attrs(set_cookie(&all, "pos_csrf"));
    for a in ["secure", "samesite=strict", "path=/"] {
        assert!(csrf.contains(&a.to_string()), "{a} in {csrf:?}");
    }
    assert!(
        !csrf.contains(&"httponly".to_string()),
        "the page reads it: {csrf:?}"
    );
    assert!(s.refresh.len() >= 40 && s.csrf.len() >= 40);
    assert_ne!(s.refresh, s.csrf);
    // The body is the session without its refresh token.
    assert!(r.body.get("refresh_token").is_none(), "{:?}", r.body);
    assert!(!r.body.to_string().contains(&s.refresh));
    assert_eq!(r.body["tenant_id"], json!(t.tenant_id));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    // The access token is a normal bearer token for the admin API.
    let stores = app.get("/v1/admin/stores", &s.access).await;
    assert_eq!(stores.status, StatusCode::OK, "{:?}", stores.body);
    // A wrong password sets no cookie.
    let r = app
        .raw(console_req(
            "/v1/auth/console/login",
            &[],
            None,
            Some(json!({"email": "owner@cookies.test", "password": "wrong password"})),
        ))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    assert!(set_cookies(&r).is_empty());
}

#[tokio::test]
async fn on_plain_http_over_loopback_the_cookies_are_not_secure() {
    let app = app().await;
    app.tenant("Loop").await;
    let mut req = console_req(
        "/v1/auth/console/login",
        &[],
        None,
        Some(json!({"email": "owner@loop.test", "password": PASSWORD})),
    );
    req.headers_mut()
        .insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "127.0.0.1:50000".parse().unwrap(),
        ));
    let r = app.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let all = set_cookies(&r);
    for name in ["pos_refresh", "pos_csrf"] {
        let a = attrs(set_cookie(&all, name));
        assert!(!a.contains(&"secure".to_string()), "{name}: {a:?}");
        assert!(a.contains(&"samesite=strict".to_string()), "{name}: {a:?}");
    }
}

#[tokio::test]
async fn console_refresh_needs_the_csrf_header_and_rotates_the_cookie() {
    let app = app().await;
    app.tenant("Csrf").await;
    let (_, s) = console_login(&app, "owner@csrf.test").await;
    let cookies = [
        ("pos_refresh", s.refresh.as_str()),
        ("pos_csrf", s.csrf.as_str()),
    ];
    // No header, a wrong one, or a header without the cookie: refused before the token is used.
    for (cookies, csrf) in [
        (&cookies[..], None),
        (&cookies[..], Some("not-the-token")),
        (&cookies[..1], Some(s.csrf.as_str())),
    ] {
        let r = app
            .raw(console_req("/v1/auth/console/refresh", cookies, csrf, None))
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
        assert!(set_cookies(&r).is_empty());
    }
    let r = app
        .raw(console_req(
            "/v1/auth/console/refresh",
            &cookies,
            Some(&s.csrf),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let all = set_cookies(&r);
    let rotated = value(set_cookie(&all, "pos_refresh")).to_string();
    assert_ne!(rotated, s.refresh, "rotated");
    let a = attrs(set_cookie(&all, "pos_refresh"));
    assert!(a.contains(&"httponly".to_string()) && a.contains(&"samesite=strict".to_string()));
    assert_eq!(
        value(set_cookie(&all, "pos_csrf")),
        s.csrf,
        "the page's token stays"
    );
    assert!(r.body.get("refresh_token").is_none(), "{:?}", r.body);
    assert!(!r.body.to_string().contains(&rotated));
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/admin/users", access).await.status,
        StatusCode::OK
    );
    // The old cookie again (stolen, or a second tab's stale copy): the session is revoked and
    // the browser told to forget the cookies.
    let r = app
        .raw(console_req(
            "/v1/auth/console/refresh",
            &cookies,
            Some(&s.csrf),
            None,
        ))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    let all = set_cookies(&r);
    assert!(attrs(set_cookie(&all, "pos_refresh")).contains(&"max-age=0".to_string()));
    let r = app
        .raw(console_req(
            "/v1/auth/console/refresh",
            &[("pos_refresh", &rotated), ("pos_csrf", &s.csrf)],
            Some(&s.csrf),
            None,
        ))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
}

#[tokio::test]
async fn console_logout_needs_the_csrf_header_clears_the_cookies_and_ends_the_session() {
    let app = app().await;
    app.tenant("Out").await;
    let (_, s) = console_login(&app, "owner@out.test").await;
    let cookies = [
        ("pos_refresh", s.refresh.as_str()),
        ("pos_csrf", s.csrf.as_str()),
    ];
    let r = app
        .raw(console_req("/v1/auth/console/logout", &cookies, None, None))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app
        .raw(console_req(
            "/v1/auth/console/logout",
            &cookies,
            Some(&s.csrf),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let all = set_cookies(&r);
    for name in ["pos_refresh", "pos_csrf"] {
        let c = set_cookie(&all, name);
        assert_eq!(value(c), "", "{c}");
        assert!(attrs(c).contains(&"max-age=0".to_string()), "{c}");
    }
    assert!(attrs(set_cookie(&all, "pos_refresh")).contains(&"path=/v1/auth/console".to_string()));
    // The refresh token is dead even if the browser had kept it.
    let r = app
        .raw(console_req(
            "/v1/auth/console/refresh",
            &cookies,
            Some(&s.csrf),
            None,
        ))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
    let audit = app.get("/v1/admin/audit", &s.access).await;
    assert!(
        audit.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "auth.logout"),
        "{:?}",
        audit.body
    );
}

async fn get_page(app: &TestApp, path: &str) -> Resp {
    app.raw(Request::get(path).body(Body::empty()).unwrap())
        .await
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_csp_and_unknown_pages_fall_back_to_it() {
    let app = app().await;
    let root = get_page(&app, "/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = root.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(root.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let page = root.body.as_str().unwrap().to_string();
    // Client-side routes get the same page.
    for p in ["/reports/sales-summary", "/stores", "/login?next=%2Faudit"] {
        let r = get_page(&app, p).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        assert_eq!(r.body.as_str(), Some(page.as_str()), "{p}");
        assert!(
            r.headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{p}"
        );
    }
    // The API keeps its JSON 404s; a missing file is not the page.
    for p in [
        "/v1/nope",
        "/v1",
        "/v1/admin/nope",
        "/health/nope",
        "/assets/gone-1234.js",
        "/favicon.ico",
    ] {
        let r = get_page(&app, p).await;
        assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let r = app.post("/somewhere", None, json!({})).await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    // No inline script in the page (the CSP would refuse it), and its assets are served.
    assert!(!page.contains("<script>"), "{page}");
    if pos_sync_server::console::BUILT {
        let js = page
            .split('"')
            .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
            .unwrap_or_else(|| panic!("no script in {page}"));
        let r = get_page(&app, js).await;
        assert_eq!(r.status, StatusCode::OK, "{js}");
        assert!(r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(r.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
    }
}

/// `console/openapi.json` is what the server's code generates (the document without a running
/// server). The console's TypeScript types (`console/src/lib/api.d.ts`) are generated from that
/// file, so this test failing means: run `npm run gen:api` in console/, which runs this test
/// with `POS_UPDATE_OPENAPI=1` (it then writes the file) and openapi-typescript.
#[test]
fn openapi_document_checked_in_for_the_console_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/openapi.json");
    let now = pos_sync_server::openapi::pretty();
    if std::env::var_os("POS_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == now,
        "console/openapi.json is stale: regenerate it with \
         POS_UPDATE_OPENAPI=1 cargo test -p pos-sync-server --test it console::openapi, \
         then `npm run gen:api` in console/"
    );
    let doc: Value = serde_json::from_str(&now).unwrap();
    for p in [
        "/v1/auth/console/login",
        "/v1/auth/console/refresh",
        "/v1/auth/console/logout",
        "/v1/admin/items/import",
        "/v1/admin/reports/sales-summary",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
    assert_eq!(
        doc["paths"]["/v1/admin/reports/items"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/ReportPage"
    );
}

/// Every report's JSON answer reads into the documented types, unknown fields refused: the
/// OpenAPI document (and so the console's types) says what the server sends.
#[tokio::test]
async fn every_report_answers_the_shape_the_openapi_document_gives() {
    let app = app().await;
    let t = app.tenant("Shape").await;
    app.device(&t).await;
    for (report, q) in [
        ("sales-summary", "&group=day"),
        ("sales-summary", "&group=hour"),
        ("sales-summary", "&group=store"),
        ("items", ""),
        ("items", "&group=category"),
        ("tenders", ""),
        ("taxes", ""),
        ("staff", ""),
        ("shifts", ""),
        ("cash", ""),
        ("cash", "&group=cashier"),
        ("stock", ""),
        ("transfers", ""),
        ("feed", ""),
    ] {
        let path = format!("/v1/admin/reports/{report}?from=2026-01-01&to=2026-01-31{q}");
        let r = app.get(&path, &t.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        let page: pos_sync_server::report_types::ReportPage =
            serde_json::from_value(r.body.clone())
                .unwrap_or_else(|e| panic!("{path}: {e}: {:?}", r.body));
        assert_eq!(page.report, report);
        assert_eq!(page.freshness.len(), 1, "{path}");
        for row in &page.data {
            let keys: Vec<&String> = row.keys().collect();
            let mut cols: Vec<&String> = page.columns.iter().collect();
            cols.sort();
            assert_eq!(keys, cols, "{path}");
        }
    }
}

fn csv_req(token: &str, body: &str, query: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/admin/items/import{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn csv_import_is_all_or_nothing_names_every_wrong_line_and_matches_by_sku() {
    let app = app().await;
    let t = app.tenant("Import").await;
    let bad = "sku,name,price,tax_class\n\
               LAT,Latte,3.50,std\n\
               ESP,,2.00,std\n\
               MUF,Muffin,2.80,std\n\
               TEA,Tea,abc,std\n\
               CAK,Cake,4.00,luxury\n";
    let r = app.raw(csv_req(&t.owner, bad, "")).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let lines: Vec<i64> = r.body["error"]["details"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 5, 6], "{:?}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was imported"));
    let items = app.get("/v1/admin/items", &t.owner).await;
    assert_eq!(items.body, json!([]), "nothing written");

    let good = "sku,name,price,tax_class,barcodes\nLAT,Latte,3.50,std,4006381333931\nMUF,Muffin,2.80,std,\n";
    let r = app.raw(csv_req(&t.owner, good, "")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"created": 2, "updated": 0, "unchanged": 0}));
    let items = app.get("/v1/admin/items", &t.owner).await.body;
    let latte = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "LAT")
        .unwrap()
        .clone();
    assert_eq!(latte["price"], 350);
    assert_eq!(latte["currency"], "EUR", "the stores' currency");
    assert_eq!(latte["tax_class"], "std", "{latte}");
    assert_eq!(latte["barcodes"], json!(["4006381333931"]));
    // A store's own price survives an import of the same SKU.
    let id = latte["item_id"].as_str().unwrap();
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/items/{id}/prices"),
            Some(&t.owner),
            Some(json!({"store_prices": {t.store_id.to_string(): 390}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.raw(csv_req(&t.owner, good, "")).await;
    assert_eq!(
        r.body,
        json!({"created": 0, "updated": 0, "unchanged": 2}),
        "the same file again"
    );
    let again = good.replace("2.80", "2.90");
    let r = app.raw(csv_req(&t.owner, &again, "?currency=EUR")).await;
    assert_eq!(
        r.body,
        json!({"created": 0, "updated": 1, "unchanged": 1}),
        "{:?}",
        r.body
    );
    let items = app.get("/v1/admin/items", &t.owner).await.body;
    let latte = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "LAT")
        .unwrap();
    assert_eq!(
        latte["store_prices"][t.store_id.to_string()],
        390,
        "{latte}"
    );
    let audit = app.get("/v1/admin/audit", &t.owner).await.body;
    assert!(audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "catalog.import"));

    // Not CSV, an unknown currency, or someone without catalog rights: refused.
    let r = app
        .post(
            "/v1/admin/items/import",
            Some(&t.owner),
            json!({"sku": "x"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app.raw(csv_req(&t.owner, good, "?currency=ZZZ")).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let r = app.head_office_user(&t, "cash@import.test", PASSWORD).await;
    let uid = r.body["user_id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/v1/admin/users/{uid}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "cashier"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cashier = app.token("cash@import.test", PASSWORD).await;
    let r = app.raw(csv_req(&cashier, good, "")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app.get("/v1/admin/items", &cashier).await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
}
