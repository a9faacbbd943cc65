//! Two-factor login for head-office users: TOTP (RFC 6238, `totp-rs`: SHA-1, six digits,
//! 30-second steps, one step of drift either way) and ten one-time recovery codes.
//!
//! - **Enrolment**: `POST /v1/auth/2fa/enrol` makes a secret (sealed under the master key, the
//!   row bound as associated data: [`crate::crypto`]) and answers its `otpauth://` URI and a QR
//!   code; `POST /v1/auth/2fa/confirm` with a first code turns it on, answers the recovery codes
//!   (kept only as argon2id hashes) and a full session.
//! - **Login**: a right password of a user with 2FA on answers a challenge token (5 minutes);
//!   `POST /v1/auth/login/2fa` with the token and a code (or a recovery code) opens the session.
//! - **A code counts once**: the step it matched is stored with
//!   `UPDATE … WHERE last_step < $step`, so a replayed code (or one of an earlier step) is refused
//!   even by two requests at once.
//! - **Wrong codes** count toward the same lockout as wrong passwords (`auth::record_failure`).
//! - **Who must**: with `--admin-2fa required` (the default), a user holding a role for which
//!   `pos_core::auth::requires_second_factor` holds (owner, admin), or the platform superadmin,
//!   gets only an enrolment token until 2FA is on.

use pos_core::auth::{requires_second_factor, Role};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{self, LoginResponse, SessionUser, UserAuth};
use crate::config::SecondFactor;
use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::state::AppState;

/// The name authenticator apps show for the account.
pub const ISSUER: &str = "POS head office";
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Steps of drift accepted either side of now.
const SKEW: u16 = 1;
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Recovery codes given at confirmation.
pub const RECOVERY_CODES: usize = 10;
/// Recovery code alphabet: no 0/O, 1/I/L.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// The second step a right password leads to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// Always true: tells this answer from a session.
    pub second_factor_required: bool,
    /// Single use; send it with a code to `/v1/auth/login/2fa`.
    pub challenge_token: String,
    /// Seconds the challenge stays valid.
    pub expires_in: i64,
}

/// A begun enrolment: what the authenticator app needs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Enrolment {
    /// The shared secret in base32, for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/…` with issuer, account, algorithm, digits and period.
    pub otpauth_uri: String,
    /// The URI as a QR code (an SVG document).
    pub qr_svg: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The six digits the app shows now.
    #[schema(pattern = "^ *([0-9] *){6}$")]
    pub code: String,
}

/// Two-factor is on: the recovery codes (shown once) and a full session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Confirmed {
    /// Ten one-time codes, each usable once instead of the app's code. Shown only now.
    pub recovery_codes: Vec<String>,
    pub session: LoginResponse,
}

/// The second login step: the challenge and either a code or a recovery code.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SecondStep {
    pub challenge_token: String,
    #[serde(default)]
    #[schema(pattern = "^ *([0-9] *){6}$")]
    pub code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Whether a user's two-factor is on (confirmed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub enabled: bool,
    /// Whether this user's roles make it compulsory (with `--admin-2fa required`).
    pub required: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

fn aad(tenant: Uuid, user: Uuid) -> Vec<u8> {
    format!("user_totp.secret_sealed:{tenant}:{user}").into_bytes()
}

fn totp(secret: &[u8], account: String) -> Result<Totp, ApiError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(SKEW)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(ApiError::internal)
}

/// Six digits, spaces allowed (apps show "123 456").
fn parse_code(code: &str) -> Result<String, ApiError> {
    let digits: String = code.chars().filter(|c| *c != ' ').collect();
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(format!(
            "a code is {DIGITS} digits (spaces allowed), got {} characters",
            code.chars().count()
        )));
    }
    Ok(digits)
}

/// The time step, within the drift allowed (`totp-rs` checks in constant time), whose code is
/// `code`.
fn matching_step(t: &Totp, code: &str, now_secs: u64) -> Option<i64> {
    t.check(code, now_secs).map(|s| s as i64)
}

fn now_secs() -> u64 {
    (now_ms() / 1000).max(0) as u64
}

/// Whether the user has two-factor on.
pub async fn is_on(tx: &mut db::Tx<'_>, tenant: Uuid, user: Uuid) -> Result<bool, ApiError> {
    Ok(query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_totp
         WHERE tenant_id = $1 AND user_id = $2 AND confirmed_at IS NOT NULL)",
    )
    .bind(tenant)
    .bind(user)
    .fetch_one(&mut **tx)
    .await?)
}

