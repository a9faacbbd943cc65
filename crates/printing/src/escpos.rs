//! The ESC/POS encoder: a [`Page`] to the exact bytes a thermal printer receives.
//!
//! Written here rather than taken from the `escpos` crate so that every byte is ours (see the
//! design notes: that crate sends a 3-byte drawer pulse and UTF-8 text). Only widely supported
//! Epson commands are used:
//!
//! | command | bytes | use |
//! |---|---|---|
//! | `ESC @` | `1B 40` | initialise |
//! | `ESC t n` | `1B 74 n` | select code page |
//! | `ESC a n` | `1B 61 n` | justification |
//! | `ESC E n` | `1B 45 n` | emphasis |
//! | `GS ! n` | `1D 21 n` | character size |
//! | `ESC d n` | `1B 64 n` | feed n lines |
//! | `GS v 0` | `1D 76 30 00 xL xH yL yH d…` | raster image, in chunks |
//! | `GS ( k` | `1D 28 6B …` | QR code (model 2, EC level M) |
//! | `GS h/w/H/k` | `1D 6B 49 n {B…{C…` | CODE128 (code sets B/C), module 2..=3, text below |
//! | `GS V m` | `1D 56 00/01` | full / partial cut |
//! | `ESC p m t1 t2` | `1B 70 m t1 t2` | drawer pulse, always 5 bytes |
//! | `DLE EOT n` | `10 04 n` | real-time status |

use crate::image::{qr_raster, RasterImage, MAX_IMAGE_HEIGHT};
use crate::page::{Align, Block, Page, Style};
use crate::profile::{CutMode, DrawerPulse, PrinterProfile};
use crate::PrintError;

/// `ESC @`: initialise the printer (clears styles, keeps the buffer).
pub const INIT: [u8; 2] = [0x1B, 0x40];

/// `ESC t n` for the profile's code page.
pub fn select_code_page(profile: &PrinterProfile) -> [u8; 3] {
    [0x1B, 0x74, profile.code_page().esc_t()]
}

/// The cash drawer pulse `ESC p m t1 t2`: always exactly 5 bytes.
pub fn drawer_pulse(pulse: &DrawerPulse) -> [u8; 5] {
    pulse.bytes()
}

/// A complete job that only opens the drawer (`ESC @` then the pulse), for "no sale".
pub fn open_drawer_job(profile: &PrinterProfile) -> Vec<u8> {
    let mut v = INIT.to_vec();
    v.extend_from_slice(&profile.drawer().bytes());
    v
}

/// `DLE EOT n`: real-time status request (n = 1 printer, 2 offline cause, 3 error, 4 paper).
pub fn status_request(n: u8) -> [u8; 3] {
    [0x10, 0x04, n]
}

/// The cut command for `mode` (empty for [`CutMode::None`]).
pub fn cut(mode: CutMode) -> &'static [u8] {
    match mode {
        CutMode::Full => &[0x1D, 0x56, 0x00],
        CutMode::Partial => &[0x1D, 0x56, 0x01],
        CutMode::None => &[],
    }
}

/// Appends a raster image as `GS v 0` commands of at most `chunk_rows` rows each.
pub fn raster(out: &mut Vec<u8>, img: &RasterImage, chunk_rows: u32) {
    let stride = img.stride();
    let chunk_rows = chunk_rows.max(1) as usize;
    let data = img.data();
    let mut y = 0usize;
    let h = img.height() as usize;
    while y < h {
        let rows = chunk_rows.min(h - y);
        out.extend_from_slice(&[
            0x1D,
            0x76,
            0x30,
            0x00,
            (stride & 0xFF) as u8,
            (stride >> 8) as u8,
            (rows & 0xFF) as u8,
            (rows >> 8) as u8,
        ]);
        out.extend_from_slice(&data[y * stride..(y + rows) * stride]);
        y += rows;
    }
}

/// Appends a native QR code (`GS ( k`, model 2, module `module` dots, EC level M).
pub fn qr_native(out: &mut Vec<u8>, data: &[u8], module: u8) -> Result<(), PrintError> {
    let len = data.len() + 3;
    if len > 7092 {
        return Err(PrintError::InvalidLayout(format!(
            "qr data of {} bytes exceeds 7089",
            data.len()
        )));
    }
    // Model 2.
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]);
    // Module size.
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, module]);
    // Error correction M (49).
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31]);
    // Store data.
    out.extend_from_slice(&[
        0x1D,
        0x28,
        0x6B,
        (len & 0xFF) as u8,
        (len >> 8) as u8,
        0x31,
        0x50,
        0x30,
    ]);
    out.extend_from_slice(data);
    // Print.
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]);
    Ok(())
}

