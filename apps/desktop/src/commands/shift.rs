//! Shifts: float, paid-in/out, no-sale, X report, close with a count and the Z report.

use std::collections::BTreeMap;

use pos_core::shift::{denominations, CashEventKind, ShiftReport, ZReport};
use pos_core::store::{ShiftSummary, ZSummary};
use pos_printing::{render_text, JobId};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::{CmdResult, CommandError};
use crate::receipts::{self, ReportKind};
use crate::state::{default_profile, AppState, Inner};
use crate::views::exponent;

use super::id;

#[derive(Debug, Serialize, specta::Type)]
pub struct ShiftStatus {
    pub open: bool,
    pub shift_id: Option<String>,
    pub currency: String,
    pub exponent: u8,
    /// Notes and coins to count, in minor units, largest first.
    pub denominations: Vec<i64>,
}

#[tauri::command]
#[specta::specta]
pub fn shift_status(state: State<'_, AppState>) -> CmdResult<ShiftStatus> {
    let inner = state.lock();
    let store = inner.store()?;
    let currency = store.settings()?.currency.clone();
    let shift = store.open_shift_id()?;
    Ok(ShiftStatus {
        open: shift.is_some(),
        shift_id: shift.map(|s| s.to_string()),
        exponent: exponent(&currency),
        denominations: denominations(&currency).to_vec(),
        currency,
    })
}

#[tauri::command]
#[specta::specta]
pub fn open_shift(state: State<'_, AppState>, float: i64) -> CmdResult<String> {
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.open_shift(&actor, float)?.to_string())
}

/// Records a paid-in, a paid-out or a no-sale (core checks `shift.cash` / `drawer.no_sale`).
#[tauri::command]
#[specta::specta]
pub fn cash_event(
    state: State<'_, AppState>,
    kind: String,
    amount: i64,
    reason: String,
) -> CmdResult<String> {
    let kind = match kind.as_str() {
        "paid_in" => CashEventKind::PaidIn,
        "paid_out" => CashEventKind::PaidOut,
        "no_sale" => CashEventKind::NoSale,
        other => {
            return Err(CommandError::invalid(format!(
                "Unknown cash event {other:?}."
            )))
        }
    };
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.cash_event(&actor, kind, amount, &reason)?)
}

#[derive(Debug, Serialize, specta::Type)]
pub struct ReportView {
    pub report: ShiftReport,
    pub number: Option<i64>,
    pub counted_cash: Option<i64>,
    pub over_short: Option<i64>,
    pub z_id: Option<String>,
    /// The report as printed.
    pub text: String,
}

fn device_code(inner: &mut Inner) -> CmdResult<String> {
    let out = inner.store()?.identity().device_code.clone();
    Ok(out)
}

fn preview_profile(inner: &Inner) -> CmdResult<pos_printing::PrinterProfile> {
    match &inner.printer {
        Some(p) => Ok(p.setup.profile.clone()),
        None => default_profile(),
    }
}

fn z_view(inner: &mut Inner, z_id: uuid::Uuid) -> CmdResult<ReportView> {
    let z: ZReport = inner.store()?.get(z_id)?;
    let settings = inner.store()?.settings()?.clone();
    let kind = ReportKind::Z {
        number: z.number,
        counted_cash: z.counted_cash,
        over_short: z.over_short,
    };
    let doc = receipts::shift_report(&kind, &z.report, &settings, &device_code(inner)?);
    Ok(ReportView {
        text: render_text(&doc, &preview_profile(inner)?)?,
        number: Some(z.number),
        counted_cash: Some(z.counted_cash),
        over_short: Some(z.over_short),
        z_id: Some(z_id.to_string()),
        report: z.report,
    })
}

