//! The thin handlers of the webhook admin routes (`webhooks.rs` holds the rules).

use axum::extract::State;

use crate::auth::UserAuth;
use crate::error::{ApiError, Json, Path, Query};
use crate::state::AppState;
use crate::webhooks::{self, CreateEndpoint, DeliveryOut, DeliveryQuery, EndpointOut, ReplayOut};
use uuid::Uuid;

type R<T> = Result<Json<T>, ApiError>;

/// Creates a webhook endpoint; the answer shows its signing secret, this once.
#[utoipa::path(post, path = "/v1/admin/webhooks", tag = "admin", security(("bearer" = [])),
    request_body = CreateEndpoint,
    responses((status = 200, body = EndpointOut), (status = 400), (status = 403)))]
pub async fn create_webhook_h(
    State(s): State<AppState>,
    u: UserAuth,
    Json(req): Json<CreateEndpoint>,
) -> R<EndpointOut> {
    webhooks::create(&s, &u, req).await.map(Json)
}

/// The tenant's webhook endpoints (no secrets).
#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<EndpointOut>), (status = 403)))]
pub async fn list_webhooks_h(State(s): State<AppState>, u: UserAuth) -> R<Vec<EndpointOut>> {
    webhooks::list(&s, &u).await.map(Json)
}

/// Deletes a webhook endpoint and its deliveries.
#[utoipa::path(delete, path = "/v1/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("bearer" = [])), params(("endpoint_id" = Uuid, Path)),
    responses((status = 200), (status = 403), (status = 404)))]
pub async fn delete_webhook_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
) -> R<serde_json::Value> {
    webhooks::delete(&s, &u, id).await?;
    Ok(Json(serde_json::json!({ "deleted": id })))
}

/// Deliveries of events to the tenant's endpoints, newest first, with their state.
#[utoipa::path(get, path = "/v1/admin/webhook-deliveries", tag = "admin",
    security(("bearer" = [])), params(DeliveryQuery),
    responses((status = 200, body = Vec<DeliveryOut>), (status = 400), (status = 403)))]
pub async fn webhook_deliveries_h(
    State(s): State<AppState>,
    u: UserAuth,
    Query(q): Query<DeliveryQuery>,
) -> R<Vec<DeliveryOut>> {
    webhooks::deliveries(&s, &u, q).await.map(Json)
}

/// Sends an event again to every endpoint of the tenant.
#[utoipa::path(post, path = "/v1/admin/events/{event_id}/replay", tag = "admin",
    security(("bearer" = [])), params(("event_id" = Uuid, Path)),
    responses((status = 200, body = ReplayOut), (status = 403), (status = 404)))]
pub async fn replay_event_h(
    State(s): State<AppState>,
    u: UserAuth,
    Path(id): Path<Uuid>,
) -> R<ReplayOut> {
    webhooks::replay(&s, &u, id).await.map(Json)
}
