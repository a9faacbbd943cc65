//! What the app holds between commands: the device's store, who is logged in, the printer,
//! and the sync runner of an enrolled device.
//!
//! Two locks, always taken in this order: the app's [`Inner`] (every command, short), then the
//! store's own mutex ([`Inner::store`]). The store sits behind its own `Arc<Mutex<Store>>`
//! because the sync runner (`pos_sync::runner::SyncRunner`, its own thread) shares it and holds
//! it for one round at a time; the runner never takes the app's lock.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use pos_core::auth::Actor;
use pos_core::store::Store;
use pos_printing::{PrintQueue, QueueOptions};
use pos_sync::runner::SyncRunner;

use crate::config::{DeviceConfig, PrinterSetup};
use crate::error::{CmdResult, CommandError};

/// The queue name of the receipt printer in the print tables.
pub const RECEIPT_PRINTER: &str = "receipt";

/// The env var that moves the data folder (tests, several instances on one machine).
pub const DATA_DIR_ENV: &str = "POS_DATA_DIR";

pub struct Printer {
    pub setup: PrinterSetup,
    pub queue: PrintQueue,
}

/// An enrolled device's link to its server.
pub struct SyncLink {
    /// The server's address (the credential's secret stays in `credential.json`).
    pub server: String,
    pub runner: SyncRunner,
    /// The store's mesh (`None`: no key, or the network refused; see `crate::mesh`); shared
    /// with the runner's staff refresh, which hands it the new peer list.
    pub mesh: Option<Arc<crate::mesh::StoreMesh>>,
}

impl SyncLink {
    /// A round now, to the server and to the store's devices (after a local write).
    pub fn nudge(&self) {
        self.runner.nudge();
        if let Some(m) = &self.mesh {
            m.node.nudge();
        }
    }
}

pub struct Inner {
    pub data_dir: PathBuf,
    pub config: DeviceConfig,
    pub store: Option<Arc<Mutex<Store>>>,
    /// Set while the device is enrolled and syncing (`None`: standalone).
    pub sync: Option<SyncLink>,
    /// An enrolment is running (it works without holding this lock).
    pub enrolling: bool,
    pub actor: Option<Actor>,
    pub user_name: String,
    pub printer: Option<Printer>,
    /// Why the store or the printer could not be opened at start, for the first screen.
    pub startup_problem: Option<String>,
    /// Manager approvals granted by PIN (`approve_manager`) and not yet used: a command that
    /// names an approver must find (and uses up) one of these, so the UI cannot name a manager
    /// who never entered a PIN.
    pub approvals: Vec<Approval>,
}

/// One manager approval: who, for what, until when (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    pub user_id: uuid::Uuid,
    pub permission: pos_core::auth::Permission,
    pub until_ms: i64,
}

/// How long an approval waits to be used: long enough to fill in a refund.
pub const APPROVAL_TTL_MS: i64 = 5 * 60 * 1000;

pub struct AppState(Mutex<Inner>);

impl AppState {
    /// Opens what exists in `data_dir`: the config, the store, the printer queue. Failures are
    /// kept as a message for the UI rather than stopping the app.
    pub fn open(data_dir: &Path) -> AppState {
        let mut problems = Vec::new();
        if let Err(e) = std::fs::create_dir_all(data_dir) {
            problems.push(format!("cannot create {}: {e}", data_dir.display()));
        }
        let config = DeviceConfig::load(data_dir).unwrap_or_else(|e| {
            problems.push(e.to_string());
            DeviceConfig::default()
        });
        let store_path = store_path(data_dir);
        let store = if store_path.exists() {
            match Store::open(&store_path) {
                Ok(s) => Some(Arc::new(Mutex::new(s))),
                Err(e) => {
                    problems.push(CommandError::from(e).to_string());
                    None
                }
            }
        } else {
            None
        };
        let mut inner = Inner {
            data_dir: data_dir.to_path_buf(),
            config,
            store,
            sync: None,
            enrolling: false,
            actor: None,
            user_name: String::new(),
            printer: None,
            startup_problem: None,
            approvals: Vec::new(),
        };
        if let Err(e) = inner.start_printer() {
            problems.push(e.to_string());
        }
        inner.startup_problem = (!problems.is_empty()).then(|| problems.join("; "));
        AppState(Mutex::new(inner))
    }

