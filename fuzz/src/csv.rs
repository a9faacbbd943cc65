//! `catalog_csv`: an uploaded catalog file, through `pos_core::import::parse_items_csv` as both
//! the server's import route and the till's import read it (bytes that are not UTF-8 are
//! refused before, by both).

use std::collections::BTreeSet;

use pos_core::import::{parse_items_csv, ImportError, MAX_IMPORT_LINES};
use pos_core::money::Currency;

/// The store's tax classes and categories the file is checked against.
pub const TAX_CLASSES: [&str; 3] = ["standard", "reduced", "zero"];
pub const CATEGORIES: [&str; 3] = ["Coffee", "Bakery", "Retail"];

/// Parses `data` as a catalog file; checks that a file is taken whole or refused with every
/// wrong line named once, in order, and that every item taken is one the catalog accepts.
pub fn catalog_csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let classes: Vec<String> = TAX_CLASSES.iter().map(|s| s.to_string()).collect();
    let categories: Vec<String> = CATEGORIES.iter().map(|s| s.to_string()).collect();
    let eur = Currency::from_code("EUR").expect("EUR");
    match parse_items_csv(text, eur, &classes, &categories) {
        Ok(rows) => {
            assert!(rows.len() <= MAX_IMPORT_LINES);
            let mut skus = BTreeSet::new();
            let mut last = 1;
            for r in &rows {
                assert!(r.line > last, "lines in order, after the header: {rows:?}");
                last = r.line;
                assert!(skus.insert(&r.item.sku), "sku {:?} twice", r.item.sku);
                r.item.validate().expect("an imported item is a valid item");
                assert_eq!(r.item.currency, "EUR");
                assert!(classes.contains(&r.item.tax_class));
                if let Some(c) = &r.category {
                    assert!(categories.iter().any(|k| k.eq_ignore_ascii_case(c)));
                }
            }
        }
        Err(ImportError::BadLines(errors)) => {
            assert!(!errors.is_empty(), "refused with no line named");
            for w in errors.windows(2) {
                assert!(w[0].line < w[1].line, "each wrong line once, in order");
            }
        }
        Err(_) => {}
    }
}
