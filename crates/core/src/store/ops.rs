//! The store's operations: one function per thing a user does. Each is one [`Store::write`]: a
//! domain function from this crate applied to a document, checked by the policy, stored with its
//! projections and outbox entry. The desktop app's commands call these and nothing else.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{Store, StoreError, WriteTx};
use crate::auth::{Actor, Role};
use crate::catalog::{CatalogError, Category, Item, StoreSettings};
use crate::inventory::{StockDoc, StockDocKind};
use crate::kitchen::{route, KitchenTicket};
use crate::money::Money;
use crate::refund::{Refund, RefundRequest};
use crate::sale::{Discount, Sale, SaleError, SaleKind, SaleStatus, Tender, Timestamp};
use crate::shift::{CashEventKind, Shift, ShiftReport, ZReport};

/// The result of a payment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PaymentOutcome {
    pub payment_id: String,
    /// Change to hand back for this payment (cash).
    pub change: i64,
    /// Still due after it.
    pub due: i64,
    /// Set when this payment completed the sale.
    pub receipt_no: Option<String>,
}

/// A line of a stock document to write: item, quantity (signed for adjustments), unit cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockInput {
    pub item_id: Uuid,
    pub qty: i64,
    pub unit_cost: Option<i64>,
}

/// Items written per transaction by [`Store::import_items`].
pub const IMPORT_CHUNK: usize = 250;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportReport {
    pub done: usize,
    pub created: usize,
    pub updated: usize,
}

impl WriteTx<'_> {
    fn open_shift_id(&self) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> = self
            .sql()
            .query_row(
                "SELECT doc_id FROM p_shifts WHERE device_id = ?1 AND status = 'Open'",
                [self.identity().device_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.and_then(|s| s.parse().ok()))
    }
}

impl Store {
    // ----- staff and setup -------------------------------------------------------------------

