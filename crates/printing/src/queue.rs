//! The durable print queue: jobs in the device's SQLite file, printed by a background worker.
//!
//! # Life of a job
//!
//! ```text
//! enqueue ──> queued ──> printing ──> done
//!               ^          │  (phase connecting -> sending)
//!               │          v
//!               └──── retrying (backoff, last error)      failed (max attempts / cancelled)
//!                                                          interrupted (restart, Hold policy)
//! ```
//!
//! * The caller enqueues after its sale has committed; enqueueing is one small SQLite insert on
//!   the queue's own connection and never touches the printer, so a printer fault never blocks
//!   a sale. An optional caller-supplied job key makes enqueueing idempotent.
//! * One worker thread per queue prints jobs in id order. Before sending, it asks the printer
//!   for its status when the profile supports it (paper out, cover open, no answer: the job is
//!   not sent and is retried with exponential backoff). After sending, a second status request
//!   confirms that the printer read the whole job (TCP hands bytes to the kernel long before
//!   the printer has them; a connection dropped mid-job shows up here) .
//! * A job can be reprinted (a new job with the same bytes, `reprint_of` set) and its state is
//!   readable at any time ([`PrintQueue::job`], [`PrintQueue::jobs`]).
//!
//! # Restart mid-job: what is guaranteed
//!
//! Exactly-once printing cannot be guaranteed across a crash: the printer does not take part
//! in our transaction. The queue narrows the uncertain window and decides deterministically:
//!
//! 1. A job is marked `printing`/`connecting` (committed) before connecting. If the app stops
//!    in this phase, no byte of the job has left the process: on the next start the job is
//!    retried. *No loss, no duplicate.*
//! 2. Just before the first byte of the job is written, the phase becomes `sending`
//!    (committed before any byte is written; every commit of the queue uses WAL with
//!    `synchronous = NORMAL`, the device store's own durability: it survives the app being
//!    killed; a power cut may lose the last commits of both). `done` is committed right after the printer confirmed
//!    reception. If the app stops between the two, the printer may have printed all, part or
//!    none of the job. The [`Recovery`] policy decides:
//!    * [`Recovery::Resend`] (default): the job is sent again. **At-least-once**: nothing is
//!      ever lost; a duplicate is possible only for a crash inside this window (the time to
//!      write one job and read one status byte back, milliseconds on a healthy printer). A
//!      torn first copy has no cut, so the shop gets one complete receipt.
//!    * [`Recovery::Hold`]: the job becomes `interrupted` and is not sent again until the
//!      operator chooses [`PrintQueue::retry_now`] (reprint) or [`PrintQueue::cancel`].
//!      **At-most-once** automatic printing, nothing silently lost (the job stays visible).
//!      Meant for kitchen printers, where a duplicate ticket means food cooked twice.
//!
//! A connection that drops while sending, or a missing confirmation, is retried the same way
//! as `Resend` (at-least-once), since the process is alive and knows the job is unconfirmed.
//!
//! The queue keeps to its own tables (`print_schema_version`, `print_jobs`) in the file it is
//! given and opens its own connections (WAL), so it does not interfere with other code using
//! the same file. Several queues (one per printer name) can share one file; one process should
//! run at most one queue per printer name.

use crate::escpos;
use crate::layout::Document;
use crate::profile::PrinterProfile;
use crate::status::{query_status, PrinterStatus};
use crate::transport::Connector;
use crate::PrintError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Schema version of the queue's tables.
pub const SCHEMA_VERSION: i64 = 1;

const MIGRATION_1: &str = "
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    printer TEXT NOT NULL,
    job_key TEXT,
    label TEXT NOT NULL DEFAULT '',
    payload BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'printing', 'retrying', 'done', 'failed', 'interrupted')),
    phase TEXT CHECK (phase IN ('connecting', 'sending')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    reprint_of INTEGER REFERENCES print_jobs(id),
    UNIQUE (printer, job_key)
);
CREATE INDEX print_jobs_pending ON print_jobs (printer, state, id);
";

