//! The device-independent page: a layout document broken into printable lines, images and
//! codes for a given profile. Every output (ESC/POS bytes, plain text, PNG) is drawn from the
//! same [`Page`], so the preview shows what the printer prints, wrapping and `?` included.

use crate::image::RasterImage;

/// Horizontal alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left.
    Left,
    /// Centre.
    Center,
    /// Right.
    Right,
}

/// Character style of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Emphasised (`ESC E 1`).
    pub bold: bool,
    /// Double width (`GS ! 0x10`): half as many columns.
    pub wide: bool,
    /// Double height (`GS ! 0x01`).
    pub tall: bool,
    /// Alignment (`ESC a n`).
    pub align: Align,
}

impl Style {
    /// Left, normal.
    pub const NORMAL: Style = Style {
        bold: false,
        wide: false,
        tall: false,
        align: Align::Left,
    };

    /// Columns available on a line of this style.
    pub fn columns(&self, columns: usize) -> usize {
        if self.wide {
            (columns / 2).max(1)
        } else {
            columns
        }
    }
}

/// One element of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One printed line; its text fits the style's columns and holds only characters the code
    /// page can print (others already replaced by `?`).
    Line {
        /// The text.
        text: String,
        /// Its style.
        style: Style,
    },
    /// Blank lines.
    Feed(u8),
    /// A raster image, already scaled to the paper, centred.
    Image(RasterImage),
    /// A QR code (native or raster per profile), centred.
    Qr(String),
    /// A CODE128 barcode with its text underneath, centred. Rendering fails with
    /// [`PrintError::Code128TooWide`](crate::PrintError::Code128TooWide) if it does not fit
    /// the paper; [`layout`](crate::render::layout) puts a [`Block::Qr`] there instead.
    Code128(String),
}

/// A document laid out for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Normal-size columns of the profile.
    pub columns: usize,
    /// The blocks, top to bottom.
    pub blocks: Vec<Block>,
}

impl Page {
    /// The page as plain text, `columns` wide: exactly the printed lines, wide lines spaced out
    /// to keep alignment; images and codes are shown as bracketed placeholders (a CODE128
    /// followed by the text printed under its bars).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Line { text, style } => {
                    let width = style.columns(self.columns);
                    let padded = align_text(text, width, style.align);
                    let line: String = if style.wide {
                        padded.chars().flat_map(|c| [c, ' ']).collect()
                    } else {
                        padded
                    };
                    out.push_str(line.trim_end());
                    out.push('\n');
                }
                Block::Feed(n) => {
                    for _ in 0..*n {
                        out.push('\n');
                    }
                }
                Block::Image(img) => {
                    let s = format!("[image {}x{}]", img.width(), img.height());
                    out.push_str(align_text(&s, self.columns, Align::Center).trim_end());
                    out.push('\n');
                }
                // The symbol as a placeholder, then the blank line of the `LF` sent after it;
                // the data itself is not printed.
                Block::Qr(_) => {
                    out.push_str(align_text("[QR code]", self.columns, Align::Center).trim_end());
                    out.push_str("\n\n");
                }
                // The bars as a placeholder, the text the printer prints under them, then the
                // blank line of the `LF` sent after the barcode.
                Block::Code128(data) => {
                    for l in ["[CODE128]", data.as_str()] {
                        out.push_str(align_text(l, self.columns, Align::Center).trim_end());
                        out.push('\n');
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// `text` padded to `width` columns with the given alignment (never truncated).
pub(crate) fn align_text(text: &str, width: usize, align: Align) -> String {
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let pad = width - len;
    let (l, r) = match align {
        Align::Left => (0, pad),
        Align::Right => (pad, 0),
        Align::Center => (pad / 2, pad - pad / 2),
    };
    let mut s = String::with_capacity(width);
    s.extend(std::iter::repeat_n(' ', l));
    s.push_str(text);
    s.extend(std::iter::repeat_n(' ', r));
    s
}
