//! The mapping from a document to the relational rows that screens and reports query.
//!
//! **Architecture invariant: [`project`] is a pure function of the envelope and the document.**
//! The device's SQLite store and the server's Postgres writer both call it, and both replace a
//! document's rows wholesale (delete by `doc_id`, insert the new rows), so a projection can always
//! be rebuilt from the documents and the two sides cannot drift apart.
//!
//! Rows are generic (`table` + values in [`TableDef::columns`] order), so each writer needs one
//! insert routine, and a canonical dump of the projections is easy to hash.

use serde::Serialize;
use thiserror::Error;

use crate::doc::{AnyDoc, DocType, Envelope};
use crate::inventory::{refund_movements, sale_movements, Movement};
use crate::kitchen::KitchenTicket;
use crate::refund::{Refund, RefundError};
use crate::sale::{Sale, SaleError};
use crate::shift::{Shift, ZReport};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Refund(#[from] RefundError),
}

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}
impl From<uuid::Uuid> for Value {
    fn from(v: uuid::Uuid) -> Self {
        Value::Text(v.to_string())
    }
}

/// The shape of the rows [`project`] writes. Bump it with every change to [`TABLES`] or to what
/// `project` puts in them: each replica (the device's store, the server's master) then rebuilds
/// its rows from the documents once. 2: issue 11's reporting columns.
pub const VERSION: i32 = 2;

/// A projection table: its name and columns. Every table starts with `doc_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

macro_rules! tables {
    ($($konst:ident = $name:literal [$($col:literal),*];)*) => {
        $(pub const $konst: TableDef = TableDef { name: $name, columns: &["doc_id", $($col),*] };)*
        /// Every projection table, in the order they are written.
        pub const TABLES: &[TableDef] = &[$($konst),*];
    };
}

tables! {
    SETTINGS = "p_settings" ["store_id", "name", "code", "currency", "tax_mode", "discount_threshold_bp", "receipt_header", "receipt_footer", "address", "tax_id", "time_zone", "business_day_start"];
    CATEGORIES = "p_categories" ["name", "pos", "color"];
    ITEMS = "p_items" ["sku", "name", "category_id", "currency", "price", "tax_class", "station", "track_stock", "low_stock_threshold", "active", "barcodes"];
    ITEM_BARCODES = "p_item_barcodes" ["barcode"];
    ITEM_STORE_PRICES = "p_item_store_prices" ["store_id", "price"];
    SALES = "p_sales" ["store_id", "device_id", "kind", "status", "ticket", "shift_id", "opened_at", "opened_by", "closed_at", "receipt_no", "currency", "subtotal", "discount", "tax", "total", "paid", "change_given", "line_count", "voided_at"];
    SALE_LINES = "p_sale_lines" ["line_id", "pos", "item_id", "sku", "name", "qty", "unit_price", "price_override", "gross", "discount", "total", "tax_rate_bp", "station", "course", "fired_at", "note", "modifiers"];
    SALE_PAYMENTS = "p_sale_payments" ["payment_id", "tender", "amount", "tendered", "change_given", "reference", "at"];
    SALE_TAXES = "p_sale_taxes" ["rate_bp", "net", "tax", "gross"];
    REFUNDS = "p_refunds" ["store_id", "device_id", "sale_id", "sale_receipt_no", "receipt_no", "shift_id", "created_at", "reason", "tax", "total", "refunded_by"];
    REFUND_LINES = "p_refund_lines" ["line_id", "sale_line_id", "item_id", "name", "qty", "amount", "restock"];
    REFUND_TAXES = "p_refund_taxes" ["rate_bp", "net", "tax", "gross"];
    REFUND_TENDERS = "p_refund_tenders" ["payment_id", "tender", "amount"];
    STOCK_DOCS = "p_stock_docs" ["store_id", "kind", "status", "created_at", "posted_at", "supplier_ref", "reason", "other_store_id", "transfer_out_id", "line_count"];
    STOCK_MOVEMENTS = "p_stock_movements" ["seq", "store_id", "item_id", "kind", "qty", "unit_cost", "at"];
    KITCHEN_TICKETS = "p_kitchen_tickets" ["store_id", "sale_id", "station", "ticket", "course", "status", "fired_at", "started_at", "ready_at", "bumped_at", "recalled_at", "item_count"];
    KITCHEN_ITEMS = "p_kitchen_items" ["line_id", "pos", "item_id", "name", "qty", "modifiers", "note", "bumped_at"];
    SHIFTS = "p_shifts" ["store_id", "device_id", "status", "opened_at", "opened_by", "closed_at", "float", "expected_cash", "counted_cash", "over_short"];
    SHIFT_EVENTS = "p_shift_events" ["event_id", "kind", "amount", "reason", "at", "by"];
    Z_REPORTS = "p_z_reports" ["store_id", "device_id", "number", "shift_id", "created_at", "sales_count", "net_total", "tax", "expected_cash", "counted_cash", "over_short", "report_json"];
}

