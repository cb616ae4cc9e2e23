//! The upload check against the decoders: for every file the strict walkers accept, the
//! decoder pier thumbnails with (zune-jpeg, png, gif and image-webp, through `image`)
//! must read the same width and height from the header — the property whose absence let
//! a 16000×16000 JPEG pass as 1×1. A decoder may still refuse the file (it is then an
//! undecodable image, remembered as such); it may not read another size.
#![no_main]

use std::io::Cursor;

use image::{
    ImageDecoder,
    codecs::{gif::GifDecoder, jpeg::JpegDecoder, png::PngDecoder, webp::WebPDecoder},
};
use libfuzzer_sys::fuzz_target;
use pier::domain::{ImageInspector, ImageKind};

fuzz_target!(|file: &[u8]| {
    let mut inspector = ImageInspector::new(u64::MAX, u64::MAX);
    let Ok(accepted) = inspector.feed(file).and_then(|()| inspector.finish()) else {
        return;
    };
    let ours = (accepted.dimensions.width, accepted.dimensions.height);
    let theirs = match accepted.kind {
        ImageKind::Jpeg => JpegDecoder::new(Cursor::new(file)).map(|d| d.dimensions()),
        ImageKind::Png => PngDecoder::new(Cursor::new(file)).map(|d| d.dimensions()),
        ImageKind::Gif => GifDecoder::new(Cursor::new(file)).map(|d| d.dimensions()),
        ImageKind::Webp => WebPDecoder::new(Cursor::new(file)).map(|d| d.dimensions()),
    };
    if let Ok(theirs) = theirs {
        assert_eq!(
            ours, theirs,
            "the upload check and the decoder read different sizes"
        );
    }
});
