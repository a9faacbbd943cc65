//! The OpenAPI document of the whole HTTP API, generated from the code (utoipa): head office's
//! auth and admin routes, the devices' enrolment and sync routes, the probes.
//!
//! The handlers' annotations give each route's own answers; [`document`] then adds the answers
//! every route of a kind can give (from the layers and extractors they all pass through) and
//! gives every error answer the one error body. The schema-driven fuzzer (`tests/fuzz/run.sh`)
//! holds the real server to this document.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::admin::*;
use crate::auth::{LoginAnswer, LoginRequest, LoginResponse, RefreshRequest};
use crate::devices::{EnrolmentCode, IssueCode};
use crate::mail::ReceiptEmailOut;
use crate::routes::*;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "A head-office user's access token (`/v1/auth/login`, \
                             `/v1/auth/refresh`, the console's login).",
                        ))
                        .build(),
                ),
            );
            c.add_security_scheme(
                "device",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An enrolled device's access token (`/v1/devices/token`, from the \
                             credential `/v1/devices/enrol` answered). Revocation takes effect \
                             on the next request.",
                        ))
                        .build(),
                ),
            );
            c.add_security_scheme(
                "metrics",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "The `--metrics-token`, when the server has one; without it \
                             `/metrics` is open.",
                        ))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "POS sync server", description = "Head office's auth and admin API, the devices' \
        enrolment and sync API, the probes. Errors: {\"error\": {\"code\", \"message\", \"details\"}} \
        (`ErrorBody`). No string may hold U+0000, in a body or (as `%00`) in the address: such a \
        request is answered 400."),
    paths(
        login_h, login_second_step_h, second_factor_status_h, enrol_second_factor_h,
        confirm_second_factor_h, reset_second_factor_h, refresh_h,
        crate::console::login_h, crate::console::login_second_step_h,
        crate::console::confirm_second_factor_h, crate::console::refresh_h, crate::console::logout_h,
        crate::catalog::list_items_h, crate::catalog::import_items_h,
        list_tenants_h, create_tenant_h, export_tenant_h, delete_tenant_h, list_modules_h, set_modules_h, list_stores_h, create_store_h, issue_code_h,
        list_devices_h, revoke_device_h, list_users_h, create_user_h, grant_role_h,
        revoke_role_h, set_pin_h, publish_item_h, set_prices_h, price_conflicts_h, audit_h,
        receipt_emails_list_h,
        crate::webhooks_routes::create_webhook_h, crate::webhooks_routes::list_webhooks_h,
        crate::webhooks_routes::delete_webhook_h, crate::webhooks_routes::webhook_deliveries_h,
        crate::webhooks_routes::replay_event_h,
        report_sales_summary_h, report_items_h, report_tenders_h, report_taxes_h, report_staff_h,
        report_shifts_h, report_cash_h, report_stock_h, report_transfers_h, report_feed_h,
        enrol_h, device_token_h, push_h, pull_h, bootstrap_h, doc_h, staff_h, peers_h, refusals_h, entitlements_h,
        stores_h, incoming_transfers_h, receipt_emails_h, live_h,
        live_probe, ready_probe, metrics_h, openapi_h, crate::console::index_h,
    ),
    components(schemas(
        LoginRequest, LoginResponse, LoginAnswer, RefreshRequest,
        crate::twofactor::Challenge, crate::twofactor::Enrolment, crate::twofactor::ConfirmRequest,
        crate::twofactor::Confirmed, crate::modules::ModuleOut, crate::modules::SetModules, crate::tenant_data::TenantDeleted, crate::wire_schema::SecondStepSchema, crate::twofactor::Status, EnrolmentCode, IssueCode, CreateTenant, TenantOut,
        CreateStore, StoreOut, DeviceOut, crate::wire_schema::CreateUserSchema, UserOut, GrantRole, MembershipOut, SetPin,
        PublishItem, SetPrices, PublishedDoc, PriceConflictOut, AuditEventOut, AuditPage,
        ReceiptEmailOut, crate::webhooks::CreateEndpoint, crate::webhooks::EndpointOut,
        crate::webhooks::DeliveryOut, crate::webhooks::ReplayOut, crate::console::ConsoleSession,
        crate::console::ConsoleLoginAnswer, crate::console::ConsoleConfirmed, crate::catalog::ItemOut,
        crate::catalog::ImportOut, crate::report_types::ReportPage,
        crate::wire_schema::ErrorBodySchema, crate::reports::RefundsBy, crate::reports::ReportGroup,
        crate::reports::ReportFormat, crate::webhooks::DeliveryStatus,
    )),
    modifiers(&Bearer),
)]
struct ApiDoc;

/// Routes that take an enrolment-only user token (`auth::SessionUser`).
const SESSION_ONLY: &[&str] = &[
    "/v1/auth/2fa",
    "/v1/auth/2fa/enrol",
    "/v1/auth/2fa/confirm",
    "/v1/auth/console/2fa/confirm",
];

