//! The exact OpenAPI document and what the schema-driven fuzzer (`tests/fuzz/run.sh`,
//! Schemathesis against the real binary) found: each defect a `regression_<what>` test here,
//! fixed at its root. And the document's enums checked against the core's own lists, so that
//! the mirrored schemas (`wire_schema.rs`) cannot drift.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn enum_of(doc: &Value, name: &str) -> Vec<String> {
    let s = schema(doc, name);
    let values = s["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is an enum: {s}"));
    values
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn names<T: serde::Serialize>(all: impl IntoIterator<Item = T>) -> Vec<String> {
    all.into_iter()
        .map(|v| {
            serde_json::to_value(v)
                .expect("json")
                .as_str()
                .expect("str")
                .to_string()
        })
        .collect()
}

#[test]
fn the_documents_enums_are_the_cores() {
    use pos_core::auth::{DeviceKind, Role};
    let doc = pos_sync_server::openapi::document();
    assert_eq!(
        enum_of(&doc, "Role"),
        names([
            Role::Owner,
            Role::Admin,
            Role::Manager,
            Role::Cashier,
            Role::Kitchen
        ])
    );
    assert_eq!(
        enum_of(&doc, "DeviceKind"),
        names([DeviceKind::Till, DeviceKind::Kitchen])
    );
    assert_eq!(enum_of(&doc, "DocType"), names(pos_core::doc::DocType::ALL));
    assert_eq!(
        enum_of(&doc, "Module"),
        names(pos_core::modules::Module::ALL.iter().copied())
    );
    assert_eq!(
        enum_of(&doc, "Currency"),
        pos_core::money::Currency::codes()
            .map(String::from)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        enum_of(&doc, "TaxMode"),
        names([
            pos_core::money::TaxMode::Inclusive,
            pos_core::money::TaxMode::Exclusive
        ])
    );
}

/// The routes `routes::router` declares, with their methods, read from its source: each
/// `.route("path", method(..).method(..))` under the prefix of the router it is declared in
/// (`admin` is nested at `/v1/admin`, `anonymous` merged into `v1`, `v1` nested at `/v1`).
/// Read from the source so that a route added there cannot be forgotten here.
fn declared_routes() -> Vec<(String, Vec<String>)> {
    let src = include_str!("../../src/routes.rs");
    let body = &src[src.find("pub fn router(").expect("the router function")..];
    let find = |from: usize, what: &str| body[from..].find(what).map(|i| from + i);
    let mut prefix = "";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(route) = find(at, ".route(") {
        if let Some(l) = find(at, "let ").filter(|l| *l < route) {
            let name: String = body[l + 4..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            prefix = match name.as_str() {
                "admin" => "/v1/admin",
                "anonymous" | "v1" => "/v1",
                other => panic!("a router `{other}` this test does not know the prefix of"),
            };
            at = l + 4;
            continue;
        }
        if let Some(t) = find(at, "\n    Router::new()").filter(|t| *t < route) {
            prefix = "";
            at = t + 5;
            continue;
        }
        let open = route + ".route(".len();
        // The call's extent: up to its matching parenthesis.
        let mut depth = 1;
        let len = body[open..]
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .expect("a closed .route(")
            .0;
        let call = &body[open..open + len];
        let path = call.split('"').nth(1).expect("a path literal");
        let methods = ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .filter(|m| {
                call.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0 || {
                        let b = call.as_bytes()[i - 1];
                        !b.is_ascii_alphanumeric() && b != b'_'
                    }
                })
            })
            .map(String::from)
            .collect::<Vec<_>>();
        assert!(!methods.is_empty(), "no method found for {path}");
        out.push((format!("{prefix}{path}"), methods));
        at = open + len;
    }
    out
}

#[test]
fn the_route_reader_finds_the_routes_it_should() {
    let routes = declared_routes();
    let has = |p: &str, m: &str| {
        routes
            .iter()
            .any(|(path, ms)| path == p && ms.iter().any(|x| x == m))
    };
    assert!(has("/", "get"), "{routes:?}");
    assert!(has("/v1/sync/push", "post"), "{routes:?}");
    assert!(has("/v1/auth/login", "post"), "{routes:?}");
    assert!(has("/v1/admin/tenants", "post"), "{routes:?}");
    assert!(has("/v1/admin/tenants/{tenant_id}", "delete"), "{routes:?}");
    assert!(routes.len() > 50, "{}", routes.len());
}

/// Every route of the router, with every method, is in the document, and every operation
/// answers its errors with the one error body.
#[test]
fn every_route_is_documented_with_its_error_body() {
    let doc = pos_sync_server::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    for (route, methods) in declared_routes() {
        for m in methods {
            assert!(
                paths.get(&route).and_then(|p| p.get(&m)).is_some(),
                "{} {route} is declared in routes.rs but not documented",
                m.to_uppercase()
            );
        }
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            for (status, r) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            assert!(
                op["responses"].get("503").is_some(),
                "{method} {path} documents 503"
            );
        }
    }
}

