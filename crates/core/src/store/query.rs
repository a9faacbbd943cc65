//! Read models for the screens, straight from the projections. Nothing here writes.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::auth::Actor;
use crate::catalog::CatalogError;

/// An item as the sell screen and search show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ItemSummary {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub category_id: Option<String>,
    /// Price in this store.
    pub price: i64,
    pub currency: String,
    pub station: Option<String>,
    pub track_stock: bool,
    pub barcodes: String,
}

/// A sale in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SaleSummary {
    pub id: Uuid,
    pub status: String,
    pub ticket: Option<String>,
    pub receipt_no: Option<String>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub total: i64,
    pub paid: i64,
    pub line_count: i64,
    /// Who opened it (a held sale belongs to them) and their name, when the staff list has it.
    pub opened_by: Option<String>,
    pub opened_by_name: Option<String>,
}

/// Stock of one item in this store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StockRow {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    pub on_hand: i64,
    pub low_stock_threshold: i64,
    pub low_stock: bool,
    pub oversold: bool,
}

/// Which stock rows to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum StockFilter {
    All,
    LowStock,
    Oversold,
}

/// A refund in the back office's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RefundSummary {
    pub id: Uuid,
    pub receipt_no: Option<String>,
    pub sale_id: Option<String>,
    pub sale_receipt_no: Option<String>,
    pub created_at: i64,
    pub total: i64,
    pub reason: Option<String>,
    pub refunded_by: Option<String>,
    pub refunded_by_name: Option<String>,
}

/// A kitchen ticket on the KDS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketSummary {
    pub id: Uuid,
    pub station: String,
    pub ticket: Option<String>,
    pub course: i64,
    pub status: String,
    pub fired_at: i64,
    pub bumped_at: Option<i64>,
    pub item_count: i64,
}

/// A shift in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ShiftSummary {
    pub id: Uuid,
    pub device_id: String,
    pub status: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub float: i64,
    pub expected_cash: Option<i64>,
    pub counted_cash: Option<i64>,
    pub over_short: Option<i64>,
}

/// A Z report in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ZSummary {
    pub id: Uuid,
    pub number: i64,
    pub created_at: i64,
    pub sales_count: i64,
    pub net_total: i64,
    pub over_short: i64,
}

fn uuid_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    let s: String = r.get(i)?;
    s.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

const ITEM_COLUMNS: &str = "i.doc_id, i.sku, i.name, i.category_id,
    COALESCE(sp.price, i.price), i.currency, i.station, i.track_stock, i.barcodes";

fn ticket_summary(r: &Row<'_>) -> rusqlite::Result<TicketSummary> {
    Ok(TicketSummary {
        id: uuid_at(r, 0)?,
        station: r.get(1)?,
        ticket: r.get(2)?,
        course: r.get(3)?,
        status: r.get(4)?,
        fired_at: r.get(5)?,
        bumped_at: r.get(6)?,
        item_count: r.get(7)?,
    })
}

fn item_row(r: &Row<'_>) -> rusqlite::Result<ItemSummary> {
    Ok(ItemSummary {
        id: uuid_at(r, 0)?,
        sku: r.get(1)?,
        name: r.get(2)?,
        category_id: r.get(3)?,
        price: r.get(4)?,
        currency: r.get(5)?,
        station: r.get(6)?,
        track_stock: r.get::<_, i64>(7)? != 0,
        barcodes: r.get(8)?,
    })
}

/// Turns what a user typed into an FTS5 query: every word is a quoted prefix, all must match.
fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

