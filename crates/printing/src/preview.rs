//! PNG preview of a [`Page`]: the paper as the printer would print it, drawn with the crate's
//! own 5x7 font (no system font), QR codes included, so that the UI and the docs can show a
//! receipt without a printer.
//!
//! Geometry follows the printer: one character cell is `width_dots / columns` dots wide
//! (12 on every supported profile) and 24 dots tall, like font A. Accented letters are drawn
//! as their base letter; a CODE128 barcode is drawn as the printer's bars (the same symbols,
//! code sets, module width and centring, from the encoder `escpos` uses) with its text.

use crate::font;
use crate::image::{qr_raster, RasterImage, MAX_IMAGE_HEIGHT};
use crate::page::{align_text, Block, Page, Style};
use crate::profile::PrinterProfile;
use crate::PrintError;

const MARGIN: u32 = 16;
const CELL_H: u32 = 24;

struct Canvas {
    w: u32,
    h: u32,
    /// 1 = black.
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: u32, y: u32) {
        if x < self.w && y < self.h {
            self.px[(y * self.w + x) as usize] = 1;
        }
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        for yy in y..(y + h).min(self.h) {
            let row = (yy * self.w) as usize;
            for xx in x..(x + w).min(self.w) {
                self.px[row + xx as usize] = 1;
            }
        }
    }

    fn blit(&mut self, img: &RasterImage, x0: u32, y0: u32) {
        for y in 0..img.height() {
            for x in 0..img.width() {
                if img.get(x, y) {
                    self.set(x0 + x, y0 + y);
                }
            }
        }
    }

    /// Draws `glyph` in a cell at (x, y) of `cw` x `ch` dots; `sx`, `sy` are dot scales.
    fn glyph(&mut self, g: &[u8; 7], x: u32, y: u32, sx: u32, sy: u32, bold: bool) {
        let ox = x + sx / 2;
        let oy = y + 5 * sy / 2;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) != 0 {
                    let w = if bold { sx + 1 } else { sx };
                    self.fill(ox + col * sx, oy + row as u32 * sy, w, sy);
                }
            }
        }
    }
}

/// Base letter for accented Latin letters, so that the 5x7 ASCII font can draw them.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' | 'ă' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ą' | 'Ă' => 'A',
        'ç' | 'ć' | 'č' => 'c',
        'Ç' | 'Ć' | 'Č' => 'C',
        'ď' | 'đ' => 'd',
        'Ď' | 'Đ' => 'D',
        'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' | 'Ę' | 'Ě' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'ı' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ł' | 'ľ' | 'ĺ' => 'l',
        'Ł' | 'Ľ' | 'Ĺ' => 'L',
        'ñ' | 'ń' | 'ň' => 'n',
        'Ñ' | 'Ń' | 'Ň' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ő' => 'O',
        'ŕ' | 'ř' => 'r',
        'Ŕ' | 'Ř' => 'R',
        'ś' | 'š' | 'ş' | 'ß' => 's',
        'Ś' | 'Š' | 'Ş' => 'S',
        'ť' | 'ţ' => 't',
        'Ť' | 'Ţ' => 'T',
        'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ů' | 'Ű' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' | 'Ÿ' => 'Y',
        'ź' | 'ż' | 'ž' => 'z',
        'Ź' | 'Ż' | 'Ž' => 'Z',
        '£' => 'L',
        _ => c,
    }
}

fn glyph_for(c: char) -> &'static [u8; 7] {
    if c == '€' {
        return &font::EURO;
    }
    let c = fold(c);
    let i = if (' '..='~').contains(&c) {
        c as usize - 0x20
    } else {
        '?' as usize - 0x20
    };
    &font::ASCII[i]
}

fn line_height(style: &Style) -> u32 {
    if style.tall {
        2 * CELL_H
    } else {
        CELL_H
    }
}

