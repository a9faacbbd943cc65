//! The daily summary email (issue 11): when a store's business day has ended, each person who
//! may read its reports (`report.view` there or tenant-wide, with an email address) gets one
//! plain-text email with the day's figures, written into the mail spool like emailed receipts.
//!
//! The figures are the reports' own (`reports::run` of the sales summary and the tenders), so
//! the email can never disagree with the console or the CSV. A store and day is claimed in
//! `daily_summaries` first (`ON CONFLICT DO NOTHING`), so it is sent once even with several
//! server instances, and a crash between the claim and the spool loses that one email rather
//! than sending it twice (the audit event says how many were written).

use std::time::Duration;

use pos_core::auth::{can, Permission, Role};
use pos_core::calendar::{self, Day, StoreClock};
use pos_core::metrics::Metric;
use sqlx_core::query_as::query_as;
use uuid::Uuid;

use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::reports::{self, Cell, Report, Scope, ScopeStore, Table};
use crate::state::AppState;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// Store-days summarised.
    pub summaries: usize,
    /// Email files written.
    pub emails: usize,
}

/// Sends every summary that is due at `now`: for each store, the business day that ended last,
/// unless already sent (or the store did not exist yet then).
pub async fn send_due(state: &AppState, now: i64) -> Result<Sent, ApiError> {
    let stores: Vec<(
        Uuid,
        Uuid,
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = query_as(
        "SELECT s.tenant_id, s.store_id, s.code, s.name, s.created_at, p.time_zone,
                    p.business_day_start, p.currency
             FROM stores s LEFT JOIN p_settings p
               ON p.tenant_id = s.tenant_id AND p.store_id = s.store_id::text
             WHERE NOT EXISTS (SELECT 1 FROM tenant_modules t WHERE t.tenant_id = s.tenant_id
               AND t.module = 'reports' AND NOT t.enabled)
             ORDER BY s.tenant_id, s.code",
    )
    .fetch_all(&state.pool)
    .await?;
    // (Tenants without the reports module get no daily summary.)
    let mut sent = Sent::default();
    for (tenant, store, code, name, created_at, zone, start, currency) in stores {
        let clock = StoreClock::new(
            zone.as_deref().unwrap_or(calendar::DEFAULT_ZONE),
            start.as_deref().unwrap_or(calendar::DEFAULT_DAY_START),
        )
        .unwrap_or_else(|_| StoreClock::utc());
        let today = clock.business_day(now).map_err(ApiError::internal)?;
        let Ok(day) = today.yesterday() else { continue };
        let (_, end) = clock.day_bounds(day).map_err(ApiError::internal)?;
        if end <= created_at {
            continue;
        }
        let s = ScopeStore {
            store_id: store,
            code,
            name,
            currency,
            clock,
        };
        if let Some(n) = send_one(state, tenant, s, day, now).await? {
            sent.summaries += 1;
            sent.emails += n;
        }
    }
    Ok(sent)
}

/// Claims and sends one store's summary of `day`; `None` when it was already sent.
pub async fn send_one(
    state: &AppState,
    tenant: Uuid,
    store: ScopeStore,
    day: Day,
    now: i64,
) -> Result<Option<usize>, ApiError> {
    let recipients = recipients(state, tenant, store.store_id).await?;
    let scope = Scope::one_day(tenant, store, day);
    let summary = reports::run(state, &scope, Report::SalesSummary).await?;
    let tenders = reports::run(state, &scope, Report::Tenders).await?;
    let store = &scope.stores[0];
    let subject = format!("{} {}: the day's figures, {day}", store.code, store.name);
    let body = render(store, day, &summary, &tenders);

    let mut tx = state.pool.begin().await?;
    let claimed: Option<(i32,)> = query_as(
        "INSERT INTO daily_summaries (tenant_id, store_id, business_day, recipients, sent_at)
         VALUES ($1, $2, $3::date, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
    )
    .bind(tenant)
    .bind(store.store_id)
    .bind(day.to_string())
    .bind(recipients.len() as i32)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed.is_none() {
        return Ok(None);
    }
    let host = crate::mail::message_host(&state.settings.mail_from);
    let mut written = 0;
    for to in &recipients {
        let id = Uuid::now_v7();
        let message = pos_sync::mail::message(
            id,
            &state.settings.mail_from,
            to,
            &subject,
            &body,
            now,
            &host,
        );
        crate::smtp::spool(
            &mut tx,
            &state.settings.mail_spool_dir,
            tenant,
            id,
            crate::smtp::MailKind::DailySummary,
            message.into_bytes(),
        )
        .await?;
        written += 1;
    }
    db::audit(
        &mut tx,
        tenant,
        None,
        None,
        "report.daily_summary",
        &format!("store:{}", store.store_id),
        serde_json::json!({ "business_day": day.to_string(), "emails": written }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(written))
}

/// Everyone with an email who may read the store's reports (`pos_core::auth::can`).
async fn recipients(state: &AppState, tenant: Uuid, store: Uuid) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(Uuid, Vec<u8>, String)> = query_as(
        "SELECT u.user_id, u.email_sealed, m.role FROM memberships m
         JOIN users u ON u.tenant_id = m.tenant_id AND u.user_id = m.user_id
         WHERE m.tenant_id = $1 AND (m.store_id = $2 OR m.store_id IS NULL)
           AND u.email_sealed IS NOT NULL",
    )
    .bind(tenant)
    .bind(store)
    .fetch_all(&state.pool)
    .await?;
    let mut out: Vec<String> = Vec::new();
    for (user, sealed, role) in rows {
        if !role
            .parse::<Role>()
            .is_ok_and(|r| can(r, Permission::ReportView))
        {
            continue;
        }
        out.push(
            state
                .keys
                .open(
                    &state.pool,
                    tenant,
                    crate::keys::Column::UserEmail,
                    user,
                    &sealed,
                )
                .await?,
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `12.34 EUR`, by the currency's own exponent (the core's `Money` text).
fn money(minor: i64, currency: Option<&str>) -> String {
    match currency.map(pos_core::money::Currency::from_code) {
        Some(Ok(c)) => pos_core::money::Money::new(minor, c).to_string(),
        _ => pos_core::money::format_minor(minor, 2),
    }
}

fn cell(t: &Table, row: usize, col: &str) -> i64 {
    t.columns
        .iter()
        .position(|c| *c == col)
        .and_then(|i| match t.rows.get(row).map(|r| &r[i]) {
            Some(Cell::Int(v)) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

/// The email's text: the metric dictionary's figures with their names.
fn render(store: &ScopeStore, day: Day, summary: &Table, tenders: &Table) -> String {
    let cur = store.currency.as_deref();
    let (start, end) = store.clock.day_bounds(day).unwrap_or((0, 0));
    let mut b = format!(
        "{} {}: business day {day}\n{} to {} ({})\n\n",
        store.code,
        store.name,
        store.clock.date_time(start),
        store.clock.date_time(end),
        store.clock.zone()
    );
    let has_row = !summary.rows.is_empty();
    let counts = [Metric::SalesCount, Metric::RefundsCount, Metric::VoidsCount];
    for &m in reports::SUMMARY_METRICS {
        let v = if has_row {
            cell(summary, 0, m.key())
        } else {
            0
        };
        let shown = if counts.contains(&m) {
            v.to_string()
        } else {
            money(v, cur)
        };
        b.push_str(&format!("{:<14} {shown:>16}\n", m.key()));
    }
    b.push_str("\ntenders (net of refunds)\n");
    if tenders.rows.is_empty() {
        b.push_str("  none\n");
    }
    for (i, r) in tenders.rows.iter().enumerate() {
        let tender = match r.get(3) {
            Some(Cell::Text(t)) => t.clone(),
            _ => "?".into(),
        };
        b.push_str(&format!(
            "  {tender:<12} {:>16}\n",
            money(cell(tenders, i, "net_amount"), cur)
        ));
    }
    b.push_str(
        "\nEach figure is defined in the metric dictionary (docs/metrics.md); the console's \
         sales summary shows the same numbers.\n",
    );
    b
}

/// Runs [`send_due`] every `every` until shutdown; errors are logged and retried next time.
pub fn spawn(state: AppState, every: Duration) {
    let mut stop = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            match send_due(&state, now_ms()).await {
                Ok(s) if s.summaries > 0 => {
                    tracing::info!(
                        summaries = s.summaries,
                        emails = s.emails,
                        "daily summaries sent"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "daily summaries failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    });
}
