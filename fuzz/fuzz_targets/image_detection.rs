//! Image type and dimension detection on arbitrary bytes, fed in arbitrary chunks, and
//! the thumbnail decoder on whatever the inspector accepts (what production does).
//!
//! Properties: no panic; the verdict (which problem, or the layout) does not depend on
//! how the stream was chunked; an accepted image has the sniffed kind, its whole size
//! and at most the pixel limit; the decoder never panics or runs away on an accepted
//! file, within the decode budget the inspector checked.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pier::{
    domain::{ImageInspector, ImageKind},
    services::gallery::thumbnails::DecodeLimits,
};

/// Small, so decoding an accepted image stays fast enough to fuzz.
const MAX_PIXELS: u64 = 1 << 20;
/// The decode budget the inspector holds an image to (small too, for the same reason).
const DECODE_MEMORY: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&split, file)) = data.split_first() else {
        return;
    };
    let whole = inspect(file, file.len().max(1));
    let chunked = inspect(file, usize::from(split % 64) + 1);
    assert_eq!(whole, chunked, "the verdict depends on the chunking");
    if let Ok(image) = whole {
        assert_eq!(Some(image.kind), ImageKind::sniff(file));
        assert_eq!(image.size, file.len() as u64);
        let pixels = u64::from(image.dimensions.width) * u64::from(image.dimensions.height);
        assert!((1..=MAX_PIXELS).contains(&pixels));
        // Ok or a client error: a hostile image must not panic or exhaust memory.
        let limits = DecodeLimits {
            max_pixels: MAX_PIXELS,
            memory: DECODE_MEMORY,
            timeout: Duration::from_secs(5),
        };
        let _ = pier::services::gallery::thumbnails::render(file, &limits);
    }
});

fn inspect(
    file: &[u8],
    chunk: usize,
) -> Result<pier::domain::image::InspectedImage, pier::domain::image::ImageRejection> {
    let mut inspector = ImageInspector::new(MAX_PIXELS, DECODE_MEMORY);
    for piece in file.chunks(chunk) {
        inspector.feed(piece)?;
    }
    inspector.finish()
}
