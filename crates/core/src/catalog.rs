//! The catalog: items, barcodes, modifier groups, categories, and the store's settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::money::{check_tax_rate, BasisPoints, Currency, MoneyError, TaxMode};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CatalogError {
    #[error("invalid barcode {code:?}: {reason}")]
    InvalidBarcode { code: String, reason: &'static str },
    #[error("unknown barcode {0:?}")]
    UnknownBarcode(String),
    #[error("unknown item {0}")]
    UnknownItem(String),
    #[error("item name must not be empty")]
    EmptyName,
    #[error("sku must be 1 to 64 printable characters, got {0:?}")]
    InvalidSku(String),
    #[error("price must not be negative, got {0}")]
    NegativePrice(i64),
    #[error("low-stock threshold must not be negative, got {0}")]
    NegativeThreshold(i64),
    #[error("unknown tax class {0:?}")]
    UnknownTaxClass(String),
    #[error("modifier group {group:?}: min {min} and max {max} are inconsistent")]
    ModifierBounds { group: String, min: i64, max: i64 },
    #[error("store code must be 1 to 8 letters or digits, got {0:?}")]
    InvalidStoreCode(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

/// Kinds of barcode the scanner may type, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarcodeKind {
    Ean13,
    UpcA,
    Ean8,
    /// An in-store code (not GTIN): letters, digits and dashes, not checked further.
    Internal,
}

fn gtin_check_digit_ok(digits: &[u8]) -> bool {
    // GS1: from the right, excluding the check digit, weights alternate 3, 1, 3, ...
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check[0])
}

/// Validates a barcode. All-digit codes of length 8, 12 or 13 must carry a valid GS1 check
/// digit (EAN-8, UPC-A, EAN-13); other all-digit lengths are refused.
pub fn validate_barcode(code: &str) -> Result<BarcodeKind, CatalogError> {
    let bad = |reason| CatalogError::InvalidBarcode {
        code: code.to_string(),
        reason,
    };
    if code.is_empty() || code.len() > 32 {
        return Err(bad("length must be 1 to 32"));
    }
    if code.bytes().all(|b| b.is_ascii_digit()) {
        let digits: Vec<u8> = code.bytes().map(|b| b - b'0').collect();
        let kind = match digits.len() {
            13 => BarcodeKind::Ean13,
            12 => BarcodeKind::UpcA,
            8 => BarcodeKind::Ean8,
            _ => return Err(bad("a numeric code must be EAN-8, UPC-A or EAN-13")),
        };
        if !gtin_check_digit_ok(&digits) {
            return Err(bad("check digit does not match"));
        }
        return Ok(kind);
    }
    if code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(BarcodeKind::Internal)
    } else {
        Err(bad("only letters, digits and '-' are allowed"))
    }
}

/// Computes the GS1 check digit for a body of 7, 11 or 12 digits (demo data, tests).
pub fn gtin_with_check_digit(body: &str) -> Result<String, CatalogError> {
    if !body.bytes().all(|b| b.is_ascii_digit()) || ![7, 11, 12].contains(&body.len()) {
        return Err(CatalogError::InvalidBarcode {
            code: body.to_string(),
            reason: "body must be 7, 11 or 12 digits",
        });
    }
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    Ok(format!("{body}{}", (10 - sum % 10) % 10))
}

/// One option of a modifier group ("oat milk", +0.40).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Modifier {
    pub name: String,
    /// Price delta per unit, in minor units; may be negative ("no cheese").
    pub price_delta: i64,
    pub pos: i64,
}

/// A group of modifiers on an item ("Milk": choose 0 to 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ModifierGroup {
    pub name: String,
    pub min: i64,
    pub max: i64,
    pub pos: i64,
    pub options: BTreeMap<String, Modifier>,
}

