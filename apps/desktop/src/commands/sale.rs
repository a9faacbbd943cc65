//! Selling: the cart, payments, receipts, the drawer and refunds.

use pos_core::auth::Permission;
use pos_core::doc::DocType;
use pos_core::money::Money;
use pos_core::refund::{refundable, Refund, RefundRequest};
use pos_core::sale::{Discount, DiscountKind, Sale, Tender};
use pos_core::store::{LineEdit, PaymentOutcome, RefundSummary, SaleSummary};
use pos_printing::{render_png, render_text, Document, JobId};
use serde::{Deserialize, Serialize};
use tauri::State;
use uuid::Uuid;

use crate::error::{CmdResult, CommandError};
use crate::receipts;
use crate::state::{AppState, Inner};
use crate::views::{sale_view, SaleView};

use super::id;

fn view(inner: &mut Inner, sale_id: Uuid) -> CmdResult<SaleView> {
    let sale: Sale = inner.store()?.get(sale_id)?;
    sale_view(sale_id, &sale, None)
}

/// Opens a sale; with `ticket` it is an open ticket (a table or a tab) shared by the store's tills.
#[tauri::command]
#[specta::specta]
pub fn open_sale(state: State<'_, AppState>, ticket: Option<String>) -> CmdResult<SaleView> {
    let ticket = ticket
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    // Who may sell first (a kitchen user is told so), then whether this till can.
    pos_core::auth::require(actor.role, pos_core::auth::Permission::SaleCreate)?;
    store.selling_shift()?;
    let sale_id = store.open_sale(&actor, ticket)?;
    drop(store);
    view(&mut inner, sale_id)
}

/// Open sales and tickets the logged-in user may take up (their own held sales, or everyone's
/// for a manager; every table and tab: `Store::open_sales_for`), oldest first. The POS restores
/// its own cart from here after a restart.
#[tauri::command]
#[specta::specta]
pub fn open_sales(state: State<'_, AppState>) -> CmdResult<Vec<SaleSummary>> {
    let inner = state.lock();
    let actor = inner.actor()?;
    let out = inner.store()?.open_sales_for(&actor)?;
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub fn get_sale(state: State<'_, AppState>, sale_id: String) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    view(&mut state.lock(), sid)
}

/// A barcode from the scanner (a keyboard wedge) or typed in: adds one unit.
#[tauri::command]
#[specta::specta]
pub fn scan_barcode(
    state: State<'_, AppState>,
    sale_id: String,
    barcode: String,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.scan(&actor, sid, barcode.trim())?;
    drop(store);
    view(&mut inner, sid)
}

/// A modifier choice: group key and option key (`("milk", "oat")`).
#[derive(Debug, Deserialize, specta::Type)]
pub struct ModifierChoice {
    pub group: String,
    pub option: String,
}

#[tauri::command]
#[specta::specta]
pub fn add_item(
    state: State<'_, AppState>,
    sale_id: String,
    item_id: String,
    qty: Option<i64>,
    modifiers: Option<Vec<ModifierChoice>>,
) -> CmdResult<SaleView> {
    let (sid, iid) = (id(&sale_id)?, id(&item_id)?);
    let mods: Vec<(String, String)> = modifiers
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.group, m.option))
        .collect();
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.add_item(&actor, sid, iid, qty.unwrap_or(1), &mods, 1)?;
    drop(store);
    view(&mut inner, sid)
}

#[tauri::command]
#[specta::specta]
pub fn set_line_qty(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
    qty: i64,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.set_line_qty(&actor, sid, &line_id, qty)?;
    drop(store);
    view(&mut inner, sid)
}

#[tauri::command]
#[specta::specta]
pub fn remove_line(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.remove_line(&actor, sid, &line_id)?;
    drop(store);
    view(&mut inner, sid)
}

#[tauri::command]
#[specta::specta]
pub fn set_line_note(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
    note: String,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.set_line_note(&actor, sid, &line_id, &note)?;
    drop(store);
    view(&mut inner, sid)
}

