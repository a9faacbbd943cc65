//! The one error type of the commands. It crosses the IPC boundary as
//! `{"code": "WRONG_PIN", "message": "...", "details": {...}}`: the UI switches on `code` and
//! shows `message`, which is written for the person at the till.

use pos_core::auth::AuthError;
use pos_core::catalog::CatalogError;
use pos_core::policy::PolicyError;
use pos_core::store::StoreError;
use pos_printing::PrintError;
use serde::ser::SerializeStruct;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::Clock;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CommandError {
    #[error("This device is not set up yet. Choose demo mode or enrol it first.")]
    NotSetUp,
    #[error("This device is already set up.")]
    AlreadySetUp,
    #[error("Nobody is logged in. Enter your PIN.")]
    NotLoggedIn,
    #[error("Wrong PIN. {attempts_left} attempt(s) left before a lockout.")]
    WrongPin { attempts_left: i64 },
    #[error("Too many wrong PINs. This user is locked until {until_text}.")]
    LockedOut { until: i64, until_text: String },
    #[error("You are not allowed to do this ({permission}). Ask a manager.")]
    Forbidden { permission: String },
    #[error("This needs a manager's approval: {reason}")]
    NeedsApproval { reason: String },
    #[error("Unknown barcode {barcode}. Check the item or search for it by name.")]
    UnknownBarcode { barcode: String },
    #[error("Not found: {what}")]
    NotFound { what: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("No printer is set up. Add one under Settings → Printer.")]
    NoPrinter,
    #[error("Printer problem: {0}")]
    Printer(String),
    #[error("Cannot reach the server at {server}. Check the address and this device's network, then try again.")]
    ServerUnreachable { server: String, detail: String },
    #[error("The server refused this enrolment code: {reason}. Ask your manager for a new code.")]
    EnrolCodeRefused { reason: String },
    #[error("The server no longer accepts this device ({reason}). A manager can enrol it again under Settings → Sync server.")]
    DeviceRefused { reason: String },
    #[error("The server answered with an error: {message}. Try again later.")]
    Server { message: String },
    #[error("{0} Check the address with the customer.")]
    InvalidEmail(String),
    #[error("The file was not imported: {reason}")]
    ImportRejected {
        reason: String,
        lines: Vec<pos_core::import::LineError>,
    },
    #[error("Emailed receipts need a sync server, and this till is a standalone demo device: nothing was sent. Print the receipt instead, or enrol the till under Settings → Sync server.")]
    EmailNeedsServer,
    #[error("No shift is open on this till. Open a shift with its float before selling.")]
    NoShift,
    #[error(
        "{tables} open table(s) and {held} held sale(s) are still open. Close the shift anyway?"
    )]
    OpenSalesRemain { tables: usize, held: usize },
    #[error("Something went wrong on this device: {0}. Selling data is safe; try again or restart the app.")]
    Internal(String),
}

