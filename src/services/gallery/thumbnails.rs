//! Thumbnails, decoded within a stated budget.
//!
//! Every decode is planned before anything is allocated: the stored bytes are walked
//! again by the same strict format walkers the upload used (so the pixel and frame
//! limits hold inside the decoder too, whatever was stored), the decoder's own header
//! reading must agree with them, and the decode's peak memory — decoded pixels plus the
//! decoder's working buffers, see [`crate::domain::image::cost`] — must fit in
//! `PIER_DECODE_MEMORY`. Decodes run off the async threads and take that many bytes
//! from one shared budget, so the decodes in flight together never exceed it either:
//! concurrency is bounded by memory (and by cores, for the CPU). A decode that reads its
//! input past `PIER_DECODE_TIMEOUT` stops (its reader reports the end of the data).
//!
//! A thumbnail is made once: concurrent first requests for the same image share one
//! decode ([`Thumbnailer::single_flight`]), and a failure is remembered with the image
//! by the caller, so a file that cannot be decoded costs one decode, not one per request.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{FutureExt, future::Shared};
use image::{DynamicImage, ImageBuffer, ImageDecoder, codecs::jpeg::JpegEncoder};
use tokio::sync::Semaphore;

use crate::{
    domain::{
        ImageId, ImageInspector,
        image::{
            Dimensions, Layout, Orientation, VariantSize, deadline::DeadlineReader,
            jpeg::MAX_SCANS, metadata,
        },
    },
    store::StoreError,
};

/// The limits every decode is held to.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Most pixels (width × height) of an image (`PIER_MAX_IMAGE_PIXELS`).
    pub max_pixels: u64,
    /// Most bytes one decode, and all decodes together, may use (`PIER_DECODE_MEMORY`).
    pub memory: u64,
    /// Longest a decode may read its input (`PIER_DECODE_TIMEOUT`).
    pub timeout: Duration,
}

/// Why no thumbnail could be made. Cloned to every request that shared the decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbnailError {
    /// The stored image cannot be decoded within the limits: a client error about the
    /// image, remembered so that it is not paid again.
    #[error("{0}")]
    Undecodable(String),
    /// A backend needed to read or keep it is unavailable: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// Something on our side; logged.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ThumbnailError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(format!("{other:#}")),
        }
    }
}

type Flight = Shared<futures::future::BoxFuture<'static, Result<Bytes, ThumbnailError>>>;

/// Makes thumbnails within the decode budget, one decode per image at a time.
#[derive(Clone)]
pub struct Thumbnailer {
    limits: DecodeLimits,
    /// The memory budget in KiB permits, shared by every decode in flight.
    memory: Arc<Semaphore>,
    /// One permit per core: decoding is CPU-bound.
    cpu: Arc<Semaphore>,
    flights: Arc<Mutex<HashMap<(ImageId, VariantSize), Flight>>>,
    /// Recent failures, so a failed image is not even read again; the caller also
    /// keeps each failure with the image, which outlives this process.
    failures: Arc<quick_cache::sync::Cache<ImageId, String>>,
    decodes: Arc<AtomicU64>,
}

impl Thumbnailer {
    /// A thumbnailer held to `limits`, decoding on at most `cores` threads at once.
    pub fn new(limits: DecodeLimits, cores: usize) -> Self {
        Self {
            limits,
            memory: Arc::new(Semaphore::new(kib(limits.memory) as usize)),
            cpu: Arc::new(Semaphore::new(cores.max(1))),
            flights: Arc::default(),
            failures: Arc::new(quick_cache::sync::Cache::new(10_000)),
            decodes: Arc::default(),
        }
    }

    /// The limits decodes are held to.
    pub fn limits(&self) -> DecodeLimits {
        self.limits
    }

