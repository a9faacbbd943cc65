//! Text encoding into printer code pages.

use pos_printing::{render_escpos, CodePage, Document, Paper, PrinterProfile};

#[test]
fn euro_and_accents_are_the_right_pc858_bytes() {
    assert_eq!(CodePage::Pc858.encode("€"), [0xD5]);
    assert_eq!(
        CodePage::Pc858.encode("àáâäçèéêëïîñóöüÀÉÖÜß"),
        [
            0x85, 0xA0, 0x83, 0x84, 0x87, 0x8A, 0x82, 0x88, 0x89, 0x8B, 0x8C, 0xA4, 0xA2, 0x94,
            0x81, 0xB7, 0x90, 0x99, 0x9A, 0xE1
        ]
    );
}

#[test]
fn unmappable_character_becomes_visible_replacement() {
    assert_eq!(CodePage::Pc858.encode("a☕b"), b"a?b");
    assert_eq!(CodePage::Pc858.encode("日本"), b"??");
    assert_eq!(CodePage::Pc437.encode("5€"), b"5?");
    // € in the other pages.
    assert_eq!(CodePage::Wpc1252.encode("€"), [0x80]);
    assert_eq!(CodePage::Pc852.encode("ŁŚ"), [0x9D, 0x97]);
}

#[test]
fn receipt_text_is_encoded_in_the_profile_code_page() {
    let mut r = pos_printing::samples::sale_receipt(1);
    r.footer = vec!["Total € ☕".into()];
    let p858 = PrinterProfile::new(Paper::Mm80, 48, "PC858").unwrap();
    let bytes = render_escpos(&Document::Sale(r.clone()), &p858).unwrap();
    assert!(bytes.windows(9).any(|w| w == b"Total \xD5 ?"));
    let p437 = PrinterProfile::new(Paper::Mm80, 48, "PC437").unwrap();
    let bytes = render_escpos(&Document::Sale(r), &p437).unwrap();
    assert_eq!(&bytes[2..5], &[0x1B, 0x74, 0]);
    assert!(bytes.windows(9).any(|w| w == b"Total ? ?"));
    // No UTF-8 lead byte of € (0xE2) anywhere in a PC437 job's text.
    assert!(!bytes.windows(3).any(|w| w == "€".as_bytes()));
}

/// Regression for the `escpos` crate trap: text went out as UTF-8, printing garbage.
#[test]
fn text_is_never_sent_as_utf8_escpos_utf8_default() {
    let p = PrinterProfile::new(Paper::Mm58, 32, "PC858").unwrap();
    for (_, doc) in pos_printing::samples::all_documents() {
        let bytes = render_escpos(&doc, &p).unwrap();
        for s in ["é", "ü", "€", "ß", "Ö"] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "utf-8 {s} found"
            );
        }
    }
}