/// A catalog item. A tenant-wide document: head office publishes it to every store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub category_id: Option<String>,
    pub currency: String,
    /// Default price in minor units, tax-inclusive or exclusive per the store's tax mode.
    pub price: i64,
    /// Per-store prices (store id → minor units) that override `price`.
    pub store_prices: BTreeMap<String, i64>,
    pub tax_class: String,
    /// Kitchen station this item is routed to when fired (`None`: not a kitchen item).
    pub station: Option<String>,
    pub track_stock: bool,
    pub low_stock_threshold: i64,
    pub barcodes: Vec<String>,
    pub modifier_groups: BTreeMap<String, ModifierGroup>,
    pub active: bool,
}

impl Item {
    /// Validates the item's own fields. Called by every write of an item.
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.name.trim().is_empty() {
            return Err(CatalogError::EmptyName);
        }
        if self.sku.is_empty()
            || self.sku.len() > 64
            || self
                .sku
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(CatalogError::InvalidSku(self.sku.clone()));
        }
        Currency::from_code(&self.currency)?;
        if self.price < 0 {
            return Err(CatalogError::NegativePrice(self.price));
        }
        if let Some(p) = self.store_prices.values().find(|p| **p < 0) {
            return Err(CatalogError::NegativePrice(*p));
        }
        if self.low_stock_threshold < 0 {
            return Err(CatalogError::NegativeThreshold(self.low_stock_threshold));
        }
        for b in &self.barcodes {
            validate_barcode(b)?;
        }
        for g in self.modifier_groups.values() {
            if g.min < 0 || g.max < g.min || g.max > g.options.len() as i64 {
                return Err(CatalogError::ModifierBounds {
                    group: g.name.clone(),
                    min: g.min,
                    max: g.max,
                });
            }
        }
        Ok(())
    }

    /// The price in a given store: its store price if one is set, else the default.
    pub fn price_in(&self, store_id: Uuid) -> i64 {
        self.store_prices
            .get(&store_id.to_string())
            .copied()
            .unwrap_or(self.price)
    }

    /// Finds a modifier option by group and option key.
    pub fn modifier(&self, group: &str, option: &str) -> Option<&Modifier> {
        self.modifier_groups.get(group)?.options.get(option)
    }
}

/// A catalog category (tenant-wide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Category {
    pub name: String,
    pub pos: i64,
    /// A colour for the POS grid, `#rrggbb`.
    pub color: String,
}

/// A store's settings (store-scoped document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSettings {
    pub name: String,
    /// Short code printed in receipt numbers, e.g. `S01`.
    pub code: String,
    pub address: String,
    pub tax_id: String,
    pub currency: String,
    pub tax_mode: TaxMode,
    /// Tax class → rate in basis points.
    pub tax_rates: BTreeMap<String, i64>,
    /// A discount above this share of the amount needs `discount.override`.
    pub discount_threshold_bp: i64,
    pub receipt_header: String,
    pub receipt_footer: String,
    /// A quick-service (counter) sale sends its unsent kitchen lines to their stations when it
    /// is paid; a table's lines go only when fired. On unless the store turns it off (a store
    /// whose documents predate the setting has it on).
    #[serde(default = "yes")]
    pub send_to_kitchen_on_pay: bool,
    /// The store's IANA time zone (`Europe/Paris`): receipts, X/Z reports and head office's
    /// reports show its local time ([`crate::calendar`]). `UTC` for settings written before it.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    /// Local time the business day starts, `HH:MM` on a quarter hour (`04:00` for a bar open
    /// past midnight). `00:00` for settings written before it.
    #[serde(default = "default_day_start")]
    pub business_day_start: String,
}

fn yes() -> bool {
    true
}

fn default_zone() -> String {
    crate::calendar::DEFAULT_ZONE.into()
}

fn default_day_start() -> String {
    crate::calendar::DEFAULT_DAY_START.into()
}