/// A job's id in the queue.
pub type JobId = i64;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the worker.
    Queued,
    /// The worker is on it (see [`JobInfo::phase`]).
    Printing,
    /// The last attempt failed ([`JobInfo::last_error`]); another is scheduled.
    Retrying,
    /// Printed (the printer confirmed reception).
    Done,
    /// Given up (max attempts reached or cancelled).
    Failed,
    /// The app stopped while the job was being sent and the [`Recovery::Hold`] policy is on:
    /// waiting for the operator.
    Interrupted,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Printing => "printing",
            JobState::Retrying => "retrying",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Result<Self, PrintError> {
        Ok(match s {
            "queued" => JobState::Queued,
            "printing" => JobState::Printing,
            "retrying" => JobState::Retrying,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "interrupted" => JobState::Interrupted,
            other => return Err(PrintError::Store(format!("unknown job state {other:?}"))),
        })
    }

    /// Done, failed: nothing more will happen without the operator.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens on start to a job that was being sent when the app stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Send it again (at-least-once).
    #[default]
    Resend,
    /// Mark it `interrupted` and wait for the operator (at-most-once).
    Hold,
}

/// Queue settings.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The printer this queue serves; jobs are scoped to it in the shared tables.
    pub printer: String,
    /// Ask the printer for its status before and after each job (set from
    /// [`PrinterProfile::supports_status`]). Without it, a job counts as printed once written.
    pub check_status: bool,
    /// How long to wait for each status byte.
    pub status_timeout: Duration,
    /// First retry delay; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Give up after this many attempts (`None`: retry until printed or cancelled).
    pub max_attempts: Option<u32>,
    /// Policy for jobs interrupted by a restart while being sent.
    pub recovery: Recovery,
}

impl QueueOptions {
    /// Defaults for `printer` with `profile`: status checks if the profile supports them, 1 s
    /// status timeout, backoff 0.5 s doubling to 30 s, unlimited attempts, [`Recovery::Resend`].
    pub fn new(printer: impl Into<String>, profile: &PrinterProfile) -> Self {
        QueueOptions {
            printer: printer.into(),
            check_status: profile.supports_status(),
            status_timeout: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_attempts: None,
            recovery: Recovery::Resend,
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(20);
        self.backoff_initial
            .saturating_mul(1u32 << shift)
            .min(self.backoff_max)
    }
}

/// A job as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct JobInfo {
    /// Id.
    pub id: JobId,
    /// The printer (queue) name.
    pub printer: String,
    /// The caller's idempotency key.
    pub key: Option<String>,
    /// The caller's label ("Receipt S01-D02-000123").
    pub label: String,
    /// State.
    pub state: JobState,
    /// While printing: `connecting` or `sending`.
    pub phase: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the next attempt is due (ms since the Unix epoch).
    pub next_attempt_at_ms: i64,
    /// Created (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// Last change (ms since the Unix epoch).
    pub updated_at_ms: i64,
    /// The job this one reprints.
    pub reprint_of: Option<JobId>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open_conn(path: &Path) -> Result<Connection, PrintError> {
    let conn = Connection::open(path)
        .map_err(|e| PrintError::Store(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(PrintError::Store(format!(
            "{} does not support wal (journal mode {mode})",
            path.display()
        )));
    }
    // The same durability as the device's store, whose sale commit a job follows: a killed
    // app loses nothing committed. Only the `sending` mark is made durable across a power cut
    // (see `durable`), because it is what prevents a duplicate print.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), PrintError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS print_schema_version (version INTEGER NOT NULL);",
    )?;
    let v: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM print_schema_version",
        [],
        |r| r.get(0),
    )?;
    if v > SCHEMA_VERSION {
        return Err(PrintError::Store(format!(
            "print queue schema version {v} is newer than this build ({SCHEMA_VERSION})"
        )));
    }
    if v < 1 {
        tx.execute_batch(MIGRATION_1)?;
        tx.execute("INSERT INTO print_schema_version (version) VALUES (1)", [])?;
    }
    tx.commit()?;
    Ok(())
}

