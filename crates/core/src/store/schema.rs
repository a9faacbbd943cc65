//! The SQLite schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version, and `PRAGMA application_id` marks the file as
//! ours, so that a foreign SQLite file is recognised and left alone. Migrations only ever move
//! forward, each in one transaction; a store written by an older version is migrated on open.

use rusqlite::Connection;

/// `POS1` in ASCII: marks a SQLite file as a POS store.
pub const APPLICATION_ID: i32 = 0x504F_5331;

/// One step of the schema: `(version it produces, SQL)`.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
];

/// The version this build writes.
pub const CURRENT_VERSION: i32 = 8;

/// A store whose `meta.projections` is older than [`crate::projection::VERSION`] (or absent)
/// rebuilds its projections from its documents when opened: new columns of existing rows can
/// only come from the documents.
pub const PROJECTIONS_VERSION: i32 = crate::projection::VERSION;

/// Version 1: documents, changes, outbox, sync state, counters, staff and the projections.
const V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY,
    doc_type TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    store_id TEXT,
    created_by_device TEXT NOT NULL,
    actor BLOB NOT NULL,
    snapshot BLOB,
    heads TEXT NOT NULL,
    pending_changes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX documents_type ON documents (doc_type);

-- Changes since the document's last snapshot, in order.
CREATE TABLE doc_changes (
    doc_id TEXT NOT NULL REFERENCES documents (doc_id),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) STRICT;

-- Local changes not yet acknowledged by the server.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents (doc_id),
    change_hash TEXT NOT NULL UNIQUE,
    bytes BLOB NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

-- Gapless per-device sequences (receipt numbers, Z numbers).
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;

CREATE TABLE staff (
    user_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    pin_hash TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
) STRICT;

-- Projections: written only by the store's write path, from projection::project().
CREATE TABLE p_settings (doc_id TEXT PRIMARY KEY, store_id TEXT, name TEXT, code TEXT, currency TEXT,
    tax_mode TEXT, discount_threshold_bp INTEGER, receipt_header TEXT, receipt_footer TEXT, address TEXT, tax_id TEXT);
CREATE TABLE p_categories (doc_id TEXT PRIMARY KEY, name TEXT, pos INTEGER, color TEXT);
CREATE TABLE p_items (doc_id TEXT PRIMARY KEY, sku TEXT, name TEXT, category_id TEXT, currency TEXT, price INTEGER,
    tax_class TEXT, station TEXT, track_stock INTEGER, low_stock_threshold INTEGER, active INTEGER, barcodes TEXT);
CREATE INDEX p_items_category ON p_items (category_id);
CREATE INDEX p_items_sku ON p_items (sku);
CREATE TABLE p_item_barcodes (doc_id TEXT NOT NULL, barcode TEXT NOT NULL);
CREATE INDEX p_item_barcodes_doc ON p_item_barcodes (doc_id);
CREATE INDEX p_item_barcodes_code ON p_item_barcodes (barcode);
CREATE TABLE p_item_store_prices (doc_id TEXT NOT NULL, store_id TEXT NOT NULL, price INTEGER, PRIMARY KEY (doc_id, store_id));
CREATE TABLE p_sales (doc_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, kind TEXT, status TEXT, ticket TEXT,
    shift_id TEXT, opened_at INTEGER, opened_by TEXT, closed_at INTEGER, receipt_no TEXT, currency TEXT,
    subtotal INTEGER, discount INTEGER, tax INTEGER, total INTEGER, paid INTEGER, change_given INTEGER, line_count INTEGER);
CREATE INDEX p_sales_status ON p_sales (status, opened_at);
CREATE INDEX p_sales_closed ON p_sales (closed_at);
CREATE INDEX p_sales_shift ON p_sales (shift_id);
CREATE INDEX p_sales_receipt ON p_sales (receipt_no);
CREATE TABLE p_sale_lines (doc_id TEXT NOT NULL, line_id TEXT NOT NULL, pos INTEGER, item_id TEXT, sku TEXT, name TEXT,
    qty INTEGER, unit_price INTEGER, price_override INTEGER, gross INTEGER, discount INTEGER, total INTEGER,
    tax_rate_bp INTEGER, station TEXT, course INTEGER, fired_at INTEGER, note TEXT, modifiers TEXT,
    PRIMARY KEY (doc_id, line_id));
