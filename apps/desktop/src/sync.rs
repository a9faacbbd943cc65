//! The device's link to its sync server: the persisted credential, enrolment (a one-time code,
//! then a bootstrap into a staging folder that becomes the store only when complete), and the
//! background [`SyncRunner`] that shares the store with the commands.
//!
//! No business rule here: enrolment, bootstrap and sync rounds are `pos_sync`'s; this module
//! only places files and maps errors for the person at the screen.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{SyncEngine, SyncError, SyncStatus, TransportError};
use pos_sync::http::{DeviceCredential, HttpTransport};
use pos_sync::runner::SyncRunner;
use serde::Serialize;
use tauri::{Emitter, Runtime};

use crate::error::{CmdResult, CommandError};
use crate::state::{store_path, SyncLink};

/// Event with the bootstrap's progress during enrolment: [`Progress`].
pub const ENROL_PROGRESS_EVENT: &str = "enrol-progress";
/// Event after every sync round: the runner's `pos_sync::device::SyncStatus`.
pub const SYNC_STATUS_EVENT: &str = "sync-status";

const CREDENTIAL_FILE: &str = "credential.json";
const STAGING_DIR: &str = "enrolling";

/// Payload of [`ENROL_PROGRESS_EVENT`] (documents downloaded of the bootstrap's total) and of
/// [`crate::commands::catalog::IMPORT_PROGRESS_EVENT`] (rows imported of the file's).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

pub fn credential_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIAL_FILE)
}

/// The device's credential, if it is enrolled. A damaged file is reported, not replaced.
pub fn load_credential(data_dir: &Path) -> CmdResult<Option<DeviceCredential>> {
    let path = credential_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CommandError::Conflict(format!(
                "The server credential in {} is damaged ({e}). Enrol the device again.",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CommandError::Internal(format!("{}: {e}", path.display()))),
    }
}

