//! The layout model: plain documents that the POS fills in and this crate prints.
//!
//! Nothing here computes anything: totals, taxes and change arrive computed. Amounts arrive
//! either already formatted ([`Amount::Text`]) or as integer minor units with their currency and
//! exponent ([`Amount::Minor`]); never as floats. Every label that reaches paper comes from the
//! document (see [`Labels`]) so that the caller chooses the language.

use crate::image::RasterImage;
use serde::{Deserialize, Serialize};

/// A money amount to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// Already formatted by the caller, printed as is (e.g. `"12,50 €"`).
    Text(String),
    /// Integer minor units: `minor = 1250, exponent = 2, currency = "EUR"` prints `12.50`
    /// (the currency code is printed where [`Amount::with_currency`] is used: totals, tenders).
    Minor {
        /// Amount in minor units (cents); may be negative.
        minor: i64,
        /// ISO 4217 code, e.g. `"EUR"`.
        currency: String,
        /// Number of decimals of the currency (2 for EUR, 0 for JPY, 3 for KWD).
        exponent: u8,
    },
}

impl Amount {
    /// Integer minor units in `currency` with `exponent` decimals.
    pub fn minor(minor: i64, currency: &str, exponent: u8) -> Self {
        Amount::Minor {
            minor,
            currency: currency.to_string(),
            exponent,
        }
    }

    /// A caller-formatted amount.
    pub fn text(s: impl Into<String>) -> Self {
        Amount::Text(s.into())
    }

    /// The number as printed in item lines: `12.50`, `-0.05`, `1200`.
    pub fn display(&self) -> String {
        match self {
            Amount::Text(s) => s.clone(),
            Amount::Minor {
                minor, exponent, ..
            } => format_minor(*minor, *exponent),
        }
    }

    /// The number with its currency code (`12.50 EUR`) for totals, tenders and change.
    pub fn with_currency(&self) -> String {
        match self {
            Amount::Text(s) => s.clone(),
            Amount::Minor {
                minor,
                currency,
                exponent,
            } => format!("{} {}", format_minor(*minor, *exponent), currency),
        }
    }
}

/// `1250, 2 -> "12.50"`; `-5, 2 -> "-0.05"`; exact integer arithmetic, no float.
pub fn format_minor(minor: i64, exponent: u8) -> String {
    let neg = minor < 0;
    let abs = minor.unsigned_abs();
    let exp = exponent.min(18) as u32;
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if exp == 0 {
        s.push_str(&abs.to_string());
        return s;
    }
    let div = 10u64.pow(exp);
    s.push_str(&(abs / div).to_string());
    s.push('.');
    s.push_str(&format!("{:0width$}", abs % div, width = exp as usize));
    s
}

/// The labels printed by the renderer; the caller translates them. Defaults are English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Labels {
    /// "Receipt".
    pub receipt: String,
    /// "Refund".
    pub refund: String,
    /// "Original receipt".
    pub original_receipt: String,
    /// "Reason".
    pub reason: String,
    /// "Tax id".
    pub tax_id: String,
    /// "Tax".
    pub tax: String,
    /// "Net".
    pub net: String,
    /// "Change".
    pub change: String,
    /// "Refunded to".
    pub refunded_to: String,
    /// "Cashier".
    pub cashier: String,
    /// "Table".
    pub table: String,
    /// "Tab".
    pub tab: String,
    /// "Course".
    pub course: String,
    /// "Server".
    pub server: String,
    /// "X report" (interim, does not close the shift).
    pub x_report: String,
    /// "Z report" (end of day, closes the shift).
    pub z_report: String,
    /// "Cash count".
    pub cash_count: String,
    /// "Expected".
    pub expected: String,
    /// "Counted".
    pub counted: String,
    /// "Difference".
    pub difference: String,
    /// "Signature".
    pub signature: String,
}

impl Default for Labels {
    fn default() -> Self {
        let s = |x: &str| x.to_string();
        Labels {
            receipt: s("Receipt"),
            refund: s("REFUND"),
            original_receipt: s("Original receipt"),
            reason: s("Reason"),
            tax_id: s("Tax id"),
            tax: s("Tax"),
            net: s("Net"),
            change: s("Change"),
            refunded_to: s("Refunded to"),
            cashier: s("Cashier"),
            table: s("Table"),
            tab: s("Tab"),
            course: s("Course"),
            server: s("Server"),
            x_report: s("X REPORT"),
            z_report: s("Z REPORT"),
            cash_count: s("CASH COUNT"),
            expected: s("Expected"),
            counted: s("Counted"),
            difference: s("Difference"),
            signature: s("Signature"),
        }
    }
}

