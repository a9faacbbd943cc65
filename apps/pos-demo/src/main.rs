//! The product's main job, end to end, on this machine:
//! 1. a sync server starts with its own PostgreSQL cluster;
//! 2. head office sets up a café: a store, staff with PINs;
//! 3. two tills enrol with one-time codes; the owner's till creates the catalog, the other
//!    bootstraps from the server;
//! 4. the network goes down: both tills sell all day offline (till 1 runs a scripted day with a
//!    kitchen, discounts, a refund, a count and the shift close; till 2 sells and edits an open
//!    ticket and a price that till 1 also edits);
//! 5. the network comes back: the tills push, pull, and converge, and the demo shows it.
//!
//! Usage: `pos-demo [DATA_DIR]` (default `./demo-data`, recreated each run).

mod day;
mod server;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pos_core::demo::{self, Demo};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::SyncEngine;
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{enrol, HttpTransport};
use serde_json::json;

use day::{eur, step};

struct Till {
    name: &'static str,
    store: Store,
    engine: SyncEngine,
    http: HttpTransport,
}

impl Till {
    fn enrol(server: &str, code: &str, dir: &std::path::Path, name: &'static str) -> Result<Till> {
        let (e, cred) = enrol(server, code, name).context("enrolling")?;
        let store = Store::create(
            &dir.join(format!("{name}.sqlite")),
            DeviceIdentity {
                tenant_id: e.tenant_id,
                store_id: e.store_id,
                device_id: e.device_id,
                store_code: e.store_code,
                device_code: e.device_code,
                kind: e.kind,
            },
        )?;
        let mut t = Till {
            name,
            store,
            engine: SyncEngine::new(),
            http: HttpTransport::new(cred),
        };
        let r = t.engine.bootstrap(&mut t.store, &mut t.http, |_, _| {})?;
        println!(
            "   {name} enrolled as {}-{}; bootstrapped {} documents' worth of changes, {} staff",
            t.store.identity().store_code,
            t.store.identity().device_code,
            r.pulled,
            t.store.staff()?.len()
        );
        Ok(t)
    }

    fn sync(&mut self) -> Result<()> {
        let r = self.engine.sync_once(&mut self.store, &mut self.http)?;
        println!(
            "   {:<7} pushed {:>4}: {:>4} accepted, {} duplicate, {} refused; pulled {:>4}",
            self.name, r.pushed, r.accepted, r.duplicates, r.rejected, r.pulled
        );
        Ok(())
    }
}

