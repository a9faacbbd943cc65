//! Settings: the printer (transport, profile, drawer pulse), receipt texts, device preferences,
//! and the sync indicator.

use std::time::Duration;

use pos_core::auth::Permission;
use pos_core::catalog::StoreSettings;
use pos_printing::{query_status, samples, Connector, Document, JobInfo, JobState, PrinterStatus};
use serde::Serialize;
use tauri::State;

use crate::config::{DeviceConfig, KdsSetup, PrinterSetup};
use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

#[derive(Debug, Serialize, specta::Type)]
pub struct DeviceSettings {
    pub config: DeviceConfig,
    pub receipt_header: String,
    pub receipt_footer: String,
}

#[tauri::command]
#[specta::specta]
pub fn device_settings(state: State<'_, AppState>) -> CmdResult<DeviceSettings> {
    let inner = state.lock();
    let config = inner.config.clone();
    let settings = inner.store()?.settings()?.clone();
    Ok(DeviceSettings {
        config,
        receipt_header: settings.receipt_header,
        receipt_footer: settings.receipt_footer,
    })
}

/// Sets (or with `null` removes) the receipt printer; its queue restarts on the new transport.
/// Transport and profile are validated by their parsers (`pos_printing`).
#[tauri::command]
#[specta::specta]
pub fn save_printer(
    state: State<'_, AppState>,
    printer: Option<serde_json::Value>,
) -> CmdResult<bool> {
    let setup: Option<PrinterSetup> = printer
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| CommandError::invalid(format!("Printer settings are not valid: {e}.")))?;
    let mut inner = state.lock();
    inner.require_own(Permission::SettingsEdit)?;
    inner.config.printer = setup;
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)?;
    inner.start_printer()?;
    let out = inner.printer.is_some();
    Ok(out)
}

/// Queues a test page.
#[tauri::command]
#[specta::specta]
pub fn test_print(state: State<'_, AppState>) -> CmdResult<i64> {
    let inner = state.lock();
    inner.require_own(Permission::SettingsEdit)?;
    let printer = inner.printer()?;
    let mut receipt = samples::sale_receipt(2);
    receipt.header.name = "TEST PRINT".into();
    receipt.receipt_number = "TEST".into();
    Ok(printer.queue.enqueue_document(
        None,
        "Test print",
        &Document::Sale(receipt),
        &printer.setup.profile,
    )?)
}

#[derive(Debug, Serialize, specta::Type)]
pub struct PrinterStatusView {
    pub configured: bool,
    pub target: Option<String>,
    pub status: Option<PrinterStatus>,
    /// What stops printing, in words, or `None` when the printer is ready.
    pub problem: Option<String>,
    pub pending: u64,
    pub last_job: Option<JobInfo>,
}

/// The printer's status: asked live (DLE EOT) when its queue is idle, otherwise as the print
/// worker last saw it. Runs off the UI thread: a printer that does not answer takes a second.
#[tauri::command(async)]
#[specta::specta]
pub fn printer_status(state: State<'_, AppState>) -> CmdResult<PrinterStatusView> {
    let (setup, pending, last, last_job) = {
        let inner = state.lock();
        let Some(p) = inner.printer.as_ref() else {
            return Ok(PrinterStatusView {
                configured: false,
                target: None,
                status: None,
                problem: None,
                pending: 0,
                last_job: None,
            });
        };
        let jobs = p.queue.jobs(1)?;
        (
            p.setup.clone(),
            p.queue.pending_count()?,
            p.queue.last_status().map(|(s, _)| s),
            jobs.into_iter().next(),
        )
    };
    let status = if pending == 0 && setup.profile.supports_status() {
        match setup.transport.connect() {
            Ok(mut t) => Some(query_status(t.as_mut(), Duration::from_millis(700))?),
            Err(e) => Some(PrinterStatus::Unknown {
                reason: e.to_string(),
            }),
        }
    } else {
        last
    };
    let mut problem = status.as_ref().and_then(|s| s.problem());
    if let Some(j) = &last_job {
        if matches!(
            j.state,
            JobState::Retrying | JobState::Failed | JobState::Interrupted
        ) {
            let why = j.last_error.clone().unwrap_or_else(|| j.state.to_string());
            problem = Some(format!("{}: {why}", j.label));
        }
    }
    Ok(PrinterStatusView {
        configured: true,
        target: Some(setup.transport.describe()),
        status,
        problem,
        pending,
        last_job,
    })
}

/// The store's receipt header and footer (needs `settings.edit`, checked by core's policy).
#[tauri::command]
#[specta::specta]
pub fn save_receipt_texts(
    state: State<'_, AppState>,
    header: String,
    footer: String,
) -> CmdResult<()> {
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    let settings = StoreSettings {
        receipt_header: header,
        receipt_footer: footer,
        ..store.settings()?.clone()
    };
    store.save_settings(&actor, settings)?;
    Ok(())
}