impl CommandError {
    /// The stable code the UI switches on.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::NotSetUp => "NOT_SET_UP",
            CommandError::AlreadySetUp => "ALREADY_SET_UP",
            CommandError::NotLoggedIn => "NOT_LOGGED_IN",
            CommandError::NoShift => "NO_SHIFT",
            CommandError::OpenSalesRemain { .. } => "OPEN_SALES",
            CommandError::WrongPin { .. } => "WRONG_PIN",
            CommandError::LockedOut { .. } => "LOCKED_OUT",
            CommandError::Forbidden { .. } => "FORBIDDEN",
            CommandError::NeedsApproval { .. } => "NEEDS_APPROVAL",
            CommandError::UnknownBarcode { .. } => "UNKNOWN_BARCODE",
            CommandError::NotFound { .. } => "NOT_FOUND",
            CommandError::Invalid(_) => "INVALID",
            CommandError::Conflict(_) => "CONFLICT",
            CommandError::NoPrinter => "NO_PRINTER",
            CommandError::Printer(_) => "PRINTER",
            CommandError::ServerUnreachable { .. } => "SERVER_UNREACHABLE",
            CommandError::EnrolCodeRefused { .. } => "ENROL_CODE_REFUSED",
            CommandError::DeviceRefused { .. } => "DEVICE_REFUSED",
            CommandError::Server { .. } => "SERVER_ERROR",
            CommandError::InvalidEmail(_) => "INVALID_EMAIL",
            CommandError::ImportRejected { .. } => "IMPORT_REJECTED",
            CommandError::EmailNeedsServer => "EMAIL_NEEDS_SERVER",
            CommandError::Internal(_) => "INTERNAL",
        }
    }

    fn details(&self) -> Value {
        match self {
            CommandError::WrongPin { attempts_left } => json!({ "attempts_left": attempts_left }),
            CommandError::LockedOut { until, .. } => json!({ "until": until }),
            CommandError::Forbidden { permission } => json!({ "permission": permission }),
            CommandError::OpenSalesRemain { tables, held } => {
                json!({ "tables": tables, "held": held })
            }
            CommandError::UnknownBarcode { barcode } => json!({ "barcode": barcode }),
            CommandError::ImportRejected { lines, .. } => json!({ "lines": lines }),
            CommandError::ServerUnreachable { server, detail } => {
                json!({ "server": server, "detail": detail })
            }
            CommandError::EnrolCodeRefused { reason } | CommandError::DeviceRefused { reason } => {
                json!({ "reason": reason })
            }
            _ => Value::Null,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        CommandError::Invalid(msg.into())
    }

    /// A store error whose message tells a time (a lockout's end), worded by the store's
    /// clock. The plain `From<StoreError>` has no store at hand and words it in UTC, saying so.
    pub fn at_store_time(e: StoreError, clock: &Clock) -> Self {
        match e {
            StoreError::LockedOut { until } => CommandError::LockedOut {
                until,
                until_text: clock.time_of_day(until),
            },
            e => e.into(),
        }
    }
}

/// A failed command's answer as the UI receives it (see the `Serialize` impl below): a stable
/// `code` the screens act on, a `message` a person reads, and `details` (`null`, or what the
/// code needs: attempts left, a lockout's end, the import's bad lines).
#[derive(specta::Type)]
#[allow(dead_code)] // only its type is used: the bindings' `PosError`
struct PosError {
    code: String,
    message: String,
    details: Option<Value>,
}

impl specta::Type for CommandError {
    fn definition(types: &mut specta::Types) -> specta::datatype::DataType {
        PosError::definition(types)
    }
}

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CommandError", 3)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.serialize_field("details", &self.details())?;
        st.end()
    }
}

/// Basis points as a percentage, `1250` → `12.5%`, in integers.
pub fn percent(bp: i64) -> String {
    let (whole, frac) = (bp / 100, (bp % 100).abs());
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// First letter upper-case: domain messages are lower-case sentences.
fn sentence(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => s,
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongPin { attempts_left } => CommandError::WrongPin { attempts_left },
            StoreError::LockedOut { until } => CommandError::LockedOut {
                until,
                until_text: Clock::fallback().time_of_day(until),
            },
            StoreError::NoPin => CommandError::invalid("No PIN is set for this user."),
            StoreError::UnknownUser(u) => CommandError::NotFound {
                what: format!("user {u}"),
            },
            StoreError::UnknownDocument(id) => CommandError::NotFound {
                what: format!("document {id}"),
            },
            StoreError::UnknownReceipt(r) => CommandError::NotFound {
                what: format!("receipt {r}"),
            },
            StoreError::NoOpenShift => CommandError::NoShift,
            StoreError::ShiftAlreadyOpen => {
                CommandError::Conflict("A shift is already open on this till.".into())
            }
            StoreError::NoSettings => CommandError::NotSetUp,
            StoreError::Email(e) => CommandError::InvalidEmail(sentence(e.to_string())),
            StoreError::Import(e) => {
                let lines = match &e {
                    pos_core::import::ImportError::BadLines(l) => l.clone(),
                    _ => Vec::new(),
                };
                CommandError::ImportRejected {
                    reason: e.to_string(),
                    lines,
                }
            }
            e @ StoreError::NotAReceipt(_) => CommandError::Invalid(sentence(e.to_string())),
            StoreError::Catalog(c) => c.into(),
            StoreError::Auth(a) => a.into(),
            StoreError::Policy(p) => p.into(),
            e @ (StoreError::Sale(_)
            | StoreError::Refund(_)
            | StoreError::Shift(_)
            | StoreError::Stock(_)
            | StoreError::Kitchen(_)
            | StoreError::Money(_)
            | StoreError::Secret(_)
            | StoreError::Receipt(_)) => CommandError::Invalid(sentence(e.to_string())),
            e @ (StoreError::NotAStore { .. }
            | StoreError::Foreign { .. }
            | StoreError::TooNew { .. }
            | StoreError::Corrupt { .. }
            | StoreError::BadDocument { .. }
            | StoreError::Missing { .. }
            | StoreError::AlreadyExists { .. }) => CommandError::Conflict(sentence(e.to_string())),
            other => CommandError::Internal(other.to_string()),
        }
    }
}

