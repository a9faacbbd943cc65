//! The device's local replica: a SQLite file (WAL) holding the store's documents, their
//! projections, the outbox and the sync cursor.
//!
//! **Architecture invariant: [`Store::write`] is the only way anything changes.** One call is one
//! SQLite transaction holding, for every document it touches: the automerge change, the
//! document's new projection rows, and the outbox entry. If any part fails, none of it happened,
//! and the in-memory copies of the touched documents are dropped so the next read reloads them.
//!
//! Before a change is stored, [`crate::policy::authorize`] runs on it with the acting staff
//! member's role: the device refuses what the server would refuse.

mod emails;
mod ops;
mod query;
mod refusals;
pub mod schema;
mod sync;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::{ActorId, AutoCommit, ChangeHash};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use thiserror::Error;
use uuid::Uuid;

use crate::auth::{Actor, AuthError, Role};
use crate::catalog::{CatalogError, StoreSettings};
use crate::doc::{codec, patch_paths, AnyDoc, DocError, Document, Envelope};
use crate::inventory::StockError;
use crate::kitchen::KitchenError;
use crate::money::MoneyError;
use crate::policy::{self, PolicyContext, PolicyError};
use crate::projection::{self, ProjectionError, Value, TABLES};
use crate::receipt::{ReceiptError, ReceiptNumber};
use crate::refund::{Refund, RefundError};
use crate::sale::{Sale, SaleError};
use crate::shift::ShiftError;

pub use emails::*;
pub use ops::*;
pub use query::*;
pub use refusals::Undone;
pub use sync::*;

