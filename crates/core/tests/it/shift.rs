use std::collections::BTreeMap;

use pos_core::money::{Currency, TaxMode};
use pos_core::refund::{Refund, RefundRequest};
use pos_core::sale::Tender;
use pos_core::shift::{count_cash, CashEventKind, Shift, ShiftError, ShiftReport, ZReport};
use uuid::Uuid;

use crate::common::*;

fn counts(pairs: &[(i64, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

#[test]
fn close_gives_expected_counted_and_over_short() {
    let eur_c = Currency::from_code("EUR").unwrap();
    let (shift_id, by) = (Uuid::now_v7(), Uuid::now_v7());
    let mut shift = Shift::open(Uuid::now_v7(), eur_c, 10_000, by, 0).unwrap();
    shift
        .record(CashEventKind::PaidIn, 500, "change from bank", by, 1)
        .unwrap();
    shift
        .record(CashEventKind::PaidOut, 200, "window cleaner", by, 2)
        .unwrap();
    shift.record(CashEventKind::NoSale, 0, "", by, 3).unwrap();

    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    sale.shift_id = Some(shift_id.to_string());
    let line = add(&mut sale, &item("A", 1030, "standard", None), 1, &s);
    sale.add_payment(Tender::Cash, eur(2000), None, by, 4)
        .unwrap(); // change 9.70
    sale.close("S01-T1-000001".into(), 5).unwrap();
    let refund = Refund::build(
        Uuid::now_v7(),
        &sale,
        &[],
        &[RefundRequest {
            sale_line_id: line,
            qty: 1,
            restock: true,
        }],
        Tender::Cash,
        None,
        "x",
        "S01-T1-000002".into(),
        Some(shift_id),
        by,
        6,
    )
    .unwrap();
    let mut voided = open_sale(&s);
    voided.shift_id = Some(shift_id.to_string());
    add(&mut voided, &item("B", 100, "standard", None), 1, &s);
    voided.void("x", 7).unwrap();

    let r = ShiftReport::compute(shift_id, &shift, &[sale.clone(), voided], &[refund], 8).unwrap();
    assert_eq!(r.sales_count, 1);
    assert_eq!(r.voids_count, 1);
    assert_eq!(r.no_sales, 1);
    assert_eq!((r.cash_sales, r.cash_refunds), (1030, 1030));
    assert_eq!(r.net_total, 0);
    assert_eq!(r.expected_cash, 10_000 + 1030 - 1030 + 500 - 200);
    assert_eq!(
        r.taxes.iter().map(|t| t.tax).sum::<i64>(),
        0,
        "a full refund cancels the tax"
    );

    // 102.00 counted against 103.00 expected: one euro short
    shift
        .close(counts(&[(5000, 2), (100, 2)]), &r, by, 9)
        .unwrap();
    assert_eq!(shift.expected_cash, Some(10_300));
    assert_eq!(shift.counted_cash, Some(10_200));
    assert_eq!(shift.over_short, Some(-100));

    let z = ZReport::take(7, shift_id, &shift, r.clone(), by, 10).unwrap();
    assert_eq!((z.number, z.over_short), (7, -100));
}

#[test]
fn closing_an_already_closed_shift_is_refused() {
    let eur_c = Currency::from_code("EUR").unwrap();
    let by = Uuid::now_v7();
    let mut shift = Shift::open(Uuid::now_v7(), eur_c, 0, by, 0).unwrap();
    let r = ShiftReport::compute(Uuid::now_v7(), &shift, &[], &[], 1).unwrap();
    shift.close(BTreeMap::new(), &r, by, 2).unwrap();
    assert_eq!(
        shift.close(BTreeMap::new(), &r, by, 3),
        Err(ShiftError::AlreadyClosed)
    );
    assert_eq!(
        shift.record(CashEventKind::NoSale, 0, "", by, 4),
        Err(ShiftError::AlreadyClosed)
    );
}

#[test]
fn bad_cash_inputs_are_refused() {
    let eur_c = Currency::from_code("EUR").unwrap();
    let by = Uuid::now_v7();
    assert_eq!(
        Shift::open(Uuid::now_v7(), eur_c, -1, by, 0),
        Err(ShiftError::NegativeFloat(-1))
    );
    let mut shift = Shift::open(Uuid::now_v7(), eur_c, 0, by, 0).unwrap();
    assert_eq!(
        shift.record(CashEventKind::PaidOut, 0, "x", by, 1),
        Err(ShiftError::NonPositiveAmount(0))
    );
    assert_eq!(
        shift.record(CashEventKind::PaidIn, 100, " ", by, 1),
        Err(ShiftError::MissingReason)
    );
    assert!(shift.events.is_empty());
    assert!(matches!(
        count_cash("EUR", &counts(&[(300, 1)])),
        Err(ShiftError::UnknownDenomination { .. })
    ));
    assert!(matches!(
        count_cash("EUR", &counts(&[(100, -1)])),
        Err(ShiftError::NegativeCount { .. })
    ));
    assert_eq!(count_cash("EUR", &counts(&[(50000, 1), (1, 3)])), Ok(50003));
    let mut bad = BTreeMap::new();
    bad.insert("ten".to_string(), 1);
    assert!(count_cash("EUR", &bad).is_err());
}

#[test]
fn a_z_report_needs_a_closed_shift() {
    let eur_c = Currency::from_code("EUR").unwrap();
    let by = Uuid::now_v7();
    let shift = Shift::open(Uuid::now_v7(), eur_c, 0, by, 0).unwrap();
    let r = ShiftReport::compute(Uuid::now_v7(), &shift, &[], &[], 1).unwrap();
    assert_eq!(
        ZReport::take(1, Uuid::now_v7(), &shift, r, by, 2),
        Err(ShiftError::StillOpen)
    );
}

#[test]
fn a_report_refuses_a_sale_of_another_shift() {
    let eur_c = Currency::from_code("EUR").unwrap();
    let shift = Shift::open(Uuid::now_v7(), eur_c, 0, Uuid::now_v7(), 0).unwrap();
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    sale.shift_id = Some(Uuid::now_v7().to_string());
    assert!(matches!(
        ShiftReport::compute(Uuid::now_v7(), &shift, &[sale], &[], 1),
        Err(ShiftError::ForeignDocument(_))
    ));
}
