//! The head-office admin API under `/v1/admin`: tenants (platform superadmin), stores, devices,
//! users and roles, staff PINs, catalog publishing, price conflicts and the audit log. Every
//! mutation writes an audit event with tenant, actor and a diff, in its own transaction.

use std::collections::BTreeMap;

use pos_core::auth::{can, Permission, Role};
use pos_core::catalog::{Item, StoreSettings};
use pos_core::doc::{DocType, Envelope};
use pos_core::money::TaxMode;
use pos_core::secret::{check_pin, hash_secret};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{check_rank, require, require_rank, roles_in, strongest, UserAuth};
use crate::db::{self, now_ms};
use crate::docs::{write_as_server, SERVER_DEVICE};
use crate::error::ApiError;
use crate::state::AppState;

/// A name (tenant, store, user): trimmed, 1 to 200 characters, no NUL (`pos_core::text`).
pub(crate) fn check_name(what: &str, s: &str) -> Result<String, ApiError> {
    pos_core::text::required(what, s, 200).map_err(|e| ApiError::validation(e.to_string()))
}

/// A head-office login email: trimmed and lower-cased, at most 254 characters (RFC 5321), with
/// an `@` between two non-empty parts. The length is checked before anything is copied, and the
/// value is echoed in the error only when it is short.
pub(crate) fn check_email(s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    pos_core::text::check("email", t, pos_core::email::MAX_EMAIL_LEN)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let t = t.to_lowercase();
    if !t.contains('@') || t.starts_with('@') || t.ends_with('@') {
        return Err(ApiError::validation(format!(
            "{t:?} is not an email address"
        )));
    }
    Ok(t)
}

async fn hash_blocking(secret: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::validation(e.to_string()))
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if (8..=256).contains(&p.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::validation(
            "a password must be 8 to 256 characters",
        ))
    }
}

// ---------------------------------------------------------------- tenants

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateTenant {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^@\s]+$")]
    pub owner_email: String,
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub owner_name: String,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub owner_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantOut {
    pub tenant_id: Uuid,
    pub name: String,
    pub created_at: i64,
    /// Set when the tenant was just created with its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<Uuid>,
}

/// Creates a tenant with its owner (a head-office user with the tenant-wide `owner` role).
pub async fn create_tenant(
    state: &AppState,
    user: &UserAuth,
    req: CreateTenant,
) -> Result<TenantOut, ApiError> {
    if !user.superadmin {
        return Err(ApiError::Authz(
            "only a platform superadmin manages tenants".into(),
        ));
    }
    let name = check_name("tenant name", &req.name)?;
    let email = check_email(&req.owner_email)?;
    let owner_name = check_name("owner name", &req.owner_name)?;
    check_password(&req.owner_password)?;
    let hash = hash_blocking(req.owner_password).await?;
    let (tenant, owner) = (Uuid::now_v7(), Uuid::now_v7());
    let now = now_ms();
    let mut tx = state.pool.begin().await?;
    create_tenant_rows(
        &mut tx,
        (&state.pool, &state.keys),
        tenant,
        &name,
        owner,
        &email,
        &owner_name,
        &hash,
        false,
    )
    .await?;
    db::audit(
        &mut tx,
        tenant,
        Some(user.user_id),
        None,
        "tenant.create",
        &format!("tenant:{tenant}"),
        // No email or person's name: the audit log holds no personal data in clear.
        json!({ "after": { "name": name, "owner_user_id": owner } }),
    )
    .await?;
    tx.commit().await?;
    Ok(TenantOut {
        tenant_id: tenant,
        name,
        created_at: now,
        owner_user_id: Some(owner),
    })
}

