//! Printer profiles: what a given printer model can do and how it is configured.
//!
//! A profile is validated when it is built or parsed ([`PrinterProfile::new`],
//! [`PrinterProfile::from_json`], serde): an unknown code page or an impossible paper/columns
//! combination is refused there, never at print time.

use crate::codepage::CodePage;
use crate::PrintError;
use serde::{Deserialize, Serialize};

/// Paper roll width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    /// 58 mm paper, 384 printable dots, 32 columns of font A.
    Mm58,
    /// 80 mm paper, 512 or 576 printable dots, 42 or 48 columns.
    Mm80,
}

impl Paper {
    /// Columns allowed on this paper.
    pub fn allowed_columns(self) -> &'static [u8] {
        match self {
            Paper::Mm58 => &[32],
            Paper::Mm80 => &[42, 48],
        }
    }

    /// The usual printable width in dots for `columns` (12-dot font A cells on 80 mm x 48).
    pub fn default_dots(self, columns: u8) -> u16 {
        match (self, columns) {
            (Paper::Mm58, _) => 384,
            (Paper::Mm80, 42) => 512,
            (Paper::Mm80, _) => 576,
        }
    }
}

/// How the paper is cut at the end of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    /// `GS V 0`: full cut.
    Full,
    /// `GS V 1`: partial cut (one point left uncut).
    Partial,
    /// No cutter: feed only, the operator tears the paper.
    None,
}

/// The drawer kick-out connector pin that drives the drawer solenoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DrawerPin {
    /// Connector pin 2 (`m = 0`), the usual one.
    Pin2,
    /// Connector pin 5 (`m = 1`), a second drawer.
    Pin5,
}

/// A cash drawer pulse: `ESC p m t1 t2`, always the full 5 bytes.
///
/// `on_ms` and `off_ms` are rounded down to the printer's 2 ms unit and must lie in 2..=510 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(try_from = "DrawerPulseRaw", into = "DrawerPulseRaw")]
pub struct DrawerPulse {
    pin: DrawerPin,
    on_ms: u16,
    off_ms: u16,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
struct DrawerPulseRaw {
    pin: DrawerPin,
    on_ms: u16,
    off_ms: u16,
}

impl TryFrom<DrawerPulseRaw> for DrawerPulse {
    type Error = PrintError;
    fn try_from(r: DrawerPulseRaw) -> Result<Self, PrintError> {
        DrawerPulse::new(r.pin, r.on_ms, r.off_ms)
    }
}

impl From<DrawerPulse> for DrawerPulseRaw {
    fn from(d: DrawerPulse) -> Self {
        DrawerPulseRaw {
            pin: d.pin,
            on_ms: d.on_ms,
            off_ms: d.off_ms,
        }
    }
}

impl DrawerPulse {
    /// A pulse on `pin`, `on_ms` on then `off_ms` off (each 2..=510 ms).
    pub fn new(pin: DrawerPin, on_ms: u16, off_ms: u16) -> Result<Self, PrintError> {
        for (what, ms) in [("on", on_ms), ("off", off_ms)] {
            if !(2..=510).contains(&ms) {
                return Err(PrintError::InvalidProfile(format!(
                    "drawer pulse {what} time {ms} ms is outside 2..=510 ms"
                )));
            }
        }
        Ok(DrawerPulse { pin, on_ms, off_ms })
    }

    /// The pin.
    pub fn pin(&self) -> DrawerPin {
        self.pin
    }