    /// Decodes started since this thumbnailer was made (tests prove "paid once" with it).
    pub fn decodes(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Why `id`'s thumbnail could not be made, if this process tried recently.
    pub fn remembered_failure(&self, id: ImageId) -> Option<String> {
        self.failures.get(&id)
    }

    /// Remembers that `id`'s thumbnail cannot be made.
    pub fn remember_failure(&self, id: ImageId, reason: String) {
        self.failures.insert(id, reason);
    }

    /// Decodes `original` and returns a JPEG no larger than `size` on its longest side
    /// (nor than the original), waiting for its share of the memory budget first.
    pub async fn make(&self, original: Bytes, size: VariantSize) -> Result<Bytes, ThumbnailError> {
        let limits = self.limits;
        let planned = original.clone();
        let (layout, orientation) = tokio::task::spawn_blocking(move || plan(planned, &limits))
            .await
            .map_err(|e| ThumbnailError::Internal(e.to_string()))??;
        let needed = layout.decode_bytes().saturating_add(original.len() as u64);
        let permits = u32::try_from(kib(needed).min(kib(limits.memory))).unwrap_or(u32::MAX);
        let _memory = self
            .memory
            .acquire_many(permits)
            .await
            .map_err(|e| ThumbnailError::Internal(e.to_string()))?;
        let _cpu = self
            .cpu
            .acquire()
            .await
            .map_err(|e| ThumbnailError::Internal(e.to_string()))?;
        self.decodes.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            render_planned(&original, &layout, orientation, size, &limits)
        })
        .await
        .map_err(|e| ThumbnailError::Internal(e.to_string()))?
    }

    /// Runs `make` once for `id`'s `size` however many requests ask at the same time: the first
    /// starts it (as a task of its own, so it completes even if that request goes
    /// away), the others wait for the same result.
    pub async fn single_flight<F>(
        &self,
        id: ImageId,
        size: VariantSize,
        make: F,
    ) -> Result<Bytes, ThumbnailError>
    where
        F: Future<Output = Result<Bytes, ThumbnailError>> + Send + 'static,
    {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            let key = (id, size);
            match flights.get(&key) {
                Some(flight) => flight.clone(),
                None => {
                    let registry = self.flights.clone();
                    let task = tokio::spawn(async move {
                        let result = make.await;
                        registry
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&key);
                        result
                    });
                    let flight = async move {
                        task.await
                            .unwrap_or_else(|e| Err(ThumbnailError::Internal(e.to_string())))
                    }
                    .boxed()
                    .shared();
                    flights.insert(key, flight.clone());
                    flight
                }
            }
        };
        flight.await
    }
}

/// The budget in KiB (the semaphore's unit), rounded up.
fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// Walks the stored bytes as an upload would: the pixel, frame and scan limits and the
/// decode budget hold here too, whatever was stored (an older pier, another writer).
/// Also reads the EXIF orientation the thumbnail is turned by.
fn plan(original: Bytes, limits: &DecodeLimits) -> Result<(Layout, Orientation), ThumbnailError> {
    let mut inspector = ImageInspector::new(limits.max_pixels, limits.memory);
    let layout = inspector
        .feed(&original)
        .and_then(|()| inspector.finish())
        .map(|inspected| inspected.layout)
        .map_err(|rejection| ThumbnailError::Undecodable(rejection.to_string()))?;
    Ok((layout, metadata::orientation_of(original)))
}

/// Plans and decodes `original` on the calling thread and returns its thumbnail: what
/// [`Thumbnailer::make`] runs off the async threads, public so the fuzz targets can feed
/// it hostile images directly.
pub fn render(original: &[u8], limits: &DecodeLimits) -> Result<Bytes, ThumbnailError> {
    let (layout, orientation) = plan(Bytes::copy_from_slice(original), limits)?;
    render_planned(
        original,
        &layout,
        orientation,
        VariantSize::THUMBNAIL,
        limits,
    )
}

fn render_planned(
    original: &[u8],
    layout: &Layout,
    orientation: Orientation,
    size: VariantSize,
    limits: &DecodeLimits,
) -> Result<Bytes, ThumbnailError> {
    let deadline = Instant::now() + limits.timeout;
    let reader = DeadlineReader::new(original, deadline);
    let decoded = decode(reader.clone(), layout, limits.memory);
    if reader.expired() {
        return Err(ThumbnailError::Undecodable(format!(
            "decoding took longer than {} s",
            limits.timeout.as_secs_f32()
        )));
    }
    let decoded = decoded.map_err(ThumbnailError::Undecodable)?;
    let expected = layout.dimensions();
    if (decoded.width(), decoded.height()) != (expected.width, expected.height) {
        return Err(ThumbnailError::Undecodable(
            "the decoder read other dimensions than the header's".into(),
        ));
    }
    let side = size.long_side();
    let small = if decoded.width().max(decoded.height()) > side {
        decoded.thumbnail(side, side)
    } else {
        // Never larger than the original.
        decoded
    };
    // Turned after scaling: the same result, on 256 px instead of the whole image.
    let small = orientation.upright(small.to_rgb8());
    let mut out = Vec::with_capacity(16 * 1024);
    small
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 80))
        .map_err(|e| ThumbnailError::Internal(e.to_string()))?;
    Ok(Bytes::from(out))
}