/// Renders `page` to a 1-bit PNG, `profile.width_dots()` wide plus margins.
pub fn page_to_png(page: &Page, profile: &PrinterProfile) -> Result<Vec<u8>, PrintError> {
    let dots = profile.width_dots();
    let cell_w = (dots / page.columns.max(1) as u32).max(6);
    let bar_h = u32::from(crate::code128::BAR_HEIGHT_DOTS);
    // Pre-compute the images of QR codes so that the height is known.
    let mut qrs = Vec::new();
    let mut height = 2 * MARGIN;
    for b in &page.blocks {
        height += match b {
            Block::Line { style, .. } => line_height(style),
            Block::Feed(n) => *n as u32 * CELL_H,
            Block::Image(img) => img.fit(dots, MAX_IMAGE_HEIGHT).height(),
            Block::Qr(d) => {
                let img = qr_raster(d, profile.qr_module() as u32)?.fit(dots, MAX_IMAGE_HEIGHT);
                let h = img.height() + CELL_H;
                qrs.push(img);
                h
            }
            Block::Code128(_) => bar_h + 2 * CELL_H,
        };
    }
    let width = dots + 2 * MARGIN;
    let mut c = Canvas {
        w: width,
        h: height,
        px: vec![0; (width * height) as usize],
    };
    let mut y = MARGIN;
    let mut qr_iter = qrs.iter();
    for b in &page.blocks {
        match b {
            Block::Line { text, style } => {
                let cols = style.columns(page.columns);
                let line = align_text(text, cols, style.align);
                let sx = if style.wide { 4 } else { 2 };
                let sy = if style.tall { 4 } else { 2 };
                let cw = if style.wide { 2 * cell_w } else { cell_w };
                for (i, ch) in line.chars().enumerate() {
                    if ch != ' ' {
                        c.glyph(glyph_for(ch), MARGIN + i as u32 * cw, y, sx, sy, style.bold);
                    }
                }
                y += line_height(style);
            }
            Block::Feed(n) => y += *n as u32 * CELL_H,
            Block::Image(img) => {
                let img = img.fit(dots, MAX_IMAGE_HEIGHT);
                c.blit(&img, MARGIN + (dots - img.width()) / 2, y);
                y += img.height();
            }
            Block::Qr(_) => {
                if let Some(img) = qr_iter.next() {
                    c.blit(img, MARGIN + (dots - img.width()) / 2, y);
                    y += img.height() + CELL_H;
                }
            }
            Block::Code128(data) => {
                // The printer's bars: the same symbols and module width (one shared encoder),
                // centred on the printable width as `ESC a 1` centres them.
                let (code, m) = crate::code128::fit(data, dots)?;
                let m = u32::from(m);
                let x0 = MARGIN + (dots - code.module_count() * m) / 2;
                for (i, bar) in code.modules().into_iter().enumerate() {
                    if bar {
                        c.fill(x0 + i as u32 * m, y, m, bar_h);
                    }
                }
                y += bar_h + CELL_H / 2;
                let text = align_text(data, page.columns, crate::page::Align::Center);
                for (i, ch) in text.chars().enumerate() {
                    if ch != ' ' {
                        c.glyph(glyph_for(ch), MARGIN + i as u32 * cell_w, y, 2, 2, false);
                    }
                }
                y += CELL_H + CELL_H / 2;
            }
        }
    }
    encode_png(&c)
}

fn encode_png(c: &Canvas) -> Result<Vec<u8>, PrintError> {
    let stride = (c.w as usize).div_ceil(8);
    let mut packed = vec![0xFFu8; stride * c.h as usize];
    for y in 0..c.h as usize {
        let row = &c.px[y * c.w as usize..(y + 1) * c.w as usize];
        let out = &mut packed[y * stride..(y + 1) * stride];
        for (x, &p) in row.iter().enumerate() {
            if p != 0 {
                out[x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let mut buf = Vec::with_capacity(packed.len() / 4 + 1024);
    {
        let mut enc = png::Encoder::new(&mut buf, c.w, c.h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| PrintError::Png(e.to_string()))?;
        w.write_image_data(&packed)
            .map_err(|e| PrintError::Png(e.to_string()))?;
        w.finish().map_err(|e| PrintError::Png(e.to_string()))?;
    }
    Ok(buf)
}
