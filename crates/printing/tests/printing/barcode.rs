//! CODE128 receipt numbers on paper (issue 17): module widths in the printers' documented
//! range, code sets, quiet zones, the QR fallback, typed errors. Held to the paper model of
//! `support::paper`, which is written independently of the encoder.

use super::support::paper::{self, print, scan};
use pos_printing::{
    layout, render_escpos, render_png, render_text, samples, Block, Document, Page, Paper,
    PrintError, PrinterProfile, ReceiptCode,
};

/// The sample refund's receipt number: `STORE-DEVICE-SEQUENCE`.
const RECEIPT: &str = "S01-D02-000124";

fn mm58() -> PrinterProfile {
    PrinterProfile::new(Paper::Mm58, 32, "PC858").unwrap()
}

fn mm80() -> PrinterProfile {
    PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap()
}

fn code128_page(data: &str, profile: &PrinterProfile) -> Page {
    Page {
        columns: profile.columns(),
        blocks: vec![Block::Code128(data.into())],
    }
}

fn printed(data: &str, profile: &PrinterProfile) -> paper::Paper {
    let job = code128_page(data, profile).to_escpos(profile).unwrap();
    print(&job, profile.columns(), profile.code_page())
}

/// `GS h 80`, `GS w m`, `GS H 2`, `GS k 73 n` and the data of `S01-D02-000124`: `{B` for
/// `S01-D02-`, then `{C` and the digit pairs 00 01 24 as bytes.
fn receipt_barcode_bytes(module: u8) -> Vec<u8> {
    let mut v = vec![
        0x1D, b'h', 80, 0x1D, b'w', module, 0x1D, b'H', 2, 0x1D, b'k', 73, 15,
    ];
    v.extend_from_slice(b"{BS01-D02-{C");
    v.extend_from_slice(&[0, 1, 24]);
    v
}

/// Regression: when a CODE128 did not fit at module width 2 the encoder sent `GS w 1`, which
/// printers do not document (2..=6); a TM-T20-class printer ignores it and prints at 3, so the
/// 14-character receipt number ran off 58 mm paper.
#[test]
fn regression_code128_never_sends_module_width_below_2() {
    for (profile, module) in [(mm58(), 2), (mm80(), 3)] {
        let job = code128_page(RECEIPT, &profile).to_escpos(&profile).unwrap();
        let want = receipt_barcode_bytes(module);
        assert!(
            job.windows(want.len()).any(|w| w == want),
            "{} dots: {job:02x?}",
            profile.width_dots()
        );
        let p = print(&job, profile.columns(), profile.code_page());
        assert_eq!(p.module_widths, vec![module]);
    }
    // Every printable width, receipt numbers of every length: whatever is sent is documented,
    // and what the printer then draws fits the paper with its quiet zones.
    for dots in (128..=832).step_by(8) {
        let profile = mm80().with_width_dots(dots as u16).unwrap();
        for seq in ["1", "000124", "1000000", "123456789012"] {
            for (store, device) in [("S01", "D02"), ("S1", "T1"), ("STORE001", "TILL0001")] {
                let data = format!("{store}-{device}-{seq}");
                let Ok(job) = render_escpos(&refund_with(&data), &profile) else {
                    panic!("{data} on {dots} dots did not render");
                };
                let p = print(&job, profile.columns(), profile.code_page());
                assert!(
                    p.module_widths.iter().all(|w| (2..=6).contains(w)),
                    "{data} on {dots} dots: GS w {:?}",
                    p.module_widths
                );
                for b in &p.barcodes {
                    let need = (b.modules() + 20) * u32::from(b.module);
                    assert!(need <= dots, "{data}: {need} dots on {dots}");
                }
            }
        }
    }
}

fn refund_with(receipt_number: &str) -> Document {
    let mut r = samples::refund_receipt();
    r.receipt_number = receipt_number.into();
    r.code = ReceiptCode::Code128(receipt_number.into());
    Document::Refund(r)
}

#[test]
fn code128_receipt_number_in_code_set_c_fits_58mm_at_module_width_2_with_quiet_zones() {
    let p = printed(RECEIPT, &mm58());
    let [b] = p.barcodes.as_slice() else {
        panic!("one barcode: {:?}", p.barcodes)
    };
    // start B, S 0 1 - D 0 2 -, code C, 00 01 24, check, stop: by hand,
    // (104 + 1*51 + 2*16 + 3*17 + 4*13 + 5*36 + 6*16 + 7*18 + 8*13 + 9*99 + 10*0 + 11*1
    //  + 12*24) mod 103 = 1986 mod 103 = 29.
    assert_eq!(
        b.symbols(),
        [104, 51, 16, 17, 13, 36, 16, 18, 13, 99, 0, 1, 24, 29, 106]
    );
    // 14 symbols of 11 modules and the stop of 13; plus 10 quiet modules each side.
    assert_eq!(b.modules(), 14 * 11 + 13);
    assert_eq!(b.module, 2);
    assert!((b.modules() + 20) * 2 <= 384);
    // In code set B alone, as the old encoder sent it, it does not fit at width 2: 16
    // symbols and the stop, 189 modules, 418 dots with quiet zones.
    let (only_b, _) = paper::gs_k_symbols(b"{BS01-D02-000124").unwrap();
    let only_b = paper::bars(&only_b).len() as u32;
    assert_eq!(only_b, 189);
    assert!((only_b + 20) * 2 > 384);
    assert_eq!(b.align, 1, "centred");
    let (module, symbols, text) = scan(&b.row(384), 10).unwrap();
    assert_eq!((module, symbols, text.as_str()), (2, b.symbols(), RECEIPT));
}

