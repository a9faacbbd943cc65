//! **The metric dictionary**: every figure a report shows, defined once.
//!
//! The till's X and Z reports ([`crate::shift::ShiftReport`]) add their figures up with
//! [`Figures`]; head office's reports (the sync server's `reports` module) compute the same
//! [`Metric`]s in SQL over the projection rows, whose values come from the same
//! [`crate::sale::Sale::totals`] and [`crate::refund::Refund::totals`]; a property test checks
//! the two agree to the minor unit. `docs/metrics.md` prints [`Metric::ALL`] with their rules.
//!
//! Rules that hold for every metric:
//! - Amounts are integer minor units of the store's currency, in the store's price basis: tax
//!   included in a tax-inclusive store, excluded in a tax-exclusive one (except `tax` and
//!   `net_ex_tax`, which say which).
//! - A sale counts when it **closed** (fully paid), on the business day of its close; an open
//!   sale counts nowhere; a voided sale counts only in `voids`.
//! - A refund counts when it **was made**, on its own business day, with a negative sign where
//!   it reduces a figure; it names its sale, so the sale's day can be found
//!   (the reports' `refunds_by=sale_day` view).
//! - Tax is what the receipts charged: the sum of each receipt's tax per rate, never a tax
//!   recomputed over a day's total (which would round differently).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::refund::{Refund, RefundError};
use crate::sale::{Sale, SaleError, SaleStatus, TaxLine, Tender};

macro_rules! metrics {
    ($($variant:ident => $key:literal, $rule:literal;)*) => {
        /// A named figure of the reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Metric {
            $(#[doc = $rule] #[serde(rename = $key)] $variant,)*
        }

        impl Metric {
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// The name used in JSON fields and CSV headers.
            pub fn key(&self) -> &'static str {
                match self { $(Metric::$variant => $key,)* }
            }

            /// The rule, in words.
            pub fn rule(&self) -> &'static str {
                match self { $(Metric::$variant => $rule,)* }
            }
        }
    };
}

metrics! {
    SalesCount => "sales_count", "Closed sales: sales fully paid and closed on the day.";
    GrossSales => "gross_sales", "Σ over closed sales' lines of quantity × unit price (modifiers included), before any discount.";
    Discounts => "discounts", "Σ line discounts and order discounts of closed sales.";
    SalesTotal => "sales_total", "Σ closed sales' totals: what customers were charged, tax included (gross_sales − discounts, plus tax in a tax-exclusive store).";
    RefundsCount => "refunds_count", "Refunds made on the day.";
    Refunds => "refunds", "Σ refunds' totals made on the day: what went back to customers, tax included; a positive amount that net_total subtracts.";
    NetTotal => "net_total", "sales_total − refunds.";
    Tax => "tax", "Σ per rate of the tax each closed sale's receipt charged, less the tax of each refund's receipt.";
    NetExTax => "net_ex_tax", "net_total − tax: revenue without tax.";
    VoidsCount => "voids_count", "Sales voided before payment on the day (by when they were voided).";
    VoidsValue => "voids_value", "Σ totals the voided sales had when they were voided.";
    Tenders => "tenders", "Per tender (cash, card, other): Σ payments of closed sales, each split payment to its own tender, less what refunds paid back with that tender.";
    CashSales => "cash_sales", "Σ cash payments of closed sales (change already deducted).";
    CashRefunds => "cash_refunds", "Σ cash paid back by refunds.";
    PaidIn => "paid_in", "Σ cash put into the drawer outside a sale.";
    PaidOut => "paid_out", "Σ cash taken out of the drawer outside a sale.";
    NoSales => "no_sales", "Times the drawer was opened without a sale.";
    Float => "float", "Cash in the drawer when the shift opened.";
    CashExpected => "cash_expected", "float + cash_sales − cash_refunds + paid_in − paid_out.";
    CashCounted => "cash_counted", "The cash counted at the shift's close.";
    OverShort => "over_short", "cash_counted − cash_expected: positive is over, negative short.";
    ItemQuantity => "quantity", "Per item: Σ quantity sold on closed sales, less quantity refunded.";
    ItemSales => "item_sales", "Per item: Σ line totals after line and order discounts (the store's price basis), less refunded amounts.";
    Share => "share", "An item's or category's item_sales as a share of all item_sales in the answer, in basis points.";
}

