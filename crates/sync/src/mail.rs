//! Emailed receipts on the server side, shared by the Postgres server and the in-memory one:
//! which emails are refused ([`check`]), the receipt as plain text ([`render`]) and the
//! RFC 5322 message written to the mail spool ([`rfc5322`]). Pure functions: no I/O.

use base64::Engine;
use pos_core::catalog::StoreSettings;
use pos_core::doc::{AnyDoc, DocType, Envelope};
use pos_core::email::normalize_email;
use pos_core::money::{format_minor, Currency};
use pos_core::sale::SaleStatus;
use uuid::Uuid;

use crate::merge::Scope;

/// Why the server refuses a receipt email (the wire's machine-readable code and a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// Decides whether the receipt `doc_id` may be emailed to `email` for the device `scope`:
/// the address must be valid, and the document (`stored`: the server's envelope and typed
/// state, `None` if it has none) must be a closed sale or a refund of the token's tenant and
/// store. Returns the normalized address.
pub fn check(
    scope: &Scope,
    doc_id: Uuid,
    stored: Option<(&Envelope, &AnyDoc)>,
    email: &str,
) -> Result<String, Refusal> {
    let email = normalize_email(email).map_err(|e| Refusal {
        code: "bad_address",
        message: e.to_string(),
    })?;
    let Some((env, doc)) = stored.filter(|(env, _)| {
        env.doc_id == doc_id
            && env.tenant_id == scope.tenant_id
            && env.store_id == Some(scope.store_id)
    }) else {
        return Err(Refusal {
            code: "unknown_document",
            message: format!("no document {doc_id} in this device's store"),
        });
    };
    match (env.doc_type, doc) {
        (DocType::Sale, AnyDoc::Sale(s)) if s.status == SaleStatus::Closed => Ok(email),
        (DocType::Refund, AnyDoc::Refund(_)) => Ok(email),
        _ => Err(Refusal {
            code: "not_a_receipt",
            message: format!("document {doc_id} is not a closed sale or a refund"),
        }),
    }
}

/// A receipt as an email: subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptText {
    pub subject: String,
    pub body: String,
    /// The receipt number.
    pub receipt_no: String,
    /// The total as printed, e.g. `12.34 EUR`.
    pub total: String,
}

/// Renders a closed sale or a refund as plain text (lines, taxes, total, payments), with the
/// store's name, address and receipt texts. Amounts come from the documents' own totals.
pub fn render(doc: &AnyDoc, settings: Option<&StoreSettings>) -> Result<ReceiptText, String> {
    let store = settings.map(|s| s.name.as_str()).unwrap_or("Your store");
    let mut out = Vec::<String>::new();
    if let Some(s) = settings {
        out.push(s.name.clone());
        for l in s.address.lines().chain(s.receipt_header.lines()) {
            out.push(l.to_string());
        }
        if !s.tax_id.is_empty() {
            out.push(format!("Tax id: {}", s.tax_id));
        }
        out.push(String::new());
    }
    let (receipt_no, total, currency) = match doc {
        AnyDoc::Sale(sale) => {
            let cur = Currency::from_code(&sale.currency).map_err(|e| e.to_string())?;
            let t = sale.totals().map_err(|e| e.to_string())?;
            let no = sale.receipt_no.clone().unwrap_or_default();
            out.push(format!("Receipt {no}"));
            out.push(String::new());
            let mut lines: Vec<_> = sale.lines.iter().collect();
            lines.sort_by_key(|(id, l)| (l.pos, (*id).clone()));
            for (id, l) in lines {
                let lt = t.lines.iter().find(|x| &x.line_id == id);
                let amount = lt.map(|x| x.total).unwrap_or(0);
                out.push(row(
                    &format!("{} x {}", l.qty, l.name),
                    &format_minor(amount, cur.exponent()),
                ));
                for m in &l.modifiers {
                    out.push(format!("   + {}", m.name));
                }
            }
            out.push(String::new());
            if t.line_discounts + t.order_discount != 0 {
                out.push(row(
                    "Discounts",
                    &format_minor(-(t.line_discounts + t.order_discount), cur.exponent()),
                ));
            }
            for tax in &t.taxes {
                out.push(row(
                    &format!("Tax {}", percent(tax.rate_bp)),
                    &format_minor(tax.tax, cur.exponent()),
                ));
            }
            out.push(row(
                &format!("TOTAL {}", cur.code()),
                &format_minor(t.total, cur.exponent()),
            ));
            for p in sale.payments.values() {
                out.push(row(
                    p.tender.as_str(),
                    &format_minor(p.tendered, cur.exponent()),
                ));
                if p.change != 0 {
                    out.push(row("change", &format_minor(p.change, cur.exponent())));
                }
            }
            (no, t.total, cur)
        }
        AnyDoc::Refund(r) => {
            let cur = Currency::from_code(&r.currency).map_err(|e| e.to_string())?;
            let t = r.totals().map_err(|e| e.to_string())?;
            out.push(format!(
                "Refund {} (for receipt {})",
                r.receipt_no, r.sale_receipt_no
            ));
            out.push(String::new());
            for l in r.lines.values() {
                out.push(row(
                    &format!("{} x {}", l.qty, l.name),
                    &format_minor(-l.amount, cur.exponent()),
                ));
            }
            out.push(String::new());
            for tax in &t.taxes {
                out.push(row(
                    &format!("Tax {}", percent(tax.rate_bp)),
                    &format_minor(-tax.tax, cur.exponent()),
                ));
            }
            out.push(row(
                &format!("REFUNDED {}", cur.code()),
                &format_minor(t.total, cur.exponent()),
            ));
            (r.receipt_no.clone(), t.total, cur)
        }
        _ => return Err("only sales and refunds have receipts".into()),
    };
    if let Some(s) = settings {
        if !s.receipt_footer.is_empty() {
            out.push(String::new());
            out.extend(s.receipt_footer.lines().map(str::to_string));
        }
    }
    let kind = if matches!(doc, AnyDoc::Refund(_)) {
        "refund receipt"
    } else {
        "receipt"
    };
    Ok(ReceiptText {
        subject: format!("Your {kind} {receipt_no} from {store}"),
        body: out.join("\n") + "\n",
        total: format!(
            "{} {}",
            format_minor(total, currency.exponent()),
            currency.code()
        ),
        receipt_no,
    })
}

