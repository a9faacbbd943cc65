//! Roles, named permissions and the one `can` check.
//!
//! **Architecture invariant: this matrix is the only place that says what a role may do.** The
//! device runs it to guard the UI and its local writes; the server runs the same function,
//! authoritatively, on every change a device pushes (through [`crate::policy`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown permission {0:?}")]
    UnknownPermission(String),
    #[error("role {role} lacks permission {permission}")]
    Forbidden { role: Role, permission: Permission },
    #[error("unknown device kind {0:?}; expected \"till\" or \"kitchen\"")]
    UnknownDeviceKind(String),
}

/// A staff or head-office role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Cashier,
    Kitchen,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Cashier,
        Role::Kitchen,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Cashier => "cashier",
            Role::Kitchen => "kitchen",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.to_string()))
    }
}

macro_rules! permissions {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// A named permission. The string form (`sale.refund`) is what the admin API and the
        /// audit log show.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(&self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }
        }

        impl FromStr for Permission {
            type Err = AuthError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Permission::$variant),)*
                    _ => Err(AuthError::UnknownPermission(s.to_string())),
                }
            }
        }
    };
}

permissions! {
    SaleCreate => "sale.create", "Open a sale and add, change or remove unfired lines.";
    SaleDiscount => "sale.discount", "Give a line or order discount up to the store's threshold.";
    DiscountOverride => "discount.override", "Give or approve a discount above the threshold.";
    PriceOverride => "price.override", "Sell a line at a price other than the catalog price, including zero.";
    SaleTender => "sale.tender", "Take payment and close a sale.";
    SaleFire => "sale.fire", "Fire lines to the kitchen.";
    SaleVoid => "sale.void", "Void an unpaid sale, or remove a line already fired.";
    SaleRefund => "sale.refund", "Refund a closed sale.";
    DrawerNoSale => "drawer.no_sale", "Open the cash drawer without a sale.";
    ShiftOpen => "shift.open", "Open a shift with a float.";
    ShiftCash => "shift.cash", "Record a paid-in or paid-out.";
    ShiftClose => "shift.close", "Close a shift with a cash count.";
    ReportX => "report.x", "Print an X report mid-shift.";
    ReportZ => "report.z", "Take the numbered end-of-day Z report.";
    StockReceive => "stock.receive", "Receive stock from a supplier.";
    StockAdjust => "stock.adjust", "Adjust stock with a reason.";
    StockCount => "stock.count", "Count stock.";
    StockTransfer => "stock.transfer", "Transfer stock between stores.";
    CatalogEdit => "catalog.edit", "Create and edit items and categories, except prices.";
    PriceEdit => "price.edit", "Change catalog prices.";
    KdsBump => "kds.bump", "Start, bump and recall kitchen tickets.";
    SettingsEdit => "settings.edit", "Change the store's settings.";
    StaffManage => "staff.manage", "Manage the store's staff and PINs.";
    DeviceEnrol => "device.enrol", "Issue enrolment codes and revoke devices.";
    ReportView => "report.view", "Read sales, stock and audit reports.";
    TenantAdmin => "tenant.admin", "Manage stores, roles and the tenant's settings.";
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a head-office login holding `role` must use a second factor (TOTP): the roles that
/// run a tenant (owner, admin). The platform superadmin must too; that flag is not a role, and
/// the server adds it.
pub fn requires_second_factor(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

/// The permission matrix. The single source of truth for what a role may do.
pub fn can(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Owner => true,
        Role::Admin => true,
        Role::Manager => !matches!(permission, TenantAdmin),
        Role::Cashier => matches!(
            permission,
            SaleCreate
                | SaleDiscount
                | SaleTender
                | SaleFire
                | ShiftOpen
                | ShiftClose
                | ReportX
                | StockCount
        ),
        Role::Kitchen => matches!(permission, KdsBump),
    }
}

/// [`can`] as a `Result`, for `?`.
pub fn require(role: Role, permission: Permission) -> Result<(), AuthError> {
    if can(role, permission) {
        Ok(())
    } else {
        Err(AuthError::Forbidden { role, permission })
    }
}

/// **The rank rule**, the same for every grant, revocation and PIN: roles rank owner, admin,
/// manager, cashier, kitchen (the order of [`Role`], strongest first).
///
/// - A role may be granted or revoked only by someone whose rank is at least that role's: a
///   manager makes cashiers and managers, never an admin or an owner.
/// - Another person's roles and PIN may be changed only by someone who outranks that person's
///   strongest role anywhere in the tenant (an owner may act on owners). Otherwise a manager
///   could give the owner a role in the manager's store, set the owner's PIN and log in as the
///   owner on that store's tills (issue 15).
///
/// Permissions (`staff.manage`, `tenant.admin`) are checked as well; rank does not replace them.
pub mod rank {
    use super::Role;

    /// Whether `actor` may grant or revoke `role`.
    pub fn may_grant(actor: Role, role: Role) -> bool {
        actor <= role
    }

    /// Whether `actor` may change the roles or PIN of someone whose strongest role is `target`
    /// (`None`: no role at all).
    pub fn may_act_on(actor: Role, target: Option<Role>) -> bool {
        match target {
            None => true,
            Some(t) => actor == Role::Owner || actor < t,
        }
    }
}

/// What a device was enrolled as; the enrolment code says it, and the device cannot change it.
///
/// A kitchen screen acts with the kitchen role's rights whoever is logged in on it: a manager
/// who bumps tickets on the pass cannot take a payment or change a price from that screen. The
/// device caps its local actor with [`DeviceKind::cap`]; the server caps the roles of every
/// change the device pushes in the same way, from the kind it recorded at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A till or back-office laptop: the logged-in user's own role applies.
    #[default]
    Till,
    /// A kitchen display: at most the kitchen role.
    Kitchen,
}