/// Found by the fuzzer: `GET /v1/sync/live` without the WebSocket upgrade headers was answered
/// by axum's own rejection, in `text/plain`, outside the error shape.
#[tokio::test]
async fn regression_live_without_websocket_upgrade_answers_the_typed_error() {
    let app = app().await;
    let t = app.tenant("Live").await;
    let d = app.device(&t).await;
    let r = app.get("/v1/sync/live", &d.token).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("WebSocket")),
        "{:?}",
        r.body
    );
}

/// Found by the fuzzer: a price written `3256.0` (an integer to JSON Schema, whose `integer`
/// is any number without a fraction) was refused as "expected i64".
#[tokio::test]
async fn regression_integral_float_is_read_as_an_integer() {
    let app = app().await;
    let t = app.tenant("Floats").await;
    let r = app
        .post(
            "/v1/admin/items",
            Some(&t.owner),
            json!({"sku": "F1", "name": "Float", "currency": "EUR", "price": 3256.0,
                   "tax_class": "std", "low_stock_threshold": 1e1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let item = r.body["doc_id"].as_str().expect("doc id").to_string();
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/items/{item}/prices"),
            Some(&t.owner),
            Some(json!({"price": 100.0, "store_prices": {t.store_id.to_string(): 2.5e2}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A fraction is still refused, with the typed error.
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/items/{item}/prices"),
            Some(&t.owner),
            Some(json!({"price": 100.5})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

/// Found by the fuzzer: granting a role to, or setting the PIN of, a user not in the tenant
/// answered 404, which the document did not give.
#[tokio::test]
async fn regression_role_or_pin_of_an_unknown_user_is_a_documented_404() {
    let app = app().await;
    let t = app.tenant("Nobody").await;
    let nobody = uuid::Uuid::now_v7();
    let r = app
        .post(
            &format!("/v1/admin/users/{nobody}/memberships"),
            Some(&t.owner),
            json!({"store_id": t.store_id, "role": "cashier"}),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/users/{nobody}/pin"),
            Some(&t.owner),
            Some(json!({"pin": "1234"})),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let doc = pos_sync_server::openapi::document();
    for (path, method) in [
        ("/v1/admin/users/{user_id}/memberships", "post"),
        ("/v1/admin/users/{user_id}/pin", "put"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"].get("404").is_some(),
            "{method} {path} documents 404"
        );
    }
}

/// Every `$ref` of the document names a schema it holds (a parameter's enum given by
/// `value_type` is not registered by utoipa on its own: the fuzzer found four such).
#[test]
fn regression_every_schema_reference_resolves() {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let doc = pos_sync_server::openapi::document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "{} references", all.len());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r} points into components/schemas"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} resolves"
        );
    }
}

/// Found by the fuzzer: the document gave a TOTP code as `^[0-9 ]{6,7}$`, which lets
/// `" 22845 "` (five digits) through and refuses `"1 2 3 4 5 6"`; the server's rule
/// (`twofactor::parse_code`) is six digits with any spaces, now the pattern.
#[tokio::test]
async fn regression_totp_code_pattern_is_six_digits_with_any_spaces() {
    let app = app().await;
    let doc = pos_sync_server::openapi::document();
    for schema in ["SecondStep", "ConfirmRequest"] {
        assert_eq!(
            doc["components"]["schemas"][schema]["properties"]["code"]["pattern"],
            "^ *([0-9] *){6}$",
            "{schema}"
        );
    }
    let step = |code: &str| json!({"challenge_token": "not-a-challenge", "code": code});
    let r = app.post("/v1/auth/login/2fa", None, step(" 22845 ")).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    // Six digits with spaces is a code: refused only for the unknown challenge.
    let r = app
        .post("/v1/auth/login/2fa", None, step("1 2 3 4 5 6"))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "AUTHN");
}

/// Found with the store id left random: an enrolment code for a store not in the tenant
/// answered 404 (the code's row references its store), which the document did not give.
#[tokio::test]
async fn regression_enrolment_code_for_an_unknown_store_is_a_documented_404() {
    let app = app().await;
    let t = app.tenant("Codes").await;
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", uuid::Uuid::now_v7()),
            Some(&t.owner),
            json!({}),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let doc = pos_sync_server::openapi::document();
    assert!(
        doc["paths"]["/v1/admin/stores/{store_id}/enrolment-codes"]["post"]["responses"]
            .get("404")
            .is_some()
    );
}

/// The schemas written as JSON (`wire_schema::json_schema!`) parse: a literal that did not
/// would become an empty schema, which allows anything.
#[test]
fn json_schemas_parse() {
    let doc = pos_sync_server::openapi::document();
    for name in [
        "BasisPoints",
        "Price",
        "NullablePrice",
        "Barcode",
        "CreateUser",
        "SecondStep",
        "ModuleSwitches",
        "Currency",
    ] {
        assert!(
            schema(&doc, name).get("type").is_some(),
            "{name}: {}",
            schema(&doc, name)
        );
    }
}

/// Found by the fuzzer's superadmin pass: `{"modules": {"": false}}` was valid by the document
/// (any key) and refused by the server (an unknown module); so was `{"modules": {}}`.
#[tokio::test]
async fn regression_module_switches_name_known_modules_and_at_least_one() {
    let app = app().await;
    let t = app.tenant("Switches").await;
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    let doc = pos_sync_server::openapi::document();
    let s = schema(&doc, "ModuleSwitches");
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["minProperties"], 1);
    let mut keys: Vec<&String> = s["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    keys.sort();
    let mut modules: Vec<&str> = pos_core::modules::Module::ALL
        .iter()
        .map(|m| m.as_str())
        .collect();
    modules.sort();
    assert_eq!(keys, modules);
    let path = format!("/v1/admin/tenants/{}/modules", t.tenant_id);
    for body in [json!({"modules": {"": false}}), json!({"modules": {}})] {
        let r = app.call(Method::PUT, &path, Some(&root), Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    }
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&root),
            Some(json!({"modules": {"kds": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Found while making the document exact: a device name was capped at 100 *bytes* (40 "é"s
/// and 30 emoji were refused) where the document, like every other name, says characters.
#[tokio::test]
async fn regression_device_name_is_counted_in_characters() {
    let app = app().await;
    let t = app.tenant("Names").await;
    let enrol = |name: String, code: String| json!({"code": code, "name": name});
    let code = app.enrolment_code(&t).await;
    let r = app
        .post("/v1/devices/enrol", None, enrol("🍕".repeat(100), code))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let code = app.enrolment_code(&t).await;
    let r = app
        .post("/v1/devices/enrol", None, enrol("é".repeat(101), code))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    let doc = pos_sync_server::openapi::document();
    assert_eq!(
        schema(&doc, "EnrolRequest")["properties"]["name"]["maxLength"],
        100
    );
}

/// A device route of a module answers 403 `AUTHZ` when the tenant does not have the module,
/// and the document says so (device tokens get no 403 of their own, so each such route gives
/// it in its annotation).
#[tokio::test]
async fn device_routes_of_a_module_document_their_403() {
    let app = app().await;
    let t = app.tenant("Modules").await;
    let d = app.device(&t).await;
    let root = app.token(ROOT_EMAIL, PASSWORD).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/modules", t.tenant_id),
            Some(&root),
            Some(json!({"modules": {"transfers": false, "email_receipts": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get("/v1/sync/transfers/incoming", &d.token).await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let r = app
        .post(
            "/v1/sync/receipt-emails",
            Some(&d.token),
            json!({"protocol": 1, "emails": []}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "AUTHZ");
    let doc = pos_sync_server::openapi::document();
    for (path, method) in [
        ("/v1/sync/transfers/incoming", "get"),
        ("/v1/sync/receipt-emails", "post"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"].get("403").is_some(),
            "{method} {path} documents 403"
        );
    }
}

/// The examples of a document looser than the server: a `kind` documented as nullable
/// that the server refuses, a PIN documented as any string. Both now say what the server does.
#[tokio::test]
async fn regression_enrolment_kind_is_not_nullable_and_a_pin_is_digits() {
    let app = app().await;
    let t = app.tenant("Loose").await;
    let doc = pos_sync_server::openapi::document();
    let kind = &schema(&doc, "IssueCode")["properties"]["kind"];
    assert_eq!(kind["$ref"], "#/components/schemas/DeviceKind", "{kind}");
    assert!(!schema(&doc, "IssueCode")["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|k| k == "kind")));
    let r = app
        .post(
            &format!("/v1/admin/stores/{}/enrolment-codes", t.store_id),
            Some(&t.owner),
            json!({"kind": null}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
    assert_eq!(
        schema(&doc, "SetPin")["properties"]["pin"]["pattern"],
        "^[0-9]{4,8}$"
    );
    let cashier = app.staff(&t, "Cara", "cashier").await;
    for (pin, status) in [
        ("12a4", StatusCode::BAD_REQUEST),
        ("123", StatusCode::BAD_REQUEST),
        ("123456789", StatusCode::BAD_REQUEST),
        ("1234", StatusCode::NO_CONTENT),
    ] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/admin/users/{cashier}/pin"),
                Some(&t.owner),
                Some(json!({"pin": pin})),
            )
            .await;
        assert_eq!(r.status, status, "PIN {pin:?}: {:?}", r.body);
    }
}

/// A ranged report documents `from` and `to` as required (the server answers 400 without
/// them); stock, transfers and the feed, which take no range, do not list them.
#[test]
fn reports_document_their_range_as_they_need_it() {
    let doc = pos_sync_server::openapi::document();
    let param = |report: &str, name: &str| {
        doc["paths"][format!("/v1/admin/reports/{report}")]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    };
    for report in [
        "sales-summary",
        "items",
        "tenders",
        "taxes",
        "staff",
        "shifts",
        "cash",
    ] {
        for name in ["from", "to"] {
            let p = param(report, name).unwrap_or_else(|| panic!("{report} {name}"));
            assert_eq!(p["required"], true, "{report} {name}");
            assert_eq!(p["schema"]["type"], "string", "{report} {name}");
        }
    }
    for report in ["stock", "transfers", "feed"] {
        assert!(param(report, "from").is_none(), "{report}");
        assert!(param(report, "to").is_none(), "{report}");
        assert!(param(report, "stores").is_some(), "{report}");
    }
}
