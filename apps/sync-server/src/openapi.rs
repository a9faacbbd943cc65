//! The OpenAPI document of the admin and auth API, generated from the code (utoipa).

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
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "POS sync server", description = "Head-office auth and admin API. Errors: {\"error\": {\"code\", \"message\", \"details\"}}."),
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
    ),
    components(schemas(
        LoginRequest, LoginResponse, LoginAnswer, RefreshRequest,
        crate::twofactor::Challenge, crate::twofactor::Enrolment, crate::twofactor::ConfirmRequest,
        crate::twofactor::Confirmed, crate::modules::ModuleOut, crate::modules::SetModules, crate::tenant_data::TenantDeleted, crate::twofactor::SecondStep, crate::twofactor::Status, EnrolmentCode, IssueCode, CreateTenant, TenantOut,
        CreateStore, StoreOut, DeviceOut, CreateUser, UserOut, GrantRole, MembershipOut, SetPin,
        PublishItem, SetPrices, PublishedDoc, PriceConflictOut, AuditEventOut, AuditPage,
        ReceiptEmailOut, crate::webhooks::CreateEndpoint, crate::webhooks::EndpointOut,
        crate::webhooks::DeliveryOut, crate::webhooks::ReplayOut, crate::console::ConsoleSession,
        crate::console::ConsoleLoginAnswer, crate::console::ConsoleConfirmed, crate::catalog::ItemOut,
        crate::catalog::ImportOut, crate::report_types::ReportPage,
    )),
    modifiers(&Bearer),
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as `console/openapi.json` holds it (pretty, one newline at the end): the
/// console's types are generated from that file, and a test keeps it current.
pub fn pretty() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}
