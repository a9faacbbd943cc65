//! The sale lifecycle: open → (fire) → paid and closed, or voided before payment.
//!
//! A quick-service sale and a restaurant ticket (a table or a tab) are the same document; a
//! ticket just has a label and stays open, shared by the store's terminals, until it is paid.
//!
//! Totals are never stored: they are derived from the lines by [`Sale::totals`], so two
//! terminals editing one ticket cannot leave a stale total behind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::catalog::{CatalogError, Item, StoreSettings};
use crate::money::{
    allocate, apply_bp, tax_for_rate, BasisPoints, Currency, Money, MoneyError, TaxMode,
};

/// Milliseconds since the Unix epoch. Domain functions take the time as an argument.
pub type Timestamp = i64;

/// Largest quantity on one line; keeps every product far from i64 overflow.
pub const MAX_QTY: i64 = 1_000_000;
/// The highest course a line may be in.
pub const MAX_COURSE: i64 = 9;
/// The most guests a table may seat.
pub const MAX_GUESTS: i64 = 999;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaleError {
    #[error("sale is {0:?}, not open")]
    NotOpen(SaleStatus),
    #[error("quantity must be between 1 and {MAX_QTY}, got {0}")]
    BadQuantity(i64),
    #[error("unknown line {0}")]
    UnknownLine(String),
    #[error("item {0:?} is not active")]
    InactiveItem(String),
    #[error("item {item:?} is priced in {item_currency}, the sale is in {sale_currency}")]
    ItemCurrency {
        item: String,
        item_currency: String,
        sale_currency: String,
    },
    #[error("unknown modifier {group}/{option}")]
    UnknownModifier { group: String, option: String },
    #[error("modifier group {group:?} allows at most {max} choices")]
    TooManyModifiers { group: String, max: i64 },
    #[error("price must not be negative, got {0}")]
    NegativePrice(i64),
    #[error("percent discount must be 0 to 10000 bp, got {0}")]
    DiscountPercentOutOfRange(i64),
    #[error("discount {discount} exceeds the amount {amount}")]
    DiscountExceedsAmount { discount: i64, amount: i64 },
    #[error("line {0} was already fired to the kitchen; void it instead")]
    LineFired(String),
    #[error("payments were taken; lines and discounts can no longer change")]
    PaymentsTaken,
    #[error("nothing to fire")]
    NothingToFire,
    #[error("payment amount must be positive, got {0}")]
    NonPositivePayment(i64),
    #[error("a payment of zero records nothing")]
    ZeroPayment,
    #[error("nothing to hand back: the sale is not overpaid ({due} due)")]
    NothingToReturn { due: i64 },
    #[error("a returned payment of {returned} must hand back exactly the {overpaid} overpaid")]
    ReturnMismatch { returned: i64, overpaid: i64 },
    #[error("payment of {amount} exceeds the {due} due (only cash may be over-tendered)")]
    Overpayment { amount: i64, due: i64 },
    #[error("a card payment needs the terminal's reference")]
    MissingCardReference,
    #[error("an 'other' payment needs a label")]
    MissingTenderLabel,
    #[error("nothing is due")]
    NothingDue,
    #[error("{due} is still due")]
    NotFullyPaid { due: i64 },
    #[error("a sale needs at least one line")]
    Empty,
    #[error("a sale with payments cannot be voided")]
    VoidAfterPayment,
    #[error("a closed sale needs a receipt number")]
    MissingReceiptNumber,
    #[error("a course is 1 to {MAX_COURSE}, got {0}")]
    BadCourse(i64),
    #[error("guests must be 0 to {MAX_GUESTS}, got {0}")]
    BadGuests(i64),
    #[error("choose at least one line to move")]
    NothingToMove,
    #[error("the sale would be left with no line; pay it as it is")]
    MoveAll,
    #[error("line {line} has {has}, cannot move {asked}")]
    MoveTooMany { line: String, has: i64, asked: i64 },
    #[error("remove the order discount before splitting or merging")]
    MoveWithOrderDiscount,
    #[error("line {0} has a discount: move all of it, not part")]
    MovePartOfDiscountedLine(String),
    #[error("a sale cannot be merged into itself")]
    MergeIntoItself,
    #[error("table {0:?} is taken by another open ticket")]
    TableTaken(String),
    #[error("a table needs a name")]
    NoTableName,
    #[error("split into 1 to {MAX_PARTS} parts, got {0}")]
    BadParts(i64),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The most parts [`split_evenly`] divides an amount into.
pub const MAX_PARTS: i64 = 99;

/// `amount` in `parts` equal shares, in minor units: each share is `amount / parts` rounded
/// down, and the last share takes the remainder, so the shares add up to `amount` exactly.
/// Splitting a bill evenly is a sale paid in parts by partial payments (`Sale::add_payment`),
/// each of [`even_share`].
pub fn split_evenly(amount: i64, parts: i64) -> Result<Vec<i64>, SaleError> {
    if !(1..=MAX_PARTS).contains(&parts) {
        return Err(SaleError::BadParts(parts));
    }
    let share = amount.div_euclid(parts);
    let mut out = vec![share; parts as usize];
    if let Some(last) = out.last_mut() {
        *last = amount - share * (parts - 1);
    }
    Ok(out)
}

/// The next share when a sale of `total` is paid in `parts` equal shares and `due` is left:
/// `total / parts`, or all that is due when that is the last share (the rounding remainder).
/// Paying it again and again pays exactly [`split_evenly`]`(total, parts)`, whoever pays by
/// which tender; nothing is stored but the payments, so tills need agree on nothing else.
pub fn even_share(total: i64, due: i64, parts: i64) -> Result<i64, SaleError> {
    let shares = split_evenly(total, parts)?;
    let last = shares.last().copied().unwrap_or(total);
    Ok(if due <= last { due } else { shares[0] })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaleStatus {
    Open,
    Closed,
    Voided,
}

impl SaleStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SaleStatus::Open => "open",
            SaleStatus::Closed => "closed",
            SaleStatus::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaleKind {
    /// Counter service: open, pay, done.
    Quick,
    /// A table or tab that stays open across terminals.
    Ticket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscountKind {
    /// `value` in basis points of the amount.
    Percent,
    /// `value` in minor units.
    Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub kind: DiscountKind,
    pub value: i64,
    /// The user who approved a discount above the store's threshold (manager PIN).
    pub approved_by: Option<String>,
    pub reason: String,
}

impl Discount {
    pub fn percent(bp: BasisPoints) -> Discount {
        Discount {
            kind: DiscountKind::Percent,
            value: bp,
            approved_by: None,
            reason: String::new(),
        }
    }

    pub fn amount(minor: i64) -> Discount {
        Discount {
            kind: DiscountKind::Amount,
            value: minor,
            approved_by: None,
            reason: String::new(),
        }
    }

    pub fn approved_by(mut self, user: Uuid) -> Discount {
        self.approved_by = Some(user.to_string());
        self
    }

    /// The discount in minor units on `base`. Errors if it is out of range.
    pub fn amount_on(&self, base: i64) -> Result<i64, SaleError> {
        match self.kind {
            DiscountKind::Percent => {
                if !(0..=10_000).contains(&self.value) {
                    return Err(SaleError::DiscountPercentOutOfRange(self.value));
                }
                Ok(apply_bp(base, self.value)?)
            }
            DiscountKind::Amount => {
                if self.value < 0 || self.value > base.max(0) {
                    return Err(SaleError::DiscountExceedsAmount {
                        discount: self.value,
                        amount: base,
                    });
                }
                Ok(self.value)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tender {
    Cash,
    Card,
    Other,
}

impl Tender {
    pub fn as_str(&self) -> &'static str {
        match self {
            Tender::Cash => "cash",
            Tender::Card => "card",
            Tender::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub tender: Tender,
    /// What this payment settles, in minor units. Negative for money handed back when tills
    /// merged a sale into an overpaid one ([`Sale::return_overpayment`]).
    pub amount: i64,
    /// What the customer handed over (cash); equals `amount` for other tenders.
    pub tendered: i64,
    /// Change given back (cash only): `tendered - amount`.
    pub change: i64,
    /// The card terminal's reference.
    pub reference: Option<String>,
    /// A label for `Other` tenders (voucher, bank transfer, ...).
    pub label: Option<String>,
    pub at: Timestamp,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineModifier {
    pub group: String,
    pub option: String,
    pub name: String,
    pub price_delta: i64,
}

/// A line of a sale. Item data is copied in when the line is added, so the sale keeps the price
/// it was sold at whatever happens to the catalog later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    /// Display order (ties broken by line id).
    pub pos: i64,
    pub item_id: String,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub catalog_price: i64,
    /// A price override; needs `price.override`.
    pub price_override: Option<i64>,
    /// The manager whose PIN approved the override, when the seller may not override prices
    /// (`price.override`); the policy checks the approver's role for this line only. Absent in
    /// lines written before.
    #[serde(default)]
    pub price_override_by: Option<String>,
    pub tax_class: String,
    pub tax_rate_bp: i64,
    pub station: Option<String>,
    pub track_stock: bool,
    pub modifiers: Vec<LineModifier>,
    pub note: String,
    pub discount: Option<Discount>,
    pub course: i64,
    pub fired_at: Option<Timestamp>,
    pub added_by: String,
}

impl SaleLine {
    /// Unit price including modifiers.
    pub fn unit_price(&self) -> Result<i64, SaleError> {
        let base = self.price_override.unwrap_or(self.catalog_price);
        self.modifiers
            .iter()
            .try_fold(base, |acc, m| acc.checked_add(m.price_delta))
            .ok_or(SaleError::Money(MoneyError::Overflow))
    }

    /// Quantity × unit price.
    pub fn gross(&self) -> Result<i64, SaleError> {
        self.unit_price()?
            .checked_mul(self.qty)
            .ok_or(SaleError::Money(MoneyError::Overflow))
    }
}

/// The sale document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub kind: SaleKind,
    pub status: SaleStatus,
    pub currency: String,
    pub tax_mode: TaxMode,
    /// Table or tab label for tickets.
    pub ticket: Option<String>,
    pub opened_at: Timestamp,
    pub opened_by: String,
    pub shift_id: Option<String>,
    pub lines: BTreeMap<String, SaleLine>,
    pub order_discount: Option<Discount>,
    pub payments: BTreeMap<String, Payment>,
    pub receipt_no: Option<String>,
    pub closed_at: Option<Timestamp>,
    pub voided_at: Option<Timestamp>,
    pub void_reason: Option<String>,
    /// The manager who approved the void with their PIN, when the cashier may not void
    /// (`sale.void`); the policy checks the approver's role. Absent in sales written before.
    #[serde(default)]
    pub void_approved_by: Option<String>,
    /// How many guests sit at the table (0: not given). Absent in sales written before.
    #[serde(default)]
    pub guests: i64,
    /// The manager whose PIN approved the last split that took fired lines off this sale
    /// (`sale.void`, as removing a fired line), and when. The policy accepts it only in the
    /// change that writes it, so it approves that split and nothing after. Absent in sales
    /// written before.
    #[serde(default)]
    pub moves_approved: Option<MoveApproval>,
    /// The sale this one was merged into (`Store::merge_sales`), which voided this one: the
    /// kitchen shows this sale's tickets under that table. Absent in sales written before.
    #[serde(default)]
    pub merged_into: Option<String>,
}

/// A manager's approval of moving fired lines off a sale ([`Sale::moves_approved`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveApproval {
    pub by: String,
    pub at: Timestamp,
}

/// Per-line result of [`Sale::totals`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotal {
    pub line_id: String,
    pub gross: i64,
    pub line_discount: i64,
    pub order_discount: i64,
    /// `gross - line_discount - order_discount`: the line's share of the sale, before
    /// tax in exclusive mode, including tax in inclusive mode.
    pub total: i64,
    pub tax_rate_bp: i64,
}

/// Tax for one rate over the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TaxLine {
    pub rate_bp: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleTotals {
    pub lines: Vec<LineTotal>,
    /// Σ line gross (before any discount).
    pub subtotal: i64,
    pub line_discounts: i64,
    pub order_discount: i64,
    pub taxes: Vec<TaxLine>,
    pub tax: i64,
    /// What the customer owes.
    pub total: i64,
    pub paid: i64,
    pub change: i64,
    pub due: i64,
}

/// Tax per rate over `(rate, amount)` pairs, plus the grand total. Shared by sales and refunds.
pub fn tax_breakdown(
    amounts: impl IntoIterator<Item = (i64, i64)>,
    mode: TaxMode,
) -> Result<(Vec<TaxLine>, i64), SaleError> {
    let mut by_rate: BTreeMap<i64, i64> = BTreeMap::new();
    for (rate, amount) in amounts {
        let e = by_rate.entry(rate).or_insert(0);
        *e = e.checked_add(amount).ok_or(MoneyError::Overflow)?;
    }
    let mut taxes = Vec::with_capacity(by_rate.len());
    let mut total: i64 = 0;
    for (rate, amount) in by_rate {
        let (net, tax, gross) = tax_for_rate(amount, rate, mode)?;
        total = total.checked_add(gross).ok_or(MoneyError::Overflow)?;
        taxes.push(TaxLine {
            rate_bp: rate,
            net,
            tax,
            gross,
        });
    }
    Ok((taxes, total))
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

impl Sale {
    /// Opens a sale in the store's currency and tax mode.
    pub fn open(
        kind: SaleKind,
        settings: &StoreSettings,
        ticket: Option<String>,
        shift_id: Option<Uuid>,
        by: Uuid,
        now: Timestamp,
    ) -> Result<Sale, SaleError> {
        settings.currency()?;
        Ok(Sale {
            kind,
            status: SaleStatus::Open,
            currency: settings.currency.clone(),
            tax_mode: settings.tax_mode,
            ticket: ticket.filter(|t| !t.trim().is_empty()),
            opened_at: now,
            opened_by: by.to_string(),
            shift_id: shift_id.map(|s| s.to_string()),
            lines: BTreeMap::new(),
            order_discount: None,
            payments: BTreeMap::new(),
            receipt_no: None,
            closed_at: None,
            voided_at: None,
            void_reason: None,
            void_approved_by: None,
            guests: 0,
            moves_approved: None,
            merged_into: None,
        })
    }

    pub fn currency(&self) -> Result<Currency, SaleError> {
        Ok(Currency::from_code(&self.currency)?)
    }

    fn ensure_open(&self) -> Result<(), SaleError> {
        if self.status != SaleStatus::Open {
            return Err(SaleError::NotOpen(self.status));
        }
        Ok(())
    }

    fn ensure_editable(&self) -> Result<(), SaleError> {
        self.ensure_open()?;
        if !self.payments.is_empty() {
            return Err(SaleError::PaymentsTaken);
        }
        Ok(())
    }

    pub fn line_mut(&mut self, line_id: &str) -> Result<&mut SaleLine, SaleError> {
        self.lines
            .get_mut(line_id)
            .ok_or_else(|| SaleError::UnknownLine(line_id.to_string()))
    }

    fn check_qty(qty: i64) -> Result<(), SaleError> {
        if !(1..=MAX_QTY).contains(&qty) {
            return Err(SaleError::BadQuantity(qty));
        }
        Ok(())
    }

    /// Lines in display order.
    pub fn ordered_lines(&self) -> Vec<(&String, &SaleLine)> {
        let mut v: Vec<_> = self.lines.iter().collect();
        v.sort_by(|a, b| a.1.pos.cmp(&b.1.pos).then(a.0.cmp(b.0)));
        v
    }

    /// Combines identical lines into one (issue 17, "merging identical lines"): same item,
    /// price, modifiers and course, none fired, none with a note, a discount or a price
    /// override. The first line (in cart order) takes the others' quantities and they go. A
    /// counter sale does this as items are added ([`Sale::mergeable_line`]); a table's lines stay
    /// apart until someone asks, because two tills adding to one table at once must not raise
    /// one quantity (one raise would be lost). Returns how many lines went.
    pub fn merge_identical_lines(&mut self) -> Result<usize, SaleError> {
        self.ensure_open()?;
        type Key = (String, i64, i64, Vec<(String, String)>);
        let key = |l: &SaleLine| -> Option<Key> {
            (l.fired_at.is_none()
                && l.note.is_empty()
                && l.discount.is_none()
                && l.price_override.is_none())
            .then(|| {
                (
                    l.item_id.clone(),
                    l.catalog_price,
                    l.course,
                    l.modifiers
                        .iter()
                        .map(|m| (m.group.clone(), m.option.clone()))
                        .collect(),
                )
            })
        };
        let mut first: BTreeMap<Key, String> = BTreeMap::new();
        let mut moves: Vec<(String, String, i64)> = Vec::new();
        for (id, l) in self.ordered_lines() {
            let Some(k) = key(l) else { continue };
            match first.get(&k) {
                Some(keep) => moves.push((id.clone(), keep.clone(), l.qty)),
                None => {
                    first.insert(k, id.clone());
                }
            }
        }
        for (gone, keep, qty) in &moves {
            let line = self
                .lines
                .get_mut(keep)
                .ok_or_else(|| SaleError::UnknownLine(keep.clone()))?;
            line.qty = line
                .qty
                .checked_add(*qty)
                .ok_or(SaleError::Money(MoneyError::Overflow))?;
            self.lines.remove(gone);
        }
        Ok(moves.len())
    }

    /// Adds `qty` of `item` with the chosen modifiers (`(group, option)` keys). Returns the new
    /// line's id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_line(
        &mut self,
        item_id: Uuid,
        item: &Item,
        store_id: Uuid,
        settings: &StoreSettings,
        qty: i64,
        modifiers: &[(String, String)],
        course: i64,
        by: Uuid,
    ) -> Result<String, SaleError> {
        self.ensure_editable()?;
        Self::check_qty(qty)?;
        if !item.active {
            return Err(SaleError::InactiveItem(item.name.clone()));
        }
        if item.currency != self.currency {
            return Err(SaleError::ItemCurrency {
                item: item.name.clone(),
                item_currency: item.currency.clone(),
                sale_currency: self.currency.clone(),
            });
        }
        let tax_rate_bp = settings.tax_rate(&item.tax_class)?;
        let mods = Self::resolve_modifiers(item, modifiers)?;
        let pos = self.lines.values().map(|l| l.pos).max().unwrap_or(0) + 1;
        let line = SaleLine {
            pos,
            item_id: item_id.to_string(),
            sku: item.sku.clone(),
            name: item.name.clone(),
            qty,
            catalog_price: item.price_in(store_id),
            price_override: None,
            price_override_by: None,
            tax_class: item.tax_class.clone(),
            tax_rate_bp,
            station: item.station.clone(),
            track_stock: item.track_stock,
            modifiers: mods,
            note: String::new(),
            discount: None,
            course: course.max(1),
            fired_at: None,
            added_by: by.to_string(),
        };
        line.gross()?; // overflow check before the line exists
        let id = new_id();
        self.lines.insert(id.clone(), line);
        self.totals()?;
        Ok(id)
    }

    /// The line modifiers of `item` for `(group, option)` choices: unknown ones and more than a
    /// group's maximum are refused.
    fn resolve_modifiers(
        item: &Item,
        modifiers: &[(String, String)],
    ) -> Result<Vec<LineModifier>, SaleError> {
        let mut mods = Vec::with_capacity(modifiers.len());
        let mut per_group: BTreeMap<&str, i64> = BTreeMap::new();
        for (group, option) in modifiers {
            let m = item
                .modifier(group, option)
                .ok_or_else(|| SaleError::UnknownModifier {
                    group: group.clone(),
                    option: option.clone(),
                })?;
            let count = per_group.entry(group.as_str()).or_insert(0);
            *count += 1;
            let max = item.modifier_groups.get(group).map(|g| g.max).unwrap_or(0);
            if *count > max {
                return Err(SaleError::TooManyModifiers {
                    group: group.clone(),
                    max,
                });
            }
            mods.push(LineModifier {
                group: group.clone(),
                option: option.clone(),
                name: m.name.clone(),
                price_delta: m.price_delta,
            });
        }
        Ok(mods)
    }

    /// Changes a line's modifiers (the line's item as it is now gives names and prices). A fired
    /// line cannot change; void it and add a new one.
    pub fn set_modifiers(
        &mut self,
        line_id: &str,
        item: &Item,
        modifiers: &[(String, String)],
    ) -> Result<(), SaleError> {
        self.ensure_editable()?;
        let mods = Self::resolve_modifiers(item, modifiers)?;
        let line = self.line_mut(line_id)?;
        if line.fired_at.is_some() {
            return Err(SaleError::LineFired(line_id.to_string()));
        }
        let old = std::mem::replace(&mut line.modifiers, mods);
        if let Err(e) = self.totals() {
            self.line_mut(line_id)?.modifiers = old;
            return Err(e);
        }
        Ok(())
    }

    /// Moves an unfired line to course `course` (1 or more): the till holds course 2 while it
    /// fires course 1.
    pub fn set_course(&mut self, line_id: &str, course: i64) -> Result<(), SaleError> {
        self.ensure_editable()?;
        if !(1..=MAX_COURSE).contains(&course) {
            return Err(SaleError::BadCourse(course));
        }
        let line = self.line_mut(line_id)?;
        if line.fired_at.is_some() {
            return Err(SaleError::LineFired(line_id.to_string()));
        }
        line.course = course;
        Ok(())
    }

    /// Sets the number of guests at the table (0 to clear).
    pub fn set_guests(&mut self, guests: i64) -> Result<(), SaleError> {
        self.ensure_open()?;
        if !(0..=MAX_GUESTS).contains(&guests) {
            return Err(SaleError::BadGuests(guests));
        }
        self.guests = guests;
        Ok(())
    }

    /// The lowest course that has unfired kitchen lines: what Fire sends next.
    pub fn next_course(&self) -> Option<i64> {
        self.lines
            .values()
            .filter(|l| l.station.is_some() && l.fired_at.is_none())
            .map(|l| l.course)
            .min()
    }

    /// The line that `qty` more of `item` with these modifiers and this course would join instead
    /// of a new line: same item, modifiers, course and catalog price, no note, discount or price
    /// override, not fired. Only on a counter sale (issue 17: the same item added twice showed
    /// as two "1×" lines on the cart and the KDS); a table's lines stay apart, because two tills
    /// adding to one table at once would both raise one quantity, and one raise would be lost
    /// when their changes merge (a scalar keeps one writer), where two lines keep both.
    pub fn mergeable_line(
        &self,
        item_id: Uuid,
        item: &Item,
        store_id: Uuid,
        modifiers: &[(String, String)],
        course: i64,
    ) -> Option<String> {
        if self.kind != SaleKind::Quick {
            return None;
        }
        let item_id = item_id.to_string();
        let price = item.price_in(store_id);
        self.lines
            .iter()
            .find(|(_, l)| {
                l.item_id == item_id
                    && l.fired_at.is_none()
                    && l.note.is_empty()
                    && l.discount.is_none()
                    && l.price_override.is_none()
                    && l.course == course.max(1)
                    && l.catalog_price == price
                    && l.modifiers.len() == modifiers.len()
                    && l.modifiers
                        .iter()
                        .zip(modifiers)
                        .all(|(m, (g, o))| &m.group == g && &m.option == o)
            })
            .map(|(id, _)| id.clone())
    }

    /// Changes a line's quantity. A fired line cannot change; void it and add a new one.
    pub fn set_qty(&mut self, line_id: &str, qty: i64) -> Result<(), SaleError> {
        self.ensure_editable()?;
        Self::check_qty(qty)?;
        let line = self.line_mut(line_id)?;
        if line.fired_at.is_some() {
            return Err(SaleError::LineFired(line_id.to_string()));
        }
        let old = line.qty;
        line.qty = qty;
        if let Err(e) = self.totals() {
            self.line_mut(line_id)?.qty = old;
            return Err(e);
        }
        Ok(())
    }

    /// Removes a line. Removing a fired line is allowed here; the policy requires `sale.void`.
    pub fn remove_line(&mut self, line_id: &str) -> Result<SaleLine, SaleError> {
        self.ensure_editable()?;
        let line = self
            .lines
            .remove(line_id)
            .ok_or_else(|| SaleError::UnknownLine(line_id.to_string()))?;
        // An order discount by amount may now exceed the smaller subtotal: drop it.
        if self.totals().is_err() {
            self.order_discount = None;
        }
        Ok(line)
    }

    pub fn set_note(&mut self, line_id: &str, note: &str) -> Result<(), SaleError> {
        self.ensure_open()?;
        self.line_mut(line_id)?.note = note.trim().to_string();
        Ok(())
    }

    pub fn set_ticket(&mut self, ticket: Option<String>) -> Result<(), SaleError> {
        self.ensure_open()?;
        self.ticket = ticket.filter(|t| !t.trim().is_empty());
        self.kind = if self.ticket.is_some() {
            SaleKind::Ticket
        } else {
            self.kind
        };
        Ok(())
    }

    /// Takes lines (or part of a line's quantity) out of this sale to move them to another one
    /// ([`Sale::put_lines`]): `(line id, quantity)`, a line at most once. A whole line leaves with
    /// its id; part of one stays here with the rest of the quantity and leaves as a copy under a
    /// new id. Everything on a line goes with it, its `fired_at` too, so the kitchen is not sent
    /// it again (the policy decides who may take a fired line, as for removing one). A sale
    /// with payments or an order discount cannot be split (its shares would not add up), nor
    /// part of a line with a discount. Returns the lines taken, in display order.
    pub fn take_lines(
        &mut self,
        moves: &[(String, i64)],
    ) -> Result<Vec<(String, SaleLine)>, SaleError> {
        self.ensure_editable()?;
        if moves.is_empty() {
            return Err(SaleError::NothingToMove);
        }
        if self.order_discount.is_some() {
            return Err(SaleError::MoveWithOrderDiscount);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(moves.len());
        // On a copy: a refused move leaves the sale as it was.
        let mut lines = self.lines.clone();
        for (line_id, qty) in moves {
            if !seen.insert(line_id.as_str()) {
                return Err(SaleError::UnknownLine(line_id.clone()));
            }
            let line = lines
                .get_mut(line_id)
                .ok_or_else(|| SaleError::UnknownLine(line_id.clone()))?;
            if !(1..=line.qty).contains(qty) {
                return Err(SaleError::MoveTooMany {
                    line: line.name.clone(),
                    has: line.qty,
                    asked: *qty,
                });
            }
            if *qty == line.qty {
                let l = lines.remove(line_id).expect("line checked above");
                out.push((line_id.clone(), l));
            } else {
                if line.discount.is_some() {
                    return Err(SaleError::MovePartOfDiscountedLine(line.name.clone()));
                }
                line.qty -= qty;
                let mut part = line.clone();
                part.qty = *qty;
                out.push((new_id(), part));
            }
        }
        out.sort_by(|a, b| a.1.pos.cmp(&b.1.pos).then(a.0.cmp(&b.0)));
        self.lines = lines;
        Ok(out)
    }

    /// Puts lines taken from another sale ([`Sale::take_lines`]) after this sale's own, as they
    /// were (price, discount, modifiers, course, fired state). A line whose id is already here
    /// gets a new one. Not into a sale with payments or an order discount.
    pub fn put_lines(&mut self, lines: Vec<(String, SaleLine)>) -> Result<(), SaleError> {
        self.ensure_editable()?;
        if self.order_discount.is_some() {
            return Err(SaleError::MoveWithOrderDiscount);
        }
        let mut next = self.lines.values().map(|l| l.pos).max().unwrap_or(0);
        for (id, mut line) in lines {
            next += 1;
            line.pos = next;
            let id = if self.lines.contains_key(&id) {
                new_id()
            } else {
                id
            };
            self.lines.insert(id, line);
        }
        self.totals()?;
        Ok(())
    }

    /// Sets (or clears) a price override on a line. Zero is allowed; the policy requires
    /// `price.override` for any override.
    pub fn override_price(&mut self, line_id: &str, price: Option<i64>) -> Result<(), SaleError> {
        self.ensure_editable()?;
        if let Some(p) = price {
            if p < 0 {
                return Err(SaleError::NegativePrice(p));
            }
        }
        let line = self.line_mut(line_id)?;
        let old = line.price_override;
        line.price_override = price;
        if let Err(e) = self.totals() {
            self.line_mut(line_id)?.price_override = old;
            return Err(e);
        }
        Ok(())
    }

    /// Sets (or clears) a line discount.
    pub fn set_line_discount(
        &mut self,
        line_id: &str,
        discount: Option<Discount>,
    ) -> Result<(), SaleError> {
        self.ensure_editable()?;
        let line = self.line_mut(line_id)?;
        if let Some(d) = &discount {
            d.amount_on(line.gross()?)?;
        }
        let old = std::mem::replace(&mut line.discount, discount);
        if let Err(e) = self.totals() {
            self.line_mut(line_id)?.discount = old;
            return Err(e);
        }
        Ok(())
    }

    /// Sets (or clears) the order discount.
    pub fn set_order_discount(&mut self, discount: Option<Discount>) -> Result<(), SaleError> {
        self.ensure_editable()?;
        let old = std::mem::replace(&mut self.order_discount, discount);
        if let Err(e) = self.totals() {
            self.order_discount = old;
            return Err(e);
        }
        Ok(())
    }

    /// Fires the unfired lines of `course` (or of every course) to the kitchen. Returns the ids
    /// of the lines fired, in display order.
    pub fn fire(&mut self, course: Option<i64>, now: Timestamp) -> Result<Vec<String>, SaleError> {
        self.ensure_open()?;
        let ids: Vec<String> = self
            .ordered_lines()
            .into_iter()
            .filter(|(_, l)| l.fired_at.is_none() && course.is_none_or(|c| l.course == c))
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return Err(SaleError::NothingToFire);
        }
        for id in &ids {
            self.line_mut(id)?.fired_at = Some(now);
        }
        Ok(ids)
    }

    /// Derived totals. See [`crate::money`] for the rounding rule.
    pub fn totals(&self) -> Result<SaleTotals, SaleError> {
        let ordered = self.ordered_lines();
        let mut lines = Vec::with_capacity(ordered.len());
        let mut subtotal: i64 = 0;
        let mut line_discounts: i64 = 0;
        for (id, l) in &ordered {
            let gross = l.gross()?;
            let disc = match &l.discount {
                Some(d) => d.amount_on(gross)?,
                None => 0,
            };
            subtotal = subtotal.checked_add(gross).ok_or(MoneyError::Overflow)?;
            line_discounts += disc;
            lines.push(LineTotal {
                line_id: (*id).clone(),
                gross,
                line_discount: disc,
                order_discount: 0,
                total: gross - disc,
                tax_rate_bp: l.tax_rate_bp,
            });
        }
        let after_lines = subtotal - line_discounts;
        let order_discount = match &self.order_discount {
            Some(d) => d.amount_on(after_lines)?,
            None => 0,
        };
        let weights: Vec<i64> = lines.iter().map(|l| l.total).collect();
        for (l, share) in lines.iter_mut().zip(allocate(order_discount, &weights)) {
            l.order_discount = share;
            l.total -= share;
        }
        let (taxes, total) = tax_breakdown(
            lines.iter().map(|l| (l.tax_rate_bp, l.total)),
            self.tax_mode,
        )?;
        let tax = taxes.iter().map(|t| t.tax).sum();
        let paid: i64 = self.payments.values().map(|p| p.amount).sum();
        let change: i64 = self.payments.values().map(|p| p.change).sum();
        Ok(SaleTotals {
            lines,
            subtotal,
            line_discounts,
            order_discount,
            taxes,
            tax,
            total,
            paid,
            change,
            due: total - paid,
        })
    }

    /// Takes a payment. Cash may be over-tendered (change is due back); card and other tenders
    /// may not exceed what is due. Returns the recorded payment's id.
    pub fn add_payment(
        &mut self,
        tender: Tender,
        tendered: Money,
        reference: Option<String>,
        by: Uuid,
        now: Timestamp,
    ) -> Result<String, SaleError> {
        self.ensure_open()?;
        if self.lines.is_empty() {
            return Err(SaleError::Empty);
        }
        let currency = self.currency()?;
        if tendered.currency != currency {
            return Err(SaleError::Money(MoneyError::CurrencyMismatch {
                expected: currency,
                got: tendered.currency,
            }));
        }
        if tendered.minor <= 0 {
            return Err(SaleError::NonPositivePayment(tendered.minor));
        }
        let due = self.totals()?.due;
        if due <= 0 {
            return Err(SaleError::NothingDue);
        }
        let reference = reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let (amount, change, reference, label) = match tender {
            Tender::Cash => {
                let amount = tendered.minor.min(due);
                (amount, tendered.minor - amount, None, None)
            }
            Tender::Card | Tender::Other => {
                if tendered.minor > due {
                    return Err(SaleError::Overpayment {
                        amount: tendered.minor,
                        due,
                    });
                }
                match (tender, reference) {
                    (Tender::Card, Some(r)) => (tendered.minor, 0, Some(r), None),
                    (Tender::Card, None) => return Err(SaleError::MissingCardReference),
                    (_, Some(l)) => (tendered.minor, 0, None, Some(l)),
                    (_, None) => return Err(SaleError::MissingTenderLabel),
                }
            }
        };
        let id = new_id();
        self.payments.insert(
            id.clone(),
            Payment {
                tender,
                amount,
                tendered: tendered.minor,
                change,
                reference,
                label,
                at: now,
                by: by.to_string(),
            },
        );
        Ok(id)
    }

    /// Hands back what an open sale is overpaid by, as a negative payment of `tender` (cash; a
    /// card refund with the terminal's reference; or a labelled other tender), so that nothing is
    /// due and the sale can close. A till cannot overpay a sale itself; two tills can, when one
    /// removes a line while the other, not seeing it yet, takes a payment, and their changes
    /// merge. Returns the recorded payment's id.
    pub fn return_overpayment(
        &mut self,
        tender: Tender,
        reference: Option<String>,
        by: Uuid,
        now: Timestamp,
    ) -> Result<String, SaleError> {
        self.ensure_open()?;
        let due = self.totals()?.due;
        if due >= 0 {
            return Err(SaleError::NothingToReturn { due });
        }
        let reference = reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let (reference, label) = match (tender, reference) {
            (Tender::Cash, _) => (None, None),
            (Tender::Card, Some(r)) => (Some(r), None),
            (Tender::Card, None) => return Err(SaleError::MissingCardReference),
            (Tender::Other, Some(l)) => (None, Some(l)),
            (Tender::Other, None) => return Err(SaleError::MissingTenderLabel),
        };
        let id = new_id();
        self.payments.insert(
            id.clone(),
            Payment {
                tender,
                amount: due,
                tendered: due,
                change: 0,
                reference,
                label,
                at: now,
                by: by.to_string(),
            },
        );
        Ok(id)
    }

    /// Checks the payments `self` adds to `before` (the same sale earlier, `None` when new): one
    /// with a negative amount hands money back, which is right only as the return of an
    /// overpayment, exactly what `before` was overpaid by. Anything else (a negative "payment"
    /// on a sale that is not overpaid) would take cash out of the drawer with a receipt for it.
    pub fn check_returns(&self, before: Option<&Sale>) -> Result<(), SaleError> {
        let returned: i64 = self
            .payments
            .iter()
            .filter(|(id, p)| p.amount < 0 && !before.is_some_and(|b| b.payments.contains_key(*id)))
            .map(|(_, p)| -p.amount)
            .sum();
        if returned == 0 {
            return Ok(());
        }
        let due_before = match before {
            Some(b) => b.totals()?.due,
            None => 0,
        };
        if due_before >= 0 {
            return Err(SaleError::NothingToReturn { due: due_before });
        }
        if returned != -due_before {
            return Err(SaleError::ReturnMismatch {
                returned,
                overpaid: -due_before,
            });
        }
        Ok(())
    }

    /// Closes a fully paid sale with its receipt number.
    pub fn close(&mut self, receipt_no: String, now: Timestamp) -> Result<(), SaleError> {
        self.ensure_open()?;
        if self.lines.is_empty() {
            return Err(SaleError::Empty);
        }
        let due = self.totals()?.due;
        if due != 0 {
            return Err(SaleError::NotFullyPaid { due });
        }
        if receipt_no.is_empty() {
            return Err(SaleError::MissingReceiptNumber);
        }
        self.status = SaleStatus::Closed;
        self.receipt_no = Some(receipt_no);
        self.closed_at = Some(now);
        Ok(())
    }

    /// Voids an open sale. Only before any payment.
    pub fn void(&mut self, reason: &str, now: Timestamp) -> Result<(), SaleError> {
        self.ensure_open()?;
        if !self.payments.is_empty() {
            return Err(SaleError::VoidAfterPayment);
        }
        self.status = SaleStatus::Voided;
        self.voided_at = Some(now);
        self.void_reason = Some(reason.trim().to_string());
        Ok(())
    }

    /// Checks the invariants every stored sale must hold, whoever wrote it. The server runs this
    /// on every pushed change (through [`crate::policy`]).
    pub fn validate(&self) -> Result<(), SaleError> {
        self.currency()?;
        for l in self.lines.values() {
            Self::check_qty(l.qty)?;
            if l.catalog_price < 0 {
                return Err(SaleError::NegativePrice(l.catalog_price));
            }
            if let Some(p) = l.price_override {
                if p < 0 {
                    return Err(SaleError::NegativePrice(p));
                }
            }
            if !(1..=MAX_COURSE).contains(&l.course) {
                return Err(SaleError::BadCourse(l.course));
            }
        }
        if !(0..=MAX_GUESTS).contains(&self.guests) {
            return Err(SaleError::BadGuests(self.guests));
        }
        for p in self.payments.values() {
            if p.amount == 0 {
                return Err(SaleError::ZeroPayment);
            }
            if p.tender == Tender::Card && p.reference.is_none() {
                return Err(SaleError::MissingCardReference);
            }
        }
        let t = self.totals()?;
        match self.status {
            SaleStatus::Open => {
                if t.due < 0 {
                    return Err(SaleError::Overpayment {
                        amount: t.paid,
                        due: t.total,
                    });
                }
            }
            SaleStatus::Closed => {
                if self.lines.is_empty() {
                    return Err(SaleError::Empty);
                }
                if t.due != 0 {
                    return Err(SaleError::NotFullyPaid { due: t.due });
                }
                if self.receipt_no.as_deref().is_none_or(str::is_empty) {
                    return Err(SaleError::MissingReceiptNumber);
                }
            }
            SaleStatus::Voided => {
                if !self.payments.is_empty() {
                    return Err(SaleError::VoidAfterPayment);
                }
            }
        }
        Ok(())
    }
}