/// Edits a line after it was added: its quantity, its modifiers (all of them, as chosen again),
/// its course; what is left out stays.
#[tauri::command]
#[specta::specta]
pub fn edit_line(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
    qty: Option<i64>,
    modifiers: Option<Vec<ModifierChoice>>,
    course: Option<i64>,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let edit = LineEdit {
        qty,
        modifiers: modifiers.map(|m| m.into_iter().map(|m| (m.group, m.option)).collect()),
        course,
    };
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.edit_line(&actor, sid, &line_id, &edit)?;
    drop(store);
    view(&mut inner, sid)
}

/// Sells a line at `price` (minor units; `None` back to the catalog price). Who may not
/// override prices names the manager who entered a PIN for `price.override`.
#[tauri::command]
#[specta::specta]
pub fn override_price(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
    price: Option<i64>,
    approved_by: Option<String>,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let approver = approved_by.as_deref().map(id).transpose()?;
    let mut inner = state.lock();
    let approver = inner.approval(approver, Permission::PriceOverride)?;
    let (mut store, actor) = inner.acting()?;
    store.override_price_approved(&actor, sid, &line_id, price, approver)?;
    drop(store);
    inner.spend_approval(approver, Permission::PriceOverride);
    view(&mut inner, sid)
}

/// How many guests sit at the table (0 clears it).
#[tauri::command]
#[specta::specta]
pub fn set_guests(state: State<'_, AppState>, sale_id: String, guests: i64) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.set_guests(&actor, sid, guests)?;
    drop(store);
    view(&mut inner, sid)
}

/// A line (or part of its quantity) to move when splitting a bill.
#[derive(Debug, Deserialize, specta::Type)]
pub struct MoveInput {
    pub line_id: String,
    pub qty: i64,
}

/// Splits a bill by item: moves the chosen lines (or part of a line's quantity) to a new sale
/// paid on its own (`Store::split_sale`); returns the new sale, the original keeps the rest.
/// Fired lines need `sale.void`, or a manager's PIN (`approved_by`), as removing them does.
#[tauri::command]
#[specta::specta]
pub fn split_sale(
    state: State<'_, AppState>,
    sale_id: String,
    lines: Vec<MoveInput>,
    approved_by: Option<String>,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let moves: Vec<(String, i64)> = lines.into_iter().map(|m| (m.line_id, m.qty)).collect();
    let approver = approved_by.as_deref().map(id).transpose()?;
    let mut inner = state.lock();
    let approver = inner.approval(approver, Permission::SaleVoid)?;
    let (mut store, actor) = inner.acting()?;
    let new_id = store.split_sale_approved(&actor, sid, &moves, approver)?;
    drop(store);
    inner.spend_approval(approver, Permission::SaleVoid);
    view(&mut inner, new_id)
}

/// What the next of `parts` equal shares of a sale is (`Store::even_share`): the
/// UI pays it like any partial payment.
#[tauri::command]
#[specta::specta]
pub fn even_share(state: State<'_, AppState>, sale_id: String, parts: i64) -> CmdResult<i64> {
    let sid = id(&sale_id)?;
    let inner = state.lock();
    let share = inner.store()?.even_share(sid, parts)?;
    Ok(share)
}

/// Combines the sale's identical lines into one each (`Store::merge_identical_lines`): a table's
/// lines stay apart as they are added (two tills at once), until someone asks.
#[tauri::command]
#[specta::specta]
pub fn merge_lines(state: State<'_, AppState>, sale_id: String) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.merge_identical_lines(&actor, sid)?;
    drop(store);
    view(&mut inner, sid)
}

/// Moves an open ticket to another table, which must be free (`Store::move_ticket`).
#[tauri::command]
#[specta::specta]
pub fn move_ticket(
    state: State<'_, AppState>,
    sale_id: String,
    table: String,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.move_ticket(&actor, sid, &table)?;
    drop(store);
    view(&mut inner, sid)
}

/// Merges the open sale `from` into `into` (`Store::merge_sales`); `from` is voided empty. A
/// manager's PIN approves taking fired lines off `from`, as for a void. Returns `into`.
#[tauri::command]
#[specta::specta]
pub fn merge_sales(
    state: State<'_, AppState>,
    from: String,
    into: String,
    approved_by: Option<String>,
) -> CmdResult<SaleView> {
    let (from, into) = (id(&from)?, id(&into)?);
    let approver = approved_by.as_deref().map(id).transpose()?;
    let mut inner = state.lock();
    let approver = inner.approval(approver, Permission::SaleVoid)?;
    let (mut store, actor) = inner.acting()?;
    store.merge_sales(&actor, from, into, approver)?;
    drop(store);
    inner.spend_approval(approver, Permission::SaleVoid);
    view(&mut inner, into)
}

