//! The document policy: which roles may change which fields of which document, in which state.
//!
//! **Architecture invariant: the device and the server run this same function.** The device runs
//! it on every local write (so the UI cannot do what the server would refuse); the server runs
//! it, authoritatively, on every pushed change, after applying the change to a fork of its copy.
//!
//! Input: the actor, the envelope, the document before (or `None` at creation) and after, and the
//! automerge patches between them. The check has three parts:
//! 1. **Frozen states**: a closed or voided sale, a refund, a Z report, a posted stock document and
//!    a closed shift never change again.
//! 2. **Field rules**: every changed field (a typed diff of before and after, where a missing value
//!    and `null` are the same) maps to a permission, to "immutable", or to nothing known, which is
//!    refused. Every automerge patch must land on a field the typed document knows, so a hostile
//!    client cannot smuggle unknown keys into the master.
//! 3. **Value rules**: the document's own invariants, the discount threshold, and cross-document
//!    rules such as the refund bound, through [`PolicyContext`].

use std::collections::BTreeSet;

use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

use crate::auth::{can, Actor, Permission, Role};
use crate::catalog::{CatalogError, StoreSettings};
use crate::doc::{AnyDoc, DocType, Envelope, PatchPath};
use crate::inventory::{StockDocKind, StockDocStatus, StockError};
use crate::kitchen::KitchenTicket;
use crate::refund::{Refund, RefundError};
use crate::sale::{Discount, Sale, SaleError, SaleStatus};
use crate::shift::{count_cash, CashEventKind, ShiftError, ShiftStatus};

/// Why a change was refused. `code()` gives the machine-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("role {role} lacks {permission} for {field}")]
    Forbidden {
        role: Role,
        permission: Permission,
        field: String,
    },
    #[error("{doc_type} is {state} and can no longer change")]
    Frozen {
        doc_type: DocType,
        state: &'static str,
    },
    #[error("field {0} cannot change after creation")]
    Immutable(String),
    #[error("field {0} is not part of a {1} document")]
    UnknownField(String, DocType),
    #[error("document type changed from {before} to {after}")]
    TypeChanged { before: DocType, after: DocType },
    #[error("discount of {share_bp} bp exceeds the {threshold_bp} bp threshold and needs discount.override")]
    DiscountNeedsOverride { share_bp: i64, threshold_bp: i64 },
    #[error("sale must be in the store's currency {expected} and tax mode, got {got}")]
    SaleSettingsMismatch { expected: String, got: String },
    #[error("depends on {0}, which is not here yet")]
    MissingDependency(String),
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Refund(#[from] RefundError),
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Shift(#[from] ShiftError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Text the master cannot store (a NUL) or longer than a document field may be.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
    #[error("the {0} module is off for this tenant")]
    ModuleOff(crate::modules::Module),
}

impl PolicyError {
    /// A stable, machine-readable reason for the wire protocol.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Forbidden { .. } => "forbidden",
            PolicyError::Frozen { .. } => "frozen",
            PolicyError::Immutable(_) => "immutable_field",
            PolicyError::UnknownField(..) => "unknown_field",
            PolicyError::TypeChanged { .. } => "type_changed",
            PolicyError::DiscountNeedsOverride { .. } => "discount_needs_override",
            PolicyError::SaleSettingsMismatch { .. } => "settings_mismatch",
            PolicyError::MissingDependency(_) => "missing_dependency",
            PolicyError::Text(_) => "invalid_text",
            PolicyError::ModuleOff(_) => "module_disabled",
            PolicyError::Refund(RefundError::ExceedsRefundable { .. }) => "refund_exceeds_sale",
            PolicyError::Sale(
                SaleError::NothingToReturn { .. } | SaleError::ReturnMismatch { .. },
            ) => "bad_return",
            PolicyError::Sale(_)
            | PolicyError::Refund(_)
            | PolicyError::Stock(_)
            | PolicyError::Shift(_)
            | PolicyError::Catalog(_) => "invalid_document",
        }
    }
}

