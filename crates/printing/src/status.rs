//! Real-time status (`DLE EOT n`): what the printer says about itself, or `Unknown`.
//!
//! Three requests are sent one after the other, each answered by one byte:
//! `n = 1` (printer: offline, drawer pin 3), `n = 2` (offline cause: cover open, paper end
//! stop, error) and `n = 4` (roll paper sensors: near end, end). A missing or malformed answer
//! makes the whole status [`PrinterStatus::Unknown`]; it is never reported as ready.
//!
//! `drawer_open` reports the drawer kick-out connector pin 3 being high, which is "open" for
//! most drawers; a drawer wired the other way reads inverted.

use crate::escpos::status_request;
use crate::transport::Transport;
use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// What the printer reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StatusFlags {
    /// Not offline.
    pub online: bool,
    /// Cover open.
    pub cover_open: bool,
    /// Paper roll near its end (still printing).
    pub paper_near_end: bool,
    /// Paper out: printing stopped.
    pub paper_out: bool,
    /// Drawer open (pin 3 high).
    pub drawer_open: bool,
    /// An error other than the above (cutter jam, overheating...).
    pub error: bool,
}

/// The printer's status, or `Unknown` with the reason (no answer, bad answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PrinterStatus {
    /// The printer answered all requests.
    Known(StatusFlags),
    /// No (valid) answer; nothing is known, in particular not that it is fine.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl PrinterStatus {
    /// True only when the printer answered and nothing prevents printing.
    pub fn is_ready(&self) -> bool {
        self.problem().is_none()
    }

    /// What prevents printing, in words (`paper out`, `cover open`...), `None` if ready.
    pub fn problem(&self) -> Option<String> {
        match self {
            PrinterStatus::Unknown { reason } => Some(format!("status unknown: {reason}")),
            PrinterStatus::Known(f) => {
                let mut p = Vec::new();
                if f.paper_out {
                    p.push("paper out");
                }
                if f.cover_open {
                    p.push("cover open");
                }
                if f.error {
                    p.push("printer error");
                }
                if !f.online && p.is_empty() {
                    p.push("offline");
                }
                (!p.is_empty()).then(|| p.join(", "))
            }
        }
    }
}

/// A valid status byte has bits 1 and 4 set and bits 0 and 7 clear.
fn valid(b: u8) -> bool {
    b & 0b1001_0011 == 0b0001_0010
}

/// Decodes the answers to `DLE EOT 1`, `2` and `4`.
pub fn decode(n1: u8, n2: u8, n4: u8) -> PrinterStatus {
    if !(valid(n1) && valid(n2) && valid(n4)) {
        return PrinterStatus::Unknown {
            reason: format!("malformed status bytes {n1:#04x} {n2:#04x} {n4:#04x}"),
        };
    }
    PrinterStatus::Known(StatusFlags {
        online: n1 & 0x08 == 0,
        drawer_open: n1 & 0x04 != 0,
        cover_open: n2 & 0x04 != 0,
        paper_out: n2 & 0x20 != 0 || n4 & 0x60 != 0,
        paper_near_end: n4 & 0x0C != 0,
        error: n2 & 0x40 != 0,
    })
}

/// Asks the printer for its status, waiting at most `timeout` for each of the three answers.
/// No answer gives `Ok(Unknown)`; a dead connection gives `Err`.
pub fn query_status(t: &mut dyn Transport, timeout: Duration) -> Result<PrinterStatus, PrintError> {
    let mut answers = [0u8; 3];
    for (i, n) in [1u8, 2, 4].into_iter().enumerate() {
        t.write_all(&status_request(n))?;
        t.flush()?;
        let deadline = Instant::now() + timeout;
        let mut b = [0u8; 1];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(PrinterStatus::Unknown {
                    reason: format!(
                        "no answer to DLE EOT {n} from {} within {timeout:?}",
                        t.describe()
                    ),
                });
            }
            if t.read_timeout(&mut b, left)? == 1 {
                break;
            }
        }
        answers[i] = b[0];
    }
    Ok(decode(answers[0], answers[1], answers[2]))
}

/// Status bytes a healthy printer sends, for fakes and tests: `[n1, n2, n4]`.
pub const BYTES_READY: [u8; 3] = [0x12, 0x12, 0x12];
/// Status bytes of a printer out of paper: offline, paper-end stop, sensors at end.
pub const BYTES_PAPER_OUT: [u8; 3] = [0x1A, 0x32, 0x7E];
/// Status bytes of a printer with its cover open.
pub const BYTES_COVER_OPEN: [u8; 3] = [0x1A, 0x16, 0x12];
/// Status bytes of a ready printer whose paper is near its end.
pub const BYTES_PAPER_NEAR_END: [u8; 3] = [0x12, 0x12, 0x1E];
/// Status bytes of a ready printer with the drawer open.
pub const BYTES_DRAWER_OPEN: [u8; 3] = [0x16, 0x12, 0x12];

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(b: [u8; 3]) -> StatusFlags {
        match decode(b[0], b[1], b[2]) {
            PrinterStatus::Known(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_each_condition() {
        assert!(decode(0x12, 0x12, 0x12).is_ready());
        let f = flags(BYTES_PAPER_OUT);
        assert!(f.paper_out && !f.online);
        let f = flags(BYTES_COVER_OPEN);
        assert!(f.cover_open && !f.online && !f.paper_out);
        let f = flags(BYTES_PAPER_NEAR_END);
        assert!(f.paper_near_end && f.online && !f.paper_out);
        assert!(decode(0x12, 0x12, 0x1E).is_ready());
        assert!(flags(BYTES_DRAWER_OPEN).drawer_open);
    }

    #[test]
    fn garbage_is_unknown_not_ok() {
        let s = decode(0x00, 0x12, 0x12);
        assert!(matches!(s, PrinterStatus::Unknown { .. }));
        assert!(!s.is_ready());
    }
}