/// Whether the user's roles (or superadmin flag) make two-factor compulsory.
async fn required_for(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    superadmin: bool,
) -> Result<bool, ApiError> {
    if state.settings.admin_2fa == SecondFactor::Optional {
        return Ok(false);
    }
    if superadmin {
        return Ok(true);
    }
    let roles: Vec<(String,)> =
        query_as("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_all(&mut **tx)
            .await?;
    Ok(roles
        .iter()
        .filter_map(|(r,)| r.parse::<Role>().ok())
        .any(requires_second_factor))
}

/// Whether a session of this user may only enrol: 2FA is compulsory for them and not on.
pub async fn must_enrol(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    superadmin: bool,
) -> Result<bool, ApiError> {
    Ok(
        required_for(tx, state, tenant, user, superadmin).await?
            && !is_on(tx, tenant, user).await?,
    )
}

/// Issues a challenge for the second step (expired ones are swept on the way).
pub async fn challenge(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    user: Uuid,
) -> Result<Challenge, ApiError> {
    let now = now_ms();
    query("DELETE FROM login_challenges WHERE expires_at < $1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let token = auth::random_token();
    query(
        "INSERT INTO login_challenges (token_hash, tenant_id, user_id, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(auth::sha256(&token))
    .bind(tenant)
    .bind(user)
    .bind(now + CHALLENGE_TTL_MS)
    .execute(&mut **tx)
    .await?;
    Ok(Challenge {
        second_factor_required: true,
        challenge_token: token,
        expires_in: CHALLENGE_TTL_MS / 1000,
    })
}

/// The name the app shows under the issuer: the user's email, or their name.
async fn account_name(state: &AppState, tenant: Uuid, user: Uuid) -> Result<String, ApiError> {
    use crate::keys::Column;
    let (email, name): (Option<Vec<u8>>, Option<Vec<u8>>) = query_as(
        "SELECT email_sealed, name_sealed FROM users WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant)
    .bind(user)
    .fetch_one(&state.pool)
    .await?;
    let (pool, keys) = (&state.pool, &state.keys);
    let email = keys
        .open_opt(pool, tenant, Column::UserEmail, user, email.as_deref())
        .await?;
    let name = keys
        .open_opt(pool, tenant, Column::UserName, user, name.as_deref())
        .await?;
    Ok(email.or(name).unwrap_or_default().replace(':', " "))
}

/// `POST /v1/auth/2fa/enrol`: begins (or begins again) an enrolment. Refused once 2FA is on.
pub async fn enrol(state: &AppState, who: SessionUser) -> Result<Enrolment, ApiError> {
    let (tenant, user) = (who.tenant_id, who.user_id);
    let mut secret = vec![0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    let t = totp(&secret, account_name(state, tenant, user).await?)?;
    let sealed = state.settings.sealer.seal(&secret, &aad(tenant, user));
    let mut tx = state.pool.begin().await?;
    let done = query(
        "INSERT INTO user_totp (tenant_id, user_id, secret_sealed) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, user_id) DO UPDATE
           SET secret_sealed = EXCLUDED.secret_sealed, last_step = -1, created_at = now_ms()
           WHERE user_totp.confirmed_at IS NULL",
    )
    .bind(tenant)
    .bind(user)
    .bind(&sealed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(ApiError::conflict(
            "two-factor login is already on for this account",
        ));
    }
    db::audit(
        &mut tx,
        tenant,
        Some(user),
        None,
        "auth.2fa_enrol",
        &format!("user:{user}"),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    let otpauth_uri = t.to_url().map_err(ApiError::internal)?;
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(ApiError::internal)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment {
        secret: t.secret().to_base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// Checks `code` against the user's secret (confirmed or, with `pending`, not yet) and takes
/// its step, once. `Ok(false)`: wrong, replayed, or no such enrolment.
async fn take_code(
    tx: &mut db::Tx<'_>,
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    code: &str,
    pending: bool,
) -> Result<bool, ApiError> {
    let row: Option<(Vec<u8>, i64)> = query_as(
        "SELECT secret_sealed, last_step FROM user_totp
         WHERE tenant_id = $1 AND user_id = $2 AND (confirmed_at IS NULL) = $3
         FOR UPDATE",
    )
    .bind(tenant)
    .bind(user)
    .bind(pending)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((sealed, last_step)) = row else {
        return Ok(false);
    };
    let secret = state
        .settings
        .sealer
        .open(&sealed, &aad(tenant, user))
        .map_err(ApiError::internal)?;
    let Some(step) = matching_step(&totp(&secret, "check".into())?, code, now_secs()) else {
        return Ok(false);
    };
    if step <= last_step {
        return Ok(false);
    }
    let taken = query(
        "UPDATE user_totp SET last_step = $3,
           confirmed_at = COALESCE(confirmed_at, CASE WHEN $4 THEN now_ms() END)
         WHERE tenant_id = $1 AND user_id = $2 AND last_step < $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(step)
    .bind(pending)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

fn recovery_code() -> (String, String) {
    let mut rng = rand::thread_rng();
    let mut group = || -> String {
        (0..4)
            .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
            .collect()
    };
    let lookup = group();
    let code = format!("{lookup}-{}-{}", group(), group());
    (lookup, code)
}

fn normal_recovery(code: &str) -> String {
    code.trim().to_ascii_uppercase().replace(' ', "")
}

/// `POST /v1/auth/2fa/confirm`: the first code turns 2FA on; answers the recovery codes and a
/// full session (an enrolment-only session becomes a real one).
pub async fn confirm(
    state: &AppState,
    who: SessionUser,
    req: ConfirmRequest,
) -> Result<Confirmed, ApiError> {
    let code = parse_code(&req.code)?;
    let (tenant, user) = (who.tenant_id, who.user_id);
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        codes.push(recovery_code());
    }
    let to_hash: Vec<String> = codes.iter().map(|(_, c)| normal_recovery(c)).collect();
    let hashes = tokio::task::spawn_blocking(move || {
        to_hash
            .iter()
            .map(|c| pos_core::secret::hash_secret(c))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut tx = state.pool.begin().await?;
    if !take_code(&mut tx, state, tenant, user, &code, true).await? {
        drop(tx);
        return Err(
            if query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM user_totp WHERE tenant_id = $1 AND user_id = $2
                 AND confirmed_at IS NULL)",
            )
            .bind(tenant)
            .bind(user)
            .fetch_one(&state.pool)
            .await?
            {
                ApiError::validation("that code is not the one the app shows now: try the next")
            } else {
                ApiError::conflict("no enrolment is waiting: begin one at /v1/auth/2fa/enrol")
            },
        );
    }
    query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    for ((lookup, _), hash) in codes.iter().zip(&hashes) {
        query(
            "INSERT INTO recovery_codes (tenant_id, user_id, lookup, hash) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(user)
        .bind(lookup)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    }
    db::audit(
        &mut tx,
        tenant,
        Some(user),
        None,
        "auth.2fa_on",
        &format!("user:{user}"),
        serde_json::json!({}),
    )
    .await?;
    let session = auth::open_session(&mut tx, state, tenant, user, who.superadmin, "totp").await?;
    tx.commit().await?;
    Ok(Confirmed {
        recovery_codes: codes.into_iter().map(|(_, c)| c).collect(),
        session,
    })
}

/// Uses a recovery code of the user, once. `Ok(false)`: no such unused code.
async fn take_recovery(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    user: Uuid,
    code: &str,
) -> Result<bool, ApiError> {
    let code = normal_recovery(code);
    let Some(lookup) = code.split('-').next().filter(|l| l.len() == 4) else {
        return Ok(false);
    };
    let row: Option<(String,)> = query_as(
        "SELECT hash FROM recovery_codes
         WHERE tenant_id = $1 AND user_id = $2 AND lookup = $3 AND used_at IS NULL FOR UPDATE",
    )
    .bind(tenant)
    .bind(user)
    .bind(lookup)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((hash,)) = row else {
        return Ok(false);
    };
    let c = code.clone();
    let right = tokio::task::spawn_blocking(move || {
        pos_core::secret::verify_secret(&c, &hash).unwrap_or(false)
    })
    .await
    .map_err(ApiError::internal)?;
    if !right {
        return Ok(false);
    }
    query(
        "UPDATE recovery_codes SET used_at = now_ms()
         WHERE tenant_id = $1 AND user_id = $2 AND lookup = $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(lookup)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// `POST /v1/auth/login/2fa`: the challenge and a code (or a recovery code) open the session.
/// A wrong code counts toward the account's lockout; the challenge stays usable until it
/// expires or succeeds.
pub async fn second_step(
    state: &AppState,
    ip: &str,
    req: SecondStep,
) -> Result<LoginResponse, ApiError> {
    let now = now_ms();
    state
        .limiter
        .hit(
            &format!("login-ip:{ip}"),
            state.settings.login_per_ip_per_min,
            now,
        )
        .map_err(|retry_after_secs| ApiError::RateLimit {
            message: "too many login attempts; try again later".into(),
            retry_after_secs,
        })?;
    let code = match (&req.code, &req.recovery_code) {
        (Some(c), None) => Some(parse_code(c)?),
        (None, Some(_)) => None,
        _ => {
            return Err(ApiError::validation(
                "send either a code or a recovery_code",
            ))
        }
    };
    let row: Option<(Uuid, Uuid, i64)> = query_as(
        "SELECT tenant_id, user_id, expires_at FROM login_challenges WHERE token_hash = $1",
    )
    .bind(auth::sha256(&req.challenge_token))
    .fetch_optional(&state.pool)
    .await?;
    let (tenant, user) = match row {
        Some((t, u, exp)) if exp > now => (t, u),
        _ => {
            return Err(ApiError::Authn(
                "the login has expired or is unknown: enter the password again".into(),
            ))
        }
    };
    let mut tx = state.pool.begin().await?;
    let (throttle, superadmin) = auth::lock_throttle(&mut tx, tenant, user).await?;
    if let Err(until) = throttle.check(now_ms()) {
        return Err(auth::locked_out(until));
    }
    let (right, how) = match (&code, &req.recovery_code) {
        (Some(c), _) => (
            take_code(&mut tx, state, tenant, user, c, false).await?,
            "password+totp",
        ),
        (None, Some(r)) => (
            take_recovery(&mut tx, tenant, user, r).await?,
            "password+recovery_code",
        ),
        (None, None) => (false, ""),
    };
    if !right {
        drop(tx);
        if let Some(until) = auth::record_failure(state, tenant, user).await? {
            return Err(auth::locked_out(until));
        }
        return Err(ApiError::Authn(
            "wrong or already used code: wait for the next one".into(),
        ));
    }
    query("DELETE FROM login_challenges WHERE token_hash = $1")
        .bind(auth::sha256(&req.challenge_token))
        .execute(&mut *tx)
        .await?;
    let session = auth::open_session(&mut tx, state, tenant, user, superadmin, how).await?;
    tx.commit().await?;
    Ok(session)
}

/// `GET /v1/auth/2fa`: the caller's own two-factor state.
pub async fn status(state: &AppState, who: SessionUser) -> Result<Status, ApiError> {
    let mut tx = state.pool.begin().await?;
    let enabled = is_on(&mut tx, who.tenant_id, who.user_id).await?;
    let required = required_for(&mut tx, state, who.tenant_id, who.user_id, who.superadmin).await?;
    let left: i64 = query_scalar(
        "SELECT count(*) FROM recovery_codes
         WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
    )
    .bind(who.tenant_id)
    .bind(who.user_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Status {
        enabled,
        required,
        recovery_codes_left: left,
    })
}

/// `DELETE /v1/admin/users/{id}/2fa`: turns a user's two-factor off (a lost phone and lost
/// codes), by someone with `tenant.admin` who outranks them; the user enrols again at their next
/// login when their role requires it. Audited.
pub async fn reset(state: &AppState, who: &UserAuth, target: Uuid) -> Result<(), ApiError> {
    auth::require(
        &state.pool,
        who,
        None,
        pos_core::auth::Permission::TenantAdmin,
    )
    .await?;
    if target == who.user_id {
        return Err(ApiError::Authz(
            "turn your own two-factor off through another owner or admin".into(),
        ));
    }
    auth::require_rank(&state.pool, who, None, target, None).await?;
    let mut tx = state.pool.begin().await?;
    let gone = query("DELETE FROM user_totp WHERE tenant_id = $1 AND user_id = $2")
        .bind(who.tenant_id)
        .bind(target)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(ApiError::NotFound(format!(
            "user {target} has no two-factor login in this tenant"
        )));
    }
    query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(who.tenant_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    db::audit(
        &mut tx,
        who.tenant_id,
        Some(who.user_id),
        None,
        "auth.2fa_reset",
        &format!("user:{target}"),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_one_step_either_side_only() {
        let t = totp(b"12345678901234567890", "a@b.test".into()).unwrap();
        // RFC 6238's SHA-1 test vector at T = 59 s: 94287082 (eight digits); six: 287082.
        assert_eq!(t.generate(59).to_string(), "287082");
        let now = 1_000_000_000u64;
        let step = (now / STEP_SECS) as i64;
        for d in [-1i64, 0, 1] {
            let code = t.generate(((step + d) as u64) * STEP_SECS).to_string();
            assert_eq!(matching_step(&t, &code, now), Some(step + d));
        }
        let far = t.generate(((step + 2) as u64) * STEP_SECS).to_string();
        assert_eq!(matching_step(&t, &far, now), None);
    }

    #[test]
    fn codes_are_six_digits_spaces_allowed() {
        assert_eq!(parse_code("123 456").unwrap(), "123456");
        assert!(parse_code("12345").is_err());
        assert!(parse_code("12345a").is_err());
        assert!(parse_code("1234567").is_err());
    }

    #[test]
    fn recovery_codes_are_three_groups_of_an_unambiguous_alphabet() {
        let (lookup, code) = recovery_code();
        assert_eq!(code.len(), 14);
        assert!(code.starts_with(&format!("{lookup}-")));
        assert!(code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        assert_eq!(normal_recovery(&code.to_lowercase()), code);
    }
}