/// What the policy needs to know beyond the document itself. The device answers from its local
/// replica; the server from Postgres.
pub trait PolicyContext {
    /// The settings of the store the document belongs to.
    fn settings(&self, store_id: Uuid) -> Option<StoreSettings>;
    /// The role of a user of this tenant (for approvals such as a manager's discount override).
    fn role_of(&self, user_id: &str) -> Option<Role>;
    /// A sale and every refund of it (with their ids) except `excluding` (the refund being
    /// checked).
    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(Sale, Vec<(Uuid, Refund)>)>;
    /// Whether the tenant has `module` (`crate::modules`). No default: a context that wraps
    /// another must pass the question on.
    fn module_enabled(&self, module: crate::modules::Module) -> bool;
}

/// What a changed field requires.
enum Need {
    Perm(Permission),
    /// Settable at creation only.
    Immutable,
    /// No rule knows this field.
    Unknown,
}

use Need::*;

/// Checks a change. See the module documentation.
pub fn authorize(
    ctx: &dyn PolicyContext,
    actor: &Actor,
    env: &Envelope,
    before: Option<&AnyDoc>,
    after: &AnyDoc,
    patches: &[PatchPath],
) -> Result<(), PolicyError> {
    let before_json = before.map(AnyDoc::to_json);
    authorize_json(
        ctx,
        actor,
        env,
        before.zip(before_json.as_ref()),
        (after, &after.to_json()),
        patches,
    )
}

/// [`authorize`] for a caller that already has the documents' JSON forms (`AnyDoc::to_json`),
/// as the server's merge engine does from one change to the next.
pub fn authorize_json(
    ctx: &dyn PolicyContext,
    actor: &Actor,
    env: &Envelope,
    before: Option<(&AnyDoc, &Value)>,
    (after, after_json): (&AnyDoc, &Value),
    patches: &[PatchPath],
) -> Result<(), PolicyError> {
    let (before, before_json) = match before {
        Some((b, j)) => (Some(b), j),
        None => (None, &Value::Null),
    };
    if let Some(b) = before {
        if b.doc_type() != after.doc_type() {
            return Err(PolicyError::TypeChanged {
                before: b.doc_type(),
                after: after.doc_type(),
            });
        }
        if let Some(state) = frozen_state(b) {
            return Err(PolicyError::Frozen {
                doc_type: b.doc_type(),
                state,
            });
        }
    }
    // A document of a module the tenant does not have is refused, new or changed; what exists
    // stays (turning a module off deletes nothing).
    if let Some(m) = crate::modules::module_of(after) {
        if !ctx.module_enabled(m) {
            return Err(PolicyError::ModuleOff(m));
        }
    }
    crate::text::check_document(after_json)?;
    for p in patches {
        if !known_path(after_json, p) {
            return Err(PolicyError::UnknownField(p.to_string(), after.doc_type()));
        }
    }
    let changed = changed_fields(before_json, after_json, patches);

    // A manager's PIN approval written into the document stands in for the actor's permission
    // (a void, a refund or a line's price override by a cashier); the approver's role is what
    // is checked.
    let approved = |permission: Permission, path: &[&str]| {
        approval_of(after, permission, path, &changed)
            .and_then(|u| ctx.role_of(u))
            .is_some_and(|r| can(r, permission))
    };
    let need_perm_at =
        |permission: Permission, field: &str, path: &[&str]| -> Result<(), PolicyError> {
            if can(actor.role, permission) || approved(permission, path) {
                Ok(())
            } else {
                Err(PolicyError::Forbidden {
                    role: actor.role,
                    permission,
                    field: field.to_string(),
                })
            }
        };

    let need_perm = |permission: Permission, field: &str| need_perm_at(permission, field, &[]);
    // Creating a document needs its type's create permission.
    if before.is_none() {
        need_perm(
            create_permission(after),
            &format!("a new {}", after.doc_type()),
        )?;
    }
    for path in &changed {
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let field = path.join(".");
        match field_rule(before, after, &segs) {
            Perm(p) => need_perm_at(p, &field, &segs)?,
            Immutable if before.is_some() => return Err(PolicyError::Immutable(field)),
            Immutable => {}
            Unknown => return Err(PolicyError::UnknownField(field, after.doc_type())),
        }
    }
    value_rules(ctx, actor, env, before, after, &changed)
}