#[test]
fn code128_symbols_decode_back_with_a_valid_checksum() {
    for data in [
        RECEIPT,
        "S01-T1-000042",
        "1",
        "12",
        "123",
        "12345678",
        "A1234567",
        "x{y}",
        "{{",
        " ~",
        "99-100",
        "0000000000000000000000000000000000000000",
    ] {
        let p = printed(data, &mm80());
        let [b] = p.barcodes.as_slice() else {
            panic!("{data}: one barcode")
        };
        assert_eq!(b.hri_text(), data, "printed text under the bars");
        let (module, symbols, text) =
            scan(&b.row(576), 10).unwrap_or_else(|e| panic!("{data}: {e}"));
        assert_eq!(text, data);
        assert_eq!(symbols, b.symbols());
        assert_eq!(module, usize::from(b.module));
    }
}

#[test]
fn code128_uses_code_set_c_only_where_it_saves_symbols() {
    let symbols = |d: &str| printed(d, &mm80()).barcodes[0].symbols();
    // All digits, even: start C.
    assert_eq!(symbols("12345678")[..5], [105, 12, 34, 56, 78]);
    // A pair alone costs as much in C (switch + pair) as in B: stay in B.
    assert_eq!(symbols("A12B")[..5], [104, 33, 17, 18, 34]);
    // An odd run: one digit in B, then C for the pairs.
    assert_eq!(symbols("-12345")[..6], [104, 13, 17, 99, 23, 45]);
}

#[test]
fn code128_that_fits_no_module_width_prints_as_a_qr_code_in_every_output() {
    // 8-character store and device codes are valid receipt numbers; in CODE128 this needs
    // 21 data symbols: 297 modules with quiet zones, 594 dots at 2 per module.
    let long = "STORE001-TILL0001-000042";
    for profile in [mm58(), mm80()] {
        let doc = refund_with(long);
        let page = layout(&doc, &profile).unwrap();
        assert!(page.blocks.contains(&Block::Qr(long.into())));
        assert!(!page.blocks.iter().any(|b| matches!(b, Block::Code128(_))));
        let job = render_escpos(&doc, &profile).unwrap();
        let store: Vec<u8> = [&[0x31, 0x50, 0x30][..], long.as_bytes()].concat();
        assert!(
            job.windows(store.len()).any(|w| w == store),
            "GS ( k stores the data"
        );
        let p = print(&job, profile.columns(), profile.code_page());
        assert!(p.barcodes.is_empty() && p.module_widths.is_empty());
        let text = render_text(&doc, &profile).unwrap();
        assert_eq!(text, p.text);
        assert!(
            text.contains("[QR code]") && !text.contains("[CODE128]"),
            "{text}"
        );
        render_png(&doc, &profile).unwrap();
    }
    // The sample's number stays a CODE128 on both papers.
    for profile in [mm58(), mm80()] {
        let page = layout(&refund_with(RECEIPT), &profile).unwrap();
        assert!(page.blocks.contains(&Block::Code128(RECEIPT.into())));
    }
}

#[test]
fn code128_errors_are_typed_lowercase_and_carry_the_value() {
    let profile = mm58();
    let too_wide = code128_page("STORE001-TILL0001-000042", &profile);
    let e = too_wide.to_escpos(&profile).unwrap_err();
    assert!(
        matches!(
            e,
            PrintError::Code128TooWide {
                needed_dots: 594,
                width_dots: 384,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "code128 \"STORE001-TILL0001-000042\" needs 594 dots with quiet zones at 2 dots per \
         module, paper has 384"
    );
    // The preview refuses the same page the same way: it never draws what cannot be printed.
    let p = pos_printing::preview::page_to_png(&too_wide, &profile).unwrap_err();
    assert_eq!(p.to_string(), e.to_string());
    for (data, reason) in [
        ("", "no data"),
        ("Zürich", "'ü' is not printable ascii"),
        ("tab\there", "'\\t' is not printable ascii"),
    ] {
        let e = code128_page(data, &profile)
            .to_escpos(&profile)
            .unwrap_err();
        assert!(matches!(e, PrintError::Code128Data { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("code128 cannot carry {data:?}: {reason}")
        );
    }
    // Very long data: refused quickly, the message shortened.
    let huge = "9".repeat(1_000_000);
    let e = code128_page(&huge, &mm80()).to_escpos(&mm80()).unwrap_err();
    assert!(matches!(e, PrintError::Code128Data { .. }), "{e:?}");
    assert!(e.to_string().len() < 200, "{e}");
}
