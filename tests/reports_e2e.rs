//! Head office's reports against what the tills did (issue 11): random days of sales, split
//! tenders, discounts, voids, refunds, cash events and Z reports on a till whose store is in
//! Paris with a 04:00 business day, across daylight-saving nights, synced to the real server on
//! PostgreSQL. Every figure the reports answer must equal the figure the test computes itself
//! from the till's documents (the business day from jiff's wall clock, independently of
//! `StoreClock`; the sums by `pos_core::metrics::Figures`, independently of the server's SQL),
//! and every Z report must equal the master's figures for its shift, to the minor unit.

use std::collections::BTreeMap;

use e2e::{TestDevice, TestServer};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use pos_core::metrics::Figures;
use pos_core::money::{Currency, Money};
use pos_core::refund::{Refund, RefundRequest};
use pos_core::sale::{Discount, DiscountKind, Sale, SaleStatus, Tender};
use pos_core::shift::{CashEventKind, ZReport};
use pos_sync::headoffice::HeadOffice;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

const ZONE: &str = "Europe/Paris";

/// The business day of an instant, the way a person would say it: the wall clock in Paris,
/// four hours back, its date.
fn day_of(ms: i64) -> String {
    let z = jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned(TimeZone::get(ZONE).unwrap());
    (z.datetime() - 4.hours()).date().to_string()
}

#[derive(Debug, Clone)]
enum Op {
    /// Lines (item index, quantity), an order discount in bp, paid whole or split.
    Sale {
        lines: Vec<(usize, i64)>,
        discount_bp: Option<i64>,
        split: bool,
    },
    /// A sale voided before payment.
    Void {
        lines: Vec<(usize, i64)>,
    },
    /// One unit of the first line of the n-th closed sale, in cash or by card.
    Refund {
        nth: usize,
        cash: bool,
    },
    NoSale,
    PaidIn(i64),
    PaidOut(i64),
    /// Close the shift (Z report) and open the next.
    CloseShift,
}

fn lines() -> impl Strategy<Value = Vec<(usize, i64)>> {
    prop::collection::vec((0usize..3, 1i64..4), 1..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (lines(), prop::option::of(prop_oneof![Just(500i64), Just(1000), Just(2000)]), any::<bool>())
            .prop_map(|(lines, discount_bp, split)| Op::Sale { lines, discount_bp, split }),
        1 => lines().prop_map(|lines| Op::Void { lines }),
        2 => (0usize..20, any::<bool>()).prop_map(|(nth, cash)| Op::Refund { nth, cash }),
        1 => Just(Op::NoSale),
        1 => (1i64..5000).prop_map(Op::PaidIn),
        1 => (1i64..2000).prop_map(Op::PaidOut),
        1 => Just(Op::CloseShift),
    ]
}

/// Where the day starts: the night Paris springs forward, the night it falls back, or June.
fn start() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("2026-03-28T16:00:00Z"),
        Just("2026-10-24T16:00:00Z"),
        Just("2026-06-12T16:00:00Z"),
    ]
}

struct Till {
    dev: TestDevice,
    manager: Uuid,
    items: Vec<Uuid>,
    sales: Vec<Uuid>,
    closed: Vec<Uuid>,
    refunds: Vec<Uuid>,
    zs: Vec<Uuid>,
}

fn euro(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").unwrap())
}

