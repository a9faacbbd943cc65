//! A model of the paper: what an Epson-compatible printer prints for a job of ours, written
//! from the ESC/POS command reference and the CODE128 specification, independently of the
//! crate's encoder, so that tests hold the encoder and both previews to the paper.
//!
//! It understands exactly the commands the encoder sends and panics on any other byte, so a
//! new command cannot slip past the tests unmodelled.

use pos_printing::CodePage;

/// CODE128 bar/space widths, bar first, of symbol values 0..=106 (ISO/IEC 15417, table 1):
/// 103/104/105 start A/B/C, 106 stop (13 modules with its final bar).
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

/// Start code B / C, the code-set switches, the stop symbol.
pub const START_B: u8 = 104;
/// Start code C.
pub const START_C: u8 = 105;
/// In code set B: switch to C. In code set C it is the digit pair `99`.
pub const CODE_C: u8 = 99;
/// In code set C: switch to B.
pub const CODE_B: u8 = 100;
/// Stop.
pub const STOP: u8 = 106;

/// A barcode as printed: its settings at the time of `GS k` and the data the printer got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barcode {
    /// Dots per module: the last documented `GS w n` (2..=6), else the default 3.
    pub module: u8,
    /// `GS h n`: bar height in dots.
    pub height: u8,
    /// `GS H n`: 2 = text below.
    pub hri: u8,
    /// `ESC a n` when printed (1 = centred).
    pub align: u8,
    /// The `d1..dn` of `GS k 73 n`.
    pub data: Vec<u8>,
}

impl Barcode {
    /// The symbol values the printer draws: start, data (code-set switches included), the
    /// mod-103 check symbol, stop.
    pub fn symbols(&self) -> Vec<u8> {
        gs_k_symbols(&self.data)
            .unwrap_or_else(|e| panic!("printer rejects GS k data {:?}: {e}", self.data))
            .0
    }

    /// The human-readable text the printer prints under the bars.
    pub fn hri_text(&self) -> String {
        gs_k_symbols(&self.data).unwrap().1
    }

    /// Width of the bars in modules (no quiet zones).
    pub fn modules(&self) -> u32 {
        bars(&self.symbols()).len() as u32
    }

    /// One row of the paper, `width_dots` wide, through the bars: `true` = black.
    pub fn row(&self, width_dots: u32) -> Vec<bool> {
        let bars = bars(&self.symbols());
        let m = u32::from(self.module);
        let w = bars.len() as u32 * m;
        assert!(w <= width_dots, "barcode of {w} dots on {width_dots}");
        let x0 = match self.align {
            0 => 0,
            1 => (width_dots - w) / 2,
            _ => width_dots - w,
        };
        let mut row = vec![false; width_dots as usize];
        for (i, b) in bars.iter().enumerate() {
            for d in 0..m {
                row[(x0 + i as u32 * m + d) as usize] = *b;
            }
        }
        row
    }
}

/// How the printer reads the data of `GS k 73` (function B, CODE128): `{B` / `{C` select the
/// code set, `{{` is a `{` in code set B, code set C takes bytes 0..=99 as digit pairs.
/// Returns the symbol values (start .. stop, check included) and the human-readable text.
pub fn gs_k_symbols(data: &[u8]) -> Result<(Vec<u8>, String), String> {
    let mut it = data.iter().copied();
    let (start, mut in_c) = match (it.next(), it.next()) {
        (Some(b'{'), Some(b'B')) => (START_B, false),
        (Some(b'{'), Some(b'C')) => (START_C, true),
        other => return Err(format!("must start with {{B or {{C, got {other:?}")),
    };
    let mut values = Vec::new();
    let mut hri = String::new();
    while let Some(b) = it.next() {
        if b == b'{' {
            match (in_c, it.next()) {
                (false, Some(b'{')) => {
                    values.push(b'{' - 0x20);
                    hri.push('{');
                }
                (false, Some(b'C')) => {
                    values.push(CODE_C);
                    in_c = true;
                }
                (true, Some(b'B')) => {
                    values.push(CODE_B);
                    in_c = false;
                }
                (_, other) => return Err(format!("unsupported {{{other:?} (code C: {in_c})")),
            }
        } else if in_c {
            if b > 99 {
                return Err(format!("byte {b} in code set C"));
            }
            values.push(b);
            hri.push_str(&format!("{b:02}"));
        } else {
            if !(0x20..=0x7E).contains(&b) {
                return Err(format!("byte {b:#04x} in code set B"));
            }
            values.push(b - 0x20);
            hri.push(b as char);
        }
    }
    if values.is_empty() {
        return Err("no data".into());
    }
    let check = checksum(start, &values);
    let mut symbols = vec![start];
    symbols.extend(values);
    symbols.extend([check, STOP]);
    Ok((symbols, hri))
}

/// The CODE128 check symbol: start value plus each data symbol times its position, mod 103.
pub fn checksum(start: u8, values: &[u8]) -> u8 {
    let sum: u64 = u64::from(start)
        + values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1) * u64::from(*v))
            .sum::<u64>();
    (sum % 103) as u8
}