/// Everything that can go wrong in the store. Domain errors pass through typed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path}: not a POS store (not a SQLite database); the file was left untouched")]
    NotAStore { path: PathBuf },
    #[error("{path}: a SQLite database of another application (application_id {app_id:#x}); the file was left untouched")]
    Foreign { path: PathBuf, app_id: i32 },
    #[error("{path}: written by a newer version (schema {found}, this build knows {known}); the file was left untouched")]
    TooNew {
        path: PathBuf,
        found: i32,
        known: i32,
    },
    #[error("{path}: the store is damaged ({reason}); the file was left untouched")]
    Corrupt { path: PathBuf, reason: String },
    /// A document's row or bytes in the store cannot be read. Found once the file was open
    /// for writing (a migration or a projection rebuild may have run), so unlike the errors
    /// above it does not say the file was left untouched.
    #[error("document {id} in the store is damaged: {reason}")]
    BadDocument { id: String, reason: String },
    #[error("{path}: no store here; create one first")]
    Missing { path: PathBuf },
    #[error("{path}: a file is already there; refusing to overwrite it")]
    AlreadyExists { path: PathBuf },
    #[error("the store has no identity (tenant, store, device)")]
    NoIdentity,
    #[error("unknown document {0}")]
    UnknownDocument(Uuid),
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("wrong PIN; {attempts_left} attempt(s) left before a lockout")]
    WrongPin { attempts_left: i64 },
    #[error("too many wrong PINs: locked until {until} (ms since epoch)")]
    LockedOut { until: i64 },
    #[error("no PIN is set for this user")]
    NoPin,
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    #[error("no open shift on this device")]
    NoOpenShift,
    #[error("a shift is already open on this device")]
    ShiftAlreadyOpen,
    #[error("the store has no settings yet")]
    NoSettings,
    #[error("receipt {0} not found")]
    UnknownReceipt(String),
    #[error("document {0} is not a closed sale or a refund of this store")]
    NotAReceipt(Uuid),
    #[error(transparent)]
    Email(#[from] crate::email::EmailError),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("stored change is unreadable: {0}")]
    BadChange(String),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error(transparent)]
    Doc(#[from] DocError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Refund(#[from] RefundError),
    #[error(transparent)]
    Shift(#[from] ShiftError),
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Kitchen(#[from] KitchenError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// Who this device is. Fixed when the store is created (by enrolment, or the demo).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceIdentity {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    /// Printed in receipt numbers, e.g. `S01`.
    pub store_code: String,
    /// Printed in receipt numbers, e.g. `T1`.
    pub device_code: String,
    /// What the device was enrolled as; a kitchen screen caps every role at kitchen
    /// ([`crate::auth::DeviceKind::cap`]). Stores made before kinds existed are tills.
    pub kind: crate::auth::DeviceKind,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct CachedDoc {
    env: Envelope,
    am: AutoCommit,
    typed: AnyDoc,
    /// `typed` as JSON: what the automerge document holds, the base of the next write's diff.
    json: serde_json::Value,
    /// Changes stored since the last snapshot.
    pending: i64,
}

/// Documents kept in memory between writes. Bounded: cleared when it grows past this.
const CACHE_LIMIT: usize = 512;

/// A document is compacted into a snapshot once it has this many changes since the last one,
/// or when it reaches a state where it no longer changes (a closed sale).
const COMPACT_AFTER: i64 = 32;

/// The local replica. See the module documentation.
pub struct Store {
    conn: Connection,
    /// Moves the WAL into the main file off the selling thread (see [`Checkpointer`]).
    checkpointer: Option<Checkpointer>,
    path: PathBuf,
    identity: DeviceIdentity,
    cache: HashMap<Uuid, CachedDoc>,
    settings: Option<(Uuid, StoreSettings)>,
    /// A pinned clock ([`Store::pin_clock`]); `None`: the system's.
    pinned_now: Option<i64>,
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

fn configure(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    // Every write transaction takes the write lock when it begins, waiting for it (the busy
    // timeout below) while another connection of the file holds it: the checkpointer's RESTART,
    // the print queue. A deferred transaction that has read first is refused at once instead
    // (SQLite cannot wait for a lock while holding a read snapshot): a sale failed with
    // "database is locked" under the backup benchmark's load.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run on the background checkpointer, never inside a sale's commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// A background thread with its own connection that checkpoints the WAL (PASSIVE: it never
/// blocks a writer) every half second. Without it, SQLite checkpoints inside whichever commit
/// crosses the WAL threshold, and that sale waits for it: the p99 of a write was ten times its
/// median before this (docs/benchmarks.md).
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("pos-store-checkpoint".into())
            .spawn(move || loop {
                match rx.recv_timeout(std::time::Duration::from_millis(500)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        // A busy or locked database just means: next time.
                        let _ = checkpoint(&conn, WAL_RESTART_FRAMES);
                    }
                    _ => return,
                }
            })
            .map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Checkpointer {
            stop,
            handle: Some(handle),
        })
    }
}

/// WAL frames (pages of 4 KiB) past which the checkpointer makes the next write start the WAL
/// over: about 16 MiB. A PASSIVE checkpoint copies frames back but the WAL file restarts only
/// when a writer begins after every frame was copied; a till that writes without a pause (a
/// bulk import, the backup benchmark's million sales) never gives it that moment, and its WAL
/// grew to 2.1 GB. Past this size, one RESTART checkpoint waits for the current write (up to
/// the busy timeout) and makes the next one start at the WAL's beginning.
const WAL_RESTART_FRAMES: i64 = 4096;

/// What one checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpointed {
    /// Frames in the WAL when it ran.
    frames: i64,
    /// Whether it had to RESTART the WAL (it held more than the limit).
    restarted: bool,
}

