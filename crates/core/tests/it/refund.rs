use pos_core::money::TaxMode;
use pos_core::refund::{Refund, RefundError, RefundRequest};
use pos_core::sale::{Sale, SaleStatus, Tender};
use uuid::Uuid;

use crate::common::*;

/// A closed sale of 3 × 3.33 (one line) and 1 × 5.00, paid in cash.
fn closed_sale() -> (Uuid, Sale, String, String) {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let three = add(&mut sale, &item("Three", 333, "standard", None), 3, &s);
    let one = add(&mut sale, &item("One", 500, "reduced", None), 1, &s);
    let due = sale.totals().unwrap().due;
    sale.add_payment(Tender::Cash, eur(due), None, Uuid::now_v7(), 1)
        .unwrap();
    sale.close("S01-T1-000001".into(), 2).unwrap();
    (Uuid::now_v7(), sale, three, one)
}

fn req(line: &str, qty: i64) -> RefundRequest {
    RefundRequest {
        sale_line_id: line.into(),
        qty,
        restock: true,
    }
}

fn build(
    id: Uuid,
    sale: &Sale,
    prior: &[Refund],
    reqs: &[RefundRequest],
) -> Result<Refund, RefundError> {
    Refund::build(
        id,
        sale,
        prior,
        reqs,
        Tender::Cash,
        None,
        "test",
        "S01-T1-000002".into(),
        None,
        Uuid::now_v7(),
        3,
    )
}

#[test]
fn partial_refunds_never_return_more_than_the_line_was_sold_for() {
    let (id, sale, three, _) = closed_sale();
    let r1 = build(id, &sale, &[], &[req(&three, 1)]).unwrap();
    assert_eq!(r1.totals().unwrap().total, 333);
    let r2 = build(id, &sale, &[r1.clone()], &[req(&three, 1)]).unwrap();
    let r3 = build(id, &sale, &[r1.clone(), r2.clone()], &[req(&three, 1)]).unwrap();
    let refunded: i64 = [&r1, &r2, &r3]
        .iter()
        .map(|r| r.totals().unwrap().total)
        .sum();
    assert_eq!(
        refunded, 999,
        "three partial refunds add up to the line exactly"
    );
    assert_eq!(
        build(id, &sale, &[r1, r2, r3], &[req(&three, 1)]),
        Err(RefundError::ExceedsRefundable {
            line: three,
            requested: 1,
            refundable: 0
        })
    );
}

#[test]
fn a_refund_above_what_was_sold_is_refused() {
    let (id, sale, three, one) = closed_sale();
    assert_eq!(
        build(id, &sale, &[], &[req(&three, 4)]),
        Err(RefundError::ExceedsRefundable {
            line: three.clone(),
            requested: 4,
            refundable: 3
        })
    );
    // the same line twice in one refund counts together
    assert!(matches!(
        build(id, &sale, &[], &[req(&one, 1), req(&one, 1)]),
        Err(RefundError::ExceedsRefundable { .. })
    ));
    assert_eq!(
        build(id, &sale, &[], &[req(&three, 0)]),
        Err(RefundError::BadQuantity(0))
    );
    assert_eq!(build(id, &sale, &[], &[]), Err(RefundError::Empty));
    assert_eq!(
        build(id, &sale, &[], &[req("ghost", 1)]),
        Err(RefundError::UnknownLine("ghost".into()))
    );
}

#[test]
fn only_closed_sales_can_be_refunded() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let l = add(&mut sale, &item("A", 100, "standard", None), 1, &s);
    assert_eq!(
        build(Uuid::now_v7(), &sale, &[], &[req(&l, 1)]),
        Err(RefundError::SaleNotClosed(SaleStatus::Open))
    );
}

#[test]
fn the_server_check_catches_an_inflated_refund() {
    let (id, sale, three, _) = closed_sale();
    let mut r = build(id, &sale, &[], &[req(&three, 1)]).unwrap();
    assert_eq!(r.validate_against(id, &sale, &[]), Ok(()));
    // a hostile device edits the quantity and amount of its own refund document
    for l in r.lines.values_mut() {
        l.qty = 5;
        l.amount = 5000;
    }
    assert!(matches!(
        r.validate_against(id, &sale, &[]),
        Err(RefundError::ExceedsRefundable { .. })
    ));
    assert!(matches!(
        r.validate_against(Uuid::now_v7(), &sale, &[]),
        Err(RefundError::WrongSale { .. })
    ));
}

#[test]
fn a_card_refund_needs_a_reference() {
    let (id, sale, three, _) = closed_sale();
    let r = Refund::build(
        id,
        &sale,
        &[],
        &[req(&three, 1)],
        Tender::Card,
        None,
        "x",
        "S01-T1-000002".into(),
        None,
        Uuid::now_v7(),
        3,
    );
    assert_eq!(r, Err(RefundError::MissingCardReference));
}
