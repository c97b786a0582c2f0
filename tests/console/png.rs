//! Enough of PNG to tell a rendered page from a blank one: the chunks, the zlib stream
//! (inflated by flate2, already in the tree through the XLSX writer) and the five row filters.
//! Chromium writes its screenshots as 8-bit RGB or RGBA without interlacing; anything else
//! fails the test, saying so.

use std::collections::HashMap;
use std::io::Read;

/// A decoded image: its size and its pixels, row after row, `channels` bytes each.
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Image {
    /// How many distinct colours the image has, and the share of its most common one.
    pub fn colours(&self) -> (usize, f64) {
        let mut counts: HashMap<&[u8], usize> = HashMap::new();
        for pixel in self.pixels.chunks_exact(self.channels) {
            *counts.entry(pixel).or_default() += 1;
        }
        let most = counts.values().copied().max().unwrap_or(0);
        (counts.len(), most as f64 / (self.width * self.height).max(1) as f64)
    }
}

fn be32(bytes: &[u8]) -> usize {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
}

/// Decodes `png`.
pub fn decode(png: &[u8]) -> Image {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut compressed = Vec::new();
    let mut pos = 8;
    while pos + 8 <= png.len() {
        let length = be32(&png[pos..]);
        let kind = &png[pos + 4..pos + 8];
        let data = png.get(pos + 8..pos + 8 + length).expect("a whole chunk");
        match kind {
            b"IHDR" => {
                let (depth, colour, interlace) = (data[8], data[9], data[12]);
                assert!(depth == 8 && interlace == 0, "an 8-bit, non-interlaced PNG (depth {depth})");
                channels = match colour {
                    2 => 3,
                    6 => 4,
                    other => panic!("PNG colour type {other}: RGB or RGBA expected"),
                };
                (width, height) = (be32(data), be32(&data[4..]));
            }
            b"IDAT" => compressed.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + length;
    }
    assert!(width > 0 && height > 0, "the PNG has no header");
    let mut filtered = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..]).read_to_end(&mut filtered).expect("the image data inflates");
    let stride = width * channels;
    assert_eq!(filtered.len(), height * (stride + 1), "the image data has one filtered row per line");
    let mut pixels = vec![0u8; height * stride];
    for y in 0..height {
        let filter = filtered[y * (stride + 1)];
        let line = &filtered[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let left = if x >= channels { pixels[y * stride + x - channels] } else { 0 };
            let up = if y > 0 { pixels[(y - 1) * stride + x] } else { 0 };
            let up_left = if y > 0 && x >= channels { pixels[(y - 1) * stride + x - channels] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                other => panic!("PNG row filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    Image { width, height, channels, pixels }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
