//! Devices: one-time enrolment codes, enrolment, device tokens, and the staff list a device
//! syncs down (names, roles and PIN hashes, so staff can log in offline).

use pos_core::auth::{DeviceKind, Permission, Role};
use pos_sync::wire::{
    DeviceTokenRequest, EnrolRequest, EnrolResponse, PeerRecord, StaffRecord, TokenResponse,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{self, random_token, sha256, DeviceAuth, UserAuth};
use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::jwt::{Claims, Kind, AUDIENCE};
use crate::state::AppState;

/// The body of `POST /v1/admin/stores/{store_id}/enrolment-codes` (an empty body is `{}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCode {
    /// `till` (the default) or `kitchen`. A kitchen screen acts with the kitchen role's
    /// rights whoever logs in on it.
    #[serde(default)]
    #[schema(value_type = crate::wire_schema::DeviceKindSchema)]
    pub kind: DeviceKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentCode {
    /// Shown once; only its hash is kept.
    pub code: String,
    pub store_id: Uuid,
    /// What the device that uses it is enrolled as.
    #[schema(value_type = crate::wire_schema::DeviceKindSchema)]
    pub kind: DeviceKind,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// Letters and digits that cannot be mistaken for one another.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Codes are compared without dashes, spaces or case.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `POST /v1/admin/stores/{store_id}/enrolment-codes`.
pub async fn issue_code(
    state: &AppState,
    user: &UserAuth,
    store: Uuid,
    req: IssueCode,
) -> Result<EnrolmentCode, ApiError> {
    auth::require(&state.pool, user, Some(store), Permission::DeviceEnrol).await?;
    let raw: String = {
        let mut rng = rand::thread_rng();
        (0..10)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let code = format!("{}-{}", &raw[..5], &raw[5..]);
    let expires_at = now_ms() + state.settings.enrol_code_ttl_secs * 1000;
    let mut tx = state.pool.begin().await?;
    let code_id = Uuid::now_v7();
    query(
        "INSERT INTO enrolment_codes (tenant_id, code_id, store_id, code_hash, created_by, expires_at, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.tenant_id)
    .bind(code_id)
    .bind(store)
    .bind(sha256(&raw))
    .bind(user.user_id)
    .bind(expires_at)
    .bind(req.kind.as_str())
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "device.enrolment_code",
        &format!("store:{store}"),
        serde_json::json!({ "code_id": code_id, "expires_at": expires_at, "kind": req.kind }),
    )
    .await?;
    tx.commit().await?;
    Ok(EnrolmentCode {
        code,
        store_id: store,
        kind: req.kind,
        expires_at,
    })
}

/// `POST /v1/devices/enrol`: trades a one-time code for the device's identity and secret.
pub async fn enrol(
    state: &AppState,
    ip: &str,
    req: EnrolRequest,
) -> Result<EnrolResponse, ApiError> {
    state
        .limiter
        .hit(
            &format!("enrol-ip:{ip}"),
            state.settings.login_per_ip_per_min,
            now_ms(),
        )
        .map_err(|retry_after_secs| ApiError::RateLimit {
            message: "too many enrolment attempts; try again later".into(),
            retry_after_secs,
        })?;
    // Characters, not bytes: the one rule for names (`pos_core::text`), as documented.
    let name = pos_core::text::required("device name", &req.name, 100)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let name = name.as_str();
    let public_key = match &req.public_key {
        None => None,
        Some(k) => Some(
            pos_sync::signing::PublicKey::from_bytes(k)
                .map_err(|e| ApiError::validation(format!("public_key: {e}")))?
                .to_bytes(),
        ),
    };
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, Uuid, Uuid, i64, Option<i64>, String)> = query_as(
        "SELECT tenant_id, code_id, store_id, expires_at, used_at, kind FROM enrolment_codes
         WHERE code_hash = $1 FOR UPDATE",
    )
    .bind(sha256(&normalise_code(&req.code)))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tenant, code_id, store, expires_at, used_at, kind)) = row else {
        return Err(ApiError::Authn("unknown enrolment code".into()));
    };
    if used_at.is_some() {
        return Err(ApiError::conflict(
            "this enrolment code has already been used",
        ));
    }
    let now = now_ms();
    if expires_at <= now {
        return Err(ApiError::Authn("this enrolment code has expired".into()));
    }
    let (no, store_code): (i32, String) = query_as(
        "UPDATE stores SET next_device_no = next_device_no + 1 WHERE tenant_id = $1 AND store_id = $2
         RETURNING next_device_no - 1, code",
    )
    .bind(tenant)
    .bind(store)
    .fetch_one(&mut *tx)
    .await?;
    let kind: DeviceKind = kind.parse().map_err(ApiError::internal)?;
    let device_id = Uuid::now_v7();
    let device_code = format!("T{no}");
    let secret = random_token();
    query(
        "INSERT INTO devices (tenant_id, device_id, store_id, code, name, secret_hash, kind, public_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant)
    .bind(device_id)
    .bind(store)
    .bind(&device_code)
    .bind(name)
    .bind(sha256(&secret))
    .bind(kind.as_str())
    .bind(public_key.map(|k| k.to_vec()))
    .execute(&mut *tx)
    .await?;
    query("UPDATE enrolment_codes SET used_at = $3, device_id = $4 WHERE tenant_id = $1 AND code_id = $2")
        .bind(tenant)
        .bind(code_id)
        .bind(now)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
    db::audit(
        &mut tx,
        tenant,
        None,
        Some(device_id),
        "device.enrol",
        &format!("device:{device_id}"),
        serde_json::json!({ "store_id": store, "code": device_code, "name": name, "kind": kind,
            "public_key": public_key.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(EnrolResponse {
        tenant_id: tenant,
        store_id: store,
        device_id,
        store_code,
        device_code,
        device_secret: secret,
        kind,
    })
}

/// `POST /v1/devices/token`: a short-lived access token scoped to tenant, store and device.
pub async fn token(state: &AppState, req: DeviceTokenRequest) -> Result<TokenResponse, ApiError> {
    let row: Option<(Uuid, Uuid, Vec<u8>, Option<i64>)> = query_as(
        "SELECT tenant_id, store_id, secret_hash, revoked_at FROM devices WHERE device_id = $1",
    )
    .bind(req.device_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((tenant, store, hash, revoked)) = row else {
        return Err(ApiError::Authn("unknown device or wrong secret".into()));
    };
    if !constant_time_eq(&hash, &sha256(&req.device_secret)) {
        return Err(ApiError::Authn("unknown device or wrong secret".into()));
    }
    if revoked.is_some() {
        return Err(ApiError::Authn("this device has been revoked".into()));
    }
    query("UPDATE devices SET last_seen_at = $3 WHERE tenant_id = $1 AND device_id = $2")
        .bind(tenant)
        .bind(req.device_id)
        .bind(now_ms())
        .execute(&state.pool)
        .await?;
    let now = now_ms() / 1000;
    let claims = Claims {
        sub: req.device_id,
        kind: Kind::Device,
        tenant,
        store: Some(store),
        device: Some(req.device_id),
        sa: false,
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + state.settings.access_ttl_secs,
        jti: Uuid::new_v4(),
    };
    Ok(TokenResponse {
        access_token: state.jwt.sign(&claims).map_err(ApiError::internal)?,
        expires_in: state.settings.access_ttl_secs,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every member of a store with the role that applies there (the strongest of the store role
/// and any tenant-wide role), with their name as stored (sealed: `keys.rs`; the push path never
/// opens it).
pub async fn store_roles(
    conn: &mut sqlx_postgres::PgConnection,
    tenant: Uuid,
    store: Uuid,
) -> Result<Vec<(Uuid, Option<Vec<u8>>, Role, Option<String>)>, ApiError> {
    let rows: Vec<(Uuid, Option<Vec<u8>>, String, Option<String>)> = query_as(
        "SELECT u.user_id, u.name_sealed, m.role, p.pin_hash
         FROM memberships m
         JOIN users u ON u.tenant_id = m.tenant_id AND u.user_id = m.user_id
         LEFT JOIN staff_pins p ON p.tenant_id = m.tenant_id AND p.user_id = m.user_id
         WHERE m.tenant_id = $1 AND (m.store_id = $2 OR m.store_id IS NULL)
         ORDER BY u.user_id",
    )
    .bind(tenant)
    .bind(store)
    .fetch_all(conn)
    .await?;
    let mut out: Vec<(Uuid, Option<Vec<u8>>, Role, Option<String>)> = Vec::new();
    for (id, name, role, pin) in rows {
        let Ok(role) = role.parse::<Role>() else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.0 == id => last.2 = last.2.min(role),
            _ => out.push((id, name, role, pin)),
        }
    }
    Ok(out)
}

/// `GET /v1/sync/staff`.
pub async fn staff(state: &AppState, device: &DeviceAuth) -> Result<Vec<StaffRecord>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let rows = store_roles(&mut conn, device.tenant_id, device.store_id).await?;
    drop(conn);
    let mut out = Vec::with_capacity(rows.len());
    for (user_id, sealed, role, pin_hash) in rows {
        let name = state
            .keys
            .open_opt(
                &state.pool,
                device.tenant_id,
                crate::keys::Column::UserName,
                user_id,
                sealed.as_deref(),
            )
            .await?
            .unwrap_or_default();
        out.push(StaffRecord {
            user_id,
            name,
            role: role.as_str().to_string(),
            pin_hash,
        });
    }
    Ok(out)
}

/// The store's other enrolled, non-revoked devices with a registered key, with their kinds and
/// keys (a key that no longer decodes is left out).
pub async fn relay_authors(
    conn: &mut sqlx_postgres::PgConnection,
    tenant: Uuid,
    store: Uuid,
    except: Uuid,
) -> Result<Vec<(Uuid, String, DeviceKind, pos_sync::signing::PublicKey)>, ApiError> {
    let rows: Vec<(Uuid, String, String, Vec<u8>)> = query_as(
        "SELECT device_id, name, kind, public_key FROM devices
         WHERE tenant_id = $1 AND store_id = $2 AND device_id <> $3
           AND revoked_at IS NULL AND public_key IS NOT NULL
         ORDER BY device_id",
    )
    .bind(tenant)
    .bind(store)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, kind, key)| {
            let kind = kind.parse().ok()?;
            let key = pos_sync::signing::PublicKey::from_bytes(&key).ok()?;
            Some((id, name, kind, key))
        })
        .collect())
}

/// `GET /v1/sync/peers`: the store's other devices a device may talk to on the LAN and whose
/// signed changes it accepts, refreshed with the staff list.
pub async fn peers(state: &AppState, device: &DeviceAuth) -> Result<Vec<PeerRecord>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let rows = relay_authors(
        &mut conn,
        device.tenant_id,
        device.store_id,
        device.device_id,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(device_id, name, kind, key)| PeerRecord {
            device_id,
            name,
            kind,
            public_key: key.to_bytes().to_vec(),
        })
        .collect())
}