/// Decodes the first frame to 8-bit samples with the decoder for its kind, each told the
/// limits it understands.
fn decode(
    reader: DeadlineReader<'_>,
    layout: &Layout,
    memory: u64,
) -> Result<DynamicImage, String> {
    let expected = layout.dimensions();
    match layout {
        Layout::Jpeg(jpeg) => decode_jpeg(reader, expected, jpeg.frame.components == 1),
        Layout::Png(_) => decode_png(reader, expected, memory),
        Layout::Gif(_) | Layout::Webp(_) => {
            let mut limits = image::Limits::default();
            limits.max_image_width = Some(expected.width);
            limits.max_image_height = Some(expected.height);
            limits.max_alloc = Some(memory);
            let image = match layout {
                Layout::Gif(_) => {
                    let mut decoder =
                        image::codecs::gif::GifDecoder::new(reader).map_err(|e| e.to_string())?;
                    decoder.set_limits(limits).map_err(|e| e.to_string())?;
                    DynamicImage::from_decoder(decoder)
                }
                _ => {
                    let mut decoder =
                        image::codecs::webp::WebPDecoder::new(reader).map_err(|e| e.to_string())?;
                    decoder.set_limits(limits).map_err(|e| e.to_string())?;
                    DynamicImage::from_decoder(decoder)
                }
            };
            image.map_err(|e| e.to_string())
        }
    }
}