/// A discount as the UI sends it: percent in basis points or an amount in minor units, and the
/// approving manager's id when one entered their PIN.
#[derive(Debug, Deserialize, specta::Type)]
pub struct DiscountInput {
    pub kind: String,
    pub value: i64,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub approved_by: Option<String>,
}

impl DiscountInput {
    /// The discount, its approver's PIN approval used up (`Inner::take_approval`).
    fn parse(self, inner: &mut Inner) -> CmdResult<Discount> {
        let kind = match self.kind.as_str() {
            "percent" => DiscountKind::Percent,
            "amount" => DiscountKind::Amount,
            other => {
                return Err(CommandError::invalid(format!(
                    "Unknown discount kind {other:?}."
                )))
            }
        };
        let approved_by = self.approved_by.as_deref().map(id).transpose()?;
        let approved_by = inner.approval(approved_by, Permission::DiscountOverride)?;
        Ok(Discount {
            kind,
            value: self.value,
            approved_by: approved_by.map(|u| u.to_string()),
            reason: self.reason.trim().to_string(),
        })
    }
}

fn approver_of(d: &Option<Discount>) -> Option<Uuid> {
    d.as_ref()
        .and_then(|d| d.approved_by.as_deref())
        .and_then(|u| u.parse().ok())
}

#[tauri::command]
#[specta::specta]
pub fn set_line_discount(
    state: State<'_, AppState>,
    sale_id: String,
    line_id: String,
    discount: Option<DiscountInput>,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let d = discount.map(|d| d.parse(&mut inner)).transpose()?;
    let approver = approver_of(&d);
    let (mut store, actor) = inner.acting()?;
    store.set_line_discount(&actor, sid, &line_id, d)?;
    drop(store);
    inner.spend_approval(approver, Permission::DiscountOverride);
    view(&mut inner, sid)
}

#[tauri::command]
#[specta::specta]
pub fn set_order_discount(
    state: State<'_, AppState>,
    sale_id: String,
    discount: Option<DiscountInput>,
) -> CmdResult<SaleView> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let d = discount.map(|d| d.parse(&mut inner)).transpose()?;
    let approver = approver_of(&d);
    let (mut store, actor) = inner.acting()?;
    store.set_order_discount(&actor, sid, d)?;
    drop(store);
    inner.spend_approval(approver, Permission::DiscountOverride);
    view(&mut inner, sid)
}

#[derive(Debug, Serialize, specta::Type)]
pub struct Fired {
    pub tickets: usize,
    pub sale: SaleView,
}

/// Fires the unfired lines of `course` to the kitchen, or every unfired line without one (one
/// ticket per station and course). A later course is held until it is fired.
#[tauri::command]
#[specta::specta]
pub fn fire_sale(
    state: State<'_, AppState>,
    sale_id: String,
    course: Option<i64>,
) -> CmdResult<Fired> {
    let sid = id(&sale_id)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    let tickets = store.fire(&actor, sid, course)?;
    drop(store);
    Ok(Fired {
        tickets: tickets.len(),
        sale: view(&mut inner, sid)?,
    })
}

fn tender(s: &str) -> CmdResult<Tender> {
    match s {
        "cash" => Ok(Tender::Cash),
        "card" => Ok(Tender::Card),
        "other" => Ok(Tender::Other),
        other => Err(CommandError::invalid(format!("Unknown tender {other:?}."))),
    }
}

#[derive(Debug, Serialize, specta::Type)]
pub struct Paid {
    pub outcome: PaymentOutcome,
    pub sale: SaleView,
}

