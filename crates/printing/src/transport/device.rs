//! Line-printer device file transport (`/dev/usb/lp0`, `/dev/lp0`).
//!
//! The file is opened non-blocking where the platform allows it, so that a printer that stops
//! accepting data (paper out, powered off) makes `write_all` time out instead of hanging. The
//! usblp driver only returns status bytes for bidirectional printers; when nothing comes back
//! the status is `Unknown`.

use super::{io_err, millis, Connector, Transport};
use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `O_NONBLOCK` for the platforms where its value is known without libc.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd"))]
const O_NONBLOCK: i32 = 0x4;

/// Poll interval while the device is not ready.
const POLL: Duration = Duration::from_millis(5);

/// A printer behind a device file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
// The name only tells it apart from the desktop app's `DeviceConfig` in generated TypeScript;
// JSON does not carry a struct's name.
#[serde(rename = "PrinterDeviceConfig")]
pub struct DeviceConfig {
    /// Path of the device, e.g. `/dev/usb/lp0`.
    pub path: PathBuf,
    /// Write timeout (ms in JSON), 10 s by default.
    #[serde(default = "default_write", with = "millis")]
    #[cfg_attr(feature = "specta", specta(type = u64))]
    pub write_timeout: Duration,
}

fn default_write() -> Duration {
    Duration::from_secs(10)
}

impl DeviceConfig {
    /// The device at `path` with a 10 s write timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeviceConfig {
            path: path.into(),
            write_timeout: default_write(),
        }
    }

    /// Sets the write timeout.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
}

fn open(path: &PathBuf, read: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).read(read);
    #[cfg(any(
        all(
            target_os = "linux",
            any(
                target_arch = "x86_64",
                target_arch = "x86",
                target_arch = "aarch64",
                target_arch = "arm",
                target_arch = "riscv64",
                target_arch = "powerpc64",
                target_arch = "s390x",
                target_arch = "loongarch64"
            )
        ),
        target_os = "macos",
        target_os = "freebsd",
        target_os = "openbsd"
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(O_NONBLOCK);
    }
    o.open(path)
}

impl Connector for DeviceConfig {
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError> {
        let target = self.path.display().to_string();
        // Read-write for status where the driver allows it, else write-only.
        let (file, readable) = match open(&self.path, true) {
            Ok(f) => (f, true),
            Err(_) => (
                open(&self.path, false).map_err(|e| PrintError::Connect {
                    target: target.clone(),
                    reason: e.to_string(),
                })?,
                false,
            ),
        };
        Ok(Box::new(DeviceTransport {
            file,
            readable,
            target,
            write_timeout: self.write_timeout,
        }))
    }

    fn describe(&self) -> String {
        format!("device {}", self.path.display())
    }
}

/// An open device file.
pub struct DeviceTransport {
    file: File,
    readable: bool,
    target: String,
    write_timeout: Duration,
}

impl Transport for DeviceTransport {
    fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), PrintError> {
        let deadline = Instant::now() + self.write_timeout;
        while !bytes.is_empty() {
            match self.file.write(bytes) {
                Ok(0) => {
                    return Err(PrintError::Io {
                        target: self.target.clone(),
                        reason: "device accepted no bytes".into(),
                    })
                }
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(PrintError::Timeout {
                            operation: "write",
                            target: self.target.clone(),
                            after: self.write_timeout,
                        });
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) => return Err(io_err(&self.target, &e)),
            }
        }
        Ok(())
    }

    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, PrintError> {
        if !self.readable {
            return Ok(0);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.file.read(buf) {
                Ok(n) if n > 0 => return Ok(n),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => return Err(io_err(&self.target, &e)),
            }
            if Instant::now() >= deadline {
                return Ok(0);
            }
            std::thread::sleep(POLL);
        }
    }

    fn flush(&mut self) -> Result<(), PrintError> {
        self.file.flush().map_err(|e| io_err(&self.target, &e))
    }

    fn describe(&self) -> String {
        format!("device {}", self.target)
    }
}