/// The user whose PIN approved `permission` on this document, if the document carries one: a
/// void's approver (only on a voided sale, so an approval cannot open other edits), a refund's,
/// or a line's price override's (only for that line's `price_override` and its approver, at
/// `path`). Discounts carry their own approver and are checked in [`check_discounts`].
fn approval_of<'a>(
    doc: &'a AnyDoc,
    permission: Permission,
    path: &[&str],
    changed: &[Vec<String>],
) -> Option<&'a str> {
    match (doc, permission) {
        // A split's approval (`Sale::moves_approved`) covers the lines of the change that
        // writes it, never a later one.
        (AnyDoc::Sale(s), Permission::SaleVoid)
            if s.status == SaleStatus::Open
                && matches!(path, ["lines", ..] | ["moves_approved", ..])
                && changed
                    .iter()
                    .any(|p| p.first().is_some_and(|f| f == "moves_approved")) =>
        {
            s.moves_approved.as_ref().map(|a| a.by.as_str())
        }
        (AnyDoc::Sale(s), Permission::PriceOverride) => match path {
            ["lines", line, "price_override" | "price_override_by", ..] => s
                .lines
                .get(*line)
                .and_then(|l| l.price_override_by.as_deref()),
            _ => None,
        },
        (AnyDoc::Sale(s), Permission::SaleVoid) if s.status == SaleStatus::Voided => {
            s.void_approved_by.as_deref()
        }
        (AnyDoc::Refund(r), Permission::SaleRefund) => r.approved_by.as_deref(),
        _ => None,
    }
}

fn frozen_state(doc: &AnyDoc) -> Option<&'static str> {
    match doc {
        AnyDoc::Sale(s) if s.status != SaleStatus::Open => Some(s.status.as_str()),
        AnyDoc::Refund(_) => Some("issued"),
        AnyDoc::ZReport(_) => Some("issued"),
        AnyDoc::Stock(s) if s.status == StockDocStatus::Posted => Some("posted"),
        AnyDoc::Shift(s) if s.status == ShiftStatus::Closed => Some("closed"),
        _ => None,
    }
}

fn stock_permission(kind: StockDocKind) -> Permission {
    match kind {
        StockDocKind::Receive => Permission::StockReceive,
        StockDocKind::Adjust => Permission::StockAdjust,
        StockDocKind::Count => Permission::StockCount,
        StockDocKind::TransferOut | StockDocKind::TransferIn => Permission::StockTransfer,
    }
}

fn create_permission(doc: &AnyDoc) -> Permission {
    match doc {
        AnyDoc::StoreSettings(_) => Permission::SettingsEdit,
        AnyDoc::Category(_) | AnyDoc::Item(_) => Permission::CatalogEdit,
        AnyDoc::Sale(_) => Permission::SaleCreate,
        AnyDoc::Refund(_) => Permission::SaleRefund,
        AnyDoc::KitchenTicket(_) => Permission::SaleFire,
        AnyDoc::Stock(s) => stock_permission(s.kind),
        AnyDoc::Shift(_) => Permission::ShiftOpen,
        AnyDoc::ZReport(_) => Permission::ReportZ,
    }
}

