//! Transports: how job bytes reach a printer.
//!
//! Every transport implements [`Transport`] (an open connection) and has a config type that
//! implements [`Connector`] (how to open one). The queue only sees `dyn Connector`, so a new
//! transport is one new file: a config struct, a connection struct, and the two impls. The
//! [`TransportConfig`] enum is a serde-friendly way to pick one of the built-in transports.
//!
//! Every operation is bounded by a timeout: a missing device or a silent host gives an error
//! within the configured time, never a hang.

use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub mod device;
pub mod serial;
pub mod tcp;

pub use device::DeviceConfig;
pub use serial::{FlowControl, SerialConfig};
pub use tcp::TcpConfig;

/// An open connection to a printer.
pub trait Transport: Send {
    /// Writes all of `bytes`, within the transport's write timeout.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrintError>;

    /// Reads what the printer sent, waiting at most `timeout`. `Ok(0)` means nothing arrived
    /// in time; a closed connection is an error.
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, PrintError>;

    /// Pushes buffered bytes out.
    fn flush(&mut self) -> Result<(), PrintError> {
        Ok(())
    }

    /// A short description for messages: `tcp 10.0.0.5:9100`, `serial /dev/ttyUSB0`.
    fn describe(&self) -> String;
}

/// Opens connections to one printer. Implemented by each transport's config.
pub trait Connector: Send + Sync {
    /// Opens a connection, within the transport's connect timeout.
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError>;

    /// A short description for messages.
    fn describe(&self) -> String;
}

/// One of the built-in transports, as configuration (JSON: `{"kind":"tcp","host":...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransportConfig {
    /// Raw TCP, usually port 9100.
    Tcp(TcpConfig),
    /// A serial port.
    Serial(SerialConfig),
    /// A line-printer device file such as `/dev/usb/lp0`.
    Device(DeviceConfig),
}

impl Connector for TransportConfig {
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError> {
        match self {
            TransportConfig::Tcp(c) => c.connect(),
            TransportConfig::Serial(c) => c.connect(),
            TransportConfig::Device(c) => c.connect(),
        }
    }

    fn describe(&self) -> String {
        match self {
            TransportConfig::Tcp(c) => c.describe(),
            TransportConfig::Serial(c) => c.describe(),
            TransportConfig::Device(c) => c.describe(),
        }
    }
}

/// Serde helper: durations as integer milliseconds.
pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

pub(crate) fn io_err(target: &str, e: &std::io::Error) -> PrintError {
    PrintError::Io {
        target: target.to_string(),
        reason: e.to_string(),
    }
}
