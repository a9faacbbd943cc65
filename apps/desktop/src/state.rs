//! What the app holds between commands: the device's store, who is logged in, the printer.
//! One mutex: the store is a single SQLite connection and every command is short.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use pos_core::auth::Actor;
use pos_core::store::Store;
use pos_printing::{PrintQueue, QueueOptions};

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

pub struct Inner {
    pub data_dir: PathBuf,
    pub config: DeviceConfig,
    pub store: Option<Store>,
    pub actor: Option<Actor>,
    pub user_name: String,
    pub printer: Option<Printer>,
    /// Why the store or the printer could not be opened at start, for the first screen.
    pub startup_problem: Option<String>,
}

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
                Ok(s) => Some(s),
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
            actor: None,
            user_name: String::new(),
            printer: None,
            startup_problem: None,
        };
        if let Err(e) = inner.start_printer() {
            problems.push(e.to_string());
        }
        inner.startup_problem = (!problems.is_empty()).then(|| problems.join("; "));
        AppState(Mutex::new(inner))
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a command panicked; the SQLite state is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.sqlite")
}

impl Inner {
    pub fn store(&mut self) -> CmdResult<&mut Store> {
        self.store.as_mut().ok_or(CommandError::NotSetUp)
    }

    pub fn actor(&self) -> CmdResult<Actor> {
        self.actor.ok_or(CommandError::NotLoggedIn)
    }

    /// The store and the logged-in actor, for a write.
    pub fn acting(&mut self) -> CmdResult<(&mut Store, Actor)> {
        let actor = self.actor()?;
        Ok((self.store()?, actor))
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