/// Writes the credential readable by this user only (0600), atomically. The secret is never
/// logged nor sent to the UI.
pub fn save_credential(data_dir: &Path, cred: &DeviceCredential) -> CmdResult<()> {
    let path = credential_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec(cred).map_err(|e| CommandError::Internal(e.to_string()))?;
    let io = |e: std::io::Error| CommandError::Internal(format!("{}: {e}", path.display()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(&json).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Maps a transport failure for the person at the screen. `enrolling`: the code is what the
/// server refused (otherwise it is the device's credential).
pub fn transport_error(server: &str, e: TransportError, enrolling: bool) -> CommandError {
    let reason = |m: String| match m.split_once(": ") {
        Some((code, rest)) if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
            rest.to_string()
        }
        _ => m,
    };
    match e {
        TransportError::Unreachable(detail) => CommandError::ServerUnreachable {
            server: server.to_string(),
            detail,
        },
        TransportError::Unauthorized(m) if enrolling => {
            CommandError::EnrolCodeRefused { reason: reason(m) }
        }
        // A used code is a conflict (409) on the server.
        TransportError::Server {
            status: 409,
            message,
        } if enrolling => CommandError::EnrolCodeRefused {
            reason: reason(message),
        },
        TransportError::Unauthorized(m) => CommandError::DeviceRefused { reason: reason(m) },
        TransportError::Server { status, message } => CommandError::Server {
            message: format!("{} (HTTP {status})", reason(message)),
        },
        TransportError::Protocol(m) => CommandError::Server { message: m },
    }
}

/// A sync round's failure as the runner reports it (`SyncStatus::last_error`, the display of a
/// `pos_sync::device::SyncError`), mapped like [`transport_error`]: the engine marks the status
/// offline exactly when the server was unreachable, and an unauthorized answer displays as
/// `not authorized: ...`.
pub fn status_error(server: &str, online: bool, last_error: &str) -> CommandError {
    if !online {
        let detail = last_error
            .strip_prefix("server unreachable: ")
            .unwrap_or(last_error);
        return CommandError::ServerUnreachable {
            server: server.to_string(),
            detail: detail.to_string(),
        };
    }
    match last_error.strip_prefix("not authorized: ") {
        Some(m) => transport_error(server, TransportError::Unauthorized(m.to_string()), false),
        None => CommandError::Server {
            message: last_error.to_string(),
        },
    }
}

fn sync_error(server: &str, e: SyncError) -> CommandError {
    match e {
        SyncError::Transport(t) => transport_error(server, t, false),
        SyncError::Store(s) => s.into(),
        other @ SyncError::Mismatch { .. } => CommandError::Server {
            message: other.to_string(),
        },
    }
}

/// Removes a store file with its WAL and shared-memory companions.
fn remove_store_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Moves a closed store (and its companions, if any) from `from` to `to`.
fn move_store_files(from: &Path, to: &Path) -> std::io::Result<()> {
    for suffix in ["-wal", "-shm", ""] {
        let (mut f, mut t) = (from.as_os_str().to_owned(), to.as_os_str().to_owned());
        f.push(suffix);
        t.push(suffix);
        match std::fs::rename(PathBuf::from(f), PathBuf::from(t)) {
            Err(e) if suffix.is_empty() || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
            }
            _ => {}
        }
    }
    Ok(())
}

/// A bootstrapped store waiting in `<data_dir>/enrolling/` (closed), with its credential.
pub struct Staged {
    dir: PathBuf,
    cred: DeviceCredential,
}

impl Staged {
    pub fn server(&self) -> &str {
        &self.cred.server
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Enrols this device with `code` at `server` and bootstraps its store from the server's
/// snapshots, reporting progress. Everything happens in `<data_dir>/enrolling/`, which is
/// removed on failure: nothing is left behind but a used code. [`install`] puts the result in
/// place.
pub fn enrol_and_bootstrap(
    data_dir: &Path,
    server: &str,
    code: &str,
    device_name: &str,
    mut progress: impl FnMut(Progress),
) -> CmdResult<Staged> {
    let dir = data_dir.join(STAGING_DIR);
    let _ = std::fs::remove_dir_all(&dir);
    let (answer, cred) = pos_sync::http::enrol(server, code, device_name)
        .map_err(|e| transport_error(server, e, true))?;
    let staged = Staged { dir, cred };
    std::fs::create_dir_all(&staged.dir)
        .map_err(|e| CommandError::Internal(format!("{}: {e}", staged.dir.display())))?;
    let mut store = Store::create(
        &store_path(&staged.dir),
        DeviceIdentity {
            tenant_id: answer.tenant_id,
            store_id: answer.store_id,
            device_id: answer.device_id,
            store_code: answer.store_code,
            device_code: answer.device_code,
            kind: answer.kind,
        },
    )?;
    let mut transport = HttpTransport::new(staged.cred.clone());
    progress(Progress { done: 0, total: 0 });
    SyncEngine::new()
        .bootstrap(&mut store, &mut transport, |done, total| {
            progress(Progress { done, total })
        })
        .map_err(|e| sync_error(&staged.cred.server, e))?;
    // Closing folds the WAL into the file, so the store moves as one file.
    drop(store);
    Ok(staged)
}

/// Moves a staged store to `<data_dir>/store.sqlite` (which must be free), opens it and saves
/// the credential. On failure the data folder is as before.
pub fn install(data_dir: &Path, staged: Staged) -> CmdResult<(Store, DeviceCredential)> {
    let target = store_path(data_dir);
    move_store_files(&store_path(&staged.dir), &target)
        .map_err(|e| CommandError::Internal(format!("{}: {e}", target.display())))?;
    let opened = Store::open(&target).map_err(CommandError::from);
    match opened.and_then(|s| save_credential(data_dir, &staged.cred).map(|_| s)) {
        Ok(store) => Ok((store, staged.cred.clone())),
        Err(e) => {
            remove_store_files(&target);
            Err(e)
        }
    }
}

/// Moves the current store and credential aside into `<data_dir>/replaced-<ms>/` (kept, never
/// deleted: unsent sales stay readable), before a re-enrolment.
pub fn retire_store(data_dir: &Path) -> CmdResult<PathBuf> {
    let dir = data_dir.join(format!("replaced-{}", pos_core::store::now_ms()));
    let io = |e: std::io::Error| CommandError::Internal(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let current = store_path(data_dir);
    if current.exists() {
        move_store_files(&current, &store_path(&dir)).map_err(io)?;
    }
    let cred = credential_path(data_dir);
    if cred.exists() {
        std::fs::rename(&cred, credential_path(&dir)).map_err(io)?;
    }
    Ok(dir)
}

/// How often an enrolled device refreshes its staff list (names, roles, PIN hashes) after a
/// successful sync round; also on the first one after the app starts. `$POS_STAFF_REFRESH_SECS`
/// overrides it (tests).
pub const STAFF_REFRESH: Duration = Duration::from_secs(60);
const STAFF_REFRESH_ENV: &str = "POS_STAFF_REFRESH_SECS";

/// Refreshes the store's staff from the server: fetched without holding the store, then written
/// under its lock (`SyncEngine::refresh_staff_shared`).
pub fn refresh_staff(store: &Mutex<Store>, http: &mut HttpTransport) -> Result<(), SyncError> {
    SyncEngine::new().refresh_staff_shared(store, http)
}

/// Starts the background sync of `store`; each round's status goes to the UI as an event, and
/// the staff list is refreshed now and then ([`STAFF_REFRESH`]).
pub fn start_runner<R: Runtime>(
    app: tauri::AppHandle<R>,
    store: Arc<Mutex<Store>>,
    cred: DeviceCredential,
    static_peers: &[String],
) -> SyncLink {
    let server = cred.server.clone();
    let every = std::env::var(STAFF_REFRESH_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(STAFF_REFRESH);
    let mesh_app = app.clone();
    let mesh = crate::mesh::start(store.clone(), &cred, static_peers, move || {
        // A peer's changes arrived: the screens reload as after a sync round.
        let _ = mesh_app.emit(SYNC_STATUS_EVENT, ());
    })
    .map(Arc::new);
    let staff_mesh = mesh.clone();
    let staff_store = store.clone();
    let staff = Mutex::new((HttpTransport::new(cred.clone()), None::<Instant>));
    let runner = SyncRunner::start(store, cred, move |st: &SyncStatus| {
        let _ = app.emit(SYNC_STATUS_EVENT, st);
        if !st.online || st.last_error.is_some() {
            return;
        }
        // Runs on the runner's thread, between rounds; never takes the app's lock.
        let Ok(mut guard) = staff.lock() else { return };
        let (http, last) = &mut *guard;
        if last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        if refresh_staff(&staff_store, http).is_ok() {
            *last = Some(Instant::now());
            // The peer list came with it.
            if let Some(m) = &staff_mesh {
                m.refresh_peers(&staff_store);
            }
        }
    });
    SyncLink {
        server,
        runner,
        mesh,
    }
}
