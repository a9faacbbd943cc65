//! Inventory as a ledger of movements. **The stock level is the sum of the movements**; nothing
//! stores a level that could drift from them.
//!
//! Movements come from documents: a closed sale (−qty per tracked line), a refund (+qty for
//! restocked lines), and posted stock documents: receive, adjust, count (the difference from the
//! expected level at the time of the count), and transfer out / in between stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::refund::Refund;
use crate::sale::{Sale, SaleStatus, Timestamp, MAX_QTY};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StockError {
    #[error("stock document is already posted")]
    AlreadyPosted,
    #[error("a stock document needs at least one line")]
    Empty,
    #[error("quantity must be between 1 and {MAX_QTY}, got {0}")]
    BadQuantity(i64),
    #[error("an adjustment must not be zero")]
    ZeroAdjustment,
    #[error("counted quantity must not be negative, got {0}")]
    NegativeCount(i64),
    #[error("unit cost must not be negative, got {0}")]
    NegativeCost(i64),
    #[error("a receipt of stock needs the supplier's reference")]
    MissingSupplierRef,
    #[error("a receipt of stock needs a unit cost for {0}")]
    MissingUnitCost(String),
    #[error("an adjustment needs a reason")]
    MissingReason,
    #[error("a transfer needs the other store")]
    MissingOtherStore,
    #[error("a transfer in needs the transfer out it receives")]
    MissingTransferOut,
    #[error("item {0} is not on this document")]
    UnknownLine(String),
    #[error("{0:?} documents do not take this field")]
    WrongKind(StockDocKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockDocKind {
    Receive,
    Adjust,
    Count,
    TransferOut,
    TransferIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockDocStatus {
    Draft,
    Posted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub name: String,
    /// Receive and transfers: units moved (positive). Adjust: signed delta. Count: unused.
    pub qty: i64,
    pub unit_cost: Option<i64>,
    /// Count: the level the device expected when the line was counted.
    pub expected: Option<i64>,
    /// Count: what was on the shelf.
    pub counted: Option<i64>,
}

/// A stock document: a receipt, an adjustment, a count sheet or one side of a transfer.
/// Lines are keyed by item id. It moves stock only once posted, and is frozen from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockDoc {
    pub kind: StockDocKind,
    pub status: StockDocStatus,
    pub lines: BTreeMap<String, StockLine>,
    pub supplier_ref: Option<String>,
    pub reason: Option<String>,
    /// Transfers: the store the goods go to (out) or come from (in).
    pub other_store_id: Option<String>,
    /// Transfer in: the transfer-out document it receives.
    pub transfer_out_id: Option<String>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub posted_at: Option<Timestamp>,
    pub posted_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Sale,
    Refund,
    Receive,
    Adjust,
    Count,
    TransferOut,
    TransferIn,
}

impl MovementKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            MovementKind::Sale => "sale",
            MovementKind::Refund => "refund",
            MovementKind::Receive => "receive",
            MovementKind::Adjust => "adjust",
            MovementKind::Count => "count",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
        }
    }
}

/// One entry of the stock ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub item_id: String,
    pub kind: MovementKind,
    /// Signed: + into stock, − out of it.
    pub qty: i64,
    pub unit_cost: Option<i64>,
    pub at: Timestamp,
}

impl StockDoc {
    pub fn new(kind: StockDocKind, by: Uuid, now: Timestamp) -> StockDoc {
        StockDoc {
            kind,
            status: StockDocStatus::Draft,
            lines: BTreeMap::new(),
            supplier_ref: None,
            reason: None,
            other_store_id: None,
            transfer_out_id: None,
            created_at: now,
            created_by: by.to_string(),
            posted_at: None,
            posted_by: None,
        }
    }

    fn ensure_draft(&self) -> Result<(), StockError> {
        if self.status == StockDocStatus::Posted {
            return Err(StockError::AlreadyPosted);
        }
        Ok(())
    }

    /// Sets a line of a receive, adjust or transfer document.
    pub fn set_line(
        &mut self,
        item_id: Uuid,
        name: &str,
        qty: i64,
        unit_cost: Option<i64>,
    ) -> Result<(), StockError> {
        self.ensure_draft()?;
        if self.kind == StockDocKind::Count {
            return Err(StockError::WrongKind(self.kind));
        }
        if self.kind == StockDocKind::Adjust {
            if qty == 0 {
                return Err(StockError::ZeroAdjustment);
            }
            if qty.abs() > MAX_QTY {
                return Err(StockError::BadQuantity(qty));
            }
        } else if !(1..=MAX_QTY).contains(&qty) {
            return Err(StockError::BadQuantity(qty));
        }
        if let Some(c) = unit_cost {
            if c < 0 {
                return Err(StockError::NegativeCost(c));
            }
        }
        self.lines.insert(
            item_id.to_string(),
            StockLine {
                name: name.to_string(),
                qty,
                unit_cost,
                expected: None,
                counted: None,
            },
        );
        Ok(())
    }

    /// Records a counted quantity on a count sheet, with the level expected at that moment.
    pub fn set_count(
        &mut self,
        item_id: Uuid,
        name: &str,
        expected: i64,
        counted: i64,
    ) -> Result<(), StockError> {
        self.ensure_draft()?;
        if self.kind != StockDocKind::Count {
            return Err(StockError::WrongKind(self.kind));
        }
        if counted < 0 {
            return Err(StockError::NegativeCount(counted));
        }
        if counted > MAX_QTY {
            return Err(StockError::BadQuantity(counted));
        }
        self.lines.insert(
            item_id.to_string(),
            StockLine {
                name: name.to_string(),
                qty: 0,
                unit_cost: None,
                expected: Some(expected),
                counted: Some(counted),
            },
        );
        Ok(())
    }

