//! Refunds: a new document that points to a closed sale. A closed sale is never edited.
//!
//! **A refund can never return more of a line than is still refundable**: the quantity sold less
//! every earlier refund of that line. The device checks this when it builds the refund, and the
//! server checks it again against its own copy of the sale and refunds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::money::{div_round_half_away, to_minor, MoneyError, TaxMode};
use crate::sale::{
    tax_breakdown, Payment, Sale, SaleError, SaleStatus, TaxLine, Tender, Timestamp,
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefundError {
    #[error("only a closed sale can be refunded; this one is {0:?}")]
    SaleNotClosed(SaleStatus),
    #[error("unknown sale line {0}")]
    UnknownLine(String),
    #[error("refund quantity must be positive, got {0}")]
    BadQuantity(i64),
    #[error("line {line}: refunding {requested} but only {refundable} is refundable")]
    ExceedsRefundable {
        line: String,
        requested: i64,
        refundable: i64,
    },
    #[error("a refund needs at least one line")]
    Empty,
    #[error("a refund to card needs the terminal's reference")]
    MissingCardReference,
    #[error("refund belongs to sale {refund_sale}, not {sale}")]
    WrongSale { refund_sale: String, sale: String },
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub sale_line_id: String,
    pub item_id: String,
    pub name: String,
    pub qty: i64,
    /// The refunded share of the sale line's total (same tax basis as the sale).
    pub amount: i64,
    pub tax_rate_bp: i64,
    pub track_stock: bool,
    /// Whether the goods go back into stock.
    pub restock: bool,
}

/// The refund document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub sale_id: String,
    pub sale_receipt_no: String,
    pub currency: String,
    pub tax_mode: TaxMode,
    pub lines: BTreeMap<String, RefundLine>,
    pub tenders: BTreeMap<String, Payment>,
    pub reason: String,
    pub created_at: Timestamp,
    pub by: String,
    pub receipt_no: String,
    pub shift_id: Option<String>,
    /// The manager who approved the refund with their PIN, when its author may not refund
    /// (`sale.refund`); the policy checks the approver's role. Absent in refunds written before.
    #[serde(default)]
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTotals {
    pub taxes: Vec<TaxLine>,
    pub tax: i64,
    /// What goes back to the customer.
    pub total: i64,
}

/// One line to refund: which sale line, how many, and whether it goes back on the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub sale_line_id: String,
    pub qty: i64,
    pub restock: bool,
}

/// Quantity and amount already refunded per sale line, over `prior` refunds of the sale.
pub fn refunded_so_far(prior: &[Refund]) -> BTreeMap<String, (i64, i64)> {
    let mut done: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in prior {
        for l in r.lines.values() {
            let e = done.entry(l.sale_line_id.clone()).or_insert((0, 0));
            e.0 += l.qty;
            e.1 += l.amount;
        }
    }
    done
}

/// What is still refundable per sale line: `(qty, amount)`.
pub fn refundable(
    sale: &Sale,
    prior: &[Refund],
) -> Result<BTreeMap<String, (i64, i64)>, RefundError> {
    let totals = sale.totals()?;
    let done = refunded_so_far(prior);
    let mut out = BTreeMap::new();
    for lt in totals.lines {
        let qty = sale.lines.get(&lt.line_id).map(|l| l.qty).unwrap_or(0);
        let (dq, da) = done.get(&lt.line_id).copied().unwrap_or((0, 0));
        out.insert(lt.line_id, (qty - dq, lt.total - da));
    }
    Ok(out)
}

