//! The HTTP surface: thin handlers (parse, call one function, map the result) and the router.

use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use pos_sync::wire::{
    BootstrapPage, DeviceTokenRequest, DocSnapshot, EnrolRequest, EnrolResponse, IncomingTransfer,
    PeerRecord, PullResponse, PushRequest, PushResponse, ReceiptEmailRequest, ReceiptEmailResponse,
    StaffRecord, StoreInfo, TokenResponse, MAX_BODY_BYTES,
};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::admin::{self, *};
use crate::auth::{
    self, ClientIp, DeviceAuth, LoginAnswer, LoginRequest, LoginResponse, RefreshRequest,
    SessionUser, UserAuth,
};
use crate::devices::{self, EnrolmentCode, IssueCode};
use crate::error::{ApiError, Json, Path, Query};
use crate::mail::{self, ReceiptEmailOut, ReceiptEmailQuery};
use crate::reports;
use crate::state::AppState;
use crate::sync::{self, BootstrapQuery, PullQuery};
use crate::transfers;
use crate::twofactor::{self, ConfirmRequest, Confirmed, Enrolment, SecondStep};

type R<T> = Result<Json<T>, ApiError>;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/tenants", get(list_tenants_h).post(create_tenant_h))
        .route(
            "/tenants/{tenant_id}/modules",
            get(list_modules_h).put(set_modules_h),
        )
        .route("/tenants/{tenant_id}/export", get(export_tenant_h))
        .route(
            "/tenants/{tenant_id}",
            axum::routing::delete(delete_tenant_h),
        )
        .route("/stores", get(list_stores_h).post(create_store_h))
        .route("/stores/{store_id}/enrolment-codes", post(issue_code_h))
        .route("/stores/{store_id}/devices", get(list_devices_h))
        .route("/devices/{device_id}/revoke", post(revoke_device_h))
        .route("/users", get(list_users_h).post(create_user_h))
        .route("/users/{user_id}/memberships", post(grant_role_h))
        .route(
            "/users/{user_id}/memberships/{membership_id}",
            axum::routing::delete(revoke_role_h),
        )
        .route("/users/{user_id}/pin", put(set_pin_h))
        .route(
            "/users/{user_id}/2fa",
            axum::routing::delete(reset_second_factor_h),
        )
        .route(
            "/items",
            get(crate::catalog::list_items_h).post(publish_item_h),
        )
        .route("/items/import", post(crate::catalog::import_items_h))
        .route("/items/{item_id}/prices", put(set_prices_h))
        .route("/price-conflicts", get(price_conflicts_h))
        .route("/audit", get(audit_h))
        .route("/receipt-emails", get(receipt_emails_list_h))
        .route(
            "/webhooks",
            get(crate::webhooks_routes::list_webhooks_h)
                .post(crate::webhooks_routes::create_webhook_h),
        )
        .route(
            "/webhooks/{endpoint_id}",
            axum::routing::delete(crate::webhooks_routes::delete_webhook_h),
        )
        .route(
            "/webhook-deliveries",
            get(crate::webhooks_routes::webhook_deliveries_h),
        )
        .route(
            "/events/{event_id}/replay",
            post(crate::webhooks_routes::replay_event_h),
        )
        .route("/reports/sales-summary", get(report_sales_summary_h))
        .route("/reports/items", get(report_items_h))
        .route("/reports/tenders", get(report_tenders_h))
        .route("/reports/taxes", get(report_taxes_h))
        .route("/reports/staff", get(report_staff_h))
        .route("/reports/shifts", get(report_shifts_h))
        .route("/reports/cash", get(report_cash_h))
        .route("/reports/stock", get(report_stock_h))
        .route("/reports/transfers", get(report_transfers_h))
        .route("/reports/feed", get(report_feed_h));
    // Routes reached before any token is checked (logins, refreshes, enrolment): their bodies
    // are read whole before anyone is known, so they get a small limit of their own (issue 16,
    // found by benches/abuse.rs: 38 logins of 16 MiB, each stalled before its last byte, held
    // every byte until the body deadline: the server's RSS reached 976 MiB).
    let anonymous = Router::new()
        .route("/auth/login", post(login_h))
        .route("/auth/login/2fa", post(login_second_step_h))
        .route("/auth/2fa", get(second_factor_status_h))
        .route("/auth/2fa/enrol", post(enrol_second_factor_h))
        .route("/auth/2fa/confirm", post(confirm_second_factor_h))
        .route("/auth/refresh", post(refresh_h))
        .route(
            "/auth/console/login/2fa",
            post(crate::console::login_second_step_h),
        )
        .route(
            "/auth/console/2fa/confirm",
            post(crate::console::confirm_second_factor_h),
        )
        .route("/auth/console/login", post(crate::console::login_h))
        .route("/auth/console/refresh", post(crate::console::refresh_h))
        .route("/auth/console/logout", post(crate::console::logout_h))
        .route("/devices/enrol", post(enrol_h))
        .route("/devices/token", post(device_token_h))
        .layer(DefaultBodyLimit::max(
            state.settings.max_anonymous_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.settings.max_anonymous_body_bytes,
            crate::edge::body_limit,
        ));
    let v1 = Router::new()
        .merge(anonymous)
        .route("/sync/push", post(push_h))
        .route("/sync/pull", get(pull_h))
        .route("/sync/bootstrap", get(bootstrap_h))
        .route("/sync/doc/{doc_id}", get(doc_h))
        .route("/sync/staff", get(staff_h))
        .route("/sync/peers", get(peers_h))
        .route("/sync/refusals", get(refusals_h))
        .route("/sync/entitlements", get(entitlements_h))
        .route("/sync/stores", get(stores_h))
        .route("/sync/transfers/incoming", get(incoming_transfers_h))
        .route("/sync/receipt-emails", post(receipt_emails_h))
        .route("/sync/live", get(live_h))
        .route("/openapi.json", get(openapi_h))
        .nest("/admin", admin);
    Router::new()
        .route("/", get(crate::console::index_h))
        .route("/health/live", get(live_probe))
        .route("/health/ready", get(ready_probe))
        .route("/metrics", get(metrics_h))
        .nest("/v1", v1)
        .fallback(crate::console::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::error::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::edge::limits,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            MAX_BODY_BYTES,
            crate::edge::body_limit,
        ))
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            state.settings.body_read_timeout,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_string();
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                        tenant = tracing::field::Empty,
                        device = tracing::field::Empty,
                        user = tracing::field::Empty,
                    )
                })
                .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        ms = latency.as_millis() as u64,
                        "response"
                    );
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(tower::util::option_layer(crate::edge::cors(
            &state.settings.cors_origins,
        )))
        .layer(axum::middleware::from_fn(crate::edge::security_headers))
        .with_state(state)
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::validation("method not allowed on this route").into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

