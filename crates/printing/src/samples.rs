//! Example documents, for previews in docs and UI mock-ups, tests and benchmarks. They show
//! how the desktop app is expected to fill the layout model.

use crate::image::RasterImage;
use crate::layout::*;

fn eur(minor: i64) -> Amount {
    Amount::minor(minor, "EUR", 2)
}

/// A small checkerboard-and-frame logo, 96x48 dots.
pub fn logo() -> RasterImage {
    RasterImage::from_fn(96, 48, |x, y| {
        x < 3 || y < 3 || x >= 93 || y >= 45 || ((x / 12 + y / 12) % 2 == 0 && x > 8 && y > 8)
    })
    .expect("a constant non-zero size cannot fail")
}

/// The store header used by the samples.
pub fn header(with_logo: bool) -> StoreHeader {
    StoreHeader {
        name: "Café Zürich".into(),
        address: vec!["Bahnhofstraße 12".into(), "8001 Zürich".into()],
        tax_id: Some("CHE-123.456.789 MWST".into()),
        extra: vec!["+41 44 000 00 00".into()],
        logo: with_logo.then(logo),
    }
}

/// A sale receipt with `lines` item lines (the first few with modifiers, discounts, accents).
pub fn sale_receipt(lines: usize) -> SaleReceipt {
    let mut items = Vec::with_capacity(lines);
    let names = [
        "Cappuccino",
        "Crème brûlée",
        "Croissant au beurre",
        "Espresso doppio",
        "Smoked salmon bagel with cream cheese and capers",
        "Thé vert",
    ];
    for i in 0..lines {
        let qty = 1 + (i % 3) as i64;
        let unit = 350 + (i as i64 * 45) % 900;
        let mut it = ItemLine {
            quantity: qty.to_string(),
            description: names[i % names.len()].to_string(),
            unit_price: Some(eur(unit)),
            total: eur(unit * qty),
            modifiers: vec![],
            discounts: vec![],
        };
        if i % 4 == 0 {
            it.modifiers.push(Modifier {
                text: "Oat milk".into(),
                amount: Some(eur(50)),
            });
        }
        if i % 5 == 1 {
            it.discounts.push(Discount {
                label: "Happy hour -10%".into(),
                amount: eur(-(unit * qty) / 10),
            });
        }
        items.push(it);
    }
    SaleReceipt {
        header: header(false),
        receipt_number: "S01-D02-000123".into(),
        timestamp: "2025-03-14 09:41".into(),
        cashier: Some("Léa".into()),
        lines: items,
        discounts: vec![Discount {
            label: "Loyalty card".into(),
            amount: eur(-100),
        }],
        totals: vec![
            TotalRow {
                label: "Subtotal".into(),
                amount: eur(2345),
                emphasis: false,
            },
            TotalRow {
                label: "TOTAL".into(),
                amount: eur(2245),
                emphasis: true,
            },
        ],
        taxes: vec![
            TaxRow {
                label: "MWST 8.1%".into(),
                net: eur(1850),
                tax: eur(150),
            },
            TaxRow {
                label: "MWST 2.6%".into(),
                net: eur(239),
                tax: eur(6),
            },
        ],
        tenders: vec![
            Tender {
                label: "Card ****4242".into(),
                amount: eur(1245),
            },
            Tender {
                label: "Cash".into(),
                amount: eur(2000),
            },
        ],
        change: Some(eur(1000)),
        code: ReceiptCode::Qr("https://r.example/S01-D02-000123".into()),
        footer: vec![
            "Merci! Danke! Thank you!".into(),
            "Prices in € incl. VAT".into(),
        ],
        labels: Labels::default(),
    }
}

/// A refund receipt.
pub fn refund_receipt() -> RefundReceipt {
    RefundReceipt {
        header: header(false),
        receipt_number: "S01-D02-000124".into(),
        original_receipt_number: "S01-D02-000123".into(),
        timestamp: "2025-03-14 10:02".into(),
        cashier: Some("Léa".into()),
        reason: Some("Cold coffee".into()),
        lines: vec![ItemLine {
            quantity: "1".into(),
            description: "Cappuccino".into(),
            unit_price: None,
            total: eur(-450),
            modifiers: vec![Modifier {
                text: "Oat milk".into(),
                amount: Some(eur(-50)),
            }],
            discounts: vec![],
        }],
        totals: vec![TotalRow {
            label: "TOTAL REFUND".into(),
            amount: eur(-500),
            emphasis: true,
        }],
        taxes: vec![TaxRow {
            label: "MWST 8.1%".into(),
            net: eur(-463),
            tax: eur(-37),
        }],
        refunded_to: vec![Tender {
            label: "Cash".into(),
            amount: eur(500),
        }],
        code: ReceiptCode::Code128("S01-D02-000124".into()),
        footer: vec!["Signature: ____________".into()],
        labels: Labels::default(),
    }
}

