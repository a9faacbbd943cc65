//! The one error type of the crate.

use std::time::Duration;

/// Everything that can go wrong while rendering, sending or queueing a print job.
///
/// Messages are lowercase and carry the offending value, so that a log line or a UI toast is
/// useful on its own.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    /// A printer profile names a code page this crate does not know.
    #[error("unknown code page {0:?}")]
    UnknownCodePage(String),
    /// A printer profile is inconsistent (columns, paper, dots, timings...).
    #[error("invalid printer profile: {0}")]
    InvalidProfile(String),
    /// A layout cannot be rendered (e.g. barcode data the symbology cannot carry).
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// Data a CODE128 barcode cannot carry: empty, not printable ASCII, or longer than a
    /// printer's `GS k` takes.
    #[error("code128 cannot carry {data:?}: {reason}")]
    Code128Data {
        /// The data (truncated to 64 chars).
        data: String,
        /// Why.
        reason: String,
    },
    /// A CODE128 barcode wider than the paper even at the narrowest module width printers
    /// document (2 dots), quiet zones included. Layouts print a QR code instead.
    #[error("code128 {data:?} needs {needed_dots} dots with quiet zones at 2 dots per module, paper has {width_dots}")]
    Code128TooWide {
        /// The data (truncated to 64 chars).
        data: String,
        /// Dots the bars and their 10-module quiet zones need at 2 dots per module.
        needed_dots: u32,
        /// The printable width of the paper.
        width_dots: u32,
    },
    /// An image is malformed (pixel buffer does not match its size, zero size...).
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// The QR code generator refused the data (too long...).
    #[error("qr code for {data:?} failed: {reason}")]
    Qr {
        /// The data that was to be encoded (truncated to 64 chars).
        data: String,
        /// The generator's reason.
        reason: String,
    },
    /// Opening a transport failed (device missing, host unreachable...).
    #[error("cannot open {target}: {reason}")]
    Connect {
        /// What was being opened: a path or host:port.
        target: String,
        /// Why it failed.
        reason: String,
    },
    /// An operation did not finish in time.
    #[error("{operation} on {target} timed out after {after:?}")]
    Timeout {
        /// What was being done: `connect`, `write`, `status`...
        operation: &'static str,
        /// A path or host:port.
        target: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// An I/O error on an open transport (connection reset, broken pipe...).
    #[error("i/o error on {target}: {reason}")]
    Io {
        /// A path or host:port.
        target: String,
        /// The operating system's message.
        reason: String,
    },
    /// The printer reported a condition that prevents printing.
    #[error("printer not ready: {0}")]
    NotReady(String),
    /// The durable queue's SQLite store failed.
    #[error("print queue store error: {0}")]
    Store(String),
    /// A job id or key does not exist in the queue.
    #[error("unknown print job {0}")]
    UnknownJob(String),
    /// The operation is not valid in the job's current state.
    #[error("print job {id} is {state}: {reason}")]
    InvalidJobState {
        /// The job id.
        id: i64,
        /// Its current state.
        state: String,
        /// Why the operation is refused.
        reason: String,
    },
    /// PNG preview encoding failed.
    #[error("png encoding failed: {0}")]
    Png(String),
    /// (De)serialising a layout or a profile failed.
    #[error("serialization failed: {0}")]
    Serde(String),
}

impl From<rusqlite::Error> for PrintError {
    fn from(e: rusqlite::Error) -> Self {
        PrintError::Store(e.to_string())
    }
}

impl From<serde_json::Error> for PrintError {
    fn from(e: serde_json::Error) -> Self {
        PrintError::Serde(e.to_string())
    }
}