    /// The exact 5 bytes `ESC p m t1 t2` (t in 2 ms units).
    pub fn bytes(&self) -> [u8; 5] {
        let m = match self.pin {
            DrawerPin::Pin2 => 0,
            DrawerPin::Pin5 => 1,
        };
        // Both times are validated to 2..=510 ms, so t1, t2 are in 1..=255.
        let t = |ms: u16| (ms / 2).clamp(1, 255) as u8;
        [0x1B, b'p', m, t(self.on_ms), t(self.off_ms)]
    }
}

impl Default for DrawerPulse {
    /// Pin 2, 100 ms on, 500 ms off: works with common drawers.
    fn default() -> Self {
        DrawerPulse {
            pin: DrawerPin::Pin2,
            on_ms: 100,
            off_ms: 500,
        }
    }
}

/// What a printer can do and how it is set up. Build with [`PrinterProfile::new`] or parse
/// with [`PrinterProfile::from_json`]; both validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(try_from = "ProfileRaw", into = "ProfileRaw")]
pub struct PrinterProfile {
    paper: Paper,
    columns: u8,
    width_dots: u16,
    code_page: CodePage,
    native_qr: bool,
    status: bool,
    cut: CutMode,
    feed_before_cut: u8,
    raster_chunk_rows: u16,
    qr_module: u8,
    drawer: DrawerPulse,
}

/// The serialised shape of a profile; every field except paper/columns/code_page has a default.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
struct ProfileRaw {
    paper: Paper,
    columns: u8,
    code_page: String,
    #[serde(default)]
    width_dots: Option<u16>,
    #[serde(default = "yes")]
    native_qr: bool,
    #[serde(default = "yes")]
    status: bool,
    #[serde(default = "partial")]
    cut: CutMode,
    #[serde(default = "four")]
    feed_before_cut: u8,
    #[serde(default = "chunk_rows")]
    raster_chunk_rows: u16,
    #[serde(default = "qr_module")]
    qr_module: u8,
    #[serde(default)]
    drawer: DrawerPulse,
}

fn yes() -> bool {
    true
}
fn partial() -> CutMode {
    CutMode::Partial
}
fn four() -> u8 {
    4
}
fn chunk_rows() -> u16 {
    128
}
fn qr_module() -> u8 {
    6
}

impl TryFrom<ProfileRaw> for PrinterProfile {
    type Error = PrintError;
    fn try_from(r: ProfileRaw) -> Result<Self, PrintError> {
        let p = PrinterProfile::new(r.paper, r.columns, &r.code_page)?;
        let p = match r.width_dots {
            Some(d) => p.with_width_dots(d)?,
            None => p,
        };
        p.with_native_qr(r.native_qr)
            .with_status(r.status)
            .with_cut(r.cut, r.feed_before_cut)
            .with_raster_chunk_rows(r.raster_chunk_rows)?
            .with_qr_module(r.qr_module)
            .map(|p| p.with_drawer(r.drawer))
    }
}

impl From<PrinterProfile> for ProfileRaw {
    fn from(p: PrinterProfile) -> Self {
        ProfileRaw {
            paper: p.paper,
            columns: p.columns,
            code_page: p.code_page.name().to_string(),
            width_dots: Some(p.width_dots),
            native_qr: p.native_qr,
            status: p.status,
            cut: p.cut,
            feed_before_cut: p.feed_before_cut,
            raster_chunk_rows: p.raster_chunk_rows,
            qr_module: p.qr_module,
            drawer: p.drawer,
        }
    }
}

impl PrinterProfile {
    /// A profile for `paper` with `columns` (32 on 58 mm; 42 or 48 on 80 mm) and the code page
    /// named `code_page` (`"PC858"`, `"PC437"`...). Defaults: native QR and DLE EOT status
    /// supported, partial cut after 4 lines, 128-row raster chunks, QR module 6 dots, drawer on
    /// pin 2.
    pub fn new(paper: Paper, columns: u8, code_page: &str) -> Result<Self, PrintError> {
        let code_page: CodePage = code_page.parse()?;
        if !paper.allowed_columns().contains(&columns) {
            return Err(PrintError::InvalidProfile(format!(
                "{columns} columns do not fit {paper:?} paper (allowed: {:?})",
                paper.allowed_columns()
            )));
        }
        Ok(PrinterProfile {
            paper,
            columns,
            width_dots: paper.default_dots(columns),
            code_page,
            native_qr: true,
            status: true,
            cut: CutMode::Partial,
            feed_before_cut: 4,
            raster_chunk_rows: 128,
            qr_module: 6,
            drawer: DrawerPulse::default(),
        })
    }

    /// Parses and validates a JSON profile, e.g.
    /// `{"paper":"mm80","columns":48,"code_page":"PC858","native_qr":false}`.
    pub fn from_json(json: &str) -> Result<Self, PrintError> {
        serde_json::from_str(json).map_err(|e| {
            // Surface our own validation message rather than serde's wrapper where possible.
            PrintError::InvalidProfile(e.to_string())
        })
    }

    /// The profile as JSON.
    pub fn to_json(&self) -> Result<String, PrintError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Sets the printable width in dots (128..=832, a multiple of 8).
    pub fn with_width_dots(mut self, dots: u16) -> Result<Self, PrintError> {
        if !(128..=832).contains(&dots) || dots % 8 != 0 {
            return Err(PrintError::InvalidProfile(format!(
                "width of {dots} dots is not a multiple of 8 in 128..=832"
            )));
        }
        self.width_dots = dots;
        Ok(self)
    }

