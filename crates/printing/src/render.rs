//! Layout documents to [`Page`]s, and the one-call renderers.

use crate::codepage::CodePage;
use crate::image::MAX_IMAGE_HEIGHT;
use crate::layout::*;
use crate::page::{Align, Block, Page, Style};
use crate::profile::PrinterProfile;
use crate::text::{three_col, two_col, wrap};
use crate::PrintError;

/// Lays `doc` out for `profile`.
pub fn layout(doc: &Document, profile: &PrinterProfile) -> Result<Page, PrintError> {
    let mut b = Builder::new(profile);
    match doc {
        Document::Sale(r) => sale(&mut b, r),
        Document::Refund(r) => refund(&mut b, r),
        Document::Kitchen(k) => kitchen(&mut b, k),
        Document::Report(r) => report(&mut b, r),
        Document::CashCount(c) => cash_count(&mut b, c),
    }
    Ok(b.page)
}

/// `doc` as the exact ESC/POS job for `profile` (init, code page, content, feed, cut).
pub fn render_escpos(doc: &Document, profile: &PrinterProfile) -> Result<Vec<u8>, PrintError> {
    layout(doc, profile)?.to_escpos(profile)
}

/// `doc` as plain text, as wide as the profile's columns.
pub fn render_text(doc: &Document, profile: &PrinterProfile) -> Result<String, PrintError> {
    Ok(layout(doc, profile)?.to_text())
}

/// `doc` as a PNG image of the paper.
pub fn render_png(doc: &Document, profile: &PrinterProfile) -> Result<Vec<u8>, PrintError> {
    crate::preview::page_to_png(&layout(doc, profile)?, profile)
}

const BOLD: Style = Style {
    bold: true,
    ..Style::NORMAL
};
const CENTER: Style = Style {
    align: Align::Center,
    ..Style::NORMAL
};
const BIG_CENTER: Style = Style {
    bold: true,
    wide: true,
    tall: true,
    align: Align::Center,
};
const TALL_BOLD: Style = Style {
    bold: true,
    tall: true,
    ..Style::NORMAL
};

struct Builder {
    page: Page,
    cp: CodePage,
    width_dots: u32,
}

impl Builder {
    fn new(profile: &PrinterProfile) -> Self {
        Builder {
            page: Page {
                columns: profile.columns(),
                blocks: Vec::with_capacity(96),
            },
            cp: profile.code_page(),
            width_dots: profile.width_dots(),
        }
    }

    fn cols(&self, style: Style) -> usize {
        style.columns(self.page.columns)
    }

    fn push_lines(&mut self, lines: Vec<String>, style: Style) {
        for text in lines {
            let text = self.cp.printable(&text);
            self.page.blocks.push(Block::Line { text, style });
        }
    }

    /// Wrapped text.
    fn text(&mut self, text: &str, style: Style) {
        let lines = wrap(text, self.cols(style));
        self.push_lines(lines, style);
    }

    fn pair(&mut self, left: &str, right: &str, style: Style, indent: usize) {
        let lines = two_col(left, right, self.cols(style), indent);
        self.push_lines(lines, style);
    }

    fn rule(&mut self) {
        let line = "-".repeat(self.page.columns);
        self.page.blocks.push(Block::Line {
            text: line,
            style: Style::NORMAL,
        });
    }

    fn feed(&mut self, n: u8) {
        self.page.blocks.push(Block::Feed(n));
    }

    fn header(&mut self, h: &StoreHeader, labels: &Labels) {
        if let Some(logo) = &h.logo {
            let img = logo.fit(self.width_dots, MAX_IMAGE_HEIGHT);
            self.page.blocks.push(Block::Image(img));
        }
        if !h.name.is_empty() {
            self.text(&h.name, BIG_CENTER);
        }
        for l in &h.address {
            self.text(l, CENTER);
        }
        if let Some(t) = &h.tax_id {
            self.text(&format!("{} {}", labels.tax_id, t), CENTER);
        }
        for l in &h.extra {
            self.text(l, CENTER);
        }
    }