impl StoreSettings {
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.name.trim().is_empty() {
            return Err(CatalogError::EmptyName);
        }
        if self.code.is_empty()
            || self.code.len() > 8
            || !self.code.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(CatalogError::InvalidStoreCode(self.code.clone()));
        }
        Currency::from_code(&self.currency)?;
        for bp in self.tax_rates.values() {
            check_tax_rate(*bp)?;
        }
        check_tax_rate(self.discount_threshold_bp)?;
        self.clock()?;
        Ok(())
    }

    /// The store's clock: its zone and business day.
    pub fn clock(&self) -> Result<crate::calendar::StoreClock, CatalogError> {
        Ok(crate::calendar::StoreClock::new(
            &self.time_zone,
            &self.business_day_start,
        )?)
    }

    pub fn currency(&self) -> Result<Currency, CatalogError> {
        Ok(Currency::from_code(&self.currency)?)
    }

    pub fn tax_rate(&self, class: &str) -> Result<BasisPoints, CatalogError> {
        self.tax_rates
            .get(class)
            .copied()
            .ok_or_else(|| CatalogError::UnknownTaxClass(class.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ean13_check_digit() {
        assert_eq!(validate_barcode("4006381333931"), Ok(BarcodeKind::Ean13));
        assert!(matches!(
            validate_barcode("4006381333932"),
            Err(CatalogError::InvalidBarcode { .. })
        ));
        assert_eq!(
            gtin_with_check_digit("400638133393").unwrap(),
            "4006381333931"
        );
    }

    #[test]
    fn upca_check_digit() {
        assert_eq!(validate_barcode("036000291452"), Ok(BarcodeKind::UpcA));
        assert!(validate_barcode("036000291453").is_err());
        assert_eq!(
            gtin_with_check_digit("03600029145").unwrap(),
            "036000291452"
        );
    }

    #[test]
    fn ean8_and_odd_lengths() {
        assert_eq!(validate_barcode("96385074"), Ok(BarcodeKind::Ean8));
        assert!(validate_barcode("12345").is_err());
        assert!(validate_barcode("").is_err());
        assert_eq!(validate_barcode("SHELF-12"), Ok(BarcodeKind::Internal));
        assert!(validate_barcode("bad code").is_err());
        assert!(gtin_with_check_digit("12ab").is_err());
    }

    fn item() -> Item {
        Item {
            sku: "LAT-001".into(),
            name: "Latte".into(),
            category_id: None,
            currency: "EUR".into(),
            price: 350,
            store_prices: BTreeMap::new(),
            tax_class: "standard".into(),
            station: Some("bar".into()),
            track_stock: false,
            low_stock_threshold: 0,
            barcodes: vec!["4006381333931".into()],
            modifier_groups: BTreeMap::new(),
            active: true,
        }
    }

    #[test]
    fn item_validation() {
        assert_eq!(item().validate(), Ok(()));
        let mut i = item();
        i.price = -1;
        assert_eq!(i.validate(), Err(CatalogError::NegativePrice(-1)));
        let mut i = item();
        i.barcodes.push("4006381333932".into());
        assert!(matches!(
            i.validate(),
            Err(CatalogError::InvalidBarcode { .. })
        ));
        let mut i = item();
        i.name = "  ".into();
        assert_eq!(i.validate(), Err(CatalogError::EmptyName));
        let mut i = item();
        i.sku = "has space".into();
        assert!(matches!(i.validate(), Err(CatalogError::InvalidSku(_))));
        let mut i = item();
        i.currency = "EUX".into();
        assert!(matches!(i.validate(), Err(CatalogError::Money(_))));
    }

    #[test]
    fn store_price_overrides_default() {
        let store = Uuid::now_v7();
        let mut i = item();
        assert_eq!(i.price_in(store), 350);
        i.store_prices.insert(store.to_string(), 390);
        assert_eq!(i.price_in(store), 390);
        assert_eq!(i.price_in(Uuid::now_v7()), 350);
    }
}