/// The store block at the top of receipts and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoreHeader {
    /// Printed large and bold.
    pub name: String,
    /// Address lines, centred.
    #[serde(default)]
    pub address: Vec<String>,
    /// VAT / tax registration number.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Extra centred lines (phone, web...).
    #[serde(default)]
    pub extra: Vec<String>,
    /// A logo printed above the name, as a raster image (scaled down to the paper).
    #[serde(default)]
    pub logo: Option<RasterImage>,
}

/// A modifier of a line ("extra shot +0.50").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modifier {
    /// What is modified.
    pub text: String,
    /// Its price effect, if any.
    #[serde(default)]
    pub amount: Option<Amount>,
}

/// A discount on a line or on the whole sale; the amount is printed as given (usually negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// "Happy hour -10%".
    pub label: String,
    /// The discount amount.
    pub amount: Amount,
}

/// One sold (or refunded) item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemLine {
    /// Quantity as printed: `"2"`, `"0.350 kg"`.
    pub quantity: String,
    /// Item name.
    pub description: String,
    /// Unit price, printed as `2 x 3.50` under the name when the quantity is not 1.
    #[serde(default)]
    pub unit_price: Option<Amount>,
    /// Line total, right-aligned.
    pub total: Amount,
    /// Modifiers, indented.
    #[serde(default)]
    pub modifiers: Vec<Modifier>,
    /// Line discounts, indented.
    #[serde(default)]
    pub discounts: Vec<Discount>,
}

/// One row of the tax breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRow {
    /// "VAT 20%" or "A 20%".
    pub label: String,
    /// Taxable base.
    pub net: Amount,
    /// Tax amount.
    pub tax: Amount,
}

/// A total row ("Subtotal", "TOTAL"); `emphasis` prints it bold and double height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalRow {
    /// The label.
    pub label: String,
    /// The amount.
    pub amount: Amount,
    /// Bold and double height.
    #[serde(default)]
    pub emphasis: bool,
}

/// A payment ("Cash 20.00", "Card 12.50").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    /// "Cash", "Visa ****1234".
    pub label: String,
    /// Amount tendered.
    pub amount: Amount,
}

/// A machine-readable code of the receipt number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptCode {
    /// No code.
    None,
    /// A QR code carrying this text.
    Qr(String),
    /// A CODE128 barcode carrying this text (printable ASCII only), with the text printed
    /// under it; a QR code carrying it where even the most compact CODE128 does not fit the
    /// paper at 2 dots per module with its quiet zones.
    Code128(String),
}

/// A sale receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleReceipt {
    /// Store block.
    pub header: StoreHeader,
    /// Receipt number, e.g. `S01-D02-000123`.
    pub receipt_number: String,
    /// Date and time as printed.
    pub timestamp: String,
    /// Cashier name.
    #[serde(default)]
    pub cashier: Option<String>,
    /// Items.
    pub lines: Vec<ItemLine>,
    /// Whole-sale discounts.
    #[serde(default)]
    pub discounts: Vec<Discount>,
    /// Totals in order (subtotal, total...).
    pub totals: Vec<TotalRow>,
    /// Tax breakdown.
    #[serde(default)]
    pub taxes: Vec<TaxRow>,
    /// Payments.
    pub tenders: Vec<Tender>,
    /// Change given back.
    #[serde(default)]
    pub change: Option<Amount>,
    /// QR or barcode of the receipt number.
    pub code: ReceiptCode,
    /// Footer lines, centred.
    #[serde(default)]
    pub footer: Vec<String>,
    /// Printed labels.
    #[serde(default)]
    pub labels: Labels,
}