    fn item(&mut self, l: &ItemLine) {
        let left = if l.quantity == "1" {
            l.description.clone()
        } else {
            format!("{} {}", l.quantity, l.description)
        };
        self.pair(&left, &l.total.display(), Style::NORMAL, 2);
        if let (Some(u), false) = (&l.unit_price, l.quantity == "1") {
            self.text(
                &format!("  {} x {}", l.quantity, u.display()),
                Style::NORMAL,
            );
        }
        for m in &l.modifiers {
            let amt = m.amount.as_ref().map(Amount::display).unwrap_or_default();
            self.pair(&format!("  + {}", m.text), &amt, Style::NORMAL, 4);
        }
        for d in &l.discounts {
            self.pair(
                &format!("  {}", d.label),
                &d.amount.display(),
                Style::NORMAL,
                4,
            );
        }
    }

    fn totals(&mut self, totals: &[TotalRow]) {
        for t in totals {
            let style = if t.emphasis { TALL_BOLD } else { Style::NORMAL };
            self.pair(&t.label, &t.amount.with_currency(), style, 2);
        }
    }

    fn taxes(&mut self, labels: &Labels, taxes: &[TaxRow]) {
        if taxes.is_empty() {
            return;
        }
        let w = self.page.columns;
        let lines = three_col(&labels.tax, &labels.net, &labels.tax, w, 10);
        self.push_lines(lines, BOLD);
        for t in taxes {
            let lines = three_col(&t.label, &t.net.display(), &t.tax.display(), w, 10);
            self.push_lines(lines, Style::NORMAL);
        }
    }

    fn code(&mut self, code: &ReceiptCode) {
        match code {
            ReceiptCode::None => {}
            ReceiptCode::Qr(d) => {
                self.page.blocks.push(Block::Qr(d.clone()));
            }
            ReceiptCode::Code128(d) => {
                // Even code set C at 2 dots per module (the narrowest width printers document)
                // may not fit, e.g. `STORE001-TILL0001-000042` on 58 mm: the same data as a QR
                // code then, decided here once so that the bytes and both previews agree.
                let block = match crate::code128::fit(d, self.width_dots) {
                    Err(PrintError::Code128TooWide { .. }) => Block::Qr(d.clone()),
                    _ => Block::Code128(d.clone()),
                };
                self.page.blocks.push(block);
            }
        }
    }

    fn centered_lines(&mut self, lines: &[String]) {
        for l in lines {
            self.text(l, CENTER);
        }
    }
}

fn sale(b: &mut Builder, r: &SaleReceipt) {
    b.header(&r.header, &r.labels);
    b.rule();
    b.pair(&r.labels.receipt, &r.receipt_number, Style::NORMAL, 2);
    b.text(&r.timestamp, Style::NORMAL);
    if let Some(c) = &r.cashier {
        b.text(&format!("{}: {}", r.labels.cashier, c), Style::NORMAL);
    }
    b.rule();
    for l in &r.lines {
        b.item(l);
    }
    b.rule();
    for d in &r.discounts {
        b.pair(&d.label, &d.amount.display(), Style::NORMAL, 2);
    }
    b.totals(&r.totals);
    for t in &r.tenders {
        b.pair(&t.label, &t.amount.with_currency(), Style::NORMAL, 2);
    }
    if let Some(c) = &r.change {
        b.pair(&r.labels.change, &c.with_currency(), BOLD, 2);
    }
    if !r.taxes.is_empty() {
        b.rule();
        b.taxes(&r.labels, &r.taxes);
    }
    b.feed(1);
    b.code(&r.code);
    b.centered_lines(&r.footer);
}