/// Appends a CODE128 barcode with its text below: code sets B and C with the fewest symbols
/// (one encoder, `code128.rs`, shared with the PNG preview), bars 80 dots high, and the widest module
/// of 2..=3 dots at which the bars and their 10-module quiet zones fit `width_dots`. Printers
/// document `GS w` 2..=6 only, so nothing narrower is ever sent: a barcode that does not fit
/// at 2 dots is [`PrintError::Code128TooWide`] (layouts print a QR code instead), data it
/// cannot carry [`PrintError::Code128Data`]. Nothing is appended on error.
pub fn code128(out: &mut Vec<u8>, data: &str, width_dots: u32) -> Result<(), PrintError> {
    let (code, module_w) = crate::code128::fit(data, width_dots)?;
    let payload = code.escpos_data();
    out.extend_from_slice(&[0x1D, 0x68, crate::code128::BAR_HEIGHT_DOTS]);
    out.extend_from_slice(&[0x1D, 0x77, module_w]);
    // Text (HRI) below the bars.
    out.extend_from_slice(&[0x1D, 0x48, 0x02]);
    // `fit` keeps the payload within the 255 bytes `GS k 73 n` can carry.
    out.extend_from_slice(&[0x1D, 0x6B, 73, payload.len() as u8]);
    out.extend_from_slice(&payload);
    Ok(())
}

struct State {
    bold: bool,
    size: u8,
    align: Align,
}

fn set_align(out: &mut Vec<u8>, st: &mut State, align: Align) {
    if st.align != align {
        let n = match align {
            Align::Left => 0,
            Align::Center => 1,
            Align::Right => 2,
        };
        out.extend_from_slice(&[0x1B, 0x61, n]);
        st.align = align;
    }
}

fn set_style(out: &mut Vec<u8>, st: &mut State, style: &Style) {
    set_align(out, st, style.align);
    if st.bold != style.bold {
        out.extend_from_slice(&[0x1B, 0x45, u8::from(style.bold)]);
        st.bold = style.bold;
    }
    let size = (if style.wide { 0x10 } else { 0 }) | (if style.tall { 0x01 } else { 0 });
    if st.size != size {
        out.extend_from_slice(&[0x1D, 0x21, size]);
        st.size = size;
    }
}

impl Page {
    /// The complete job: `ESC @`, `ESC t n`, the blocks, then feed and cut per the profile.
    pub fn to_escpos(&self, profile: &PrinterProfile) -> Result<Vec<u8>, PrintError> {
        let mut out = Vec::with_capacity(64 + self.blocks.len() * (self.columns + 4));
        out.extend_from_slice(&INIT);
        out.extend_from_slice(&select_code_page(profile));
        let mut st = State {
            bold: false,
            size: 0,
            align: Align::Left,
        };
        let cp = profile.code_page();
        for b in &self.blocks {
            match b {
                Block::Line { text, style } => {
                    set_style(&mut out, &mut st, style);
                    cp.encode_into(text, &mut out);
                    out.push(b'\n');
                }
                Block::Feed(n) => out.extend_from_slice(&[0x1B, 0x64, *n]),
                Block::Image(img) => {
                    set_style(&mut out, &mut st, &centered());
                    let img = img.fit(profile.width_dots(), MAX_IMAGE_HEIGHT);
                    raster(&mut out, &img, profile.raster_chunk_rows());
                }
                Block::Qr(data) => {
                    set_style(&mut out, &mut st, &centered());
                    if profile.native_qr() {
                        qr_native(&mut out, data.as_bytes(), profile.qr_module())?;
                    } else {
                        let img = qr_raster(data, profile.qr_module() as u32)?
                            .fit(profile.width_dots(), MAX_IMAGE_HEIGHT);
                        raster(&mut out, &img, profile.raster_chunk_rows());
                    }
                    out.push(b'\n');
                }
                Block::Code128(data) => {
                    set_style(&mut out, &mut st, &centered());
                    code128(&mut out, data, profile.width_dots())?;
                    out.push(b'\n');
                }
            }
        }
        set_style(&mut out, &mut st, &Style::NORMAL);
        out.extend_from_slice(&[0x1B, 0x64, profile.feed_before_cut()]);
        out.extend_from_slice(cut(profile.cut()));
        Ok(out)
    }
}