/// Inserts a tenant, its sequence and its owner (email and name sealed, `keys.rs`).
#[allow(clippy::too_many_arguments)]
pub async fn create_tenant_rows(
    tx: &mut db::Tx<'_>,
    (pool, keys): (&PgPool, &crate::keys::Keyring),
    tenant: Uuid,
    name: &str,
    owner: Uuid,
    email: &str,
    owner_name: &str,
    password_hash: &str,
    superadmin: bool,
) -> Result<(), ApiError> {
    query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)")
        .bind(tenant)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    query("INSERT INTO tenant_seq (tenant_id) VALUES ($1)")
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    let person = sealed_person(pool, keys, tenant, owner, Some(email), owner_name).await?;
    query(
        "INSERT INTO users (tenant_id, user_id, email_sealed, email_index, name_sealed,
           password_hash, is_superadmin)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(owner)
    .bind(&person.email)
    .bind(&person.email_index)
    .bind(&person.name)
    .bind(password_hash)
    .bind(superadmin)
    .execute(&mut **tx)
    .await?;
    query(
        "INSERT INTO memberships (tenant_id, membership_id, user_id, store_id, role)
         VALUES ($1, $2, $3, NULL, 'owner')",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A person's email and name as the `users` row holds them: sealed, and the email's blind index.
pub struct SealedPerson {
    pub email: Option<Vec<u8>>,
    pub email_index: Option<Vec<u8>>,
    pub name: Vec<u8>,
}

pub async fn sealed_person(
    pool: &PgPool,
    keys: &crate::keys::Keyring,
    tenant: Uuid,
    user: Uuid,
    email: Option<&str>,
    name: &str,
) -> Result<SealedPerson, ApiError> {
    use crate::keys::Column;
    let (email, email_index) = match email {
        Some(e) => (
            Some(keys.seal(pool, tenant, Column::UserEmail, user, e).await?),
            Some(keys.email_index(pool, e).await?),
        ),
        None => (None, None),
    };
    Ok(SealedPerson {
        email,
        email_index,
        name: keys
            .seal(pool, tenant, Column::UserName, user, name)
            .await?,
    })
}

/// Every person's name in the tenant, opened (reports, staff lists).
pub async fn user_names(
    state: &AppState,
    tenant: Uuid,
) -> Result<std::collections::HashMap<Uuid, String>, ApiError> {
    let rows: Vec<(Uuid, Option<Vec<u8>>)> =
        query_as("SELECT user_id, name_sealed FROM users WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let mut out = std::collections::HashMap::with_capacity(rows.len());
    for (user, sealed) in rows {
        let name = state
            .keys
            .open_opt(
                &state.pool,
                tenant,
                crate::keys::Column::UserName,
                user,
                sealed.as_deref(),
            )
            .await?
            .unwrap_or_default();
        out.insert(user, name);
    }
    Ok(out)
}

pub async fn list_tenants(state: &AppState, user: &UserAuth) -> Result<Vec<TenantOut>, ApiError> {
    if !user.superadmin {
        return Err(ApiError::Authz(
            "only a platform superadmin manages tenants".into(),
        ));
    }
    let rows: Vec<(Uuid, String, i64)> =
        query_as("SELECT tenant_id, name, created_at FROM tenants ORDER BY tenant_id")
            .fetch_all(&state.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, name, created_at)| TenantOut {
            tenant_id,
            name,
            created_at,
            owner_user_id: None,
        })
        .collect())
}

// ---------------------------------------------------------------- stores

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateStore {
    /// Short code printed on receipts, e.g. `S01` (1 to 8 letters or digits).
    #[schema(pattern = r"^[A-Za-z0-9]{1,8}$")]
    pub code: String,
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// ISO 4217, e.g. `EUR`.
    #[schema(value_type = crate::wire_schema::CurrencySchema)]
    pub currency: String,
    #[schema(value_type = crate::wire_schema::TaxModeSchema)]
    pub tax_mode: TaxMode,
    /// Tax class → rate in basis points (0 to 100,000).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, crate::wire_schema::BasisPointsSchema>)]
    pub tax_rates: BTreeMap<String, i64>,
    /// Basis points, 0 to 100,000.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000)]
    pub discount_threshold_bp: i64,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub address: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub tax_id: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub receipt_header: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub receipt_footer: String,
    /// Counter sales send their unsent kitchen lines when paid (default on).
    #[serde(default = "yes")]
    pub send_to_kitchen_on_pay: bool,
    /// The store's IANA time zone, e.g. `Europe/Paris` (default `UTC`): receipts, X/Z reports
    /// and reports show its local time.
    #[serde(default = "utc")]
    #[schema(
        max_length = 64,
        pattern = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
    )]
    pub time_zone: String,
    /// Local time the business day starts, `HH:MM` on a quarter hour (default `00:00`; say
    /// `04:00` for a bar open past midnight).
    #[serde(default = "midnight")]
    #[schema(pattern = r"^([01][0-9]|2[0-3]):(00|15|30|45)$")]
    pub business_day_start: String,
}

fn utc() -> String {
    pos_core::calendar::DEFAULT_ZONE.into()
}