/// Takes one payment (split tenders are several calls). Cash may be over-tendered: the change is
/// in the outcome. The payment that settles the sale closes it with a receipt number.
#[tauri::command]
#[specta::specta]
pub fn pay(
    state: State<'_, AppState>,
    sale_id: String,
    tender_kind: String,
    amount: i64,
    reference: Option<String>,
) -> CmdResult<Paid> {
    let sid = id(&sale_id)?;
    let t = tender(&tender_kind)?;
    let mut inner = state.lock();
    // Released when this returns, after the payment is written (or was not).
    let _lease = crate::mesh::hold_for_money(&inner, sid)?;
    let currency = inner
        .store()?
        .settings()?
        .currency()
        .map_err(pos_core::store::StoreError::from)?;
    let (mut store, actor) = inner.acting()?;
    pos_core::auth::require(actor.role, pos_core::auth::Permission::SaleTender)?;
    store.selling_shift()?;
    let outcome = store.pay(&actor, sid, t, Money::new(amount, currency), reference)?;
    drop(store);
    Ok(Paid {
        outcome,
        sale: view(&mut inner, sid)?,
    })
}

/// Hands back what an open sale is overpaid by (possible only after two tills' changes to it
/// merged) in `tender_kind`, and closes the sale with a receipt number.
#[tauri::command]
#[specta::specta]
pub fn return_overpayment(
    state: State<'_, AppState>,
    sale_id: String,
    tender_kind: String,
    reference: Option<String>,
) -> CmdResult<Paid> {
    let sid = id(&sale_id)?;
    let t = tender(&tender_kind)?;
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    let outcome = store.return_overpayment(&actor, sid, t, reference)?;
    drop(store);
    Ok(Paid {
        outcome,
        sale: view(&mut inner, sid)?,
    })
}

#[tauri::command]
#[specta::specta]
pub fn void_sale(
    state: State<'_, AppState>,
    sale_id: String,
    reason: String,
    approved_by: Option<String>,
) -> CmdResult<()> {
    let sid = id(&sale_id)?;
    let approver = approved_by.as_deref().map(id).transpose()?;
    let mut inner = state.lock();
    let approver = inner.approval(approver, Permission::SaleVoid)?;
    let (mut store, actor) = inner.acting()?;
    store.void_sale_approved(&actor, sid, &reason, approver)?;
    drop(store);
    inner.spend_approval(approver, Permission::SaleVoid);
    Ok(())
}

/// The receipt layout of a sale or a refund (by document id).
fn receipt_document(inner: &mut Inner, doc_id: Uuid) -> CmdResult<(String, Document)> {
    let cashier = Some(inner.user_name.clone()).filter(|n| !n.is_empty());
    let mut store = inner.store()?;
    let settings = store.settings()?.clone();
    match store.envelope(doc_id)?.doc_type {
        DocType::Sale => {
            let sale: Sale = store.get(doc_id)?;
            let label = sale.receipt_no.clone().unwrap_or_else(|| "draft".into());
            Ok((label, receipts::sale_receipt(&sale, &settings, cashier)?))
        }
        DocType::Refund => {
            let refund: Refund = store.get(doc_id)?;
            let label = refund.receipt_no.clone();
            Ok((
                label,
                receipts::refund_receipt(&refund, &settings, cashier)?,
            ))
        }
        other => Err(CommandError::invalid(format!("A {other} has no receipt."))),
    }
}

/// What the till says after [`email_receipt`].
#[derive(Debug, Serialize, specta::Type)]
pub struct EmailQueued {
    pub id: String,
    /// The address as it will be used (trimmed, domain in lower case).
    pub email: String,
    pub message: &'static str,
}

/// Queues the receipt of a closed sale or a refund to be emailed. The address stays in the
/// device's queue, never in the sale's document; the sync runner hands it to the server after
/// the sale. A standalone device has no server to send it: refused with `EMAIL_NEEDS_SERVER`
/// (after the address was checked, so a typo is reported first).
#[tauri::command]
#[specta::specta]
pub fn email_receipt(
    state: State<'_, AppState>,
    doc_id: String,
    email: String,
) -> CmdResult<EmailQueued> {
    let did = id(&doc_id)?;
    let inner = state.lock();
    inner.actor()?;
    if inner.sync.is_none() {
        pos_core::email::normalize_email(&email).map_err(pos_core::store::StoreError::from)?;
        return Err(CommandError::EmailNeedsServer);
    }
    let queued = inner.store()?.queue_receipt_email(did, &email)?;
    inner.nudge();
    Ok(EmailQueued {
        id: queued.id.to_string(),
        email: queued.email,
        message: "Queued — will be sent when the till is online.",
    })
}