/// One round of the checkpointer: PASSIVE, then RESTART when the WAL holds more than
/// `restart_above` frames.
fn checkpoint(conn: &Connection, restart_above: i64) -> Result<Checkpointed, rusqlite::Error> {
    let frames: i64 =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))?;
    let restarted = frames > restart_above;
    if restarted {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(Checkpointed { frames, restarted })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Stop the checkpointer first, so that this connection closes last and folds the WAL
        // into the main file.
        self.checkpointer.take();
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

/// Checks, without writing anything, that `path` is a POS store this build can open.
fn inspect(path: &Path) -> Result<i32, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(io)?;
    let n = f.read(&mut header).map_err(io)?;
    if n < 16 || &header != SQLITE_MAGIC {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // Without a WAL beside it, open the file as immutable: SQLite then creates no -wal or -shm
    // file, so a file we end up refusing is left exactly as it was, directory included.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if wal.exists() {
        Connection::open_with_flags(path, flags)
    } else {
        let uri = format!("file:{}?mode=ro&immutable=1", path.display());
        Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
    }
    .map_err(corrupt)?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(corrupt)?;
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(corrupt)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(corrupt)?;
    if app_id != schema::APPLICATION_ID {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            app_id,
        });
    }
    if version > schema::CURRENT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: schema::CURRENT_VERSION,
        });
    }
    if tables == 0 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: "no tables".into(),
        });
    }
    // Read the identity to prove the schema is really ours and readable.
    conn.query_row("SELECT count(*) FROM meta", [], |r| r.get::<_, i64>(0))
        .map_err(corrupt)?;
    Ok(version)
}

fn read_identity(conn: &Connection) -> Result<DeviceIdentity, StoreError> {
    let get = |k: &str| -> Result<String, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NoIdentity)
    };
    let uuid = |k: &str| -> Result<Uuid, StoreError> {
        get(k)?.parse().map_err(|_| StoreError::NoIdentity)
    };
    Ok(DeviceIdentity {
        tenant_id: uuid("tenant_id")?,
        store_id: uuid("store_id")?,
        device_id: uuid("device_id")?,
        store_code: get("store_code")?,
        device_code: get("device_code")?,
        kind: match get("device_kind") {
            Ok(k) => k.parse().map_err(|_| StoreError::NoIdentity)?,
            Err(StoreError::NoIdentity) => crate::auth::DeviceKind::Till,
            Err(e) => return Err(e),
        },
    })
}