/// This device's KDS thresholds and station and the auto-lock delay.
#[tauri::command]
#[specta::specta]
pub fn save_device_prefs(
    state: State<'_, AppState>,
    kds: KdsSetup,
    idle_lock_s: u64,
) -> CmdResult<()> {
    if kds.warn_after_s <= 0 || kds.late_after_s <= kds.warn_after_s {
        return Err(CommandError::invalid(
            "The late threshold must be after the warning threshold, both above zero.",
        ));
    }
    let mut inner = state.lock();
    inner.require_own(Permission::SettingsEdit)?;
    inner.config.kds = kds;
    inner.config.idle_lock_s = idle_lock_s;
    let dir = inner.data_dir.clone();
    inner.config.save(&dir)
}

/// The store mesh: this device's place in it, the store's devices and the static addresses.
#[tauri::command]
#[specta::specta]
pub fn mesh_view(state: State<'_, AppState>) -> CmdResult<crate::mesh::MeshView> {
    let inner = state.lock();
    crate::mesh::view(&inner)
}

/// Replaces the addresses of the store's devices typed for networks without mDNS.
#[tauri::command]
#[specta::specta]
pub fn save_mesh_peers(
    state: State<'_, AppState>,
    peers: Vec<String>,
) -> CmdResult<crate::mesh::MeshView> {
    let mut inner = state.lock();
    inner.require_own(Permission::SettingsEdit)?;
    crate::mesh::save_static_peers(&mut inner, &peers)
}

/// A change the server refused, with its reason.
#[derive(Debug, Serialize, specta::Type)]
pub struct ProblemView {
    pub doc_type: String,
    pub doc_id: String,
    pub code: String,
    pub message: String,
    pub at: i64,
}

/// Where sync stands, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Never enrolled.
    Standalone,
    /// No round finished yet.
    Connecting,
    Online,
    /// The server is unreachable.
    Offline,
    /// The server answers but refuses (a revoked device) or fails.
    NotSyncing,
}

/// What the sync indicator shows.
#[derive(Debug, Serialize, specta::Type)]
pub struct SyncStatus {
    pub state: SyncState,
    pub server: Option<String>,
    pub online: bool,
    pub pending_changes: i64,
    /// The last successful round, ms since the epoch.
    pub last_sync: Option<i64>,
    /// Why the last round failed, as an error the UI can act on (`SERVER_UNREACHABLE`,
    /// `DEVICE_REFUSED`, `SERVER_ERROR`).
    pub error: Option<CommandError>,
    pub retry_in_ms: u64,
    /// Receipts queued for email, not yet handed to the server.
    pub emails_pending: i64,
    /// Refused changes, then receipt emails the server refused (`doc_type` `receipt_email`).
    pub problems: Vec<ProblemView>,
    /// Devices of the store linked over the LAN in the last mesh round; `None` when this
    /// device is not on the store mesh.
    pub store_devices: Option<u32>,
}

/// The runner's last status with the store's live counts and refused changes.
#[tauri::command]
#[specta::specta]
pub fn sync_status(state: State<'_, AppState>) -> CmdResult<SyncStatus> {
    let inner = state.lock();
    let (pending_changes, problems, emails, (emails_pending, _)) = {
        let store = inner.store()?;
        (
            store.outbox_len()?,
            store.sync_problems()?,
            store.receipt_emails(200)?,
            store.receipt_email_counts()?,
        )
    };
    let refused = emails
        .into_iter()
        .filter(|e| e.status == "refused")
        .map(|e| ProblemView {
            doc_type: "receipt_email".into(),
            doc_id: e.doc_id.to_string(),
            code: e.code.unwrap_or_default(),
            message: format!(
                "Receipt email to {} not sent: {}",
                e.email,
                e.last_error.unwrap_or_default()
            ),
            at: e.created_at,
        });
    let problems = problems
        .into_iter()
        .map(|p| ProblemView {
            doc_type: p.doc_type,
            doc_id: p.doc_id.to_string(),
            code: p.code,
            message: p.message,
            at: p.at,
        })
        .chain(refused)
        .collect();
    let Some(link) = inner.sync.as_ref() else {
        return Ok(SyncStatus {
            state: SyncState::Standalone,
            server: None,
            online: false,
            pending_changes,
            last_sync: None,
            error: None,
            retry_in_ms: 0,
            emails_pending,
            problems,
            store_devices: None,
        });
    };
    let st = link.runner.status();
    let error = st
        .last_error
        .as_ref()
        .map(|e| crate::sync::status_error(&link.server, st.online, e));
    let state = match (&st.last_success, &error, st.online) {
        (None, None, _) => SyncState::Connecting,
        (_, None, _) => SyncState::Online,
        // Reachable, but refusing (a revoked device) or failing.
        (_, Some(_), true) => SyncState::NotSyncing,
        (_, Some(_), false) => SyncState::Offline,
    };
    Ok(SyncStatus {
        state,
        server: Some(link.server.clone()),
        online: st.online,
        pending_changes,
        last_sync: st.last_success,
        error,
        retry_in_ms: st.backoff_ms,
        emails_pending,
        problems,
        store_devices: link.mesh.as_ref().map(|m| m.linked() as u32),
    })
}
