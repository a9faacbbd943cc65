//! The key hierarchy for personal data at rest (issue 13).
//!
//! ```text
//! master key (file or environment, never in Postgres)       crypto::Sealer
//!   ├── wraps each tenant's data keys        tenant_keys (tenant_id, key_id, wrapped)
//!   │     └── seal the tenant's personal data: users.email_sealed, users.name_sealed,
//!   │         receipt_emails.recipient_sealed (AES-256-GCM; AAD = column, tenant, row)
//!   └── wraps the email index key            platform_keys ('email_index', wrapped)
//!         └── HMAC-SHA256 blind index of an email (users.email_index), for login
//! ```
//!
//! A sealed value is `2` ‖ the data key's id (4 bytes, big-endian) ‖ nonce (12) ‖ ciphertext and
//! tag, bound to `<table>.<column>:<tenant>:<row>`, so it opens only in its own row. Unwrapped
//! keys are cached in memory (bounded); the database only ever holds them wrapped.
//!
//! **Rotation** ([`rotate`]): every wrapped key is re-wrapped under the current master key, and
//! each tenant gets a new data key under which its rows are re-sealed in batches; until that
//! ends, `--previous-master-key` keeps the old master key able to open the old wrappings, and
//! old data keys stay in `tenant_keys` to open rows not yet re-sealed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use uuid::Uuid;

use crate::crypto::Sealer;
use crate::error::ApiError;

const VERSION: u8 = 2;
const NONCE: usize = 12;
/// Tenants whose keys are kept unwrapped in memory at once.
const MAX_CACHED_TENANTS: usize = 100_000;

/// What a sealed column holds, for its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    UserEmail,
    UserName,
    ReceiptRecipient,
}

impl Column {
    fn as_str(self) -> &'static str {
        match self {
            Column::UserEmail => "users.email_sealed",
            Column::UserName => "users.name_sealed",
            Column::ReceiptRecipient => "receipt_emails.recipient_sealed",
        }
    }
}

fn aad(column: Column, tenant: Uuid, row: Uuid) -> Vec<u8> {
    format!("{}:{tenant}:{row}", column.as_str()).into_bytes()
}

fn wrap_aad(tenant: Uuid, key_id: i32) -> Vec<u8> {
    format!("tenant_keys:{tenant}:{key_id}").into_bytes()
}

const INDEX_AAD: &[u8] = b"platform_keys:email_index";

/// One tenant's data keys: the newest seals, any opens.
struct TenantKeys {
    current: i32,
    keys: HashMap<i32, Aes256Gcm>,
}

/// The master key and the keys it unwrapped.
pub struct Keyring {
    master: Sealer,
    tenants: Mutex<HashMap<Uuid, Arc<TenantKeys>>>,
    index: Mutex<Option<[u8; 32]>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({:?})", self.master)
    }
}

fn key_material() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    k
}

fn broken(what: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("personal data keys: {what}"))
}

impl Keyring {
    pub fn new(master: Sealer) -> Keyring {
        Keyring {
            master,
            tenants: Mutex::new(HashMap::new()),
            index: Mutex::new(None),
        }
    }