fn main() -> Result<()> {
    // `pos-demo [DATA_DIR] [--serve]`: with --serve, the server (and its console) keeps running
    // after the day until Ctrl-C.
    let serve = std::env::args().skip(1).any(|a| a == "--serve");
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("demo-data"));
    let server_dir = dir.join("server");
    server::stop_leftover_cluster(&server_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;

    step("A sync server starts, with its own PostgreSQL cluster");
    let srv = server::start(&dir.join("server"))?;
    println!(
        "   listening on {} (data in {})",
        srv.url,
        dir.join("server").display()
    );

    step("Head office sets up the café: a store, staff and their PINs");
    let root = HeadOffice::login(&srv.url, server::ADMIN_EMAIL, server::ADMIN_PASSWORD)?;
    let owner_pw = "café owner password";
    root.create_tenant("Café Demo", "olivia@cafe.demo", owner_pw)?;
    let ho = HeadOffice::login(&srv.url, "olivia@cafe.demo", owner_pw)?;
    let s = demo::settings();
    let store_id = ho.create_store(json!({
        "code": s.code, "name": s.name, "currency": s.currency, "tax_mode": s.tax_mode,
        "tax_rates": s.tax_rates, "discount_threshold_bp": s.discount_threshold_bp,
        "address": s.address, "tax_id": s.tax_id,
        "receipt_header": s.receipt_header, "receipt_footer": s.receipt_footer,
        "time_zone": s.time_zone, "business_day_start": s.business_day_start,
    }))?;
    let mut ids = Vec::new();
    for (name, role, pin) in demo::STAFF {
        ids.push(ho.create_staff(store_id, name, role.as_str(), pin)?);
        println!("   {name} ({role}), PIN {pin}");
    }

    step("Two tills enrol with one-time codes; the owner's till creates the catalog");
    let mut t1 = Till::enrol(&srv.url, &ho.enrolment_code(store_id)?, &dir, "till-1")?;
    let owner = t1.store.login(ids[0], "1111")?;
    let manager = t1.store.actor(ids[1])?;
    let (items, barcodes) = demo::seed_catalog(&mut t1.store, &owner, &manager)?;
    t1.sync()?;
    let mut t2 = Till::enrol(&srv.url, &ho.enrolment_code(store_id)?, &dir, "till-2")?;
    println!(
        "   till-2 sees {} items",
        t2.store.search_items("a", 100)?.len()
    );
    let d = Demo {
        owner,
        manager,
        cashier: t1.store.actor(ids[2])?,
        kitchen: t1.store.actor(ids[3])?,
        items,
        barcodes,
    };

    step("07:59 The network goes down. Both tills keep selling.");
    let cur = Currency::from_code("EUR")?;
    let carl2 = t2
        .store
        .login(ids[2], "3333")
        .context("Carl logs in on till 2 with his PIN, offline")?;
    let maria2 = t2.store.login(ids[1], "2222")?;
    let mut t2_receipts = Vec::new();
    for (skus, tender) in [
        (vec!["COF-CAP", "BAK-MUF"], Tender::Cash),
        (vec!["TEA-GRN"], Tender::Card),
        (vec!["RET-BEA", "COF-ESP", "COF-ESP"], Tender::Card),
    ] {
        let sale = t2.store.open_sale(&carl2, None)?;
        for sku in &skus {
            t2.store.add_item(&carl2, sale, d.item(sku)?, 1, &[], 1)?;
        }
        let due = t2.store.get::<Sale>(sale)?.totals()?.due;
        let r = t2.store.pay(
            &carl2,
            sale,
            tender,
            Money::new(due, cur),
            Some("AUTH-2".into()),
        )?;
        t2_receipts.push(r.receipt_no.clone().unwrap_or_default());
    }
    t2.store.update_item(&maria2, d.item("COF-LAT")?, |i| {
        i.price = 380;
        Ok(())
    })?;
    println!(
        "   till-2: {} sales offline ({}), and Maria raises the latte to €3.80",
        t2_receipts.len(),
        t2_receipts.join(", ")
    );
    println!("   till-1 runs its day:");
    t1.store.update_item(&d.manager, d.item("COF-LAT")?, |i| {
        i.price = 370;
        Ok(())
    })?;
    println!("   (on till-1, Maria set the latte to €3.70 before the rush: a concurrent edit)");
    let z = day::run(&mut t1.store, &d)?;

    step("18:30 The network is back: the tills push, pull and converge");
    println!(
        "   before: till-1 has {} changes waiting, till-2 {}",
        t1.store.outbox_len()?,
        t2.store.outbox_len()?
    );
    for _ in 0..3 {
        t1.sync()?;
        t2.sync()?;
        if t1.store.outbox_len()? == 0 && t2.store.outbox_len()? == 0 {
            break;
        }
    }
    t1.sync()?;
    let (d1, d2) = (t1.store.projection_digest()?, t2.store.projection_digest()?);
    if d1 != d2 {
        bail!("the tills did not converge ({d1} vs {d2})");
    }
    println!(
        "   both tills show the same data (projection digest {}…)",
        &d1[..16]
    );
    let latte = t2.store.item_by_barcode(&d.barcodes["COF-LAT"])?.price;
    let conflicts = ho.get("/v1/admin/price-conflicts")?;
    let values: Vec<String> = conflicts[0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_i64()).map(eur).collect())
        .unwrap_or_default();
    println!(
        "   the latte's two offline prices converged on {} on every device; head office sees both ({})",
        eur(latte),
        values.join(" and ")
    );

    step("The day's sales, as till-2 sees them");
    println!("   {:<16} {:>10} {:>6}", "receipt", "total", "lines");
    let mut total = 0;
    for s in t2.store.closed_sales(100)?.iter().rev() {
        total += s.total;
        println!(
            "   {:<16} {:>10} {:>6}",
            s.receipt_no.clone().unwrap_or_default(),
            eur(s.total),
            s.line_count
        );
    }
    println!("   {:<16} {:>10}", "", eur(total));

    step("Till 1's Z report reached every device");
    let zs = t2.store.z_reports()?;
    println!(
        "   till-2 lists Z report #{} of till-1: net {}, over/short {} (printed above at 18:00)",
        zs[0].number,
        eur(zs[0].net_total),
        eur(zs[0].over_short)
    );
    if zs[0].number != z.number {
        bail!("till-2 shows another Z report than till-1 took");
    }

    step("Head office's reports (GET /v1/admin/reports/...): the day by the server");
    let today = pos_core::calendar::StoreClock::new(&s.time_zone, &s.business_day_start)?
        .business_day(pos_core::store::now_ms())?;
    let q = format!("stores={store_id}&from={today}&to={today}");
    let sum = ho.get(&format!("/v1/admin/reports/sales-summary?{q}&group=store"))?;
    let r = &sum["data"][0];
    let n = |k: &str| r[k].as_i64().unwrap_or(0);
    println!(
        "   business day {today} ({}, from {}): {} sales {}, discounts {}, refunds {}, net {}, tax {}",
        s.time_zone,
        s.business_day_start,
        n("sales_count"),
        eur(n("sales_total")),
        eur(n("discounts")),
        eur(n("refunds")),
        eur(n("net_total")),
        eur(n("tax"))
    );
    let tenders = ho.get(&format!("/v1/admin/reports/tenders?{q}"))?;
    let mix: Vec<String> = tenders["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|t| {
                    format!(
                        "{} {}",
                        t["tender"].as_str().unwrap_or("?"),
                        eur(t["net_amount"].as_i64().unwrap_or(0))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("   tenders: {}", mix.join(", "));
    let shifts = ho.get(&format!("/v1/admin/reports/shifts?{q}"))?;
    let differing = shifts["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["difference"].as_i64() != Some(0))
                .count()
        })
        .unwrap_or(0);
    println!(
        "   Z reconciliation: {} figures of the Z report checked against the master, {} differ",
        shifts["data"].as_array().map_or(0, |r| r.len()),
        differing
    );
    if n("sales_total") != total {
        bail!(
            "the server's sales total {} is not the tills' {}",
            n("sales_total"),
            total
        );
    }

    step("Stock levels, as till-2 sees them after both tills' sales");
    day::print_stock(&t2.store)?;
    println!(
        "\nData: {} (server + PostgreSQL), {}/till-1.sqlite and till-2.sqlite (open with sqlite3).",
        dir.join("server").display(),
        dir.display()
    );
    println!(
        "\nHead office's console: {}/  (log in as olivia@cafe.demo, password \"{owner_pw}\")",
        srv.url
    );
    if serve {
        println!("   serving until Ctrl-C");
        srv.wait_for_ctrl_c();
    } else {
        println!("   ./run.sh --serve keeps the server and its console running after the day");
    }
    drop(srv);
    Ok(())
}