impl Refund {
    /// Builds a refund of `requests` against `sale`, given every earlier refund of it.
    ///
    /// The amount of a partial line refund is the line total × qty / qty sold, rounded half away
    /// from zero; refunding the last units of a line returns exactly what is left of its total,
    /// so a line is never refunded for more than it was sold for.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        sale_id: Uuid,
        sale: &Sale,
        prior: &[Refund],
        requests: &[RefundRequest],
        tender: Tender,
        reference: Option<String>,
        reason: &str,
        receipt_no: String,
        shift_id: Option<Uuid>,
        by: Uuid,
        now: Timestamp,
    ) -> Result<Refund, RefundError> {
        if sale.status != SaleStatus::Closed {
            return Err(RefundError::SaleNotClosed(sale.status));
        }
        if requests.is_empty() {
            return Err(RefundError::Empty);
        }
        let left = refundable(sale, prior)?;
        let totals = sale.totals()?;
        let mut lines = BTreeMap::new();
        let mut asked: BTreeMap<&str, i64> = BTreeMap::new();
        for req in requests {
            if req.qty <= 0 {
                return Err(RefundError::BadQuantity(req.qty));
            }
            let sl = sale
                .lines
                .get(&req.sale_line_id)
                .ok_or_else(|| RefundError::UnknownLine(req.sale_line_id.clone()))?;
            let (left_qty, left_amount) = left.get(&req.sale_line_id).copied().unwrap_or((0, 0));
            let a = asked.entry(req.sale_line_id.as_str()).or_insert(0);
            *a += req.qty;
            if *a > left_qty {
                return Err(RefundError::ExceedsRefundable {
                    line: req.sale_line_id.clone(),
                    requested: *a,
                    refundable: left_qty,
                });
            }
            let line_total = totals
                .lines
                .iter()
                .find(|l| l.line_id == req.sale_line_id)
                .map(|l| l.total)
                .unwrap_or(0);
            let amount = if *a == left_qty {
                // the rest of the line: exactly what is left, minus what this refund already took
                let taken: i64 = lines
                    .values()
                    .filter(|l: &&RefundLine| l.sale_line_id == req.sale_line_id)
                    .map(|l| l.amount)
                    .sum();
                left_amount - taken
            } else {
                to_minor(div_round_half_away(
                    i128::from(line_total) * i128::from(req.qty),
                    i128::from(sl.qty),
                ))?
            };
            lines.insert(
                Uuid::now_v7().to_string(),
                RefundLine {
                    sale_line_id: req.sale_line_id.clone(),
                    item_id: sl.item_id.clone(),
                    name: sl.name.clone(),
                    qty: req.qty,
                    amount,
                    tax_rate_bp: sl.tax_rate_bp,
                    track_stock: sl.track_stock,
                    restock: req.restock,
                },
            );
        }
        let mut refund = Refund {
            sale_id: sale_id.to_string(),
            sale_receipt_no: sale.receipt_no.clone().unwrap_or_default(),
            currency: sale.currency.clone(),
            tax_mode: sale.tax_mode,
            lines,
            tenders: BTreeMap::new(),
            reason: reason.trim().to_string(),
            created_at: now,
            by: by.to_string(),
            receipt_no,
            shift_id: shift_id.map(|s| s.to_string()),
            approved_by: None,
        };
        let total = refund.totals()?.total;
        let reference = reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if tender == Tender::Card && reference.is_none() {
            return Err(RefundError::MissingCardReference);
        }
        refund.tenders.insert(
            Uuid::now_v7().to_string(),
            Payment {
                tender,
                amount: total,
                tendered: total,
                change: 0,
                reference: if tender == Tender::Card {
                    reference.clone()
                } else {
                    None
                },
                label: if tender == Tender::Other {
                    reference
                } else {
                    None
                },
                at: now,
                by: by.to_string(),
            },
        );
        Ok(refund)
    }

    pub fn totals(&self) -> Result<RefundTotals, RefundError> {
        let (taxes, total) = tax_breakdown(
            self.lines.values().map(|l| (l.tax_rate_bp, l.amount)),
            self.tax_mode,
        )?;
        let tax = taxes.iter().map(|t| t.tax).sum();
        Ok(RefundTotals { taxes, tax, total })
    }

    /// Checks this refund against the sale and every *other* refund of it. The server runs this
    /// on every pushed refund.
    pub fn validate_against(
        &self,
        sale_id: Uuid,
        sale: &Sale,
        others: &[Refund],
    ) -> Result<(), RefundError> {
        if self.sale_id != sale_id.to_string() {
            return Err(RefundError::WrongSale {
                refund_sale: self.sale_id.clone(),
                sale: sale_id.to_string(),
            });
        }
        if sale.status != SaleStatus::Closed {
            return Err(RefundError::SaleNotClosed(sale.status));
        }
        if self.lines.is_empty() {
            return Err(RefundError::Empty);
        }
        let left = refundable(sale, others)?;
        let mine = refunded_so_far(std::slice::from_ref(self));
        for (line, (qty, amount)) in mine {
            let (lq, la) = left
                .get(&line)
                .copied()
                .ok_or_else(|| RefundError::UnknownLine(line.clone()))?;
            if qty <= 0 {
                return Err(RefundError::BadQuantity(qty));
            }
            if qty > lq || amount > la {
                return Err(RefundError::ExceedsRefundable {
                    line,
                    requested: qty,
                    refundable: lq,
                });
            }
        }
        Ok(())
    }
}
