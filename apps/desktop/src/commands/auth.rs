//! PIN login, logout and manager approval, all offline (`Store::login`).

use pos_core::auth::{can, Actor, Permission, Role};
use serde::Serialize;
use tauri::State;

use crate::clock::Clock;
use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

use super::id;

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct StaffView {
    pub id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The permissions of the role (`pos_core::auth::can`), for the UI to guard its buttons.
    pub permissions: Vec<&'static str>,
}

impl UserView {
    /// `actor.role` is the role on this device (a kitchen screen caps it); `own_role` is the
    /// one the person holds in the store. `device.enrol` follows `own_role`: re-enrolling
    /// concerns the device, not the store's documents, so a manager can re-enrol a kitchen
    /// screen that was revoked (see [`may_enrol`]).
    pub fn new(actor: Actor, own_role: Role, name: String) -> UserView {
        UserView {
            id: actor.user_id.to_string(),
            name,
            role: actor.role,
            permissions: Permission::ALL
                .iter()
                .filter(|p| match p {
                    Permission::DeviceEnrol => may_enrol(own_role),
                    _ => can(actor.role, **p),
                })
                .map(|p| p.as_str())
                .collect(),
        }
    }
}

/// Whether a person with `own_role` (their role in the store, not capped by the device's
/// kind) may enrol this device again.
pub fn may_enrol(own_role: Role) -> bool {
    can(own_role, Permission::DeviceEnrol)
}

/// The store's staff, for the user picker.
#[tauri::command]
#[specta::specta]
pub fn staff_list(state: State<'_, AppState>) -> CmdResult<Vec<StaffView>> {
    let inner = state.lock();
    let out = inner
        .store()?
        .staff()?
        .into_iter()
        .map(|(id, name, role)| StaffView {
            id: id.to_string(),
            name,
            role,
        })
        .collect();
    Ok(out)
}

/// Logs a staff member in with their PIN (lockout after repeated failures, in core; its end
/// in the store's time).
#[tauri::command]
#[specta::specta]
pub fn login(state: State<'_, AppState>, user_id: String, pin: String) -> CmdResult<UserView> {
    let uid = id(&user_id)?;
    let mut inner = state.lock();
    let actor = {
        let mut store = inner.store()?;
        store
            .login(uid, &pin)
            .map_err(|e| CommandError::at_store_time(e, &Clock::of_store(&store)))?
    };
    let own_role = inner.store()?.staff_role(uid)?;
    let name = inner
        .store()?
        .staff()?
        .into_iter()
        .find(|(i, _, _)| *i == uid)
        .map(|(_, n, _)| n)
        .unwrap_or_default();
    inner.actor = Some(actor);
    inner.user_name = name.clone();
    Ok(UserView::new(actor, own_role, name))
}

/// Locks the screen: nobody is logged in until a PIN is entered.
#[tauri::command]
#[specta::specta]
pub fn logout(state: State<'_, AppState>) {
    let mut inner = state.lock();
    inner.actor = None;
    inner.user_name.clear();
    inner.approvals.clear();
}

#[derive(Debug, Serialize, specta::Type)]
pub struct Approval {
    pub user_id: String,
    pub name: String,
}

/// Checks a manager's PIN for an approval (by default a discount above the threshold; the UI
/// may name another permission, such as `sale.void` or `sale.refund`). The logged-in user stays
/// logged in. The approval is kept for five minutes, for one command that names this approver
/// (`Inner::take_approval`); the approver's id goes into the document (`Discount::approved_by`,
/// `Sale::void_approved_by`, `Refund::approved_by`), which core's policy checks against the
/// approver's role. A wrong PIN here counts toward the approver's
/// approval lockout, not their login lockout (`Store::approve`).
#[tauri::command]
#[specta::specta]
pub fn approve_manager(
    state: State<'_, AppState>,
    user_id: String,
    pin: String,
    permission: Option<String>,
) -> CmdResult<Approval> {
    let uid = id(&user_id)?;
    let permission: Permission = match permission.as_deref() {
        None => Permission::DiscountOverride,
        Some(p) => p
            .parse()
            .map_err(|_| CommandError::invalid(format!("{p:?} is not a permission.")))?,
    };
    let mut inner = state.lock();
    let mut store = inner.store()?;
    store
        .approve(uid, &pin, permission)
        .map_err(|e| CommandError::at_store_time(e, &Clock::of_store(&store)))?;
    let name = store
        .staff()?
        .into_iter()
        .find(|(i, _, _)| *i == uid)
        .map(|(_, n, _)| n)
        .unwrap_or_default();
    drop(store);
    inner.approvals.push(crate::state::Approval {
        user_id: uid,
        permission,
        until_ms: pos_core::store::now_ms() + crate::state::APPROVAL_TTL_MS,
    });
    Ok(Approval {
        user_id: uid.to_string(),
        name,
    })
}