#[utoipa::path(get, path = "/health/live", tag = "probes",
    description = "Liveness: the process answers.",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn live_probe() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/health/ready", tag = "probes",
    description = "Readiness: the database answers (503 `UNAVAILABLE` when it does not).",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn ready_probe(State(s): State<AppState>) -> Result<&'static str, ApiError> {
    // Not ready is a state, not a fault: 503, so that a balancer waits (the cause is logged).
    let not_ready = |why: String| {
        tracing::warn!(%why, "not ready");
        ApiError::Unavailable {
            message: "the database is not ready".into(),
            retry_after_secs: 1,
        }
    };
    let one: i32 = sqlx_core::query_scalar::query_scalar("SELECT 1")
        .fetch_one(&s.pool)
        .await
        .map_err(|e| not_ready(e.to_string()))?;
    if one == 1 {
        Ok("ready")
    } else {
        Err(not_ready(format!("SELECT 1 answered {one}")))
    }
}

#[utoipa::path(get, path = "/metrics", tag = "probes", security((), ("metrics" = [])),
    description = "Prometheus metrics (text exposition format 0.0.4). Needs the \
        `--metrics-token` as a bearer token when the server has one (401 otherwise).",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401)))]
pub async fn metrics_h(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if !crate::edge::metrics_allowed(&s, &headers) {
        return ApiError::Authn("the metrics need their bearer token".into()).into_response();
    }
    match crate::metrics::handle() {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            h.render(),
        )
            .into_response(),
        None => ApiError::Internal("metrics recorder unavailable".into()).into_response(),
    }
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "probes",
    description = "This document.",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi_h() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}

/// The OpenAPI document as `GET /v1/openapi.json` sends it, built and serialized once per
/// process: building it costs milliseconds of CPU and the route needs no token (issue 16,
/// found by `benches/abuse.rs`: 38 clients asking for it 200 times each, pipelined, made the
/// server build it over a thousand times in a few seconds, and honest pushes waited 7 s).
pub fn openapi_json() -> axum::body::Bytes {
    static DOC: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_vec(&crate::openapi::document())
            .unwrap_or_default()
            .into()
    })
    .clone()
}