    pub fn remove_line(&mut self, item_id: &str) -> Result<(), StockError> {
        self.ensure_draft()?;
        self.lines
            .remove(item_id)
            .map(|_| ())
            .ok_or_else(|| StockError::UnknownLine(item_id.to_string()))
    }

    /// Checks the fields this kind of document needs.
    pub fn validate(&self) -> Result<(), StockError> {
        for (id, l) in &self.lines {
            match self.kind {
                StockDocKind::Adjust if l.qty == 0 => return Err(StockError::ZeroAdjustment),
                StockDocKind::Adjust => {}
                StockDocKind::Count => {
                    let c = l.counted.unwrap_or(-1);
                    if c < 0 {
                        return Err(StockError::NegativeCount(c));
                    }
                }
                _ if !(1..=MAX_QTY).contains(&l.qty) => return Err(StockError::BadQuantity(l.qty)),
                StockDocKind::Receive if l.unit_cost.is_none() => {
                    return Err(StockError::MissingUnitCost(id.clone()))
                }
                _ => {}
            }
            if let Some(c) = l.unit_cost.filter(|c| *c < 0) {
                return Err(StockError::NegativeCost(c));
            }
        }
        if self.status == StockDocStatus::Posted {
            if self.lines.is_empty() {
                return Err(StockError::Empty);
            }
            let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
            match self.kind {
                StockDocKind::Receive if blank(&self.supplier_ref) => {
                    return Err(StockError::MissingSupplierRef)
                }
                StockDocKind::Adjust if blank(&self.reason) => {
                    return Err(StockError::MissingReason)
                }
                StockDocKind::TransferOut | StockDocKind::TransferIn
                    if blank(&self.other_store_id) =>
                {
                    return Err(StockError::MissingOtherStore)
                }
                StockDocKind::TransferIn if blank(&self.transfer_out_id) => {
                    return Err(StockError::MissingTransferOut)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Posts the document: it moves stock from now on and can no longer change.
    pub fn post(&mut self, by: Uuid, now: Timestamp) -> Result<(), StockError> {
        self.ensure_draft()?;
        self.status = StockDocStatus::Posted;
        self.posted_at = Some(now);
        self.posted_by = Some(by.to_string());
        if let Err(e) = self.validate() {
            self.status = StockDocStatus::Draft;
            self.posted_at = None;
            self.posted_by = None;
            return Err(e);
        }
        Ok(())
    }

    /// The movements of a posted document (none for a draft).
    pub fn movements(&self) -> Vec<Movement> {
        if self.status != StockDocStatus::Posted {
            return Vec::new();
        }
        let at = self.posted_at.unwrap_or(self.created_at);
        self.lines
            .iter()
            .filter_map(|(item_id, l)| {
                let (kind, qty) = match self.kind {
                    StockDocKind::Receive => (MovementKind::Receive, l.qty),
                    StockDocKind::Adjust => (MovementKind::Adjust, l.qty),
                    StockDocKind::Count => (
                        MovementKind::Count,
                        l.counted.unwrap_or(0) - l.expected.unwrap_or(0),
                    ),
                    StockDocKind::TransferOut => (MovementKind::TransferOut, -l.qty),
                    StockDocKind::TransferIn => (MovementKind::TransferIn, l.qty),
                };
                // A count that matches expectations still records a zero movement: it is the
                // proof that the shelf was counted.
                Some(Movement {
                    item_id: item_id.clone(),
                    kind,
                    qty,
                    unit_cost: l.unit_cost,
                    at,
                })
            })
            .collect()
    }
}

/// Movements of a sale: one per tracked line, once the sale is closed.
pub fn sale_movements(sale: &Sale) -> Vec<Movement> {
    if sale.status != SaleStatus::Closed {
        return Vec::new();
    }
    let at = sale.closed_at.unwrap_or(sale.opened_at);
    sale.ordered_lines()
        .into_iter()
        .filter(|(_, l)| l.track_stock)
        .map(|(_, l)| Movement {
            item_id: l.item_id.clone(),
            kind: MovementKind::Sale,
            qty: -l.qty,
            unit_cost: None,
            at,
        })
        .collect()
}

/// Movements of a refund: restocked, tracked lines go back into stock.
pub fn refund_movements(refund: &Refund) -> Vec<Movement> {
    refund
        .lines
        .values()
        .filter(|l| l.track_stock && l.restock)
        .map(|l| Movement {
            item_id: l.item_id.clone(),
            kind: MovementKind::Refund,
            qty: l.qty,
            unit_cost: None,
            at: refund.created_at,
        })
        .collect()
}

/// A stock level and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub on_hand: i64,
    /// At or below the item's low-stock threshold (and not oversold).
    pub low_stock: bool,
    /// Below zero: two terminals sold the last unit offline. Accepted, and flagged.
    pub oversold: bool,
}

/// Levels per item: the sum of the movements.
pub fn levels<'a>(movements: impl IntoIterator<Item = &'a Movement>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for m in movements {
        *out.entry(m.item_id.clone()).or_insert(0) += m.qty;
    }
    out
}

/// The flags of a level, given the item's low-stock threshold.
pub fn flags(on_hand: i64, low_stock_threshold: i64) -> StockLevel {
    StockLevel {
        on_hand,
        low_stock: on_hand >= 0 && on_hand <= low_stock_threshold,
        oversold: on_hand < 0,
    }
}