/// The modules of `symbols` (each symbol's bar/space widths expanded), `true` = bar.
pub fn bars(symbols: &[u8]) -> Vec<bool> {
    let mut out = Vec::new();
    for s in symbols {
        for (i, w) in PATTERNS[*s as usize].bytes().enumerate() {
            out.extend(std::iter::repeat_n(i % 2 == 0, usize::from(w - b'0')));
        }
    }
    out
}

/// Reads a row of dots back like a scanner: finds the bars, measures the module from the
/// start symbol, checks quiet zones of `quiet` modules, each symbol, the checksum and the
/// stop, and returns (module dots, symbol values, text).
pub fn scan(row: &[bool], quiet: usize) -> Result<(usize, Vec<u8>, String), String> {
    let first = row.iter().position(|b| *b).ok_or("no bars")?;
    let last = row.iter().rposition(|b| *b).ok_or("no bars")?;
    // Run lengths, bar first.
    let mut runs = Vec::new();
    let mut x = first;
    while x <= last {
        let v = row[x];
        let start = x;
        while x <= last && row[x] == v {
            x += 1;
        }
        runs.push(x - start);
    }
    // The start symbol is 11 modules wide.
    let module = runs[..6].iter().sum::<usize>() / 11;
    if module == 0 || runs.iter().any(|r| r % module != 0) {
        return Err(format!("runs {runs:?} are not whole modules"));
    }
    if first < quiet * module || row.len() - 1 - last < quiet * module {
        return Err(format!(
            "quiet zones of {first} and {} dots, need {}",
            row.len() - 1 - last,
            quiet * module
        ));
    }
    let widths: Vec<u8> = runs.iter().map(|r| (r / module) as u8).collect();
    if widths.len() < 7 || (widths.len() - 7) % 6 != 0 {
        return Err(format!("{} runs do not make whole symbols", widths.len()));
    }
    let to_str = |c: &[u8]| c.iter().map(|w| char::from(b'0' + w)).collect::<String>();
    let mut symbols = Vec::new();
    let (body, stop) = widths.split_at(widths.len() - 7);
    for c in body.chunks(6) {
        let s = to_str(c);
        let v = PATTERNS[..106]
            .iter()
            .position(|p| *p == s)
            .ok_or(format!("no symbol {s}"))?;
        symbols.push(v as u8);
    }
    if to_str(stop) != PATTERNS[106] {
        return Err(format!("bad stop {}", to_str(stop)));
    }
    let (start, rest) = symbols.split_first().ok_or("empty")?;
    let (check, values) = rest.split_last().ok_or("no check symbol")?;
    if checksum(*start, values) != *check {
        return Err(format!(
            "check symbol {check}, expected {}",
            checksum(*start, values)
        ));
    }
    let mut in_c = match *start {
        START_B => false,
        START_C => true,
        s => return Err(format!("start {s}")),
    };
    let mut text = String::new();
    for v in values {
        match (in_c, *v) {
            (false, CODE_C) => in_c = true,
            (true, CODE_B) => in_c = false,
            (false, v) if v < 95 => text.push(char::from(v + 0x20)),
            (true, v) if v < 100 => text.push_str(&format!("{v:02}")),
            (c, v) => {
                return Err(format!(
                    "symbol {v} in code set {}",
                    if c { 'C' } else { 'B' }
                ))
            }
        }
    }
    symbols.push(STOP);
    Ok((module, symbols, text))
}

/// Everything a job puts on paper.
#[derive(Debug, Default)]
pub struct Paper {
    /// The paper as text in the format of `Page::to_text`: each printed line aligned in the
    /// profile's columns (double-width lines spaced out), right-trimmed; graphics as bracketed
    /// placeholders (`[image WxH]`, `[QR code]`, `[CODE128]` followed by its printed text).
    pub text: String,
    /// The barcodes, top to bottom.
    pub barcodes: Vec<Barcode>,
    /// Every `GS w n` sent, as sent (also the undocumented ones the printer ignores).
    pub module_widths: Vec<u8>,
}

fn align_text(text: &str, width: usize, align: u8) -> String {
    let len = text.chars().count();
    let pad = width.saturating_sub(len);
    let left = match align {
        0 => 0,
        1 => pad / 2,
        _ => pad,
    };
    format!("{}{text}{}", " ".repeat(left), " ".repeat(pad - left))
}