impl DeviceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Till => "till",
            DeviceKind::Kitchen => "kitchen",
        }
    }

    /// The role `role` has on a device of this kind: its own on a till, the kitchen role on a
    /// kitchen screen (roles are ordered strongest first, so the cap is the weaker of the two).
    pub fn cap(&self, role: Role) -> Role {
        match self {
            DeviceKind::Till => role,
            DeviceKind::Kitchen => role.max(Role::Kitchen),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceKind {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "till" => Ok(DeviceKind::Till),
            "kitchen" => Ok(DeviceKind::Kitchen),
            other => Err(AuthError::UnknownDeviceKind(other.to_string())),
        }
    }
}

/// Who makes a change: a staff member on a device. Every local change records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: Uuid,
    pub role: Role,
    pub device_id: Uuid,
}

/// Failed PIN or password attempts before a lockout.
pub const MAX_FAILURES: i64 = 5;
/// How long a lockout lasts, in milliseconds.
pub const LOCKOUT_MS: i64 = 5 * 60 * 1000;

/// The lockout rule for PINs and passwords, the same on the device and the server: after
/// [`MAX_FAILURES`] failures in a row the account is locked for [`LOCKOUT_MS`]; a success resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Throttle {
    pub failures: i64,
    pub locked_until: Option<i64>,
}

