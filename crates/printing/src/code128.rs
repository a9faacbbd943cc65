//! CODE128, encoded once for both outputs: the ESC/POS encoder sends [`Code128::escpos_data`]
//! (`GS k 73`), the PNG preview draws [`Code128::modules`], and both come from the same symbol
//! sequence and the same [`Code128::fit`], so the preview cannot disagree with the paper.
//!
//! Code sets B (printable ASCII) and C (digit pairs) with the fewest symbols (switching to C
//! for a run of digits only where it saves a symbol), the mod-103 check symbol and the stop,
//! per ISO/IEC 15417. Code set A (control characters) is never needed: data is printable
//! ASCII.

use crate::PrintError;

/// Bar/space widths (in modules) of the 107 CODE128 symbols; 103–105 are the start codes, 106
/// the stop (13 modules: its pattern ends with the termination bar).
const PATTERNS: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];

/// Start code B.
const START_B: u8 = 104;
/// Start code C.
const START_C: u8 = 105;
/// In code set B: switch to code set C (in C, 99 is the digit pair `99`).
const CODE_C: u8 = 99;
/// In code set C: switch to code set B.
const CODE_B: u8 = 100;
/// Stop.
const STOP: u8 = 106;

/// Modules of light space scanners need on each side of the bars.
pub(crate) const QUIET_ZONE_MODULES: u32 = 10;
/// Dots per module, narrowest: printers document `GS w` 2..=6 only (a TM-T20-class printer
/// ignores 1 and prints at 3).
pub(crate) const MIN_MODULE_DOTS: u8 = 2;
/// Dots per module, widest used: the printers' default; a wider module only makes the
/// symbol longer.
pub(crate) const MAX_MODULE_DOTS: u8 = 3;
/// Bar height in dots (`GS h`).
pub(crate) const BAR_HEIGHT_DOTS: u8 = 80;
/// `GS k 73 n` carries at most 255 bytes of data.
const MAX_ESCPOS_BYTES: usize = 255;

/// A CODE128 symbol sequence: start, data symbols (code-set switches included), check, stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Code128 {
    symbols: Vec<u8>,
}

/// At most 64 characters of `data`, for error messages.
fn shown(data: &str) -> String {
    data.chars().take(64).collect()
}

fn data_error(data: &str, reason: impl Into<String>) -> PrintError {
    PrintError::Code128Data {
        data: shown(data),
        reason: reason.into(),
    }
}

