//! Module entitlements per tenant (issue 13), from the registry `pos_core::modules`: the
//! platform superadmin switches them (audited); routes of a module that is off answer 403
//! `AUTHZ`, pushed documents of it are refused by the policy (`module_disabled`), and devices
//! get the tenant's entitlements with their staff list. Nothing is deleted.

use std::collections::BTreeMap;

use pos_core::modules::{Entitlements, Module};
use serde::{Deserialize, Serialize};
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{DeviceAuth, UserAuth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// The tenant's entitlements (every module without a row is on).
pub async fn of_tenant(
    conn: &mut sqlx_postgres::PgConnection,
    tenant: Uuid,
) -> Result<Entitlements, ApiError> {
    let rows: Vec<(String,)> =
        query_as("SELECT module FROM tenant_modules WHERE tenant_id = $1 AND NOT enabled")
            .bind(tenant)
            .fetch_all(conn)
            .await?;
    Ok(Entitlements {
        off: rows.iter().filter_map(|(m,)| m.parse().ok()).collect(),
    })
}

/// Refuses (403 `AUTHZ`) when the tenant does not have `module`.
pub async fn require(state: &AppState, tenant: Uuid, module: Module) -> Result<(), ApiError> {
    let mut conn = state.pool.acquire().await?;
    if of_tenant(&mut conn, tenant).await?.enabled(module) {
        Ok(())
    } else {
        Err(ApiError::Authz(format!(
            "the {module} module is off for this tenant ({}); the platform can turn it on",
            module.description()
        )))
    }
}

/// One module of a tenant, as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleOut {
    #[schema(value_type = crate::wire_schema::ModuleSchema)]
    pub module: String,
    pub enabled: bool,
    pub description: String,
}

/// Modules to switch: `{"modules": {"kds": false, "reports": true}}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SetModules {
    #[schema(value_type = crate::wire_schema::ModuleSwitchesSchema)]
    pub modules: BTreeMap<String, bool>,
}

fn listing(e: &Entitlements) -> Vec<ModuleOut> {
    Module::ALL
        .iter()
        .map(|m| ModuleOut {
            module: m.as_str().to_string(),
            enabled: e.enabled(*m),
            description: m.description().to_string(),
        })
        .collect()
}

/// `GET /v1/admin/tenants/{tenant_id}/modules`: the superadmin for any tenant, anyone of the
/// tenant for their own.
pub async fn list(
    state: &AppState,
    user: &UserAuth,
    tenant: Uuid,
) -> Result<Vec<ModuleOut>, ApiError> {
    if !user.superadmin && user.tenant_id != tenant {
        return Err(ApiError::NotFound(format!("no tenant {tenant}")));
    }
    let mut conn = state.pool.acquire().await?;
    Ok(listing(&of_tenant(&mut conn, tenant).await?))
}

/// `PUT /v1/admin/tenants/{tenant_id}/modules`: the platform superadmin switches modules, each
/// change audited in the tenant's log.
pub async fn set(
    state: &AppState,
    user: &UserAuth,
    tenant: Uuid,
    req: SetModules,
) -> Result<Vec<ModuleOut>, ApiError> {
    if !user.superadmin {
        return Err(ApiError::Authz(
            "only the platform superadmin switches a tenant's modules".into(),
        ));
    }
    if req.modules.is_empty() {
        return Err(ApiError::validation("name at least one module to switch"));
    }
    let mut wanted = Vec::new();
    for (name, on) in &req.modules {
        let m: Module = name.parse().map_err(|_| {
            ApiError::validation(format!(
                "unknown module {name:?}; the modules are {}",
                Module::ALL
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        wanted.push((m, *on));
    }
    let mut tx = state.pool.begin().await?;
    let exists: bool = sqlx_core::query_scalar::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)",
    )
    .bind(tenant)
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(ApiError::NotFound(format!("no tenant {tenant}")));
    }
    let before = of_tenant(&mut tx, tenant).await?;
    for (m, on) in wanted {
        if before.enabled(m) == on {
            continue;
        }
        query(
            "INSERT INTO tenant_modules (tenant_id, module, enabled, changed_at, changed_by)
             VALUES ($1, $2, $3, now_ms(), $4)
             ON CONFLICT (tenant_id, module) DO UPDATE
               SET enabled = EXCLUDED.enabled, changed_at = EXCLUDED.changed_at,
                   changed_by = EXCLUDED.changed_by",
        )
        .bind(tenant)
        .bind(m.as_str())
        .bind(on)
        .bind(user.user_id)
        .execute(&mut *tx)
        .await?;
        db::audit(
            &mut tx,
            tenant,
            Some(user.user_id),
            None,
            "tenant.module",
            &format!("module:{m}"),
            serde_json::json!({ "before": { "enabled": !on }, "after": { "enabled": on } }),
        )
        .await?;
    }
    let after = of_tenant(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(listing(&after))
}

/// `GET /v1/sync/entitlements`: the device's tenant's modules.
pub async fn for_device(state: &AppState, device: &DeviceAuth) -> Result<Entitlements, ApiError> {
    let mut conn = state.pool.acquire().await?;
    of_tenant(&mut conn, device.tenant_id).await
}