/// Queues the receipt of a closed sale or a refund. Idempotent per receipt number: calling it
/// twice prints once (use `reprint_receipt` for a copy).
#[tauri::command]
#[specta::specta]
pub fn print_receipt(state: State<'_, AppState>, doc_id: String) -> CmdResult<JobId> {
    let did = id(&doc_id)?;
    let mut inner = state.lock();
    let (no, doc) = receipt_document(&mut inner, did)?;
    let printer = inner.printer()?;
    Ok(printer.queue.enqueue_document(
        Some(&format!("receipt-{no}")),
        &format!("Receipt {no}"),
        &doc,
        &printer.setup.profile,
    )?)
}

/// Prints another copy of a receipt.
#[tauri::command]
#[specta::specta]
pub fn reprint_receipt(state: State<'_, AppState>, doc_id: String) -> CmdResult<JobId> {
    let did = id(&doc_id)?;
    let mut inner = state.lock();
    let (no, doc) = receipt_document(&mut inner, did)?;
    let printer = inner.printer()?;
    Ok(printer.queue.enqueue_document(
        None,
        &format!("Receipt {no} (copy)"),
        &doc,
        &printer.setup.profile,
    )?)
}

/// A receipt's layout and the profile of this device's printer (or the default 80 mm one).
fn receipt_for_preview(
    state: &AppState,
    doc_id: &str,
) -> CmdResult<(Document, pos_printing::PrinterProfile)> {
    let did = id(doc_id)?;
    let mut inner = state.lock();
    let (_, doc) = receipt_document(&mut inner, did)?;
    let profile = match inner.printer.as_ref() {
        Some(p) => p.setup.profile.clone(),
        None => crate::state::default_profile()?,
    };
    Ok((doc, profile))
}

/// The receipt as the printer would print it, as text (`pos_printing::render_text`).
#[tauri::command]
#[specta::specta]
pub fn receipt_preview(state: State<'_, AppState>, doc_id: String) -> CmdResult<String> {
    let (doc, profile) = receipt_for_preview(&state, &doc_id)?;
    Ok(render_text(&doc, &profile)?)
}

