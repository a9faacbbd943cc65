//! Serial (RS-232 / USB-serial) transport, on the `serialport` crate without libudev.

use super::{millis, Connector, Transport};
use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

/// Flow control of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    /// None.
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS (most receipt printers).
    Hardware,
}

impl From<FlowControl> for serialport::FlowControl {
    fn from(f: FlowControl) -> Self {
        match f {
            FlowControl::None => serialport::FlowControl::None,
            FlowControl::Software => serialport::FlowControl::Software,
            FlowControl::Hardware => serialport::FlowControl::Hardware,
        }
    }
}

/// A printer on a serial port, 8N1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SerialConfig {
    /// Device path: `/dev/ttyUSB0`, `COM3`.
    pub path: String,
    /// Baud rate, 9600 by default.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Flow control, hardware by default.
    #[serde(default = "default_flow")]
    pub flow_control: FlowControl,
    /// Write timeout (ms in JSON), 10 s by default.
    #[serde(default = "default_write", with = "millis")]
    #[cfg_attr(feature = "specta", specta(type = u64))]
    pub write_timeout: Duration,
}

fn default_baud() -> u32 {
    9600
}
fn default_flow() -> FlowControl {
    FlowControl::Hardware
}
fn default_write() -> Duration {
    Duration::from_secs(10)
}

impl SerialConfig {
    /// `path` at `baud` with `flow_control` and a 10 s write timeout.
    pub fn new(path: impl Into<String>, baud: u32, flow_control: FlowControl) -> Self {
        SerialConfig {
            path: path.into(),
            baud,
            flow_control,
            write_timeout: default_write(),
        }
    }

    /// Sets the write timeout.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
}

impl Connector for SerialConfig {
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError> {
        let timeout = self.write_timeout.max(Duration::from_millis(1));
        let port = serialport::new(self.path.as_str(), self.baud)
            .flow_control(self.flow_control.into())
            .timeout(timeout)
            .open()
            .map_err(|e| PrintError::Connect {
                target: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Box::new(SerialTransport {
            port,
            path: self.path.clone(),
            write_timeout: timeout,
        }))
    }

    fn describe(&self) -> String {
        format!("serial {} {} baud", self.path, self.baud)
    }
}

/// An open serial port.
pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    write_timeout: Duration,
}

impl SerialTransport {
    fn err(&self, e: std::io::Error, operation: &'static str) -> PrintError {
        if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
            PrintError::Timeout {
                operation,
                target: self.path.clone(),
                after: self.write_timeout,
            }
        } else {
            super::io_err(&self.path, &e)
        }
    }
}

impl Transport for SerialTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        let _ = self.port.set_timeout(self.write_timeout);
        self.port.write_all(bytes).map_err(|e| self.err(e, "write"))
    }

    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, PrintError> {
        self.port
            .set_timeout(timeout.max(Duration::from_millis(1)))
            .map_err(|e| PrintError::Io {
                target: self.path.clone(),
                reason: e.to_string(),
            })?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => Ok(0),
            Err(e) => Err(self.err(e, "read")),
        }
    }

    fn flush(&mut self) -> Result<(), PrintError> {
        self.port.flush().map_err(|e| self.err(e, "flush"))
    }

    fn describe(&self) -> String {
        format!("serial {}", self.path)
    }
}
