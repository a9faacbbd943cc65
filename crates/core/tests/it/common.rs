//! Helpers that state the intent of a test.

use pos_core::demo::{self, Demo};
use pos_core::money::{Currency, Money};
use pos_core::store::Store;
use tempfile::TempDir;

/// A freshly seeded demo store in its own temporary folder (removed when dropped).
pub struct Fixture {
    pub dir: TempDir,
    pub store: Store,
    pub demo: Demo,
}

pub fn demo_store() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, demo) = demo::seed(&dir.path().join("store.sqlite")).expect("seed demo store");
    Fixture { dir, store, demo }
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").expect("EUR"))
}

use pos_core::catalog::{Item, StoreSettings};
use pos_core::money::TaxMode;
use pos_core::sale::{Sale, SaleKind};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A plain item priced `price` in the demo's currency.
pub fn item(name: &str, price: i64, tax_class: &str, station: Option<&str>) -> Item {
    Item {
        sku: name.to_uppercase().replace(' ', "-"),
        name: name.into(),
        category_id: None,
        currency: "EUR".into(),
        price,
        store_prices: BTreeMap::new(),
        tax_class: tax_class.into(),
        station: station.map(Into::into),
        track_stock: true,
        low_stock_threshold: 2,
        barcodes: vec![],
        modifier_groups: BTreeMap::new(),
        active: true,
    }
}

/// Demo settings with the given tax mode.
pub fn settings(mode: TaxMode) -> StoreSettings {
    let mut s = pos_core::demo::settings();
    s.tax_mode = mode;
    s
}

/// An open quick sale under `settings`.
pub fn open_sale(settings: &StoreSettings) -> Sale {
    Sale::open(SaleKind::Quick, settings, None, None, Uuid::now_v7(), 1_000).expect("open sale")
}

/// Adds `qty` of `item` to `sale` (no modifiers, course 1); returns the line id.
pub fn add(sale: &mut Sale, item: &Item, qty: i64, settings: &StoreSettings) -> String {
    sale.add_line(
        Uuid::now_v7(),
        item,
        Uuid::now_v7(),
        settings,
        qty,
        &[],
        1,
        Uuid::now_v7(),
    )
    .expect("add line")
}
