//! PNG and text previews.

use pos_printing::image::qr_raster;
use pos_printing::{
    layout, preview::page_to_png, render_png, render_text, samples, Block, Document, Page, Paper,
    PrinterProfile,
};

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<bool>) {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::One);
    let (w, h) = (info.width, info.height);
    let stride = info.line_size;
    let mut px = Vec::with_capacity((w * h) as usize);
    for y in 0..h as usize {
        for x in 0..w as usize {
            px.push(buf[y * stride + x / 8] & (0x80 >> (x % 8)) == 0); // 0 = black
        }
    }
    (w, h, px)
}

#[test]
fn png_preview_of_every_layout_is_paper_wide_and_not_blank() {
    for (paper, cols) in [(Paper::Mm58, 32), (Paper::Mm80, 48)] {
        let profile = PrinterProfile::new(paper, cols, "PC858").unwrap();
        for (name, doc) in samples::all_documents() {
            let png = render_png(&doc, &profile).unwrap();
            let (w, h, px) = decode(&png);
            assert_eq!(w, profile.width_dots() + 32, "{name}");
            assert!(h > 200, "{name}");
            let black = px.iter().filter(|b| **b).count();
            assert!(
                black > 1000 && black < px.len() / 2,
                "{name}: {black} black"
            );
        }
    }
}

#[test]
fn png_preview_contains_the_qr_code_module_for_module() {
    let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
    let page = Page {
        columns: 48,
        blocks: vec![Block::Qr("S01-D02-000123".into())],
    };
    let (w, _, px) = decode(&page_to_png(&page, &profile).unwrap());
    let qr = qr_raster("S01-D02-000123", profile.qr_module() as u32).unwrap();
    let x0 = 16 + (profile.width_dots() - qr.width()) / 2;
    let y0 = 16;
    for y in 0..qr.height() {
        for x in 0..qr.width() {
            assert_eq!(
                px[((y0 + y) * w + x0 + x) as usize],
                qr.get(x, y),
                "({x},{y})"
            );
        }
    }
}

#[test]
fn text_preview_matches_the_printed_lines() {
    let profile = PrinterProfile::new(Paper::Mm58, 32, "PC437").unwrap();
    let doc = Document::Sale(samples::sale_receipt(3));
    let text = render_text(&doc, &profile).unwrap();
    // PC437 has no €: the preview shows the same '?' the printer prints.
    assert!(text.contains("Prices in ? incl. VAT"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 32));
    let page = layout(&doc, &profile).unwrap();
    assert!(page.blocks.iter().any(|b| matches!(b, Block::Qr(_))));
}

#[test]
fn write_preview_png_for_docs() {
    // `WRITE_PREVIEW=/some/dir` writes sample previews there for a human to look at; never
    // compared (PNG bytes depend on the png crate's compressor).
    let Ok(dir) = std::env::var("WRITE_PREVIEW") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
    for (name, doc) in samples::all_documents() {
        std::fs::write(
            dir.join(format!("{name}.png")),
            render_png(&doc, &profile).unwrap(),
        )
        .unwrap();
    }
}