/// The tables a document type writes to (the ones its old rows are deleted from).
pub fn tables_of(doc_type: DocType) -> &'static [TableDef] {
    match doc_type {
        DocType::StoreSettings => &[SETTINGS],
        DocType::Category => &[CATEGORIES],
        DocType::Item => &[ITEMS, ITEM_BARCODES, ITEM_STORE_PRICES],
        DocType::Sale => &[
            SALES,
            SALE_LINES,
            SALE_PAYMENTS,
            SALE_TAXES,
            STOCK_MOVEMENTS,
        ],
        DocType::Refund => &[
            REFUNDS,
            REFUND_LINES,
            REFUND_TAXES,
            REFUND_TENDERS,
            STOCK_MOVEMENTS,
        ],
        DocType::KitchenTicket => &[KITCHEN_TICKETS, KITCHEN_ITEMS],
        DocType::Stock => &[STOCK_DOCS, STOCK_MOVEMENTS],
        DocType::Shift => &[SHIFTS, SHIFT_EVENTS],
        DocType::ZReport => &[Z_REPORTS],
    }
}

/// SHA-256 over a canonical dump of projection rows: per table (in [`TABLES`] order), every
/// row serialized as a JSON array of its values, the rows sorted as strings. Ordering happens
/// here, not in SQL, so SQLite and Postgres (other collations, other NULL ordering) give the
/// same digest for the same rows. `rows(table)` returns a table's rows in column order.
pub fn digest<E>(
    mut rows: impl FnMut(&TableDef) -> Result<Vec<Vec<Value>>, E>,
) -> Result<String, E> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for t in TABLES {
        let mut lines: Vec<String> = rows(t)?
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect();
        lines.sort_unstable();
        h.update(t.name.as_bytes());
        h.update(b"\n");
        for l in lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// One projection row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub table: &'static str,
    /// Values in the table's column order, `doc_id` first.
    pub values: Vec<Value>,
}

struct Rows {
    doc_id: Value,
    out: Vec<Row>,
}

impl Rows {
    fn push(&mut self, t: TableDef, vals: Vec<Value>) {
        debug_assert_eq!(vals.len() + 1, t.columns.len(), "{} column count", t.name);
        let mut values = Vec::with_capacity(t.columns.len());
        values.push(self.doc_id.clone());
        values.extend(vals);
        self.out.push(Row {
            table: t.name,
            values,
        });
    }

    fn movements(&mut self, env: &Envelope, ms: Vec<Movement>) {
        for (seq, m) in ms.into_iter().enumerate() {
            self.push(
                STOCK_MOVEMENTS,
                vec![
                    (seq as i64).into(),
                    env.store_id.into(),
                    m.item_id.into(),
                    m.kind.as_str().into(),
                    m.qty.into(),
                    m.unit_cost.into(),
                    m.at.into(),
                ],
            );
        }
    }
}

/// A value as text: plain for strings and unit enums (`"Open"` → `Open`), JSON otherwise.
fn json(v: &impl Serialize) -> Value {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Value::Text(s),
        Ok(other) => Value::Text(other.to_string()),
        Err(_) => Value::Null,
    }
}

