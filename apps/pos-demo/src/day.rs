//! The scripted day on one till: selling, a restaurant ticket fired to the kitchen, discounts,
//! a refund, paid-out, no-sale, a stock count, an X report and the shift close with its Z report.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use pos_core::demo::Demo;
use pos_core::inventory::StockLevel;
use pos_core::money::{format_minor, Currency, Money};
use pos_core::refund::RefundRequest;
use pos_core::sale::{Discount, Sale, Tender};
use pos_core::shift::{CashEventKind, ZReport};
use pos_core::store::{KitchenAction, StockFilter, StockInput, Store};

pub fn eur(minor: i64) -> String {
    format!("€{}", format_minor(minor, 2))
}

pub fn step(title: &str) {
    println!("\n── {title}");
}

/// Runs the day on `store` (a till). Returns the Z report.
pub fn run(store: &mut Store, d: &Demo) -> Result<ZReport> {
    let cur = Currency::from_code(&store.settings()?.currency)?;
    step("08:00 Maria (manager) opens the shift with a €150.00 float");
    store.open_shift(&d.manager, 15000)?;

    step("08:05 Carl sells two oat lattes and a croissant, paid cash with €20");
    let s1 = store.open_sale(&d.cashier, None)?;
    store.add_item(
        &d.cashier,
        s1,
        d.item("COF-LAT")?,
        2,
        &[("milk".into(), "oat".into())],
        1,
    )?;
    store.scan(&d.cashier, s1, &d.barcodes["BAK-CRO"])?;
    let paid = store.pay(&d.cashier, s1, Tender::Cash, Money::new(2000, cur), None)?;
    println!(
        "   receipt {}, change due {}",
        paid.receipt_no.clone().unwrap_or_default(),
        eur(paid.change)
    );

    step("08:20 A customer scans coffee beans and a mug; card payment");
    let s2 = store.open_sale(&d.cashier, None)?;
    store.scan(&d.cashier, s2, &d.barcodes["RET-BEA"])?;
    store.scan(&d.cashier, s2, &d.barcodes["RET-MUG"])?;
    let total = store.get::<Sale>(s2)?.totals()?.total;
    let paid = store.pay(
        &d.cashier,
        s2,
        Tender::Card,
        Money::new(total, cur),
        Some("AUTH-83412".into()),
    )?;
    println!(
        "   receipt {}, {} on card",
        paid.receipt_no.clone().unwrap_or_default(),
        eur(total)
    );

    step("08:30 An unknown barcode is scanned");
    let s3 = store.open_sale(&d.cashier, None)?;
    match store.scan(&d.cashier, s3, "4006381333931") {
        Err(e) => println!("   refused: {e}"),
        Ok(_) => anyhow::bail!("an unknown barcode was accepted"),
    }
    store.scan(&d.cashier, s3, &d.barcodes["BAK-MUF"])?;
    store.void_sale(&d.manager, s3, "customer changed their mind")?;
    println!("   the muffin sale was voided before payment (by Maria)");

    step("12:10 Table 4 orders; the first course is fired to the kitchen");
    let t4 = store.open_sale(&d.cashier, Some("Table 4".into()))?;
    store.add_item(&d.cashier, t4, d.item("KIT-BUR")?, 2, &[], 1)?;
    let fries = store.add_item(&d.cashier, t4, d.item("KIT-FRI")?, 1, &[], 1)?;
    store.set_line_note(&d.cashier, t4, &fries, "extra crispy")?;
    store.add_item(&d.cashier, t4, d.item("KIT-SAL")?, 1, &[], 1)?;
    store.add_item(&d.cashier, t4, d.item("KIT-CAK")?, 2, &[], 2)?;
    let tickets = store.fire(&d.cashier, t4, Some(1))?;
    for t in store.kitchen_tickets(None, false)? {
        println!(
            "   KDS {:<6} {:<8} course {} — {} item line(s)",
            t.station,
            t.ticket.clone().unwrap_or_default(),
            t.course,
            t.item_count
        );
    }
    for id in &tickets {
        store.kitchen(&d.kitchen, *id, KitchenAction::Start)?;
        store.kitchen(&d.kitchen, *id, KitchenAction::Ready)?;
        store.kitchen(&d.kitchen, *id, KitchenAction::Bump)?;
    }
    println!(
        "   Kim starts, readies and bumps {} ticket(s)",
        tickets.len()
    );
    let dessert = store.fire(&d.cashier, t4, Some(2))?;
    println!("   dessert course fired: {} ticket(s)", dessert.len());
    for id in &dessert {
        store.kitchen(&d.kitchen, *id, KitchenAction::Bump)?;
    }

    step("13:05 Table 4 pays: 10% off the order, split card and cash");
    store.set_order_discount(&d.cashier, t4, Some(Discount::percent(1000)))?;
    let sale = store.get::<Sale>(t4)?;
    let total = sale.totals()?.total;
    store.pay(
        &d.cashier,
        t4,
        Tender::Card,
        Money::new(3000, cur),
        Some("AUTH-99120".into()),
    )?;
    let paid = store.pay(
        &d.cashier,
        t4,
        Tender::Cash,
        Money::new(total - 3000 + 500, cur),
        None,
    )?;
    println!(
        "   total {}, {} on card, cash with {} change, receipt {}",
        eur(total),
        eur(3000),
        eur(paid.change),
        paid.receipt_no.clone().unwrap_or_default()
    );

    step("14:00 A 50% discount needs a manager's approval");
    let s5 = store.open_sale(&d.cashier, None)?;
    let line = store.add_item(&d.cashier, s5, d.item("BAK-MUF")?, 1, &[], 1)?;
    match store.set_line_discount(&d.cashier, s5, &line, Some(Discount::percent(5000))) {
        Err(e) => println!("   Carl alone: refused: {e}"),
        Ok(()) => anyhow::bail!("a 50% discount went through without approval"),
    }
    store.set_line_discount(
        &d.cashier,
        s5,
        &line,
        Some(Discount::percent(5000).approved_by(d.manager.user_id)),
    )?;
    let total = store.get::<Sale>(s5)?.totals()?.total;
    let paid = store.pay(&d.cashier, s5, Tender::Cash, Money::new(total, cur), None)?;
    println!(
        "   approved by Maria: {} paid, receipt {}",
        eur(total),
        paid.receipt_no.clone().unwrap_or_default()
    );

    step("15:30 The mug comes back: refund to cash");
    let mug_line = store
        .get::<Sale>(s2)?
        .lines
        .iter()
        .find(|(_, l)| l.sku == "RET-MUG")
        .map(|(id, _)| id.clone())
        .context("mug line")?;
    let req = [RefundRequest {
        sale_line_id: mug_line.clone(),
        qty: 1,
        restock: true,
    }];
    match store.refund(&d.cashier, s2, &req, Tender::Cash, None, "chipped") {
        Err(e) => println!("   Carl alone: refused: {e}"),
        Ok(_) => anyhow::bail!("a cashier refunded without permission"),
    }
    store.refund(&d.manager, s2, &req, Tender::Cash, None, "chipped")?;
    match store.refund(&d.manager, s2, &req, Tender::Cash, None, "again") {
        Err(e) => println!("   a second refund of the same mug: refused: {e}"),
        Ok(_) => anyhow::bail!("a line was refunded twice"),
    }
    println!("   refunded by Maria; the mug goes back into stock");

    step("16:00 Paid-out for milk, a no-sale, and a stock count of coffee beans");
    store.cash_event(
        &d.manager,
        CashEventKind::PaidOut,
        1250,
        "milk from the corner shop",
    )?;
    store.cash_event(
        &d.manager,
        CashEventKind::NoSale,
        0,
        "change for the till next door",
    )?;
    let count = store.start_count(&d.manager)?;
    store.count_item(&d.manager, count, d.item("RET-BEA")?, 5)?;
    store.post_count(&d.manager, count)?;
    store.adjust_stock(
        &d.manager,
        "dropped on the floor",
        &[StockInput {
            item_id: d.item("BAK-CRO")?,
            qty: -2,
            unit_cost: None,
        }],
    )?;
    println!("   counted 5 bags of beans; 2 croissants written off");

    step("17:00 X report (mid-shift, nothing is closed)");
    let x = store.x_report()?;
    println!(
        "   {} sales, net {}, expected cash {}",
        x.sales_count,
        eur(x.net_total),
        eur(x.expected_cash)
    );

    step("18:00 Maria closes the shift, counting the drawer");
    let expected = x.expected_cash;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut left = expected - 50; // the drawer is 50 cents short
    for denom in pos_core::shift::denominations("EUR") {
        let n = left / denom;
        if n > 0 {
            counts.insert(denom.to_string(), n);
            left -= n * denom;
        }
    }
    let (_, z_id) = store.close_shift(&d.manager, counts)?;
    let z: ZReport = store.get(z_id)?;
    print_z(&z);

    Ok(z)
}

