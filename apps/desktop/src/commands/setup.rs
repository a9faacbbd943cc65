//! First run: standalone demo mode or enrolment, and the device's mode.

use std::sync::{Arc, Mutex};

use pos_core::auth::{DeviceKind, Permission};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::config::{KdsSetup, Mode};
use crate::error::{CmdResult, CommandError};
use crate::state::{store_path, AppState, Inner};
use crate::sync::{self, ENROL_PROGRESS_EVENT};

use super::auth::{may_enrol, UserView};

#[derive(Debug, Serialize, specta::Type)]
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
    /// The sync server of an enrolled device (`None`: standalone).
    pub server: Option<String>,
    /// What the enrolment code made this device: `till` or `kitchen` (a kitchen screen shows
    /// only the kitchen display, and whoever logs in acts with the kitchen role's rights).
    pub device_kind: Option<DeviceKind>,
    /// The store's IANA time zone: the screens show times in it, like the receipts (`None`
    /// before the device has a store).
    pub time_zone: Option<String>,
    /// Modules of the tenant that are off (`pos_core::modules`, as the server last said with
    /// the staff list): their screens and buttons are hidden, offline too.
    pub modules_off: Vec<String>,
    pub version: &'static str,
}

pub(crate) fn info(inner: &mut Inner) -> AppInfo {
    let (settings, identity) = match inner.store() {
        Ok(s) => (s.settings().ok().cloned(), Some(s.identity().clone())),
        Err(_) => (None, None),
    };
    AppInfo {
        set_up: inner.store.is_some(),
        mode: inner.config.mode,
        store_name: settings.as_ref().map(|s| s.name.clone()),
        store_code: identity.as_ref().map(|i| i.store_code.clone()),
        device_code: identity.as_ref().map(|i| i.device_code.clone()),
        data_dir: inner.data_dir.display().to_string(),
        startup_problem: inner.startup_problem.clone(),
        user: inner.actor.map(|a| {
            let own = inner
                .store()
                .ok()
                .and_then(|s| s.staff_role(a.user_id).ok())
                .unwrap_or(a.role);
            UserView::new(a, own, inner.user_name.clone())
        }),
        idle_lock_s: inner.config.idle_lock_s,
        kds: inner.config.kds.clone(),
        printer_configured: inner.printer.is_some(),
        server: inner.sync.as_ref().map(|s| s.server.clone()),
        device_kind: identity.as_ref().map(|i| i.kind),
        time_zone: settings.as_ref().map(|s| s.time_zone.clone()),
        modules_off: inner
            .store()
            .ok()
            .and_then(|s| s.entitlements().ok())
            .map(|e| e.off.iter().map(|m| m.as_str().to_string()).collect())
            .unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// What the first screen needs: set up or not, the mode, who is logged in.
#[tauri::command]
#[specta::specta]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    info(&mut state.lock())
}

/// Creates this device's store as the seeded demo café (`pos_core::demo::seed`).
#[tauri::command]
#[specta::specta]
pub fn setup_demo(state: State<'_, AppState>, mode: Mode) -> CmdResult<AppInfo> {
    let mut inner = state.lock();
    if inner.store.is_some() || inner.enrolling {
        return Err(CommandError::AlreadySetUp);
    }
    let (store, _demo) = pos_core::demo::seed(&store_path(&inner.data_dir))?;
    inner.store = Some(Arc::new(Mutex::new(store)));
    inner.startup_problem = None;
    inner.config.mode = Some(mode);
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)?;
    inner.start_printer()?;
    Ok(info(&mut inner))
}

fn check_enrol_form(server: &str, code: &str) -> CmdResult<()> {
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
    Ok(())
}

/// Clears [`Inner::enrolling`] however the enrolment ends.
struct Enrolling<'a>(&'a AppState);

impl Drop for Enrolling<'_> {
    fn drop(&mut self) {
        self.0.lock().enrolling = false;
    }
}

