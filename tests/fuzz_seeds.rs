//! The crafted images of the decoder findings belong to the fuzz corpora: committed under
//! fuzz/seeds/{image_detection,header_agreement,metadata_strip}/crafted-*, so every fuzzing run starts
//! from them. This test keeps the committed files identical to what the generators in
//! tests/support/crafted.rs make (`PIER_WRITE_SEEDS=1 cargo test --test fuzz_seeds`
//! rewrites them), and checks each is still a case worth having: the inspector's verdict
//! on it is the one it was made for.

#[path = "support/crafted.rs"]
mod crafted;

use std::path::PathBuf;

use crafted::Jpeg;
use jpeg_encoder::SamplingFactor;
use pier::domain::{ImageInspector, image::ImageRejection};

/// What the inspector (default limits) must say of a seed.
enum Verdict {
    Accepted,
    Refused(fn(&ImageRejection) -> bool),
}

fn seeds() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use Verdict::*;
    let small = crafted::jpeg(48, 40, Jpeg::Colour(SamplingFactor::R_4_4_4), true);
    let mut restarts = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut restarts, 80);
    encoder.set_restart_interval(2);
    encoder
        .encode(&[90u8; 32 * 24 * 3], 32, 24, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    vec![
        (
            "crafted-fill-byte-differential.jpg",
            crafted::fill_byte_differential(),
            Refused(|r| matches!(r, ImageRejection::TooManyPixels { width: 16_000, .. })),
        ),
        ("crafted-progressive-444.jpg", small.clone(), Accepted),
        (
            "crafted-progressive-grey.jpg",
            crafted::jpeg(40, 24, Jpeg::Grey, true),
            Accepted,
        ),
        (
            "crafted-progressive-claiming-7071.jpg",
            crafted::claiming(&small, 7071, 7071),
            Refused(|r| matches!(r, ImageRejection::TooExpensive { .. })),
        ),
        (
            "crafted-150-scans.jpg",
            crafted::with_scans(&small, 150),
            Refused(|r| matches!(r, ImageRejection::OverLimit(_))),
        ),
        ("crafted-restart-markers.jpg", restarts, Accepted),
        (
            "crafted-phone-metadata.jpg",
            pier::test_support::phone_jpeg(40, 24, 6),
            Accepted,
        ),
        (
            "crafted-16-bit-rgba.png",
            crafted::png_rgba16(64, 48),
            Accepted,
        ),
        (
            "crafted-apng-frame-outside.png",
            crafted::png_with(&[
                (b"IHDR", crafted::ihdr(4, 4, 8, 2)),
                (b"acTL", vec![0, 0, 0, 2, 0, 0, 0, 0]),
                (b"fcTL", crafted::fctl(4, 4, 0, 0)),
                (
                    b"IDAT",
                    vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
                ),
                (b"fcTL", crafted::fctl(65_535, 65_535, 0, 0)),
                (b"IEND", vec![]),
            ]),
            Refused(|r| matches!(r, ImageRejection::Malformed(_))),
        ),
        (
            "crafted-gif-frame-outside.gif",
            crafted::gif_with((1, 1), &[(0, 0, 65_535, 65_535)]),
            Refused(|r| matches!(r, ImageRejection::Malformed(_))),
        ),
        (
            "crafted-gif-two-frames.gif",
            crafted::gif_with((10, 10), &[(0, 0, 10, 10), (2, 2, 8, 8)]),
            Accepted,
        ),
        (
            "crafted-webp-lossless.webp",
            crafted::webp_lossless(24, 16),
            Accepted,
        ),
        (
            "crafted-webp-canvas-mismatch.webp",
            {
                let lossless = crafted::webp_lossless(24, 16);
                let mut extended = b"RIFF\0\0\0\0WEBP".to_vec();
                extended.extend_from_slice(b"VP8X");
                extended.extend_from_slice(&10u32.to_le_bytes());
                extended.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                extended.extend_from_slice(&lossless[12..]);
                let size = (extended.len() - 8) as u32;
                extended[4..8].copy_from_slice(&size.to_le_bytes());
                extended
            },
            Refused(|r| matches!(r, ImageRejection::Malformed(_))),
        ),
    ]
}

#[test]
fn the_crafted_seeds_are_committed_and_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let write = std::env::var_os("PIER_WRITE_SEEDS").is_some();
    for (name, bytes, verdict) in seeds() {
        assert!(bytes.len() <= 65_536, "{name}: over the fuzzers' -max_len");
        let mut inspector = ImageInspector::new(50_000_000, 256 << 20);
        let result = inspector.feed(&bytes).and_then(|()| inspector.finish());
        match (&verdict, &result) {
            (Verdict::Accepted, Ok(_)) => {}
            (Verdict::Refused(expected), Err(rejection)) if expected(rejection) => {}
            _ => panic!("{name}: the inspector's verdict changed: {result:?}"),
        }
        for target in ["image_detection", "header_agreement", "metadata_strip"] {
            let path = root.join(target).join(name);
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
                continue;
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{} is missing ({e}): run PIER_WRITE_SEEDS=1 cargo test --test fuzz_seeds",
                    path.display()
                )
            });
            assert!(
                committed == bytes,
                "{} differs from its generator: run PIER_WRITE_SEEDS=1 cargo test --test fuzz_seeds",
                path.display()
            );
        }
    }
}