    /// Records a staff member of this store (synced down from the server; seeded by the demo).
    pub fn upsert_staff(
        &mut self,
        user_id: Uuid,
        name: &str,
        role: Role,
        pin_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO staff (user_id, name, role, pin_hash) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, role = excluded.role,
                pin_hash = excluded.pin_hash",
            params![user_id.to_string(), name, role.as_str(), pin_hash],
        )?;
        Ok(())
    }

    /// Makes the staff list the server's: everyone in `staff` is written (name, role, PIN hash;
    /// a lockout in progress is kept), and anyone else is removed, so a person taken off the
    /// store by head office can no longer log in on this device, even offline. One transaction.
    pub fn replace_staff(
        &mut self,
        staff: &[(Uuid, String, Role, Option<String>)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO staff (user_id, name, role, pin_hash) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, role = excluded.role,
                    pin_hash = excluded.pin_hash",
            )?;
            for (id, name, role, pin_hash) in staff {
                upsert.execute(params![id.to_string(), name, role.as_str(), pin_hash])?;
            }
        }
        let keep: Vec<String> = staff.iter().map(|(id, ..)| id.to_string()).collect();
        let current: Vec<String> = tx
            .prepare("SELECT user_id FROM staff")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for gone in current.iter().filter(|id| !keep.contains(id)) {
            tx.execute("DELETE FROM staff WHERE user_id = ?1", [gone])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets a staff member's PIN (stored as an argon2id hash).
    pub fn set_pin(&mut self, user_id: Uuid, pin: &str) -> Result<(), StoreError> {
        crate::secret::check_pin(pin)?;
        let hash = crate::secret::hash_secret(pin)?;
        let n = self.conn().execute(
            "UPDATE staff SET pin_hash = ?2, failed_attempts = 0, locked_until = NULL WHERE user_id = ?1",
            params![user_id.to_string(), hash],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownUser(user_id.to_string()));
        }
        Ok(())
    }

    /// Logs a staff member in with their PIN, offline. Repeated failures lock the user out
    /// ([`crate::auth::Throttle`], the same rule as the server's).
    pub fn login(&mut self, user_id: Uuid, pin: &str) -> Result<Actor, StoreError> {
        self.check_pin_with(user_id, pin, PinUse::Login)?;
        self.actor(user_id)
    }

    /// Checks a PIN typed to approve something on another person's till (a discount above the
    /// threshold, a void, a refund): the approver must hold `permission` by their role on this
    /// device. Failures count toward a lockout of approvals only, never the approver's own
    /// login, so a cashier mistyping the manager's PIN cannot lock the manager out.
    pub fn approve(
        &mut self,
        user_id: Uuid,
        pin: &str,
        permission: crate::auth::Permission,
    ) -> Result<Actor, StoreError> {
        self.check_pin_with(user_id, pin, PinUse::Approval)?;
        let approver = self.actor(user_id)?;
        crate::auth::require(approver.role, permission)?;
        Ok(approver)
    }

    /// Verifies a PIN against one of the two throttles (same rule, separate counters).
    fn check_pin_with(&mut self, user_id: Uuid, pin: &str, what: PinUse) -> Result<(), StoreError> {
        let now = super::now_ms();
        let (failures_col, until_col) = match what {
            PinUse::Login => ("failed_attempts", "locked_until"),
            PinUse::Approval => ("approval_failures", "approval_locked_until"),
        };
        let row: Option<(Option<String>, i64, Option<i64>)> = self
            .conn()
            .query_row(
                &format!(
                    "SELECT pin_hash, {failures_col}, {until_col} FROM staff WHERE user_id = ?1"
                ),
                [user_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (hash, failures, locked_until) =
            row.ok_or_else(|| StoreError::UnknownUser(user_id.to_string()))?;
        let throttle = crate::auth::Throttle {
            failures,
            locked_until,
        };
        throttle
            .check(now)
            .map_err(|until| StoreError::LockedOut { until })?;
        let hash = hash.ok_or(StoreError::NoPin)?;
        if crate::secret::verify_secret(pin, &hash)? {
            self.conn().execute(
                &format!(
                    "UPDATE staff SET {failures_col} = 0, {until_col} = NULL WHERE user_id = ?1"
                ),
                [user_id.to_string()],
            )?;
            return Ok(());
        }
        let next = throttle.fail(now);
        self.conn().execute(
            &format!("UPDATE staff SET {failures_col} = ?2, {until_col} = ?3 WHERE user_id = ?1"),
            params![user_id.to_string(), next.failures, next.locked_until],
        )?;
        match next.locked_until {
            Some(until) => Err(StoreError::LockedOut { until }),
            None => Err(StoreError::WrongPin {
                attempts_left: crate::auth::MAX_FAILURES - next.failures,
            }),
        }
    }

    /// The store's staff, for the login screen: `(id, name, role)`.
    pub fn staff(&self) -> Result<Vec<(Uuid, String, Role)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT user_id, name, role FROM staff ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, role) = row?;
            if let (Ok(id), Ok(role)) = (id.parse(), role.parse()) {
                out.push((id, name, role));
            }
        }
        Ok(out)
    }

    /// The role a staff member holds in this store, whatever device they are on. Documents
    /// are written with [`Store::actor`]'s role, which a kitchen screen caps; this one is for
    /// what concerns the device itself (re-enrolling it).
    pub fn staff_role(&self, user_id: Uuid) -> Result<Role, StoreError> {
        let role: Option<String> = self
            .conn()
            .query_row(
                "SELECT role FROM staff WHERE user_id = ?1",
                [user_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let role = role.ok_or_else(|| StoreError::UnknownUser(user_id.to_string()))?;
        Ok(role.parse()?)
    }

    /// The acting identity of a staff member on this device: their role, capped by the
    /// device's kind (`DeviceKind::cap`), as the server caps it for this device's changes.
    pub fn actor(&self, user_id: Uuid) -> Result<Actor, StoreError> {
        Ok(Actor {
            user_id,
            role: self.identity().kind.cap(self.staff_role(user_id)?),
            device_id: self.identity().device_id,
        })
    }

    /// Creates or replaces this store's settings.
    pub fn save_settings(
        &mut self,
        actor: &Actor,
        settings: StoreSettings,
    ) -> Result<Uuid, StoreError> {
        settings.validate()?;
        let existing = self.settings.as_ref().map(|(id, _)| *id);
        self.write(actor, |w| match existing {
            Some(id) => w.update(id, |s: &mut StoreSettings| {
                *s = settings;
                Ok::<_, StoreError>(id)
            }),
            None => w.create(settings),
        })
    }

    pub fn create_category(&mut self, actor: &Actor, c: Category) -> Result<Uuid, StoreError> {
        self.write(actor, |w| w.create(c))
    }

    pub fn create_item(&mut self, actor: &Actor, item: Item) -> Result<Uuid, StoreError> {
        item.validate()?;
        self.write(actor, |w| w.create(item))
    }

    /// Edits an item; the policy decides which fields the actor may touch.
    pub fn update_item(
        &mut self,
        actor: &Actor,
        id: Uuid,
        f: impl FnOnce(&mut Item) -> Result<(), CatalogError>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(id, |i: &mut Item| {
                f(i)?;
                i.validate()
            })
        })
    }

    /// Imports a catalog from CSV (see [`crate::import`]): the whole file is checked first and
    /// nothing is written if any line is wrong; then items are created, or updated when their
    /// SKU exists, [`IMPORT_CHUNK`] to a transaction, each through the policy. `progress` gets
    /// (done, total) after each chunk. Importing the same file again changes nothing.
    pub fn import_items(
        &mut self,
        actor: &Actor,
        csv: &str,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, StoreError> {
        let settings = self.settings()?.clone();
        let currency = crate::money::Currency::from_code(&settings.currency)?;
        let classes: Vec<String> = settings.tax_rates.keys().cloned().collect();
        let categories = self.categories()?;
        let names: Vec<String> = categories.iter().map(|c| c.1.clone()).collect();
        let rows = crate::import::parse_items_csv(csv, currency, &classes, &names)?;
        let mut by_sku: std::collections::HashMap<String, Uuid> = std::collections::HashMap::new();
        {
            let mut stmt = self
                .conn()
                .prepare_cached("SELECT sku, doc_id FROM p_items")?;
            let found =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for f in found {
                let (sku, id) = f?;
                if let Ok(id) = id.parse() {
                    by_sku.insert(sku, id);
                }
            }
        }
        let total = rows.len();
        let mut report = ImportReport::default();
        for chunk in rows.chunks(IMPORT_CHUNK) {
            self.write(actor, |w| {
                for row in chunk {
                    let mut item = row.item.clone();
                    item.category_id = row.category.as_ref().and_then(|c| {
                        categories
                            .iter()
                            .find(|k| k.1.eq_ignore_ascii_case(c))
                            .map(|k| k.0.to_string())
                    });
                    match by_sku.get(&item.sku) {
                        Some(id) => {
                            w.update(*id, |i: &mut Item| {
                                // What the file does not describe stays as it was.
                                item.store_prices = std::mem::take(&mut i.store_prices);
                                item.modifier_groups = std::mem::take(&mut i.modifier_groups);
                                *i = item;
                                Ok::<_, StoreError>(())
                            })?;
                            report.updated += 1;
                        }
                        None => {
                            w.create(item)?;
                            report.created += 1;
                        }
                    }
                }
                Ok(())
            })?;
            report.done += chunk.len();
            progress(report.done, total);
        }
        Ok(report)
    }

    // ----- selling ---------------------------------------------------------------------------

    /// This device's open shift, which a till needs to open a sale or take money: a sale taken
    /// with no shift open is counted by no X or Z report (issue 17: four sales after a Z).
    /// [`StoreError::NoOpenShift`] when there is none. (Core's own writes do not require it,
    /// so that documents merged from other devices and tests of single documents need none.)
    pub fn selling_shift(&self) -> Result<Uuid, StoreError> {
        self.open_shift_id()?.ok_or(StoreError::NoOpenShift)
    }

    /// Opens a sale (a ticket if `ticket` names a table or tab), in this device's open shift.
    pub fn open_sale(&mut self, actor: &Actor, ticket: Option<String>) -> Result<Uuid, StoreError> {
        self.write(actor, |w| {
            let settings = w.settings()?.clone();
            let shift = w.open_shift_id()?;
            let kind = if ticket.is_some() {
                SaleKind::Ticket
            } else {
                SaleKind::Quick
            };
            let sale = Sale::open(kind, &settings, ticket, shift, w.actor().user_id, w.now())?;
            w.create(sale)
        })
    }

    /// Adds an item to a sale. Returns the new line id.
    pub fn add_item(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        item_id: Uuid,
        qty: i64,
        modifiers: &[(String, String)],
        course: i64,
    ) -> Result<String, StoreError> {
        self.write(actor, |w| {
            let item: Item = w.get(item_id)?;
            let settings = w.settings()?.clone();
            let store = w.identity().store_id;
            let by = w.actor().user_id;
            w.update(sale_id, |s: &mut Sale| {
                // A counter sale's identical line takes the quantity (`Sale::mergeable_line`).
                if let Some(line) = s.mergeable_line(item_id, &item, store, modifiers, course) {
                    let qty = s.lines[&line].qty.checked_add(qty).ok_or(
                        crate::sale::SaleError::Money(crate::money::MoneyError::Overflow),
                    )?;
                    s.set_qty(&line, qty)?;
                    return Ok(line);
                }
                s.add_line(item_id, &item, store, &settings, qty, modifiers, course, by)
            })
        })
    }

    /// Adds one unit of the item with this barcode. An unknown barcode is
    /// [`CatalogError::UnknownBarcode`].
    pub fn scan(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        barcode: &str,
    ) -> Result<String, StoreError> {
        let item = self.item_by_barcode(barcode)?;
        self.add_item(actor, sale_id, item.id, 1, &[], 1)
    }

    /// Combines the sale's identical lines (`Sale::merge_identical_lines`); how many went.
    pub fn merge_identical_lines(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
    ) -> Result<usize, StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.merge_identical_lines())
        })
    }

    pub fn set_line_qty(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        qty: i64,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.set_qty(line_id, qty))
        })
    }

    pub fn remove_line(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.remove_line(line_id).map(|_| ()))
        })
    }

    pub fn set_line_note(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.set_note(line_id, note))
        })
    }

    pub fn set_line_discount(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        discount: Option<Discount>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| {
                s.set_line_discount(line_id, discount)
            })
        })
    }

    pub fn set_order_discount(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        discount: Option<Discount>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.set_order_discount(discount))
        })
    }

    pub fn override_price(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        price: Option<i64>,
    ) -> Result<(), StoreError> {
        self.override_price_approved(actor, sale_id, line_id, price, None)
    }

    /// [`Store::override_price`] approved by a manager (whose PIN the caller checked with
    /// [`Store::approve`]): the approver goes into the line, and the policy accepts the override
    /// of that line when the approver's role may override prices even if the actor's may not
    /// (clearing an override too: the line keeps who approved its last price).
    pub fn override_price_approved(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        price: Option<i64>,
        approved_by: Option<Uuid>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| {
                s.override_price(line_id, price)?;
                s.line_mut(line_id)?.price_override_by = approved_by.map(|u| u.to_string());
                Ok::<(), SaleError>(())
            })
        })
    }

    /// Edits a line in one change: its quantity, its modifiers (`(group, option)` of the line's
    /// item), its course; what is `None` stays. A fired line cannot change.
    pub fn edit_line(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        line_id: &str,
        edit: &LineEdit,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            let sale: Sale = w.get(sale_id)?;
            let item = match (&edit.modifiers, sale.lines.get(line_id)) {
                (Some(_), Some(l)) => {
                    let item_id: Uuid = l
                        .item_id
                        .parse()
                        .map_err(|_| SaleError::UnknownLine(line_id.to_string()))?;
                    Some(w.get::<Item>(item_id)?)
                }
                _ => None,
            };
            w.update(sale_id, |s: &mut Sale| {
                if let (Some(mods), Some(item)) = (&edit.modifiers, &item) {
                    s.set_modifiers(line_id, item, mods)?;
                }
                if let Some(q) = edit.qty {
                    s.set_qty(line_id, q)?;
                }
                if let Some(c) = edit.course {
                    s.set_course(line_id, c)?;
                }
                // An unknown line with nothing to change is still an unknown line.
                s.line_mut(line_id).map(|_| ())
            })
        })
    }

    /// Splits a bill by item: moves `moves` (`(line id, quantity)`, part of a line's quantity
    /// or all of it) out of an open sale into a new sale, paid on its own; the original keeps
    /// the rest. One transaction: a crash leaves every line in exactly one of the two. Moved
    /// lines keep their fired state and nothing is sent to the kitchen again. Moving a fired
    /// line takes it off the original as removing it would, so the policy wants `sale.void` for
    /// that, or a manager's PIN ([`Store::split_sale_approved`]). The new sale is a ticket named after the
    /// original's table (`"5 · 2"`) or a counter sale like the original. Returns its id.
    pub fn split_sale(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        moves: &[(String, i64)],
    ) -> Result<Uuid, StoreError> {
        self.split_sale_approved(actor, sale_id, moves, None)
    }

    /// [`Store::split_sale`] approved by a manager (whose PIN the caller checked with
    /// [`Store::approve`]) for a cashier moving fired lines: the approver goes into the original
    /// (`Sale::moves_approved`), and the policy accepts this change's fired lines when the
    /// approver may void.
    pub fn split_sale_approved(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        moves: &[(String, i64)],
        approved_by: Option<Uuid>,
    ) -> Result<Uuid, StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            let taken = w.update(sale_id, |s: &mut Sale| {
                if let Some(by) = approved_by {
                    s.moves_approved = Some(crate::sale::MoveApproval {
                        by: by.to_string(),
                        at: now,
                    });
                }
                let taken = s.take_lines(moves)?;
                if s.lines.is_empty() {
                    return Err(SaleError::MoveAll);
                }
                Ok(taken)
            })?;
            let source: Sale = w.get(sale_id)?;
            let settings = w.settings()?.clone();
            let shift = w.open_shift_id()?;
            let ticket = match &source.ticket {
                Some(t) => Some(free_ticket_name(w, t)?),
                None => None,
            };
            let mut sale = Sale::open(
                source.kind,
                &settings,
                ticket,
                shift,
                w.actor().user_id,
                w.now(),
            )?;
            sale.put_lines(taken)?;
            w.create(sale)
        })
    }

    /// The next of `parts` equal shares of a sale, for a bill split evenly: each guest's share
    /// is a partial payment (`Store::pay`) of [`crate::sale::even_share`] of the sale's total,
    /// the last one what is left. Nothing is written: the payments are the state.
    pub fn even_share(&mut self, sale_id: Uuid, parts: i64) -> Result<i64, StoreError> {
        let t = self.get::<Sale>(sale_id)?.totals()?;
        Ok(crate::sale::even_share(t.total, t.due, parts)?)
    }

    /// Moves an open ticket to another table: renames it to `table`, which no other open sale
    /// may use (on this device's replica: two tills offline can still both take one table,
    /// and then both tickets show under that name). Needs `sale.create`.
    pub fn move_ticket(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        table: &str,
    ) -> Result<(), StoreError> {
        let table = table.trim().to_string();
        self.write(actor, |w| {
            if table.is_empty() {
                return Err(SaleError::NoTableName.into());
            }
            if ticket_taken(w, &table, sale_id)? {
                return Err(SaleError::TableTaken(table.clone()).into());
            }
            w.update(sale_id, |s: &mut Sale| s.set_ticket(Some(table.clone())))
        })
    }

    /// Merges two open tables: every line of `from` goes into `into` (after its own lines, with
    /// fired state, prices and discounts as they were) and `from`, now empty, is voided with the
    /// reason "merged into …"; one transaction. Voiding an empty sale needs only `sale.create`
    /// (the policy), but taking a fired line off `from` needs `sale.void`, or a manager's PIN
    /// (`approved_by`, written as the void's approver of `from`, as for a void).
    pub fn merge_sales(
        &mut self,
        actor: &Actor,
        from: Uuid,
        into: Uuid,
        approved_by: Option<Uuid>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            if from == into {
                return Err(SaleError::MergeIntoItself.into());
            }
            let now = w.now();
            let target: Sale = w.get(into)?;
            let label = target
                .ticket
                .clone()
                .unwrap_or_else(|| "another sale".into());
            let taken = w.update(from, |s: &mut Sale| {
                let all: Vec<(String, i64)> =
                    s.lines.iter().map(|(id, l)| (id.clone(), l.qty)).collect();
                let taken = if all.is_empty() {
                    Vec::new()
                } else {
                    s.take_lines(&all)?
                };
                s.void(&format!("merged into {label}"), now)?;
                s.void_approved_by = approved_by.map(|u| u.to_string());
                s.merged_into = Some(into.to_string());
                Ok::<_, SaleError>(taken)
            })?;
            w.update(into, |s: &mut Sale| s.put_lines(taken))
        })
    }

    /// Sets how many guests sit at an open sale's table.
    pub fn set_guests(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        guests: i64,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            w.update(sale_id, |s: &mut Sale| s.set_guests(guests))
        })
    }

    /// Fires a course (or everything unfired) to the kitchen: marks the lines fired and creates
    /// one kitchen ticket per station, in one transaction. Returns the ticket ids.
    pub fn fire(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        course: Option<i64>,
    ) -> Result<Vec<Uuid>, StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            let fired = w.update(sale_id, |s: &mut Sale| s.fire(course, now))?;
            let sale: Sale = w.get(sale_id)?;
            let tickets = route(sale_id, &sale, &fired, now)?;
            tickets.into_iter().map(|t| w.create(t)).collect()
        })
    }

    /// Takes a payment. When it settles the sale, the sale closes in the same transaction with
    /// the next receipt number of this device.
    pub fn pay(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        tender: Tender,
        amount: Money,
        reference: Option<String>,
    ) -> Result<PaymentOutcome, StoreError> {
        self.record_payment(actor, sale_id, |s, by, now| {
            s.add_payment(tender, amount, reference, by, now)
        })
    }

    /// Hands back what an open sale is overpaid by (`Sale::return_overpayment`; it can only
    /// happen when tills' changes merge), which settles it: it closes as paying does.
    pub fn return_overpayment(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        tender: Tender,
        reference: Option<String>,
    ) -> Result<PaymentOutcome, StoreError> {
        self.record_payment(actor, sale_id, |s, by, now| {
            s.return_overpayment(tender, reference, by, now)
        })
    }

    /// Records a payment on a sale with `record` (given the actor and the time; it returns the
    /// payment's id), ties the sale to the open shift if it has none yet, and closes the sale
    /// with the next receipt number when nothing is left due.
    fn record_payment(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        record: impl FnOnce(&mut Sale, Uuid, Timestamp) -> Result<String, SaleError>,
    ) -> Result<PaymentOutcome, StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            let by = w.actor().user_id;
            let shift = w.open_shift_id()?;
            let payment_id = w.update(sale_id, |s: &mut Sale| {
                // A sale counts in the shift that takes its first payment: one held over a
                // Z report and paid in the next shift moves there, or no report would count it.
                let first_payment = s.payments.is_empty();
                let id = record(s, by, now)?;
                if s.shift_id.is_none() || (first_payment && shift.is_some()) {
                    s.shift_id = shift.map(|x| x.to_string());
                }
                Ok::<_, StoreError>(id)
            })?;
            let sale: Sale = w.get(sale_id)?;
            let totals = sale.totals()?;
            let change = sale
                .payments
                .get(&payment_id)
                .map(|p| p.change)
                .unwrap_or(0);
            let mut receipt_no = None;
            if totals.due == 0 {
                send_unsent_when_settled(w, sale_id, &sale, now)?;
                let no = w.next_receipt_number()?.to_string();
                w.update(sale_id, |s: &mut Sale| s.close(no.clone(), now))?;
                receipt_no = Some(no);
            }
            Ok(PaymentOutcome {
                payment_id,
                change,
                due: totals.due,
                receipt_no,
            })
        })
    }

    /// Closes a sale whose total is zero (everything discounted), with a receipt number.
    pub fn close_zero_sale(&mut self, actor: &Actor, sale_id: Uuid) -> Result<String, StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            let sale: Sale = w.get(sale_id)?;
            send_unsent_when_settled(w, sale_id, &sale, now)?;
            let no = w.next_receipt_number()?.to_string();
            w.update(sale_id, |s: &mut Sale| s.close(no.clone(), now))?;
            Ok(no)
        })
    }

    /// Voids an unpaid sale.
    pub fn void_sale(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.void_sale_approved(actor, sale_id, reason, None)
    }

    /// [`Store::void_sale`] approved by a manager (whose PIN the caller checked with
    /// [`Store::approve`]): the approver goes into the sale, and the policy accepts the void
    /// when the approver's role may void even if the actor's may not.
    pub fn void_sale_approved(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        reason: &str,
        approved_by: Option<Uuid>,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            w.update(sale_id, |s: &mut Sale| {
                s.void(reason, now)?;
                s.void_approved_by = approved_by.map(|u| u.to_string());
                Ok::<(), crate::sale::SaleError>(())
            })
        })
    }

    /// Refunds lines of a closed sale, as a new refund document with its own receipt number.
    pub fn refund(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        requests: &[RefundRequest],
        tender: Tender,
        reference: Option<String>,
        reason: &str,
    ) -> Result<Uuid, StoreError> {
        self.refund_approved(actor, sale_id, requests, tender, reference, reason, None)
    }

    /// [`Store::refund`] approved by a manager (whose PIN the caller checked with
    /// [`Store::approve`]); see [`Store::void_sale_approved`].
    #[allow(clippy::too_many_arguments)]
    pub fn refund_approved(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        requests: &[RefundRequest],
        tender: Tender,
        reference: Option<String>,
        reason: &str,
        approved_by: Option<Uuid>,
    ) -> Result<Uuid, StoreError> {
        let prior = self.refunds_of(sale_id)?;
        self.write(actor, |w| {
            let sale: Sale = w.get(sale_id)?;
            let no = w.next_receipt_number()?.to_string();
            let shift = w.open_shift_id()?;
            let refund = Refund::build(
                sale_id,
                &sale,
                &prior,
                requests,
                tender,
                reference,
                reason,
                no,
                shift,
                w.actor().user_id,
                w.now(),
            )?;
            let refund = Refund {
                approved_by: approved_by.map(|u| u.to_string()),
                ..refund
            };
            w.create(refund)
        })
    }

    /// The refund [`Store::refund`] would make of `requests`, built by the same rule
    /// (`Refund::build`) and written nowhere: for the till to show what goes back before the
    /// refund is made. It has no receipt number, shift or tender yet.
    pub fn quote_refund(
        &mut self,
        actor: &Actor,
        sale_id: Uuid,
        requests: &[RefundRequest],
    ) -> Result<Refund, StoreError> {
        let prior = self.refunds_of(sale_id)?;
        let sale: Sale = self.get(sale_id)?;
        Ok(Refund::build(
            sale_id,
            &sale,
            &prior,
            requests,
            Tender::Cash,
            None,
            "",
            String::new(),
            None,
            actor.user_id,
            self.now(),
        )?)
    }

    /// Every refund of a sale.
    pub fn refunds_of(&mut self, sale_id: Uuid) -> Result<Vec<Refund>, StoreError> {
        let ids = self.ids(
            "SELECT doc_id FROM p_refunds WHERE sale_id = ?1 ORDER BY created_at",
            &sale_id.to_string(),
        )?;
        ids.into_iter().map(|id| self.get::<Refund>(id)).collect()
    }

    // ----- kitchen ---------------------------------------------------------------------------

    /// Applies a KDS action to a ticket.
    pub fn kitchen(
        &mut self,
        actor: &Actor,
        ticket_id: Uuid,
        action: KitchenAction,
    ) -> Result<(), StoreError> {
        self.write(actor, |w| {
            let now = w.now();
            w.update(ticket_id, |t: &mut KitchenTicket| match &action {
                KitchenAction::Start => t.start(now),
                KitchenAction::Ready => t.ready(now),
                KitchenAction::Bump => t.bump(now),
                KitchenAction::BumpItem(line) => t.bump_item(line, now),
                KitchenAction::Recall => t.recall(now),
            })
        })
    }

    // ----- shifts ----------------------------------------------------------------------------

    /// Opens a shift on this device with a float.
    pub fn open_shift(&mut self, actor: &Actor, float: i64) -> Result<Uuid, StoreError> {
        self.write(actor, |w| {
            if w.open_shift_id()?.is_some() {
                return Err(StoreError::ShiftAlreadyOpen);
            }
            let currency = w.settings()?.currency()?;
            let shift = Shift::open(
                w.identity().device_id,
                currency,
                float,
                w.actor().user_id,
                w.now(),
            )?;
            w.create(shift)
        })
    }

    /// Records a paid-in, paid-out or no-sale on the open shift.
    pub fn cash_event(
        &mut self,
        actor: &Actor,
        kind: CashEventKind,
        amount: i64,
        reason: &str,
    ) -> Result<String, StoreError> {
        self.write(actor, |w| {
            let id = w.open_shift_id()?.ok_or(StoreError::NoOpenShift)?;
            let (by, now) = (w.actor().user_id, w.now());
            w.update(id, |s: &mut Shift| s.record(kind, amount, reason, by, now))
        })
    }

    /// The open shift of this device, if any.
    pub fn open_shift_id(&self) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc_id FROM p_shifts WHERE device_id = ?1 AND status = 'Open'",
                [self.identity().device_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.and_then(|s| s.parse().ok()))
    }

    /// The report of a shift as it stands (an X report for an open shift).
    pub fn shift_report(&mut self, shift_id: Uuid) -> Result<ShiftReport, StoreError> {
        let shift: Shift = self.get(shift_id)?;
        let sid = shift_id.to_string();
        let sale_ids = self.ids("SELECT doc_id FROM p_sales WHERE shift_id = ?1", &sid)?;
        let sales = sale_ids
            .into_iter()
            .map(|id| self.get::<Sale>(id))
            .collect::<Result<Vec<_>, _>>()?;
        let refund_ids = self.ids("SELECT doc_id FROM p_refunds WHERE shift_id = ?1", &sid)?;
        let refunds = refund_ids
            .into_iter()
            .map(|id| self.get::<Refund>(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShiftReport::compute(
            shift_id,
            &shift,
            &sales,
            &refunds,
            self.now(),
        )?)
    }

    /// An X report of the open shift: the figures so far, unnumbered, nothing changes.
    pub fn x_report(&mut self) -> Result<ShiftReport, StoreError> {
        let id = self.open_shift_id()?.ok_or(StoreError::NoOpenShift)?;
        self.shift_report(id)
    }

    /// Closes the open shift with a denomination count and takes its numbered Z report, in one
    /// transaction. Returns the shift id and the Z report's id.
    pub fn close_shift(
        &mut self,
        actor: &Actor,
        counts: BTreeMap<String, i64>,
    ) -> Result<(Uuid, Uuid), StoreError> {
        let shift_id = self.open_shift_id()?.ok_or(StoreError::NoOpenShift)?;
        let report = self.shift_report(shift_id)?;
        self.write(actor, |w| {
            let (by, now) = (w.actor().user_id, w.now());
            w.update(shift_id, |s: &mut Shift| s.close(counts, &report, by, now))?;
            let shift: Shift = w.get(shift_id)?;
            let number = w.next_in_sequence("z_report")?;
            let mut report = report;
            report.until = now;
            let z = ZReport::take(number, shift_id, &shift, report, by, now)?;
            let z_id = w.create(z)?;
            Ok((shift_id, z_id))
        })
    }

    // ----- stock -----------------------------------------------------------------------------

    fn stock_doc(
        &mut self,
        actor: &Actor,
        kind: StockDocKind,
        lines: &[StockInput],
        fill: impl FnOnce(&mut StockDoc),
    ) -> Result<Uuid, StoreError> {
        let names = lines
            .iter()
            .map(|l| Ok((l.item_id, self.get::<Item>(l.item_id)?.name)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(actor, |w| {
            let (by, now) = (w.actor().user_id, w.now());
            let mut doc = StockDoc::new(kind, by, now);
            fill(&mut doc);
            for (l, (_, name)) in lines.iter().zip(&names) {
                doc.set_line(l.item_id, name, l.qty, l.unit_cost)?;
            }
            doc.post(by, now)?;
            w.create(doc)
        })
    }

    /// Receives stock from a supplier (each line needs a unit cost).
    pub fn receive_stock(
        &mut self,
        actor: &Actor,
        supplier_ref: &str,
        lines: &[StockInput],
    ) -> Result<Uuid, StoreError> {
        let r = supplier_ref.trim().to_string();
        self.stock_doc(actor, StockDocKind::Receive, lines, |d| {
            d.supplier_ref = Some(r)
        })
    }

    /// Adjusts stock by signed quantities, with a reason (damage, theft, ...).
    pub fn adjust_stock(
        &mut self,
        actor: &Actor,
        reason: &str,
        lines: &[StockInput],
    ) -> Result<Uuid, StoreError> {
        let r = reason.trim().to_string();
        self.stock_doc(actor, StockDocKind::Adjust, lines, |d| d.reason = Some(r))
    }

    /// Sends stock to another store.
    pub fn transfer_out(
        &mut self,
        actor: &Actor,
        to_store: Uuid,
        lines: &[StockInput],
    ) -> Result<Uuid, StoreError> {
        self.stock_doc(actor, StockDocKind::TransferOut, lines, |d| {
            d.other_store_id = Some(to_store.to_string())
        })
    }

    /// Receives a transfer from another store.
    pub fn transfer_in(
        &mut self,
        actor: &Actor,
        from_store: Uuid,
        transfer_out_id: Uuid,
        lines: &[StockInput],
    ) -> Result<Uuid, StoreError> {
        self.stock_doc(actor, StockDocKind::TransferIn, lines, |d| {
            d.other_store_id = Some(from_store.to_string());
            d.transfer_out_id = Some(transfer_out_id.to_string());
        })
    }

    /// Starts a count sheet (a draft until posted).
    pub fn start_count(&mut self, actor: &Actor) -> Result<Uuid, StoreError> {
        self.write(actor, |w| {
            let doc = StockDoc::new(StockDocKind::Count, w.actor().user_id, w.now());
            w.create(doc)
        })
    }

    /// Records a counted quantity on a count sheet; the expected level is read now.
    pub fn count_item(
        &mut self,
        actor: &Actor,
        count_id: Uuid,
        item_id: Uuid,
        counted: i64,
    ) -> Result<(), StoreError> {
        let item: Item = self.get(item_id)?;
        let expected = self.stock_level(item_id)?.on_hand;
        self.write(actor, |w| {
            w.update(count_id, |d: &mut StockDoc| {
                d.set_count(item_id, &item.name, expected, counted)
            })
        })
    }

    /// Posts a count: each line moves stock by `counted - expected`.
    pub fn post_count(&mut self, actor: &Actor, count_id: Uuid) -> Result<(), StoreError> {
        self.write(actor, |w| {
            let (by, now) = (w.actor().user_id, w.now());
            w.update(count_id, |d: &mut StockDoc| d.post(by, now))
        })
    }

    pub(crate) fn ids(&self, sql: &str, arg: &str) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt = self.conn().prepare_cached(sql)?;
        let rows = stmt.query_map([arg], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(id) = r?.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Whether a sale is still open (for restoring the cart after a restart).
    pub fn sale_status(&mut self, sale_id: Uuid) -> Result<SaleStatus, StoreError> {
        Ok(self.get::<Sale>(sale_id)?.status)
    }
}

/// What the KDS can do to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KitchenAction {
    Start,
    Ready,
    Bump,
    BumpItem(String),
    Recall,
}

/// Which of a PIN's two uses (and throttles) a check is for.
#[derive(Debug, Clone, Copy)]
enum PinUse {
    Login,
    Approval,
}

/// A settled counter sale sends what the kitchen has not had yet, in the transaction that
/// closes it (issue 17: a latte paid at the counter never reached the bar). A table's lines go
/// only when fired; a store may turn this off (`StoreSettings::send_to_kitchen_on_pay`).
fn send_unsent_when_settled(
    w: &mut WriteTx<'_>,
    sale_id: Uuid,
    sale: &Sale,
    now: Timestamp,
) -> Result<(), StoreError> {
    let unsent = sale
        .lines
        .values()
        .any(|l| l.station.is_some() && l.fired_at.is_none());
    if sale.kind != SaleKind::Quick || !unsent || !w.settings()?.send_to_kitchen_on_pay {
        return Ok(());
    }
    // Without the KDS module there is no kitchen screen to send to: the sale is paid all the same.
    if !super::query::entitlements_in(w.sql())?.enabled(crate::modules::Module::Kds) {
        return Ok(());
    }
    let fired = w.update(sale_id, |s: &mut Sale| s.fire(None, now))?;
    let fired_sale: Sale = w.get(sale_id)?;
    for t in route(sale_id, &fired_sale, &fired, now)? {
        w.create(t)?;
    }
    Ok(())
}

/// Whether an open sale other than `except` uses the table name `table` (case aside).
fn ticket_taken(w: &WriteTx<'_>, table: &str, except: Uuid) -> Result<bool, StoreError> {
    let n: i64 = w.sql().query_row(
        "SELECT COUNT(*) FROM p_sales WHERE status = 'open' AND doc_id <> ?1
           AND lower(trim(ticket)) = lower(?2)",
        params![except.to_string(), table.trim()],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// The first free name for a part split off table `table`: "5 · 2", "5 · 3", ...
fn free_ticket_name(w: &WriteTx<'_>, table: &str) -> Result<String, StoreError> {
    for k in 2..1000 {
        let name = format!("{table} · {k}");
        if !ticket_taken(w, &name, Uuid::nil())? {
            return Ok(name);
        }
    }
    Ok(format!("{table} · {}", Uuid::now_v7()))
}

/// What [`Store::edit_line`] changes on a line; `None` leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEdit {
    pub qty: Option<i64>,
    /// `(group, option)` keys of the line's item; `Some(vec![])` removes every modifier.
    pub modifiers: Option<Vec<(String, String)>>,
    pub course: Option<i64>,
}