impl Store {
    /// Full-text search over item name, SKU and barcodes (prefix match on every word), active
    /// items only, best match first.
    pub fn search_items(&self, input: &str, limit: usize) -> Result<Vec<ItemSummary>, StoreError> {
        let Some(q) = fts_query(input) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items_fts f
             JOIN p_items i ON i.rowid = f.rowid
             LEFT JOIN p_item_store_prices sp ON sp.doc_id = i.doc_id AND sp.store_id = ?2
             WHERE items_fts MATCH ?1 AND i.active = 1
             ORDER BY f.rank LIMIT ?3"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![q, self.identity().store_id.to_string(), limit as i64],
            item_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The item with exactly this barcode.
    pub fn item_by_barcode(&self, code: &str) -> Result<ItemSummary, StoreError> {
        let code = code.trim();
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM p_item_barcodes b
             JOIN p_items i ON i.doc_id = b.doc_id
             LEFT JOIN p_item_store_prices sp ON sp.doc_id = i.doc_id AND sp.store_id = ?2
             WHERE b.barcode = ?1 AND i.active = 1 LIMIT 1"
        );
        self.conn()
            .prepare_cached(&sql)?
            .query_row(
                params![code, self.identity().store_id.to_string()],
                item_row,
            )
            .optional()?
            .ok_or_else(|| CatalogError::UnknownBarcode(code.to_string()).into())
    }