impl Till {
    fn apply(&mut self, op: &Op) {
        let s = &mut self.dev.store;
        let a = s.actor(self.manager).unwrap();
        match op {
            Op::Sale {
                lines,
                discount_bp,
                split,
            } => {
                let id = s.open_sale(&a, None).unwrap();
                for (i, q) in lines {
                    s.add_item(&a, id, self.items[*i], *q, &[], 1).unwrap();
                }
                if let Some(bp) = discount_bp {
                    let d = Discount {
                        kind: DiscountKind::Percent,
                        value: *bp,
                        approved_by: None,
                        reason: "regular".into(),
                    };
                    s.set_order_discount(&a, id, Some(d)).unwrap();
                }
                let due = s.get::<Sale>(id).unwrap().totals().unwrap().due;
                if *split && due > 1 {
                    s.pay(&a, id, Tender::Card, euro(due / 3), Some("T-1".into()))
                        .unwrap();
                    // Cash handed over rounded up to a euro: change is given.
                    let rest = due - due / 3;
                    s.pay(&a, id, Tender::Cash, euro((rest + 99) / 100 * 100), None)
                        .unwrap();
                } else {
                    s.pay(&a, id, Tender::Card, euro(due), Some("T-2".into()))
                        .unwrap();
                }
                self.sales.push(id);
                self.closed.push(id);
            }
            Op::Void { lines } => {
                let id = s.open_sale(&a, None).unwrap();
                for (i, q) in lines {
                    s.add_item(&a, id, self.items[*i], *q, &[], 1).unwrap();
                }
                s.void_sale(&a, id, "customer left").unwrap();
                self.sales.push(id);
            }
            Op::Refund { nth, cash } => {
                if self.closed.is_empty() {
                    return;
                }
                let sale_id = self.closed[nth % self.closed.len()];
                let sale: Sale = s.get(sale_id).unwrap();
                let line = sale.lines.keys().next().unwrap().clone();
                let tender = if *cash { Tender::Cash } else { Tender::Card };
                // Refused once the line is all refunded: that is fine, nothing is written.
                if let Ok(id) = s.refund(
                    &a,
                    sale_id,
                    &[RefundRequest {
                        sale_line_id: line,
                        qty: 1,
                        restock: false,
                    }],
                    tender,
                    None,
                    "changed mind",
                ) {
                    self.refunds.push(id);
                }
            }
            Op::NoSale => {
                s.cash_event(&a, CashEventKind::NoSale, 0, "change for the bus")
                    .unwrap();
            }
            Op::PaidIn(v) => {
                s.cash_event(&a, CashEventKind::PaidIn, *v, "float top-up")
                    .unwrap();
            }
            Op::PaidOut(v) => {
                s.cash_event(&a, CashEventKind::PaidOut, *v, "milk")
                    .unwrap();
            }
            Op::CloseShift => {
                let (_, z) = s.close_shift(&a, BTreeMap::new()).unwrap();
                self.zs.push(z);
                s.open_shift(&a, 10_000).unwrap();
            }
        }
    }
}

fn get(ho: &HeadOffice, path: &str) -> Value {
    ho.get(path).unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
}

/// The rows of a report whose `key` columns equal `key`.
fn row<'a>(rows: &'a [Value], key: &[(&str, Value)]) -> Option<&'a Value> {
    rows.iter().find(|r| key.iter().all(|(k, v)| &r[*k] == v))
}

