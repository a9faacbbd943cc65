//! CODE128 code set B as bar widths, for the PNG preview (the printer draws its own bars from
//! `GS k`). The same symbols, checksum and quiet zones as the printer's.

use crate::PrintError;

/// Bar/space widths (in modules) of the 107 CODE128 symbols; 103–105 are the start codes, 106
/// the stop.
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

const START_B: usize = 104;
const STOP: usize = 106;

/// The widths, bar first, of `data` in code set B: start B, the data, the checksum, the stop.
pub(crate) fn widths_b(data: &str) -> Result<Vec<u8>, PrintError> {
    if data.is_empty() || data.len() > 253 || !data.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(PrintError::InvalidLayout(format!(
            "barcode data {data:?} must be 1..=253 printable ascii characters"
        )));
    }
    let values: Vec<usize> = data.bytes().map(|b| (b - 0x20) as usize).collect();
    let check = (START_B
        + values
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) * v)
            .sum::<usize>())
        % 103;
    let mut out = Vec::with_capacity((values.len() + 3) * 6 + 1);
    for sym in std::iter::once(START_B).chain(values).chain([check, STOP]) {
        out.extend(PATTERNS[sym].bytes().map(|b| b - b'0'));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_symbol_is_eleven_modules_and_distinct() {
        for (i, p) in PATTERNS.iter().enumerate() {
            let sum: u32 = p.bytes().map(|b| u32::from(b - b'0')).sum();
            assert_eq!(sum, if i == STOP { 13 } else { 11 }, "symbol {i}");
        }
        let mut all: Vec<&str> = PATTERNS[..STOP].to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), STOP, "symbols are distinct");
    }

    /// Reads widths back into text: proves start, data, checksum and stop line up.
    fn decode(widths: &[u8]) -> Option<String> {
        let syms: Vec<usize> = widths[..widths.len() - 7]
            .chunks(6)
            .map(|c| {
                let s: String = c.iter().map(|w| char::from(b'0' + w)).collect();
                PATTERNS.iter().position(|p| *p == s)
            })
            .collect::<Option<_>>()?;
        let (start, rest) = syms.split_first()?;
        let (check, data) = rest.split_last()?;
        let sum = (START_B
            + data
                .iter()
                .enumerate()
                .map(|(i, v)| (i + 1) * v)
                .sum::<usize>())
            % 103;
        (*start == START_B && *check == sum && widths[widths.len() - 7..] == [2, 3, 3, 1, 1, 1, 2])
            .then(|| data.iter().map(|v| char::from(*v as u8 + 0x20)).collect())
    }

    #[test]
    fn a_receipt_number_round_trips() {
        for text in ["S01-T1-000042", "a", "~ }"] {
            assert_eq!(decode(&widths_b(text).unwrap()).as_deref(), Some(text));
        }
        assert!(widths_b("é").is_err());
        assert!(widths_b("").is_err());
    }
}
