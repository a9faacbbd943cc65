use pos_core::catalog::{Modifier, ModifierGroup};
use pos_core::money::{Currency, Money, MoneyError, TaxMode};
use pos_core::sale::{Discount, SaleError, SaleStatus, Tender, MAX_QTY};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::common::*;

#[test]
fn inclusive_totals_back_tax_out_per_rate() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("Latte", 350, "reduced", None), 2, &s); // 7 %
    add(&mut sale, &item("Mug", 1200, "standard", None), 1, &s); // 19 %
    let t = sale.totals().unwrap();
    assert_eq!(t.total, 1900);
    assert_eq!(t.taxes.len(), 2);
    // 700 incl. 7 %: net = 654.2 -> 654, tax 46; 1200 incl. 19 %: net 1008.4 -> 1008, tax 192
    assert_eq!(
        (t.taxes[0].rate_bp, t.taxes[0].net, t.taxes[0].tax),
        (700, 654, 46)
    );
    assert_eq!(
        (t.taxes[1].rate_bp, t.taxes[1].net, t.taxes[1].tax),
        (1900, 1008, 192)
    );
    assert_eq!(t.tax, 238);
    assert_eq!(t.due, 1900);
}

#[test]
fn exclusive_totals_add_tax_on_top() {
    let s = settings(TaxMode::Exclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("Mug", 1000, "standard", None), 1, &s);
    add(&mut sale, &item("Pen", 5, "standard", None), 1, &s);
    let t = sale.totals().unwrap();
    // tax on the rate's sum (1005 × 19 % = 190.95 -> 191), not per line (190 + 1 = 191 here too)
    assert_eq!(t.tax, 191);
    assert_eq!(t.total, 1196);
}

#[test]
fn tax_is_rounded_once_per_rate_not_per_line() {
    let s = settings(TaxMode::Exclusive);
    let mut sale = open_sale(&s);
    // three lines of 0.05 at 7 %: per line 0.35 cents would round to 0 each; per rate 15 × 7 % = 1.05 -> 1
    for _ in 0..3 {
        add(&mut sale, &item("Sweet", 5, "reduced", None), 1, &s);
    }
    assert_eq!(sale.totals().unwrap().tax, 1);
}

#[test]
fn bad_quantities_are_refused() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let i = item("Latte", 350, "reduced", None);
    for qty in [0, -1, MAX_QTY + 1] {
        let r = sale.add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            qty,
            &[],
            1,
            Uuid::now_v7(),
        );
        assert_eq!(r, Err(SaleError::BadQuantity(qty)));
    }
    let line = add(&mut sale, &i, 1, &s);
    assert_eq!(sale.set_qty(&line, -3), Err(SaleError::BadQuantity(-3)));
    assert_eq!(
        sale.lines[&line].qty, 1,
        "a refused change leaves the line as it was"
    );
    assert_eq!(
        sale.set_qty("nope", 2),
        Err(SaleError::UnknownLine("nope".into()))
    );
}

#[test]
fn modifiers_add_their_price_and_respect_the_group_maximum() {
    let s = settings(TaxMode::Inclusive);
    let mut i = item("Latte", 350, "reduced", Some("bar"));
    i.modifier_groups.insert(
        "milk".into(),
        ModifierGroup {
            name: "Milk".into(),
            min: 0,
            max: 1,
            pos: 1,
            options: BTreeMap::from([
                (
                    "oat".into(),
                    Modifier {
                        name: "Oat".into(),
                        price_delta: 40,
                        pos: 1,
                    },
                ),
                (
                    "soy".into(),
                    Modifier {
                        name: "Soy".into(),
                        price_delta: 30,
                        pos: 2,
                    },
                ),
            ]),
        },
    );
    let mut sale = open_sale(&s);
    let oat = [("milk".to_string(), "oat".to_string())];
    sale.add_line(
        Uuid::now_v7(),
        &i,
        Uuid::now_v7(),
        &s,
        2,
        &oat,
        1,
        Uuid::now_v7(),
    )
    .unwrap();
    assert_eq!(sale.totals().unwrap().total, 780);
    let both = [
        ("milk".to_string(), "oat".to_string()),
        ("milk".to_string(), "soy".to_string()),
    ];
    assert_eq!(
        sale.add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            1,
            &both,
            1,
            Uuid::now_v7()
        ),
        Err(SaleError::TooManyModifiers {
            group: "milk".into(),
            max: 1
        })
    );
    let unknown = [("milk".to_string(), "cow".to_string())];
    assert!(matches!(
        sale.add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            1,
            &unknown,
            1,
            Uuid::now_v7()
        ),
        Err(SaleError::UnknownModifier { .. })
    ));
}