fn midnight() -> String {
    pos_core::calendar::DEFAULT_DAY_START.into()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoreOut {
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
    pub created_at: i64,
    /// The store's settings document (synced to its devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_doc_id: Option<Uuid>,
}

/// Creates a store and its settings document.
pub async fn create_store(
    state: &AppState,
    user: &UserAuth,
    req: CreateStore,
) -> Result<StoreOut, ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    // A second store needs the multi-store module.
    let stores: i64 =
        sqlx_core::query_scalar::query_scalar("SELECT count(*) FROM stores WHERE tenant_id = $1")
            .bind(user.tenant_id)
            .fetch_one(&state.pool)
            .await?;
    if stores > 0 {
        crate::modules::require(state, user.tenant_id, pos_core::modules::Module::MultiStore)
            .await?;
    }
    let name = check_name("store name", &req.name)?;
    let settings = StoreSettings {
        name: name.clone(),
        code: req.code.trim().to_string(),
        address: req.address,
        tax_id: req.tax_id,
        currency: req.currency.trim().to_uppercase(),
        tax_mode: req.tax_mode,
        tax_rates: req.tax_rates,
        discount_threshold_bp: req.discount_threshold_bp,
        receipt_header: req.receipt_header,
        receipt_footer: req.receipt_footer,
        send_to_kitchen_on_pay: req.send_to_kitchen_on_pay,
        time_zone: req.time_zone.trim().to_string(),
        business_day_start: req.business_day_start.trim().to_string(),
    };
    settings
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let store = Uuid::now_v7();
    let now = now_ms();
    let mut tx = state.pool.begin().await?;
    query("INSERT INTO stores (tenant_id, store_id, code, name, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(user.tenant_id)
        .bind(store)
        .bind(&settings.code)
        .bind(&name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "store.create",
        &format!("store:{store}"),
        json!({ "after": { "code": settings.code, "name": name } }),
    )
    .await?;
    let doc_id = Uuid::now_v7();
    let env = Envelope {
        doc_id,
        tenant_id: user.tenant_id,
        store_id: Some(store),
        doc_type: DocType::StoreSettings,
        created_by_device: SERVER_DEVICE,
    };
    let code = settings.code.clone();
    write_as_server(&mut tx, env, user.user_id, "store.settings", |_| {
        Ok(settings)
    })
    .await?;
    tx.commit().await?;
    Ok(StoreOut {
        store_id: store,
        code,
        name,
        created_at: now,
        settings_doc_id: Some(doc_id),
    })
}

pub async fn list_stores(state: &AppState, user: &UserAuth) -> Result<Vec<StoreOut>, ApiError> {
    require(&state.pool, user, None, Permission::ReportView).await?;
    let rows: Vec<(Uuid, String, String, i64)> = query_as(
        "SELECT store_id, code, name, created_at FROM stores WHERE tenant_id = $1 ORDER BY code",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(store_id, code, name, created_at)| StoreOut {
            store_id,
            code,
            name,
            created_at,
            settings_doc_id: None,
        })
        .collect())
}

// ---------------------------------------------------------------- devices

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceOut {
    pub device_id: Uuid,
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// What its enrolment code enrolled it as.
    #[schema(value_type = crate::wire_schema::DeviceKindSchema)]
    pub kind: String,
}

type DeviceRow = (
    Uuid,
    Uuid,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    String,
);

fn device_out(r: DeviceRow) -> DeviceOut {
    DeviceOut {
        device_id: r.0,
        store_id: r.1,
        code: r.2,
        name: r.3,
        created_at: r.4,
        last_seen_at: r.5,
        revoked_at: r.6,
        kind: r.7,
    }
}

pub async fn list_devices(
    state: &AppState,
    user: &UserAuth,
    store: Uuid,
) -> Result<Vec<DeviceOut>, ApiError> {
    require(&state.pool, user, Some(store), Permission::DeviceEnrol).await?;
    let rows: Vec<DeviceRow> = query_as(
        "SELECT device_id, store_id, code, name, created_at, last_seen_at, revoked_at, kind
         FROM devices WHERE tenant_id = $1 AND store_id = $2 ORDER BY created_at",
    )
    .bind(user.tenant_id)
    .bind(store)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows.into_iter().map(device_out).collect())
}

