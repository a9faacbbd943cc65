//! First run: standalone demo mode or enrolment, and the device's mode.

use serde::Serialize;
use tauri::State;

use crate::config::{KdsSetup, Mode};
use crate::error::{CmdResult, CommandError};
use crate::state::{store_path, AppState, Inner};

use super::auth::UserView;

#[derive(Debug, Serialize)]
pub struct AppInfo {
    pub set_up: bool,
    pub mode: Option<Mode>,
    pub store_name: Option<String>,
    pub store_code: Option<String>,
    pub device_code: Option<String>,
    pub data_dir: String,
    pub startup_problem: Option<String>,
    pub user: Option<UserView>,
    pub idle_lock_s: u64,
    pub kds: KdsSetup,
    pub printer_configured: bool,
    pub version: &'static str,
}

pub(crate) fn info(inner: &mut Inner) -> AppInfo {
    let settings = inner
        .store
        .as_ref()
        .and_then(|s| s.settings().ok().cloned());
    let identity = inner.store.as_ref().map(|s| s.identity().clone());
    AppInfo {
        set_up: inner.store.is_some(),
        mode: inner.config.mode,
        store_name: settings.as_ref().map(|s| s.name.clone()),
        store_code: identity.as_ref().map(|i| i.store_code.clone()),
        device_code: identity.as_ref().map(|i| i.device_code.clone()),
        data_dir: inner.data_dir.display().to_string(),
        startup_problem: inner.startup_problem.clone(),
        user: inner
            .actor
            .map(|a| UserView::new(a, inner.user_name.clone())),
        idle_lock_s: inner.config.idle_lock_s,
        kds: inner.config.kds.clone(),
        printer_configured: inner.printer.is_some(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// What the first screen needs: set up or not, the mode, who is logged in.
#[tauri::command(rename_all = "snake_case")]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    info(&mut state.lock())
}

/// Creates this device's store as the seeded demo café (`pos_core::demo::seed`).
#[tauri::command(rename_all = "snake_case")]
pub fn setup_demo(state: State<'_, AppState>, mode: Mode) -> CmdResult<AppInfo> {
    let mut inner = state.lock();
    if inner.store.is_some() {
        return Err(CommandError::AlreadySetUp);
    }
    let (store, _demo) = pos_core::demo::seed(&store_path(&inner.data_dir))?;
    inner.store = Some(store);
    inner.startup_problem = None;
    inner.config.mode = Some(mode);
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)?;
    inner.start_printer()?;
    Ok(info(&mut inner))
}

/// Enrols with a sync server and a one-time code. The device sync engine (`pos-sync`) has no
/// enrolment function yet, so this validates the form and then says so, honestly.
#[tauri::command(rename_all = "snake_case")]
pub fn enrol_device(server: String, code: String, mode: Mode) -> CmdResult<AppInfo> {
    let _ = mode;
    let server = server.trim();
    if !(server.starts_with("http://") || server.starts_with("https://")) || server.len() < 10 {
        return Err(CommandError::invalid(
            "Enter the server address as https://host[:port].",
        ));
    }
    if code.trim().len() < 6 {
        return Err(CommandError::invalid(
            "The one-time code is too short; check it with your manager.",
        ));
    }
    Err(CommandError::EnrolUnavailable)
}

/// Switches this device between POS, KDS and back office.
#[tauri::command(rename_all = "snake_case")]
pub fn set_mode(state: State<'_, AppState>, mode: Mode) -> CmdResult<AppInfo> {
    let mut inner = state.lock();
    inner.config.mode = Some(mode);
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)?;
    Ok(info(&mut inner))
}