/// The rule for one changed field. Slice patterns keep the table readable.
fn field_rule(before: Option<&AnyDoc>, after: &AnyDoc, path: &[&str]) -> Need {
    use Permission::*;
    match after {
        AnyDoc::StoreSettings(_) => Perm(SettingsEdit),
        AnyDoc::Category(_) => Perm(CatalogEdit),
        AnyDoc::Item(_) => match path {
            ["price", ..] | ["store_prices", ..] => Perm(PriceEdit),
            _ => Perm(CatalogEdit),
        },
        AnyDoc::Sale(_) => {
            let before_sale = match before {
                Some(AnyDoc::Sale(s)) => Some(s),
                _ => None,
            };
            let fired_before = |line: &str| {
                before_sale
                    .and_then(|s| s.lines.get(line))
                    .is_some_and(|l| l.fired_at.is_some())
            };
            let paid_before = |id: &str| before_sale.is_some_and(|s| s.payments.contains_key(id));
            match path {
                ["currency", ..] | ["tax_mode", ..] | ["opened_at", ..] | ["opened_by", ..] => {
                    Immutable
                }
                ["lines", _, "note", ..] => Perm(SaleCreate),
                ["lines", line, ..] if fired_before(line) => Perm(SaleVoid),
                ["lines", _, "price_override", ..] | ["lines", _, "price_override_by", ..] => {
                    Perm(PriceOverride)
                }
                ["lines", _, "discount", ..] => Perm(SaleDiscount),
                ["lines", _, "fired_at", ..] => Perm(SaleFire),
                ["lines", ..] | ["ticket", ..] | ["kind", ..] | ["guests", ..] => Perm(SaleCreate),
                ["order_discount", ..] => Perm(SaleDiscount),
                ["payments", id, ..] if paid_before(id) => Immutable,
                ["payments", ..] | ["receipt_no", ..] | ["closed_at", ..] | ["shift_id", ..] => {
                    Perm(SaleTender)
                }
                // Voiding a sale with no line left (a table merged into another) takes nothing
                // back: removing its unfired lines needed only `sale.create`, and a fired line's
                // removal still needs `sale.void` above.
                ["status", ..] | ["voided_at", ..] | ["void_reason", ..] | ["merged_into", ..] => {
                    match after {
                        AnyDoc::Sale(s) if s.status == SaleStatus::Voided && s.lines.is_empty() => {
                            Perm(SaleCreate)
                        }
                        AnyDoc::Sale(s) if s.status == SaleStatus::Voided => Perm(SaleVoid),
                        _ if path[0] == "status" => Perm(SaleTender),
                        _ => Perm(SaleVoid),
                    }
                }
                ["void_approved_by", ..] | ["moves_approved", ..] => Perm(SaleVoid),
                _ => Unknown,
            }
        }
        AnyDoc::Refund(_) | AnyDoc::ZReport(_) => Immutable,
        // Created whole by firing / opening; the create permission covers their fields.
        AnyDoc::KitchenTicket(_) | AnyDoc::Shift(_) if before.is_none() => Immutable,
        AnyDoc::KitchenTicket(_) => match path {
            ["status", ..]
            | ["started_at", ..]
            | ["ready_at", ..]
            | ["bumped_at", ..]
            | ["recalled_at", ..]
            | ["items", _, "bumped_at", ..] => Perm(KdsBump),
            _ => Immutable,
        },
        AnyDoc::Stock(s) => match path {
            ["kind", ..] | ["created_at", ..] | ["created_by", ..] => Immutable,
            _ => Perm(stock_permission(s.kind)),
        },
        AnyDoc::Shift(s) => match path {
            ["events", id, ..] => match s.events.get(*id) {
                _ if matches!(before, Some(AnyDoc::Shift(b)) if b.events.contains_key(*id)) => {
                    Immutable
                }
                Some(e) if e.kind == CashEventKind::NoSale => Perm(DrawerNoSale),
                Some(_) => Perm(ShiftCash),
                None => Unknown,
            },
            ["status", ..]
            | ["closed_at", ..]
            | ["closed_by", ..]
            | ["counted", ..]
            | ["expected_cash", ..]
            | ["counted_cash", ..]
            | ["over_short", ..] => Perm(ShiftClose),
            _ => Immutable,
        },
    }
}

