//! The module registry (issue 13): what a tenant may use, switched per tenant by the platform.
//!
//! A module off hides its screens on the devices (offline too: they keep the tenant's
//! [`Entitlements`] from the last staff refresh) and makes the policy refuse its documents
//! ([`module_of`], checked by `policy::authorize` on the device and on the server alike). Turning
//! a module off never deletes anything: its documents stay, and reappear when it is on again.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::doc::AnyDoc;
use crate::inventory::StockDocKind;

macro_rules! modules {
    ($($variant:ident => $name:literal, $what:literal;)*) => {
        /// A module of the platform.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Module {
            $(#[doc = $what] $variant,)*
        }

        impl Module {
            pub const ALL: &'static [Module] = &[$(Module::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Module::$variant => $name,)*
                }
            }

            /// What the module is, for the platform's console.
            pub fn description(self) -> &'static str {
                match self {
                    $(Module::$variant => $what,)*
                }
            }
        }

        impl FromStr for Module {
            type Err = ModuleError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Module::$variant),)*
                    other => Err(ModuleError::Unknown(other.to_string())),
                }
            }
        }
    };
}

modules! {
    Pos => "pos", "Selling at the till: sales, refunds, shifts and Z reports.";
    Kds => "kds", "Kitchen display: tickets fired to stations and bumped.";
    Inventory => "inventory", "Stock: deliveries, adjustments and counts.";
    Transfers => "transfers", "Stock transfers between the tenant's stores.";
    EmailReceipts => "email_receipts", "Receipts emailed to customers.";
    Reports => "reports", "Head office's reports and the daily summary email.";
    MultiStore => "multi_store", "More than one store in the tenant.";
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error("unknown module {0:?}")]
    Unknown(String),
}

/// The modules a tenant has: every module unless switched off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlements {
    /// Modules switched off for the tenant.
    #[serde(default)]
    pub off: BTreeSet<Module>,
}

impl Entitlements {
    pub fn enabled(&self, m: Module) -> bool {
        !self.off.contains(&m)
    }
}

/// The module a document belongs to (`None`: the catalog and the store's settings, which every
/// tenant has).
pub fn module_of(doc: &AnyDoc) -> Option<Module> {
    match doc {
        AnyDoc::Sale(_) | AnyDoc::Refund(_) | AnyDoc::Shift(_) | AnyDoc::ZReport(_) => {
            Some(Module::Pos)
        }
        AnyDoc::KitchenTicket(_) => Some(Module::Kds),
        AnyDoc::Stock(s) => Some(match s.kind {
            StockDocKind::TransferOut | StockDocKind::TransferIn => Module::Transfers,
            StockDocKind::Receive | StockDocKind::Adjust | StockDocKind::Count => Module::Inventory,
        }),
        AnyDoc::StoreSettings(_) | AnyDoc::Category(_) | AnyDoc::Item(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_everything_is_on_by_default() {
        for m in Module::ALL {
            assert_eq!(m.as_str().parse::<Module>(), Ok(*m));
            assert!(Entitlements::default().enabled(*m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::json!(m.as_str())
            );
        }
        assert!("payroll".parse::<Module>().is_err());
        let e = Entitlements {
            off: [Module::Kds].into(),
        };
        assert!(!e.enabled(Module::Kds) && e.enabled(Module::Pos));
    }
}