/// A refund receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReceipt {
    /// Store block.
    pub header: StoreHeader,
    /// This refund's number.
    pub receipt_number: String,
    /// The receipt being refunded.
    pub original_receipt_number: String,
    /// Date and time as printed.
    pub timestamp: String,
    /// Cashier name.
    #[serde(default)]
    pub cashier: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Refunded items.
    pub lines: Vec<ItemLine>,
    /// Totals.
    pub totals: Vec<TotalRow>,
    /// Tax breakdown.
    #[serde(default)]
    pub taxes: Vec<TaxRow>,
    /// Where the money went back.
    pub refunded_to: Vec<Tender>,
    /// QR or barcode of the refund number.
    pub code: ReceiptCode,
    /// Footer lines (e.g. customer signature).
    #[serde(default)]
    pub footer: Vec<String>,
    /// Printed labels.
    #[serde(default)]
    pub labels: Labels,
}

/// An item on a kitchen ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitchenItem {
    /// Quantity as printed.
    pub quantity: String,
    /// Item name.
    pub name: String,
    /// Modifiers ("no onion").
    #[serde(default)]
    pub modifiers: Vec<String>,
    /// Free notes ("allergy: nuts").
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A kitchen (or bar) ticket, printed in large type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitchenTicket {
    /// "KITCHEN", "BAR".
    pub station: String,
    /// Order reference.
    pub order_ref: String,
    /// Table name/number.
    #[serde(default)]
    pub table: Option<String>,
    /// Tab name.
    #[serde(default)]
    pub tab: Option<String>,
    /// Course ("Starters").
    #[serde(default)]
    pub course: Option<String>,
    /// Server name.
    #[serde(default)]
    pub server: Option<String>,
    /// Time as printed.
    pub timestamp: String,
    /// Items.
    pub items: Vec<KitchenItem>,
    /// Printed labels.
    #[serde(default)]
    pub labels: Labels,
}

/// X (interim) or Z (closing) report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Interim report; does not close anything.
    X,
    /// End-of-day report.
    Z,
}

/// A titled block of label/value rows in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSection {
    /// Section title ("Sales by tender").
    pub title: String,
    /// Rows: label and value (value already formatted or an amount).
    pub rows: Vec<ReportRow>,
}

/// A report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Label.
    pub label: String,
    /// Value.
    pub value: Amount,
}

/// An X or Z report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftReport {
    /// X or Z.
    pub kind: ReportKind,
    /// Store block.
    pub header: StoreHeader,
    /// Report number (Z counter).
    pub report_number: String,
    /// Device / till name.
    pub device: String,
    /// Period start as printed.
    pub period_start: String,
    /// Period end / print time as printed.
    pub period_end: String,
    /// Sections in order.
    pub sections: Vec<ReportSection>,
    /// Closing totals (bold).
    #[serde(default)]
    pub totals: Vec<TotalRow>,
    /// Printed labels.
    #[serde(default)]
    pub labels: Labels,
}

/// One denomination row of a cash count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashCountRow {
    /// "20.00" or "20 EUR note".
    pub denomination: String,
    /// How many.
    pub count: u32,
    /// Value of those.
    pub total: Amount,
}

/// A shift cash-count slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashCountSlip {
    /// Store block.
    pub header: StoreHeader,
    /// Shift reference.
    pub shift: String,
    /// Who counted.
    pub cashier: String,
    /// When, as printed.
    pub timestamp: String,
    /// Denomination rows.
    pub rows: Vec<CashCountRow>,
    /// Expected cash.
    pub expected: Amount,
    /// Counted cash.
    pub counted: Amount,
    /// Counted minus expected.
    pub difference: Amount,
    /// Print a signature line.
    #[serde(default)]
    pub signature_line: bool,
    /// Printed labels.
    #[serde(default)]
    pub labels: Labels,
}

/// Any printable document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Document {
    /// A sale receipt.
    Sale(SaleReceipt),
    /// A refund receipt.
    Refund(RefundReceipt),
    /// A kitchen ticket.
    Kitchen(KitchenTicket),
    /// An X or Z report.
    Report(ShiftReport),
    /// A cash-count slip.
    CashCount(CashCountSlip),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_exactly() {
        assert_eq!(format_minor(1250, 2), "12.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1200, 0), "1200");
        assert_eq!(format_minor(1, 3), "0.001");
        assert_eq!(format_minor(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(Amount::minor(700, "EUR", 2).with_currency(), "7.00 EUR");
    }
}