/// The rows of one document. Pure: same envelope and document, same rows.
pub fn project(env: &Envelope, doc: &AnyDoc) -> Result<Vec<Row>, ProjectionError> {
    let mut r = Rows {
        doc_id: env.doc_id.into(),
        out: Vec::new(),
    };
    match doc {
        AnyDoc::StoreSettings(s) => r.push(
            SETTINGS,
            vec![
                env.store_id.into(),
                s.name.as_str().into(),
                s.code.as_str().into(),
                s.currency.as_str().into(),
                json(&s.tax_mode),
                s.discount_threshold_bp.into(),
                s.receipt_header.as_str().into(),
                s.receipt_footer.as_str().into(),
                s.address.as_str().into(),
                s.tax_id.as_str().into(),
                s.time_zone.as_str().into(),
                s.business_day_start.as_str().into(),
            ],
        ),
        AnyDoc::Category(c) => r.push(
            CATEGORIES,
            vec![
                c.name.as_str().into(),
                c.pos.into(),
                c.color.as_str().into(),
            ],
        ),
        AnyDoc::Item(i) => {
            r.push(
                ITEMS,
                vec![
                    i.sku.as_str().into(),
                    i.name.as_str().into(),
                    i.category_id.clone().into(),
                    i.currency.as_str().into(),
                    i.price.into(),
                    i.tax_class.as_str().into(),
                    i.station.clone().into(),
                    i.track_stock.into(),
                    i.low_stock_threshold.into(),
                    i.active.into(),
                    i.barcodes.join(" ").into(),
                ],
            );
            for b in &i.barcodes {
                r.push(ITEM_BARCODES, vec![b.as_str().into()]);
            }
            for (store, price) in &i.store_prices {
                r.push(
                    ITEM_STORE_PRICES,
                    vec![store.as_str().into(), (*price).into()],
                );
            }
        }
        AnyDoc::Sale(s) => project_sale(&mut r, env, s)?,
        AnyDoc::Refund(f) => project_refund(&mut r, env, f)?,
        AnyDoc::KitchenTicket(t) => project_ticket(&mut r, env, t),
        AnyDoc::Stock(s) => {
            r.push(
                STOCK_DOCS,
                vec![
                    env.store_id.into(),
                    json(&s.kind),
                    json(&s.status),
                    s.created_at.into(),
                    s.posted_at.into(),
                    s.supplier_ref.clone().into(),
                    s.reason.clone().into(),
                    s.other_store_id.clone().into(),
                    s.transfer_out_id.clone().into(),
                    (s.lines.len() as i64).into(),
                ],
            );
            r.movements(env, s.movements());
        }
        AnyDoc::Shift(s) => project_shift(&mut r, env, s),
        AnyDoc::ZReport(z) => project_z(&mut r, env, z),
    }
    Ok(r.out)
}

fn project_sale(r: &mut Rows, env: &Envelope, s: &Sale) -> Result<(), ProjectionError> {
    let t = s.totals()?;
    r.push(
        SALES,
        vec![
            env.store_id.into(),
            env.created_by_device.into(),
            json(&s.kind),
            s.status.as_str().into(),
            s.ticket.clone().into(),
            s.shift_id.clone().into(),
            s.opened_at.into(),
            s.opened_by.as_str().into(),
            s.closed_at.into(),
            s.receipt_no.clone().into(),
            s.currency.as_str().into(),
            t.subtotal.into(),
            (t.line_discounts + t.order_discount).into(),
            t.tax.into(),
            t.total.into(),
            t.paid.into(),
            t.change.into(),
            (s.lines.len() as i64).into(),
            s.voided_at.into(),
        ],
    );
    for lt in &t.lines {
        let Some(l) = s.lines.get(&lt.line_id) else {
            continue;
        };
        r.push(
            SALE_LINES,
            vec![
                lt.line_id.as_str().into(),
                l.pos.into(),
                l.item_id.as_str().into(),
                l.sku.as_str().into(),
                l.name.as_str().into(),
                l.qty.into(),
                l.unit_price()?.into(),
                l.price_override.into(),
                lt.gross.into(),
                (lt.line_discount + lt.order_discount).into(),
                lt.total.into(),
                l.tax_rate_bp.into(),
                l.station.clone().into(),
                l.course.into(),
                l.fired_at.into(),
                l.note.as_str().into(),
                json(&l.modifiers),
            ],
        );
    }
    for (id, p) in &s.payments {
        r.push(
            SALE_PAYMENTS,
            vec![
                id.as_str().into(),
                p.tender.as_str().into(),
                p.amount.into(),
                p.tendered.into(),
                p.change.into(),
                p.reference.clone().or_else(|| p.label.clone()).into(),
                p.at.into(),
            ],
        );
    }
    for tx in &t.taxes {
        r.push(
            SALE_TAXES,
            vec![
                tx.rate_bp.into(),
                tx.net.into(),
                tx.tax.into(),
                tx.gross.into(),
            ],
        );
    }
    r.movements(env, sale_movements(s));
    Ok(())
}

