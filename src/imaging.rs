//! Thumbnails: decoded and resized off the async threads, with decoder limits so a
//! hostile image cannot exhaust memory, and a small pool so at most a few decode at once.

use std::{io::Cursor, sync::Arc};

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 256;

/// Makes thumbnails, at most `permits` at a time.
#[derive(Clone)]
pub struct Thumbnailer {
    permits: Arc<Semaphore>,
    max_pixels: u64,
}

impl Thumbnailer {
    /// A thumbnailer refusing images over `max_pixels`, decoding `concurrency` at once.
    pub fn new(max_pixels: u64, concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            max_pixels,
        }
    }

    /// Decodes `original` and returns a JPEG no larger than 256 px on its longest side.
    pub async fn make(&self, original: Bytes) -> Result<Bytes, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let max_pixels = self.max_pixels;
        tokio::task::spawn_blocking(move || render(&original, max_pixels))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
    }
}

/// Decodes and shrinks `original` on the calling thread: what [`Thumbnailer::make`] runs
/// off the async threads, public so the fuzz target can feed it hostile images directly.
pub fn render(original: &[u8], max_pixels: u64) -> Result<Bytes, ApiError> {
    let corrupt = |e: image::ImageError| {
        ApiError::field(
            "file",
            format!("the stored image cannot be decoded for a thumbnail: {e}"),
        )
    };
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(u32::try_from(max_pixels).unwrap_or(u32::MAX));
    limits.max_image_height = Some(u32::try_from(max_pixels).unwrap_or(u32::MAX));
    // RGBA at the pixel limit, plus room for the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let decoded = reader.decode().map_err(corrupt)?;
    let small = decoded
        .thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
        .to_rgb8();
    let mut out = Vec::with_capacity(16 * 1024);
    small
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 80))
        .map_err(|e| ApiError::Internal(e.into()))?;
    debug_assert!(image::guess_format(&out).ok() == Some(ImageFormat::Jpeg));
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{Format, encode};

    #[tokio::test]
    async fn thumbnails_fit_in_256_pixels_and_keep_the_aspect() {
        let thumbnailer = Thumbnailer::new(50_000_000, 1);
        for format in [Format::Png, Format::Jpeg, Format::Gif, Format::Webp] {
            let jpeg = thumbnailer
                .make(Bytes::from(encode(format, 600, 300)))
                .await
                .unwrap();
            let thumb = image::load_from_memory(&jpeg).unwrap();
            assert_eq!((thumb.width(), thumb.height()), (256, 128), "{format:?}");
        }
    }

    #[tokio::test]
    async fn corrupt_images_are_a_client_error_not_a_panic() {
        let thumbnailer = Thumbnailer::new(50_000_000, 1);
        let mut png = encode(Format::Png, 60, 60);
        let middle = png.len() / 2;
        png[middle..middle + 20].fill(0xAB);
        assert!(matches!(
            thumbnailer.make(Bytes::from(png)).await,
            Err(ApiError::Validation { .. })
        ));
    }
}