/// The X report of the open shift (nothing changes).
#[tauri::command]
#[specta::specta]
pub fn x_report(state: State<'_, AppState>) -> CmdResult<ReportView> {
    let mut inner = state.lock();
    inner.actor()?;
    let report = inner.store()?.x_report()?;
    let settings = inner.store()?.settings()?.clone();
    let doc = receipts::shift_report(
        &ReportKind::X,
        &report,
        &settings,
        &device_code(&mut inner)?,
    );
    Ok(ReportView {
        text: render_text(&doc, &preview_profile(&inner)?)?,
        number: None,
        counted_cash: None,
        over_short: None,
        z_id: None,
        report,
    })
}

/// Closes the shift with a denomination count (denomination in minor units → count) and
/// returns its numbered Z report with over/short. While tables or held sales are still open it
/// answers `OPEN_SALES` with their counts, and closes only when asked again with `confirm`.
#[tauri::command]
#[specta::specta]
pub fn close_shift(
    state: State<'_, AppState>,
    counts: BTreeMap<String, i64>,
    confirm: Option<bool>,
) -> CmdResult<ReportView> {
    let counts: BTreeMap<String, i64> = counts.into_iter().filter(|(_, n)| *n != 0).collect();
    let mut inner = state.lock();
    if !confirm.unwrap_or(false) {
        let open = inner.store()?.open_sales()?;
        let tables = open.iter().filter(|s| s.ticket.is_some()).count();
        let held = open.len() - tables;
        if !open.is_empty() {
            return Err(CommandError::OpenSalesRemain { tables, held });
        }
    }
    let (mut store, actor) = inner.acting()?;
    let (_, z_id) = store.close_shift(&actor, counts)?;
    drop(store);
    z_view(&mut inner, z_id)
}

#[derive(Debug, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum WhichReport {
    X,
    Z,
}

/// Prints the X report, or a Z report by id (shown again from the history).
#[tauri::command]
#[specta::specta]
pub fn print_report(
    state: State<'_, AppState>,
    which: WhichReport,
    z_id: Option<String>,
) -> CmdResult<JobId> {
    let mut inner = state.lock();
    inner.actor()?;
    let settings = inner.store()?.settings()?.clone();
    let device = device_code(&mut inner)?;
    let (label, doc) = match which {
        WhichReport::X => {
            let r = inner.store()?.x_report()?;
            (
                "X report".to_string(),
                receipts::shift_report(&ReportKind::X, &r, &settings, &device),
            )
        }
        WhichReport::Z => {
            let zid = id(z_id.as_deref().unwrap_or_default())?;
            let z: ZReport = inner.store()?.get(zid)?;
            let kind = ReportKind::Z {
                number: z.number,
                counted_cash: z.counted_cash,
                over_short: z.over_short,
            };
            (
                format!("Z report {}", z.number),
                receipts::shift_report(&kind, &z.report, &settings, &device),
            )
        }
    };
    let printer = inner.printer()?;
    Ok(printer
        .queue
        .enqueue_document(None, &label, &doc, &printer.setup.profile)?)
}

/// The Z report history, newest first ([`z_report`] shows one again).
#[tauri::command]
#[specta::specta]
pub fn z_reports(state: State<'_, AppState>) -> CmdResult<Vec<ZSummary>> {
    let inner = state.lock();
    let out = inner.store()?.z_reports()?;
    Ok(out)
}

/// One Z report of the history, as it was printed at close.
#[tauri::command]
#[specta::specta]
pub fn z_report(state: State<'_, AppState>, z_id: String) -> CmdResult<ReportView> {
    let zid = id(&z_id)?;
    let mut inner = state.lock();
    inner.actor()?;
    z_view(&mut inner, zid)
}

/// The shift history of this device, newest first.
#[tauri::command]
#[specta::specta]
pub fn shift_history(
    state: State<'_, AppState>,
    limit: Option<i64>,
) -> CmdResult<Vec<ShiftSummary>> {
    let inner = state.lock();
    inner.actor()?;
    let out = inner.store()?.shifts(limit.unwrap_or(100).clamp(1, 1000))?;
    Ok(out)
}