    /// Whether the printer draws QR codes itself (`GS ( k`); otherwise they are sent as raster.
    pub fn with_native_qr(mut self, yes: bool) -> Self {
        self.native_qr = yes;
        self
    }

    /// Whether the printer answers real-time status (`DLE EOT n`).
    pub fn with_status(mut self, yes: bool) -> Self {
        self.status = yes;
        self
    }

    /// The cut at the end of a job and the lines fed before it.
    pub fn with_cut(mut self, cut: CutMode, feed_lines: u8) -> Self {
        self.cut = cut;
        self.feed_before_cut = feed_lines.min(16);
        self
    }

    /// Rows of raster image per `GS v 0` chunk (8..=1024).
    pub fn with_raster_chunk_rows(mut self, rows: u16) -> Result<Self, PrintError> {
        if !(8..=1024).contains(&rows) {
            return Err(PrintError::InvalidProfile(format!(
                "raster chunk of {rows} rows is outside 8..=1024"
            )));
        }
        self.raster_chunk_rows = rows;
        Ok(self)
    }

    /// QR module size in dots (1..=16).
    pub fn with_qr_module(mut self, dots: u8) -> Result<Self, PrintError> {
        if !(1..=16).contains(&dots) {
            return Err(PrintError::InvalidProfile(format!(
                "qr module of {dots} dots is outside 1..=16"
            )));
        }
        self.qr_module = dots;
        Ok(self)
    }

    /// The drawer pulse.
    pub fn with_drawer(mut self, drawer: DrawerPulse) -> Self {
        self.drawer = drawer;
        self
    }

    /// Paper width.
    pub fn paper(&self) -> Paper {
        self.paper
    }
    /// Characters per line in normal size.
    pub fn columns(&self) -> usize {
        self.columns as usize
    }
    /// Printable width in dots.
    pub fn width_dots(&self) -> u32 {
        self.width_dots as u32
    }
    /// The code page text is encoded into.
    pub fn code_page(&self) -> CodePage {
        self.code_page
    }
    /// Whether QR codes are drawn by the printer.
    pub fn native_qr(&self) -> bool {
        self.native_qr
    }
    /// Whether the printer answers `DLE EOT`.
    pub fn supports_status(&self) -> bool {
        self.status
    }
    /// The cut mode.
    pub fn cut(&self) -> CutMode {
        self.cut
    }
    /// Lines fed before the cut.
    pub fn feed_before_cut(&self) -> u8 {
        self.feed_before_cut
    }
    /// Rows per raster chunk.
    pub fn raster_chunk_rows(&self) -> u32 {
        self.raster_chunk_rows as u32
    }
    /// QR module size in dots.
    pub fn qr_module(&self) -> u8 {
        self.qr_module
    }
    /// The drawer pulse.
    pub fn drawer(&self) -> DrawerPulse {
        self.drawer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_code_page_is_refused_at_configuration() {
        let e = PrinterProfile::new(Paper::Mm80, 48, "KOI8").unwrap_err();
        assert!(
            matches!(e, PrintError::UnknownCodePage(ref s) if s == "KOI8"),
            "{e}"
        );
        let e = PrinterProfile::from_json(r#"{"paper":"mm80","columns":48,"code_page":"PC999"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown code page \"PC999\""), "{e}");
    }

    #[test]
    fn columns_must_fit_paper() {
        assert!(PrinterProfile::new(Paper::Mm58, 48, "PC858").is_err());
        assert!(PrinterProfile::new(Paper::Mm80, 32, "PC858").is_err());
        assert!(PrinterProfile::new(Paper::Mm80, 42, "PC858").is_ok());
    }

    #[test]
    fn json_roundtrip() {
        let p = PrinterProfile::new(Paper::Mm58, 32, "pc437")
            .unwrap()
            .with_native_qr(false)
            .with_drawer(DrawerPulse::new(DrawerPin::Pin5, 60, 240).unwrap());
        let back = PrinterProfile::from_json(&p.to_json().unwrap()).unwrap();
        assert_eq!(p, back);
    }

    #[test]
    fn drawer_pulse_is_five_bytes_with_timings() {
        let d = DrawerPulse::new(DrawerPin::Pin5, 50, 500).unwrap();
        let b = d.bytes();
        assert_eq!(b.len(), 5);
        assert_eq!(b, [0x1B, 0x70, 1, 25, 250]);
        assert!(DrawerPulse::new(DrawerPin::Pin2, 0, 100).is_err());
        assert!(DrawerPulse::new(DrawerPin::Pin2, 100, 600).is_err());
    }
}
