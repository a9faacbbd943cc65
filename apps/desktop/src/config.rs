//! This device's own settings, kept beside the store in `device.json`: the mode it runs in, its
//! printer, the KDS timer thresholds and the auto-lock delay. Store-wide settings (receipt header
//! and footer, tax) live in the store itself.

use std::path::{Path, PathBuf};

use pos_printing::{PrinterProfile, TransportConfig};
use serde::{Deserialize, Serialize};

use crate::error::{CmdResult, CommandError};

/// What this device is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Pos,
    Kds,
    BackOffice,
}

impl Mode {
    /// In words, for the device's name on the server.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Pos => "Point of sale",
            Mode::Kds => "Kitchen display",
            Mode::BackOffice => "Back office",
        }
    }
}

/// The receipt printer (it also drives the drawer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PrinterSetup {
    pub transport: TransportConfig,
    pub profile: PrinterProfile,
}

/// KDS timers: a ticket turns amber after `warn_after_s` and red after `late_after_s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct KdsSetup {
    pub warn_after_s: i64,
    pub late_after_s: i64,
    /// The station this screen shows (`None`: all, one column each).
    pub station: Option<String>,
}

impl Default for KdsSetup {
    fn default() -> Self {
        KdsSetup {
            warn_after_s: 300,
            late_after_s: 600,
            station: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct DeviceConfig {
    pub mode: Option<Mode>,
    pub printer: Option<PrinterSetup>,
    pub kds: KdsSetup,
    /// Lock the screen after this many seconds without input (0: never).
    pub idle_lock_s: u64,
    /// Addresses of the store's other devices (`IP` or `IP:port`), for networks where they
    /// cannot find each other by mDNS (Settings → Store devices).
    pub mesh_peers: Vec<String>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            mode: None,
            printer: None,
            kds: KdsSetup::default(),
            idle_lock_s: 120,
            mesh_peers: Vec::new(),
        }
    }
}

impl DeviceConfig {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("device.json")
    }

    /// Reads the config; a missing file is the default. A damaged one is reported, not replaced.
    pub fn load(data_dir: &Path) -> CmdResult<DeviceConfig> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CommandError::Conflict(format!(
                    "The device settings in {} are damaged ({e}). Fix or remove the file.",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DeviceConfig::default()),
            Err(e) => Err(CommandError::Internal(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the config atomically (temp file + rename).
    pub fn save(&self, data_dir: &Path) -> CmdResult<()> {
        let path = Self::path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| CommandError::Internal(e.to_string()))?;
        std::fs::write(&tmp, json)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| CommandError::Internal(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            DeviceConfig::load(dir.path()).unwrap(),
            DeviceConfig::default()
        );
        let c = DeviceConfig {
            mode: Some(Mode::Kds),
            printer: Some(PrinterSetup {
                transport: serde_json::from_str(r#"{"kind":"tcp","host":"127.0.0.1","port":9100}"#)
                    .unwrap(),
                profile: PrinterProfile::from_json(
                    r#"{"paper":"mm80","columns":48,"code_page":"PC858"}"#,
                )
                .unwrap(),
            }),
            ..DeviceConfig::default()
        };
        c.save(dir.path()).unwrap();
        assert_eq!(DeviceConfig::load(dir.path()).unwrap(), c);
        std::fs::write(DeviceConfig::path(dir.path()), b"{not json").unwrap();
        assert_eq!(
            DeviceConfig::load(dir.path()).unwrap_err().code(),
            "CONFLICT"
        );
    }
}