// ---------------------------------------------------------------- auth and devices

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    description = "A right password answers a session, or, for a user with two-factor login \
        on, a challenge (`second_factor_required`) to answer at `/v1/auth/login/2fa`. A session \
        with `second_factor_enrolment_required` may only enrol (`/v1/auth/2fa/*`).",
    responses((status = 200, body = LoginAnswer), (status = 400), (status = 401), (status = 409),
        (status = 429)))]
pub async fn login_h(
    State(s): State<AppState>,
    ip: ClientIp,
    Json(req): Json<LoginRequest>,
) -> R<LoginAnswer> {
    auth::login(&s, &ip.0, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/modules", tag = "admin",
    security(("bearer" = [])), params(("tenant_id" = Uuid, Path)),
    description = "The tenant's modules (on unless switched off): the platform superadmin for \
        any tenant, anyone of the tenant for their own (404 for another tenant).",
    responses((status = 200, body = Vec<crate::modules::ModuleOut>), (status = 401),
        (status = 404)))]
pub async fn list_modules_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(tenant): Path<Uuid>,
) -> R<Vec<crate::modules::ModuleOut>> {
    crate::modules::list(&s, &u, tenant).await.map(Json)
}

#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/modules", tag = "admin",
    security(("bearer" = [])), params(("tenant_id" = Uuid, Path)),
    request_body = crate::modules::SetModules,
    description = "Switches modules of a tenant (platform superadmin only), each change audited. \
        A module off: its routes answer 403, its pushed documents are refused \
        (`module_disabled`), devices hide it; nothing is deleted.",
    responses((status = 200, body = Vec<crate::modules::ModuleOut>), (status = 400),
        (status = 401), (status = 403), (status = 404)))]
pub async fn set_modules_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(tenant): Path<Uuid>,
    Json(req): Json<crate::modules::SetModules>,
) -> R<Vec<crate::modules::ModuleOut>> {
    crate::modules::set(&s, &u, tenant, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/entitlements", tag = "sync", security(("device" = [])),
    description = "The tenant's modules switched off, for the device to hide them.",
    responses((status = 200, body = crate::wire_schema::EntitlementsSchema)))]
pub async fn entitlements_h(
    State(s): State<AppState>,
    d: DeviceAuth,
) -> R<pos_core::modules::Entitlements> {
    crate::modules::for_device(&s, &d).await.map(Json)
}

#[utoipa::path(post, path = "/v1/auth/login/2fa", tag = "auth", request_body = crate::wire_schema::SecondStepSchema,
    description = "The second login step: the challenge and the authenticator's code (or one \
        recovery code). A wrong code counts toward the account's lockout; a code counts once.",
    responses((status = 200, body = LoginResponse), (status = 400), (status = 401),
        (status = 429)))]
pub async fn login_second_step_h(
    State(s): State<AppState>,
    ip: ClientIp,
    Json(req): Json<SecondStep>,
) -> R<LoginResponse> {
    twofactor::second_step(&s, &ip.0, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/auth/2fa", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = twofactor::Status), (status = 401)))]
pub async fn second_factor_status_h(
    State(s): State<AppState>,
    u: SessionUser,
) -> R<twofactor::Status> {
    twofactor::status(&s, u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/auth/2fa/enrol", tag = "auth", security(("bearer" = [])),
    description = "Begins (or begins again) two-factor enrolment: a new secret, its otpauth URI \
        and QR code. 409 once two-factor is on. Takes an enrolment-only token too.",
    responses((status = 200, body = Enrolment), (status = 401), (status = 409)))]
pub async fn enrol_second_factor_h(State(s): State<AppState>, u: SessionUser) -> R<Enrolment> {
    twofactor::enrol(&s, u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/auth/2fa/confirm", tag = "auth", security(("bearer" = [])),
    request_body = ConfirmRequest,
    description = "Turns two-factor on with a first code: answers ten one-time recovery codes \
        (shown once) and a full session.",
    responses((status = 200, body = Confirmed), (status = 400), (status = 401), (status = 409)))]
pub async fn confirm_second_factor_h(
    State(s): State<AppState>,
    u: SessionUser,
    Json(req): Json<ConfirmRequest>,
) -> R<Confirmed> {
    twofactor::confirm(&s, u, req).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/2fa", tag = "admin",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    description = "Turns a user's two-factor login off (lost phone and codes); needs \
        `tenant.admin` and a rank above theirs. They enrol again when their role requires it.",
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn reset_second_factor_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    twofactor::reset(&s, &u, id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = LoginResponse), (status = 401)))]
pub async fn refresh_h(
    State(s): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> R<LoginResponse> {
    auth::refresh(&s, req).await.map(Json)
}

#[utoipa::path(post, path = "/v1/devices/enrol", tag = "devices",
    request_body = crate::wire_schema::EnrolRequestSchema,
    description = "A device trades a one-time enrolment code (from \
        `/v1/admin/stores/{store_id}/enrolment-codes`) for its long-lived credential. 401 for an \
        unknown or expired code, 409 for a used one; attempts are rate-limited per address.",
    responses((status = 200, body = crate::wire_schema::EnrolResponseSchema), (status = 401),
        (status = 409), (status = 429)))]
