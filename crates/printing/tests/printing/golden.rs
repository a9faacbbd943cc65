//! Golden bytes: every layout on every paper width, byte for byte.

use pos_printing::samples;
use pos_printing::{render_escpos, render_text, Document, Paper, PrinterProfile};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Compares `actual` to the fixture `name`; with `UPDATE_GOLDEN=1` rewrites the fixture.
pub fn check_golden(name: &str, actual: &[u8]) {
    let path = fixture(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("write fixture");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "missing fixture {}: {e}; run UPDATE_GOLDEN=1 cargo test -p pos-printing --test printing",
            path.display()
        )
    });
    if expected != actual {
        let at = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        let lo = at.saturating_sub(16);
        panic!(
            "{name} differs at byte {at} (expected {} bytes, got {})\nexpected: {:02x?}\nactual:   {:02x?}",
            expected.len(),
            actual.len(),
            &expected[lo..(at + 16).min(expected.len())],
            &actual[lo..(at + 16).min(actual.len())],
        );
    }
}

fn profiles() -> Vec<(&'static str, PrinterProfile)> {
    vec![
        (
            "58mm_32",
            PrinterProfile::new(Paper::Mm58, 32, "PC858").unwrap(),
        ),
        (
            "80mm_42",
            PrinterProfile::new(Paper::Mm80, 42, "PC858").unwrap(),
        ),
        (
            "80mm_48",
            PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap(),
        ),
    ]
}

#[test]
fn golden_bytes_every_layout_every_width() {
    for (pname, profile) in profiles() {
        for (dname, doc) in samples::all_documents() {
            let bytes = render_escpos(&doc, &profile).unwrap();
            check_golden(&format!("{dname}_{pname}.bin"), &bytes);
            let text = render_text(&doc, &profile).unwrap();
            check_golden(&format!("{dname}_{pname}.txt"), text.as_bytes());
        }
    }
}

#[test]
fn golden_bytes_raster_qr_when_profile_lacks_native_qr() {
    let profile = PrinterProfile::new(Paper::Mm58, 32, "PC437")
        .unwrap()
        .with_native_qr(false);
    let doc = Document::Sale(samples::sale_receipt(2));
    let bytes = render_escpos(&doc, &profile).unwrap();
    assert!(
        !bytes.windows(3).any(|w| w == [0x1D, 0x28, 0x6B]),
        "no GS ( k"
    );
    assert!(
        bytes.windows(4).any(|w| w == [0x1D, 0x76, 0x30, 0x00]),
        "GS v 0 raster"
    );
    check_golden("sale_58mm_32_raster_qr_pc437.bin", &bytes);
}

#[test]
fn every_text_line_fits_the_paper() {
    for (pname, profile) in profiles() {
        for (dname, doc) in samples::all_documents() {
            let page = pos_printing::layout(&doc, &profile).unwrap();
            for b in &page.blocks {
                if let pos_printing::Block::Line { text, style } = b {
                    let cols = style.columns(profile.columns());
                    assert!(
                        text.chars().count() <= cols,
                        "{dname} on {pname}: {text:?} is wider than {cols}"
                    );
                }
            }
        }
    }
}

#[test]
fn job_starts_with_init_and_code_page_and_ends_with_cut() {
    let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
    for (_, doc) in samples::all_documents() {
        let b = render_escpos(&doc, &profile).unwrap();
        assert_eq!(&b[..5], &[0x1B, 0x40, 0x1B, 0x74, 19]);
        assert_eq!(&b[b.len() - 3..], &[0x1D, 0x56, 0x01]);
    }
}

#[test]
fn too_wide_logo_is_scaled_down() {
    let profile = PrinterProfile::new(Paper::Mm58, 32, "PC858").unwrap();
    let mut r = samples::sale_receipt(1);
    r.header.logo =
        Some(pos_printing::RasterImage::from_fn(2000, 400, |x, y| (x ^ y) & 1 == 0).unwrap());
    let bytes = render_escpos(&Document::Sale(r), &profile).unwrap();
    // 384 dots = 48 bytes per row; 400 * 384 / 2000 = 76 rows in one chunk.
    let hdr = [0x1D, 0x76, 0x30, 0x00, 48, 0, 76, 0];
    assert!(bytes.windows(8).any(|w| w == hdr));
}
