//! Catalog import from CSV: a head office or a manager loads a price list of thousands of
//! items at once.
//!
//! The file is checked whole before anything is written: every bad line is reported with its
//! number and reason, and then nothing is imported. A good file is written in chunks through the
//! store's one write path (the policy runs on every item), creating items by SKU or updating the
//! item that already has that SKU, so importing the same file twice changes nothing.
//!
//! Columns (a header line names them, in any order; `sku`, `name` and `price` are required):
//! `sku, name, price, tax_class, category, barcodes, station, track_stock, low_stock_threshold,
//! active`. `price` is a decimal amount in the store's currency (`3.50`); `barcodes` are separated
//! by spaces; `category` is a category name of the store (an unknown name is an error);
//! `track_stock` and `active` are `yes`/`no` (or `true`/`false`, `1`/`0`).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::catalog::{validate_barcode, CatalogError, Item};
use crate::money::{Currency, Money};

/// The most lines one import takes.
pub const MAX_IMPORT_LINES: usize = 100_000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the file is empty")]
    Empty,
    #[error("the header lacks the column {0:?} (sku, name and price are required)")]
    MissingColumn(&'static str),
    #[error("unknown column {0:?} in the header")]
    UnknownColumn(String),
    #[error("the file has {0} lines; at most {MAX_IMPORT_LINES} per import")]
    TooLong(usize),
    #[error("{} line(s) are wrong; nothing was imported", .0.len())]
    BadLines(Vec<LineError>),
}

/// One wrong line: its number in the file (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// A line of the file, checked: the item to write, and its category's name (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub line: usize,
    pub item: Item,
    pub category: Option<String>,
}

const COLUMNS: [&str; 10] = [
    "sku",
    "name",
    "price",
    "tax_class",
    "category",
    "barcodes",
    "station",
    "track_stock",
    "low_stock_threshold",
    "active",
];

/// Splits one CSV line into fields: commas, double-quoted fields with `""` for a quote.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(cur);
    Ok(fields.into_iter().map(|f| f.trim().to_string()).collect())
}

fn yes_no(v: &str, column: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err(format!("{column} must be yes or no, not {v:?}")),
    }
}

/// Checks a whole file. `tax_classes` are the store's; `categories` its category names.
pub fn parse_items_csv(
    text: &str,
    currency: Currency,
    tax_classes: &[String],
    categories: &[String],
) -> Result<Vec<ImportRow>, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or(ImportError::Empty)?;
    let header: Vec<String> = split_line(header)
        .map_err(|_| ImportError::UnknownColumn(header.to_string()))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(ImportError::UnknownColumn(h.clone()));
        }
    }
    for required in ["sku", "name", "price"] {
        if !header.iter().any(|h| h == required) {
            return Err(ImportError::MissingColumn(required));
        }
    }
    let body: Vec<(usize, &str)> = lines.collect();
    if body.len() > MAX_IMPORT_LINES {
        return Err(ImportError::TooLong(body.len()));
    }
    let mut rows = Vec::with_capacity(body.len());
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in body {
        match parse_row(n, line, &header, currency, tax_classes, categories) {
            Ok(row) => match seen.insert(row.item.sku.clone(), n) {
                Some(first) => errors.push(LineError {
                    line: n,
                    message: format!("sku {:?} is already on line {first}", row.item.sku),
                }),
                None => rows.push(row),
            },
            Err(message) => errors.push(LineError { line: n, message }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::BadLines(errors))
    }
}

