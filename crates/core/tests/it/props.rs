//! Property tests: random sequences of operations keep the totals equal to the sum of the lines
//! and the stock equal to the sum of the movements.

use std::collections::BTreeMap;

use pos_core::money::TaxMode;
use pos_core::refund::RefundRequest;
use pos_core::sale::{Discount, Sale, Tender};
use pos_core::store::{StockInput, Store};
use proptest::prelude::*;
use uuid::Uuid;

use crate::common::*;

#[derive(Debug, Clone)]
enum SaleOp {
    Add { price: i64, rate: usize, qty: i64 },
    SetQty { line: usize, qty: i64 },
    Remove { line: usize },
    LinePercent { line: usize, bp: i64 },
    LineAmount { line: usize, minor: i64 },
    OrderPercent { bp: i64 },
    OrderAmount { minor: i64 },
    Override { line: usize, price: i64 },
    PayCash { minor: i64 },
}

fn sale_op() -> impl Strategy<Value = SaleOp> {
    prop_oneof![
        4 => (0i64..100_000, 0usize..3, -2i64..20).prop_map(|(price, rate, qty)| SaleOp::Add { price, rate, qty }),
        1 => (0usize..8, -2i64..30).prop_map(|(line, qty)| SaleOp::SetQty { line, qty }),
        1 => (0usize..8).prop_map(|line| SaleOp::Remove { line }),
        1 => (0usize..8, -100i64..12_000).prop_map(|(line, bp)| SaleOp::LinePercent { line, bp }),
        1 => (0usize..8, -100i64..200_000).prop_map(|(line, minor)| SaleOp::LineAmount { line, minor }),
        1 => (-100i64..12_000).prop_map(|bp| SaleOp::OrderPercent { bp }),
        1 => (-100i64..500_000).prop_map(|minor| SaleOp::OrderAmount { minor }),
        1 => (0usize..8, -5i64..50_000).prop_map(|(line, price)| SaleOp::Override { line, price }),
        1 => (-5i64..300_000).prop_map(|minor| SaleOp::PayCash { minor }),
    ]
}

/// Applies one operation; `Err` means the domain refused it.
fn apply(
    sale: &mut Sale,
    op: &SaleOp,
    s: &pos_core::catalog::StoreSettings,
) -> Result<(), pos_core::sale::SaleError> {
    let line_id = |sale: &Sale, i: usize| -> String {
        let ids: Vec<String> = sale
            .ordered_lines()
            .into_iter()
            .map(|(id, _)| id.clone())
            .collect();
        ids.get(i % ids.len().max(1))
            .cloned()
            .unwrap_or_else(|| "none".into())
    };
    match op {
        SaleOp::Add { price, rate, qty } => {
            let class = ["standard", "reduced", "zero"][*rate];
            let i = item("Thing", *price, class, None);
            sale.add_line(
                Uuid::now_v7(),
                &i,
                Uuid::now_v7(),
                s,
                *qty,
                &[],
                1,
                Uuid::now_v7(),
            )
            .map(|_| ())
        }
        SaleOp::SetQty { line, qty } => sale.set_qty(&line_id(sale, *line), *qty),
        SaleOp::Remove { line } => sale.remove_line(&line_id(sale, *line)).map(|_| ()),
        SaleOp::LinePercent { line, bp } => {
            sale.set_line_discount(&line_id(sale, *line), Some(Discount::percent(*bp)))
        }
        SaleOp::LineAmount { line, minor } => {
            sale.set_line_discount(&line_id(sale, *line), Some(Discount::amount(*minor)))
        }
        SaleOp::OrderPercent { bp } => sale.set_order_discount(Some(Discount::percent(*bp))),
        SaleOp::OrderAmount { minor } => sale.set_order_discount(Some(Discount::amount(*minor))),
        SaleOp::Override { line, price } => {
            sale.override_price(&line_id(sale, *line), Some(*price))
        }
        SaleOp::PayCash { minor } => sale
            .add_payment(Tender::Cash, eur(*minor), None, Uuid::now_v7(), 1)
            .map(|_| ()),
    }
}