pub async fn enrol_h(
    State(s): State<AppState>,
    ip: ClientIp,
    Json(req): Json<EnrolRequest>,
) -> R<EnrolResponse> {
    devices::enrol(&s, &ip.0, req).await.map(Json)
}

#[utoipa::path(post, path = "/v1/devices/token", tag = "devices",
    request_body = crate::wire_schema::DeviceTokenRequestSchema,
    description = "A device trades its credential for a short-lived access token (the `device` \
        scheme). 401 for an unknown device, a wrong secret or a revoked device.",
    responses((status = 200, body = crate::wire_schema::TokenResponseSchema), (status = 401)))]
pub async fn device_token_h(
    State(s): State<AppState>,
    Json(req): Json<DeviceTokenRequest>,
) -> R<TokenResponse> {
    devices::token(&s, req).await.map(Json)
}

// ---------------------------------------------------------------- sync

#[utoipa::path(post, path = "/v1/sync/push", tag = "sync", security(("device" = [])),
    request_body = crate::wire_schema::PushRequestSchema,
    description = "Pushes automerge changes: one result per change, in order (a refused change \
        is answered `rejected`, not with an error status). 409 when a document of the batch was \
        created concurrently (push again).",
    responses((status = 200, body = crate::wire_schema::PushResponseSchema), (status = 409)))]
pub async fn push_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Json(req): Json<PushRequest>,
) -> R<PushResponse> {
    sync::push(&s, &d, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/pull", tag = "sync", security(("device" = [])),
    params(PullQuery),
    description = "The changes of the device's scopes after `cursor`, never its own.",
    responses((status = 200, body = crate::wire_schema::PullResponseSchema)))]
pub async fn pull_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Query(q): Query<PullQuery>,
) -> R<PullResponse> {
    sync::pull(&s, &d, q).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/bootstrap", tag = "sync", security(("device" = [])),
    params(BootstrapQuery),
    description = "The store's and the tenant-wide documents as snapshots, a page at a time.",
    responses((status = 200, body = crate::wire_schema::BootstrapPageSchema)))]
pub async fn bootstrap_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Query(q): Query<BootstrapQuery>,
) -> R<BootstrapPage> {
    sync::bootstrap(&s, &d, q).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/doc/{doc_id}", tag = "sync", security(("device" = [])),
    params(("doc_id" = Uuid, Path)),
    description = "One document's current state (to reset a refused document). 404 when it is \
        not in the device's scope.",
    responses((status = 200, body = crate::wire_schema::DocSnapshotSchema), (status = 404)))]
pub async fn doc_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Path(id): Path<Uuid>,
) -> R<DocSnapshot> {
    sync::doc(&s, &d, id).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/staff", tag = "sync", security(("device" = [])),
    description = "The store's staff with their PIN hashes, for offline PIN login.",
    responses((status = 200, body = Vec<crate::wire_schema::StaffRecordSchema>)))]
pub async fn staff_h(State(s): State<AppState>, d: DeviceAuth) -> R<Vec<StaffRecord>> {
    devices::staff(&s, &d).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/peers", tag = "sync", security(("device" = [])),
    description = "The store's enrolled, non-revoked devices with a registered key: who may talk \
        on the store's LAN, and whose signatures a device accepts.",
    responses((status = 200, body = Vec<crate::wire_schema::PeerRecordSchema>)))]
