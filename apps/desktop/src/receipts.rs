//! Presentation: core documents (sale, refund, kitchen ticket, X/Z report) mapped into the
//! printing crate's layouts. No arithmetic on money happens here: every figure comes from core
//! (`Sale::totals`, `Refund::totals`, `ShiftReport`). Every time printed is the store's, by its
//! settings' zone ([`Clock`]), never the device's.

use pos_core::catalog::StoreSettings;
use pos_core::kitchen::KitchenTicket;
use pos_core::refund::Refund;
use pos_core::sale::{DiscountKind, Sale};
use pos_core::shift::ShiftReport;
use pos_core::store::StoreError;
use pos_printing as p;
use pos_printing::{Amount, Document};

use crate::clock::Clock;
use crate::error::{percent, CmdResult};
use crate::views::exponent;

struct Money<'a> {
    currency: &'a str,
    exp: u8,
}

impl Money<'_> {
    fn of(&self, minor: i64) -> Amount {
        Amount::minor(minor, self.currency, self.exp)
    }
}

fn header(s: &StoreSettings) -> p::StoreHeader {
    p::StoreHeader {
        name: s.name.clone(),
        address: s
            .address
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        tax_id: (!s.tax_id.is_empty()).then(|| s.tax_id.clone()),
        extra: lines(&s.receipt_header),
        logo: None,
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn discount_label(kind: DiscountKind, value: i64, reason: &str) -> String {
    let what = match kind {
        DiscountKind::Percent => format!("Discount {}", percent(value)),
        DiscountKind::Amount => "Discount".to_string(),
    };
    if reason.trim().is_empty() {
        what
    } else {
        format!("{what} ({})", reason.trim())
    }
}

fn tax_rows(m: &Money<'_>, taxes: &[pos_core::sale::TaxLine]) -> Vec<p::TaxRow> {
    taxes
        .iter()
        .map(|t| p::TaxRow {
            label: format!("VAT {}", percent(t.rate_bp)),
            net: m.of(t.net),
            tax: m.of(t.tax),
        })
        .collect()
}

fn tender_label(t: pos_core::sale::Tender) -> String {
    match t {
        pos_core::sale::Tender::Cash => "Cash".into(),
        pos_core::sale::Tender::Card => "Card".into(),
        pos_core::sale::Tender::Other => "Other".into(),
    }
}

/// The receipt of a closed (or, for a preview, open) sale.
pub fn sale_receipt(
    sale: &Sale,
    settings: &StoreSettings,
    cashier: Option<String>,
) -> CmdResult<Document> {
    let totals = sale.totals().map_err(StoreError::from)?;
    let m = Money {
        currency: &sale.currency,
        exp: exponent(&sale.currency),
    };
    let mut items = Vec::new();
    for ((_, l), t) in sale.ordered_lines().into_iter().zip(&totals.lines) {
        let unit = l.unit_price().map_err(StoreError::from)?;
        let mut discounts = Vec::new();
        if let Some(d) = &l.discount {
            discounts.push(p::Discount {
                label: discount_label(d.kind, d.value, &d.reason),
                amount: m.of(-t.line_discount),
            });
        }
        let mut modifiers: Vec<p::Modifier> = l
            .modifiers
            .iter()
            .map(|md| p::Modifier {
                text: md.name.clone(),
                amount: (md.price_delta != 0).then(|| m.of(md.price_delta)),
            })
            .collect();
        if !l.note.trim().is_empty() {
            modifiers.push(p::Modifier {
                text: format!("Note: {}", l.note.trim()),
                amount: None,
            });
        }
        items.push(p::ItemLine {
            quantity: l.qty.to_string(),
            description: l.name.clone(),
            unit_price: (l.qty != 1).then(|| m.of(unit)),
            total: m.of(t.gross - t.line_discount),
            modifiers,
            discounts,
        });
    }
    // The order discount is one row between subtotal and total (not also a discount block).
    let mut total_rows = vec![p::TotalRow {
        label: "Subtotal".into(),
        amount: m.of(totals.subtotal - totals.line_discounts),
        emphasis: false,
    }];
    if let (Some(d), true) = (&sale.order_discount, totals.order_discount != 0) {
        total_rows.push(p::TotalRow {
            label: discount_label(d.kind, d.value, &d.reason),
            amount: m.of(-totals.order_discount),
            emphasis: false,
        });
    }
    total_rows.push(p::TotalRow {
        label: "TOTAL".into(),
        amount: m.of(totals.total),
        emphasis: true,
    });
    let mut payments: Vec<_> = sale.payments.values().collect();
    payments.sort_by_key(|p| p.at);
    let tenders = payments
        .iter()
        .map(|pm| {
            // A negative payment is an overpayment handed back after tills' changes merged.
            let tender = match pm.amount < 0 {
                true => format!("{} handed back", tender_label(pm.tender)),
                false => tender_label(pm.tender),
            };
            p::Tender {
                label: match &pm.reference {
                    Some(r) => format!("{tender} {r}"),
                    None => tender,
                },
                amount: m.of(pm.tendered),
            }
        })
        .collect();
    let receipt_number = sale
        .receipt_no
        .clone()
        .unwrap_or_else(|| "(not paid)".into());
    Ok(Document::Sale(p::SaleReceipt {
        header: header(settings),
        code: match &sale.receipt_no {
            Some(no) => p::ReceiptCode::Code128(no.clone()),
            None => p::ReceiptCode::None,
        },
        receipt_number,
        timestamp: Clock::of_settings(settings).date_time(sale.closed_at.unwrap_or(sale.opened_at)),
        cashier,
        lines: items,
        discounts: Vec::new(),
        totals: total_rows,
        taxes: tax_rows(&m, &totals.taxes),
        tenders,
        change: (totals.change != 0).then(|| m.of(totals.change)),
        footer: lines(&settings.receipt_footer),
        labels: p::Labels::default(),
    }))
}

/// The receipt of a refund.
pub fn refund_receipt(
    refund: &Refund,
    settings: &StoreSettings,
    cashier: Option<String>,
) -> CmdResult<Document> {
    let totals = refund.totals().map_err(StoreError::from)?;
    let m = Money {
        currency: &refund.currency,
        exp: exponent(&refund.currency),
    };
    Ok(Document::Refund(p::RefundReceipt {
        header: header(settings),
        receipt_number: refund.receipt_no.clone(),
        original_receipt_number: refund.sale_receipt_no.clone(),
        timestamp: Clock::of_settings(settings).date_time(refund.created_at),
        cashier,
        reason: (!refund.reason.trim().is_empty()).then(|| refund.reason.clone()),
        lines: refund
            .lines
            .values()
            .map(|l| p::ItemLine {
                quantity: l.qty.to_string(),
                description: l.name.clone(),
                unit_price: None,
                total: m.of(-l.amount),
                modifiers: vec![],
                discounts: vec![],
            })
            .collect(),
        totals: vec![p::TotalRow {
            label: "REFUND TOTAL".into(),
            amount: m.of(-totals.total),
            emphasis: true,
        }],
        taxes: tax_rows(&m, &totals.taxes),
        refunded_to: refund
            .tenders
            .values()
            .map(|t| p::Tender {
                label: tender_label(t.tender),
                amount: m.of(t.amount),
            })
            .collect(),
        code: p::ReceiptCode::Code128(refund.receipt_no.clone()),
        footer: lines(&settings.receipt_footer),
        labels: p::Labels::default(),
    }))
}

/// A kitchen ticket for a station printer, its time by the store's `clock`; `server` is the
/// name of who took the order (the ticket keeps their user id).
pub fn kitchen_ticket(
    t: &KitchenTicket,
    order_ref: &str,
    server: Option<&str>,
    clock: &Clock,
) -> Document {
    let mut items: Vec<_> = t.items.values().collect();
    items.sort_by_key(|i| i.pos);
    Document::Kitchen(p::KitchenTicket {
        station: t.station.clone(),
        order_ref: order_ref.to_string(),
        table: t.ticket.clone(),
        tab: None,
        course: Some(t.course.to_string()),
        // Who took the order, as the KDS shows it (issue 17).
        server: server.map(str::to_string),
        timestamp: clock.date_time(t.fired_at),
        items: items
            .into_iter()
            .map(|i| p::KitchenItem {
                quantity: i.qty.to_string(),
                name: i.name.clone(),
                modifiers: i.modifiers.clone(),
                notes: lines(&i.note),
            })
            .collect(),
        labels: p::Labels::default(),
    })
}

/// Which report, and for a Z report its number and cash count.
pub enum ReportKind {
    X,
    Z {
        number: i64,
        counted_cash: i64,
        over_short: i64,
    },
}

/// An X or Z report, its period in the store's time with the zone's abbreviation (a bar's
/// shift can span the night the clocks go back).
pub fn shift_report(
    kind: &ReportKind,
    r: &ShiftReport,
    settings: &StoreSettings,
    device: &str,
) -> Document {
    let m = Money {
        currency: &r.currency,
        exp: exponent(&r.currency),
    };
    let clock = Clock::of_settings(settings);
    let row = |label: &str, v: Amount| p::ReportRow {
        label: label.into(),
        value: v,
    };
    let count = |n: i64| Amount::text(n.to_string());
    let mut sections = vec![
        p::ReportSection {
            title: "Sales".into(),
            rows: vec![
                row("Sales", count(r.sales_count)),
                row("Gross", m.of(r.gross_sales)),
                row("Discounts", m.of(-r.discounts)),
                row("Sales total", m.of(r.sales_total)),
                row("Refunds", count(r.refunds_count)),
                row("Refunded", m.of(-r.refunds_total)),
                row("Voids", count(r.voids_count)),
            ],
        },
        p::ReportSection {
            title: "Tax".into(),
            rows: r
                .taxes
                .iter()
                .map(|t| {
                    row(
                        &format!("VAT {} on {}", percent(t.rate_bp), m.of(t.net).display()),
                        m.of(t.tax),
                    )
                })
                .collect(),
        },
        p::ReportSection {
            title: "Tenders".into(),
            rows: r.tenders.iter().map(|(k, v)| row(k, m.of(*v))).collect(),
        },
    ];
    let mut cash = vec![
        row("Float", m.of(r.float)),
        row("Cash sales", m.of(r.cash_sales)),
        row("Cash refunds", m.of(-r.cash_refunds)),
        row("Paid in", m.of(r.paid_in)),
        row("Paid out", m.of(-r.paid_out)),
        row("No-sales", count(r.no_sales)),
        row("Expected cash", m.of(r.expected_cash)),
    ];
    if let ReportKind::Z {
        counted_cash,
        over_short,
        ..
    } = kind
    {
        cash.push(row("Counted cash", m.of(*counted_cash)));
        cash.push(row("Over / short", m.of(*over_short)));
    }
    sections.push(p::ReportSection {
        title: "Cash drawer".into(),
        rows: cash,
    });
    Document::Report(p::ShiftReport {
        kind: match kind {
            ReportKind::X => p::ReportKind::X,
            ReportKind::Z { .. } => p::ReportKind::Z,
        },
        header: header(settings),
        report_number: match kind {
            ReportKind::X => "X".into(),
            ReportKind::Z { number, .. } => format!("Z{number:04}"),
        },
        // Each header value with its label (issue 17, defect 15: bare values read as noise).
        device: format!("Till: {device}"),
        period_start: format!("From: {}", clock.date_time_zone(r.opened_at)),
        period_end: format!("To: {}", clock.date_time_zone(r.until)),
        sections,
        totals: vec![p::TotalRow {
            label: "NET TOTAL".into(),
            amount: m.of(r.net_total),
            emphasis: true,
        }],
        labels: p::Labels::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_core::demo;
    use pos_core::money::{Currency, Money as CoreMoney};
    use pos_core::sale::{Discount, Tender};
    use pos_printing::{render_text, PrinterProfile};

    fn profile() -> PrinterProfile {
        PrinterProfile::from_json(r#"{"paper":"mm80","columns":48,"code_page":"PC858"}"#).unwrap()
    }

    /// 2026-07-15T12:00:00Z and 2026-01-15T12:00:00Z.
    const JULY_NOON_UTC: i64 = 1_784_116_800_000;
    const JANUARY_NOON_UTC: i64 = 1_768_478_400_000;

    fn settings_in(zone: &str) -> StoreSettings {
        StoreSettings {
            time_zone: zone.into(),
            ..demo::settings()
        }
    }

    /// A paid latte of a demo store, closed at `closed_at`.
    fn paid_sale(dir: &std::path::Path, closed_at: i64) -> Sale {
        let (mut store, d) = demo::seed(&dir.join("s.sqlite")).unwrap();
        let c = d.cashier;
        let sale = store.open_sale(&c, None).unwrap();
        store.scan(&c, sale, &d.barcodes["COF-LAT"]).unwrap();
        let eur = Currency::from_code("EUR").unwrap();
        store
            .pay(&c, sale, Tender::Cash, CoreMoney::new(350, eur), None)
            .unwrap();
        let mut s: Sale = store.get(sale).unwrap();
        s.closed_at = Some(closed_at);
        s
    }

    #[test]
    fn a_receipt_shows_the_stores_tokyo_time_not_utc() {
        let dir = tempfile::tempdir().unwrap();
        let sale = paid_sale(dir.path(), JULY_NOON_UTC);
        let doc = sale_receipt(&sale, &settings_in("Asia/Tokyo"), None).unwrap();
        let text = render_text(&doc, &profile()).unwrap();
        assert!(text.contains("2026-07-15 21:00"), "{text}");
        assert!(!text.contains("12:00"), "UTC's hour is not printed: {text}");
    }

    #[test]
    fn a_paris_receipt_shows_summer_and_winter_time() {
        let dir = tempfile::tempdir().unwrap();
        let paris = settings_in("Europe/Paris");
        let summer = sale_receipt(&paid_sale(dir.path(), JULY_NOON_UTC), &paris, None).unwrap();
        let text = render_text(&summer, &profile()).unwrap();
        assert!(text.contains("2026-07-15 14:00"), "CEST, UTC+2: {text}");
        let dir = tempfile::tempdir().unwrap();
        let winter = sale_receipt(&paid_sale(dir.path(), JANUARY_NOON_UTC), &paris, None).unwrap();
        let text = render_text(&winter, &profile()).unwrap();
        assert!(text.contains("2026-01-15 13:00"), "CET, UTC+1: {text}");
    }

    #[test]
    fn a_kitchen_ticket_shows_the_stores_time() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, d) = demo::seed(&dir.path().join("s.sqlite")).unwrap();
        let c = d.cashier;
        let sale = store.open_sale(&c, Some("T4".into())).unwrap();
        store.scan(&c, sale, &d.barcodes["KIT-BUR"]).unwrap();
        let fired = store.fire(&c, sale, None).unwrap();
        let mut ticket: KitchenTicket = store.get(fired[0]).unwrap();
        ticket.fired_at = JULY_NOON_UTC;
        let clock = Clock::of_settings(&settings_in("Asia/Tokyo"));
        let server = store
            .staff()
            .unwrap()
            .into_iter()
            .find(|(id, _, _)| Some(id.to_string()) == ticket.server)
            .map(|(_, name, _)| name)
            .expect("the ticket names who took the order");
        let doc = kitchen_ticket(&ticket, "A1", Some(&server), &clock);
        let text = render_text(&doc, &profile()).unwrap();
        assert!(text.contains("2026-07-15 21:00"), "{text}");
        // The paper names who took the order, as the kitchen screen does.
        assert!(text.contains(&format!("Server: {server}")), "{text}");
    }

    #[test]
    fn a_paid_sale_prints_its_core_totals_tenders_and_texts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, d) = demo::seed(&dir.path().join("s.sqlite")).unwrap();
        let c = d.cashier;
        let sale = store.open_sale(&c, None).unwrap();
        let line = store.scan(&c, sale, &d.barcodes["COF-LAT"]).unwrap();
        store.scan(&c, sale, &d.barcodes["BAK-CRO"]).unwrap();
        store.set_line_qty(&c, sale, &line, 2).unwrap();
        store
            .set_order_discount(&c, sale, Some(Discount::percent(1000)))
            .unwrap();
        let eur = Currency::from_code("EUR").unwrap();
        store
            .pay(
                &c,
                sale,
                Tender::Card,
                CoreMoney::new(500, eur),
                Some("A1".into()),
            )
            .unwrap();
        let out = store
            .pay(&c, sale, Tender::Cash, CoreMoney::new(1000, eur), None)
            .unwrap();
        let no = out.receipt_no.unwrap();
        let s: Sale = store.get(sale).unwrap();
        let totals = s.totals().unwrap();
        let doc = sale_receipt(&s, &demo::settings(), Some("Carl".into())).unwrap();
        let text = render_text(&doc, &profile()).unwrap();
        // (3.50 * 2 + 2.50) - 10% = 8.55
        assert_eq!(totals.total, 855);
        assert!(text.contains("8.55 EUR"), "{text}");
        assert!(text.contains(&no), "{text}");
        assert!(text.contains("Card A1"), "{text}");
        assert!(text.contains("Discount 10%"), "{text}");
        assert!(text.contains("Thank you for visiting!"), "{text}");
        assert!(text.contains("Returns within 30 days"), "{text}");
        assert!(text.contains("6.45 EUR"), "change due is printed: {text}");
    }

    #[test]
    fn an_overpayment_handed_back_prints_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, d) = demo::seed(&dir.path().join("s.sqlite")).unwrap();
        let c = d.cashier;
        let sale = store.open_sale(&c, None).unwrap();
        store.scan(&c, sale, &d.barcodes["COF-LAT"]).unwrap();
        let eur = Currency::from_code("EUR").unwrap();
        let cash = |minor| CoreMoney::new(minor, eur);
        store.pay(&c, sale, Tender::Cash, cash(350), None).unwrap();
        // As merged from two tills: one euro more taken, and the euro handed back.
        let mut s: Sale = store.get(sale).unwrap();
        let mut more = s.payments.values().next().unwrap().clone();
        for (id, amount, at) in [("more", 100, 1), ("back", -100, 2)] {
            (more.amount, more.tendered, more.at) = (amount, amount, more.at + at);
            s.payments.insert(id.into(), more.clone());
        }
        assert_eq!(s.totals().unwrap().due, 0);
        let doc = sale_receipt(&s, &demo::settings(), None).unwrap();
        let text = render_text(&doc, &profile()).unwrap();
        let back = text.lines().find(|l| l.contains("Cash handed back"));
        assert!(back.is_some_and(|l| l.contains("-1.00 EUR")), "{text}");
    }

    #[test]
    fn reports_and_tickets_render() {
        let r = report(0, 60_000);
        let z = ReportKind::Z {
            number: 7,
            counted_cash: 10850,
            over_short: -50,
        };
        let text = render_text(&shift_report(&z, &r, &demo::settings(), "T1"), &profile()).unwrap();
        assert!(text.contains("Z0007"), "{text}");
        assert!(text.contains("\nTill: T1\n"), "{text}");
        assert!(text.contains("\nFrom: 1970-01-01 01:00 CET\n"), "{text}");
        assert!(text.contains("\nTo: 1970-01-01 01:01 CET\n"), "{text}");
        assert!(text.contains("-0.50"), "{text}");
        assert!(text.contains("109.00"), "{text}");
    }

    #[test]
    fn a_z_report_across_the_fall_back_night_prints_its_period_in_cest_then_cet() {
        // 2026-10-25T00:30:00Z to 01:30:00Z: 02:30 in Paris both times, summer then winter.
        let r = report(1_792_888_200_000, 1_792_891_800_000);
        let z = ReportKind::Z {
            number: 8,
            counted_cash: 10900,
            over_short: 0,
        };
        let doc = shift_report(&z, &r, &settings_in("Europe/Paris"), "T1");
        let text = render_text(&doc, &profile()).unwrap();
        let start = text.find("2026-10-25 02:30 CEST");
        let end = text.find("2026-10-25 02:30 CET\n");
        assert!(start.is_some() && end.is_some() && start < end, "{text}");
        // The same shift in Tokyo: 09:30 to 10:30 JST.
        let doc = shift_report(&z, &r, &settings_in("Asia/Tokyo"), "T1");
        let text = render_text(&doc, &profile()).unwrap();
        assert!(text.contains("2026-10-25 09:30 JST"), "{text}");
        assert!(text.contains("2026-10-25 10:30 JST"), "{text}");
    }

    fn report(opened_at: i64, until: i64) -> ShiftReport {
        ShiftReport {
            currency: "EUR".into(),
            opened_at,
            until,
            sales_count: 2,
            gross_sales: 1000,
            discounts: 100,
            sales_total: 900,
            refunds_count: 0,
            refunds_total: 0,
            net_total: 900,
            taxes: vec![],
            tenders: [("cash".to_string(), 900)].into(),
            voids_count: 0,
            float: 10000,
            paid_in: 0,
            paid_out: 0,
            no_sales: 1,
            cash_sales: 900,
            cash_refunds: 0,
            expected_cash: 10900,
        }
    }
}