impl Store {
    /// Creates a new store at `path` for this device. Refuses to touch an existing file.
    pub fn create(path: &Path, identity: DeviceIdentity) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        ReceiptNumber::new(&identity.store_code, &identity.device_code, 1)?;
        let mut conn = Connection::open(path)?;
        configure(&mut conn)?;
        schema::migrate(&mut conn, 0, schema::CURRENT_VERSION)?;
        {
            let tx = conn.transaction()?;
            for (k, v) in [
                ("tenant_id", identity.tenant_id.to_string()),
                ("store_id", identity.store_id.to_string()),
                ("device_id", identity.device_id.to_string()),
                ("store_code", identity.store_code.clone()),
                ("device_code", identity.device_code.clone()),
                ("device_kind", identity.kind.to_string()),
                ("projections", schema::PROJECTIONS_VERSION.to_string()),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![k, v],
                )?;
            }
            tx.commit()?;
        }
        Ok(Store {
            checkpointer: Some(Checkpointer::start(path)?),
            conn,
            path: path.to_path_buf(),
            identity,
            cache: HashMap::new(),
            settings: None,
            pinned_now: None,
        })
    }

    /// Opens an existing store, migrating it if an older version wrote it. A file that is not a
    /// POS store, or is damaged, gives an error and is not modified.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        inspect(path)?;
        let mut conn = Connection::open(path)?;
        configure(&mut conn)?;
        // Read the version again through the real connection (a WAL may hold a newer header).
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > schema::CURRENT_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: schema::CURRENT_VERSION,
            });
        }
        if version < schema::CURRENT_VERSION {
            schema::migrate(&mut conn, version, schema::CURRENT_VERSION)?;
        }
        let identity = read_identity(&conn)?;
        let mut store = Store {
            checkpointer: Some(Checkpointer::start(path)?),
            conn,
            path: path.to_path_buf(),
            identity,
            cache: HashMap::new(),
            settings: None,
            pinned_now: None,
        };
        if store.projections_version()? < schema::PROJECTIONS_VERSION {
            store.rebuild_projections()?;
        }
        store.settings = store.load_settings()?;
        Ok(store)
    }

    /// The projection shape this file's rows were written with (`meta.projections`; 1 when
    /// absent, from before the key).
    fn projections_version(&self) -> Result<i32, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'projections'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(1))
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// Pins the store's clock at `at` (ms since the epoch) for every write until unpinned
    /// (`None`): a replay, a demo day or a test that must sell at a known instant (a business
    /// day's edge, a daylight-saving night). Tills run on the system clock.
    pub fn pin_clock(&mut self, at: Option<i64>) {
        self.pinned_now = at;
    }

    /// The store's clock: the pinned instant, or now.
    pub fn now(&self) -> i64 {
        self.pinned_now.unwrap_or_else(now_ms)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version of the open file.
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn load_settings(&self) -> Result<Option<(Uuid, StoreSettings)>, StoreError> {
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT doc_id FROM p_settings WHERE store_id = ?1",
                [self.identity.store_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let id: Uuid = id.parse().map_err(|_| StoreError::NoSettings)?;
        let (_, _, typed, _) = load_doc(&self.conn, id)?;
        Ok(Some((id, StoreSettings::from_any(typed)?)))
    }

    /// The store's settings (store name, currency, tax rates...).
    pub fn settings(&self) -> Result<&StoreSettings, StoreError> {
        self.settings
            .as_ref()
            .map(|(_, s)| s)
            .ok_or(StoreError::NoSettings)
    }

    /// Reads a document, typed.
    pub fn get<D: Document>(&mut self, id: Uuid) -> Result<D, StoreError> {
        if let Some(c) = self.cache.get(&id) {
            return Ok(D::from_any(c.typed.clone())?);
        }
        let (_, _, typed, _) = load_doc(&self.conn, id)?;
        Ok(D::from_any(typed)?)
    }

    /// The envelope of a document.
    pub fn envelope(&self, id: Uuid) -> Result<Envelope, StoreError> {
        if let Some(c) = self.cache.get(&id) {
            return Ok(c.env);
        }
        load_envelope(&self.conn, id)
    }

    /// Rebuilds every projection row from the stored documents (the projections are derived
    /// data: this must give the same rows the write path produced).
    pub fn rebuild_projections(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for t in TABLES {
            tx.execute(&format!("DELETE FROM {}", t.name), [])?;
        }
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT doc_id FROM documents ORDER BY doc_id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in ids {
            let id: Uuid = id.parse().map_err(|_| StoreError::BadDocument {
                id: id.clone(),
                reason: "not a document id".into(),
            })?;
            let (env, _, typed, _) = load_doc(&tx, id)?;
            write_projection(&tx, &env, &typed)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('projections', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [schema::PROJECTIONS_VERSION.to_string()],
        )?;
        tx.commit()?;
        self.cache.clear();
        Ok(())
    }

    /// The canonical digest of every projection table ([`projection::digest`]). Two replicas
    /// with equal digests show the same data on every screen.
    pub fn projection_digest(&self) -> Result<String, StoreError> {
        projection::digest(|t| {
            let sql = format!("SELECT {} FROM {}", t.columns.join(", "), t.name);
            let mut stmt = self.conn.prepare(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let mut vals = Vec::with_capacity(t.columns.len());
                for i in 0..t.columns.len() {
                    vals.push(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                        rusqlite::types::ValueRef::Text(b) => {
                            Value::Text(String::from_utf8_lossy(b).into_owned())
                        }
                        other => Value::Text(format!("{other:?}")),
                    });
                }
                out.push(vals);
            }
            Ok::<_, StoreError>(out)
        })
    }

    /// Runs `f` as one write: one SQLite transaction for every document it creates or changes,
    /// their projections and their outbox entries. See the module documentation.
    pub fn write<T>(
        &mut self,
        actor: &Actor,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.cache.len() > CACHE_LIMIT {
            // Documents that will not change again go first; then everything.
            self.cache.retain(|_, c| !policy_frozen(&c.typed));
            if self.cache.len() > CACHE_LIMIT {
                self.cache.clear();
            }
        }
        let now = self.now();
        let (result, touched) = {
            let tx = self.conn.transaction()?;
            let mut w = WriteTx {
                tx,
                cache: &mut self.cache,
                identity: &self.identity,
                settings: &mut self.settings,
                actor: *actor,
                touched: Vec::new(),
                now,
            };
            let result = f(&mut w);
            let WriteTx { tx, touched, .. } = w;
            (
                result.and_then(|v| tx.commit().map(|_| v).map_err(StoreError::from)),
                touched,
            )
        };
        if result.is_err() {
            for id in touched {
                self.cache.remove(&id);
            }
            // Settings may have been replaced inside the failed transaction: reread them.
            if let Ok(s) = self.load_settings() {
                self.settings = s;
            }
        }
        result
    }
}

fn load_envelope(conn: &Connection, id: Uuid) -> Result<Envelope, StoreError> {
    let row = conn
        .query_row(
            "SELECT doc_type, tenant_id, store_id, created_by_device FROM documents WHERE doc_id = ?1",
            [id.to_string()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?
        .ok_or(StoreError::UnknownDocument(id))?;
    let bad = |_| StoreError::BadDocument {
        id: id.to_string(),
        reason: "its envelope is not readable".into(),
    };
    Ok(Envelope {
        doc_id: id,
        doc_type: row.0.parse()?,
        tenant_id: row.1.parse().map_err(bad)?,
        store_id: row.2.map(|s| s.parse()).transpose().map_err(bad)?,
        created_by_device: row.3.parse().map_err(bad)?,
    })
}

/// Loads a document from its snapshot plus the changes stored since.
fn load_doc(
    conn: &Connection,
    id: Uuid,
) -> Result<(Envelope, AutoCommit, AnyDoc, i64), StoreError> {
    let env = load_envelope(conn, id)?;
    let (actor, snapshot, pending): (Vec<u8>, Option<Vec<u8>>, i64) = conn.query_row(
        "SELECT actor, snapshot, pending_changes FROM documents WHERE doc_id = ?1",
        [id.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut am = match snapshot {
        Some(bytes) => crate::doc::load_bytes(&bytes)?,
        None => AutoCommit::new(),
    };
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM doc_changes WHERE doc_id = ?1 ORDER BY seq")?;
    let mut changes = Vec::new();
    for bytes in stmt.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))? {
        changes.push(
            crate::doc::change_from_bytes(bytes?)
                .map_err(|e| StoreError::BadChange(e.to_string()))?,
        );
    }
    crate::doc::apply_changes(&mut am, changes)?;
    am.set_actor(ActorId::from(actor));
    let typed = AnyDoc::hydrate(env.doc_type, &am)?;
    Ok((env, am, typed, pending))
}

fn heads_text(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// One write in progress. Obtained from [`Store::write`].
pub struct WriteTx<'s> {
    tx: Transaction<'s>,
    cache: &'s mut HashMap<Uuid, CachedDoc>,
    identity: &'s DeviceIdentity,
    settings: &'s mut Option<(Uuid, StoreSettings)>,
    actor: Actor,
    touched: Vec<Uuid>,
    now: i64,
}

/// The policy's view of the local replica, inside the write's transaction.
struct LocalContext<'a> {
    tx: &'a Connection,
    settings: Option<&'a (Uuid, StoreSettings)>,
    /// Caps every role, as the server does for this device's changes.
    kind: crate::auth::DeviceKind,
}

impl PolicyContext for LocalContext<'_> {
    fn module_enabled(&self, module: crate::modules::Module) -> bool {
        query::entitlements_in(self.tx)
            .map(|e| e.enabled(module))
            .unwrap_or(true)
    }

    fn settings(&self, _store_id: Uuid) -> Option<StoreSettings> {
        self.settings.map(|(_, s)| s.clone())
    }

    fn role_of(&self, user_id: &str) -> Option<Role> {
        let role: Option<String> = self
            .tx
            .query_row(
                "SELECT role FROM staff WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        role.and_then(|r| r.parse().ok()).map(|r| self.kind.cap(r))
    }

    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(Sale, Vec<(Uuid, Refund)>)> {
        let (_, _, sale, _) = load_doc(self.tx, sale_id).ok()?;
        let sale = Sale::from_any(sale).ok()?;
        let mut stmt = self
            .tx
            .prepare_cached("SELECT doc_id FROM p_refunds WHERE sale_id = ?1 AND doc_id <> ?2")
            .ok()?;
        let ids: Vec<String> = stmt
            .query_map([sale_id.to_string(), excluding.to_string()], |r| r.get(0))
            .ok()?
            .collect::<Result<_, _>>()
            .ok()?;
        let mut refunds = Vec::with_capacity(ids.len());
        for id in ids {
            let id: Uuid = id.parse().ok()?;
            let (_, _, r, _) = load_doc(self.tx, id).ok()?;
            refunds.push((id, Refund::from_any(r).ok()?));
        }
        Some((sale, refunds))
    }
}

impl WriteTx<'_> {
    /// The time of this write, in ms since the epoch.
    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn identity(&self) -> &DeviceIdentity {
        self.identity
    }

    pub fn settings(&self) -> Result<&StoreSettings, StoreError> {
        self.settings
            .as_ref()
            .map(|(_, s)| s)
            .ok_or(StoreError::NoSettings)
    }

    /// Read access to the transaction, for queries inside a write.
    pub(crate) fn sql(&self) -> &Connection {
        &self.tx
    }

    fn cached(&mut self, id: Uuid) -> Result<&mut CachedDoc, StoreError> {
        if !self.cache.contains_key(&id) {
            let (env, am, typed, pending) = load_doc(&self.tx, id)?;
            let json = typed.to_json();
            self.cache.insert(
                id,
                CachedDoc {
                    env,
                    am,
                    typed,
                    json,
                    pending,
                },
            );
        }
        self.cache
            .get_mut(&id)
            .ok_or(StoreError::UnknownDocument(id))
    }

    /// Reads a document, typed, as this write sees it.
    pub fn get<D: Document>(&mut self, id: Uuid) -> Result<D, StoreError> {
        Ok(D::from_any(self.cached(id)?.typed.clone())?)
    }

    /// Creates a document. Its envelope comes from this device's identity, never from input.
    pub fn create<D: Document>(&mut self, doc: D) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        let env = Envelope {
            doc_id: id,
            tenant_id: self.identity.tenant_id,
            store_id: (!D::TYPE.is_tenant_wide()).then_some(self.identity.store_id),
            doc_type: D::TYPE,
            created_by_device: self.identity.device_id,
        };
        env.validate()?;
        let actor_bytes = Uuid::now_v7().as_bytes().to_vec();
        let mut am = AutoCommit::new();
        am.set_actor(ActorId::from(actor_bytes.clone()));
        let typed = doc.into_any();
        put_document_row(&self.tx, &env, &actor_bytes, None, "", 0, self.now)?;
        self.touched.push(id);
        self.cache.insert(
            id,
            CachedDoc {
                env,
                am,
                typed: typed.clone(),
                json: serde_json::Value::Object(Default::default()),
                pending: 0,
            },
        );
        self.commit_doc(id, None, typed)?;
        Ok(id)
    }

    /// Changes a document through `f`, which edits the typed value. Nothing is written if `f`
    /// fails or changes nothing.
    pub fn update<D: Document, R, E>(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&mut D) -> Result<R, E>,
    ) -> Result<R, StoreError>
    where
        StoreError: From<E>,
    {
        let before = self.cached(id)?.typed.clone();
        let mut value = D::from_any(before.clone())?;
        let result = f(&mut value)?;
        let after = value.into_any();
        if after != before {
            self.touched.push(id);
            self.commit_doc(id, Some(before), after)?;
        }
        Ok(result)
    }

    /// Reconciles `after` into the automerge document, checks the policy on the resulting
    /// change, and stores change, projections and outbox entry.
    fn commit_doc(
        &mut self,
        id: Uuid,
        before: Option<AnyDoc>,
        after: AnyDoc,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let cached = self.cached(id)?;
        let env = cached.env;
        let heads_before = cached.am.get_heads();
        let after_json = after.to_json();
        codec::write_diff(&mut cached.am, &automerge::ROOT, &cached.json, &after_json).map_err(
            |e| DocError::Reconcile {
                doc_type: env.doc_type,
                reason: e.to_string(),
            },
        )?;
        let seconds = now / 1000;
        let Some(hash) = cached
            .am
            .commit_with(automerge::transaction::CommitOptions::default().with_time(seconds))
        else {
            return Ok(());
        };
        let heads_after = cached.am.get_heads();
        let patches = cached.am.diff(&heads_before, &heads_after);
        let paths = patch_paths(&patches);
        let change = cached
            .am
            .get_last_local_change()
            .ok_or_else(|| StoreError::BadChange("no local change after commit".into()))?;
        let bytes = change.raw_bytes().to_vec();
        cached.typed = after.clone();
        // Keep the JSON forms for the policy below (no second serialization on the hot path).
        let before_json = std::mem::replace(&mut cached.json, after_json.clone());
        let seq = cached.pending;
        cached.pending += 1;
        let compact = cached.pending >= COMPACT_AFTER || policy_frozen(&after);
        let snapshot = compact.then(|| cached.am.save());
        if compact {
            cached.pending = 0;
        }
        let heads = heads_text(&heads_after);

        {
            let ctx = LocalContext {
                tx: &self.tx,
                settings: self.settings.as_ref(),
                kind: self.identity.kind,
            };
            policy::authorize_json(
                &ctx,
                &self.actor,
                &env,
                before.as_ref().map(|b| (b, &before_json)),
                (&after, &after_json),
                &paths,
            )?;
        }

        let hash_text = hash.to_string();
        self.tx
            .prepare_cached(
                "INSERT INTO doc_changes (doc_id, seq, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id.to_string(), seq, hash_text, bytes])?;
        match snapshot {
            Some(snap) => {
                self.tx
                    .prepare_cached("DELETE FROM doc_changes WHERE doc_id = ?1")?
                    .execute([id.to_string()])?;
                self.tx
                    .prepare_cached(
                        "UPDATE documents SET snapshot = ?2, heads = ?3, pending_changes = 0, updated_at = ?4 WHERE doc_id = ?1",
                    )?
                    .execute(params![id.to_string(), snap, heads, now])?;
            }
            None => {
                self.tx
                    .prepare_cached(
                        "UPDATE documents SET heads = ?2, pending_changes = pending_changes + 1, updated_at = ?3 WHERE doc_id = ?1",
                    )?
                    .execute(params![id.to_string(), heads, now])?;
            }
        }
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (doc_id, change_hash, bytes, user_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id.to_string(),
                hash_text,
                bytes,
                self.actor.user_id.to_string(),
                now
            ])?;
        write_projection(&self.tx, &env, &after)?;
        if let AnyDoc::StoreSettings(s) = &after {
            if env.store_id == Some(self.identity.store_id) {
                *self.settings = Some((id, s.clone()));
            }
        }
        Ok(())
    }

    /// Allocates the next number of a gapless per-device sequence, inside this transaction.
    pub fn next_in_sequence(&mut self, name: &str) -> Result<i64, StoreError> {
        let v: i64 = self.tx.query_row(
            "INSERT INTO counters (name, value) VALUES (?1, 1)
             ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            [name],
            |r| r.get(0),
        )?;
        Ok(v)
    }

    /// The next receipt number of this device.
    pub fn next_receipt_number(&mut self) -> Result<ReceiptNumber, StoreError> {
        let seq = self.next_in_sequence("receipt")?;
        Ok(ReceiptNumber::new(
            &self.identity.store_code,
            &self.identity.device_code,
            seq,
        )?)
    }
}

