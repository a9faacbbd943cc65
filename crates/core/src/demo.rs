//! A seeded demo store: a café with a kitchen and a small retail shelf. Used by the README's run
//! command, the desktop app's standalone demo mode, the tests and the benchmarks.

use std::collections::BTreeMap;
use std::path::Path;

use uuid::Uuid;

use crate::auth::{Actor, Role};
use crate::catalog::{
    gtin_with_check_digit, Category, Item, Modifier, ModifierGroup, StoreSettings,
};
use crate::money::TaxMode;
use crate::store::{DeviceIdentity, StockInput, Store, StoreError};

/// The demo's staff: `(name, role, PIN)`. PINs are for the demo only.
pub const STAFF: &[(&str, Role, &str)] = &[
    ("Olivia Owner", Role::Owner, "1111"),
    ("Maria Manager", Role::Manager, "2222"),
    ("Carl Cashier", Role::Cashier, "3333"),
    ("Kim Kitchen", Role::Kitchen, "4444"),
];

/// Ids of what the demo seeded.
#[derive(Debug, Clone)]
pub struct Demo {
    pub owner: Actor,
    pub manager: Actor,
    pub cashier: Actor,
    pub kitchen: Actor,
    /// Item ids by SKU.
    pub items: BTreeMap<String, Uuid>,
    /// Barcodes by SKU.
    pub barcodes: BTreeMap<String, String>,
}

impl Demo {
    /// The id of a seeded item.
    pub fn item(&self, sku: &str) -> Result<Uuid, StoreError> {
        self.items
            .get(sku)
            .copied()
            .ok_or_else(|| crate::catalog::CatalogError::UnknownItem(sku.to_string()).into())
    }
}

/// The demo store's settings.
pub fn settings() -> StoreSettings {
    StoreSettings {
        name: "Café Demo".into(),
        code: "S01".into(),
        address: "1 Market Square, Springfield".into(),
        tax_id: "VAT DE123456789".into(),
        currency: "EUR".into(),
        tax_mode: TaxMode::Inclusive,
        tax_rates: BTreeMap::from([
            ("standard".into(), 1900),
            ("reduced".into(), 700),
            ("zero".into(), 0),
        ]),
        discount_threshold_bp: 2000,
        receipt_header: "Thank you for visiting!".into(),
        receipt_footer: "Returns within 30 days with receipt.".into(),
        send_to_kitchen_on_pay: true,
        time_zone: "Europe/Berlin".into(),
        business_day_start: "04:00".into(),
    }
}

fn milk_and_size() -> BTreeMap<String, ModifierGroup> {
    let opt = |name: &str, delta: i64, pos: i64| Modifier {
        name: name.into(),
        price_delta: delta,
        pos,
    };
    BTreeMap::from([
        (
            "milk".into(),
            ModifierGroup {
                name: "Milk".into(),
                min: 0,
                max: 1,
                pos: 1,
                options: BTreeMap::from([
                    ("oat".into(), opt("Oat milk", 40, 1)),
                    ("soy".into(), opt("Soy milk", 40, 2)),
                ]),
            },
        ),
        (
            "size".into(),
            ModifierGroup {
                name: "Size".into(),
                min: 0,
                max: 1,
                pos: 2,
                options: BTreeMap::from([("large".into(), opt("Large", 60, 1))]),
            },
        ),
    ])
}

/// `(sku, name, category, price, tax class, station, tracked, low-stock threshold, modifiers)`
type Row = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static str,
    Option<&'static str>,
    bool,
    i64,
    bool,
);

const CATALOG: &[Row] = &[
    (
        "COF-ESP",
        "Espresso",
        "Coffee",
        220,
        "reduced",
        Some("bar"),
        false,
        0,
        true,
    ),
    (
        "COF-LAT",
        "Latte",
        "Coffee",
        350,
        "reduced",
        Some("bar"),
        false,
        0,
        true,
    ),
    (
        "COF-CAP",
        "Cappuccino",
        "Coffee",
        330,
        "reduced",
        Some("bar"),
        false,
        0,
        true,
    ),
    (
        "TEA-GRN",
        "Green tea",
        "Coffee",
        280,
        "reduced",
        Some("bar"),
        false,
        0,
        false,
    ),
    (
        "BAK-CRO",
        "Croissant",
        "Bakery",
        250,
        "reduced",
        None,
        true,
        10,
        false,
    ),
    (
        "BAK-MUF",
        "Blueberry muffin",
        "Bakery",
        290,
        "reduced",
        None,
        true,
        6,
        false,
    ),
    (
        "KIT-BUR",
        "Cheeseburger",
        "Kitchen",
        1290,
        "standard",
        Some("grill"),
        false,
        0,
        false,
    ),
    (
        "KIT-SAL",
        "Caesar salad",
        "Kitchen",
        990,
        "standard",
        Some("cold"),
        false,
        0,
        false,
    ),
    (
        "KIT-FRI",
        "Fries",
        "Kitchen",
        450,
        "standard",
        Some("grill"),
        false,
        0,
        false,
    ),
    (
        "KIT-CAK",
        "Cheesecake",
        "Kitchen",
        590,
        "standard",
        Some("cold"),
        false,
        0,
        false,
    ),
    (
        "RET-BEA",
        "Coffee beans 500 g",
        "Retail",
        1490,
        "reduced",
        None,
        true,
        5,
        false,
    ),
    (
        "RET-MUG",
        "Café Demo mug",
        "Retail",
        1200,
        "standard",
        None,
        true,
        3,
        false,
    ),
];

