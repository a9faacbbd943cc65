//! `pos-desktop`: the Tauri 2 shell of the POS, the kitchen display and back office.
//!
//! - [`commands`]: the IPC commands, one call into `pos-core` / `pos-printing` each;
//! - [`error`]: the one serialisable error type of the commands;
//! - [`state`]: the device's store, the logged-in user and the printer queue;
//! - [`config`]: this device's own settings (`device.json`);
//! - [`sync`]: the server credential (`credential.json`), enrolment and the sync runner;
//! - [`views`]: what the screens receive; [`clock`]: the store's wall-clock text;
//! - [`receipts`]: core documents mapped into printing layouts (presentation).
//!
//! The device's store lives in the platform's app-data folder, or in `--data-dir=PATH` /
//! `$POS_DATA_DIR` (tests, several instances on one machine).

#[cfg(test)]
mod bindings;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod mesh;
pub mod receipts;
pub mod state;
pub mod sync;
pub mod views;

use std::path::PathBuf;

use tauri::{Manager, Runtime};

use state::{AppState, DATA_DIR_ENV};

/// Where the device keeps its store: `--data-dir=PATH` on the command line, else
/// `$POS_DATA_DIR`, else the platform's app-data folder.
pub fn data_dir<R: Runtime>(app: &tauri::AppHandle<R>) -> Result<PathBuf, tauri::Error> {
    if let Some(dir) =
        std::env::args().find_map(|a| a.strip_prefix("--data-dir=").map(PathBuf::from))
    {
        return Ok(dir);
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => app.path().app_data_dir(),
    }
}

/// Adds the commands and the state to `builder`. The real app passes `tauri::Builder::default()`,
/// the tests `tauri::test::mock_builder()` (with an [`AppState`] already managed).
pub fn run_app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(commands::handler()).setup(|app| {
        if app.try_state::<AppState>().is_none() {
            let dir = data_dir(app.handle())?;
            app.manage(AppState::open(&dir));
        }
        on_start(app.handle());
        Ok(())
    })
}

/// What the app does once its state is managed: an enrolled device starts syncing. Called by
/// the setup hook (and by the mock-runtime tests, whose apps never run it).
pub fn on_start<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(state) = app.try_state::<AppState>() {
        state.start_sync(app);
    }
}

/// The web process's settings, each applied unless the environment already sets it
/// (docs/benchmarks-desktop.md):
/// - WebKitGTK's accelerated compositing buys a POS screen nothing and costs ~150 MB in the web
///   process;
/// - JavaScriptCore's optimising JITs (DFG, FTL) cost ~9 MB of it (PSS) and bought nothing
///   measurable for a UI this small: a scan's time on screen stayed 14–15 ms without them. The
///   interpreter and baseline JIT remain.
const WEBKIT_ENV: [(&str, &str); 3] = [
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    ("JSC_useDFGJIT", "0"),
    ("JSC_useFTLJIT", "0"),
];

/// The binary's entry point; returns the process exit code.
pub fn main_entry() -> i32 {
    for (name, value) in WEBKIT_ENV {
        if std::env::var_os(name).is_none() {
            // Still single-threaded here: nothing else reads the environment concurrently.
            std::env::set_var(name, value);
        }
    }
    let context = tauri::generate_context!("tauri.conf.json");
    match run_app(tauri::Builder::default()).run(context) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pos-desktop: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests;