fn run_day(start_at: &str, ops: &[(Op, i64)]) {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    server
        .root()
        .create_tenant("Night Bar", "owner@bar.test", e2e::OWNER_PASSWORD)
        .unwrap();
    let ho = HeadOffice::login(&server.url, "owner@bar.test", e2e::OWNER_PASSWORD).unwrap();
    let store = ho
        .create_store(
            json!({"code": "B01", "name": "Night Bar", "currency": "EUR",
            "tax_mode": "Inclusive", "tax_rates": {"standard": 2000, "reduced": 550},
            "discount_threshold_bp": 2000, "time_zone": ZONE, "business_day_start": "04:00"}),
        )
        .unwrap();
    let manager = ho.create_staff(store, "Mia", "manager", "2222").unwrap();
    let items = [
        ("BEER", 650, "standard"),
        ("CRISPS", 199, "reduced"),
        ("COCKTAIL", 1290, "standard"),
    ]
    .iter()
    .map(|(sku, price, class)| {
        ho.publish_item(
            json!({"sku": sku, "name": sku, "currency": "EUR", "price": price,
            "tax_class": class}),
        )
        .unwrap()
    })
    .collect();
    let dev = TestDevice::enrol(
        &server.url,
        &ho.enrolment_code(store).unwrap(),
        dir.path(),
        "till",
    );
    let mut till = Till {
        dev,
        manager,
        items,
        sales: Vec::new(),
        closed: Vec::new(),
        refunds: Vec::new(),
        zs: Vec::new(),
    };
    let mut now = start_at
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let opened_at = now;
    till.dev.store.pin_clock(Some(now));
    let a = till.dev.store.actor(manager).unwrap();
    till.dev.store.open_shift(&a, 10_000).unwrap();
    for (op, minutes) in ops {
        now += minutes * 60_000;
        till.dev.store.pin_clock(Some(now));
        till.apply(op);
    }
    now += 60_000;
    till.dev.store.pin_clock(Some(now));
    till.apply(&Op::CloseShift);
    till.dev.sync().unwrap();
    assert_eq!(
        till.dev.store.outbox_len().unwrap(),
        0,
        "everything reached the server"
    );

    // What the test computes from the till's documents.
    let sales: Vec<Sale> = till
        .sales
        .iter()
        .map(|id| till.dev.store.get(*id).unwrap())
        .collect();
    let refunds: Vec<Refund> = till
        .refunds
        .iter()
        .map(|id| till.dev.store.get(*id).unwrap())
        .collect();
    let mut by_day: BTreeMap<String, Figures> = BTreeMap::new();
    let mut by_sale_day: BTreeMap<String, Figures> = BTreeMap::new();
    for s in &sales {
        let at = match s.status {
            SaleStatus::Closed => s.closed_at.unwrap(),
            SaleStatus::Voided => s.voided_at.unwrap(),
            SaleStatus::Open => continue,
        };
        by_day.entry(day_of(at)).or_default().add_sale(s).unwrap();
        by_sale_day
            .entry(day_of(at))
            .or_default()
            .add_sale(s)
            .unwrap();
    }
    for r in &refunds {
        by_day
            .entry(day_of(r.created_at))
            .or_default()
            .add_refund(r)
            .unwrap();
        let sale = &sales[till
            .sales
            .iter()
            .position(|s| s.to_string() == r.sale_id)
            .unwrap()];
        by_sale_day
            .entry(day_of(sale.closed_at.unwrap()))
            .or_default()
            .add_refund(r)
            .unwrap();
    }
    if by_day.is_empty() {
        // Only cash events: no day has a sale, a void or a refund to report.
        let day = day_of(now);
        let r = get(
            &ho,
            &format!("/v1/admin/reports/sales-summary?stores={store}&from={day}&to={day}"),
        );
        assert_eq!(r["data"], json!([]), "{r}");
        return;
    }
    let first = by_day.keys().next().unwrap().clone().min(day_of(opened_at));
    // Through the day of the last Z report (taken after the last sale).
    let last = by_day.keys().last().unwrap().clone().max(day_of(now));
    let q = format!("stores={store}&from={first}&to={last}");

    // Sales summary by day, both views of refunds.
    for (view, expected) in [("refund_day", &by_day), ("sale_day", &by_sale_day)] {
        let summary = get(
            &ho,
            &format!("/v1/admin/reports/sales-summary?{q}&refunds_by={view}&limit=10000"),
        );
        let rows = summary["data"].as_array().unwrap();
        assert_eq!(
            rows.len(),
            expected.len(),
            "{view}: one row per day with activity: {rows:?}"
        );
        for (day, f) in expected {
            let r = row(rows, &[("business_day", json!(day))])
                .unwrap_or_else(|| panic!("{view}: no row for {day}: {rows:?}"));
            let want = json!({
                "sales_count": f.sales_count, "gross_sales": f.gross_sales,
                "discounts": f.discounts, "sales_total": f.sales_total,
                "refunds_count": f.refunds_count, "refunds": f.refunds,
                "net_total": f.net_total(), "tax": f.tax(), "net_ex_tax": f.net_ex_tax(),
                "voids_count": f.voids_count, "voids_value": f.voids_value,
            });
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(&r[k], v, "{view} {day} {k}: {r}");
            }
        }
    }

    // Tenders and taxes per day.
    let tenders = get(&ho, &format!("/v1/admin/reports/tenders?{q}"));
    let trows = tenders["data"].as_array().unwrap();
    let taxes = get(&ho, &format!("/v1/admin/reports/taxes?{q}"));
    let xrows = taxes["data"].as_array().unwrap();
    for (day, f) in &by_day {
        for (tender, amount) in &f.tenders {
            let r = row(
                trows,
                &[("business_day", json!(day)), ("tender", json!(tender))],
            )
            .unwrap_or_else(|| panic!("no tender row {day} {tender}: {trows:?}"));
            assert_eq!(r["net_amount"], json!(amount), "{day} {tender}: {r}");
        }
        for (rate, t) in &f.taxes {
            let r = row(
                xrows,
                &[("business_day", json!(day)), ("rate_bp", json!(rate))],
            )
            .unwrap_or_else(|| panic!("no tax row {day} {rate}: {xrows:?}"));
            assert_eq!(
                (&r["net"], &r["tax"], &r["gross"]),
                (&json!(t.net), &json!(t.tax), &json!(t.gross)),
                "{day} {rate}: {r}"
            );
        }
    }
    let tender_rows_expected: usize = by_day.values().map(|f| f.tenders.len()).sum();
    assert_eq!(trows.len(), tender_rows_expected, "{trows:?}");

    // Item mix over the whole range: quantity and sales after discounts, less refunds.
    let mut mix: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for s in sales.iter().filter(|s| s.status == SaleStatus::Closed) {
        for lt in s.totals().unwrap().lines {
            let l = &s.lines[&lt.line_id];
            let e = mix.entry(l.item_id.clone()).or_default();
            e.0 += l.qty;
            e.1 += lt.total;
        }
    }
    for r in &refunds {
        for l in r.lines.values() {
            let e = mix.entry(l.item_id.clone()).or_default();
            e.0 -= l.qty;
            e.1 -= l.amount;
        }
    }
    let items = get(&ho, &format!("/v1/admin/reports/items?{q}"));
    let irows = items["data"].as_array().unwrap();
    assert_eq!(irows.len(), mix.len(), "{irows:?}");
    for (item, (qty, amount)) in &mix {
        let r = row(irows, &[("item_id", json!(item))]).unwrap();
        assert_eq!(
            (&r["quantity"], &r["item_sales"]),
            (&json!(qty), &json!(amount)),
            "{r}"
        );
    }

    // The feed, page after page by its cursor: every closed sale and every refund, each with
    // its total, and nothing else (a document may come again when it changes: keep the last).
    let mut fed: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/admin/reports/feed?stores={store}&limit=7");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(&ho, &path);
        let rows = page["data"].as_array().unwrap();
        for r in rows {
            fed.insert(
                r["doc_id"].as_str().unwrap().to_string(),
                (
                    r["kind"].as_str().unwrap().to_string(),
                    r["total"].as_i64().unwrap(),
                ),
            );
        }
        let next = page["pagination"]["next_cursor"]
            .as_str()
            .map(str::to_string);
        if next == cursor {
            break;
        }
        cursor = next;
    }
    let mut want: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for (id, s) in till.sales.iter().zip(&sales) {
        if s.status == SaleStatus::Closed {
            want.insert(id.to_string(), ("sale".into(), s.totals().unwrap().total));
        }
    }
    for (id, r) in till.refunds.iter().zip(&refunds) {
        want.insert(id.to_string(), ("refund".into(), r.totals().unwrap().total));
    }
    assert_eq!(
        fed, want,
        "the feed holds every closed sale and refund once"
    );

    // Every Z report equals the master's figures for its shift, and the test's own.
    let shifts = get(&ho, &format!("/v1/admin/reports/shifts?{q}&limit=10000"));
    let zrows = shifts["data"].as_array().unwrap();
    assert!(!zrows.is_empty());
    for r in zrows {
        assert_eq!(r["difference"], json!(0), "Z and master disagree: {r}");
    }
    for z_id in &till.zs {
        let z: ZReport = till.dev.store.get(*z_id).unwrap();
        let mut f = Figures::default();
        for s in sales
            .iter()
            .filter(|s| s.shift_id.as_deref() == Some(z.shift_id.as_str()))
        {
            f.add_sale(s).unwrap();
        }
        for r in refunds
            .iter()
            .filter(|r| r.shift_id.as_deref() == Some(z.shift_id.as_str()))
        {
            f.add_refund(r).unwrap();
        }
        assert_eq!(
            (
                z.report.sales_total,
                z.report.refunds_total,
                z.report.net_total
            ),
            (f.sales_total, f.refunds, f.net_total())
        );
        assert_eq!(z.report.taxes, f.tax_lines());
        let printed_sales_total = row(
            zrows,
            &[
                ("shift_id", json!(z.shift_id)),
                ("metric", json!("sales_total")),
            ],
        )
        .unwrap_or_else(|| panic!("no Z row for shift {} in {q}: {zrows:?}", z.shift_id));
        assert_eq!(printed_sales_total["master_value"], json!(f.sales_total));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random days around daylight-saving nights: every report figure equals the documents.
    #[test]
    fn report_figures_equal_the_documents_and_the_z_reports(
        start_at in start(),
        ops in prop::collection::vec((op(), 5i64..150), 5..40),
    ) {
        run_day(start_at, &ops);
    }
}