/// Revokes a device: its next request is refused.
pub async fn revoke_device(
    state: &AppState,
    user: &UserAuth,
    device: Uuid,
) -> Result<DeviceOut, ApiError> {
    let store: Option<Uuid> = sqlx_core::query_scalar::query_scalar(
        "SELECT store_id FROM devices WHERE tenant_id = $1 AND device_id = $2",
    )
    .bind(user.tenant_id)
    .bind(device)
    .fetch_optional(&state.pool)
    .await?;
    let store = store.ok_or_else(|| ApiError::NotFound(format!("no device {device}")))?;
    require(&state.pool, user, Some(store), Permission::DeviceEnrol).await?;
    let mut tx = state.pool.begin().await?;
    let row: DeviceRow = query_as(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND device_id = $2
         RETURNING device_id, store_id, code, name, created_at, last_seen_at, revoked_at, kind",
    )
    .bind(user.tenant_id)
    .bind(device)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "device.revoke",
        &format!("device:{device}"),
        json!({ "before": { "revoked_at": null }, "after": { "revoked_at": row.6 } }),
    )
    .await?;
    db::notify_revoked(&mut tx, user.tenant_id, device).await?;
    tx.commit().await?;
    Ok(device_out(row))
}

// ---------------------------------------------------------------- users and roles

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateUser {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Head-office login; omit for store staff who only use a PIN.
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^@\s]+$")]
    pub email: Option<String>,
    /// 8 to 256 characters; only with an email.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    pub user_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub memberships: Vec<MembershipOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantRole {
    /// `None`: tenant-wide (head office).
    pub store_id: Option<Uuid>,
    #[schema(value_type = crate::wire_schema::RoleSchema)]
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MembershipOut {
    pub membership_id: Uuid,
    pub store_id: Option<Uuid>,
    #[schema(value_type = crate::wire_schema::RoleSchema)]
    pub role: Role,
}

pub async fn create_user(
    state: &AppState,
    user: &UserAuth,
    req: CreateUser,
) -> Result<UserOut, ApiError> {
    require(&state.pool, user, None, Permission::StaffManage).await?;
    let name = check_name("user name", &req.name)?;
    let email = req.email.as_deref().map(check_email).transpose()?;
    let hash = match (&email, req.password) {
        (Some(_), Some(p)) => {
            check_password(&p)?;
            Some(hash_blocking(p).await?)
        }
        (None, Some(_)) => return Err(ApiError::validation("a password needs an email")),
        _ => None,
    };
    let id = Uuid::now_v7();
    let now = now_ms();
    let person = sealed_person(
        &state.pool,
        &state.keys,
        user.tenant_id,
        id,
        email.as_deref(),
        &name,
    )
    .await?;
    let mut tx = state.pool.begin().await?;
    query(
        "INSERT INTO users (tenant_id, user_id, email_sealed, email_index, name_sealed,
           password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.tenant_id)
    .bind(id)
    .bind(&person.email)
    .bind(&person.email_index)
    .bind(&person.name)
    .bind(&hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "user.create",
        &format!("user:{id}"),
        // Whether an email was given, never which: no personal data in the audit log.
        json!({ "after": { "email": email.is_some(), "password": hash.is_some() } }),
    )
    .await?;
    tx.commit().await?;
    Ok(UserOut {
        user_id: id,
        name,
        email,
        created_at: now,
        memberships: Vec::new(),
    })
}

