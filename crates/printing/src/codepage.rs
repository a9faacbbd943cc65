//! Single-byte code pages of thermal printers, and text encoding into them.
//!
//! Thermal printers do not speak UTF-8: every byte 0x80..=0xFF means a character of the code
//! page selected with `ESC t n`. [`CodePage::encode_into`] maps text to those bytes. A character
//! the page lacks becomes [`REPLACEMENT`] (`?`), visibly, never a stray byte; control characters
//! also become `?` so that text can never inject printer commands.

use crate::codepage_tables as tables;
use crate::PrintError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The byte printed for a character the code page cannot show.
pub const REPLACEMENT: u8 = b'?';

/// A code page of the printer's character table, selected with `ESC t n`.
///
/// Serialised as its name (`"PC858"`); an unknown name is refused when the profile is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(try_from = "String", into = "String")]
pub enum CodePage {
    /// IBM PC437 (USA, standard Europe). No €.
    Pc437,
    /// PC850 (Multilingual Latin-1). No €.
    Pc850,
    /// PC852 (Latin-2, Central Europe).
    Pc852,
    /// PC858: PC850 with € at 0xD5. The default for euro shops.
    Pc858,
    /// Windows-1252 (€ at 0x80).
    Wpc1252,
}

impl CodePage {
    /// All supported code pages.
    pub const ALL: [CodePage; 5] = [
        CodePage::Pc437,
        CodePage::Pc850,
        CodePage::Pc852,
        CodePage::Pc858,
        CodePage::Wpc1252,
    ];

    /// The canonical name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            CodePage::Pc437 => "PC437",
            CodePage::Pc850 => "PC850",
            CodePage::Pc852 => "PC852",
            CodePage::Pc858 => "PC858",
            CodePage::Wpc1252 => "WPC1252",
        }
    }

    /// The `n` of `ESC t n` on Epson-compatible printers.
    pub fn esc_t(self) -> u8 {
        match self {
            CodePage::Pc437 => 0,
            CodePage::Pc850 => 2,
            CodePage::Wpc1252 => 16,
            CodePage::Pc852 => 18,
            CodePage::Pc858 => 19,
        }
    }

    fn upper_half(self) -> &'static [char; 128] {
        match self {
            CodePage::Pc437 => &tables::PC437,
            CodePage::Pc850 => &tables::PC850,
            CodePage::Pc852 => &tables::PC852,
            CodePage::Pc858 => &tables::PC858,
            CodePage::Wpc1252 => &tables::WPC1252,
        }
    }

    /// The byte for `c`, or `None` if the page lacks it. Control characters have no byte.
    pub fn byte_for(self, c: char) -> Option<u8> {
        match c {
            ' '..='~' => Some(c as u8),
            '\0'..='\u{7f}' => None,
            _ => self
                .upper_half()
                .iter()
                .position(|&x| x == c && x != '\0')
                .map(|i| 0x80 + i as u8),
        }
    }

    /// The character a byte shows, for previews. Control bytes and undefined bytes give `None`.
    pub fn char_for(self, b: u8) -> Option<char> {
        match b {
            0x20..=0x7e => Some(b as char),
            0x80..=0xff => {
                let c = self.upper_half()[(b - 0x80) as usize];
                (c != '\0').then_some(c)
            }
            _ => None,
        }
    }

    /// Appends `text` encoded in this page to `out`, one byte per character; characters the
    /// page lacks (and control characters) become [`REPLACEMENT`].
    pub fn encode_into(self, text: &str, out: &mut Vec<u8>) {
        out.reserve(text.len());
        for c in text.chars() {
            out.push(self.byte_for(c).unwrap_or(REPLACEMENT));
        }
    }

    /// `text` encoded in this page. See [`CodePage::encode_into`].
    pub fn encode(self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        self.encode_into(text, &mut out);
        out
    }

    /// `text` as the printer will show it: each character the page lacks replaced by `?`.
    pub fn printable(self, text: &str) -> String {
        text.chars()
            .map(|c| if self.byte_for(c).is_some() { c } else { '?' })
            .collect()
    }
}

impl FromStr for CodePage {
    type Err = PrintError;

    /// Parses `PC858`, `pc858`, `CP858`, `858`, `WPC1252`, `CP1252`, `windows-1252`...
    fn from_str(s: &str) -> Result<Self, PrintError> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_uppercase();
        let digits = norm
            .trim_start_matches("WPC")
            .trim_start_matches("WINDOWS")
            .trim_start_matches("PC")
            .trim_start_matches("CP")
            .trim_start_matches("IBM");
        match digits {
            "437" => Ok(CodePage::Pc437),
            "850" => Ok(CodePage::Pc850),
            "852" => Ok(CodePage::Pc852),
            "858" => Ok(CodePage::Pc858),
            "1252" => Ok(CodePage::Wpc1252),
            _ => Err(PrintError::UnknownCodePage(s.to_string())),
        }
    }
}

impl TryFrom<String> for CodePage {
    type Error = PrintError;
    fn try_from(s: String) -> Result<Self, PrintError> {
        s.parse()
    }
}

impl From<CodePage> for String {
    fn from(c: CodePage) -> String {
        c.name().to_string()
    }
}

impl fmt::Display for CodePage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euro_and_accents_in_pc858() {
        assert_eq!(CodePage::Pc858.encode("€"), vec![0xD5]);
        assert_eq!(CodePage::Pc858.encode("é"), vec![0x82]);
        assert_eq!(CodePage::Pc858.encode("ñÑüß"), vec![0xA4, 0xA5, 0x81, 0xE1]);
    }

    #[test]
    fn pc437_has_no_euro() {
        assert_eq!(CodePage::Pc437.encode("€1"), b"?1".to_vec());
    }

    #[test]
    fn control_characters_cannot_inject_commands() {
        assert_eq!(CodePage::Pc858.encode("a\x1bp\x00b\n"), b"a?p?b?".to_vec());
    }

    #[test]
    fn roundtrip_every_defined_byte() {
        for cp in CodePage::ALL {
            for b in 0x80..=0xffu8 {
                if let Some(c) = cp.char_for(b) {
                    assert_eq!(cp.byte_for(c), Some(b), "{cp} byte {b:#x}");
                }
            }
        }
    }

    #[test]
    fn names_parse_and_unknown_is_refused() {
        assert_eq!("cp858".parse::<CodePage>().unwrap(), CodePage::Pc858);
        assert_eq!(
            "windows-1252".parse::<CodePage>().unwrap(),
            CodePage::Wpc1252
        );
        let e = "PC999".parse::<CodePage>().unwrap_err();
        assert_eq!(e.to_string(), "unknown code page \"PC999\"");
    }
}