impl Code128 {
    /// Encodes `data` (1 or more printable ASCII characters) with the fewest symbols.
    pub(crate) fn encode(data: &str) -> Result<Self, PrintError> {
        let bytes = data.as_bytes();
        if bytes.is_empty() {
            return Err(data_error(data, "no data"));
        }
        if let Some(c) = data.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(data_error(data, format!("{c:?} is not printable ascii")));
        }
        // At best (all digits, code set C) two characters take one byte of `GS k`: longer
        // data can never fit, and is refused before any work.
        if bytes.len() > 2 * MAX_ESCPOS_BYTES {
            return Err(data_error(
                data,
                format!(
                    "{} characters are more than a printer barcode carries",
                    bytes.len()
                ),
            ));
        }
        let n = bytes.len();
        let pair =
            |i: usize| i + 1 < n && bytes[i].is_ascii_digit() && bytes[i + 1].is_ascii_digit();
        // Fewest symbols to encode bytes[i..] from code set B / C: in_b[i], in_c[i].
        let mut in_b = vec![0usize; n + 1];
        let mut in_c = vec![0usize; n + 1];
        for i in (0..n).rev() {
            let stay_b = 1 + in_b[i + 1];
            let switch_b = 2 + in_b[i + 1];
            in_b[i] = if pair(i) {
                stay_b.min(2 + in_c[i + 2])
            } else {
                stay_b
            };
            in_c[i] = if pair(i) {
                (1 + in_c[i + 2]).min(switch_b)
            } else {
                switch_b
            };
        }
        // On a tie, code set B and no switch: the same length, the more common reading.
        let mut c = pair(0) && in_c[0] < in_b[0];
        let mut symbols = Vec::with_capacity(in_b[0].min(in_c[0]) + 3);
        symbols.push(if c { START_C } else { START_B });
        let mut i = 0;
        while i < n {
            if c {
                // Stay in C when that is (one of) the fewest.
                if pair(i) && in_c[i] == 1 + in_c[i + 2] {
                    symbols.push((bytes[i] - b'0') * 10 + (bytes[i + 1] - b'0'));
                    i += 2;
                    continue;
                }
                symbols.push(CODE_B);
                c = false;
            } else if in_b[i] < 1 + in_b[i + 1] {
                // Switching to C is strictly fewer (only possible before a digit pair).
                symbols.push(CODE_C);
                c = true;
                continue;
            }
            symbols.push(bytes[i] - 0x20);
            i += 1;
        }
        let check = (symbols
            .iter()
            .enumerate()
            .map(|(i, v)| i.max(1) as u64 * u64::from(*v))
            .sum::<u64>()
            % 103) as u8;
        symbols.extend([check, STOP]);
        let code = Code128 { symbols };
        let len = code.escpos_data().len();
        if len > MAX_ESCPOS_BYTES {
            return Err(data_error(
                data,
                format!("{len} bytes of barcode data exceed the printer's {MAX_ESCPOS_BYTES}"),
            ));
        }
        Ok(code)
    }

    /// The symbol values: start, data (code-set switches included), check, stop.
    #[cfg(test)]
    pub(crate) fn symbols(&self) -> &[u8] {
        &self.symbols
    }

    /// Width of the bars in modules, quiet zones excluded: 11 per symbol, 13 for the stop.
    pub(crate) fn module_count(&self) -> u32 {
        self.symbols.len() as u32 * 11 + 2
    }

    /// The bar/space widths in modules, bar first.
    fn widths(&self) -> impl Iterator<Item = u8> + '_ {
        self.symbols
            .iter()
            .flat_map(|s| PATTERNS[usize::from(*s)].bytes().map(|b| b - b'0'))
    }

    /// One flag per module, `true` for bar, quiet zones excluded.
    pub(crate) fn modules(&self) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.module_count() as usize);
        for (i, w) in self.widths().enumerate() {
            out.extend(std::iter::repeat_n(i % 2 == 0, usize::from(w)));
        }
        out
    }

    /// The `d1..dn` of ESC/POS `GS k 73 n` (CODE128): `{B` / `{C` for the start and for each
    /// switch, characters of code set B as themselves (`{` doubled), digit pairs of code set
    /// C as bytes 0..=99. The printer adds the check symbol and the stop itself.
    pub(crate) fn escpos_data(&self) -> Vec<u8> {
        let data = &self.symbols[..self.symbols.len() - 2];
        let mut out = Vec::with_capacity(data.len() + 4);
        let mut c = false;
        for (i, &s) in data.iter().enumerate() {
            match (i, c, s) {
                (0, ..) => {
                    c = s == START_C;
                    out.extend_from_slice(if c { b"{C" } else { b"{B" });
                }
                (_, false, CODE_C) => {
                    c = true;
                    out.extend_from_slice(b"{C");
                }
                (_, true, CODE_B) => {
                    c = false;
                    out.extend_from_slice(b"{B");
                }
                (_, true, pair) => out.push(pair),
                (_, false, v) => {
                    let b = v + 0x20;
                    if b == b'{' {
                        out.push(b'{');
                    }
                    out.push(b);
                }
            }
        }
        out
    }

    /// The dots per module for a paper `width_dots` wide: the widest in
    /// [`MIN_MODULE_DOTS`]..=[`MAX_MODULE_DOTS`] at which the bars and their quiet zones fit.
    pub(crate) fn module_dots(&self, data: &str, width_dots: u32) -> Result<u8, PrintError> {
        let modules = self.module_count() + 2 * QUIET_ZONE_MODULES;
        (MIN_MODULE_DOTS..=MAX_MODULE_DOTS)
            .rev()
            .find(|m| modules * u32::from(*m) <= width_dots)
            .ok_or_else(|| PrintError::Code128TooWide {
                data: shown(data),
                needed_dots: modules * u32::from(MIN_MODULE_DOTS),
                width_dots,
            })
    }
}

