//! Printing for the POS (issue 4). Crate-level docs are completed below.

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
