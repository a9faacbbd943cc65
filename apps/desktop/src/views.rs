//! What the screens receive: flat, serialisable views of core documents. Totals come from
//! `Sale::totals` (core); nothing here computes money.

use std::collections::BTreeMap;

use pos_core::money::Currency;
use pos_core::sale::{Discount, DiscountKind, Sale};
use serde::Serialize;
use uuid::Uuid;

use crate::error::CmdResult;

/// How a discount is given, as the screens spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum DiscountKindView {
    Percent,
    Amount,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DiscountView {
    pub kind: DiscountKindView,
    pub value: i64,
    pub approved_by: Option<String>,
    pub reason: String,
}

impl From<&Discount> for DiscountView {
    fn from(d: &Discount) -> Self {
        DiscountView {
            kind: match d.kind {
                DiscountKind::Percent => DiscountKindView::Percent,
                DiscountKind::Amount => DiscountKindView::Amount,
            },
            value: d.value,
            approved_by: d.approved_by.clone(),
            reason: d.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct LineView {
    pub id: String,
    pub item_id: String,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub unit_price: i64,
    pub gross: i64,
    pub line_discount: i64,
    pub order_discount: i64,
    pub total: i64,
    pub discount: Option<DiscountView>,
    pub modifiers: Vec<String>,
    pub note: String,
    /// Sent to a kitchen station (fired, and the item has one).
    pub fired: bool,
    pub price_overridden: bool,
    /// The override's price (the catalog price stands when `None`).
    pub price_override: Option<i64>,
    /// The modifiers chosen, as `(group, option)` keys of the item (for editing the line).
    pub modifier_keys: Vec<ModifierKey>,
    /// The course the line is fired in (1 first).
    pub course: i64,
    /// Still refundable (quantity) when the view is for a refund.
    pub refundable_qty: Option<i64>,
    /// The item tracks stock: only then can a refunded unit go back on the shelf.
    pub track_stock: bool,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ModifierKey {
    pub group: String,
    pub option: String,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct PaymentView {
    pub tender: String,
    pub amount: i64,
    pub tendered: i64,
    pub change: i64,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct TaxView {
    pub rate_bp: i64,
    pub net: i64,
    pub tax: i64,
}

/// A sale as the cart, the payment screen and the refund screen show it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SaleView {
    pub id: Uuid,
    pub status: String,
    pub ticket: Option<String>,
    pub receipt_no: Option<String>,
    pub currency: String,
    pub exponent: u8,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub lines: Vec<LineView>,
    /// Guests at the table (0: not given).
    pub guests: i64,
    /// The course Fire sends next: the lowest with unfired kitchen lines.
    pub next_course: Option<i64>,
    /// Every course with unfired kitchen lines, lowest first (more than one: some are held).
    pub unfired_courses: Vec<i64>,
    pub order_discount: Option<DiscountView>,
    pub subtotal: i64,
    pub line_discounts: i64,
    pub order_discount_amount: i64,
    pub taxes: Vec<TaxView>,
    pub tax: i64,
    pub total: i64,
    pub paid: i64,
    pub change: i64,
    pub due: i64,
    pub payments: Vec<PaymentView>,
    pub has_unfired_kitchen_lines: bool,
}

pub fn exponent(currency: &str) -> u8 {
    Currency::from_code(currency)
        .map(|c| c.exponent())
        .unwrap_or(2)
}

/// The view of `sale`; `refundable` (line id → quantity) is filled in for the refund screen.
pub fn sale_view(
    id: Uuid,
    sale: &Sale,
    refundable: Option<&BTreeMap<String, (i64, i64)>>,
) -> CmdResult<SaleView> {
    let totals = sale.totals().map_err(pos_core::store::StoreError::from)?;
    let by_line: BTreeMap<&str, _> = totals
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l))
        .collect();
    let mut lines = Vec::with_capacity(sale.lines.len());
    for (line_id, l) in sale.ordered_lines() {
        let t = by_line.get(line_id.as_str());
        lines.push(LineView {
            id: line_id.clone(),
            item_id: l.item_id.clone(),
            sku: l.sku.clone(),
            name: l.name.clone(),
            qty: l.qty,
            unit_price: l.unit_price().map_err(pos_core::store::StoreError::from)?,
            gross: t.map(|t| t.gross).unwrap_or(0),
            line_discount: t.map(|t| t.line_discount).unwrap_or(0),
            order_discount: t.map(|t| t.order_discount).unwrap_or(0),
            total: t.map(|t| t.total).unwrap_or(0),
            discount: l.discount.as_ref().map(Into::into),
            modifiers: l.modifiers.iter().map(|m| m.name.clone()).collect(),
            note: l.note.clone(),
            // "Sent to kitchen" only for a line a kitchen station received: a retail item
            // (no station) fired with its table was sent nowhere (issue 17, defect 15).
            fired: l.fired_at.is_some() && l.station.is_some(),
            price_overridden: l.price_override.is_some(),
            price_override: l.price_override,
            modifier_keys: l
                .modifiers
                .iter()
                .map(|m| ModifierKey {
                    group: m.group.clone(),
                    option: m.option.clone(),
                })
                .collect(),
            course: l.course,
            refundable_qty: refundable.map(|r| r.get(line_id).map(|x| x.0).unwrap_or(0)),
            track_stock: l.track_stock,
        });
    }
    let mut payments: Vec<_> = sale.payments.values().collect();
    payments.sort_by_key(|p| p.at);
    Ok(SaleView {
        id,
        status: sale.status.as_str().into(),
        ticket: sale.ticket.clone(),
        receipt_no: sale.receipt_no.clone(),
        currency: sale.currency.clone(),
        exponent: exponent(&sale.currency),
        opened_at: sale.opened_at,
        closed_at: sale.closed_at,
        guests: sale.guests,
        next_course: sale.next_course(),
        unfired_courses: {
            let mut c: Vec<i64> = sale
                .lines
                .values()
                .filter(|l| l.station.is_some() && l.fired_at.is_none())
                .map(|l| l.course)
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        },
        has_unfired_kitchen_lines: sale
            .lines
            .values()
            .any(|l| l.station.is_some() && l.fired_at.is_none()),
        lines,
        order_discount: sale.order_discount.as_ref().map(Into::into),
        subtotal: totals.subtotal,
        line_discounts: totals.line_discounts,
        order_discount_amount: totals.order_discount,
        taxes: totals
            .taxes
            .iter()
            .map(|t| TaxView {
                rate_bp: t.rate_bp,
                net: t.net,
                tax: t.tax,
            })
            .collect(),
        tax: totals.tax,
        total: totals.total,
        paid: totals.paid,
        change: totals.change,
        due: totals.due,
        payments: payments
            .into_iter()
            .map(|p| PaymentView {
                tender: p.tender.as_str().into(),
                amount: p.amount,
                tendered: p.tendered,
                change: p.change,
                reference: p.reference.clone(),
            })
            .collect(),
    })
}