    /// The tenant's keys, unwrapped (a first key is made for a tenant that has none).
    async fn tenant(&self, pool: &PgPool, tenant: Uuid) -> Result<Arc<TenantKeys>, ApiError> {
        if let Some(k) = self.tenants.lock().map_err(broken)?.get(&tenant) {
            return Ok(k.clone());
        }
        let mut rows = self.load(pool, tenant).await?;
        if rows.is_empty() {
            let wrapped = self.master.seal(&key_material(), &wrap_aad(tenant, 1));
            query(
                "INSERT INTO tenant_keys (tenant_id, key_id, wrapped) VALUES ($1, 1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(wrapped)
            .execute(pool)
            .await?;
            rows = self.load(pool, tenant).await?;
        }
        let mut keys = HashMap::new();
        for (id, wrapped) in &rows {
            let raw = self
                .master
                .open(wrapped, &wrap_aad(tenant, *id))
                .map_err(broken)?;
            let cipher = Aes256Gcm::new_from_slice(&raw).map_err(broken)?;
            keys.insert(*id, cipher);
        }
        let current = rows.iter().map(|(id, _)| *id).max().unwrap_or(1);
        let k = Arc::new(TenantKeys { current, keys });
        let mut cache = self.tenants.lock().map_err(broken)?;
        if cache.len() >= MAX_CACHED_TENANTS {
            cache.clear();
        }
        cache.insert(tenant, k.clone());
        Ok(k)
    }

    async fn load(&self, pool: &PgPool, tenant: Uuid) -> Result<Vec<(i32, Vec<u8>)>, ApiError> {
        Ok(
            query_as(
                "SELECT key_id, wrapped FROM tenant_keys WHERE tenant_id = $1 ORDER BY key_id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?,
        )
    }

    /// Forgets the unwrapped keys (after a rotation).
    pub fn forget(&self) {
        if let Ok(mut c) = self.tenants.lock() {
            c.clear();
        }
        if let Ok(mut i) = self.index.lock() {
            *i = None;
        }
    }

    /// Seals `plain` for `column` of `row` in `tenant`.
    pub async fn seal(
        &self,
        pool: &PgPool,
        tenant: Uuid,
        column: Column,
        row: Uuid,
        plain: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let keys = self.tenant(pool, tenant).await?;
        let cipher = keys
            .keys
            .get(&keys.current)
            .ok_or_else(|| broken("no current key"))?;
        let mut nonce = [0u8; NONCE];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad(column, tenant, row),
                },
            )
            .map_err(broken)?;
        let mut out = Vec::with_capacity(1 + 4 + NONCE + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&keys.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`Keyring::seal`] made for this column, tenant and row.
    pub async fn open(
        &self,
        pool: &PgPool,
        tenant: Uuid,
        column: Column,
        row: Uuid,
        sealed: &[u8],
    ) -> Result<String, ApiError> {
        let (key_id, nonce, ct) = split(sealed).ok_or_else(|| broken("malformed sealed value"))?;
        let keys = self.tenant(pool, tenant).await?;
        let cipher = keys
            .keys
            .get(&key_id)
            .ok_or_else(|| broken(format!("tenant {tenant} has no data key {key_id}")))?;
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(column, tenant, row),
                },
            )
            .map_err(|_| broken(format!("a sealed {} does not open", column.as_str())))?;
        String::from_utf8(plain).map_err(broken)
    }

    /// [`Keyring::open`] for an optional value.
    pub async fn open_opt(
        &self,
        pool: &PgPool,
        tenant: Uuid,
        column: Column,
        row: Uuid,
        sealed: Option<&[u8]>,
    ) -> Result<Option<String>, ApiError> {
        match sealed {
            Some(s) => Ok(Some(self.open(pool, tenant, column, row, s).await?)),
            None => Ok(None),
        }
    }

    /// The blind index of an email (already normalised): HMAC-SHA256 under the platform's
    /// index key, the same in every tenant, so login finds an email's accounts without reading
    /// any email.
    pub async fn email_index(&self, pool: &PgPool, email: &str) -> Result<Vec<u8>, ApiError> {
        let key = self.index_key(pool).await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(broken)?;
        mac.update(email.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    async fn index_key(&self, pool: &PgPool) -> Result<[u8; 32], ApiError> {
        if let Some(k) = *self.index.lock().map_err(broken)? {
            return Ok(k);
        }
        let wrapped = self.master.seal(&key_material(), INDEX_AAD);
        query(
            "INSERT INTO platform_keys (name, wrapped) VALUES ('email_index', $1)
             ON CONFLICT DO NOTHING",
        )
        .bind(wrapped)
        .execute(pool)
        .await?;
        let (wrapped,): (Vec<u8>,) =
            query_as("SELECT wrapped FROM platform_keys WHERE name = 'email_index'")
                .fetch_one(pool)
                .await?;
        let raw = self.master.open(&wrapped, INDEX_AAD).map_err(broken)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| broken("index key length"))?;
        *self.index.lock().map_err(broken)? = Some(key);
        Ok(key)
    }
}

