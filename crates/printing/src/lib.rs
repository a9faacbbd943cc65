//! # pos-printing: layouts to ESC/POS bytes, transports, status and a durable print queue
//!
//! Bird's-eye view, from document to paper:
//!
//! ```text
//!  layout::Document ──render::layout──> page::Page ──escpos──> Vec<u8> (ESC/POS job)
//!  (sale, refund, kitchen,   (lines wrapped to   ├──to_text──> String   (preview)
//!   X/Z report, cash count)   the profile)       └──preview──> PNG      (preview)
//!
//!  Vec<u8> ──PrintQueue::enqueue──> SQLite (print_jobs) ──worker──> Connector/Transport
//!                                                         (tcp 9100, serial, /dev/usb/lp0)
//!                                                         status via DLE EOT before/after
//! ```
//!
//! * [`layout`](mod@layout): the plain, serde-serialisable documents the POS fills in.
//! * [`profile`]: what a printer can do: paper (58/80 mm), columns (32/42/48), code page,
//!   native QR or raster, cut, drawer pulse. Validated when built or parsed: an unknown code
//!   page is refused there, never at print time.
//! * [`render`]: one-call renderers ([`render_escpos`], [`render_text`], [`render_png`]); all
//!   three go through the same [`Page`], so previews show exactly the printed lines.
//! * [`codepage`]: text to PC437 / PC850 / PC852 / PC858 / WPC1252 bytes; what a page lacks
//!   prints as `?`, control characters too (text can never inject printer commands).
//! * [`escpos`]: the encoder, written here (no `escpos` crate): every byte is ours, the drawer
//!   pulse is always the full 5-byte `ESC p m t1 t2`.
//! * [`transport`]: [`Transport`] + [`Connector`]; TCP, serial (`serialport` without
//!   libudev) and device-file implementations, one file each, all bounded by timeouts.
//! * [`status`]: `DLE EOT` real-time status; no answer is [`PrinterStatus::Unknown`], never ok.
//! * [`queue`]: the durable print queue with its worker, retries, reprint and the documented
//!   restart guarantees (at-least-once by default, at-most-once with [`Recovery::Hold`]).
//! * [`samples`]: example documents (docs, UI mock-ups, tests, benchmarks).
//!
//! ## What this crate deliberately does not know
//!
//! No business rules and no dependency on `pos-core`: it does not compute totals, taxes,
//! rounding or change, does not allocate receipt numbers, does not format money beyond
//! printing integer minor units with their exponent, and does not decide *when* to print. The
//! desktop app maps its core documents into [`layout`](mod@layout) types and enqueues them after the sale
//! has committed. All labels come from the documents, so the language is the caller's choice.
//!
//! ## Typical use (desktop app)
//!
//! ```no_run
//! use pos_printing::*;
//! use std::sync::Arc;
//! # fn main() -> Result<(), PrintError> {
//! let profile = PrinterProfile::from_json(
//!     r#"{"paper":"mm80","columns":48,"code_page":"PC858"}"#)?;
//! let transport: TransportConfig = serde_json::from_str(
//!     r#"{"kind":"tcp","host":"192.168.1.50"}"#).map_err(|e| PrintError::Serde(e.to_string()))?;
//! let queue = PrintQueue::open("device.sqlite", Arc::new(transport),
//!                              QueueOptions::new("front", &profile))?;
//! let doc = Document::Sale(samples::sale_receipt(3));
//! let id = queue.enqueue_document(Some("sale-0001"), "Receipt 0001", &doc, &profile)?;
//! let state = queue.job(id)?.state; // queued / printing / retrying / done / failed
//! # let _ = state; Ok(()) }
//! ```

#![warn(missing_docs)]

mod code128;
mod codepage_tables;
mod font;

pub mod codepage;
pub mod error;
pub mod escpos;
pub mod image;
pub mod layout;
pub mod page;
pub mod preview;
pub mod profile;
pub mod queue;
pub mod render;
pub mod samples;
pub mod status;
pub mod text;
pub mod transport;

pub use codepage::CodePage;
pub use error::PrintError;
pub use image::RasterImage;
pub use layout::*;
pub use page::{Align, Block, Page, Style};
pub use profile::{CutMode, DrawerPin, DrawerPulse, Paper, PrinterProfile};
pub use queue::{JobId, JobInfo, JobState, PrintQueue, QueueOptions, Recovery};
pub use render::{layout, render_escpos, render_png, render_text};
pub use status::{query_status, PrinterStatus, StatusFlags};
pub use transport::{
    Connector, DeviceConfig, FlowControl, SerialConfig, TcpConfig, Transport, TransportConfig,
};
