//! Times the phases of one document write (reconcile, commit, diff, change bytes, hydrate, save)
//! on a sale growing to 10 lines, to see where a local write spends its time.
//! Run: `cargo run --release -p pos-core --example write_phases`

use std::time::Instant;

use automerge::AutoCommit;
use pos_core::doc::{AnyDoc, DocType, Document};
use pos_core::sale::{Sale, SaleKind};
use uuid::Uuid;

fn main() {
    let settings = pos_core::demo::settings();
    let mut item = None;
    let dir = std::env::temp_dir().join(format!("wp-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut store, d) = pos_core::demo::seed(&dir.join("s.sqlite")).unwrap();
    let id = d.item("COF-LAT").unwrap();
    item.get_or_insert(store.get::<pos_core::catalog::Item>(id).unwrap());
    let item = item.unwrap();
    let mut totals = [0u128; 7];
    let rounds = 200;
    for _ in 0..rounds {
        let mut am = AutoCommit::new();
        let mut sale =
            Sale::open(SaleKind::Quick, &settings, None, None, Uuid::now_v7(), 0).unwrap();
        let mut json = AnyDoc::Sale(sale.clone()).to_json();
        AnyDoc::Sale(sale.clone())
            .write_into(&mut am, &serde_json::json!({}))
            .unwrap();
        am.commit();
        for _ in 0..10 {
            let before = am.get_heads();
            sale.add_line(
                id,
                &item,
                Uuid::now_v7(),
                &settings,
                1,
                &[],
                1,
                Uuid::now_v7(),
            )
            .unwrap();
            let any = sale.clone().into_any();
            let t = Instant::now();
            any.write_into(&mut am, &json).unwrap();
            json = any.to_json();
            totals[0] += t.elapsed().as_nanos();
            let t = Instant::now();
            am.commit();
            totals[1] += t.elapsed().as_nanos();
            let t = Instant::now();
            let after = am.get_heads();
            let p = am.diff(&before, &after);
            totals[2] += t.elapsed().as_nanos();
            let t = Instant::now();
            let c = am.get_last_local_change().unwrap();
            let _ = c.raw_bytes().len();
            totals[3] += t.elapsed().as_nanos();
            let t = Instant::now();
            let _h = AnyDoc::hydrate(DocType::Sale, &am).unwrap();
            totals[4] += t.elapsed().as_nanos();
            let t = Instant::now();
            let _j = any.to_json();
            totals[5] += t.elapsed().as_nanos();
            assert!(!p.is_empty());
        }
        let t = Instant::now();
        let _ = am.save();
        totals[6] += t.elapsed().as_nanos();
    }
    let n = (rounds * 10) as u128;
    let names = [
        "reconcile",
        "commit",
        "heads+diff",
        "last change",
        "hydrate",
        "to_json",
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<12} {:>8.1} µs per write",
            totals[i] as f64 / n as f64 / 1000.0
        );
    }
    println!(
        "save          {:>8.1} µs per 10-line sale",
        totals[6] as f64 / rounds as f64 / 1000.0
    );
    std::fs::remove_dir_all(&dir).ok();
}
