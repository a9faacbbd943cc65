//! Shifts and the cash drawer: float, paid-in, paid-out, no-sale, the close with a cash count,
//! and the X (mid-shift, unnumbered) and Z (end of day, numbered, immutable) reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::metrics::{self, Figures, FiguresError};
use crate::money::{Currency, MoneyError};
use crate::refund::{Refund, RefundError};
use crate::sale::{Sale, SaleError, TaxLine, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShiftError {
    #[error("shift is already closed")]
    AlreadyClosed,
    #[error("shift is still open")]
    StillOpen,
    #[error("float must not be negative, got {0}")]
    NegativeFloat(i64),
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(i64),
    #[error("a paid-in or paid-out needs a reason")]
    MissingReason,
    #[error("{denomination} is not a denomination of {currency}")]
    UnknownDenomination {
        denomination: String,
        currency: String,
    },
    #[error("count of {denomination} must not be negative, got {count}")]
    NegativeCount { denomination: String, count: i64 },
    #[error("sale or refund {0} does not belong to this shift")]
    ForeignDocument(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Refund(#[from] RefundError),
}

impl From<FiguresError> for ShiftError {
    fn from(e: FiguresError) -> Self {
        match e {
            FiguresError::Sale(e) => ShiftError::Sale(e),
            FiguresError::Refund(e) => ShiftError::Refund(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShiftStatus {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CashEventKind {
    PaidIn,
    PaidOut,
    /// The drawer was opened without a sale. Recorded, with who and when.
    NoSale,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashEvent {
    pub kind: CashEventKind,
    pub amount: i64,
    pub reason: String,
    pub at: Timestamp,
    pub by: String,
}

/// A shift document: one cash drawer on one device, from float to count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub device_id: String,
    pub currency: String,
    pub status: ShiftStatus,
    pub opened_at: Timestamp,
    pub opened_by: String,
    pub float: i64,
    pub events: BTreeMap<String, CashEvent>,
    pub closed_at: Option<Timestamp>,
    pub closed_by: Option<String>,
    /// Denomination in minor units (as a string key) → number of notes or coins.
    pub counted: BTreeMap<String, i64>,
    pub expected_cash: Option<i64>,
    pub counted_cash: Option<i64>,
    pub over_short: Option<i64>,
}

/// Notes and coins per currency, in minor units, largest first. Currencies not listed accept any
/// positive denomination.
pub fn denominations(currency: &str) -> &'static [i64] {
    match currency {
        "EUR" => &[
            50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1,
        ],
        "USD" => &[10000, 5000, 2000, 1000, 500, 200, 100, 25, 10, 5, 1],
        "GBP" => &[5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
        "CHF" => &[
            100000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5,
        ],
        _ => &[],
    }
}

/// Sums a denomination count, checking every denomination and count.
pub fn count_cash(currency: &str, counts: &BTreeMap<String, i64>) -> Result<i64, ShiftError> {
    let known = denominations(currency);
    let mut total: i64 = 0;
    for (denom, count) in counts {
        let value: i64 = denom
            .parse()
            .ok()
            .filter(|v: &i64| *v > 0 && (known.is_empty() || known.contains(v)))
            .ok_or_else(|| ShiftError::UnknownDenomination {
                denomination: denom.clone(),
                currency: currency.to_string(),
            })?;
        if *count < 0 {
            return Err(ShiftError::NegativeCount {
                denomination: denom.clone(),
                count: *count,
            });
        }
        total = value
            .checked_mul(*count)
            .and_then(|v| v.checked_add(total))
            .ok_or(MoneyError::Overflow)?;
    }
    Ok(total)
}

impl Shift {
    pub fn open(
        device_id: Uuid,
        currency: Currency,
        float: i64,
        by: Uuid,
        now: Timestamp,
    ) -> Result<Shift, ShiftError> {
        if float < 0 {
            return Err(ShiftError::NegativeFloat(float));
        }
        Ok(Shift {
            device_id: device_id.to_string(),
            currency: currency.code().to_string(),
            status: ShiftStatus::Open,
            opened_at: now,
            opened_by: by.to_string(),
            float,
            events: BTreeMap::new(),
            closed_at: None,
            closed_by: None,
            counted: BTreeMap::new(),
            expected_cash: None,
            counted_cash: None,
            over_short: None,
        })
    }

    fn ensure_open(&self) -> Result<(), ShiftError> {
        if self.status == ShiftStatus::Closed {
            return Err(ShiftError::AlreadyClosed);
        }
        Ok(())
    }

    /// Records a paid-in, paid-out or no-sale. Returns the event id.
    pub fn record(
        &mut self,
        kind: CashEventKind,
        amount: i64,
        reason: &str,
        by: Uuid,
        now: Timestamp,
    ) -> Result<String, ShiftError> {
        self.ensure_open()?;
        match kind {
            CashEventKind::NoSale if amount != 0 => {
                return Err(ShiftError::NonPositiveAmount(amount))
            }
            CashEventKind::PaidIn | CashEventKind::PaidOut if amount <= 0 => {
                return Err(ShiftError::NonPositiveAmount(amount))
            }
            CashEventKind::PaidIn | CashEventKind::PaidOut if reason.trim().is_empty() => {
                return Err(ShiftError::MissingReason)
            }
            _ => {}
        }
        let id = Uuid::now_v7().to_string();
        self.events.insert(
            id.clone(),
            CashEvent {
                kind,
                amount,
                reason: reason.trim().to_string(),
                at: now,
                by: by.to_string(),
            },
        );
        Ok(id)
    }

    fn sum_events(&self, kind: CashEventKind) -> i64 {
        self.events
            .values()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount)
            .sum()
    }

    /// Closes the shift with a denomination count. `report` is the report at close time (see
    /// [`ShiftReport::compute`]); its expected cash is what the drawer should hold.
    pub fn close(
        &mut self,
        counts: BTreeMap<String, i64>,
        report: &ShiftReport,
        by: Uuid,
        now: Timestamp,
    ) -> Result<(), ShiftError> {
        self.ensure_open()?;
        let counted = count_cash(&self.currency, &counts)?;
        self.status = ShiftStatus::Closed;
        self.closed_at = Some(now);
        self.closed_by = Some(by.to_string());
        self.counted = counts;
        self.expected_cash = Some(report.expected_cash);
        self.counted_cash = Some(counted);
        self.over_short = Some(counted - report.expected_cash);
        Ok(())
    }
}

/// The figures of an X or Z report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ShiftReport {
    pub currency: String,
    pub opened_at: Timestamp,
    pub until: Timestamp,
    pub sales_count: i64,
    /// Σ line gross before discounts.
    pub gross_sales: i64,
    pub discounts: i64,
    /// Σ sale totals (what customers paid, tax included).
    pub sales_total: i64,
    pub refunds_count: i64,
    pub refunds_total: i64,
    /// `sales_total - refunds_total`.
    pub net_total: i64,
    /// Per rate: sales less refunds.
    pub taxes: Vec<TaxLine>,
    /// Tender → amount taken, less refunds paid out with that tender.
    pub tenders: BTreeMap<String, i64>,
    pub voids_count: i64,
    pub float: i64,
    pub paid_in: i64,
    pub paid_out: i64,
    pub no_sales: i64,
    pub cash_sales: i64,
    pub cash_refunds: i64,
    /// `float + cash_sales - cash_refunds + paid_in - paid_out`.
    pub expected_cash: i64,
}

impl ShiftReport {
    /// Computes the report of `shift` over its sales (any status: closed ones count, voided ones
    /// are counted as voids, open ones are ignored) and refunds.
    pub fn compute(
        shift_id: Uuid,
        shift: &Shift,
        sales: &[Sale],
        refunds: &[Refund],
        now: Timestamp,
    ) -> Result<ShiftReport, ShiftError> {
        let sid = shift_id.to_string();
        let mut r = ShiftReport {
            currency: shift.currency.clone(),
            opened_at: shift.opened_at,
            until: shift.closed_at.unwrap_or(now),
            sales_count: 0,
            gross_sales: 0,
            discounts: 0,
            sales_total: 0,
            refunds_count: 0,
            refunds_total: 0,
            net_total: 0,
            taxes: Vec::new(),
            tenders: BTreeMap::new(),
            voids_count: 0,
            float: shift.float,
            paid_in: shift.sum_events(CashEventKind::PaidIn),
            paid_out: shift.sum_events(CashEventKind::PaidOut),
            no_sales: shift
                .events
                .values()
                .filter(|e| e.kind == CashEventKind::NoSale)
                .count() as i64,
            cash_sales: 0,
            cash_refunds: 0,
            expected_cash: 0,
        };
        // The figures are the metric dictionary's (`crate::metrics`), the same rules as head
        // office's reports.
        let mut f = Figures::default();
        for s in sales {
            if s.shift_id.as_deref() != Some(sid.as_str()) {
                return Err(ShiftError::ForeignDocument(
                    s.receipt_no.clone().unwrap_or_else(|| "open sale".into()),
                ));
            }
            f.add_sale(s)?;
        }
        for refund in refunds {
            if refund.shift_id.as_deref() != Some(sid.as_str()) {
                return Err(ShiftError::ForeignDocument(refund.receipt_no.clone()));
            }
            f.add_refund(refund)?;
        }
        r.sales_count = f.sales_count;
        r.gross_sales = f.gross_sales;
        r.discounts = f.discounts;
        r.sales_total = f.sales_total;
        r.refunds_count = f.refunds_count;
        r.refunds_total = f.refunds;
        r.taxes = f.tax_lines();
        r.voids_count = f.voids_count;
        r.cash_sales = f.cash_sales;
        r.cash_refunds = f.cash_refunds;
        r.tenders = f.tenders;
        r.net_total = r.sales_total - r.refunds_total;
        r.expected_cash =
            metrics::cash_expected(r.float, r.cash_sales, r.cash_refunds, r.paid_in, r.paid_out);
        Ok(r)
    }
}

/// The numbered, immutable end-of-day report. Once written it is never edited: the policy
/// refuses every change to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZReport {
    /// Gapless per device.
    pub number: i64,
    pub device_id: String,
    pub shift_id: String,
    pub report: ShiftReport,
    pub expected_cash: i64,
    pub counted_cash: i64,
    pub over_short: i64,
    pub created_at: Timestamp,
    pub by: String,
}

impl ZReport {
    /// Takes the Z report of a closed shift.
    pub fn take(
        number: i64,
        shift_id: Uuid,
        shift: &Shift,
        report: ShiftReport,
        by: Uuid,
        now: Timestamp,
    ) -> Result<ZReport, ShiftError> {
        if shift.status != ShiftStatus::Closed {
            return Err(ShiftError::StillOpen);
        }
        Ok(ZReport {
            number,
            device_id: shift.device_id.clone(),
            shift_id: shift_id.to_string(),
            report,
            expected_cash: shift.expected_cash.unwrap_or(0),
            counted_cash: shift.counted_cash.unwrap_or(0),
            over_short: shift.over_short.unwrap_or(0),
            created_at: now,
            by: by.to_string(),
        })
    }
}