pub async fn peers_h(State(s): State<AppState>, d: DeviceAuth) -> R<Vec<PeerRecord>> {
    devices::peers(&s, &d).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/refusals", tag = "sync", security(("device" = [])),
    params(crate::sync::RefusalsQuery),
    description = "Changes the server refused in pushes of the device's store, after `after`, \
        oldest first, at most 500 a page (`more` says whether others wait). A device that \
        applied one from a peer of the store mesh undoes it and what was built on it.",
    responses((status = 200, body = crate::wire_schema::RefusalsPageSchema)))]
pub async fn refusals_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Query(q): Query<crate::sync::RefusalsQuery>,
) -> R<pos_sync::wire::RefusalsPage> {
    sync::refusals(&s, &d, q).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/stores", tag = "sync", security(("device" = [])),
    description = "The stores of the device's tenant (where stock can be sent).",
    responses((status = 200, body = Vec<crate::wire_schema::StoreInfoSchema>)))]
pub async fn stores_h(State(s): State<AppState>, d: DeviceAuth) -> R<Vec<StoreInfo>> {
    transfers::stores(&s, &d).await.map(Json)
}

#[utoipa::path(get, path = "/v1/sync/transfers/incoming", tag = "sync",
    security(("device" = [])),
    description = "Transfers other stores sent to this one that it has not received yet. 403 \
        without the `transfers` module.",
    responses((status = 200, body = Vec<crate::wire_schema::IncomingTransferSchema>),
        (status = 403)))]
pub async fn incoming_transfers_h(
    State(s): State<AppState>,
    d: DeviceAuth,
) -> R<Vec<IncomingTransfer>> {
    transfers::incoming(&s, &d).await.map(Json)
}

#[utoipa::path(post, path = "/v1/sync/receipt-emails", tag = "sync", security(("device" = [])),
    request_body = crate::wire_schema::ReceiptEmailRequestSchema,
    description = "Queues receipts to email: one result per email, in order (a bad address or an \
        unknown document is answered `refused`, not with an error status). 403 without the \
        `email_receipts` module.",
    responses((status = 200, body = crate::wire_schema::ReceiptEmailResponseSchema),
        (status = 403)))]
pub async fn receipt_emails_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    Json(req): Json<ReceiptEmailRequest>,
) -> R<ReceiptEmailResponse> {
    mail::receipt_emails(&s, &d, req).await.map(Json)
}

/// The live channel carries a few bytes each way ("more" with a sequence; close), so its buffers
/// are small: tungstenite's defaults (128 KiB to read and 128 KiB to write, per connection) made
/// 1,000 connected devices cost about 128 MB (docs/benchmarks.md).
#[utoipa::path(get, path = "/v1/sync/live", tag = "sync", security(("device" = [])),
    description = "The live channel, a WebSocket: the server sends `{\"type\": \"more\", \"seq\": N}` \
        when the store's scope has changes up to `seq`. A request that is not a WebSocket \
        upgrade is answered 400.",
    responses((status = 101, description = "Switching to the WebSocket protocol.")))]
pub async fn live_h(
    State(s): State<AppState>,
    d: DeviceAuth,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::validation(format!(
                "this route is a WebSocket: {}",
                e.body_text().to_lowercase()
            ))
            .into_response()
        }
    };
    ws.read_buffer_size(sync::LIVE_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(sync::LIVE_BUFFER)
        .max_message_size(sync::LIVE_BUFFER)
        .max_frame_size(sync::LIVE_BUFFER)
        .on_upgrade(move |socket| sync::live(s, d, socket))
}

// ---------------------------------------------------------------- admin

#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<TenantOut>), (status = 403)))]
pub async fn list_tenants_h(State(s): State<AppState>, u: UserAuth) -> R<Vec<TenantOut>> {
    admin::list_tenants(&s, &u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", security(("bearer" = [])),
    request_body = CreateTenant, responses((status = 200, body = TenantOut), (status = 403), (status = 409)))]
pub async fn create_tenant_h(
    State(s): State<AppState>,
    u: UserAuth,
    Json(req): Json<CreateTenant>,
) -> R<TenantOut> {
    admin::create_tenant(&s, &u, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/export", tag = "admin",
    security(("bearer" = [])), params(("tenant_id" = Uuid, Path)),
    description = "Every automerge document and projection row of one tenant, as one JSON Lines \
        file (`pos-tenant-export/1`: a `tenant` line, `store` lines, `document` lines with the \
        automerge bytes in base64, `row` lines per projection table, an `end` line with the \
        counts). Platform superadmin only; audited in the platform's log.",
    responses((status = 200, content_type = "application/x-ndjson", body = String),
        (status = 401), (status = 403), (status = 404)))]