    /// Starts the sync runner if this device is enrolled (a credential and a store exist).
    /// A damaged credential becomes the startup problem.
    pub fn start_sync<R: tauri::Runtime>(&self, app: &tauri::AppHandle<R>) {
        let mut inner = self.lock();
        if inner.sync.is_some() {
            return;
        }
        let Some(store) = inner.store.clone() else {
            return;
        };
        match crate::sync::load_credential(&inner.data_dir) {
            Ok(Some(cred)) => {
                inner.sync = Some(crate::sync::start_runner(
                    app.clone(),
                    store,
                    cred,
                    &inner.config.mesh_peers,
                ));
            }
            Ok(None) => {}
            Err(e) => inner.startup_problem = Some(e.to_string()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a command panicked; the SQLite state is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.sqlite")
}

/// Locks a shared store. A poisoned lock means a command or a sync round panicked; SQLite's
/// state is still consistent (every write is one transaction).
pub fn lock_store(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

/// The locked store for a write: when it is released, the sync runner (if any) is nudged so
/// the change leaves the device at once.
pub struct Writing<'a> {
    store: MutexGuard<'a, Store>,
    runner: Option<&'a SyncLink>,
}

impl Deref for Writing<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        // The round waits for the store lock, which is released right after this.
        if let Some(r) = self.runner {
            r.nudge();
        }
    }
}

impl Inner {
    /// The locked store (see the lock order in the module doc).
    pub fn store(&self) -> CmdResult<MutexGuard<'_, Store>> {
        self.store
            .as_deref()
            .map(lock_store)
            .ok_or(CommandError::NotSetUp)
    }

    pub fn actor(&self) -> CmdResult<Actor> {
        self.actor.ok_or(CommandError::NotLoggedIn)
    }

    /// The logged-in person, who must hold `permission` by their *own* role (not capped by the
    /// device's kind): for what configures this device (printer, idle lock, KDS thresholds,
    /// mode), which concerns the device rather than the store's documents, so a manager can set
    /// up a kitchen screen. Every command that changes the device checks this (issue 17).
    pub fn require_own(&self, permission: pos_core::auth::Permission) -> CmdResult<Actor> {
        let actor = self.actor()?;
        let own = self.store()?.staff_role(actor.user_id)?;
        if pos_core::auth::can(own, permission) {
            Ok(actor)
        } else {
            Err(CommandError::Forbidden {
                permission: permission.to_string(),
            })
        }
    }

    /// The store and the logged-in actor, for a write; the sync runner is nudged afterwards.
    /// Checks that `user_id` approved `permission` by PIN in the last [`APPROVAL_TTL_MS`]
    /// (`None` names no approver and asks for none). The approval stays until the command that
    /// used it succeeds ([`Inner::spend_approval`]): a refund refused for its quantity does not
    /// send the cashier back for the manager.
    pub fn approval(
        &mut self,
        user_id: Option<uuid::Uuid>,
        permission: pos_core::auth::Permission,
    ) -> CmdResult<Option<uuid::Uuid>> {
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let now = pos_core::store::now_ms();
        self.approvals.retain(|a| a.until_ms > now);
        if self
            .approvals
            .iter()
            .any(|a| a.user_id == user_id && a.permission == permission)
        {
            Ok(Some(user_id))
        } else {
            Err(CommandError::NeedsApproval {
                reason: format!(
                    "no manager entered a PIN for this ({permission}) in the last five minutes"
                ),
            })
        }
    }

    /// Uses up the approval [`Inner::approval`] found, once its command succeeded.
    pub fn spend_approval(
        &mut self,
        user_id: Option<uuid::Uuid>,
        permission: pos_core::auth::Permission,
    ) {
        if let Some(i) = self
            .approvals
            .iter()
            .position(|a| Some(a.user_id) == user_id && a.permission == permission)
        {
            self.approvals.remove(i);
        }
    }

    pub fn acting(&self) -> CmdResult<(Writing<'_>, Actor)> {
        let actor = self.actor()?;
        let store = self.store()?;
        Ok((
            Writing {
                store,
                runner: self.sync.as_ref(),
            },
            actor,
        ))
    }

    /// Asks the sync runner for a round now (after a write not made through [`Inner::acting`]).
    pub fn nudge(&self) {
        if let Some(s) = &self.sync {
            s.nudge();
        }
    }

    pub fn printer(&self) -> CmdResult<&Printer> {
        self.printer.as_ref().ok_or(CommandError::NoPrinter)
    }

    /// (Re)starts the receipt printer's queue from the config. The queue lives in the store
    /// file, so there is none before the store exists.
    pub fn start_printer(&mut self) -> CmdResult<()> {
        if let Some(old) = self.printer.take() {
            old.queue.shutdown()?;
        }
        let Some(setup) = self.config.printer.clone() else {
            return Ok(());
        };
        if self.store.is_none() {
            return Ok(());
        }
        let mut options = QueueOptions::new(RECEIPT_PRINTER, &setup.profile);
        options.max_attempts = None;
        let queue = PrintQueue::open(
            store_path(&self.data_dir),
            Arc::new(setup.transport.clone()),
            options,
        )?;
        self.printer = Some(Printer { setup, queue });
        Ok(())
    }
}

/// The profile used for previews when no printer is set up: 80 mm, 48 columns, PC858 (€).
pub fn default_profile() -> CmdResult<pos_printing::PrinterProfile> {
    Ok(pos_printing::PrinterProfile::new(
        pos_printing::Paper::Mm80,
        48,
        "PC858",
    )?)
}