    /// Items of a category, by name (the sell screen's grid).
    pub fn items_in_category(&self, category_id: &str) -> Result<Vec<ItemSummary>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM p_items i
             LEFT JOIN p_item_store_prices sp ON sp.doc_id = i.doc_id AND sp.store_id = ?2
             WHERE i.category_id = ?1 AND i.active = 1 ORDER BY i.name"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![category_id, self.identity().store_id.to_string()],
            item_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Active items in no category, or in one that does not exist (deleted, or not synced yet):
    /// the Sell grid's "Other", so that no item is out of reach of a tap (issue 17, defect 15).
    pub fn items_without_category(&self) -> Result<Vec<ItemSummary>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM p_items i
             LEFT JOIN p_item_store_prices sp ON sp.doc_id = i.doc_id AND sp.store_id = ?1
             WHERE i.active = 1 AND (i.category_id IS NULL OR i.category_id = ''
                   OR i.category_id NOT IN (SELECT doc_id FROM p_categories))
             ORDER BY i.name"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(params![self.identity().store_id.to_string()], item_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Categories in grid order: `(id, name, colour)`.
    pub fn categories(&self) -> Result<Vec<(Uuid, String, String)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT doc_id, name, color FROM p_categories ORDER BY pos, name")?;
        let rows = stmt.query_map([], |r| Ok((uuid_at(r, 0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn sales_where(&self, clause: &str, limit: i64) -> Result<Vec<SaleSummary>, StoreError> {
        let sql = format!(
            "SELECT doc_id, status, ticket, receipt_no, opened_at, closed_at, total, paid, line_count,
                    opened_by, (SELECT name FROM staff WHERE staff.user_id = p_sales.opened_by)
             FROM p_sales WHERE {clause} LIMIT ?1"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map([limit], |r| {
            Ok(SaleSummary {
                id: uuid_at(r, 0)?,
                status: r.get(1)?,
                ticket: r.get(2)?,
                receipt_no: r.get(3)?,
                opened_at: r.get(4)?,
                closed_at: r.get(5)?,
                total: r.get(6)?,
                paid: r.get(7)?,
                line_count: r.get(8)?,
                opened_by: r.get(9)?,
                opened_by_name: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Open sales and tickets of the store, oldest first (shared across terminals).
    pub fn open_sales(&self) -> Result<Vec<SaleSummary>, StoreError> {
        self.sales_where("status = 'open' ORDER BY opened_at", 1000)
    }

    /// The open sales `actor` may take up, oldest first: every table or tab (shared by the
    /// store's tills), but a held counter sale (no ticket) only for the one who opened it, or
    /// for someone who may void it (`sale.void`: a manager), issue 17 defect 13.
    pub fn open_sales_for(&self, actor: &Actor) -> Result<Vec<SaleSummary>, StoreError> {
        let everyone = crate::auth::can(actor.role, crate::auth::Permission::SaleVoid);
        let me = actor.user_id.to_string();
        Ok(self
            .open_sales()?
            .into_iter()
            .filter(|s| {
                everyone || s.ticket.is_some() || s.opened_by.as_deref() == Some(me.as_str())
            })
            .collect())
    }

    /// Closed sales, newest first.
    pub fn closed_sales(&self, limit: i64) -> Result<Vec<SaleSummary>, StoreError> {
        self.sales_where("status = 'closed' ORDER BY closed_at DESC", limit)
    }

    /// The sale (or refund) with this receipt number.
    pub fn sale_by_receipt(&self, receipt_no: &str) -> Result<Uuid, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc_id FROM p_sales WHERE receipt_no = ?1",
                [receipt_no.trim()],
                |r| r.get(0),
            )
            .optional()?;
        id.and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::UnknownReceipt(receipt_no.to_string()))
    }

    /// Stock levels of tracked items in this store.
    pub fn stock_levels(&self, filter: StockFilter) -> Result<Vec<StockRow>, StoreError> {
        let cond = match filter {
            StockFilter::All => "1",
            StockFilter::LowStock => "on_hand >= 0 AND on_hand <= i.low_stock_threshold",
            StockFilter::Oversold => "on_hand < 0",
        };
        let sql = format!(
            "SELECT i.doc_id, i.sku, i.name, COALESCE(l.on_hand, 0) AS on_hand, i.low_stock_threshold
             FROM p_items i
             LEFT JOIN p_stock_levels l ON l.item_id = i.doc_id AND l.store_id = ?1
             WHERE i.track_stock = 1 AND {cond} ORDER BY i.name"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map([self.identity().store_id.to_string()], |r| {
            let on_hand: i64 = r.get(3)?;
            let threshold: i64 = r.get(4)?;
            let f = crate::inventory::flags(on_hand, threshold);
            Ok(StockRow {
                item_id: uuid_at(r, 0)?,
                sku: r.get(1)?,
                name: r.get(2)?,
                on_hand,
                low_stock_threshold: threshold,
                low_stock: f.low_stock,
                oversold: f.oversold,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The stock of one item in this store (0 if it never moved).
    pub fn stock_level(&self, item_id: Uuid) -> Result<crate::inventory::StockLevel, StoreError> {
        let (on_hand, threshold): (i64, i64) = self
            .conn()
            .query_row(
                "SELECT COALESCE(l.on_hand, 0), i.low_stock_threshold FROM p_items i
                 LEFT JOIN p_stock_levels l ON l.item_id = i.doc_id AND l.store_id = ?2
                 WHERE i.doc_id = ?1",
                params![item_id.to_string(), self.identity().store_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| CatalogError::UnknownItem(item_id.to_string()))?;
        Ok(crate::inventory::flags(on_hand, threshold))
    }

    /// Refunds, newest first, with who made them.
    pub fn recent_refunds(&self, limit: i64) -> Result<Vec<RefundSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, receipt_no, sale_id, sale_receipt_no, created_at, total, reason, refunded_by,
                    (SELECT name FROM staff WHERE staff.user_id = p_refunds.refunded_by)
             FROM p_refunds ORDER BY created_at DESC, doc_id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(RefundSummary {
                id: uuid_at(r, 0)?,
                receipt_no: r.get(1)?,
                sale_id: r.get(2)?,
                sale_receipt_no: r.get(3)?,
                created_at: r.get(4)?,
                total: r.get(5)?,
                reason: r.get(6)?,
                refunded_by: r.get(7)?,
                refunded_by_name: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Kitchen tickets of a station (or all), not bumped unless `include_bumped`, oldest first.
    pub fn kitchen_tickets(
        &self,
        station: Option<&str>,
        include_bumped: bool,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, station, ticket, course, status, fired_at, bumped_at, item_count
             FROM p_kitchen_tickets
             WHERE (?1 IS NULL OR station = ?1) AND (?2 OR status <> 'bumped')
             ORDER BY fired_at, doc_id",
        )?;
        let rows = stmt.query_map(params![station, include_bumped], ticket_summary)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The `limit` most recently bumped tickets of a station (or all), newest first: the KDS's
    /// list to recall one from.
    pub fn recently_bumped(
        &self,
        station: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, station, ticket, course, status, fired_at, bumped_at, item_count
             FROM p_kitchen_tickets
             WHERE (?1 IS NULL OR station = ?1) AND status = 'bumped'
             ORDER BY bumped_at DESC, doc_id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![station, limit], ticket_summary)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every kitchen ticket of a sale, bumped or not, oldest first: what the expo shows of an
    /// order across stations.
    pub fn kitchen_tickets_of_sale(&self, sale_id: &str) -> Result<Vec<TicketSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, station, ticket, course, status, fired_at, bumped_at, item_count
             FROM p_kitchen_tickets WHERE sale_id = ?1
             ORDER BY fired_at, station, doc_id",
        )?;
        let rows = stmt.query_map([sale_id], ticket_summary)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The order a sale's kitchen tickets belong to now: the sale itself, or the sale it was
    /// merged into (`Sale::merged_into`, followed through at most 16 merges), with that order's
    /// current table name. A ticket keeps the name it was fired under; the kitchen shows this
    /// one, so a table moved or merged after firing is cooked for where it sits now.
    pub fn kitchen_order_of(
        &mut self,
        sale_id: &str,
    ) -> Result<(String, Option<String>), StoreError> {
        let mut current = sale_id.to_string();
        let mut label = None;
        for _ in 0..16 {
            let Ok(id) = Uuid::parse_str(&current) else {
                break;
            };
            let sale: crate::sale::Sale = match self.get(id) {
                Ok(s) => s,
                // Not (yet) in this replica: the ticket's own name stands.
                Err(StoreError::UnknownDocument(_)) => break,
                Err(e) => return Err(e),
            };
            label = sale.ticket.clone();
            match sale.merged_into {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        Ok((current, label))
    }

    /// All-day counts of a station: item name → quantity still to make (tickets and items not
    /// bumped), the KDS's summary line.
    pub fn all_day(&self, station: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT i.name, SUM(i.qty) FROM p_kitchen_items i
             JOIN p_kitchen_tickets t ON t.doc_id = i.doc_id
             WHERE t.station = ?1 AND t.status <> 'bumped' AND i.bumped_at IS NULL
             GROUP BY i.name ORDER BY SUM(i.qty) DESC, i.name",
        )?;
        let rows = stmt.query_map([station], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Shifts of this store, newest first.
    pub fn shifts(&self, limit: i64) -> Result<Vec<ShiftSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, device_id, status, opened_at, closed_at, float, expected_cash, counted_cash, over_short
             FROM p_shifts ORDER BY opened_at DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(ShiftSummary {
                id: uuid_at(r, 0)?,
                device_id: r.get(1)?,
                status: r.get(2)?,
                opened_at: r.get(3)?,
                closed_at: r.get(4)?,
                float: r.get(5)?,
                expected_cash: r.get(6)?,
                counted_cash: r.get(7)?,
                over_short: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The Z report history of this store, newest first.
    pub fn z_reports(&self) -> Result<Vec<ZSummary>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, number, created_at, sales_count, net_total, over_short
             FROM p_z_reports ORDER BY created_at DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ZSummary {
                id: uuid_at(r, 0)?,
                number: r.get(1)?,
                created_at: r.get(2)?,
                sales_count: r.get(3)?,
                net_total: r.get(4)?,
                over_short: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of local changes waiting for the server.
    pub fn outbox_len(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?)
    }

    /// The sync cursor: the last server sequence this device has pulled.
    /// The tenant's modules as the server last said ([`Store::set_entitlements`]); every module
    /// on a device that never heard (a standalone demo).
    pub fn entitlements(&self) -> Result<crate::modules::Entitlements, StoreError> {
        entitlements_in(self.conn())
    }

    pub fn sync_cursor(&self) -> Result<i64, StoreError> {
        let v: Option<String> = self
            .conn()
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'cursor'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Sum of the stock movements of an item (the ledger), to check against the level.
    pub fn movements_sum(&self, item_id: Uuid) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(SUM(qty), 0) FROM p_stock_movements WHERE item_id = ?1 AND store_id = ?2",
            params![item_id.to_string(), self.identity().store_id.to_string()],
            |r| r.get(0),
        )?)
    }
}

/// [`Store::entitlements`] on a connection (or a write's transaction).
pub(crate) fn entitlements_in(
    conn: &rusqlite::Connection,
) -> Result<crate::modules::Entitlements, StoreError> {
    use rusqlite::OptionalExtension;
    let json: Option<String> = conn
        .query_row(
            "SELECT value FROM sync_state WHERE key = 'entitlements'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}