pub async fn list_users(state: &AppState, user: &UserAuth) -> Result<Vec<UserOut>, ApiError> {
    require(&state.pool, user, None, Permission::ReportView).await?;
    let sealed: Vec<(Uuid, Option<Vec<u8>>, Option<Vec<u8>>, i64)> = query_as(
        "SELECT user_id, name_sealed, email_sealed, created_at FROM users WHERE tenant_id = $1
         ORDER BY user_id",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    let mut users = Vec::with_capacity(sealed.len());
    for (id, name, email, created_at) in sealed {
        use crate::keys::Column;
        let (pool, keys, t) = (&state.pool, &state.keys, user.tenant_id);
        let name = keys
            .open_opt(pool, t, Column::UserName, id, name.as_deref())
            .await?
            .unwrap_or_default();
        let email = keys
            .open_opt(pool, t, Column::UserEmail, id, email.as_deref())
            .await?;
        users.push((id, name, email, created_at));
    }
    let ms: Vec<(Uuid, Uuid, Option<Uuid>, String)> = query_as(
        "SELECT user_id, membership_id, store_id, role FROM memberships WHERE tenant_id = $1",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(users
        .into_iter()
        .map(|(user_id, name, email, created_at)| UserOut {
            user_id,
            name,
            email,
            created_at,
            memberships: ms
                .iter()
                .filter(|m| m.0 == user_id)
                .filter_map(|m| {
                    Some(MembershipOut {
                        membership_id: m.1,
                        store_id: m.2,
                        role: m.3.parse().ok()?,
                    })
                })
                .collect(),
        })
        .collect())
}

/// Gives a user a role in a store (or tenant-wide). Tenant-wide roles and the owner and admin
/// roles need `tenant.admin`; store roles need `staff.manage` in that store.
pub async fn grant_role(
    state: &AppState,
    user: &UserAuth,
    target: Uuid,
    req: GrantRole,
) -> Result<MembershipOut, ApiError> {
    let needs_tenant = req.store_id.is_none() || matches!(req.role, Role::Owner | Role::Admin);
    if needs_tenant {
        require(&state.pool, user, None, Permission::TenantAdmin).await?;
    } else {
        require(&state.pool, user, req.store_id, Permission::StaffManage).await?;
    }
    require_rank(&state.pool, user, req.store_id, target, Some(req.role)).await?;
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    query(
        "INSERT INTO memberships (tenant_id, membership_id, user_id, store_id, role)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.tenant_id)
    .bind(id)
    .bind(target)
    .bind(req.store_id)
    .bind(req.role.as_str())
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "membership.grant",
        &format!("user:{target}"),
        json!({ "after": { "membership_id": id, "store_id": req.store_id, "role": req.role } }),
    )
    .await?;
    tx.commit().await?;
    Ok(MembershipOut {
        membership_id: id,
        store_id: req.store_id,
        role: req.role,
    })
}

pub async fn revoke_role(
    state: &AppState,
    user: &UserAuth,
    target: Uuid,
    membership: Uuid,
) -> Result<(), ApiError> {
    let row: Option<(Option<Uuid>, String)> = query_as(
        "SELECT store_id, role FROM memberships WHERE tenant_id = $1 AND user_id = $2 AND membership_id = $3",
    )
    .bind(user.tenant_id)
    .bind(target)
    .bind(membership)
    .fetch_optional(&state.pool)
    .await?;
    let (store, role) =
        row.ok_or_else(|| ApiError::NotFound(format!("no membership {membership}")))?;
    if store.is_none() || role == "owner" || role == "admin" {
        require(&state.pool, user, None, Permission::TenantAdmin).await?;
    } else {
        require(&state.pool, user, store, Permission::StaffManage).await?;
    }
    require_rank(&state.pool, user, store, target, role.parse().ok()).await?;
    let mut tx = state.pool.begin().await?;
    query("DELETE FROM memberships WHERE tenant_id = $1 AND membership_id = $2")
        .bind(user.tenant_id)
        .bind(membership)
        .execute(&mut *tx)
        .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "membership.revoke",
        &format!("user:{target}"),
        json!({ "before": { "membership_id": membership, "store_id": store, "role": role } }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SetPin {
    /// 4 to 8 digits.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: String,
}

/// Sets a staff member's PIN (stored as argon2id; the hash syncs to the store's devices).
pub async fn set_pin(
    state: &AppState,
    user: &UserAuth,
    target: Uuid,
    req: SetPin,
) -> Result<(), ApiError> {
    // Staff management, and a rank above the target's, tenant-wide or in a store the target
    // belongs to (`pos_core::auth::rank`).
    if !user.superadmin {
        // The target's memberships, read once: the scopes to try, and the target's rank.
        let memberships: Vec<(Option<Uuid>, String)> = query_as(
            "SELECT store_id, role FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(user.tenant_id)
        .bind(target)
        .fetch_all(&state.pool)
        .await?;
        let theirs = if target == user.user_id {
            None
        } else {
            strongest(memberships.iter().filter_map(|(_, r)| r.parse().ok()))
        };
        let mut scopes = vec![None];
        scopes.extend(memberships.iter().filter_map(|(s, _)| s.map(Some)));
        // Allowed in one scope is enough; otherwise a rank refusal says more than a permission
        // missing in some scope.
        let mut refusal = None;
        let mut allowed = false;
        for scope in scopes {
            let mine = roles_in(&state.pool, user.tenant_id, user.user_id, scope).await?;
            if !mine.iter().any(|r| can(*r, Permission::StaffManage)) {
                continue;
            }
            match check_rank(&mine, theirs, None) {
                Ok(()) => {
                    allowed = true;
                    break;
                }
                Err(e) => refusal = Some(e),
            }
        }
        if !allowed {
            return Err(refusal.unwrap_or_else(|| {
                ApiError::Authz(format!(
                    "permission {} is required",
                    Permission::StaffManage
                ))
            }));
        }
    }
    check_pin(&req.pin).map_err(|e| ApiError::validation(e.to_string()))?;
    let hash = hash_blocking(req.pin).await?;
    let mut tx = state.pool.begin().await?;
    query(
        "INSERT INTO staff_pins (tenant_id, user_id, pin_hash, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET pin_hash = EXCLUDED.pin_hash, updated_at = EXCLUDED.updated_at",
    )
    .bind(user.tenant_id)
    .bind(target)
    .bind(&hash)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "staff.pin",
        &format!("user:{target}"),
        json!({ "after": { "pin": "set" } }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- catalog

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PublishItem {
    /// Omit to create a new item.
    pub item_id: Option<Uuid>,
    /// 1 to 64 printable characters, no spaces.
    #[schema(pattern = r"^[!-~]{1,64}$")]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[schema(max_length = 200)]
    pub category_id: Option<String>,
    #[schema(value_type = crate::wire_schema::CurrencySchema)]
    pub currency: String,
    /// Default price in minor units.
    #[schema(minimum = 0)]
    pub price: i64,
    /// Store id → price in minor units.
    #[serde(default)]
    #[schema(value_type = BTreeMap<Uuid, crate::wire_schema::PriceSchema>)]
    pub store_prices: BTreeMap<Uuid, i64>,
    #[schema(max_length = 200)]
    pub tax_class: String,
    #[schema(max_length = 200)]
    pub station: Option<String>,
    #[serde(default)]
    pub track_stock: bool,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub low_stock_threshold: i64,
    /// EAN-13, UPC-A or EAN-8, with a right check digit.
    #[serde(default)]
    #[schema(value_type = Vec<crate::wire_schema::BarcodeSchema>)]
    pub barcodes: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SetPrices {
    /// New default price, minor units.
    #[schema(minimum = 0)]
    pub price: Option<i64>,
    /// Store id → new price; `null` removes the store's own price.
    #[serde(default)]
    #[schema(value_type = BTreeMap<Uuid, crate::wire_schema::NullablePriceSchema>)]
    pub store_prices: BTreeMap<Uuid, Option<i64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishedDoc {
    pub doc_id: Uuid,
    /// Server sequence of the change; `None` if nothing changed.
    pub seq: Option<i64>,
}

async fn item_permission(state: &AppState, user: &UserAuth, prices: bool) -> Result<(), ApiError> {
    require(&state.pool, user, None, Permission::CatalogEdit).await?;
    if prices {
        require(&state.pool, user, None, Permission::PriceEdit).await?;
    }
    Ok(())
}

/// Publishes (creates or replaces) a catalog item: a tenant-wide document every store syncs.
pub async fn publish_item(
    state: &AppState,
    user: &UserAuth,
    req: PublishItem,
) -> Result<PublishedDoc, ApiError> {
    item_permission(state, user, true).await?;
    let item = Item {
        sku: req.sku,
        name: req.name,
        category_id: req.category_id,
        currency: req.currency.trim().to_uppercase(),
        price: req.price,
        store_prices: req
            .store_prices
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        tax_class: req.tax_class,
        station: req.station,
        track_stock: req.track_stock,
        low_stock_threshold: req.low_stock_threshold,
        barcodes: req.barcodes,
        modifier_groups: BTreeMap::new(),
        active: req.active,
    };
    item.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let doc_id = req.item_id.unwrap_or_else(Uuid::now_v7);
    let env = catalog_envelope(user.tenant_id, doc_id);
    let mut tx = state.pool.begin().await?;
    let w = write_as_server(
        &mut tx,
        env,
        user.user_id,
        "catalog.publish",
        |before: Option<Item>| {
            Ok(Item {
                modifier_groups: before.map(|b| b.modifier_groups).unwrap_or_default(),
                ..item
            })
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PublishedDoc { doc_id, seq: w.seq })
}

/// The envelope of a catalog item written by head office: tenant-wide, created by the server.
fn catalog_envelope(tenant_id: Uuid, doc_id: Uuid) -> Envelope {
    Envelope {
        doc_id,
        tenant_id,
        store_id: None,
        doc_type: DocType::Item,
        created_by_device: SERVER_DEVICE,
    }
}

/// Changes an item's default and per-store prices.
pub async fn set_prices(
    state: &AppState,
    user: &UserAuth,
    item_id: Uuid,
    req: SetPrices,
) -> Result<PublishedDoc, ApiError> {
    item_permission(state, user, true).await?;
    let env = catalog_envelope(user.tenant_id, item_id);
    let mut tx = state.pool.begin().await?;
    let w = write_as_server(
        &mut tx,
        env,
        user.user_id,
        "catalog.prices",
        |before: Option<Item>| {
            let mut item =
                before.ok_or_else(|| ApiError::NotFound(format!("no item {item_id}")))?;
            if let Some(p) = req.price {
                item.price = p;
            }
            for (store, price) in req.store_prices {
                match price {
                    Some(p) => item.store_prices.insert(store.to_string(), p),
                    None => item.store_prices.remove(&store.to_string()),
                };
            }
            item.validate()
                .map_err(|e| ApiError::validation(e.to_string()))?;
            Ok(item)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PublishedDoc {
        doc_id: item_id,
        seq: w.seq,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceConflictOut {
    pub doc_id: Uuid,
    pub field: String,
    /// Every concurrent value.
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    /// The value the document converged to.
    #[schema(value_type = Object)]
    pub winner: serde_json::Value,
    pub seq: Option<i64>,
    pub detected_at: i64,
}

/// Concurrent price edits: every value, and the one that won.
pub async fn price_conflicts(
    state: &AppState,
    user: &UserAuth,
) -> Result<Vec<PriceConflictOut>, ApiError> {
    require(&state.pool, user, None, Permission::ReportView).await?;
    type Row = (
        Uuid,
        String,
        sqlx_core::types::Json<serde_json::Value>,
        Option<sqlx_core::types::Json<serde_json::Value>>,
        Option<i64>,
        i64,
    );
    let rows: Vec<Row> = query_as(
        "SELECT doc_id, field, \"values\", winner, seq, detected_at FROM price_conflicts
         WHERE tenant_id = $1 ORDER BY detected_at DESC LIMIT 500",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PriceConflictOut {
            doc_id: r.0,
            field: r.1,
            values: r.2 .0,
            winner: r.3.map(|j| j.0).unwrap_or(serde_json::Value::Null),
            seq: r.4,
            detected_at: r.5,
        })
        .collect())
}

// ---------------------------------------------------------------- audit log

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct PageQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<Uuid>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEventOut {
    pub event_id: Uuid,
    pub at: i64,
    pub actor_user: Option<Uuid>,
    pub actor_device: Option<Uuid>,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub diff: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEventOut>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// The tenant's audit log, newest first, paged by cursor.
pub async fn audit_log(
    state: &AppState,
    user: &UserAuth,
    q: PageQuery,
) -> Result<AuditPage, ApiError> {
    require(&state.pool, user, None, Permission::ReportView).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be 1 to 500"));
    }
    type Row = (
        Uuid,
        i64,
        Option<Uuid>,
        Option<Uuid>,
        String,
        String,
        sqlx_core::types::Json<serde_json::Value>,
    );
    let rows: Vec<Row> = query_as(
        "SELECT event_id, at, actor_user, actor_device, action, target, diff FROM audit_events
         WHERE tenant_id = $1 AND event_id < $2
         ORDER BY event_id DESC LIMIT $3",
    )
    .bind(user.tenant_id)
    // The first page starts below the largest id, not with `$2 IS NULL OR …`, whose generic
    // plan would read the log from its newest event for every page (see sync::bootstrap).
    .bind(q.cursor.unwrap_or(Uuid::max()))
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let events: Vec<AuditEventOut> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEventOut {
            event_id: r.0,
            at: r.1,
            actor_user: r.2,
            actor_device: r.3,
            action: r.4,
            target: r.5,
            diff: r.6 .0,
        })
        .collect();
    let next_cursor = if more {
        events.last().map(|e| e.event_id)
    } else {
        None
    };
    Ok(AuditPage {
        events,
        next_cursor,
    })
}