pub fn print_z(z: &ZReport) {
    let r = &z.report;
    println!("   ┌─ Z REPORT #{} ─────────────────────", z.number);
    println!("   │ sales            {:>6}", r.sales_count);
    println!("   │ gross sales      {:>12}", eur(r.gross_sales));
    println!("   │ discounts        {:>12}", eur(-r.discounts));
    println!(
        "   │ refunds ({})      {:>12}",
        r.refunds_count,
        eur(-r.refunds_total)
    );
    println!("   │ net total        {:>12}", eur(r.net_total));
    for t in &r.taxes {
        println!(
            "   │ tax {:>5}% on {:>9}: {:>9}",
            format_minor(t.rate_bp, 2),
            eur(t.net),
            eur(t.tax)
        );
    }
    for (tender, amount) in &r.tenders {
        println!("   │ {:<16} {:>12}", tender, eur(*amount));
    }
    println!("   │ voids            {:>6}", r.voids_count);
    println!("   │ float            {:>12}", eur(r.float));
    println!(
        "   │ paid in / out    {:>12} / {}",
        eur(r.paid_in),
        eur(r.paid_out)
    );
    println!("   │ no-sales         {:>6}", r.no_sales);
    println!("   │ expected cash    {:>12}", eur(z.expected_cash));
    println!("   │ counted cash     {:>12}", eur(z.counted_cash));
    println!("   │ over / short     {:>12}", eur(z.over_short));
    println!("   └────────────────────────────────────");
}

pub fn print_stock(store: &Store) -> Result<()> {
    println!("   {:<22} {:>8}  flags", "item", "on hand");
    for r in store.stock_levels(StockFilter::All)? {
        let StockLevel {
            low_stock,
            oversold,
            ..
        } = pos_core::inventory::flags(r.on_hand, r.low_stock_threshold);
        let flag = if oversold {
            "OVERSOLD"
        } else if low_stock {
            "low stock"
        } else {
            ""
        };
        println!("   {:<22} {:>8}  {flag}", r.name, r.on_hand);
    }
    Ok(())
}