fn centered() -> Style {
    Style {
        align: Align::Center,
        ..Style::NORMAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{DrawerPin, Paper};

    /// Regression for the `escpos` 0.20.1 trap: its `cash_drawer()` sent only `ESC p m`, and the
    /// printer swallowed the next two bytes of the job as timings.
    #[test]
    fn drawer_pulse_is_exactly_five_bytes_escpos_cash_drawer_bug() {
        for pin in [DrawerPin::Pin2, DrawerPin::Pin5] {
            let p = DrawerPulse::new(pin, 120, 240).unwrap();
            let b = drawer_pulse(&p);
            assert_eq!(b.len(), 5);
            assert_eq!(&b[..2], &[0x1B, b'p']);
            assert_eq!(b[2], if pin == DrawerPin::Pin2 { 0 } else { 1 });
            assert_eq!(b[3..], [60, 120]);
        }
        let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
        assert_eq!(
            open_drawer_job(&profile),
            vec![0x1B, 0x40, 0x1B, 0x70, 0, 50, 250]
        );
    }

    #[test]
    fn cut_full_partial_none() {
        assert_eq!(cut(CutMode::Full), &[0x1D, 0x56, 0x00]);
        assert_eq!(cut(CutMode::Partial), &[0x1D, 0x56, 0x01]);
        assert!(cut(CutMode::None).is_empty());
        let p = PrinterProfile::new(Paper::Mm58, 32, "PC437")
            .unwrap()
            .with_cut(CutMode::Full, 2);
        let page = Page {
            columns: 32,
            blocks: vec![],
        };
        assert_eq!(
            page.to_escpos(&p).unwrap(),
            vec![0x1B, 0x40, 0x1B, 0x74, 0, 0x1B, 0x64, 2, 0x1D, 0x56, 0x00]
        );
    }

    #[test]
    fn raster_is_chunked() {
        let img = RasterImage::from_fn(16, 300, |x, y| (x + y) % 2 == 0).unwrap();
        let mut out = Vec::new();
        raster(&mut out, &img, 128);
        // 3 chunks: 128 + 128 + 44 rows, 8-byte header each, 2 bytes per row.
        assert_eq!(out.len(), 3 * 8 + 300 * 2);
        assert_eq!(&out[..8], &[0x1D, 0x76, 0x30, 0, 2, 0, 128, 0]);
        assert_eq!(
            &out[8 + 256..8 + 256 + 8],
            &[0x1D, 0x76, 0x30, 0, 2, 0, 128, 0]
        );
        assert_eq!(
            &out[2 * (8 + 256)..2 * (8 + 256) + 8],
            &[0x1D, 0x76, 0x30, 0, 2, 0, 44, 0]
        );
    }

    #[test]
    fn qr_native_lengths() {
        let mut out = Vec::new();
        qr_native(&mut out, b"ABC", 6).unwrap();
        let store = [0x1D, 0x28, 0x6B, 6, 0, 0x31, 0x50, 0x30, b'A', b'B', b'C'];
        assert!(out.windows(store.len()).any(|w| w == store));
    }

    #[test]
    fn barcode_refuses_non_ascii() {
        let mut out = Vec::new();
        assert!(code128(&mut out, "S01-000123", 576).is_ok());
        let len = out.len();
        assert!(matches!(
            code128(&mut out, "é", 576),
            Err(PrintError::Code128Data { .. })
        ));
        assert!(matches!(
            code128(&mut out, &"X".repeat(100), 384),
            Err(PrintError::Code128TooWide { .. })
        ));
        assert_eq!(out.len(), len, "nothing appended on error");
    }

    /// Regression: `GS w 1` was sent when the barcode did not fit at 2; printers document 2..=6
    /// and a TM-T20-class printer prints 1 at 3, off 58 mm paper.
    #[test]
    fn regression_code128_never_sends_module_width_below_2() {
        for (dots, module) in [(384, 2), (512, 2), (576, 3)] {
            let mut out = Vec::new();
            code128(&mut out, "S01-D02-000124", dots).unwrap();
            let mut want = vec![0x1D, 0x68, 80, 0x1D, 0x77, module, 0x1D, 0x48, 2];
            want.extend_from_slice(&[0x1D, 0x6B, 73, 15, b'{', b'B']);
            want.extend_from_slice(b"S01-D02-{C");
            want.extend_from_slice(&[0, 1, 24]);
            assert_eq!(out, want, "{dots} dots");
        }
        for dots in 0..1000 {
            for data in [
                "S01-D02-000124",
                "S01-D02-1000000",
                "STORE001-TILL0001-000001",
            ] {
                let mut out = Vec::new();
                if code128(&mut out, data, dots).is_ok() {
                    let w = out[5];
                    assert_eq!(out[3..5], [0x1D, 0x77]);
                    assert!((2..=6).contains(&w), "{data} on {dots}: GS w {w}");
                }
            }
        }
    }
}
