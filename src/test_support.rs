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

/// A camera's EXIF directory: orientation, copyright and artist (what the default
/// policy keeps) beside make, model, a body serial number, maker notes, a GPS position
/// and an embedded JPEG thumbnail (what it removes).
pub fn camera_exif(orientation: u16) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let field = |tag: Tag, ifd_num: In, value: Value| Field {
        tag,
        ifd_num,
        value,
    };
    let ascii = |text: &str| Value::Ascii(vec![text.as_bytes().to_vec()]);
    let fields = [
        field(
            Tag::Orientation,
            In::PRIMARY,
            Value::Short(vec![orientation]),
        ),
        field(Tag::Copyright, In::PRIMARY, ascii("(c) Ada Photographer")),
        field(Tag::Artist, In::PRIMARY, ascii("Ada Photographer")),
        field(Tag::Make, In::PRIMARY, ascii("PhoneCo")),
        field(Tag::Model, In::PRIMARY, ascii("Phone 15")),
        field(Tag::BodySerialNumber, In::PRIMARY, ascii("SN-PRIVATE-4242")),
        field(
            Tag::MakerNote,
            In::PRIMARY,
            Value::Undefined(b"MAKERNOTE-PRIVATE".to_vec(), 0),
        ),
        field(Tag::GPSLatitudeRef, In::PRIMARY, ascii("N")),
        field(
            Tag::GPSLatitude,
            In::PRIMARY,
            Value::Rational(vec![
                Rational::from((48, 1)),
                Rational::from((51, 1)),
                Rational::from((2959, 100)),
            ]),
        ),
        field(Tag::Orientation, In::THUMBNAIL, Value::Short(vec![1])),
    ];
    let thumbnail = encode(Format::Jpeg, 8, 8);
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    writer.set_jpeg(&thumbnail, In::THUMBNAIL);
    let mut out = Cursor::new(Vec::new());
    writer
        .write(&mut out, false)
        .expect("a valid EXIF directory");
    out.into_inner()
}

/// A JPEG segment.
pub fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len() + 2).expect("a segment under 64 KiB");
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A phone's JPEG of `width`×`height` stored pixels: [`camera_exif`], an ICC profile,
/// XMP, a Photoshop block, a comment, and a Multi-Picture trailer after its end.
pub fn phone_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    with_phone_metadata(&encode(Format::Jpeg, width, height), orientation)
}

/// [`phone_jpeg`]'s metadata around an encoded JPEG.
fn with_phone_metadata(plain: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = plain[..2].to_vec();
    out.extend(jpeg_segment(
        0xE1,
        &[b"Exif\0\0".as_slice(), &camera_exif(orientation)].concat(),
    ));
    out.extend(jpeg_segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><gps>PRIVATE-XMP</gps></x:xmpmeta>",
    ));
    out.extend(jpeg_segment(0xE2, b"ICC_PROFILE\0\x01\x01FAKE-ICC-PROFILE"));
    out.extend(jpeg_segment(0xED, b"Photoshop 3.0\0PRIVATE-IPTC"));
    out.extend(jpeg_segment(0xFE, b"PRIVATE-COMMENT"));
    out.extend_from_slice(&plain[2..]);
    out.extend_from_slice(b"MPF-TRAILER-PRIVATE");
    out
}

/// An upright picture for orientation tests: red top-left, green top-right, blue
/// bottom-left and white bottom-right quadrants, `width`×`height`.
pub fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let colour = match (x < width / 2, y < height / 2) {
            (true, true) => [255, 0, 0],
            (false, true) => [0, 255, 0],
            (true, false) => [0, 0, 255],
            (false, false) => [255, 255, 255],
        };
        image::Rgb(colour)
    })
}

/// A phone's JPEG ([`phone_jpeg`]'s metadata) whose pixels are `upright` stored the way
/// EXIF `orientation` says to turn back: what a phone held sideways or upside down
/// writes.
pub fn oriented_jpeg(upright: &RgbImage, orientation: u16) -> Vec<u8> {
    use image::imageops;
    let stored = match orientation {
        2 => imageops::flip_horizontal(upright),
        3 => imageops::rotate180(upright),
        4 => imageops::flip_vertical(upright),
        // Transpose and transverse are their own inverses.
        5 => imageops::flip_horizontal(&imageops::rotate90(upright)),
        6 => imageops::rotate270(upright),
        7 => imageops::flip_horizontal(&imageops::rotate270(upright)),
        8 => imageops::rotate90(upright),
        _ => upright.clone(),
    };
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(stored)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 95,
        ))
        .expect("a JPEG");
    with_phone_metadata(&out.into_inner(), orientation)
}