/// A kitchen ticket.
pub fn kitchen_ticket() -> KitchenTicket {
    KitchenTicket {
        station: "KITCHEN".into(),
        order_ref: "Order 0042".into(),
        table: Some("12".into()),
        tab: None,
        course: Some("Mains".into()),
        server: Some("Marco".into()),
        timestamp: "12:31".into(),
        items: vec![
            KitchenItem {
                quantity: "2".into(),
                name: "Rösti with fried egg".into(),
                modifiers: vec!["no bacon".into(), "extra egg".into()],
                notes: vec!["allergy: nuts".into()],
            },
            KitchenItem {
                quantity: "1".into(),
                name: "Zürcher Geschnetzeltes".into(),
                modifiers: vec![],
                notes: vec![],
            },
        ],
        labels: Labels::default(),
    }
}

/// An X (`z = false`) or Z report.
pub fn shift_report(z: bool) -> ShiftReport {
    let row = |l: &str, v: i64| ReportRow {
        label: l.into(),
        value: eur(v),
    };
    ShiftReport {
        kind: if z { ReportKind::Z } else { ReportKind::X },
        header: header(false),
        report_number: if z { "Z-0007".into() } else { "X-0031".into() },
        device: "Till 2 (D02)".into(),
        period_start: "From 2025-03-14 07:00".into(),
        period_end: "To   2025-03-14 19:05".into(),
        sections: vec![
            ReportSection {
                title: "Sales by tender".into(),
                rows: vec![
                    row("Cash", 84550),
                    row("Card", 153020),
                    row("Voucher", 2000),
                ],
            },
            ReportSection {
                title: "Taxes".into(),
                rows: vec![
                    row("MWST 8.1% on 1812.40", 14680),
                    row("MWST 2.6% on 412.00", 1071),
                ],
            },
            ReportSection {
                title: "Counters".into(),
                rows: vec![
                    ReportRow {
                        label: "Receipts".into(),
                        value: Amount::text("312"),
                    },
                    ReportRow {
                        label: "Refunds".into(),
                        value: Amount::text("3"),
                    },
                ],
            },
        ],
        totals: vec![TotalRow {
            label: "GROSS".into(),
            amount: eur(239570),
            emphasis: true,
        }],
        labels: Labels::default(),
    }
}

/// A shift cash-count slip.
pub fn cash_count() -> CashCountSlip {
    let row = |d: &str, n: u32, unit: i64| CashCountRow {
        denomination: d.into(),
        count: n,
        total: eur(unit * n as i64),
    };
    CashCountSlip {
        header: header(false),
        shift: "Shift 2025-03-14 #2".into(),
        cashier: "Léa".into(),
        timestamp: "2025-03-14 19:02".into(),
        rows: vec![
            row("100.00", 3, 10000),
            row("50.00", 6, 5000),
            row("20.00", 11, 2000),
            row("5.00", 9, 500),
            row("0.50", 17, 50),
        ],
        expected: eur(90000),
        counted: eur(89350),
        difference: eur(-650),
        signature_line: true,
        labels: Labels::default(),
    }
}

/// One of each document, with a stable name: `(name, document)`.
pub fn all_documents() -> Vec<(&'static str, Document)> {
    let mut with_logo = sale_receipt(4);
    with_logo.header = header(true);
    vec![
        ("sale", Document::Sale(with_logo)),
        ("refund", Document::Refund(refund_receipt())),
        ("kitchen", Document::Kitchen(kitchen_ticket())),
        ("x_report", Document::Report(shift_report(false))),
        ("z_report", Document::Report(shift_report(true))),
        ("cash_count", Document::CashCount(cash_count())),
    ]
}
