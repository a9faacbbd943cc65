//! 1-bit raster images (logos, QR codes on printers without `GS ( k`) and their scaling.

use crate::PrintError;
use serde::{Deserialize, Serialize};

/// Tallest image the renderer sends, in dots (taller ones are scaled down).
pub const MAX_IMAGE_HEIGHT: u32 = 1200;

/// A 1-bit image: `data` holds `height` rows of `ceil(width / 8)` bytes, most significant bit
/// first, bit set = black dot. This is exactly the layout `GS v 0` expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RasterRaw", into = "RasterRaw")]
pub struct RasterImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RasterRaw {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl TryFrom<RasterRaw> for RasterImage {
    type Error = PrintError;
    fn try_from(r: RasterRaw) -> Result<Self, PrintError> {
        RasterImage::from_packed(r.width, r.height, r.data)
    }
}

impl From<RasterImage> for RasterRaw {
    fn from(r: RasterImage) -> Self {
        RasterRaw {
            width: r.width,
            height: r.height,
            data: r.data,
        }
    }
}

impl RasterImage {
    /// An image from packed rows (see the type docs). The length must be
    /// `ceil(width / 8) * height`.
    pub fn from_packed(width: u32, height: u32, data: Vec<u8>) -> Result<Self, PrintError> {
        if width == 0 || height == 0 {
            return Err(PrintError::InvalidImage(format!(
                "image of {width}x{height} dots is empty"
            )));
        }
        let expected = (width as usize).div_ceil(8) * height as usize;
        if data.len() != expected {
            return Err(PrintError::InvalidImage(format!(
                "{width}x{height} image needs {expected} bytes, got {}",
                data.len()
            )));
        }
        Ok(RasterImage {
            width,
            height,
            data,
        })
    }

    /// An image from 8-bit grey levels, one byte per pixel, row-major; darker than 128 is black.
    pub fn from_luma(width: u32, height: u32, luma: &[u8]) -> Result<Self, PrintError> {
        if luma.len() != width as usize * height as usize {
            return Err(PrintError::InvalidImage(format!(
                "{width}x{height} grey image needs {} bytes, got {}",
                width as usize * height as usize,
                luma.len()
            )));
        }
        Self::from_fn(width, height, |x, y| {
            luma[y as usize * width as usize + x as usize] < 128
        })
    }

    /// An image whose pixel (x, y) is black when `f(x, y)`.
    pub fn from_fn(
        width: u32,
        height: u32,
        f: impl Fn(u32, u32) -> bool,
    ) -> Result<Self, PrintError> {
        if width == 0 || height == 0 {
            return Err(PrintError::InvalidImage(format!(
                "image of {width}x{height} dots is empty"
            )));
        }
        let stride = (width as usize).div_ceil(8);
        let mut data = vec![0u8; stride * height as usize];
        for y in 0..height {
            for x in 0..width {
                if f(x, y) {
                    data[y as usize * stride + x as usize / 8] |= 0x80 >> (x % 8);
                }
            }
        }
        Ok(RasterImage {
            width,
            height,
            data,
        })
    }

    /// Width in dots.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in dots.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Bytes per row.
    pub fn stride(&self) -> usize {
        (self.width as usize).div_ceil(8)
    }
    /// Packed rows.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether pixel (x, y) is black; outside the image is white.
    pub fn get(&self, x: u32, y: u32) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        self.data[y as usize * self.stride() + x as usize / 8] & (0x80 >> (x % 8)) != 0
    }

    /// The image scaled down (nearest neighbour, aspect kept) so that it fits
    /// `max_width` x `max_height`; unchanged if it already fits.
    pub fn fit(&self, max_width: u32, max_height: u32) -> RasterImage {
        if self.width <= max_width && self.height <= max_height {
            return self.clone();
        }
        // scale = min(max_w / w, max_h / h), in integer arithmetic.
        let (num, den) = if (max_width as u64) * (self.height as u64)
            <= (max_height as u64) * (self.width as u64)
        {
            (max_width as u64, self.width as u64)
        } else {
            (max_height as u64, self.height as u64)
        };
        let w = ((self.width as u64 * num / den) as u32).max(1);
        let h = ((self.height as u64 * num / den) as u32).max(1);
        let src = self;
        // from_fn cannot fail for non-zero sizes.
        RasterImage::from_fn(w, h, |x, y| {
            src.get((x as u64 * den / num) as u32, (y as u64 * den / num) as u32)
        })
        .unwrap_or_else(|_| self.clone())
    }
}

/// The modules of a QR code for `data`: (side, row-major dark flags), no quiet zone.
pub fn qr_modules(data: &str) -> Result<(usize, Vec<bool>), PrintError> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| PrintError::Qr {
            data: data.chars().take(64).collect(),
            reason: e.to_string(),
        })?;
    let side = code.width();
    let modules = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((side, modules))
}

/// A QR code as a raster image with a 4-module quiet zone, `module` dots per module.
pub fn qr_raster(data: &str, module: u32) -> Result<RasterImage, PrintError> {
    let (side, modules) = qr_modules(data)?;
    let module = module.max(1);
    let quiet = 4usize;
    let total = (side + 2 * quiet) as u32 * module;
    RasterImage::from_fn(total, total, |x, y| {
        let mx = (x / module) as usize;
        let my = (y / module) as usize;
        if mx < quiet || my < quiet || mx >= side + quiet || my >= side + quiet {
            return false;
        }
        modules[(my - quiet) * side + (mx - quiet)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_length_is_checked() {
        assert!(RasterImage::from_packed(9, 2, vec![0; 4]).is_ok());
        assert!(RasterImage::from_packed(9, 2, vec![0; 3]).is_err());
        assert!(RasterImage::from_packed(0, 2, vec![]).is_err());
    }

    #[test]
    fn too_large_image_is_scaled_down_keeping_aspect() {
        let img = RasterImage::from_fn(1000, 500, |x, _| x < 500).unwrap();
        let fit = img.fit(576, 1200);
        assert_eq!((fit.width(), fit.height()), (576, 288));
        assert!(fit.get(0, 0));
        assert!(!fit.get(575, 0));
        let tall = RasterImage::from_fn(100, 5000, |_, _| true).unwrap();
        let fit = tall.fit(576, 1200);
        assert_eq!((fit.width(), fit.height()), (24, 1200));
    }

    #[test]
    fn qr_raster_has_quiet_zone() {
        let img = qr_raster("S01-D02-000123", 2).unwrap();
        assert_eq!(img.width(), img.height());
        assert!(!img.get(0, 0));
        assert!(img.get(8, 8)); // finder pattern corner after 4 quiet modules of 2 dots
    }
}