/// A JPEG pier encoded itself (a kept thumbnail), decoded to RGB by the same decoder
/// as uploads: for its placeholder.
pub(super) fn decode_own_jpeg(bytes: &[u8]) -> Option<image::RgbImage> {
    use zune_core::{colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let far = Instant::now() + std::time::Duration::from_secs(3600);
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(DeadlineReader::new(bytes, far), options);
    let pixels = decoder.decode().ok()?;
    let (width, height) = decoder.dimensions()?;
    ImageBuffer::from_raw(width as u32, height as u32, pixels)
}

/// zune-jpeg, told the scan limit and asked for grey or RGB output: one allocation of
/// the output, plus the coefficients of a progressive image.
fn decode_jpeg(
    reader: DeadlineReader<'_>,
    expected: Dimensions,
    grey: bool,
) -> Result<DynamicImage, String> {
    use zune_core::{colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(expected.width as usize)
        .set_max_height(expected.height as usize)
        .jpeg_set_max_scans(MAX_SCANS as usize)
        .jpeg_set_out_colorspace(if grey {
            ColorSpace::Luma
        } else {
            ColorSpace::RGB
        });
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(reader, options);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (width, height) = decoder
        .dimensions()
        .ok_or("the JPEG header has no dimensions")?;
    if (width as u32, height as u32) != (expected.width, expected.height) {
        return Err("the decoder read other dimensions than the header's".into());
    }
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (w, h) = (expected.width, expected.height);
    let image = if grey {
        ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    image.ok_or_else(|| "the decoder returned fewer pixels than the image has".into())
}

/// png, expanding palettes and transparency and stripping 16-bit samples to 8 while it
/// decodes: a 16-bit RGBA image costs 4 bytes per pixel, not 8.
fn decode_png(
    reader: DeadlineReader<'_>,
    expected: Dimensions,
    memory: u64,
) -> Result<DynamicImage, String> {
    use png::{ColorType, Transformations};
    let mut decoder = png::Decoder::new(reader);
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    decoder.set_limits(png::Limits {
        bytes: usize::try_from(memory).unwrap_or(usize::MAX),
    });
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let (width, height) = reader.info().size();
    if (width, height) != (expected.width, expected.height) {
        return Err("the decoder read other dimensions than the header's".into());
    }
    let size = reader
        .output_buffer_size()
        .ok_or("the image is too large for this machine")?;
    let mut pixels = vec![0u8; size];
    let frame = reader.next_frame(&mut pixels).map_err(|e| e.to_string())?;
    pixels.truncate(frame.buffer_size());
    let (w, h) = (frame.width, frame.height);
    let image = match frame.color_type {
        ColorType::Grayscale => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        ColorType::GrayscaleAlpha => {
            ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8)
        }
        ColorType::Rgb => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        ColorType::Rgba => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        ColorType::Indexed => None,
    };
    image.ok_or_else(|| "the decoder returned fewer pixels than the image has".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Format, encode};

    fn limits() -> DecodeLimits {
        DecodeLimits {
            max_pixels: 50_000_000,
            memory: 256 << 20,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn thumbnails_fit_in_256_pixels_and_keep_the_aspect() {
        let thumbnailer = Thumbnailer::new(limits(), 1);
        for format in [Format::Png, Format::Jpeg, Format::Gif, Format::Webp] {
            let jpeg = thumbnailer
                .make(
                    Bytes::from(encode(format, 600, 300)),
                    VariantSize::THUMBNAIL,
                )
                .await
                .unwrap();
            let thumb = image::load_from_memory(&jpeg).unwrap();
            assert_eq!((thumb.width(), thumb.height()), (256, 128), "{format:?}");
        }
    }

    #[tokio::test]
    async fn each_size_of_the_ladder_fits_its_side_and_none_is_larger_than_the_original() {
        let thumbnailer = Thumbnailer::new(limits(), 1);
        let original = Bytes::from(encode(Format::Png, 1500, 750));
        for (size, expected) in [
            (256, (256, 128)),
            (512, (512, 256)),
            (1024, (1024, 512)),
            (2048, (1500, 750)),
        ] {
            let size = VariantSize::parse(&size.to_string()).unwrap();
            let jpeg = thumbnailer.make(original.clone(), size).await.unwrap();
            let variant = image::load_from_memory(&jpeg).unwrap();
            assert_eq!((variant.width(), variant.height()), expected, "{size}");
        }
    }

    #[test]
    fn thumbnails_are_upright_in_all_eight_orientations() {
        let upright = crate::test_support::quadrants(64, 32);
        for orientation in 1..=8u16 {
            let stored = crate::test_support::oriented_jpeg(&upright, orientation);
            let thumb = render(&stored, &limits()).unwrap();
            let thumb = image::load_from_memory(&thumb).unwrap().to_rgb8();
            let (w, h) = thumb.dimensions();
            assert_eq!(
                w,
                2 * h,
                "orientation {orientation}: landscape as displayed"
            );
            let near = |x: u32, y: u32, want: [u8; 3]| {
                let got = thumb.get_pixel(x, y).0;
                got.iter().zip(want).all(|(g, w)| g.abs_diff(w) < 60)
            };
            assert!(
                near(w / 8, h / 8, [255, 0, 0]),
                "orientation {orientation}: top left"
            );
            assert!(
                near(w - w / 8, h / 8, [0, 255, 0]),
                "orientation {orientation}: top right"
            );
            assert!(
                near(w / 8, h - h / 8, [0, 0, 255]),
                "orientation {orientation}: bottom left"
            );
        }
    }

    #[tokio::test]
    async fn corrupt_images_are_a_client_error_not_a_panic() {
        let thumbnailer = Thumbnailer::new(limits(), 1);
        let mut png = encode(Format::Png, 60, 60);
        let middle = png.len() / 2;
        png[middle..middle + 20].fill(0xAB);
        assert!(matches!(
            thumbnailer
                .make(Bytes::from(png), VariantSize::THUMBNAIL)
                .await,
            Err(ThumbnailError::Undecodable(_))
        ));
    }

    #[test]
    fn a_decode_past_its_deadline_stops_and_says_so() {
        let png = encode(Format::Png, 300, 300);
        let expired = DecodeLimits {
            timeout: Duration::ZERO,
            ..limits()
        };
        // The clock is read every 4096 reads: a zero deadline stops at the first check.
        let jpeg = encode(Format::Jpeg, 2000, 1500);
        for bytes in [png, jpeg] {
            match render(&bytes, &expired) {
                Err(ThumbnailError::Undecodable(reason)) => {
                    assert!(reason.contains("longer than"), "{reason}")
                }
                other => panic!("expected a timeout, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_flight() {
        let thumbnailer = Thumbnailer::new(limits(), 2);
        let id = ImageId::generate();
        let started = Arc::new(AtomicU64::new(0));
        let mut waiters = Vec::new();
        for _ in 0..8 {
            let (thumbnailer, started) = (thumbnailer.clone(), started.clone());
            waiters.push(tokio::spawn(async move {
                thumbnailer
                    .single_flight(id, VariantSize::THUMBNAIL, async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(Bytes::from_static(b"thumb"))
                    })
                    .await
            }));
        }
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap().unwrap(), Bytes::from_static(b"thumb"));
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one flight for eight requests"
        );
        // Once it has landed, a later request starts a new one.
        let again = thumbnailer
            .single_flight(id, VariantSize::THUMBNAIL, async {
                Ok(Bytes::from_static(b"again"))
            })
            .await
            .unwrap();
        assert_eq!(again, Bytes::from_static(b"again"));
    }
}