/// Enrols with the server, bootstraps (progress as [`ENROL_PROGRESS_EVENT`]) without holding
/// the app's lock, then installs the store, retiring the old one first when `replace`.
fn enrol<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    server: &str,
    code: &str,
    mode: Option<Mode>,
    replace: bool,
) -> CmdResult<AppInfo> {
    check_enrol_form(server, code)?;
    let data_dir = {
        let mut inner = state.lock();
        if inner.enrolling {
            return Err(CommandError::Conflict(
                "An enrolment is already running on this device.".into(),
            ));
        }
        if replace {
            // The person's own role: re-enrolling concerns the device, so a manager may
            // re-enrol a kitchen screen, where their role on documents is capped at kitchen.
            let user = inner.actor()?.user_id;
            let own = inner.store()?.staff_role(user)?;
            if !may_enrol(own) {
                return Err(CommandError::Forbidden {
                    permission: Permission::DeviceEnrol.to_string(),
                });
            }
        } else if inner.store.is_some() {
            return Err(CommandError::AlreadySetUp);
        }
        inner.enrolling = true;
        inner.data_dir.clone()
    };
    let _enrolling = Enrolling(state);
    let mode = mode.or(state.lock().config.mode).unwrap_or(Mode::Pos);
    let name = format!("{} ({})", mode.label(), device_host());
    let staged = sync::enrol_and_bootstrap(&data_dir, server, code, &name, |p| {
        let _ = app.emit(ENROL_PROGRESS_EVENT, p);
    })?;
    if replace {
        // The runner holds the old store open. Stop it without holding the app's lock: joining
        // its threads can take seconds while its live connection backs off, and the till's
        // other commands must not wait for that.
        let old = state.lock().sync.take();
        drop(old);
    }
    let mut inner = state.lock();
    if replace {
        // The printer queue holds the old store open too: stop it, then close the store.
        if let Some(p) = inner.printer.take() {
            p.queue.shutdown()?;
        }
        inner.store = None;
        inner.actor = None;
        inner.user_name.clear();
        sync::retire_store(&data_dir)?;
    }
    let (store, cred) = sync::install(&data_dir, staged)?;
    // A kitchen screen's code makes a kitchen display, whatever mode was picked.
    let mode = kind_mode(store.identity().kind, mode);
    let store = Arc::new(Mutex::new(store));
    inner.store = Some(store.clone());
    inner.startup_problem = None;
    inner.config.mode = Some(mode);
    inner.config.save(&data_dir)?;
    inner.sync = Some(sync::start_runner(
        app.clone(),
        store,
        cred,
        &inner.config.mesh_peers,
    ));
    inner.start_printer()?;
    Ok(info(&mut inner))
}

/// The name the server shows for this device: the machine's host name.
fn device_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().chars().take(60).collect::<String>())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "desktop".into())
}

/// Enrols this new device with the store's server and a one-time code, downloads the store
/// (a progress bar follows `enrol-progress` events) and starts syncing.
#[tauri::command(async)]
#[specta::specta]
pub fn enrol_device<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    server: String,
    code: String,
    mode: Mode,
) -> CmdResult<AppInfo> {
    enrol(&app, &state, &server, &code, Some(mode), false)
}

/// Enrols this device again (new server or new code, e.g. after it was revoked). The old store
/// and credential are kept in `replaced-<time>/` in the data folder. Needs `device.enrol`.
#[tauri::command(async)]
#[specta::specta]
pub fn reenrol_device<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    server: String,
    code: String,
) -> CmdResult<AppInfo> {
    enrol(&app, &state, &server, &code, None, true)
}

/// The mode a device of `kind` runs in when `wanted` is picked: a kitchen screen is always a
/// kitchen display.
fn kind_mode(kind: DeviceKind, wanted: Mode) -> Mode {
    match kind {
        DeviceKind::Till => wanted,
        DeviceKind::Kitchen => Mode::Kds,
    }
}

/// Switches this device between POS, KDS and back office (a kitchen screen stays a KDS).
#[tauri::command]
#[specta::specta]
pub fn set_mode(state: State<'_, AppState>, mode: Mode) -> CmdResult<AppInfo> {
    let mut inner = state.lock();
    inner.require_own(Permission::SettingsEdit)?;
    let kind = inner.store().map(|s| s.identity().kind).unwrap_or_default();
    if kind_mode(kind, mode) != mode {
        return Err(CommandError::Conflict(
            "This device is enrolled as a kitchen screen: it shows only the kitchen display. \
             Enrol it again with a till's code to sell or manage on it."
                .into(),
        ));
    }
    inner.config.mode = Some(mode);
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)?;
    Ok(info(&mut inner))
}