CREATE TABLE p_sale_payments (doc_id TEXT NOT NULL, payment_id TEXT NOT NULL, tender TEXT, amount INTEGER,
    tendered INTEGER, change_given INTEGER, reference TEXT, at INTEGER, PRIMARY KEY (doc_id, payment_id));
CREATE TABLE p_sale_taxes (doc_id TEXT NOT NULL, rate_bp INTEGER, net INTEGER, tax INTEGER, gross INTEGER);
CREATE INDEX p_sale_taxes_doc ON p_sale_taxes (doc_id);
CREATE TABLE p_refunds (doc_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, sale_id TEXT, sale_receipt_no TEXT,
    receipt_no TEXT, shift_id TEXT, created_at INTEGER, reason TEXT, tax INTEGER, total INTEGER);
CREATE INDEX p_refunds_sale ON p_refunds (sale_id);
CREATE INDEX p_refunds_shift ON p_refunds (shift_id);
CREATE TABLE p_refund_lines (doc_id TEXT NOT NULL, line_id TEXT NOT NULL, sale_line_id TEXT, item_id TEXT, name TEXT,
    qty INTEGER, amount INTEGER, restock INTEGER, PRIMARY KEY (doc_id, line_id));
CREATE TABLE p_stock_docs (doc_id TEXT PRIMARY KEY, store_id TEXT, kind TEXT, status TEXT, created_at INTEGER,
    posted_at INTEGER, supplier_ref TEXT, reason TEXT, other_store_id TEXT, transfer_out_id TEXT, line_count INTEGER);
CREATE TABLE p_stock_movements (doc_id TEXT NOT NULL, seq INTEGER NOT NULL, store_id TEXT, item_id TEXT, kind TEXT,
    qty INTEGER, unit_cost INTEGER, at INTEGER, PRIMARY KEY (doc_id, seq));
CREATE INDEX p_stock_movements_item ON p_stock_movements (item_id);
CREATE TABLE p_kitchen_tickets (doc_id TEXT PRIMARY KEY, store_id TEXT, sale_id TEXT, station TEXT, ticket TEXT,
    course INTEGER, status TEXT, fired_at INTEGER, started_at INTEGER, ready_at INTEGER, bumped_at INTEGER,
    recalled_at INTEGER, item_count INTEGER);
CREATE INDEX p_kitchen_tickets_station ON p_kitchen_tickets (station, status, fired_at);
CREATE TABLE p_kitchen_items (doc_id TEXT NOT NULL, line_id TEXT NOT NULL, pos INTEGER, item_id TEXT, name TEXT,
    qty INTEGER, modifiers TEXT, note TEXT, bumped_at INTEGER, PRIMARY KEY (doc_id, line_id));
CREATE TABLE p_shifts (doc_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, status TEXT, opened_at INTEGER,
    opened_by TEXT, closed_at INTEGER, float INTEGER, expected_cash INTEGER, counted_cash INTEGER, over_short INTEGER);
CREATE TABLE p_shift_events (doc_id TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT, amount INTEGER, reason TEXT,
    at INTEGER, by TEXT, PRIMARY KEY (doc_id, event_id));
CREATE TABLE p_z_reports (doc_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, number INTEGER, shift_id TEXT,
    created_at INTEGER, sales_count INTEGER, net_total INTEGER, tax INTEGER, expected_cash INTEGER,
    counted_cash INTEGER, over_short INTEGER, report_json TEXT);
"#;