/// Seeds a new demo store at `path`, with a new tenant, store and device: settings, staff,
/// categories, items and opening stock.
pub fn seed(path: &Path) -> Result<(Store, Demo), StoreError> {
    let identity = DeviceIdentity {
        tenant_id: Uuid::now_v7(),
        store_id: Uuid::now_v7(),
        device_id: Uuid::now_v7(),
        store_code: "S01".into(),
        device_code: "T1".into(),
        kind: crate::auth::DeviceKind::Till,
    };
    let mut store = Store::create(path, identity)?;
    let demo = seed_store(&mut store)?;
    Ok((store, demo))
}

/// Seeds an empty store (of any identity) with the demo's staff, settings, catalog and stock.
pub fn seed_store(store: &mut Store) -> Result<Demo, StoreError> {
    let mut ids = Vec::new();
    for (name, role, pin) in STAFF {
        let id = Uuid::now_v7();
        store.upsert_staff(id, name, *role, None)?;
        store.set_pin(id, pin)?;
        ids.push(store.actor(id)?);
    }
    let owner = ids[0];
    store.save_settings(&owner, settings())?;
    let (items, barcodes) = seed_catalog(store, &owner, &ids[1])?;
    Ok(Demo {
        owner,
        manager: ids[1],
        cashier: ids[2],
        kitchen: ids[3],
        items,
        barcodes,
    })
}

/// Item ids and barcodes by SKU.
pub type Catalog = (BTreeMap<String, Uuid>, BTreeMap<String, String>);

/// Creates the demo's categories and items (as `owner`) and receives the opening stock (as
/// `manager`), in a store whose settings and staff exist already (locally or from a server).
pub fn seed_catalog(
    store: &mut Store,
    owner: &Actor,
    manager: &Actor,
) -> Result<Catalog, StoreError> {
    let mut categories = BTreeMap::new();
    for (pos, (name, color)) in [
        ("Coffee", "#8d6e63"),
        ("Bakery", "#f9a825"),
        ("Kitchen", "#e53935"),
        ("Retail", "#3949ab"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = store.create_category(
            owner,
            Category {
                name: name.into(),
                pos: pos as i64,
                color: color.into(),
            },
        )?;
        categories.insert(name, id);
    }
    let mut items = BTreeMap::new();
    let mut barcodes = BTreeMap::new();
    for (n, (sku, name, cat, price, tax, station, tracked, low, mods)) in CATALOG.iter().enumerate()
    {
        let barcode = gtin_with_check_digit(&format!("400000000{:03}", n + 1))?;
        let item = Item {
            sku: (*sku).into(),
            name: (*name).into(),
            category_id: categories.get(cat).map(|c| c.to_string()),
            currency: "EUR".into(),
            price: *price,
            store_prices: BTreeMap::new(),
            tax_class: (*tax).into(),
            station: station.map(Into::into),
            track_stock: *tracked,
            low_stock_threshold: *low,
            barcodes: vec![barcode.clone()],
            modifier_groups: if *mods {
                milk_and_size()
            } else {
                BTreeMap::new()
            },
            active: true,
        };
        items.insert((*sku).to_string(), store.create_item(owner, item)?);
        barcodes.insert((*sku).to_string(), barcode);
    }
    let item = |sku: &str| {
        items.get(sku).copied().ok_or_else(|| {
            StoreError::from(crate::catalog::CatalogError::UnknownItem(sku.to_string()))
        })
    };
    // Opening stock, as a delivery from the wholesaler.
    let opening: Vec<StockInput> = [
        ("BAK-CRO", 24, 60),
        ("BAK-MUF", 12, 80),
        ("RET-BEA", 8, 750),
        ("RET-MUG", 6, 400),
    ]
    .iter()
    .map(|(sku, qty, cost)| {
        Ok(StockInput {
            item_id: item(sku)?,
            qty: *qty,
            unit_cost: Some(*cost),
        })
    })
    .collect::<Result<_, StoreError>>()?;
    store.receive_stock(manager, "WHOLESALE-0001", &opening)?;
    Ok((items, barcodes))
}