pub async fn export_tenant_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(tenant): Path<Uuid>,
) -> Result<Response, ApiError> {
    let lines = crate::tenant_data::export(&s, &u, tenant).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-ndjson".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tenant-{tenant}.jsonl\""),
            ),
        ],
        axum::body::Body::from_stream(lines),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}", tag = "admin",
    security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), crate::tenant_data::DeleteTenantQuery),
    description = "Deletes every row of a tenant (documents, projections, stores, devices, \
        users, its audit log, its data keys) in one transaction. `confirm` must be the tenant's \
        exact name. Platform superadmin only; recorded in the platform's audit log.",
    responses((status = 200, body = crate::tenant_data::TenantDeleted), (status = 400),
        (status = 401), (status = 403), (status = 404)))]
pub async fn delete_tenant_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(tenant): Path<Uuid>,
    Query(q): Query<crate::tenant_data::DeleteTenantQuery>,
) -> R<crate::tenant_data::TenantDeleted> {
    crate::tenant_data::delete(&s, &u, tenant, q.confirm.as_deref())
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/v1/admin/stores", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<StoreOut>)))]
pub async fn list_stores_h(State(s): State<AppState>, u: UserAuth) -> R<Vec<StoreOut>> {
    admin::list_stores(&s, &u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/stores", tag = "admin", security(("bearer" = [])),
    request_body = CreateStore, responses((status = 200, body = StoreOut), (status = 409)))]
pub async fn create_store_h(
    State(s): State<AppState>,
    u: UserAuth,
    Json(req): Json<CreateStore>,
) -> R<StoreOut> {
    admin::create_store(&s, &u, req).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/stores/{store_id}/enrolment-codes", tag = "admin",
    security(("bearer" = [])), params(("store_id" = Uuid, Path)), request_body = IssueCode,
    description = "A one-time enrolment code for a device of the store (a till unless `kind` \
        says `kitchen`; no body is `{}`). 404 for a store not in the tenant.",
    responses((status = 200, body = EnrolmentCode), (status = 400), (status = 403),
        (status = 404)))]
pub async fn issue_code_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(store): Path<Uuid>,
    body: axum::body::Bytes,
) -> R<EnrolmentCode> {
    // No body at all (`curl -X POST`) means a till's code, like `{}`.
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        devices::IssueCode::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("malformed JSON body: {e}")))?
    };
    devices::issue_code(&s, &u, store, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/stores/{store_id}/devices", tag = "admin",
    security(("bearer" = [])), params(("store_id" = Uuid, Path)),
    responses((status = 200, body = Vec<DeviceOut>)))]
pub async fn list_devices_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(store): Path<Uuid>,
) -> R<Vec<DeviceOut>> {
    admin::list_devices(&s, &u, store).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/devices/{device_id}/revoke", tag = "admin",
    security(("bearer" = [])), params(("device_id" = Uuid, Path)),
    responses((status = 200, body = DeviceOut), (status = 404)))]
pub async fn revoke_device_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
) -> R<DeviceOut> {
    admin::revoke_device(&s, &u, id).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserOut>)))]
pub async fn list_users_h(State(s): State<AppState>, u: UserAuth) -> R<Vec<UserOut>> {
    admin::list_users(&s, &u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = crate::wire_schema::CreateUserSchema, responses((status = 200, body = UserOut), (status = 409)))]
pub async fn create_user_h(
    State(s): State<AppState>,
    u: UserAuth,
    Json(req): Json<CreateUser>,
) -> R<UserOut> {
    admin::create_user(&s, &u, req).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/users/{user_id}/memberships", tag = "admin",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = GrantRole,
    description = "Grants a role, tenant-wide or in a store. 404 for a user or store not in the \
        tenant; 409 when the user already has a role in that scope.",
    responses((status = 200, body = MembershipOut), (status = 404), (status = 409)))]