fn parse_row(
    n: usize,
    line: &str,
    header: &[String],
    currency: Currency,
    tax_classes: &[String],
    categories: &[String],
) -> Result<ImportRow, String> {
    let fields = split_line(line)?;
    if fields.len() != header.len() {
        return Err(format!(
            "{} fields, the header has {}",
            fields.len(),
            header.len()
        ));
    }
    let get = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| fields[i].as_str())
            .filter(|v| !v.is_empty())
    };
    let price = get("price").ok_or("price is empty")?;
    let price = Money::parse(price, currency)
        .map_err(|e| format!("price {price:?}: {e}"))?
        .minor;
    let tax_class = get("tax_class").unwrap_or("standard").to_string();
    if !tax_classes.contains(&tax_class) {
        return Err(format!(
            "tax class {tax_class:?} is not one of this store's ({})",
            tax_classes.join(", ")
        ));
    }
    let category = get("category").map(str::to_string);
    if let Some(c) = &category {
        if !categories.iter().any(|k| k.eq_ignore_ascii_case(c)) {
            return Err(format!("no category named {c:?}"));
        }
    }
    let barcodes: Vec<String> = get("barcodes")
        .map(|b| b.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    for b in &barcodes {
        validate_barcode(b).map_err(|e| e.to_string())?;
    }
    let low_stock_threshold = match get("low_stock_threshold") {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| format!("low_stock_threshold must be a whole number, not {v:?}"))?,
        None => 0,
    };
    let item = Item {
        sku: get("sku").unwrap_or_default().to_string(),
        name: get("name").unwrap_or_default().to_string(),
        category_id: None,
        currency: currency.code().to_string(),
        price,
        store_prices: BTreeMap::new(),
        tax_class,
        station: get("station").map(str::to_string),
        track_stock: get("track_stock")
            .map(|v| yes_no(v, "track_stock"))
            .transpose()?
            .unwrap_or(false),
        low_stock_threshold,
        barcodes,
        modifier_groups: BTreeMap::new(),
        active: get("active")
            .map(|v| yes_no(v, "active"))
            .transpose()?
            .unwrap_or(true),
    };
    item.validate().map_err(|e: CatalogError| e.to_string())?;
    Ok(ImportRow {
        line: n,
        item,
        category,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::from_code("EUR").unwrap()
    }
    fn classes() -> Vec<String> {
        vec!["standard".into(), "reduced".into()]
    }

    #[test]
    fn a_good_file_gives_its_items_in_order() {
        let csv = "\u{feff}sku,name,price,barcodes,track_stock,category\n\
                   LAT,Latte,3.50,,no,Coffee\n\
                   \"MUG-1\",\"Mug, \"\"large\"\"\",12,4006381333931,yes,\n";
        let rows = parse_items_csv(csv, eur(), &classes(), &["coffee".into()]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].item.price, 350);
        assert_eq!(rows[0].category.as_deref(), Some("Coffee"));
        assert_eq!(rows[1].item.name, "Mug, \"large\"");
        assert_eq!(rows[1].item.price, 1200);
        assert_eq!(rows[1].item.barcodes, ["4006381333931"]);
        assert!(rows[1].item.track_stock);
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let csv = "sku,name,price,tax_class\n\
                   A,Alpha,1.00,standard\n\
                   B,,1.00,standard\n\
                   C,Gamma,-1,standard\n\
                   D,Delta,1.00,luxury\n\
                   A,Again,2.00,standard\n\
                   E,Eps\n\
                   F,Phi,abc,standard\n";
        let Err(ImportError::BadLines(errors)) = parse_items_csv(csv, eur(), &classes(), &[])
        else {
            panic!("expected bad lines");
        };
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8], "{errors:?}");
        assert!(
            errors[3].message.contains("already on line 2"),
            "{errors:?}"
        );
        assert!(errors[2].message.contains("luxury"), "{errors:?}");
    }

    #[test]
    fn the_header_must_name_known_columns_and_the_required_ones() {
        assert_eq!(
            parse_items_csv("sku,name\nA,B\n", eur(), &classes(), &[]),
            Err(ImportError::MissingColumn("price"))
        );
        assert_eq!(
            parse_items_csv("sku,name,price,colour\n", eur(), &classes(), &[]),
            Err(ImportError::UnknownColumn("colour".into()))
        );
        assert_eq!(
            parse_items_csv("  \n", eur(), &classes(), &[]),
            Err(ImportError::Empty)
        );
        assert!(matches!(
            parse_items_csv("sku,name,price\n\"A,B,1\n", eur(), &classes(), &[]),
            Err(ImportError::BadLines(e)) if e[0].message.contains("not closed")
        ));
    }
}