fn error_description(status: &str) -> &'static str {
    match status {
        "400" => "`VALIDATION`: the request is malformed or a value is invalid.",
        "401" => "`AUTHN`: no valid credential (`WWW-Authenticate: Bearer`).",
        "403" => "`AUTHZ`: authenticated, but not allowed.",
        "404" => "`NOT_FOUND`.",
        "405" => "`VALIDATION`: the method is not allowed on this route.",
        "408" => "`VALIDATION`: the body did not arrive in time (the connection is closed).",
        "409" => "`CONFLICT`: the request conflicts with the current state.",
        "413" => "`VALIDATION`: the body is larger than 16 MiB (`details.limit`).",
        "429" => "`RATE_LIMIT`: too many requests; `Retry-After` and `details.retry_after_secs`.",
        "503" => "`UNAVAILABLE`: too busy now, or over the request timeout; `Retry-After`.",
        _ => "An error.",
    }
}

/// The OpenAPI document: the handlers' annotations; the answers every route of a kind can
/// give, beyond its handler's own, added to each:
///
/// - `400` anywhere: a `%00` in the address (`error::refuse_nul_in_uri`), a path or query
///   parameter that does not parse, a body that is not the JSON its schema describes (a string
///   holding U+0000 included).
/// - `408` and `413` with a request body: not received within the body read timeout, or larger
///   than 16 MiB.
/// - `401` and `429` with a token: missing, expired, revoked or of the wrong kind; over the
///   tenant's request budget.
/// - `403` with a user token that only opens second-factor enrolment ([`SESSION_ONLY`] routes
///   take it).
/// - `503` anywhere: too many requests at once, or over the request timeout (`edge::limits`).
///
/// And the one error body on every error answer.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let error_content = serde_json::json!({
        "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                    continue;
                }
                let schemes: Vec<String> = op
                    .get("security")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_object())
                    .flat_map(|r| r.keys().cloned())
                    .collect();
                let has_body = op.get("requestBody").is_some();
                let mut add = vec!["400", "503"];
                if has_body {
                    add.extend(["408", "413"]);
                }
                if schemes.iter().any(|s| s == "bearer" || s == "device") {
                    add.extend(["401", "429"]);
                }
                if schemes.iter().any(|s| s == "bearer") && !SESSION_ONLY.contains(&path.as_str()) {
                    add.push("403");
                }
                let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut())
                else {
                    continue;
                };
                for status in add {
                    responses
                        .entry(status)
                        .or_insert_with(|| serde_json::json!({}));
                }
                for (status, response) in responses.iter_mut() {
                    if status.starts_with('2') || status.starts_with('1') {
                        continue;
                    }
                    let Some(r) = response.as_object_mut() else {
                        continue;
                    };
                    let described = r
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_some_and(|d| !d.is_empty());
                    if !described {
                        r.insert("description".into(), error_description(status).into());
                    }
                    r.entry("content").or_insert_with(|| error_content.clone());
                }
            }
        }
    }
    report_ranges(&mut doc);
    add_uuid_patterns(&mut doc);
    doc
}

/// The reports share one query type, whose `from` and `to` are optional to serde; the
/// document says what each report needs: both required for a ranged report, neither for the
/// others (stock, transfers, feed), which ignore them.
fn report_ranges(doc: &mut serde_json::Value) {
    for report in crate::reports::Report::ALL {
        let path = format!("/v1/admin/reports/{}", report.name());
        let Some(params) = doc
            .pointer_mut(&format!(
                "/paths/{}/get/parameters",
                path.replace('/', "~1")
            ))
            .and_then(|p| p.as_array_mut())
        else {
            continue;
        };
        let is_range = |p: &serde_json::Value| matches!(p["name"].as_str(), Some("from" | "to"));
        if report.ranged() {
            for p in params.iter_mut().filter(|p| is_range(p)) {
                p["required"] = true.into();
                p["schema"]["type"] = "string".into();
            }
        } else {
            params.retain(|p| !is_range(p));
        }
    }
}

/// A UUID in its hyphenated form: the pattern every `format: uuid` string gets, so that a
/// generator that does not know the format (or a reader that ignores it) still knows its form.
const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

fn add_uuid_patterns(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            if o.get("format").and_then(|f| f.as_str()) == Some("uuid")
                && !o.contains_key("pattern")
            {
                o.insert("pattern".into(), UUID_PATTERN.into());
            }
            o.values_mut().for_each(add_uuid_patterns);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(add_uuid_patterns),
        _ => {}
    }
}

/// The document as `console/openapi.json` holds it (pretty, one newline at the end): the
/// console's types are generated from that file, and a test keeps it current.
pub fn pretty() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}
