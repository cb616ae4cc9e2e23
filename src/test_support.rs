//! Small real images made in memory, for tests and the benchmark's seed data.

use std::io::Cursor;

use image::{ImageFormat, RgbImage, RgbaImage};

/// Formats pier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    Webp,
}

/// Encodes a `width`×`height` gradient in `format`.
pub fn encode(format: Format, width: u32, height: u32) -> Vec<u8> {
    let rgb = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    match format {
        Format::Png => rgb.write_to(&mut out, ImageFormat::Png),
        Format::Jpeg => rgb.write_to(&mut out, ImageFormat::Jpeg),
        Format::Gif => rgb.write_to(&mut out, ImageFormat::Gif),
        Format::Webp => RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x * 7) as u8, (y * 5) as u8, 9, 255])
        })
        .write_to(&mut out, ImageFormat::WebP),
    }
    .expect("encoding to memory cannot fail");
    out.into_inner()
}

/// A PNG of pseudo-random pixels, so it compresses badly: a payload of a chosen size.
pub fn noisy_png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let rgb = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = state.to_le_bytes();
        image::Rgb([b[0], b[1], b[2]])
    });
    let mut out = Cursor::new(Vec::new());
    rgb.write_to(&mut out, ImageFormat::Png)
        .expect("encoding to memory cannot fail");
    out.into_inner()
}

/// A valid PNG signature and IHDR claiming `width`×`height`, followed by a tiny IDAT and
/// IEND: what a decompression bomb looks like before anything is decoded.
pub fn png_header_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