/// The receipt as the printer would print it, as a PNG of the paper
/// (`pos_printing::render_png`), in a `data:` URL the screen shows as an image. Rendered off
/// the UI thread, and without holding the app's lock.
#[tauri::command(async)]
#[specta::specta]
pub fn receipt_image(state: State<'_, AppState>, doc_id: String) -> CmdResult<String> {
    use base64::Engine;
    let (doc, profile) = receipt_for_preview(&state, &doc_id)?;
    let png = render_png(&doc, &profile)?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// Pulses the cash drawer through the receipt printer.
#[tauri::command]
#[specta::specta]
pub fn open_drawer(state: State<'_, AppState>) -> CmdResult<JobId> {
    let inner = state.lock();
    inner.actor()?;
    let printer = inner.printer()?;
    Ok(printer
        .queue
        .enqueue_open_drawer(None, &printer.setup.profile)?)
}

/// A closed sale by receipt number (typed or scanned off the receipt), with what is still
/// refundable per line.
#[tauri::command]
#[specta::specta]
pub fn find_receipt(state: State<'_, AppState>, receipt_no: String) -> CmdResult<SaleView> {
    let inner = state.lock();
    let mut store = inner.store()?;
    let sid = store.sale_by_receipt(receipt_no.trim())?;
    let sale: Sale = store.get(sid)?;
    let prior = store.refunds_of(sid)?;
    let left = refundable(&sale, &prior).map_err(pos_core::store::StoreError::from)?;
    sale_view(sid, &sale, Some(&left))
}

#[derive(Debug, Deserialize, specta::Type)]
pub struct RefundLineInput {
    pub line_id: String,
    pub qty: i64,
    #[serde(default)]
    pub restock: bool,
}

#[derive(Debug, Serialize, specta::Type)]
pub struct Refunded {
    pub refund_id: String,
    pub receipt_no: String,
    pub total: i64,
}

/// What a refund of these lines would give back, line by line and in all, computed by core's
/// refund rule without writing anything (the dialog shows it before the refund is made).
#[derive(Debug, Serialize, specta::Type)]
pub struct RefundQuote {
    pub total: i64,
    /// Sale line id → amount it gives back.
    pub lines: std::collections::BTreeMap<String, i64>,
}

#[tauri::command]
#[specta::specta]
pub fn refund_quote(
    state: State<'_, AppState>,
    sale_id: String,
    lines: Vec<RefundLineInput>,
) -> CmdResult<RefundQuote> {
    let sid = id(&sale_id)?;
    let requests = refund_requests(lines);
    if requests.is_empty() {
        return Ok(RefundQuote {
            total: 0,
            lines: Default::default(),
        });
    }
    let inner = state.lock();
    let actor = inner.actor()?;
    let r = inner.store()?.quote_refund(&actor, sid, &requests)?;
    let total = r.totals().map_err(pos_core::store::StoreError::from)?.total;
    Ok(RefundQuote {
        total,
        lines: r
            .lines
            .values()
            .map(|l| (l.sale_line_id.clone(), l.amount))
            .collect(),
    })
}

fn refund_requests(lines: Vec<RefundLineInput>) -> Vec<RefundRequest> {
    lines
        .into_iter()
        .filter(|l| l.qty != 0)
        .map(|l| RefundRequest {
            sale_line_id: l.line_id,
            qty: l.qty,
            restock: l.restock,
        })
        .collect()
}

/// Refunds lines of a closed sale (core refuses more than is still refundable).
#[tauri::command]
#[specta::specta]
pub fn refund_sale(
    state: State<'_, AppState>,
    sale_id: String,
    lines: Vec<RefundLineInput>,
    tender_kind: String,
    reason: String,
    approved_by: Option<String>,
) -> CmdResult<Refunded> {
    let sid = id(&sale_id)?;
    let approver = approved_by.as_deref().map(id).transpose()?;
    let t = tender(&tender_kind)?;
    let requests = refund_requests(lines);
    if requests.is_empty() {
        return Err(CommandError::invalid(
            "Choose at least one line and quantity to refund.",
        ));
    }
    let reference = (t == Tender::Card).then(|| "refund".to_string());
    let mut inner = state.lock();
    let approver = inner.approval(approver, Permission::SaleRefund)?;
    let _lease = crate::mesh::hold_for_money(&inner, sid)?;
    let (mut store, actor) = inner.acting()?;
    let rid = store.refund_approved(&actor, sid, &requests, t, reference, &reason, approver)?;
    let refund: Refund = store.get(rid)?;
    let total = refund
        .totals()
        .map_err(pos_core::store::StoreError::from)?
        .total;
    drop(store);
    inner.spend_approval(approver, Permission::SaleRefund);
    Ok(Refunded {
        refund_id: rid.to_string(),
        receipt_no: refund.receipt_no,
        total,
    })
}

/// Closed sales, newest first (back office, reprints).
#[tauri::command]
#[specta::specta]
pub fn closed_sales(state: State<'_, AppState>, limit: Option<i64>) -> CmdResult<Vec<SaleSummary>> {
    let inner = state.lock();
    let out = inner
        .store()?
        .closed_sales(limit.unwrap_or(100).clamp(1, 1000))?;
    Ok(out)
}

/// Recent refunds, newest first, with their receipt, the sale they refund, who and when (back
/// office). Who may refund (`sale.refund`) may read them.
#[tauri::command]
#[specta::specta]
pub fn refunds_list(
    state: State<'_, AppState>,
    limit: Option<i64>,
) -> CmdResult<Vec<RefundSummary>> {
    let inner = state.lock();
    let actor = inner.actor()?;
    if !pos_core::auth::can(actor.role, Permission::SaleRefund) {
        return Err(CommandError::Forbidden {
            permission: Permission::SaleRefund.as_str().to_string(),
        });
    }
    let out = inner
        .store()?
        .recent_refunds(limit.unwrap_or(50).clamp(1, 1000))?;
    Ok(out)
}