fn refund(b: &mut Builder, r: &RefundReceipt) {
    b.header(&r.header, &r.labels);
    b.rule();
    b.text(&r.labels.refund, BIG_CENTER);
    b.pair(&r.labels.receipt, &r.receipt_number, Style::NORMAL, 2);
    b.pair(
        &r.labels.original_receipt,
        &r.original_receipt_number,
        Style::NORMAL,
        2,
    );
    b.text(&r.timestamp, Style::NORMAL);
    if let Some(c) = &r.cashier {
        b.text(&format!("{}: {}", r.labels.cashier, c), Style::NORMAL);
    }
    if let Some(reason) = &r.reason {
        b.text(&format!("{}: {}", r.labels.reason, reason), Style::NORMAL);
    }
    b.rule();
    for l in &r.lines {
        b.item(l);
    }
    b.rule();
    b.totals(&r.totals);
    if !r.refunded_to.is_empty() {
        b.text(&r.labels.refunded_to, BOLD);
        for t in &r.refunded_to {
            b.pair(
                &format!("  {}", t.label),
                &t.amount.with_currency(),
                Style::NORMAL,
                4,
            );
        }
    }
    if !r.taxes.is_empty() {
        b.rule();
        b.taxes(&r.labels, &r.taxes);
    }
    b.feed(1);
    b.code(&r.code);
    b.centered_lines(&r.footer);
}

fn kitchen(b: &mut Builder, k: &KitchenTicket) {
    const BIG: Style = Style {
        bold: true,
        wide: true,
        tall: true,
        align: Align::Left,
    };
    const TALL: Style = Style {
        tall: true,
        ..Style::NORMAL
    };
    b.text(&k.station, BIG_CENTER);
    b.text(&k.order_ref, CENTER);
    if let Some(t) = &k.table {
        b.text(&format!("{} {}", k.labels.table, t), BIG);
    }
    if let Some(t) = &k.tab {
        b.text(&format!("{} {}", k.labels.tab, t), BIG);
    }
    b.text(&k.timestamp, Style::NORMAL);
    if let Some(s) = &k.server {
        b.text(&format!("{}: {}", k.labels.server, s), Style::NORMAL);
    }
    b.rule();
    if let Some(c) = &k.course {
        b.text(&format!("{}: {}", k.labels.course, c), TALL_BOLD);
    }
    for it in &k.items {
        b.text(&format!("{} x {}", it.quantity, it.name), BIG);
        for m in &it.modifiers {
            b.text(&format!("  + {m}"), TALL);
        }
        for n in &it.notes {
            b.text(&format!("  ! {n}"), TALL_BOLD);
        }
    }
    b.rule();
}

fn report(b: &mut Builder, r: &ShiftReport) {
    b.header(&r.header, &r.labels);
    b.rule();
    let title = match r.kind {
        ReportKind::X => &r.labels.x_report,
        ReportKind::Z => &r.labels.z_report,
    };
    b.text(title, BIG_CENTER);
    b.pair("#", &r.report_number, Style::NORMAL, 2);
    b.text(&r.device, Style::NORMAL);
    b.text(&r.period_start, Style::NORMAL);
    b.text(&r.period_end, Style::NORMAL);
    for s in &r.sections {
        b.rule();
        b.text(&s.title, BOLD);
        for row in &s.rows {
            b.pair(&row.label, &row.value.display(), Style::NORMAL, 2);
        }
    }
    if !r.totals.is_empty() {
        b.rule();
        b.totals(&r.totals);
    }
}

fn cash_count(b: &mut Builder, c: &CashCountSlip) {
    b.header(&c.header, &c.labels);
    b.rule();
    b.text(&c.labels.cash_count, BIG_CENTER);
    b.text(&c.shift, Style::NORMAL);
    b.text(
        &format!("{}: {}", c.labels.cashier, c.cashier),
        Style::NORMAL,
    );
    b.text(&c.timestamp, Style::NORMAL);
    b.rule();
    for r in &c.rows {
        b.pair(
            &format!("{} x {}", r.count, r.denomination),
            &r.total.display(),
            Style::NORMAL,
            2,
        );
    }
    b.rule();
    b.pair(
        &c.labels.expected,
        &c.expected.with_currency(),
        Style::NORMAL,
        2,
    );
    b.pair(
        &c.labels.counted,
        &c.counted.with_currency(),
        Style::NORMAL,
        2,
    );
    b.pair(&c.labels.difference, &c.difference.with_currency(), BOLD, 2);
    if c.signature_line {
        b.feed(2);
        let w = b.page.columns;
        let label = format!("{}: ", c.labels.signature);
        let underline = "_".repeat(w.saturating_sub(label.chars().count()));
        b.text(&format!("{label}{underline}"), Style::NORMAL);
    }
}