impl Throttle {
    /// Whether an attempt may be made at `now`; `Err(until)` while locked.
    pub fn check(&self, now: i64) -> Result<(), i64> {
        match self.locked_until {
            Some(until) if now < until => Err(until),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the new state (locked once the limit is reached).
    pub fn fail(self, now: i64) -> Throttle {
        let failures = if self.locked_until.is_some_and(|u| now >= u) {
            1
        } else {
            self.failures + 1
        };
        Throttle {
            failures,
            locked_until: (failures >= MAX_FAILURES).then_some(now + LOCKOUT_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn five_failures_lock_for_five_minutes() {
        let mut t = Throttle::default();
        for i in 1..MAX_FAILURES {
            t = t.fail(1000);
            assert_eq!(t.failures, i);
            assert_eq!(t.check(1000), Ok(()));
        }
        t = t.fail(1000);
        assert_eq!(t.check(1000 + LOCKOUT_MS - 1), Err(1000 + LOCKOUT_MS));
        assert_eq!(t.check(1000 + LOCKOUT_MS), Ok(()));
        assert_eq!(
            t.fail(1000 + LOCKOUT_MS).failures,
            1,
            "the count starts again after a lockout"
        );
    }

    #[test]
    fn rank_lets_no_one_act_on_or_grant_above_themselves() {
        use super::rank::{may_act_on, may_grant};
        use Role::*;
        assert!(
            !may_act_on(Manager, Some(Owner)),
            "issue 15: a manager takes over the owner"
        );
        assert!(
            !may_act_on(Manager, Some(Manager)),
            "a peer's PIN is not a manager's to set"
        );
        assert!(may_act_on(Manager, Some(Cashier)));
        assert!(may_act_on(Manager, None));
        assert!(may_act_on(Owner, Some(Owner)));
        assert!(!may_act_on(Admin, Some(Owner)));
        assert!(
            may_act_on(Cashier, Some(Kitchen)),
            "rank alone; staff.manage is checked apart"
        );
        assert!(may_grant(Manager, Manager) && may_grant(Manager, Kitchen));
        assert!(!may_grant(Manager, Admin) && !may_grant(Manager, Owner));
        assert!(may_grant(Owner, Owner) && !may_grant(Admin, Owner));
    }

    #[test]
    fn a_kitchen_screen_caps_every_role_at_kitchen_and_a_till_caps_none() {
        for role in Role::ALL {
            assert_eq!(DeviceKind::Till.cap(role), role);
            assert_eq!(DeviceKind::Kitchen.cap(role), Role::Kitchen, "{role}");
        }
        assert!(!can(DeviceKind::Kitchen.cap(Role::Owner), SaleTender));
        assert!(!can(DeviceKind::Kitchen.cap(Role::Manager), PriceEdit));
        assert!(can(DeviceKind::Kitchen.cap(Role::Manager), KdsBump));
        assert_eq!("kitchen".parse::<DeviceKind>(), Ok(DeviceKind::Kitchen));
        assert_eq!(
            "kds".parse::<DeviceKind>().unwrap_err().to_string(),
            "unknown device kind \"kds\"; expected \"till\" or \"kitchen\""
        );
    }

    /// The matrix, spelled out row by row, so that a change to `can` must change this test.
    #[test]
    fn permission_matrix() {
        let expect = |role: Role, allowed: &[Permission]| {
            for p in Permission::ALL {
                assert_eq!(
                    can(role, *p),
                    allowed.contains(p),
                    "{role} / {p}: matrix disagrees with the table"
                );
            }
        };
        expect(Role::Owner, Permission::ALL);
        expect(Role::Admin, Permission::ALL);
        let manager: Vec<Permission> = Permission::ALL
            .iter()
            .copied()
            .filter(|p| *p != TenantAdmin)
            .collect();
        expect(Role::Manager, &manager);
        expect(
            Role::Cashier,
            &[
                SaleCreate,
                SaleDiscount,
                SaleTender,
                SaleFire,
                ShiftOpen,
                ShiftClose,
                ReportX,
                StockCount,
            ],
        );
        expect(Role::Kitchen, &[KdsBump]);
    }

    #[test]
    fn a_cashier_cannot_change_prices_or_refund() {
        assert_eq!(
            require(Role::Cashier, PriceEdit),
            Err(AuthError::Forbidden {
                role: Role::Cashier,
                permission: PriceEdit
            })
        );
        assert!(!can(Role::Cashier, SaleRefund));
        assert!(!can(Role::Cashier, PriceOverride));
        assert!(!can(Role::Kitchen, SaleTender));
    }

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert_eq!(
            "sale.steal".parse::<Permission>(),
            Err(AuthError::UnknownPermission("sale.steal".into()))
        );
        assert_eq!(
            "intern".parse::<Role>(),
            Err(AuthError::UnknownRole("intern".into()))
        );
    }
}
