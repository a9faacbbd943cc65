//! PNG and text previews.

use super::support::paper::{print, scan};
use pos_printing::image::qr_raster;
use pos_printing::{
    layout, preview::page_to_png, render_escpos, render_png, render_text, samples, Block, Document,
    Page, Paper, PrinterProfile,
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

/// Regression: the PNG drew CODE128 at module width 1 (and its own choice of width) where the
/// printer prints at another width; now both come from one encoder. Some 80 rows of the PNG
/// (the bar height of `GS h 80`) are exactly the row the printer draws: the same symbols, the
/// same module width, the same centring.
#[test]
fn regression_png_preview_draws_the_bars_the_printer_prints() {
    let refund = Document::Refund(samples::refund_receipt());
    for (paper, cols) in [(Paper::Mm58, 32), (Paper::Mm80, 42), (Paper::Mm80, 48)] {
        let profile = PrinterProfile::new(paper, cols, "PC858").unwrap();
        let dots = profile.width_dots();
        let job = render_escpos(&refund, &profile).unwrap();
        let printed = print(&job, profile.columns(), profile.code_page());
        let [bc] = printed.barcodes.as_slice() else {
            panic!("one barcode on the refund")
        };
        let (w, h, px) = decode(&render_png(&refund, &profile).unwrap());
        let mut want = vec![false; 16usize];
        want.extend(bc.row(dots));
        want.extend([false; 16]);
        let rows = (0..h as usize)
            .filter(|y| px[y * w as usize..(y + 1) * w as usize] == want[..])
            .count();
        assert_eq!(rows, usize::from(bc.height), "{dots} dots");
    }
}

#[test]
fn png_preview_barcode_scans_back_to_the_receipt_number() {
    for (paper, cols) in [(Paper::Mm58, 32), (Paper::Mm80, 48)] {
        let profile = PrinterProfile::new(paper, cols, "PC858").unwrap();
        let page = Page {
            columns: profile.columns(),
            blocks: vec![Block::Code128("S01-D02-000124".into())],
        };
        let (w, _, px) = decode(&page_to_png(&page, &profile).unwrap());
        let w = w as usize;
        // The bars start at the top margin of 16 dots.
        let row = &px[(16 + 40) * w + 16..(16 + 40) * w + 16 + profile.width_dots() as usize];
        let (module, _, text) = scan(row, 10).unwrap();
        assert_eq!(text, "S01-D02-000124");
        assert!((2..=6).contains(&module), "module {module}");
    }
}

/// Regression: the text preview showed the QR code's data as a line under `[QR code]`, a line
/// the printer never prints. The text preview of every layout on every paper is now exactly
/// the paper as the model prints the job (graphics as placeholders).
#[test]
fn regression_text_preview_shows_no_qr_data_line_the_printer_never_prints() {
    for (paper, cols) in [(Paper::Mm58, 32), (Paper::Mm80, 42), (Paper::Mm80, 48)] {
        for cp in ["PC858", "PC437"] {
            let profile = PrinterProfile::new(paper, cols, cp).unwrap();
            for (name, doc) in samples::all_documents() {
                let job = render_escpos(&doc, &profile).unwrap();
                let on_paper = print(&job, profile.columns(), profile.code_page()).text;
                let preview = render_text(&doc, &profile).unwrap();
                assert_eq!(preview, on_paper, "{name} on {cols} columns, {cp}");
            }
        }
    }
    let profile = PrinterProfile::new(Paper::Mm58, 32, "PC858").unwrap();
    let text = render_text(&Document::Sale(samples::sale_receipt(3)), &profile).unwrap();
    assert!(text.contains("[QR code]"), "{text}");
    assert!(!text.contains("https://r.example"), "{text}");
}