fn split(sealed: &[u8]) -> Option<(i32, &[u8], &[u8])> {
    if sealed.len() < 1 + 4 + NONCE + 16 || sealed[0] != VERSION {
        return None;
    }
    let id = i32::from_be_bytes(sealed[1..5].try_into().ok()?);
    Some((id, &sealed[5..5 + NONCE], &sealed[5 + NONCE..]))
}

/// The data key a sealed value was made with.
pub fn key_of(sealed: &[u8]) -> Option<i32> {
    split(sealed).map(|(id, _, _)| id)
}

/// Seals what is still in clear (rows written before personal data was sealed, migration
/// 0013): run at start, in batches; each row's clear columns are emptied as it is sealed.
pub async fn seal_clear_rows(pool: &PgPool, keys: &Keyring) -> Result<u64, ApiError> {
    let mut done = 0;
    loop {
        let rows: Vec<(Uuid, Uuid, Option<String>, Option<String>)> = query_as(
            "SELECT tenant_id, user_id, email, name FROM users
             WHERE email IS NOT NULL OR name IS NOT NULL LIMIT 500",
        )
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for (tenant, user, email, name) in rows {
            let (email_sealed, index) = match &email {
                Some(e) => (
                    Some(keys.seal(pool, tenant, Column::UserEmail, user, e).await?),
                    Some(keys.email_index(pool, e).await?),
                ),
                None => (None, None),
            };
            let name_sealed = match &name {
                Some(n) => Some(keys.seal(pool, tenant, Column::UserName, user, n).await?),
                None => None,
            };
            query(
                "UPDATE users SET email = NULL, name = NULL,
                   email_sealed = COALESCE($3, email_sealed), email_index = COALESCE($4, email_index),
                   name_sealed = COALESCE($5, name_sealed)
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant)
            .bind(user)
            .bind(email_sealed)
            .bind(index)
            .bind(name_sealed)
            .execute(pool)
            .await?;
            done += 1;
        }
    }
    loop {
        let rows: Vec<(Uuid, Uuid, String)> = query_as(
            "SELECT tenant_id, email_id, recipient FROM receipt_emails
             WHERE recipient IS NOT NULL LIMIT 500",
        )
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for (tenant, id, recipient) in rows {
            let sealed = keys
                .seal(pool, tenant, Column::ReceiptRecipient, id, &recipient)
                .await?;
            query(
                "UPDATE receipt_emails SET recipient = NULL, recipient_sealed = $3
                 WHERE tenant_id = $1 AND email_id = $2",
            )
            .bind(tenant)
            .bind(id)
            .bind(sealed)
            .execute(pool)
            .await?;
            done += 1;
        }
    }
    Ok(done)
}

/// What [`rotate`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub keys_rewrapped: u64,
    pub rows_resealed: u64,
}