impl From<CatalogError> for CommandError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::UnknownBarcode(barcode) => CommandError::UnknownBarcode { barcode },
            CatalogError::UnknownItem(i) => CommandError::NotFound {
                what: format!("item {i}"),
            },
            other => CommandError::Invalid(sentence(other.to_string())),
        }
    }
}

impl From<AuthError> for CommandError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden { permission, .. } => CommandError::Forbidden {
                permission: permission.to_string(),
            },
            other => CommandError::Invalid(sentence(other.to_string())),
        }
    }
}

impl From<PolicyError> for CommandError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::DiscountNeedsOverride {
                share_bp,
                threshold_bp,
            } => CommandError::NeedsApproval {
                reason: format!(
                    "a discount of {} is above the {} limit",
                    percent(share_bp),
                    percent(threshold_bp)
                ),
            },
            PolicyError::Forbidden { permission, .. } => CommandError::Forbidden {
                permission: permission.to_string(),
            },
            PolicyError::Catalog(c) => c.into(),
            other => CommandError::Invalid(sentence(other.to_string())),
        }
    }
}

impl From<PrintError> for CommandError {
    fn from(e: PrintError) -> Self {
        match e {
            PrintError::UnknownCodePage(_) | PrintError::InvalidProfile(_) => {
                CommandError::Invalid(sentence(e.to_string()))
            }
            other => CommandError::Printer(other.to_string()),
        }
    }
}

impl From<uuid::Error> for CommandError {
    fn from(e: uuid::Error) -> Self {
        CommandError::Invalid(format!("Not a valid id: {e}."))
    }
}

pub type CmdResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_code_message_and_details() {
        let v = serde_json::to_value(CommandError::WrongPin { attempts_left: 2 }).unwrap();
        assert_eq!(v["code"], "WRONG_PIN");
        assert_eq!(v["details"]["attempts_left"], 2);
        assert!(v["message"].as_str().unwrap().contains("2 attempt"));
    }

    #[test]
    fn store_errors_map_to_actionable_codes() {
        let e: CommandError =
            StoreError::Catalog(CatalogError::UnknownBarcode("123".into())).into();
        assert_eq!(e.code(), "UNKNOWN_BARCODE");
        let e: CommandError = StoreError::NoOpenShift.into();
        assert_eq!(e.code(), "NO_SHIFT");
        let e: CommandError = StoreError::LockedOut { until: 3_600_000 }.into();
        assert!(e.to_string().contains("until 01:00:00 UTC."), "{e}");
    }

    #[test]
    fn a_lockout_ends_at_the_stores_summer_or_winter_time() {
        let paris = Clock::of_settings(&pos_core::catalog::StoreSettings {
            time_zone: "Europe/Paris".into(),
            ..pos_core::demo::settings()
        });
        // 2026-07-15T12:00:00Z and 2026-01-15T12:00:00Z.
        for (until, text) in [
            (1_784_116_800_000, "locked until 14:00:00 CEST."),
            (1_768_478_400_000, "locked until 13:00:00 CET."),
        ] {
            let e = CommandError::at_store_time(StoreError::LockedOut { until }, &paris);
            assert!(e.to_string().contains(text), "{e}");
            assert_eq!(e.code(), "LOCKED_OUT");
        }
        let e = CommandError::at_store_time(StoreError::NoOpenShift, &paris);
        assert_eq!(e, CommandError::NoShift, "other errors map as always");
    }
}