#[test]
fn inactive_items_and_foreign_currencies_cannot_be_sold() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let mut i = item("Old", 100, "standard", None);
    i.active = false;
    assert!(matches!(
        sale.add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            1,
            &[],
            1,
            Uuid::now_v7()
        ),
        Err(SaleError::InactiveItem(_))
    ));
    let mut i = item("Dollar", 100, "standard", None);
    i.currency = "USD".into();
    assert!(matches!(
        sale.add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            1,
            &[],
            1,
            Uuid::now_v7()
        ),
        Err(SaleError::ItemCurrency { .. })
    ));
    let mut i = item("Taxless", 100, "luxury", None);
    i.tax_class = "luxury".into();
    assert!(sale
        .add_line(
            Uuid::now_v7(),
            &i,
            Uuid::now_v7(),
            &s,
            1,
            &[],
            1,
            Uuid::now_v7()
        )
        .is_err());
}

#[test]
fn line_and_order_discounts() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let a = add(&mut sale, &item("A", 1000, "standard", None), 1, &s);
    add(&mut sale, &item("B", 333, "standard", None), 3, &s); // 999
    sale.set_line_discount(&a, Some(Discount::percent(1500)))
        .unwrap(); // -150
    sale.set_order_discount(Some(Discount::amount(100)))
        .unwrap();
    let t = sale.totals().unwrap();
    assert_eq!(t.subtotal, 1999);
    assert_eq!(t.line_discounts, 150);
    assert_eq!(t.order_discount, 100);
    assert_eq!(t.total, 1749);
    assert_eq!(t.lines.iter().map(|l| l.total).sum::<i64>(), t.total);
    // allocation follows the line amounts (850 : 999)
    assert_eq!(
        t.lines.iter().map(|l| l.order_discount).collect::<Vec<_>>(),
        vec![46, 54]
    );
}

#[test]
fn discounts_out_of_range_are_refused_and_change_nothing() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let a = add(&mut sale, &item("A", 1000, "standard", None), 1, &s);
    assert_eq!(
        sale.set_line_discount(&a, Some(Discount::amount(1001))),
        Err(SaleError::DiscountExceedsAmount {
            discount: 1001,
            amount: 1000
        })
    );
    assert_eq!(
        sale.set_line_discount(&a, Some(Discount::percent(10_001))),
        Err(SaleError::DiscountPercentOutOfRange(10_001))
    );
    assert_eq!(
        sale.set_order_discount(Some(Discount::amount(-5))),
        Err(SaleError::DiscountExceedsAmount {
            discount: -5,
            amount: 1000
        })
    );
    assert!(sale.lines[&a].discount.is_none());
    assert!(sale.order_discount.is_none());
    assert_eq!(
        sale.override_price(&a, Some(-1)),
        Err(SaleError::NegativePrice(-1))
    );
    sale.override_price(&a, Some(0)).unwrap();
    assert_eq!(sale.totals().unwrap().total, 0);
}