fn value_rules(
    ctx: &dyn PolicyContext,
    actor: &Actor,
    env: &Envelope,
    before: Option<&AnyDoc>,
    after: &AnyDoc,
    changed: &[Vec<String>],
) -> Result<(), PolicyError> {
    match after {
        AnyDoc::StoreSettings(s) => s.validate()?,
        AnyDoc::Category(_) => {}
        AnyDoc::Item(i) => i.validate()?,
        AnyDoc::Sale(sale) => {
            sale.validate()?;
            sale.check_returns(match before {
                Some(AnyDoc::Sale(b)) => Some(b),
                _ => None,
            })?;
            let store = env
                .store_id
                .ok_or(PolicyError::MissingDependency("store".into()))?;
            let settings = ctx
                .settings(store)
                .ok_or_else(|| PolicyError::MissingDependency(format!("settings of {store}")))?;
            if before.is_none()
                && (sale.currency != settings.currency || sale.tax_mode != settings.tax_mode)
            {
                return Err(PolicyError::SaleSettingsMismatch {
                    expected: settings.currency.clone(),
                    got: sale.currency.clone(),
                });
            }
            check_discounts(ctx, actor, &settings, sale, changed)?;
        }
        AnyDoc::Refund(r) => {
            let sale_id: Uuid = r
                .sale_id
                .parse()
                .map_err(|_| RefundError::UnknownLine(r.sale_id.clone()))?;
            let (sale, others) = ctx
                .sale_and_refunds(sale_id, env.doc_id)
                .ok_or_else(|| PolicyError::MissingDependency(format!("sale {sale_id}")))?;
            let others: Vec<Refund> = others.into_iter().map(|(_, r)| r).collect();
            r.validate_against(sale_id, &sale, &others)?;
        }
        AnyDoc::KitchenTicket(t) => validate_ticket(t)?,
        AnyDoc::Stock(s) => s.validate()?,
        AnyDoc::Shift(s) => {
            if s.float < 0 {
                return Err(ShiftError::NegativeFloat(s.float).into());
            }
            count_cash(&s.currency, &s.counted)?;
        }
        AnyDoc::ZReport(_) => {}
    }
    Ok(())
}

fn validate_ticket(_t: &KitchenTicket) -> Result<(), PolicyError> {
    Ok(())
}

/// Share of `base` that `discount` takes, in basis points.
/// The share of `base` a discount takes, in basis points: a percentage is its own share (the
/// rounded amount of 50% of an odd number of cents is a hair over 50%, and the approval then
/// read "50.05%" when 50% was typed, issue 17); an amount's share is computed.
fn share_bp(d: &Discount, base: i64) -> Result<i64, SaleError> {
    if d.kind == crate::sale::DiscountKind::Percent {
        return Ok(d.value);
    }
    let amount = d.amount_on(base)?;
    if base <= 0 {
        return Ok(0);
    }
    Ok(((i128::from(amount) * 10_000) / i128::from(base)) as i64)
}

fn check_discounts(
    ctx: &dyn PolicyContext,
    actor: &Actor,
    settings: &StoreSettings,
    sale: &Sale,
    changed: &[Vec<String>],
) -> Result<(), PolicyError> {
    let touched = |prefix: &[&str]| {
        changed
            .iter()
            .any(|p| p.len() >= prefix.len() && p.iter().zip(prefix).all(|(a, b)| a == b))
    };
    let approved = |d: &Discount| {
        can(actor.role, Permission::DiscountOverride)
            || d.approved_by
                .as_deref()
                .and_then(|u| ctx.role_of(u))
                .is_some_and(|r| can(r, Permission::DiscountOverride))
    };
    let threshold = settings.discount_threshold_bp;
    let totals = sale.totals()?;
    let mut checks: Vec<(&Discount, i64)> = Vec::new();
    for (id, line) in &sale.lines {
        if let Some(d) = &line.discount {
            if touched(&["lines", id, "discount"]) {
                checks.push((d, line.gross()?));
            }
        }
    }
    if let Some(d) = &sale.order_discount {
        if touched(&["order_discount"]) {
            checks.push((d, totals.subtotal - totals.line_discounts));
        }
    }
    for (d, base) in checks {
        let share = share_bp(d, base)?;
        if share > threshold && !approved(d) {
            return Err(PolicyError::DiscountNeedsOverride {
                share_bp: share,
                threshold_bp: threshold,
            });
        }
    }
    Ok(())
}