/// `data` encoded and sized for a paper `width_dots` wide: the symbol and its dots per module.
/// The one decision the ESC/POS encoder, the preview and the layout's QR fallback share.
pub(crate) fn fit(data: &str, width_dots: u32) -> Result<(Code128, u8), PrintError> {
    let code = Code128::encode(data)?;
    let m = code.module_dots(data, width_dots)?;
    Ok((code, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_symbol_is_eleven_modules_and_distinct() {
        for (i, p) in PATTERNS.iter().enumerate() {
            let sum: u32 = p.bytes().map(|b| u32::from(b - b'0')).sum();
            assert_eq!(
                sum,
                if i == usize::from(STOP) { 13 } else { 11 },
                "symbol {i}"
            );
        }
        let mut all: Vec<&str> = PATTERNS[..usize::from(STOP)].to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), usize::from(STOP), "symbols are distinct");
    }

    #[test]
    fn start_switch_and_stop_patterns_are_the_specified_ones() {
        // As module strings in ISO/IEC 15417 (1 = bar).
        let bits = |s: u8| -> String {
            Code128 { symbols: vec![s] }
                .modules()
                .iter()
                .map(|b| if *b { '1' } else { '0' })
                .collect::<String>()
        };
        assert_eq!(bits(START_B), "11010010000");
        assert_eq!(bits(START_C), "11010011100");
        assert_eq!(bits(CODE_C), "10111011110");
        assert_eq!(bits(CODE_B), "10111101110");
        assert_eq!(bits(STOP), "1100011101011");
    }

    #[test]
    fn receipt_number_uses_code_set_c_for_its_sequence() {
        let c = Code128::encode("S01-D02-000124").unwrap();
        // Check: (104 + 1*51 + 2*16 + 3*17 + 4*13 + 5*36 + 6*16 + 7*18 + 8*13 + 9*99 + 10*0
        //         + 11*1 + 12*24) mod 103 = 1986 mod 103 = 29.
        assert_eq!(
            c.symbols(),
            [104, 51, 16, 17, 13, 36, 16, 18, 13, 99, 0, 1, 24, 29, 106]
        );
        assert_eq!(c.module_count(), 167);
        assert_eq!(c.modules().len(), 167);
        let mut want = b"{BS01-D02-{C".to_vec();
        want.extend([0, 1, 24]);
        assert_eq!(c.escpos_data(), want);
        // With its quiet zones: 187 modules, 374 dots at width 2 on 58 mm (384 dots).
        assert_eq!(fit("S01-D02-000124", 384).unwrap().1, 2);
        assert_eq!(fit("S01-D02-000124", 576).unwrap().1, 3);
        assert_eq!(fit("S01-D02-000124", 512).unwrap().1, 2);
        assert!(matches!(
            fit("S01-D02-000124", 368),
            Err(PrintError::Code128TooWide {
                needed_dots: 374,
                width_dots: 368,
                ..
            })
        ));
    }

    #[test]
    fn brace_is_doubled_for_the_printer() {
        assert_eq!(Code128::encode("a{b").unwrap().escpos_data(), b"{Ba{{b");
        assert_eq!(
            Code128::encode("1234").unwrap().escpos_data(),
            [b'{', b'C', 12, 34]
        );
    }

    #[test]
    fn bad_data_is_a_typed_error_with_its_value() {
        for (data, part) in [
            ("", "no data"),
            ("é", "'é' is not printable ascii"),
            ("a\nb", "'\\n' is not printable ascii"),
        ] {
            let e = Code128::encode(data).unwrap_err();
            assert!(matches!(e, PrintError::Code128Data { .. }), "{e:?}");
            assert!(e.to_string().contains(part), "{e}");
            assert_eq!(e.to_string(), e.to_string().to_lowercase());
        }
        let long = "7".repeat(100_000);
        let e = Code128::encode(&long).unwrap_err();
        assert!(e.to_string().contains("100000 characters"), "{e}");
        assert!(e.to_string().len() < 200, "the value is shortened: {e}");
        // 256 characters of code set B: 258 bytes with `{B`.
        assert!(Code128::encode(&"x".repeat(253)).is_ok());
        let e = Code128::encode(&"x".repeat(254)).unwrap_err();
        assert!(e.to_string().contains("256 bytes"), "{e}");
    }

    /// Reads modules back like a scanner: symbols, check and stop, then the text.
    fn decode(modules: &[bool]) -> Option<String> {
        let mut widths = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            if i > 0 && modules[i - 1] == *m {
                *widths.last_mut()? += 1u8;
            } else {
                widths.push(1u8);
            }
        }
        let body = widths.get(..widths.len().checked_sub(7)?)?;
        if widths[body.len()..] != [2, 3, 3, 1, 1, 1, 2] || body.len() % 6 != 0 {
            return None;
        }
        let syms: Vec<u8> = body
            .chunks(6)
            .map(|c| {
                let s: String = c.iter().map(|w| char::from(b'0' + w)).collect();
                PATTERNS.iter().position(|p| *p == s).map(|p| p as u8)
            })
            .collect::<Option<_>>()?;
        let (start, rest) = syms.split_first()?;
        let (check, data) = rest.split_last()?;
        let sum = u64::from(*start)
            + data
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u64 + 1) * u64::from(*v))
                .sum::<u64>();
        if u64::from(*check) != sum % 103 {
            return None;
        }
        let mut c = match *start {
            START_B => false,
            START_C => true,
            _ => return None,
        };
        let mut text = String::new();
        for &v in data {
            match (c, v) {
                (false, CODE_C) => c = true,
                (true, CODE_B) => c = false,
                (false, 0..=94) => text.push(char::from(v + 0x20)),
                (true, 0..=99) => text.push_str(&format!("{v:02}")),
                _ => return None,
            }
        }
        Some(text)
    }

    /// The fewest data symbols (switches included) over every valid encoding, by search.
    fn fewest(data: &[u8], in_c: bool) -> usize {
        if data.is_empty() {
            return 0;
        }
        let pair = data.len() >= 2 && data[0].is_ascii_digit() && data[1].is_ascii_digit();
        let here = if in_c {
            pair.then(|| 1 + fewest(&data[2..], true))
        } else {
            Some(1 + fewest(&data[1..], false))
        };
        let switched = if in_c {
            Some(2 + fewest(&data[1..], false))
        } else {
            pair.then(|| 2 + fewest(&data[2..], true))
        };
        here.into_iter().chain(switched).min().unwrap_or(usize::MAX)
    }

    #[test]
    fn a_receipt_number_round_trips() {
        for text in [
            "S01-T1-000042",
            "S01-D02-000124",
            "a",
            "~ }",
            "1",
            "12",
            "123",
            "{",
        ] {
            let c = Code128::encode(text).unwrap();
            assert_eq!(decode(&c.modules()).as_deref(), Some(text));
        }
    }

    proptest! {
        #[test]
        fn any_printable_ascii_round_trips_with_the_fewest_symbols(
            text in "[0-9]{0,3}([ -~]{0,3}[0-9]{0,5}){1,3}"
        ) {
            prop_assume!(!text.is_empty());
            let c = Code128::encode(&text).unwrap();
            let decoded = decode(&c.modules());
            prop_assert_eq!(decoded.as_deref(), Some(text.as_str()));
            let best = fewest(text.as_bytes(), false).min(fewest(text.as_bytes(), true));
            prop_assert_eq!(c.symbols().len(), best + 3, "{:?}", c.symbols());
            prop_assert_eq!(c.modules().len() as u32, c.module_count());
        }

        #[test]
        fn any_input_is_encoded_or_refused_never_a_panic(text in any::<String>(), dots in 0u32..2000) {
            match fit(&text, dots) {
                Ok((c, m)) => {
                    prop_assert!((MIN_MODULE_DOTS..=MAX_MODULE_DOTS).contains(&m));
                    prop_assert!((c.module_count() + 2 * QUIET_ZONE_MODULES) * u32::from(m) <= dots);
                    prop_assert!(c.escpos_data().len() <= MAX_ESCPOS_BYTES);
                }
                Err(e) => {
                    let typed = matches!(
                        e,
                        PrintError::Code128Data { .. } | PrintError::Code128TooWide { .. }
                    );
                    prop_assert!(typed, "{:?}", e);
                }
            }
        }
    }
}
