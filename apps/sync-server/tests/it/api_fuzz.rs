//! The exact OpenAPI document and what the schema-driven fuzzer (`tests/fuzz/run.sh`,
//! Schemathesis against the real binary) found: each defect a `regression_<what>` test here,
//! fixed at its root. And the document's enums checked against the core's own lists, so that
//! the mirrored schemas (`wire_schema.rs`) cannot drift.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
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
        .map(|v| serde_json::to_value(v).expect("json").as_str().expect("str").to_string())
        .collect()
}

#[test]
fn the_documents_enums_are_the_cores() {
    use pos_core::auth::{DeviceKind, Role};
    let doc = pos_sync_server::openapi::document();
    assert_eq!(
        enum_of(&doc, "Role"),
        names([Role::Owner, Role::Admin, Role::Manager, Role::Cashier, Role::Kitchen])
    );
    assert_eq!(
        enum_of(&doc, "DeviceKind"),
        names([DeviceKind::Till, DeviceKind::Kitchen])
    );
    assert_eq!(
        enum_of(&doc, "DocType"),
        names(pos_core::doc::DocType::ALL)
    );
    assert_eq!(
        enum_of(&doc, "Module"),
        names(pos_core::modules::Module::ALL.iter().copied())
    );
    assert_eq!(
        enum_of(&doc, "Currency"),
        pos_core::money::Currency::codes().map(String::from).collect::<Vec<_>>()
    );
    assert_eq!(
        enum_of(&doc, "TaxMode"),
        names([
            pos_core::money::TaxMode::Inclusive,
            pos_core::money::TaxMode::Exclusive
        ])
    );
}

/// Every route of the router is in the document, and every operation answers its errors with
/// the one error body.
#[test]
fn every_route_is_documented_with_its_error_body() {
    let doc = pos_sync_server::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/", "/health/live", "/health/ready", "/metrics", "/v1/openapi.json",
        "/v1/devices/enrol", "/v1/devices/token", "/v1/sync/push", "/v1/sync/pull",
        "/v1/sync/bootstrap", "/v1/sync/doc/{doc_id}", "/v1/sync/staff",
        "/v1/sync/entitlements", "/v1/sync/stores", "/v1/sync/transfers/incoming",
        "/v1/sync/receipt-emails", "/v1/sync/live",
    ] {
        assert!(paths.contains_key(route), "{route} is documented");
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