fn check_totals(sale: &Sale) {
    let t = sale
        .totals()
        .expect("a sale the domain accepted always has totals");
    let lines: i64 = t.lines.iter().map(|l| l.total).sum();
    assert_eq!(lines, t.subtotal - t.line_discounts - t.order_discount);
    let by_rate_gross: i64 = t.taxes.iter().map(|x| x.gross).sum();
    assert_eq!(by_rate_gross, t.total, "the tax table adds up to the total");
    match sale.tax_mode {
        TaxMode::Inclusive => assert_eq!(t.total, lines),
        TaxMode::Exclusive => assert_eq!(t.total, lines + t.tax),
    }
    for x in &t.taxes {
        assert_eq!(x.net + x.tax, x.gross);
    }
    assert!(
        t.lines.iter().all(|l| l.total >= 0),
        "no line is discounted below zero"
    );
    assert_eq!(t.due, t.total - t.paid);
    assert!(t.due >= 0, "never more paid than owed");
    assert_eq!(sale.validate(), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn totals_always_equal_the_sum_of_the_lines(
        inclusive in any::<bool>(),
        ops in proptest::collection::vec(sale_op(), 1..40),
    ) {
        let s = settings(if inclusive { TaxMode::Inclusive } else { TaxMode::Exclusive });
        let mut sale = open_sale(&s);
        for op in &ops {
            let before = sale.clone();
            if apply(&mut sale, op, &s).is_err() {
                prop_assert_eq!(&sale, &before, "a refused operation changes nothing: {:?}", op);
            }
            check_totals(&sale);
        }
    }
}

#[derive(Debug, Clone)]
enum StockOp {
    Receive { item: usize, qty: i64 },
    Adjust { item: usize, qty: i64 },
    Sell { item: usize, qty: i64 },
    RefundOne { sale: usize, restock: bool },
    Count { item: usize, counted: i64 },
}

fn stock_op() -> impl Strategy<Value = StockOp> {
    prop_oneof![
        1 => (0usize..4, -1i64..30).prop_map(|(item, qty)| StockOp::Receive { item, qty }),
        1 => (0usize..4, -10i64..10).prop_map(|(item, qty)| StockOp::Adjust { item, qty }),
        3 => (0usize..4, 1i64..6).prop_map(|(item, qty)| StockOp::Sell { item, qty }),
        1 => (0usize..20, any::<bool>()).prop_map(|(sale, restock)| StockOp::RefundOne { sale, restock }),
        1 => (0usize..4, -1i64..20).prop_map(|(item, counted)| StockOp::Count { item, counted }),
    ]
}

const TRACKED: [&str; 4] = ["BAK-CRO", "BAK-MUF", "RET-BEA", "RET-MUG"];

fn sell(
    store: &mut Store,
    f: &pos_core::demo::Demo,
    item: Uuid,
    qty: i64,
) -> Result<Uuid, pos_core::store::StoreError> {
    let c = f.cashier;
    let sale = store.open_sale(&c, None)?;
    store.add_item(&c, sale, item, qty, &[], 1)?;
    let due = store.get::<Sale>(sale)?.totals()?.due;
    store.pay(&c, sale, Tender::Card, eur(due), Some("R".into()))?;
    Ok(sale)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stock_always_equals_the_sum_of_the_movements(ops in proptest::collection::vec(stock_op(), 1..25)) {
        let mut fx = demo_store();
        let d = fx.demo.clone();
        let store = &mut fx.store;
        let ids: Vec<Uuid> = TRACKED.iter().map(|s| d.item(s).unwrap()).collect();
        // the model: what a careful person with a notebook would expect
        let mut model: BTreeMap<Uuid, i64> = ids.iter().map(|id| (*id, store.stock_level(*id).unwrap().on_hand)).collect();
        let mut sales: Vec<(Uuid, Uuid, i64)> = Vec::new(); // (sale, item, units left to refund)
        for op in &ops {
            match op {
                StockOp::Receive { item, qty } => {
                    let r = store.receive_stock(&d.manager, "PO", &[StockInput { item_id: ids[*item], qty: *qty, unit_cost: Some(100) }]);
                    prop_assert_eq!(r.is_ok(), *qty > 0);
                    if r.is_ok() { *model.get_mut(&ids[*item]).unwrap() += qty; }
                }
                StockOp::Adjust { item, qty } => {
                    let r = store.adjust_stock(&d.manager, "shrink", &[StockInput { item_id: ids[*item], qty: *qty, unit_cost: None }]);
                    prop_assert_eq!(r.is_ok(), *qty != 0);
                    if r.is_ok() { *model.get_mut(&ids[*item]).unwrap() += qty; }
                }
                StockOp::Sell { item, qty } => {
                    let sale = sell(store, &d, ids[*item], *qty).unwrap();
                    *model.get_mut(&ids[*item]).unwrap() -= qty;
                    sales.push((sale, ids[*item], *qty));
                }
                StockOp::RefundOne { sale, restock } => {
                    if sales.is_empty() { continue; }
                    let k = sale % sales.len();
                    let (sale_id, item, left) = sales[k];
                    let line = store.get::<Sale>(sale_id).unwrap().lines.keys().next().unwrap().clone();
                    let req = [RefundRequest { sale_line_id: line, qty: 1, restock: *restock }];
                    let r = store.refund(&d.manager, sale_id, &req, Tender::Cash, None, "prop");
                    prop_assert_eq!(r.is_ok(), left > 0, "refund allowed exactly while units remain");
                    if r.is_ok() {
                        sales[k].2 -= 1;
                        if *restock { *model.get_mut(&item).unwrap() += 1; }
                    }
                }
                StockOp::Count { item, counted } => {
                    let count = store.start_count(&d.manager).unwrap();
                    let r = store.count_item(&d.manager, count, ids[*item], *counted);
                    prop_assert_eq!(r.is_ok(), *counted >= 0);
                    if r.is_ok() {
                        store.post_count(&d.manager, count).unwrap();
                        *model.get_mut(&ids[*item]).unwrap() = *counted;
                    }
                }
            }
            for id in &ids {
                let level = store.stock_level(*id).unwrap().on_hand;
                prop_assert_eq!(level, store.movements_sum(*id).unwrap());
                prop_assert_eq!(level, model[id], "item {} after {:?}", id, op);
            }
        }
        // and the projections are exactly what the documents say
        let digest = store.projection_digest().unwrap();
        store.rebuild_projections().unwrap();
        prop_assert_eq!(store.projection_digest().unwrap(), digest);
    }
}
