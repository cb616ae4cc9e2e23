//! The strict walkers against the files of the hardening report and each format's
//! structural traps; every file is inspected whole and in small chunks, which must agree.

use super::*;
use crate::test_support::{Format, encode};

#[path = "../../../tests/support/crafted.rs"]
mod crafted;

use crafted::{Jpeg, fctl, gif_with, ihdr, png_with};
use jpeg_encoder::SamplingFactor;

const MIB: u64 = 1 << 20;

fn inspect_with(bytes: &[u8], budget: u64) -> Result<InspectedImage, ImageRejection> {
    let run = |chunk: usize| {
        let mut inspector = ImageInspector::new(50_000_000, budget);
        for piece in bytes.chunks(chunk) {
            inspector.feed(piece)?;
        }
        inspector.finish()
    };
    let whole = run(bytes.len().max(1));
    for chunk in [1, 7, 4096] {
        assert_eq!(
            run(chunk),
            whole,
            "the verdict depends on the chunking ({chunk})"
        );
    }
    whole
}

fn inspect(bytes: &[u8]) -> Result<InspectedImage, ImageRejection> {
    inspect_with(bytes, 256 * MIB)
}

fn malformed(result: Result<InspectedImage, ImageRejection>, needle: &str) {
    match result {
        Err(ImageRejection::Malformed(reason)) => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected a malformed {needle:?}, got {other:?}"),
    }
}

#[test]
fn the_fill_byte_differential_is_read_as_the_decoder_reads_it() {
    let file = crafted::fill_byte_differential();
    assert!(file.len() > 0xC200, "the misreading lands inside the file");
    assert_eq!(
        inspect(&file),
        Err(ImageRejection::TooManyPixels {
            width: 16_000,
            height: 16_000,
            limit: 50_000_000
        })
    );
    // With the pixel limit out of the way, what is left is the decode budget.
    let mut inspector = ImageInspector::new(u64::MAX, 256 * MIB);
    inspector.feed(&file).unwrap();
    assert!(matches!(
        inspector.finish(),
        Err(ImageRejection::TooExpensive { .. })
    ));
}

