//! `printer_status`: what a printer (or whatever answers on port 9100) sends back to the three
//! real-time status requests, through `pos_printing::query_status`.

use std::time::Duration;

use pos_printing::status::{decode, query_status, PrinterStatus};
use pos_printing::transport::Transport;
use pos_printing::PrintError;

/// A connection whose answers are scripted by the input, two bytes an event: `op`, `value`.
/// `op % 4`: 0 nothing arrived in time (`Ok(0)`), 1 the connection failed, 2 and 3 one byte
/// (`value`) arrived. The end of the input is a closed connection.
struct Scripted<'a> {
    input: &'a [u8],
    at: usize,
    written: Vec<u8>,
    /// The bytes the printer delivered, in order.
    delivered: Vec<u8>,
}

impl Transport for Scripted<'_> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        self.written.extend_from_slice(bytes);
        Ok(())
    }

    fn read_timeout(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<usize, PrintError> {
        let closed = || PrintError::Io {
            target: "scripted".into(),
            reason: "closed".into(),
        };
        let (Some(op), Some(value)) = (self.input.get(self.at), self.input.get(self.at + 1)) else {
            return Err(closed());
        };
        self.at += 2;
        match op % 4 {
            0 => Ok(0),
            1 => Err(closed()),
            _ => match buf.first_mut() {
                Some(b) => {
                    *b = *value;
                    self.delivered.push(*value);
                    Ok(1)
                }
                None => Ok(0),
            },
        }
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

/// Queries the status of a printer that answers with `data`; checks that a status is known only
/// from three valid answers and means what they say, and that "ready" is never said otherwise.
pub fn printer_status(data: &[u8]) {
    let mut t = Scripted {
        input: data,
        at: 0,
        written: Vec::new(),
        delivered: Vec::new(),
    };
    // Long enough never to expire here: the script, not the clock, decides.
    let status = query_status(&mut t, Duration::from_secs(60));
    let requests: Vec<u8> = [1u8, 2, 4]
        .iter()
        .take(t.written.len() / 3)
        .flat_map(|n| pos_printing::escpos::status_request(*n))
        .collect();
    assert_eq!(
        t.written, requests,
        "only DLE EOT 1, 2, 4 are sent, in order"
    );
    match status {
        Ok(PrinterStatus::Known(flags)) => {
            assert_eq!(t.delivered.len(), 3, "a known status from three answers");
            let (n1, n2, n4) = (t.delivered[0], t.delivered[1], t.delivered[2]);
            assert_eq!(decode(n1, n2, n4), PrinterStatus::Known(flags));
            let s = PrinterStatus::Known(flags);
            assert_eq!(
                s.is_ready(),
                flags.online && !flags.paper_out && !flags.cover_open && !flags.error,
                "ready means online with paper, cover closed, no error: {flags:?}"
            );
        }
        Ok(s @ PrinterStatus::Unknown { .. }) => {
            assert!(!s.is_ready(), "an unknown status is never ready");
            assert!(s.problem().is_some());
        }
        Err(_) => {}
    }
}