fn project_refund(r: &mut Rows, env: &Envelope, f: &Refund) -> Result<(), ProjectionError> {
    let t = f.totals()?;
    r.push(
        REFUNDS,
        vec![
            env.store_id.into(),
            env.created_by_device.into(),
            f.sale_id.as_str().into(),
            f.sale_receipt_no.as_str().into(),
            f.receipt_no.as_str().into(),
            f.shift_id.clone().into(),
            f.created_at.into(),
            f.reason.as_str().into(),
            t.tax.into(),
            t.total.into(),
            f.by.as_str().into(),
        ],
    );
    for tx in &t.taxes {
        r.push(
            REFUND_TAXES,
            vec![
                tx.rate_bp.into(),
                tx.net.into(),
                tx.tax.into(),
                tx.gross.into(),
            ],
        );
    }
    for (id, p) in &f.tenders {
        r.push(
            REFUND_TENDERS,
            vec![
                id.as_str().into(),
                p.tender.as_str().into(),
                p.amount.into(),
            ],
        );
    }
    for (id, l) in &f.lines {
        r.push(
            REFUND_LINES,
            vec![
                id.as_str().into(),
                l.sale_line_id.as_str().into(),
                l.item_id.as_str().into(),
                l.name.as_str().into(),
                l.qty.into(),
                l.amount.into(),
                l.restock.into(),
            ],
        );
    }
    r.movements(env, refund_movements(f));
    Ok(())
}

fn project_ticket(r: &mut Rows, env: &Envelope, t: &KitchenTicket) {
    r.push(
        KITCHEN_TICKETS,
        vec![
            env.store_id.into(),
            t.sale_id.as_str().into(),
            t.station.as_str().into(),
            t.ticket.clone().into(),
            t.course.into(),
            t.status.as_str().into(),
            t.fired_at.into(),
            t.started_at.into(),
            t.ready_at.into(),
            t.bumped_at.into(),
            t.recalled_at.into(),
            (t.items.len() as i64).into(),
        ],
    );
    for (id, i) in &t.items {
        r.push(
            KITCHEN_ITEMS,
            vec![
                id.as_str().into(),
                i.pos.into(),
                i.item_id.as_str().into(),
                i.name.as_str().into(),
                i.qty.into(),
                json(&i.modifiers),
                i.note.as_str().into(),
                i.bumped_at.into(),
            ],
        );
    }
}

fn project_shift(r: &mut Rows, env: &Envelope, s: &Shift) {
    r.push(
        SHIFTS,
        vec![
            env.store_id.into(),
            s.device_id.as_str().into(),
            json(&s.status),
            s.opened_at.into(),
            s.opened_by.as_str().into(),
            s.closed_at.into(),
            s.float.into(),
            s.expected_cash.into(),
            s.counted_cash.into(),
            s.over_short.into(),
        ],
    );
    for (id, e) in &s.events {
        r.push(
            SHIFT_EVENTS,
            vec![
                id.as_str().into(),
                json(&e.kind),
                e.amount.into(),
                e.reason.as_str().into(),
                e.at.into(),
                e.by.as_str().into(),
            ],
        );
    }
}

fn project_z(r: &mut Rows, env: &Envelope, z: &ZReport) {
    r.push(
        Z_REPORTS,
        vec![
            env.store_id.into(),
            z.device_id.as_str().into(),
            z.number.into(),
            z.shift_id.as_str().into(),
            z.created_at.into(),
            z.report.sales_count.into(),
            z.report.net_total.into(),
            z.report.taxes.iter().map(|t| t.tax).sum::<i64>().into(),
            z.expected_cash.into(),
            z.counted_cash.into(),
            z.over_short.into(),
            json(&z.report),
        ],
    );
}