pub async fn grant_role_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
    Json(req): Json<GrantRole>,
) -> R<MembershipOut> {
    admin::grant_role(&s, &u, id, req).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/memberships/{membership_id}", tag = "admin",
    security(("bearer" = [])), params(("user_id" = Uuid, Path), ("membership_id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
pub async fn revoke_role_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path((id, m)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_role(&s, &u, id, m)
        .await
        .map(|_| StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/v1/admin/users/{user_id}/pin", tag = "admin",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = SetPin,
    description = "Sets a staff member's PIN (its argon2id hash syncs to the store's devices). \
        404 for a user not in the tenant.",
    responses((status = 204), (status = 404)))]
pub async fn set_pin_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
    Json(req): Json<SetPin>,
) -> Result<StatusCode, ApiError> {
    admin::set_pin(&s, &u, id, req)
        .await
        .map(|_| StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/admin/items", tag = "admin", security(("bearer" = [])),
    request_body = PublishItem, responses((status = 200, body = PublishedDoc), (status = 400)))]
pub async fn publish_item_h(
    State(s): State<AppState>,
    u: UserAuth,
    Json(req): Json<PublishItem>,
) -> R<PublishedDoc> {
    admin::publish_item(&s, &u, req).await.map(Json)
}

#[utoipa::path(put, path = "/v1/admin/items/{item_id}/prices", tag = "admin",
    security(("bearer" = [])), params(("item_id" = Uuid, Path)), request_body = SetPrices,
    responses((status = 200, body = PublishedDoc), (status = 404)))]
pub async fn set_prices_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
    Json(req): Json<SetPrices>,
) -> R<PublishedDoc> {
    admin::set_prices(&s, &u, id, req).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/price-conflicts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<PriceConflictOut>)))]
pub async fn price_conflicts_h(State(s): State<AppState>, u: UserAuth) -> R<Vec<PriceConflictOut>> {
    admin::price_conflicts(&s, &u).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = AuditPage)))]
pub async fn audit_h(
    State(s): State<AppState>,
    u: UserAuth,
    Query(q): Query<PageQuery>,
) -> R<AuditPage> {
    admin::audit_log(&s, &u, q).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/receipt-emails", tag = "admin", security(("bearer" = [])),
    params(ReceiptEmailQuery), responses((status = 200, body = Vec<ReceiptEmailOut>), (status = 403)))]
pub async fn receipt_emails_list_h(
    State(s): State<AppState>,
    u: UserAuth,
    Query(q): Query<ReceiptEmailQuery>,
) -> R<Vec<ReceiptEmailOut>> {
    mail::list(&s, &u, q).await.map(Json)
}

// ---------------------------------------------------------------- reports

macro_rules! report_handlers {
    ($($name:ident => $report:ident, $path:literal, $what:literal;)*) => {$(
        #[doc = $what]
        #[utoipa::path(get, path = $path, tag = "reports", security(("bearer" = [])),
            params(reports::ReportQuery),
            description = "JSON `{report, columns, data, pagination, range, stores, freshness}`, or CSV with `format=csv`.",
            responses((status = 200, description = $what, content((crate::report_types::ReportPage = "application/json"), (String = "text/csv"))), (status = 400), (status = 403), (status = 404)))]
        pub async fn $name(
            State(s): State<AppState>,
            u: UserAuth,
            Query(q): Query<reports::ReportQuery>,
        ) -> Result<Response, ApiError> {
            reports::respond(&s, &u, reports::Report::$report, q).await
        }
    )*};
}

report_handlers! {
    report_sales_summary_h => SalesSummary, "/v1/admin/reports/sales-summary", "Sales by store, business day or hour.";
    report_items_h => Items, "/v1/admin/reports/items", "Item or category mix: quantity, sales, share.";
    report_tenders_h => Tenders, "/v1/admin/reports/tenders", "Tender mix per store and day, split payments per tender.";
    report_taxes_h => Taxes, "/v1/admin/reports/taxes", "Tax per rate, store and day.";
    report_staff_h => Staff, "/v1/admin/reports/staff", "Discounts, voids, refunds and no-sales per cashier, with the store's rates.";
    report_shifts_h => Shifts, "/v1/admin/reports/shifts", "Z reconciliation: each Z report against the master's figures for its shift.";
    report_cash_h => Cash, "/v1/admin/reports/cash", "Cash over/short per shift or cashier.";
    report_stock_h => Stock, "/v1/admin/reports/stock", "Stock on hand, low, oversold, value at cost.";
    report_transfers_h => Transfers, "/v1/admin/reports/transfers", "Stock transfers in transit.";
    report_feed_h => Feed, "/v1/admin/reports/feed", "Closed sales and refunds after a cursor, for head office's own tools.";
}