/// Inserts or replaces a document's row: its envelope, the automerge actor this device writes
/// it with, and its stored state (a snapshot, and the number of changes stored after it).
pub(crate) fn put_document_row(
    conn: &Connection,
    env: &Envelope,
    actor: &[u8],
    snapshot: Option<&[u8]>,
    heads: &str,
    pending: i64,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO documents (doc_id, doc_type, tenant_id, store_id, created_by_device, actor,
            snapshot, heads, pending_changes, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (doc_id) DO UPDATE SET actor = excluded.actor, snapshot = excluded.snapshot,
            heads = excluded.heads, pending_changes = excluded.pending_changes,
            updated_at = excluded.updated_at",
    )?
    .execute(params![
        env.doc_id.to_string(),
        env.doc_type.as_str(),
        env.tenant_id.to_string(),
        env.store_id.map(|s| s.to_string()),
        env.created_by_device.to_string(),
        actor,
        snapshot,
        heads,
        pending,
        now
    ])?;
    Ok(())
}

/// Documents in a state where they will not change again are compacted at once.
fn policy_frozen(doc: &AnyDoc) -> bool {
    matches!(doc, AnyDoc::Sale(s) if s.status != crate::sale::SaleStatus::Open)
}

/// Replaces a document's projection rows with the rows of its new state.
pub(crate) fn write_projection(
    conn: &Connection,
    env: &Envelope,
    doc: &AnyDoc,
) -> Result<(), StoreError> {
    let rows = projection::project(env, doc)?;
    let id = env.doc_id.to_string();
    for t in projection::tables_of(env.doc_type) {
        conn.prepare_cached(&format!("DELETE FROM {} WHERE doc_id = ?1", t.name))?
            .execute([&id])?;
    }
    for row in rows {
        let def = TABLES
            .iter()
            .find(|t| t.name == row.table)
            .ok_or_else(|| StoreError::BadChange(format!("no table {}", row.table)))?;
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            def.name,
            def.columns.join(", "),
            (1..=def.columns.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let params: Vec<&dyn rusqlite::ToSql> = row
            .values
            .iter()
            .map(|v| v as &dyn rusqlite::ToSql)
            .collect();
        stmt.execute(params.as_slice())?;
    }
    Ok(())
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;

    fn wal_db(path: &Path) -> Connection {
        let mut conn = Connection::open(path).unwrap();
        configure(&mut conn).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        conn
    }

    fn write_pages(conn: &Connection, pages: usize) {
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..pages {
            tx.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn a_wal_past_the_limit_is_restarted_so_the_next_write_starts_at_its_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let writer = wal_db(&path);
        let checkpointer = Connection::open(&path).unwrap();
        write_pages(&writer, 300);
        let first = checkpoint(&checkpointer, 100).unwrap();
        assert!(first.frames > 100, "{first:?}");
        assert!(first.restarted, "{first:?}");
        write_pages(&writer, 1);
        let next = checkpoint(&checkpointer, 100).unwrap();
        assert!(next.frames < 10, "the WAL did not start over: {next:?}");
        assert!(!next.restarted, "{next:?}");
    }

    #[test]
    fn a_small_wal_gets_only_the_passive_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let writer = wal_db(&path);
        let checkpointer = Connection::open(&path).unwrap();
        write_pages(&writer, 20);
        let c = checkpoint(&checkpointer, 100).unwrap();
        assert!(c.frames >= 20 && !c.restarted, "{c:?}");
    }
}