#[test]
fn fill_bytes_and_restart_markers_are_the_format() {
    let plain = crafted::jpeg(64, 48, Jpeg::Colour(SamplingFactor::R_4_2_0), false);
    // Fill bytes before every marker after the first segment.
    let parts = crafted::segments(&plain);
    let mut filled = vec![0xFF, 0xD8];
    for (_, bytes) in &parts {
        filled.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        filled.extend_from_slice(bytes);
    }
    let found = inspect(&filled).unwrap();
    assert_eq!((found.dimensions.width, found.dimensions.height), (64, 48));
    // Restart markers inside the entropy-coded data.
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_restart_interval(1);
    let pixels = vec![128u8; 64 * 48 * 3];
    encoder
        .encode(&pixels, 64, 48, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    assert!(
        out.windows(2)
            .any(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
    );
    assert!(inspect(&out).is_ok());
    // Whatever follows the end of the image (a second picture, a vendor trailer).
    let mut trailed = plain.clone();
    trailed.extend_from_slice(b"\xFF\xD8\xFF\xE0 trailing data of a Multi-Picture file");
    assert!(inspect(&trailed).is_ok());
}

#[test]
fn jpeg_structure_that_two_readers_could_read_apart_is_refused() {
    let plain = crafted::jpeg(32, 32, Jpeg::Grey, false);
    let parts = crafted::segments(&plain);
    let frame = parts.iter().find(|(m, _)| *m == 0xC0).unwrap().1.clone();
    // A second frame header.
    let mut twice = parts.clone();
    let at = twice.iter().position(|(m, _)| *m == 0xDA).unwrap();
    twice.insert(at, (0xC0, frame.clone()));
    malformed(inspect(&crafted::join(&twice)), "more than one frame");
    // Bytes between segments (a lenient reader skips them looking for a marker).
    let mut gap = parts.clone();
    gap[0].1.extend_from_slice(b"junk");
    malformed(inspect(&crafted::join(&gap)), "bytes between segments");
    // An Adobe segment too short for the decoder: the walker skips it, the decoder fails.
    let mut adobe = parts.clone();
    adobe.insert(0, (0xEE, b"\xFF\xEE\x00\x07Adobe".to_vec()));
    malformed(inspect(&crafted::join(&adobe)), "JPEG header is invalid");
    // Frame types the decoders cannot thumbnail.
    for (marker, what) in [(0xC3u8, "lossless"), (0xC9, "SOF9")] {
        let mut other = parts.clone();
        for (m, bytes) in &mut other {
            if *m == 0xC0 {
                bytes[1] = marker;
            }
        }
        match inspect(&crafted::join(&other)) {
            Err(ImageRejection::Unsupported(reason)) => {
                assert!(reason.contains(what) || reason.contains("SOF"), "{reason}")
            }
            result => panic!("SOF{:X}: {result:?}", marker - 0xC0),
        }
    }
    let mut twelve_bit = parts.clone();
    for (m, bytes) in &mut twelve_bit {
        if *m == 0xC0 {
            bytes[4] = 12;
        }
    }
    assert!(matches!(
        inspect(&crafted::join(&twelve_bit)),
        Err(ImageRejection::Unsupported(_))
    ));
}

#[test]
fn scans_are_bounded() {
    let progressive = crafted::jpeg(48, 48, Jpeg::Colour(SamplingFactor::R_4_4_4), true);
    assert!(inspect(&crafted::with_scans(&progressive, 64)).is_ok());
    match inspect(&crafted::with_scans(&progressive, 65)) {
        Err(ImageRejection::OverLimit(reason)) => assert!(reason.contains("64 scans")),
        other => panic!("{other:?}"),
    }
    // The report's many-scan file had over a hundred.
    assert!(inspect(&crafted::with_scans(&progressive, 150)).is_err());
}

#[test]
fn the_decode_budget_counts_progressive_coefficients() {
    let small = crafted::jpeg(32, 32, Jpeg::Colour(SamplingFactor::R_4_4_4), true);
    // The report's 7071² colour progressive JPEG: 50 Mpx, 3 bytes of output and 6 of
    // coefficients per pixel — about 430 MiB, over the default 256.
    let big = crafted::claiming(&small, 7071, 7071);
    match inspect(&big) {
        Err(ImageRejection::TooExpensive {
            needed_mib,
            budget_mib: 256,
        }) => assert!((400..480).contains(&needed_mib), "{needed_mib} MiB"),
        other => panic!("{other:?}"),
    }
    assert!(inspect_with(&big, 1 << 30).is_ok(), "within a 1 GiB budget");
    // The same size as a baseline image needs a third of that.
    let baseline = crafted::claiming(
        &crafted::jpeg(32, 32, Jpeg::Colour(SamplingFactor::R_4_4_4), false),
        7071,
        7071,
    );
    let layout = inspect(&baseline).unwrap().layout;
    assert!(layout.decode_bytes() < 160 * MIB);
}

#[test]
fn a_jpeg_header_past_a_mebibyte_is_refused() {
    let plain = crafted::jpeg(16, 16, Jpeg::Grey, false);
    let mut parts = crafted::segments(&plain);
    let mut comment = vec![0xFF, 0xFE, 0xFF, 0xFF];
    comment.resize(0xFFFF + 2, b'x');
    for _ in 0..20 {
        parts.insert(0, (0xFE, comment.clone()));
    }
    assert_eq!(
        inspect(&crafted::join(&parts)),
        Err(ImageRejection::HeaderTooLarge(ImageInspector::MAX_HEADER))
    );
}

#[test]
fn png_structure() {
    let idat = vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
    let good = png_with(&[
        (b"IHDR", ihdr(4, 4, 8, 2)),
        (b"IDAT", idat.clone()),
        (b"IEND", vec![]),
    ]);
    assert!(inspect(&good).is_ok());
    malformed(
        inspect(&png_with(&[(b"IDAT", idat.clone()), (b"IEND", vec![])])),
        "first chunk is not IHDR",
    );
    malformed(
        inspect(&png_with(&[
            (b"IHDR", ihdr(4, 4, 3, 2)),
            (b"IDAT", idat.clone()),
            (b"IEND", vec![]),
        ])),
        "invalid colour type",
    );
    malformed(
        inspect(&png_with(&[
            (b"IHDR", ihdr(4, 4, 8, 2)),
            (b"ZZZZ", vec![1]),
            (b"IDAT", idat.clone()),
            (b"IEND", vec![]),
        ])),
        "unknown critical chunk",
    );
    let mut after = good.clone();
    after.extend_from_slice(b"PK\x03\x04 a zip behind the image");
    malformed(inspect(&after), "data after IEND");
    // APNG frames: inside the canvas, and the default image's frame is IHDR's.
    malformed(
        inspect(&png_with(&[
            (b"IHDR", ihdr(4, 4, 8, 2)),
            (b"acTL", vec![0, 0, 0, 2, 0, 0, 0, 0]),
            (b"fcTL", fctl(4, 4, 0, 0)),
            (b"IDAT", idat.clone()),
            (b"fcTL", fctl(65_535, 65_535, 0, 0)),
            (b"IEND", vec![]),
        ])),
        "outside the canvas",
    );
    malformed(
        inspect(&png_with(&[
            (b"IHDR", ihdr(4, 4, 8, 2)),
            (b"acTL", vec![0, 0, 0, 1, 0, 0, 0, 0]),
            (b"fcTL", fctl(2, 2, 0, 0)),
            (b"IDAT", idat.clone()),
            (b"IEND", vec![]),
        ])),
        "differs from IHDR",
    );
}

#[test]
fn a_16_bit_png_costs_8_bits_a_sample_to_decode() {
    // The report's 6000×6000 16-bit RGBA PNG: 288 MB at 16 bits, 144 MB stripped to 8.
    let layout = inspect(&crafted::png_header_claiming_rgba16(6000, 6000))
        .unwrap()
        .layout;
    assert!(
        layout.decode_bytes() < 150 * MIB,
        "{}",
        layout.decode_bytes()
    );
}

#[test]
fn gif_frames_stay_on_the_screen() {
    assert!(inspect(&gif_with((10, 10), &[(0, 0, 10, 10), (2, 2, 8, 8)])).is_ok());
    // The frame a decoder would allocate for is 65535×65535 behind a 1×1 screen.
    malformed(
        inspect(&gif_with((1, 1), &[(0, 0, 65_535, 65_535)])),
        "outside the logical screen",
    );
    let mut padded = gif_with((10, 10), &[(0, 0, 10, 10)]);
    padded.extend_from_slice(&[0, 0, 0]);
    assert!(inspect(&padded).is_ok(), "zero padding after the trailer");
    padded.push(1);
    malformed(inspect(&padded), "after the trailer");
    malformed(inspect(&gif_with((10, 10), &[])), "no image");
}

#[test]
fn webp_sizes_must_agree() {
    let lossless = crafted::webp_lossless(20, 10);
    let found = inspect(&lossless).unwrap();
    assert_eq!((found.dimensions.width, found.dimensions.height), (20, 10));
    // A VP8X canvas of 1×1 around a 20×10 bitstream.
    let mut extended = b"RIFF\0\0\0\0WEBP".to_vec();
    extended.extend_from_slice(b"VP8X");
    extended.extend_from_slice(&10u32.to_le_bytes());
    extended.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    extended.extend_from_slice(&lossless[12..]);
    let size = (extended.len() - 8) as u32;
    extended[4..8].copy_from_slice(&size.to_le_bytes());
    malformed(inspect(&extended), "differs from the canvas");
    // The largest lossless size field, which image-webp reads as 0.
    let mut widest = lossless.clone();
    let bits = u32::from_le_bytes(widest[21..25].try_into().unwrap()) | 0x3FFF;
    widest[21..25].copy_from_slice(&bits.to_le_bytes());
    assert!(matches!(
        inspect(&widest),
        Err(ImageRejection::Unsupported(_))
    ));
    let mut after = lossless.clone();
    after.extend_from_slice(b"xx");
    malformed(inspect(&after), "after the RIFF");
}

#[test]
fn every_kind_still_passes_in_any_chunking() {
    for format in [Format::Png, Format::Jpeg, Format::Gif, Format::Webp] {
        let bytes = encode(format, 40, 30);
        let found = inspect(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((found.dimensions.width, found.dimensions.height), (40, 30));
    }
}