/// The figures of one set of sales and refunds, added up by the rules of [`Metric`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub sales_count: i64,
    pub gross_sales: i64,
    pub discounts: i64,
    pub sales_total: i64,
    pub refunds_count: i64,
    pub refunds: i64,
    pub voids_count: i64,
    pub voids_value: i64,
    /// Per rate: net, tax and gross, sales less refunds.
    pub taxes: BTreeMap<i64, TaxLine>,
    /// Tender → net amount.
    pub tenders: BTreeMap<String, i64>,
    pub cash_sales: i64,
    pub cash_refunds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiguresError {
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Refund(#[from] RefundError),
}

impl Figures {
    /// Adds a sale by its status: a closed sale to the sales figures, a voided one to the
    /// voids, an open one to nothing.
    pub fn add_sale(&mut self, sale: &Sale) -> Result<(), FiguresError> {
        match sale.status {
            SaleStatus::Open => {}
            SaleStatus::Voided => {
                self.voids_count += 1;
                self.voids_value += sale.totals()?.total;
            }
            SaleStatus::Closed => {
                let t = sale.totals()?;
                self.sales_count += 1;
                self.gross_sales += t.subtotal;
                self.discounts += t.line_discounts + t.order_discount;
                self.sales_total += t.total;
                for tl in &t.taxes {
                    self.add_tax(tl, 1);
                }
                for p in sale.payments.values() {
                    *self
                        .tenders
                        .entry(p.tender.as_str().to_string())
                        .or_insert(0) += p.amount;
                    if p.tender == Tender::Cash {
                        self.cash_sales += p.amount;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds a refund.
    pub fn add_refund(&mut self, refund: &Refund) -> Result<(), FiguresError> {
        let t = refund.totals()?;
        self.refunds_count += 1;
        self.refunds += t.total;
        for tl in &t.taxes {
            self.add_tax(tl, -1);
        }
        for p in refund.tenders.values() {
            *self
                .tenders
                .entry(p.tender.as_str().to_string())
                .or_insert(0) -= p.amount;
            if p.tender == Tender::Cash {
                self.cash_refunds += p.amount;
            }
        }
        Ok(())
    }

    fn add_tax(&mut self, tl: &TaxLine, sign: i64) {
        let e = self.taxes.entry(tl.rate_bp).or_insert(TaxLine {
            rate_bp: tl.rate_bp,
            net: 0,
            tax: 0,
            gross: 0,
        });
        e.net += sign * tl.net;
        e.tax += sign * tl.tax;
        e.gross += sign * tl.gross;
    }

    /// [`Metric::NetTotal`].
    pub fn net_total(&self) -> i64 {
        self.sales_total - self.refunds
    }

    /// [`Metric::Tax`].
    pub fn tax(&self) -> i64 {
        self.taxes.values().map(|t| t.tax).sum()
    }

    /// [`Metric::NetExTax`].
    pub fn net_ex_tax(&self) -> i64 {
        self.net_total() - self.tax()
    }

    /// The tax table, by rate, without rates whose every figure nets to zero.
    pub fn tax_lines(&self) -> Vec<TaxLine> {
        self.taxes
            .values()
            .filter(|t| t.net != 0 || t.tax != 0 || t.gross != 0)
            .cloned()
            .collect()
    }
}

/// [`Metric::CashExpected`].
pub fn cash_expected(
    float: i64,
    cash_sales: i64,
    cash_refunds: i64,
    paid_in: i64,
    paid_out: i64,
) -> i64 {
    float + cash_sales - cash_refunds + paid_in - paid_out
}

/// [`Metric::Share`]: `part / whole` in basis points, rounded half away from zero; 0 of 0 is 0.
pub fn share_bp(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    let (p, w) = (part as i128 * 10_000, whole as i128);
    let q = p / w;
    let r = p % w;
    let q = if (r.abs() * 2) >= w.abs() {
        q + if (p < 0) ^ (w < 0) { -1 } else { 1 }
    } else {
        q
    };
    q as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_a_unique_key_and_a_rule() {
        let mut keys: Vec<_> = Metric::ALL.iter().map(|m| m.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Metric::ALL.len());
        assert!(Metric::ALL.iter().all(|m| m.rule().len() > 10));
    }

    #[test]
    fn the_docs_list_every_metric_with_its_rule() {
        let doc = include_str!("../../../docs/metrics.md");
        for m in Metric::ALL {
            let line = format!("| `{}` | {} |", m.key(), m.rule());
            assert!(
                doc.contains(&line),
                "docs/metrics.md lacks or differs on: {line}"
            );
        }
        let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            Metric::ALL.len(),
            "docs/metrics.md lists a metric the code lacks"
        );
    }

    #[test]
    fn shares_round_half_away_from_zero() {
        assert_eq!(share_bp(1, 3), 3333);
        assert_eq!(share_bp(2, 3), 6667);
        assert_eq!(share_bp(-1, 3), -3333);
        assert_eq!(share_bp(1, 0), 0);
        assert_eq!(share_bp(5, 5), 10_000);
    }
}
