//! Authentication: head-office login with lockout and rate limits, rotating refresh tokens, the
//! bearer-token extractors for users and devices, and the permission check for admin calls
//! (through `pos_core::auth::can`, the one matrix).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use pos_core::auth::{can, Permission, Role, Throttle};
use pos_core::secret::verify_secret;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::jwt::{Claims, Kind, AUDIENCE};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^@\s]+$")]
    pub email: String,
    #[schema(max_length = 256)]
    pub password: String,
    /// Only needed when the same email and password open accounts in several tenants (emails
    /// are unique per tenant, not across tenants): the login then answers 409 with the tenants.
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
}

/// Longest password accepted anywhere (creating a user, logging in).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Accounts of one email tried at one login (one per tenant that has the email).
const MAX_LOGIN_CANDIDATES: i64 = 16;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; trade it at `/v1/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// True when this user's role needs a second factor they have not enrolled: the access token
    /// then opens only `/v1/auth/2fa/enrol` and `/v1/auth/2fa/confirm`.
    #[serde(default)]
    pub second_factor_enrolment_required: bool,
}

/// What a right password answers: a session, or (for a user with two-factor on) a challenge
/// to answer at `/v1/auth/login/2fa` with a code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    SecondFactor(crate::twofactor::Challenge),
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// The client's address (from the socket; absent in in-process tests).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "local".into()),
        ))
    }
}

pub fn user_claims(state: &AppState, user: Uuid, tenant: Uuid, superadmin: bool) -> Claims {
    session_claims(state, user, tenant, superadmin, Kind::User)
}

fn session_claims(
    state: &AppState,
    user: Uuid,
    tenant: Uuid,
    superadmin: bool,
    kind: Kind,
) -> Claims {
    let now = now_ms() / 1000;
    Claims {
        sub: user,
        kind,
        tenant,
        store: None,
        device: None,
        sa: superadmin,
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + state.settings.access_ttl_secs,
        jti: Uuid::new_v4(),
    }
}

/// A PHC string to verify against when the email is unknown, so both paths cost the same.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| pos_core::secret::hash_secret("not-a-real-password").unwrap_or_default())
}

async fn verify_blocking(password: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_secret(&password, &phc).unwrap_or(false))
        .await
        .map_err(ApiError::internal)
}

/// `POST /v1/auth/login`.
///
/// Input is checked before anything is kept: the email must be an email of at most 254
/// characters and the password at most 256, so neither can grow the rate limiter (issue 15).
/// Failed attempts are counted under the user row's lock (`SELECT … FOR UPDATE`), so concurrent
/// wrong passwords cannot each read the same count: the fifth locks the account and the rest
/// answer 429; a right password racing them re-checks the lock under the same row lock.
pub async fn login(state: &AppState, ip: &str, req: LoginRequest) -> Result<LoginAnswer, ApiError> {
    let email = crate::admin::check_email(&req.email)?;
    if req.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::validation(format!(
            "a password is at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    let now = now_ms();
    let s = &state.settings;
    for (key, limit) in [
        (format!("login-ip:{ip}"), s.login_per_ip_per_min),
        (format!("login-email:{email}"), s.login_per_email_per_min),
    ] {
        state
            .limiter
            .hit(&key, limit, now)
            .map_err(|retry_after_secs| ApiError::RateLimit {
                message: "too many login attempts; try again later".into(),
                retry_after_secs,
            })?;
    }
    // By the email's blind index: no email is stored or compared in clear (keys.rs).
    let index = state.keys.email_index(&state.pool, &email).await?;
    let candidates: Vec<(Uuid, Uuid, Option<String>, i64, Option<i64>)> = query_as(
        "SELECT tenant_id, user_id, password_hash, failed_logins, locked_until
         FROM users WHERE email_index = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
         ORDER BY tenant_id LIMIT $3",
    )
    .bind(&index)
    .bind(req.tenant_id)
    .bind(MAX_LOGIN_CANDIDATES)
    .fetch_all(&state.pool)
    .await?;
    let bad = || ApiError::Authn("wrong email or password".into());
    let with_password: Vec<_> = candidates
        .into_iter()
        .filter_map(|(t, u, phc, f, l)| {
            phc.map(|p| {
                (
                    t,
                    u,
                    p,
                    Throttle {
                        failures: f,
                        locked_until: l,
                    },
                )
            })
        })
        .collect();
    if with_password.is_empty() {
        let _ = verify_blocking(req.password, dummy_hash().to_string()).await;
        return Err(bad());
    }
    let mut matched = Vec::new();
    // The soonest a locked account among them opens again.
    let mut locked: Option<i64> = None;
    for (tenant, user, phc, throttle) in with_password {
        let refused_until = if let Err(until) = throttle.check(now) {
            Some(until)
        } else if verify_blocking(req.password.clone(), phc).await? {
            matched.push((tenant, user));
            None
        } else {
            record_failure(state, tenant, user).await?
        };
        if let Some(until) = refused_until {
            locked = Some(locked.map_or(until, |l| l.min(until)));
        }
    }
    let (tenant, user) = match matched.as_slice() {
        [] => return Err(locked.map_or_else(bad, locked_out)),
        [one] => *one,
        several => {
            return Err(ApiError::Conflict {
                message: "this email and password open accounts in several tenants: \
                          log in again with one of these tenant_id"
                    .into(),
                details: serde_json::json!({
                    "tenants": several.iter().map(|(t, _)| t).collect::<Vec<_>>()
                }),
            })
        }
    };
    let mut tx = state.pool.begin().await?;
    // Under the row's lock: a failure counted by a concurrent attempt since the check above
    // may have locked the account, and then this right password is refused too.
    let (throttle, superadmin) = lock_throttle(&mut tx, tenant, user).await?;
    if let Err(until) = throttle.check(now_ms()) {
        return Err(locked_out(until));
    }
    if crate::twofactor::is_on(&mut tx, tenant, user).await? {
        // The password was right; the session waits for the code. Failures stay counted
        // until both factors pass.
        let challenge = crate::twofactor::challenge(&mut tx, tenant, user).await?;
        tx.commit().await?;
        return Ok(LoginAnswer::SecondFactor(challenge));
    }
    let session = open_session(&mut tx, state, tenant, user, superadmin, "password").await?;
    tx.commit().await?;
    Ok(LoginAnswer::Session(session))
}

/// Ends a login that passed every factor it needs: resets the failure count, audits, issues a
/// refresh token (a new family) and the access token. A user who must have a second factor and
/// has none gets an enrolment-only token ([`Kind::Enrolling`]).
pub async fn open_session(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    superadmin: bool,
    how: &str,
) -> Result<LoginResponse, ApiError> {
    query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    let refresh = issue_refresh(tx, state, tenant, user, Uuid::now_v7()).await?;
    db::audit(
        tx,
        tenant,
        Some(user),
        None,
        "auth.login",
        &format!("user:{user}"),
        serde_json::json!({ "factors": how }),
    )
    .await?;
    session_tokens(tx, state, tenant, user, superadmin, refresh).await
}

/// The access token for a session (full, or enrolment-only when a second factor is due), with
/// its refresh token.
async fn session_tokens(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    superadmin: bool,
    refresh: String,
) -> Result<LoginResponse, ApiError> {
    let enrol = crate::twofactor::must_enrol(tx, state, tenant, user, superadmin).await?;
    let kind = if enrol { Kind::Enrolling } else { Kind::User };
    let access = state
        .jwt
        .sign(&session_claims(state, user, tenant, superadmin, kind))
        .map_err(ApiError::internal)?;
    Ok(LoginResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: state.settings.access_ttl_secs,
        refresh_token: refresh,
        user_id: user,
        tenant_id: tenant,
        second_factor_enrolment_required: enrol,
    })
}

/// The answer to a login (either step) of an account locked until `until` (ms).
pub fn locked_out(until: i64) -> ApiError {
    ApiError::RateLimit {
        message: "too many failed logins: the account is locked for a while".into(),
        retry_after_secs: ((until - now_ms()) / 1000).max(1) as u64,
    }
}

/// A user's lockout state and superadmin flag, with the user row locked until `tx` ends.
pub async fn lock_throttle(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    user: Uuid,
) -> Result<(Throttle, bool), ApiError> {
    let (failures, locked_until, superadmin): (i64, Option<i64>, bool) = query_as(
        "SELECT failed_logins, locked_until, is_superadmin FROM users
         WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(user)
    .fetch_one(&mut **tx)
    .await?;
    Ok((
        Throttle {
            failures,
            locked_until,
        },
        superadmin,
    ))
}

/// Counts one failed attempt for a user under its row's lock, by `Throttle::fail` (the one
/// lockout rule); the attempt that locks the account is still answered "wrong password", as
/// when attempts come one by one. `Some(until)` when the account was already locked (by a
/// concurrent attempt): this one is not counted and is answered 429.
pub async fn record_failure(
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<i64>, ApiError> {
    let mut tx = state.pool.begin().await?;
    let (throttle, _) = lock_throttle(&mut tx, tenant, user).await?;
    let now = now_ms();
    if let Err(until) = throttle.check(now) {
        return Ok(Some(until));
    }
    let t = throttle.fail(now);
    query("UPDATE users SET failed_logins = $3, locked_until = $4 WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .bind(t.failures)
        .bind(t.locked_until)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(None)
}

async fn issue_refresh(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    family: Uuid,
) -> Result<String, ApiError> {
    let token = random_token();
    query(
        "INSERT INTO refresh_tokens (tenant_id, token_id, user_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(family)
    .bind(sha256(&token))
    .bind(now_ms() + state.settings.refresh_ttl_secs * 1000)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// `POST /v1/auth/refresh`: rotates the refresh token. Presenting a token that was already
/// rotated (or revoked) revokes its whole family: a thief and the owner both lose the session.
pub async fn refresh(state: &AppState, req: RefreshRequest) -> Result<LoginResponse, ApiError> {
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, Uuid, Uuid, Uuid, i64, Option<i64>, Option<i64>, bool)> = query_as(
        "SELECT r.tenant_id, r.token_id, r.user_id, r.family_id, r.expires_at, r.rotated_at, r.revoked_at,
                u.is_superadmin
         FROM refresh_tokens r JOIN users u USING (tenant_id, user_id)
         WHERE r.token_hash = $1 FOR UPDATE OF r",
    )
    .bind(sha256(&req.refresh_token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tenant, token_id, user, family, expires_at, rotated, revoked, superadmin)) = row
    else {
        return Err(ApiError::Authn("unknown refresh token".into()));
    };
    let now = now_ms();
    if rotated.is_some() || revoked.is_some() {
        query("UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL")
            .bind(tenant)
            .bind(family)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        db::audit(
            &mut tx,
            tenant,
            Some(user),
            None,
            "auth.refresh_reuse",
            &format!("family:{family}"),
            serde_json::json!({"revoked": true}),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(%tenant, %user, "refresh token reuse: family revoked");
        return Err(ApiError::Authn(
            "refresh token was already used: every session of this login is revoked".into(),
        ));
    }
    if expires_at <= now {
        return Err(ApiError::Authn("refresh token expired".into()));
    }
    query("UPDATE refresh_tokens SET rotated_at = $3 WHERE tenant_id = $1 AND token_id = $2")
        .bind(tenant)
        .bind(token_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let next = issue_refresh(&mut tx, state, tenant, user, family).await?;
    // The second factor is judged again: a session opened before 2FA became due is
    // enrolment-only from its next refresh.
    let session = session_tokens(&mut tx, state, tenant, user, superadmin, next).await?;
    tx.commit().await?;
    Ok(session)
}

/// Logs a session out (the console's `POST /v1/auth/console/logout`): every refresh token of
/// the presented token's family is revoked, so neither it nor one rotated from it works again.
/// An unknown token changes nothing.
pub async fn revoke_session(state: &AppState, refresh_token: &str) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, Uuid, Uuid)> =
        query_as("SELECT tenant_id, user_id, family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(sha256(refresh_token))
            .fetch_optional(&mut *tx)
            .await?;
    let Some((tenant, user, family)) = row else {
        return Ok(());
    };
    query("UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL")
        .bind(tenant)
        .bind(family)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    db::audit(
        &mut tx,
        tenant,
        Some(user),
        None,
        "auth.logout",
        &format!("family:{family}"),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let h = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Authn("missing bearer token".into()))?;
    let s = h
        .to_str()
        .map_err(|_| ApiError::Authn("malformed authorization header".into()))?;
    s.strip_prefix("Bearer ")
        .map(str::trim)
        .ok_or_else(|| ApiError::Authn("authorization must be a bearer token".into()))
}

fn claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = bearer(parts)?;
    state
        .jwt
        .verify(token)
        .map_err(|e| ApiError::Authn(e.to_string()))
}

/// One request of the tenant's budget (`--requests-per-tenant-per-min`), or 429.
fn tenant_budget(state: &AppState, tenant: Uuid) -> Result<(), ApiError> {
    state
        .per_tenant
        .take(tenant, now_ms())
        .map_err(|retry_after_secs| ApiError::RateLimit {
            message: "this tenant sent too many requests; try again later".into(),
            retry_after_secs,
        })
}

/// A head-office user, from a valid user access token.
#[derive(Debug, Clone, Copy)]
pub struct UserAuth {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub superadmin: bool,
}

/// The user in a user token (`Kind::User`, or with `enrolling` also `Kind::Enrolling`), within
/// the tenant's request budget and recorded on the request's span: the one body of [`UserAuth`]
/// and [`SessionUser`].
fn user_of(
    parts: &Parts,
    state: &AppState,
    enrolling: bool,
) -> Result<(Uuid, Uuid, bool), ApiError> {
    let c = claims(parts, state)?;
    match c.kind {
        Kind::User => {}
        Kind::Enrolling if enrolling => {}
        Kind::Enrolling => {
            return Err(ApiError::Authz(
                "your role needs two-factor login: enrol an authenticator first \
                 (POST /v1/auth/2fa/enrol, then /v1/auth/2fa/confirm)"
                    .into(),
            ))
        }
        Kind::Device => return Err(ApiError::Authn("a user token is required".into())),
    }
    tenant_budget(state, c.tenant)?;
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(c.tenant));
    span.record("user", tracing::field::display(c.sub));
    Ok((c.sub, c.tenant, c.sa))
}

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user_id, tenant_id, superadmin) = user_of(parts, state, false)?;
        Ok(UserAuth {
            user_id,
            tenant_id,
            superadmin,
        })
    }
}

/// A head-office user on the way in: a full user token, or an enrolment-only one. Only the
/// second-factor enrolment routes take it.
#[derive(Debug, Clone, Copy)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub superadmin: bool,
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user_id, tenant_id, superadmin) = user_of(parts, state, true)?;
        Ok(SessionUser {
            user_id,
            tenant_id,
            superadmin,
        })
    }
}

/// An enrolled, not revoked device, from a valid device access token. Revocation is checked
/// against the database on every request, so it takes effect on the next one.
#[derive(Debug, Clone, Copy)]
pub struct DeviceAuth {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    /// What the device was enrolled as; a kitchen screen's changes are judged with every
    /// author's role capped at kitchen.
    pub kind: pos_core::auth::DeviceKind,
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let c = claims(parts, state)?;
        let (Kind::Device, Some(store), Some(device)) = (c.kind, c.store, c.device) else {
            return Err(ApiError::Authn("a device token is required".into()));
        };
        tenant_budget(state, c.tenant)?;
        let span = tracing::Span::current();
        span.record("tenant", tracing::field::display(c.tenant));
        span.record("device", tracing::field::display(device));
        let row: Option<(Uuid, Option<i64>, String)> = query_as(
            "SELECT store_id, revoked_at, kind FROM devices WHERE tenant_id = $1 AND device_id = $2",
        )
        .bind(c.tenant)
        .bind(device)
        .fetch_optional(&state.pool)
        .await?;
        match row {
            Some((s, None, kind)) if s == store => Ok(DeviceAuth {
                tenant_id: c.tenant,
                store_id: store,
                device_id: device,
                kind: kind.parse().map_err(ApiError::internal)?,
            }),
            Some((_, Some(_), _)) => Err(ApiError::Authn("this device has been revoked".into())),
            _ => Err(ApiError::Authn("unknown device".into())),
        }
    }
}

/// The roles a user holds that apply to `store` (its store role and any tenant-wide role), or
/// only tenant-wide roles when `store` is `None`.
pub async fn roles_in(
    pool: &PgPool,
    tenant: Uuid,
    user: Uuid,
    store: Option<Uuid>,
) -> Result<Vec<Role>, ApiError> {
    let rows: Vec<(String,)> = query_as(
        "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2
         AND (store_id IS NULL OR store_id = $3)",
    )
    .bind(tenant)
    .bind(user)
    .bind(store)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|(r,)| r.parse().ok()).collect())
}

/// Requires `permission` for the user in `store` (or tenant-wide), via `pos_core::auth::can`.
pub async fn require(
    pool: &PgPool,
    user: &UserAuth,
    store: Option<Uuid>,
    permission: Permission,
) -> Result<(), ApiError> {
    if user.superadmin {
        return Ok(());
    }
    let roles = roles_in(pool, user.tenant_id, user.user_id, store).await?;
    if roles.iter().any(|r| can(*r, permission)) {
        Ok(())
    } else {
        Err(ApiError::Authz(format!(
            "permission {permission} is required{}",
            store.map(|s| format!(" in store {s}")).unwrap_or_default()
        )))
    }
}

/// The strongest role a user holds anywhere in the tenant (any store, or tenant-wide).
pub async fn rank_in_tenant(
    pool: &PgPool,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<Role>, ApiError> {
    let rows: Vec<(String,)> =
        query_as("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_all(pool)
            .await?;
    Ok(strongest(
        rows.into_iter().filter_map(|(r,)| r.parse().ok()),
    ))
}

/// What a change to another person's roles or PIN needs on top of its permission
/// (`pos_core::auth::rank`): the caller, with the roles that apply in `store`, must outrank the
/// target's strongest role, and reach `role` when one is granted or revoked. A superadmin may;
/// so may anyone acting on themselves (but never granting above their own rank).
pub async fn require_rank(
    pool: &PgPool,
    user: &UserAuth,
    store: Option<Uuid>,
    target: Uuid,
    role: Option<Role>,
) -> Result<(), ApiError> {
    if user.superadmin {
        return Ok(());
    }
    let mine = roles_in(pool, user.tenant_id, user.user_id, store).await?;
    let theirs = target_rank(pool, user, target).await?;
    check_rank(&mine, theirs, role)
}

/// The strongest role of the person `user` acts on, or `None` when that is `user` themselves
/// (their own rank never stops them).
async fn target_rank(
    pool: &PgPool,
    user: &UserAuth,
    target: Uuid,
) -> Result<Option<Role>, ApiError> {
    if target == user.user_id {
        return Ok(None);
    }
    rank_in_tenant(pool, user.tenant_id, target).await
}

/// [`require_rank`] on roles already read: `mine` apply in the scope, `theirs` from
/// [`target_rank`].
pub fn check_rank(mine: &[Role], theirs: Option<Role>, role: Option<Role>) -> Result<(), ApiError> {
    let mine = strongest(mine.iter().copied())
        .ok_or_else(|| ApiError::Authz("you hold no role here".into()))?;
    if let Some(role) = role {
        if !pos_core::auth::rank::may_grant(mine, role) {
            return Err(ApiError::Authz(format!(
                "a {mine} cannot grant or revoke the {role} role, which outranks theirs"
            )));
        }
    }
    if !pos_core::auth::rank::may_act_on(mine, theirs) {
        let theirs = theirs.map(|r| r.to_string()).unwrap_or_default();
        return Err(ApiError::Authz(format!(
            "this user is a {theirs}, which a {mine} does not outrank: \
             only someone above them may change their roles or PIN"
        )));
    }
    Ok(())
}

/// The strongest of a user's roles (owner first).
pub fn strongest(roles: impl IntoIterator<Item = Role>) -> Option<Role> {
    roles.into_iter().min()
}
