//! A till in a few lines, for the head-office console's end-to-end test (console/e2e/run.mjs):
//! enrols with a one-time code over HTTP (`pos_sync::http::enrol`, then a bootstrap, as
//! `e2e::TestDevice` does), opens a shift, sells one known sale (items by SKU, paid by card),
//! syncs it to the server, and prints what it sold as one JSON line.
//!
//! ```sh
//! cargo run -p e2e --example sell -- --server http://127.0.0.1:8080 --code ABCDE-FGHJK \
//!     --user <staff user id> --dir /tmp/till --item LAT:2 --item MUF:1
//! ```

use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};

fn arg(args: &[String], name: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

fn one(args: &[String], name: &str) -> String {
    arg(args, name)
        .pop()
        .unwrap_or_else(|| panic!("{name} is required"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let server = one(&args, "--server");
    let code = one(&args, "--code");
    let user: uuid::Uuid = one(&args, "--user").parse().expect("--user is a user id");
    let dir = std::path::PathBuf::from(one(&args, "--dir"));
    std::fs::create_dir_all(&dir).expect("--dir");
    let mut till = e2e::TestDevice::enrol(&server, &code, &dir, "till");
    let s = &mut till.store;
    let a = s.actor(user).expect("the user is staff of the store");
    s.open_shift(&a, 10_000).expect("open shift");
    let sale = s.open_sale(&a, None).expect("open sale");
    for spec in arg(&args, "--item") {
        let (sku, qty) = spec.split_once(':').unwrap_or((&spec, "1"));
        let item = s
            .search_items(sku, 10)
            .expect("search")
            .into_iter()
            .find(|i| i.sku == sku)
            .unwrap_or_else(|| panic!("no item {sku} on the till"));
        s.add_item(&a, sale, item.id, qty.parse().expect("quantity"), &[], 1)
            .expect("add item");
    }
    let totals = s.get::<Sale>(sale).expect("sale").totals().expect("totals");
    let currency =
        Currency::from_code(&s.settings().expect("settings").currency).expect("currency");
    s.pay(
        &a,
        sale,
        Tender::Card,
        Money::new(totals.total, currency),
        Some("E2E".into()),
    )
    .expect("pay");
    let receipt = s
        .get::<Sale>(sale)
        .expect("sale")
        .receipt_no
        .unwrap_or_default();
    let report = till.sync().expect("sync");
    assert_eq!(report.rejected, 0, "the server accepted the sale");
    assert_eq!(
        till.store.outbox_len().expect("outbox"),
        0,
        "everything reached the server"
    );
    println!(
        "{}",
        serde_json::json!({
            "device_id": till.store.identity().device_id,
            "receipt_no": receipt,
            "total": totals.total,
            "tax": totals.tax,
            "pushed": report.pushed,
        })
    );
}