/// Whether an automerge patch lands on a field the typed document knows.
fn known_path(after: &Value, p: &PatchPath) -> bool {
    let mut cur = after;
    for (i, seg) in p.segments.iter().enumerate() {
        match cur {
            Value::Object(map) => match map.get(seg) {
                Some(v) => cur = v,
                // Deleting a map entry (a line, a payment) leaves no trace in `after`.
                None => return p.deletion && i == p.segments.len() - 1,
            },
            // Sequences (barcodes, modifiers) are leaves of the typed view.
            Value::Array(_) => return true,
            // A value inside a scalar: only possible through a foreign object.
            _ => return false,
        }
    }
    true
}

static NULL: Value = Value::Null;

/// The leaf paths where `before` and `after` differ, looked for only under the fields the
/// patches touched: a change's cost follows the change, not the whole document.
///
/// The typed JSON is derived field by field from the automerge document (no field is computed
/// from another), so outside the patched subtrees the two sides are equal. Each patch path is
/// followed while both sides are objects; where one side stops being one (a new or removed
/// line, a list, a scalar) the whole subtree is compared, as [`diff_json`] would. A creation, or
/// a call without patches, diffs the whole document. Debug builds (every test) check the result
/// against the full diff.
fn changed_fields(before: &Value, after: &Value, patches: &[PatchPath]) -> Vec<Vec<String>> {
    if patches.is_empty() || !before.is_object() {
        // A creation, or a caller without patches: the whole document.
        let mut out = Vec::new();
        diff_json(before, after, &mut Vec::new(), &mut out);
        return out;
    }
    let mut roots: Vec<Vec<&str>> = Vec::with_capacity(patches.len());
    for p in patches {
        let mut root = Vec::new();
        let (mut x, mut y) = (before, after);
        for seg in &p.segments {
            match (x, y) {
                (Value::Object(a), Value::Object(b)) => {
                    root.push(seg.as_str());
                    x = a.get(seg).unwrap_or(&Value::Null);
                    y = b.get(seg).unwrap_or(&Value::Null);
                }
                _ => break,
            }
        }
        roots.push(root);
    }
    roots.sort();
    roots.dedup();
    let mut out = Vec::new();
    let mut last: Option<&Vec<&str>> = None;
    let mut path = Vec::new();
    for root in &roots {
        // A root under the previous one is already covered by it.
        if last.is_some_and(|l| root.starts_with(l)) {
            continue;
        }
        last = Some(root);
        let at = |v| {
            root.iter()
                .try_fold(v, |v: &Value, k| v.get(*k))
                .unwrap_or(&NULL)
        };
        path.clear();
        path.extend(root.iter().map(|s| s.to_string()));
        diff_json(at(before), at(after), &mut path, &mut out);
    }
    #[cfg(debug_assertions)]
    {
        let mut full = Vec::new();
        diff_json(before, after, &mut Vec::new(), &mut full);
        let (mut a, mut b) = (out.clone(), full);
        a.sort();
        b.sort();
        debug_assert_eq!(
            a, b,
            "diff under the patched fields differs from the full diff"
        );
    }
    out
}

/// Collects the leaf paths where `a` and `b` differ. `null` and a missing key are the same.
/// An added object reports its leaves (so a new line's price override is seen); a removed one
/// reports only its own path (removing a line is not editing its fields).
fn diff_json(a: &Value, b: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                path.push(k.clone());
                diff_json(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    path,
                    out,
                );
                path.pop();
            }
        }
        (Value::Null, Value::Object(y)) => {
            for (k, v) in y {
                path.push(k.clone());
                diff_json(&Value::Null, v, path, out);
                path.pop();
            }
        }
        (Value::Null, Value::Null) => {}
        (x, y) if x == y => {}
        _ => out.push(path.clone()),
    }
}