/// Rotates: every tenant and platform key is re-wrapped under the current master key (in one
/// transaction), each tenant gets a new data key, and every sealed row is re-sealed under its
/// tenant's newest key in batches of `batch` (each batch its own transaction, so a rotation
/// stopped half-way resumes, and reads work throughout: old data keys stay).
pub async fn rotate(pool: &PgPool, keys: &Keyring, batch: i64) -> Result<Rotated, ApiError> {
    let mut out = Rotated::default();
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, i32, Vec<u8>)> =
        query_as("SELECT tenant_id, key_id, wrapped FROM tenant_keys FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    let mut newest: HashMap<Uuid, i32> = HashMap::new();
    for (tenant, id, wrapped) in rows {
        let aad = wrap_aad(tenant, id);
        let raw = keys.master.open(&wrapped, &aad).map_err(broken)?;
        if !keys.master.is_current(&wrapped) {
            query("UPDATE tenant_keys SET wrapped = $3 WHERE tenant_id = $1 AND key_id = $2")
                .bind(tenant)
                .bind(id)
                .bind(keys.master.seal(&raw, &aad))
                .execute(&mut *tx)
                .await?;
            out.keys_rewrapped += 1;
        }
        let n = newest.entry(tenant).or_insert(id);
        *n = (*n).max(id);
    }
    for (tenant, id) in &newest {
        let next = id + 1;
        query("INSERT INTO tenant_keys (tenant_id, key_id, wrapped) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(next)
            .bind(keys.master.seal(&key_material(), &wrap_aad(*tenant, next)))
            .execute(&mut *tx)
            .await?;
    }
    let index: Option<(Vec<u8>,)> =
        query_as("SELECT wrapped FROM platform_keys WHERE name = 'email_index' FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((wrapped,)) = index {
        if !keys.master.is_current(&wrapped) {
            let raw = keys.master.open(&wrapped, INDEX_AAD).map_err(broken)?;
            query("UPDATE platform_keys SET wrapped = $1 WHERE name = 'email_index'")
                .bind(keys.master.seal(&raw, INDEX_AAD))
                .execute(&mut *tx)
                .await?;
            out.keys_rewrapped += 1;
        }
    }
    tx.commit().await?;
    keys.forget();
    out.rows_resealed = reseal(pool, keys, batch).await?;
    Ok(out)
}

/// Re-seals, in batches, every sealed value not made with its tenant's newest data key.
async fn reseal(pool: &PgPool, keys: &Keyring, batch: i64) -> Result<u64, ApiError> {
    let mut done = 0u64;
    // Users: the cursor is (tenant, user); a row is re-sealed when any of its values is old.
    let mut after = (Uuid::nil(), Uuid::nil());
    loop {
        let rows: Vec<(Uuid, Uuid, Option<Vec<u8>>, Option<Vec<u8>>)> = query_as(
            "SELECT tenant_id, user_id, email_sealed, name_sealed FROM users
             WHERE (tenant_id, user_id) > ($1, $2) ORDER BY tenant_id, user_id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(batch)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.0, last.1);
        let mut tx = pool.begin().await?;
        for (tenant, user, email, name) in rows {
            let current = keys.tenant(pool, tenant).await?.current;
            let stale =
                |v: &Option<Vec<u8>>| v.as_deref().is_some_and(|s| key_of(s) != Some(current));
            if !stale(&email) && !stale(&name) {
                continue;
            }
            let email = keys
                .open_opt(pool, tenant, Column::UserEmail, user, email.as_deref())
                .await?;
            let name = keys
                .open_opt(pool, tenant, Column::UserName, user, name.as_deref())
                .await?;
            let mut sealed = Vec::new();
            for (c, v) in [(Column::UserEmail, &email), (Column::UserName, &name)] {
                sealed.push(match v {
                    Some(v) => Some(keys.seal(pool, tenant, c, user, v).await?),
                    None => None,
                });
            }
            query(
                "UPDATE users SET email_sealed = $3, name_sealed = $4
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant)
            .bind(user)
            .bind(&sealed[0])
            .bind(&sealed[1])
            .execute(&mut *tx)
            .await?;
            done += 1;
        }
        tx.commit().await?;
    }
    let mut after = (Uuid::nil(), Uuid::nil());
    loop {
        let rows: Vec<(Uuid, Uuid, Option<Vec<u8>>)> = query_as(
            "SELECT tenant_id, email_id, recipient_sealed FROM receipt_emails
             WHERE (tenant_id, email_id) > ($1, $2) ORDER BY tenant_id, email_id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(batch)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.0, last.1);
        let mut tx = pool.begin().await?;
        for (tenant, id, sealed) in rows {
            let Some(sealed) = sealed else { continue };
            let current = keys.tenant(pool, tenant).await?.current;
            if key_of(&sealed) == Some(current) {
                continue;
            }
            let plain = keys
                .open(pool, tenant, Column::ReceiptRecipient, id, &sealed)
                .await?;
            let again = keys
                .seal(pool, tenant, Column::ReceiptRecipient, id, &plain)
                .await?;
            query(
                "UPDATE receipt_emails SET recipient_sealed = $3 WHERE tenant_id = $1 AND email_id = $2",
            )
            .bind(tenant)
            .bind(id)
            .bind(again)
            .execute(&mut *tx)
            .await?;
            done += 1;
        }
        tx.commit().await?;
    }
    Ok(done)
}
