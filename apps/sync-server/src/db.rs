//! The database: connecting, migrating, and the few queries every part shares.

use std::borrow::Cow;

use sqlx_core::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx_core::sql_str::SqlSafeStr;
use sqlx_postgres::{PgPool, PgPoolOptions, Postgres};
use uuid::Uuid;

/// A Postgres transaction.
pub type Tx<'c> = sqlx_core::transaction::Transaction<'c, Postgres>;

/// The migrations in `migrations/` at the workspace root, embedded at build time. (The
/// workspace's `sqlx` crate and its `migrate!` macro cannot be used here: see Cargo.toml.)
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/0001_init.sql")),
    (
        2,
        "receipt_emails",
        include_str!("../../../migrations/0002_receipt_emails.sql"),
    ),
    (
        3,
        "push_throughput",
        include_str!("../../../migrations/0003_push_throughput.sql"),
    ),
    (
        4,
        "lighter_push_writes",
        include_str!("../../../migrations/0004_lighter_push_writes.sql"),
    ),
    (
        5,
        "price_conflicts_once",
        include_str!("../../../migrations/0005_price_conflicts_once.sql"),
    ),
    (
        6,
        "closed_sales_with_balance",
        include_str!("../../../migrations/0006_closed_sales_with_balance.sql"),
    ),
    (
        7,
        "device_kinds",
        include_str!("../../../migrations/0007_device_kinds.sql"),
    ),
    (
        8,
        "emails_per_tenant",
        include_str!("../../../migrations/0008_emails_per_tenant.sql"),
    ),
    (
        9,
        "reports",
        include_str!("../../../migrations/0009_reports.sql"),
    ),
    (
        10,
        "daily_summaries",
        include_str!("../../../migrations/0010_daily_summaries.sql"),
    ),
    (
        11,
        "report_index",
        include_str!("../../../migrations/0011_report_index.sql"),
    ),
    (
        12,
        "two_factor",
        include_str!("../../../migrations/0012_two_factor.sql"),
    ),
    (
        13,
        "personal_data",
        include_str!("../../../migrations/0013_personal_data.sql"),
    ),
    (
        14,
        "modules",
        include_str!("../../../migrations/0014_modules.sql"),
    ),
    (
        15,
        "audit_partitions",
        include_str!("../../../migrations/0015_audit_partitions.sql"),
    ),
    (
        16,
        "mail_delivery",
        include_str!("../../../migrations/0016_mail_delivery.sql"),
    ),
    (
        17,
        "webhooks",
        include_str!("../../../migrations/0017_webhooks.sql"),
    ),
    (
        18,
        "device_keys",
        include_str!("../../../migrations/0018_device_keys.sql"),
    ),
    (
        19,
        "change_refusals",
        include_str!("../../../migrations/0019_change_refusals.sql"),
    ),
];

/// Makes the audit trail's partitions of this month and the next `ahead` (migration 0015's
/// `audit_partition`), so that the default partition stays empty in normal running.
pub async fn audit_partitions(pool: &PgPool, ahead: i64) -> Result<Vec<String>, sqlx_core::Error> {
    let mut made = Vec::new();
    for m in 0..=ahead {
        let (name,): (String,) = sqlx_core::query_as::query_as(
            "SELECT audit_partition((extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC')
               + make_interval(months => $1::int)) * 1000)::bigint)",
        )
        .bind(m as i32)
        .fetch_one(pool)
        .await?;
        made.push(name);
    }
    Ok(made)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(v, name, sql)| {
            Migration::new(
                *v,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations).run(pool).await
}

/// Connects a pool.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx_core::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(url)
        .await
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Takes the next `n` numbers of the tenant's server sequence; returns the first. The row lock
/// is held until the transaction ends, so sequence order is commit order.
pub async fn next_seqs(tx: &mut Tx<'_>, tenant: Uuid, n: i64) -> Result<i64, sqlx_core::Error> {
    let last: i64 = sqlx_core::query_scalar::query_scalar(
        "INSERT INTO tenant_seq (tenant_id, last_seq) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET last_seq = tenant_seq.last_seq + EXCLUDED.last_seq
         RETURNING last_seq",
    )
    .bind(tenant)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    Ok(last - n + 1)
}

/// The tenant's latest server sequence.
pub async fn last_seq(pool: &PgPool, tenant: Uuid) -> Result<i64, sqlx_core::Error> {
    let v: Option<i64> = sqlx_core::query_scalar::query_scalar(
        "SELECT last_seq FROM tenant_seq WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    Ok(v.unwrap_or(0))
}

/// One audit event, in the caller's transaction.
pub async fn audit(
    tx: &mut Tx<'_>,
    tenant: Uuid,
    actor_user: Option<Uuid>,
    actor_device: Option<Uuid>,
    action: &str,
    target: &str,
    diff: serde_json::Value,
) -> Result<(), sqlx_core::Error> {
    sqlx_core::query::query(
        "INSERT INTO audit_events (tenant_id, event_id, at, actor_user, actor_device, action, target, diff)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(now_ms())
    .bind(actor_user)
    .bind(actor_device)
    .bind(action)
    .bind(target)
    .bind(sqlx_core::types::Json(diff))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The Postgres channel that carries "more to pull" between server instances.
pub const CHANNEL: &str = "pos_changes";

/// Announces, in the transaction (so only on commit), that `tenant` has changes up to `seq`
/// for `store` (`None`: tenant-wide, every store).
pub async fn notify(
    tx: &mut Tx<'_>,
    tenant: Uuid,
    store: Option<Uuid>,
    seq: i64,
) -> Result<(), sqlx_core::Error> {
    let payload = format!(
        "{tenant}:{}:{seq}",
        store.map(|s| s.to_string()).unwrap_or_else(|| "*".into())
    );
    sqlx_core::query::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Tells every server instance that a device was revoked, so its live sockets close (at commit).
pub async fn notify_revoked(
    tx: &mut Tx<'_>,
    tenant: Uuid,
    device: Uuid,
) -> Result<(), sqlx_core::Error> {
    sqlx_core::query::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("revoked:{tenant}:{device}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// A new file in `migrations/` that is not listed in `MIGRATIONS` would never run.
    #[test]
    fn regression_every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations directory")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, name, _)| format!("{v:04}_{name}.sql"))
            .collect();
        assert_eq!(files, embedded);
    }
}