fn row(left: &str, right: &str) -> String {
    let width = 40usize;
    let used = left.chars().count() + right.chars().count();
    format!(
        "{left}{}{right}",
        " ".repeat(width.saturating_sub(used).max(1))
    )
}

fn percent(bp: i64) -> String {
    let (whole, frac) = (bp / 100, (bp % 100).abs());
    if frac == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{frac:02}%")
    }
}

/// An RFC 5322 message (CRLF line ends, UTF-8 body as 8bit, non-ASCII headers as RFC 2047
/// encoded words) for a mail transfer agent's pickup directory. `to` must have passed
/// [`check`], so it cannot carry a line break; `from` is the server's configured sender.
pub fn rfc5322(
    id: Uuid,
    from: &str,
    to: &str,
    text: &ReceiptText,
    at_ms: i64,
    host: &str,
) -> String {
    message(id, from, to, &text.subject, &text.body, at_ms, host)
}

/// A plain-text RFC 5322 message (UTF-8, 8bit): headers cleaned of control characters and
/// encoded when not ASCII, the body's lines dot-stuffed and ended with CRLF. Receipts and head
/// office's daily summaries are both written with it.
pub fn message(
    id: Uuid,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    at_ms: i64,
    host: &str,
) -> String {
    let mut m = String::new();
    let mut header = |name: &str, value: &str| {
        let clean: String = value.chars().filter(|c| !c.is_control()).collect();
        m.push_str(&format!("{name}: {}\r\n", encode_word(&clean)));
    };
    header("From", from);
    header("To", to);
    header("Subject", subject);
    header("Date", &rfc5322_date(at_ms));
    header("Message-ID", &format!("<{id}@{host}>"));
    header("MIME-Version", "1.0");
    header("Content-Type", "text/plain; charset=utf-8");
    header("Content-Transfer-Encoding", "8bit");
    m.push_str("\r\n");
    for line in body.lines() {
        // A line of a single "." ends an SMTP DATA section in naive relays: dot-stuff it.
        let line = if line.starts_with('.') {
            format!(".{line}")
        } else {
            line.to_string()
        };
        m.push_str(line.trim_end_matches('\r'));
        m.push_str("\r\n");
    }
    m
}

/// An RFC 2047 encoded word for a header value that is not plain ASCII.
fn encode_word(v: &str) -> String {
    if v.is_ascii() {
        return v.to_string();
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    )
}

/// `Sun, 22 Nov 2026 14:30:00 +0000` for ms since the epoch, in UTC (formatted by jiff).
pub fn rfc5322_date(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2026-11-22 14:30:05 UTC
        assert_eq!(
            rfc5322_date(1_795_357_805_000),
            "Sun, 22 Nov 2026 14:30:05 +0000"
        );
        assert_eq!(
            rfc5322_date(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }

    #[test]
    fn a_message_has_crlf_headers_an_encoded_subject_and_a_dot_stuffed_body() {
        let text = ReceiptText {
            subject: "Your receipt S01-T1-000001 from Café Demo".into(),
            body: "Café Demo\n.hidden\nTOTAL EUR   2.50\n".into(),
            receipt_no: "S01-T1-000001".into(),
            total: "2.50 EUR".into(),
        };
        let id = Uuid::nil();
        let m = rfc5322(
            id,
            "receipts@pos.example",
            "ann@shop.example",
            &text,
            0,
            "pos.example",
        );
        assert!(m.starts_with("From: receipts@pos.example\r\nTo: ann@shop.example\r\n"));
        assert!(m.contains("Subject: =?UTF-8?B?"));
        assert!(m.contains(&format!("Message-ID: <{id}@pos.example>\r\n")));
        assert!(m.contains("\r\n\r\nCafé Demo\r\n..hidden\r\nTOTAL EUR   2.50\r\n"));
        assert!(!m.replace("\r\n", "").contains('\n'));
    }
}