#[test]
fn split_tenders_cash_change_and_card_reference() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("A", 1250, "standard", None), 2, &s); // 2500
    let by = Uuid::now_v7();
    assert_eq!(
        sale.add_payment(Tender::Card, eur(1000), None, by, 1),
        Err(SaleError::MissingCardReference)
    );
    assert_eq!(
        sale.add_payment(Tender::Card, eur(3000), Some("R1".into()), by, 1),
        Err(SaleError::Overpayment {
            amount: 3000,
            due: 2500
        })
    );
    sale.add_payment(Tender::Card, eur(1000), Some("R1".into()), by, 1)
        .unwrap();
    let cash = sale
        .add_payment(Tender::Cash, eur(2000), None, by, 2)
        .unwrap();
    let p = &sale.payments[&cash];
    assert_eq!((p.amount, p.tendered, p.change), (1500, 2000, 500));
    let t = sale.totals().unwrap();
    assert_eq!((t.paid, t.due, t.change), (2500, 0, 500));
    assert_eq!(
        sale.add_payment(Tender::Cash, eur(1), None, by, 3),
        Err(SaleError::NothingDue)
    );
    sale.close("S01-T1-000001".into(), 4).unwrap();
    assert_eq!(sale.status, SaleStatus::Closed);
    assert_eq!(sale.validate(), Ok(()));
}

#[test]
fn payment_in_a_wrong_currency_is_refused() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("A", 100, "standard", None), 1, &s);
    let usd = Money::new(100, Currency::from_code("USD").unwrap());
    assert!(matches!(
        sale.add_payment(Tender::Cash, usd, None, Uuid::now_v7(), 1),
        Err(SaleError::Money(MoneyError::CurrencyMismatch { .. }))
    ));
    assert_eq!(
        sale.add_payment(Tender::Cash, eur(0), None, Uuid::now_v7(), 1),
        Err(SaleError::NonPositivePayment(0))
    );
    assert!(sale.payments.is_empty());
}

#[test]
fn a_sale_closes_only_when_paid_and_void_only_before_payment() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    assert_eq!(sale.close("X-1-1".into(), 1), Err(SaleError::Empty));
    let a = add(&mut sale, &item("A", 500, "standard", None), 1, &s);
    assert_eq!(
        sale.close("X-1-1".into(), 1),
        Err(SaleError::NotFullyPaid { due: 500 })
    );
    sale.add_payment(Tender::Cash, eur(200), None, Uuid::now_v7(), 1)
        .unwrap();
    assert_eq!(sale.void("oops", 2), Err(SaleError::VoidAfterPayment));
    assert_eq!(sale.set_qty(&a, 2), Err(SaleError::PaymentsTaken));
    sale.add_payment(Tender::Cash, eur(300), None, Uuid::now_v7(), 1)
        .unwrap();
    sale.close("S01-T1-000009".into(), 3).unwrap();
    assert_eq!(
        sale.void("late", 4),
        Err(SaleError::NotOpen(SaleStatus::Closed))
    );
    assert_eq!(
        sale.set_note(&a, "x"),
        Err(SaleError::NotOpen(SaleStatus::Closed))
    );

    let mut other = open_sale(&s);
    add(&mut other, &item("B", 100, "standard", None), 1, &s);
    other.void("customer left", 5).unwrap();
    assert_eq!(other.status, SaleStatus::Voided);
    assert_eq!(other.validate(), Ok(()));
}

#[test]
fn firing_marks_lines_by_course_and_freezes_their_quantity() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let burger = item("Burger", 1290, "standard", Some("grill"));
    let a = sale
        .add_line(
            Uuid::now_v7(),
            &burger,
            Uuid::now_v7(),
            &s,
            1,
            &[],
            1,
            Uuid::now_v7(),
        )
        .unwrap();
    let b = sale
        .add_line(
            Uuid::now_v7(),
            &burger,
            Uuid::now_v7(),
            &s,
            1,
            &[],
            2,
            Uuid::now_v7(),
        )
        .unwrap();
    assert_eq!(sale.fire(Some(1), 10).unwrap(), vec![a.clone()]);
    assert_eq!(sale.fire(Some(1), 11), Err(SaleError::NothingToFire));
    assert_eq!(sale.set_qty(&a, 3), Err(SaleError::LineFired(a.clone())));
    sale.set_qty(&b, 2).unwrap();
    assert_eq!(sale.fire(None, 12).unwrap(), vec![b]);
}