/// Version 2: derived indexes kept by triggers — full-text search over items and stock levels as
/// the running sum of the movements — backfilled from the rows a version-1 store already has.
const V2: &str = r#"
CREATE VIRTUAL TABLE items_fts USING fts5 (
    name, sku, barcodes,
    content = 'p_items', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
CREATE TRIGGER p_items_fts_insert AFTER INSERT ON p_items BEGIN
    INSERT INTO items_fts (rowid, name, sku, barcodes) VALUES (new.rowid, new.name, new.sku, new.barcodes);
END;
CREATE TRIGGER p_items_fts_delete AFTER DELETE ON p_items BEGIN
    INSERT INTO items_fts (items_fts, rowid, name, sku, barcodes) VALUES ('delete', old.rowid, old.name, old.sku, old.barcodes);
END;
INSERT INTO items_fts (items_fts) VALUES ('rebuild');

CREATE TABLE p_stock_levels (
    store_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    on_hand INTEGER NOT NULL,
    PRIMARY KEY (store_id, item_id)
) STRICT;
CREATE TRIGGER p_stock_movements_level_insert AFTER INSERT ON p_stock_movements BEGIN
    INSERT INTO p_stock_levels (store_id, item_id, on_hand) VALUES (new.store_id, new.item_id, new.qty)
    ON CONFLICT (store_id, item_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand;
END;
CREATE TRIGGER p_stock_movements_level_delete AFTER DELETE ON p_stock_movements BEGIN
    UPDATE p_stock_levels SET on_hand = on_hand - old.qty WHERE store_id = old.store_id AND item_id = old.item_id;
END;
INSERT INTO p_stock_levels (store_id, item_id, on_hand)
    SELECT store_id, item_id, SUM(qty) FROM p_stock_movements GROUP BY store_id, item_id;
"#;

/// Version 3: what sync needs to show the user: changes the server refused, and why.
const V3: &str = r#"
CREATE TABLE sync_problems (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    change_hash TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
"#;

/// Version 4: receipts to email, queued until the sync engine hands them to the server. The
/// address is personal data, so it lives here (deletable) and never in a document.
/// `status`: `pending` (not yet accepted by the server), `sent` (the server queued the mail),
/// `refused` (the server refused it with `code`; never sent again).
const V4: &str = r#"
CREATE TABLE receipt_emails (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'refused')),
    sent_at INTEGER,
    code TEXT,
    last_error TEXT
) STRICT;
CREATE INDEX receipt_emails_status ON receipt_emails (status, created_at);
"#;

/// Version 5: a manager's PIN typed to approve something at another person's till has its own
/// failure count and lockout, apart from the manager's login: a cashier mistyping the
/// manager's PIN in the approval dialog used to lock the manager out of the till (issue 17).
const V5: &str = r#"
ALTER TABLE staff ADD COLUMN approval_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN approval_locked_until INTEGER;
"#;

/// Version 6 (issue 11): what head office's reports and the store's clock read. The store's
/// time zone and business-day start, when a sale was voided, who refunded, and a refund's
/// taxes per rate and its tenders. The rows come from the documents: the store rebuilds its
/// projections after this step ([`PROJECTIONS_VERSION`]).
const V6: &str = r#"
ALTER TABLE p_settings ADD COLUMN time_zone TEXT;
ALTER TABLE p_settings ADD COLUMN business_day_start TEXT;
ALTER TABLE p_sales ADD COLUMN voided_at INTEGER;
ALTER TABLE p_refunds ADD COLUMN refunded_by TEXT;
CREATE TABLE p_refund_taxes (doc_id TEXT NOT NULL, rate_bp INTEGER, net INTEGER, tax INTEGER, gross INTEGER);
CREATE INDEX p_refund_taxes_doc ON p_refund_taxes (doc_id);
CREATE TABLE p_refund_tenders (doc_id TEXT NOT NULL, payment_id TEXT NOT NULL, tender TEXT, amount INTEGER,
    PRIMARY KEY (doc_id, payment_id));
"#;

/// Version 7 (issue 12, the store mesh): changes received from other devices of the store,
/// kept as they arrived (signed, opaque to the store) until the cloud has them, so that any
/// device carries a dead till's sales to the cloud.
const V7: &str = r#"
CREATE TABLE relay_outbox (
    hash TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    author_device TEXT NOT NULL,
    change BLOB NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
"#;

/// Version 8 (issue 12): changes the cloud refused, remembered so that a peer that has not
/// heard of the refusal cannot bring one back (`Store::undo_refused`).
const V8: &str = r#"
CREATE TABLE refused_changes (
    hash TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
"#;

/// Applies the migrations above `from` up to `to`, each in its own transaction.
pub(crate) fn migrate(conn: &mut Connection, from: i32, to: i32) -> rusqlite::Result<()> {
    for (version, sql) in MIGRATIONS {
        if *version <= from || *version > to {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(())
}