/// Prints `job` on a paper of `columns` font-A columns with code page `cp`.
pub fn print(job: &[u8], columns: usize, cp: CodePage) -> Paper {
    let mut paper = Paper::default();
    let (mut align, mut wide) = (0u8, false);
    let (mut module, mut height, mut hri) = (3u8, 162u8, 0u8);
    let mut line: Vec<u8> = Vec::new();
    // A raster image sent in chunks: (width, rows) so far.
    let mut image: Option<(usize, usize)> = None;
    let mut i = 0;
    let arg = |i: usize, n: usize| -> &[u8] {
        job.get(i..i + n)
            .unwrap_or_else(|| panic!("truncated command at {i}"))
    };
    let emit = |paper: &mut Paper, s: &str, align: u8, wide: bool| {
        let cols = if wide { (columns / 2).max(1) } else { columns };
        let padded = align_text(s, cols, align);
        let shown: String = if wide {
            padded.chars().flat_map(|c| [c, ' ']).collect()
        } else {
            padded
        };
        paper.text.push_str(shown.trim_end());
        paper.text.push('\n');
    };
    while i < job.len() {
        let b = job[i];
        let is_image = b == 0x1D && job.get(i + 1..i + 3) == Some(&[0x76, 0x30]);
        if !is_image {
            if let Some((w, h)) = image.take() {
                emit(&mut paper, &format!("[image {w}x{h}]"), align, false);
            }
        }
        match b {
            0x0A => {
                let text: String = line
                    .drain(..)
                    .map(|b| {
                        cp.char_for(b)
                            .unwrap_or_else(|| panic!("unprintable {b:#04x}"))
                    })
                    .collect();
                emit(&mut paper, &text, align, wide);
                i += 1;
            }
            0x20..=0x7E | 0x80..=0xFF => {
                line.push(b);
                i += 1;
            }
            0x1B => {
                let c = arg(i + 1, 1)[0];
                assert!(
                    line.is_empty() || c == b'E',
                    "command {c:#04x} mid-line at {i}"
                );
                match c {
                    b'@' => {
                        (align, wide) = (0, false);
                        (module, height, hri) = (3, 162, 0);
                        i += 2;
                    }
                    b't' => {
                        assert_eq!(arg(i + 2, 1)[0], cp.esc_t(), "code page");
                        i += 3;
                    }
                    b'a' => {
                        align = arg(i + 2, 1)[0];
                        i += 3;
                    }
                    b'E' => i += 3,
                    b'd' => {
                        let n = arg(i + 2, 1)[0];
                        i += 3;
                        // The feed before the cut only brings the last line past the cutter.
                        let cut_next = job.get(i..i + 2) == Some(&[0x1D, 0x56]) || i == job.len();
                        if !cut_next {
                            for _ in 0..n {
                                paper.text.push('\n');
                            }
                        }
                    }
                    b'p' => i += 5,
                    c => panic!("unmodelled ESC {c:#04x} at {i}"),
                }
            }
            0x1D => {
                let c = arg(i + 1, 1)[0];
                assert!(line.is_empty(), "command GS {c:#04x} mid-line at {i}");
                match c {
                    b'!' => {
                        wide = arg(i + 2, 1)[0] & 0x70 != 0;
                        i += 3;
                    }
                    b'v' => {
                        let h = arg(i + 2, 6);
                        assert_eq!(h[..2], [0x30, 0x00], "GS v 0 normal");
                        let stride = usize::from(h[2]) | usize::from(h[3]) << 8;
                        let rows = usize::from(h[4]) | usize::from(h[5]) << 8;
                        arg(i + 8, stride * rows);
                        i += 8 + stride * rows;
                        let (w, h) = image.get_or_insert((stride * 8, 0));
                        assert_eq!(*w, stride * 8, "chunks of one image");
                        *h += rows;
                    }
                    b'(' => {
                        let h = arg(i + 2, 5);
                        assert_eq!(h[0], b'k', "GS ( k only");
                        let len = usize::from(h[1]) | usize::from(h[2]) << 8;
                        let (cn, f) = (h[3], h[4]);
                        arg(i + 5, len);
                        i += 5 + len;
                        if cn == 0x31 && f == 0x51 {
                            emit(&mut paper, "[QR code]", align, false);
                        }
                    }
                    b'h' => {
                        height = arg(i + 2, 1)[0];
                        i += 3;
                    }
                    b'w' => {
                        let n = arg(i + 2, 1)[0];
                        paper.module_widths.push(n);
                        // Documented range 2..=6; a TM-T20-class printer ignores other values
                        // and keeps its width (3 after `ESC @`).
                        if (2..=6).contains(&n) {
                            module = n;
                        }
                        i += 3;
                    }
                    b'H' => {
                        hri = arg(i + 2, 1)[0];
                        i += 3;
                    }
                    b'k' => {
                        let h = arg(i + 2, 2);
                        assert_eq!(h[0], 73, "GS k m=73 (CODE128) only");
                        let n = usize::from(h[1]);
                        let data = arg(i + 4, n).to_vec();
                        i += 4 + n;
                        let bc = Barcode {
                            module,
                            height,
                            hri,
                            align,
                            data,
                        };
                        emit(&mut paper, "[CODE128]", align, false);
                        if hri == 2 {
                            emit(&mut paper, &bc.hri_text(), align, false);
                        }
                        paper.barcodes.push(bc);
                    }
                    b'V' => i += 3,
                    c => panic!("unmodelled GS {c:#04x} at {i}"),
                }
            }
            b => panic!("unmodelled byte {b:#04x} at {i}"),
        }
    }
    if let Some((w, h)) = image.take() {
        emit(&mut paper, &format!("[image {w}x{h}]"), align, false);
    }
    assert!(line.is_empty(), "text left unprinted at the end of the job");
    paper
}