const JOB_COLUMNS: &str = "id, printer, job_key, label, state, phase, attempts, last_error, \
                           next_attempt_at, created_at, updated_at, reprint_of";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JobInfo, String)> {
    let state: String = r.get(4)?;
    Ok((
        JobInfo {
            id: r.get(0)?,
            printer: r.get(1)?,
            key: r.get(2)?,
            label: r.get(3)?,
            state: JobState::Queued,
            phase: r.get(5)?,
            attempts: r.get(6)?,
            last_error: r.get(7)?,
            next_attempt_at_ms: r.get(8)?,
            created_at_ms: r.get(9)?,
            updated_at_ms: r.get(10)?,
            reprint_of: r.get(11)?,
        },
        state,
    ))
}

fn finish_row(x: (JobInfo, String)) -> Result<JobInfo, PrintError> {
    let (mut j, s) = x;
    j.state = JobState::parse(&s)?;
    Ok(j)
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    last_status: Mutex<Option<(PrinterStatus, SystemTime)>>,
}

/// The durable print queue of one printer, with its worker thread. Dropping it stops the
/// worker after the current attempt (bounded by the transport's timeouts).
pub struct PrintQueue {
    conn: Mutex<Connection>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    printer: String,
}

impl PrintQueue {
    /// Opens (creating or migrating its tables) the queue in the SQLite file at `path`,
    /// recovers jobs interrupted by a previous stop (see the module docs), and starts the
    /// worker that prints through `connector`.
    pub fn open(
        path: impl AsRef<Path>,
        connector: Arc<dyn Connector>,
        options: QueueOptions,
    ) -> Result<Self, PrintError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = open_conn(&path)?;
        migrate(&mut conn)?;
        recover(&conn, &options)?;
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            last_status: Mutex::new(None),
        });
        let worker_conn = open_conn(&path)?;
        worker_conn.pragma_update(None, "synchronous", "NORMAL")?;
        let printer = options.printer.clone();
        let w_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name(format!("print-queue-{}", options.printer))
            .spawn(move || worker_loop(worker_conn, connector, options, w_shared))
            .map_err(|e| PrintError::Store(format!("cannot start print worker: {e}")))?;
        Ok(PrintQueue {
            conn: Mutex::new(conn),
            shared,
            worker: Some(worker),
            printer,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock only means another caller panicked mid-call; SQLite state is intact.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.shared.wake.notify_all();
    }

    /// Enqueues `payload` (complete ESC/POS job bytes). With a `key`, enqueueing is
    /// idempotent: a second call with the same key returns the first job's id and adds nothing.
    pub fn enqueue(
        &self,
        key: Option<&str>,
        label: &str,
        payload: &[u8],
    ) -> Result<JobId, PrintError> {
        if payload.is_empty() {
            return Err(PrintError::InvalidLayout("empty print job".into()));
        }
        let now = now_ms();
        let id = {
            let conn = self.conn();
            // With a key, a concurrent or repeated enqueue hits the UNIQUE (printer, job_key)
            // constraint and adds nothing; the existing job's id is returned.
            let n = conn.execute(
                "INSERT INTO print_jobs (printer, job_key, label, payload, state, attempts, \
                 next_attempt_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?5) \
                 ON CONFLICT (printer, job_key) DO NOTHING",
                params![self.printer, key, label, payload, now],
            )?;
            match (n, key) {
                (0, Some(k)) => conn.query_row(
                    "SELECT id FROM print_jobs WHERE printer = ?1 AND job_key = ?2",
                    params![self.printer, k],
                    |r| r.get(0),
                )?,
                _ => conn.last_insert_rowid(),
            }
        };
        self.wake();
        Ok(id)
    }

    /// Renders `doc` for `profile` and enqueues it (see [`PrintQueue::enqueue`]).
    pub fn enqueue_document(
        &self,
        key: Option<&str>,
        label: &str,
        doc: &Document,
        profile: &PrinterProfile,
    ) -> Result<JobId, PrintError> {
        let bytes = crate::render::render_escpos(doc, profile)?;
        self.enqueue(key, label, &bytes)
    }

    /// Enqueues a drawer pulse (`ESC @` + `ESC p m t1 t2`) for `profile`.
    pub fn enqueue_open_drawer(
        &self,
        key: Option<&str>,
        profile: &PrinterProfile,
    ) -> Result<JobId, PrintError> {
        self.enqueue(key, "open drawer", &escpos::open_drawer_job(profile))
    }

    /// The job `id`.
    pub fn job(&self, id: JobId) -> Result<JobInfo, PrintError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM print_jobs WHERE id = ?1"),
                params![id],
                row_to_job,
            )
            .optional()?;
        finish_row(row.ok_or_else(|| PrintError::UnknownJob(id.to_string()))?)
    }

    /// The job enqueued with `key` on this printer, if any.
    pub fn job_by_key(&self, key: &str) -> Result<Option<JobInfo>, PrintError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM print_jobs WHERE printer = ?1 AND job_key = ?2"
                ),
                params![self.printer, key],
                row_to_job,
            )
            .optional()?;
        row.map(finish_row).transpose()
    }

    /// The `limit` most recent jobs of this printer, newest first.
    pub fn jobs(&self, limit: u32) -> Result<Vec<JobInfo>, PrintError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs WHERE printer = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![self.printer, limit], row_to_job)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(finish_row(r?)?);
        }
        Ok(out)
    }

    /// The bytes of job `id`.
    pub fn payload(&self, id: JobId) -> Result<Vec<u8>, PrintError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT payload FROM print_jobs WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| PrintError::UnknownJob(id.to_string()))
    }

    /// Enqueues a copy of job `id` (any state) as a new job with `reprint_of = id`.
    pub fn reprint(&self, id: JobId) -> Result<JobId, PrintError> {
        let now = now_ms();
        let new_id = {
            let conn = self.conn();
            let n = conn.execute(
                "INSERT INTO print_jobs (printer, job_key, label, payload, state, attempts, \
                 next_attempt_at, created_at, updated_at, reprint_of) \
                 SELECT printer, NULL, label, payload, 'queued', 0, ?2, ?2, ?2, id \
                 FROM print_jobs WHERE id = ?1",
                params![id, now],
            )?;
            if n == 0 {
                return Err(PrintError::UnknownJob(id.to_string()));
            }
            conn.last_insert_rowid()
        };
        self.wake();
        Ok(new_id)
    }

    /// Schedules job `id` now: a retrying job skips its backoff; a failed or interrupted one
    /// is queued again (the operator's "print again").
    pub fn retry_now(&self, id: JobId) -> Result<(), PrintError> {
        self.transition(
            id,
            &[
                JobState::Retrying,
                JobState::Failed,
                JobState::Interrupted,
                JobState::Queued,
            ],
            "queued",
            None,
        )?;
        self.wake();
        Ok(())
    }

    /// Gives up on job `id` (not printing or done): it becomes `failed`, "cancelled".
    pub fn cancel(&self, id: JobId) -> Result<(), PrintError> {
        self.transition(
            id,
            &[JobState::Queued, JobState::Retrying, JobState::Interrupted],
            "failed",
            Some("cancelled by operator"),
        )
    }

    fn transition(
        &self,
        id: JobId,
        from: &[JobState],
        to: &str,
        error: Option<&str>,
    ) -> Result<(), PrintError> {
        let current = self.job(id)?;
        if !from.contains(&current.state) {
            return Err(PrintError::InvalidJobState {
                id,
                state: current.state.to_string(),
                reason: format!("cannot become {to}"),
            });
        }
        let conn = self.conn();
        let states: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let n = conn.execute(
            &format!(
                "UPDATE print_jobs SET state = ?2, phase = NULL, next_attempt_at = ?3, \
                 updated_at = ?3, last_error = COALESCE(?4, last_error) \
                 WHERE id = ?1 AND state IN ({})",
                states
                    .iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            params![id, to, now_ms(), error],
        )?;
        if n == 0 {
            // The worker moved it in between.
            let now = self.job(id)?;
            return Err(PrintError::InvalidJobState {
                id,
                state: now.state.to_string(),
                reason: format!("cannot become {to}"),
            });
        }
        Ok(())
    }

    /// The printer's status as last seen by the worker, and when.
    pub fn last_status(&self) -> Option<(PrinterStatus, SystemTime)> {
        self.shared
            .last_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Jobs not yet done or failed (queued, printing, retrying, interrupted).
    pub fn pending_count(&self) -> Result<u64, PrintError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM print_jobs WHERE printer = ?1 \
             AND state IN ('queued', 'printing', 'retrying', 'interrupted')",
            params![self.printer],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Stops the worker after its current attempt and waits for it.
    pub fn shutdown(mut self) -> Result<(), PrintError> {
        self.stop_worker()
    }

    fn stop_worker(&mut self) -> Result<(), PrintError> {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake();
        if let Some(h) = self.worker.take() {
            h.join()
                .map_err(|_| PrintError::Store("print worker panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for PrintQueue {
    fn drop(&mut self) {
        let _ = self.stop_worker();
    }
}

/// Decides the fate of jobs left `printing` by a previous run (see the module docs).
fn recover(conn: &Connection, o: &QueueOptions) -> Result<(), PrintError> {
    let now = now_ms();
    conn.execute(
        "UPDATE print_jobs SET state = 'retrying', phase = NULL, next_attempt_at = ?2, updated_at = ?2, \
         last_error = 'restarted before sending attempt ' || attempts || '; nothing was sent' \
         WHERE printer = ?1 AND state = 'printing' AND (phase IS NULL OR phase = 'connecting')",
        params![o.printer, now],
    )?;
    let (state, note) = match o.recovery {
        Recovery::Resend => ("retrying", "; sending again (at-least-once)"),
        Recovery::Hold => ("interrupted", "; held for the operator (may have printed)"),
    };
    conn.execute(
        "UPDATE print_jobs SET state = ?2, phase = NULL, next_attempt_at = ?3, updated_at = ?3, \
         last_error = 'restarted while sending attempt ' || attempts || ?4 \
         WHERE printer = ?1 AND state = 'printing' AND phase = 'sending'",
        params![o.printer, state, now, note],
    )?;
    Ok(())
}

fn worker_loop(
    conn: Connection,
    connector: Arc<dyn Connector>,
    o: QueueOptions,
    shared: Arc<Shared>,
) {
    loop {
        if *shared.stop.lock().unwrap_or_else(|p| p.into_inner()) {
            return;
        }
        let wait = match next_job(&conn, &o.printer) {
            Ok(Some((id, due))) => {
                let now = now_ms();
                if due <= now {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process(&conn, connector.as_ref(), &o, &shared, id)
                    }));
                    match r {
                        Ok(Ok(())) => continue,
                        // Store errors and panics of a connector: back off and try again.
                        Ok(Err(e)) => {
                            let _ = fail_attempt(&conn, &o, id, &e.to_string());
                            Duration::from_millis(200)
                        }
                        Err(_) => {
                            let _ = fail_attempt(&conn, &o, id, "transport panicked");
                            Duration::from_millis(200)
                        }
                    }
                } else {
                    Duration::from_millis((due - now) as u64)
                }
            }
            Ok(None) => Duration::from_secs(1),
            Err(_) => Duration::from_millis(500),
        };
        let guard = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
        if *guard {
            return;
        }
        let _ = shared
            .wake
            .wait_timeout(guard, wait.min(Duration::from_secs(1)));
    }
}

/// The oldest pending job of `printer` and when it is due.
fn next_job(conn: &Connection, printer: &str) -> Result<Option<(JobId, i64)>, PrintError> {
    Ok(conn
        .query_row(
            "SELECT id, next_attempt_at FROM print_jobs WHERE printer = ?1 \
             AND state IN ('queued', 'retrying') ORDER BY id LIMIT 1",
            params![printer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Marks a job `sending` before its first byte leaves. Committed (WAL, `synchronous = NORMAL`,
/// like every write on the device): it survives the app being killed, which is what the restart
/// guarantees rest on. A power cut may lose it, as it may lose the last sales; the job is then
/// found `printing`, counted as never sent, and printed again (at-least-once).
fn set_sending(conn: &Connection, id: JobId) -> Result<(), PrintError> {
    conn.execute(
        "UPDATE print_jobs SET phase = 'sending', updated_at = ?2 WHERE id = ?1 AND state = 'printing'",
        params![id, now_ms()],
    )?;
    Ok(())
}

fn fail_attempt(
    conn: &Connection,
    o: &QueueOptions,
    id: JobId,
    err: &str,
) -> Result<(), PrintError> {
    let attempts: u32 = conn.query_row(
        "SELECT attempts FROM print_jobs WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    let now = now_ms();
    let give_up = o.max_attempts.is_some_and(|m| attempts >= m);
    let next = now + o.backoff(attempts).as_millis() as i64;
    conn.execute(
        "UPDATE print_jobs SET state = ?2, phase = NULL, last_error = ?3, next_attempt_at = ?4, \
         updated_at = ?5 WHERE id = ?1 AND state IN ('printing', 'queued', 'retrying')",
        params![
            id,
            if give_up { "failed" } else { "retrying" },
            err,
            next,
            now
        ],
    )?;
    Ok(())
}

fn process(
    conn: &Connection,
    connector: &dyn Connector,
    o: &QueueOptions,
    shared: &Shared,
    id: JobId,
) -> Result<(), PrintError> {
    let now = now_ms();
    let claimed = conn.execute(
        "UPDATE print_jobs SET state = 'printing', phase = 'connecting', attempts = attempts + 1, \
         updated_at = ?2 WHERE id = ?1 AND state IN ('queued', 'retrying')",
        params![id, now],
    )?;
    if claimed == 0 {
        return Ok(());
    }
    let payload: Vec<u8> = conn.query_row(
        "SELECT payload FROM print_jobs WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    match attempt(conn, connector, o, shared, id, &payload) {
        Ok(()) => {
            // NORMAL, like the store's own commits: a power cut that loses this leaves the job
            // in `sending`, which the recovery policy handles (at worst one duplicate print).
            conn.execute(
                "UPDATE print_jobs SET state = 'done', phase = NULL, last_error = NULL, \
                 updated_at = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            Ok(())
        }
        Err(e) => fail_attempt(conn, o, id, &e.to_string()),
    }
}

fn record_status(shared: &Shared, s: &PrinterStatus) {
    *shared.last_status.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((s.clone(), SystemTime::now()));
}

fn attempt(
    conn: &Connection,
    connector: &dyn Connector,
    o: &QueueOptions,
    shared: &Shared,
    id: JobId,
    payload: &[u8],
) -> Result<(), PrintError> {
    let mut t = connector.connect()?;
    if o.check_status {
        let s = query_status(t.as_mut(), o.status_timeout)?;
        record_status(shared, &s);
        if let Some(problem) = s.problem() {
            return Err(PrintError::NotReady(problem));
        }
    }
    set_sending(conn, id)?;
    t.write_all(payload)?;
    t.flush()?;
    if o.check_status {
        // The printer answering after the job means it has read all of it.
        let s = query_status(t.as_mut(), o.status_timeout)?;
        record_status(shared, &s);
        if let PrinterStatus::Unknown { reason } = s {
            return Err(PrintError::NotReady(format!(
                "delivery not confirmed: {reason}"
            )));
        }
    }
    Ok(())
}
