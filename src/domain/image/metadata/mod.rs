//! What an upload says about its owner, removed before it is stored: GPS position,
//! camera serial numbers, maker notes, XMP, comments, embedded thumbnails and every
//! block pier does not know, by the policy in [`MetadataPolicy`].
//!
//! The removal is segment and chunk surgery on the stream as it arrives — never a
//! re-encode, never the whole file in memory: each format's filter frames the bytes
//! (JPEG segments, PNG chunks, GIF blocks, RIFF chunks), copies what is kept as slices
//! of the incoming chunks, drops what is not, and rewrites the one block it edits (the
//! EXIF directory, at most 64 KiB) keeping only orientation and, by policy, copyright and
//! artist. The filters only frame; the strict [`super::ImageInspector`] then walks what
//! they produce, so what is stored is what was checked, and its SHA-256 is of the served
//! bytes. Bytes a filter cannot frame end its output there and refuse the upload (each
//! such file is one the inspector refuses too), so no input is accepted because a
//! filter gave up, and stripping the output again changes nothing.
//!
//! WebP is the exception to "removed": its RIFF header states the file's length before
//! the chunks that follow, so a streaming filter cannot shorten the file. Removed WebP
//! chunks are overwritten in place by a zero-filled `JUNK` chunk of the same length
//! (RIFF's padding chunk, skipped by every reader), and the EXIF chunk keeps its length
//! with the rewritten directory zero-padded: nothing private remains, the file is not
//! smaller.

mod exif;
mod gif;
mod jpeg;
mod png;
mod webp;

use bytes::{Bytes, BytesMut};

use super::{Dimensions, ImageKind, ImageRejection};

/// What of an image's metadata is kept when it is stored (`PIER_IMAGE_METADATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MetadataPolicy {
    /// Removes GPS, serial numbers, maker notes, XMP, comments, embedded thumbnails and
    /// unknown blocks; keeps orientation, the ICC colour profile, copyright and artist.
    #[default]
    StripPrivate,
    /// Keeps only what displaying the image needs: orientation and the colour profile.
    StripAll,
    /// Stores the bytes as uploaded.
    Keep,
}

/// What a block of metadata is, for the policy to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Needed to display the pixels right (colour profile, JFIF, Adobe's colour
    /// transform, transparency, animation control): always kept.
    Display,
    /// Who made it (copyright, author): kept unless `strip-all`.
    Credit,
    /// Everything else: kept only by `keep`.
    Private,
}

impl MetadataPolicy {
    fn keeps(self, block: Block) -> bool {
        match block {
            Block::Display => true,
            Block::Credit => self != Self::StripAll,
            Block::Private => self == Self::Keep,
        }
    }
}

/// EXIF orientation: how the stored pixels are turned to be seen upright (1 = as
/// stored, 2–8 the TIFF mirrorings and rotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation(u8);

impl Default for Orientation {
    fn default() -> Self {
        Self::UPRIGHT
    }
}

impl Orientation {
    /// The pixels are stored upright.
    pub const UPRIGHT: Self = Self(1);

    /// The orientation of an EXIF `Orientation` value; `None` outside 1..=8.
    pub fn from_exif(value: u32) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|v| (1..=8).contains(v))
            .map(Self)
    }

    /// The EXIF value, 1..=8.
    pub fn exif_value(self) -> u8 {
        self.0
    }

    /// Values 5–8 turn the image a quarter: width and height trade places.
    pub fn swaps_sides(self) -> bool {
        self.0 >= 5
    }

    /// The size the image is seen at.
    pub fn displayed(self, stored: Dimensions) -> Dimensions {
        if self.swaps_sides() {
            Dimensions {
                width: stored.height,
                height: stored.width,
            }
        } else {
            stored
        }
    }

    /// Turns `pixels` as stored into pixels as seen. RGB only, on purpose: the image
    /// crate's own `apply_orientation` is generic over every pixel type, and its eight
    /// transforms for each of them put the container image over its size budget.
    pub fn upright(self, pixels: image::RgbImage) -> image::RgbImage {
        use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
        match self.0 {
            2 => flip_horizontal(&pixels),
            3 => rotate180(&pixels),
            4 => flip_vertical(&pixels),
            5 => flip_horizontal(&rotate90(&pixels)),
            6 => rotate90(&pixels),
            7 => flip_horizontal(&rotate270(&pixels)),
            8 => rotate270(&pixels),
            _ => pixels,
        }
    }
}

/// The bytes a filter lets through, in order: slices of the incoming chunks where they
/// pass unchanged, small owned pieces where a block was rewritten. Small slices are
/// gathered into one piece so a stream of tiny blocks does not become tiny writes.
#[derive(Debug, Default)]
pub struct Output {
    pieces: Vec<Bytes>,
    pending: BytesMut,
}

impl Output {
    /// Below this a passed slice is copied into the pending piece.
    const GATHER: usize = 512;

    fn pass(&mut self, bytes: Bytes) {
        if bytes.len() < Self::GATHER {
            self.pending.extend_from_slice(&bytes);
        } else {
            self.flush();
            self.pieces.push(bytes);
        }
    }

    fn owned(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    fn zeros(&mut self, count: usize) {
        self.pending.resize(self.pending.len() + count, 0);
        if self.pending.len() >= 1 << 16 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.pieces.push(self.pending.split().freeze());
        }
    }

    /// Everything produced so far, in order.
    pub fn take(&mut self) -> Vec<Bytes> {
        self.flush();
        std::mem::take(&mut self.pieces)
    }
}

/// What a filter does with the bytes that come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Hand over exactly this many bytes at once (at most [`MAX_FIELD`]); the filter
    /// writes what it keeps of them.
    Read(usize),
    /// Let this many bytes through unchanged.
    Copy(u64),
    /// Leave this many bytes out.
    Drop(u64),
    /// Replace this many bytes with zeros (WebP's same-length removal).
    Blank(u64),
    /// Whatever arrives, chunk by chunk; the filter writes what it keeps and says how
    /// much it used (JPEG's entropy-coded data, GIF's sub-blocks).
    Scan,
    /// Everything up to the end: passed through (`true`: a trailer `keep` keeps, or a
    /// file of no accepted kind, for the inspector to refuse) or dropped.
    Rest(bool),
    /// The bytes cannot be framed: nothing more is written, and the upload is refused
    /// for this reason (every such file is one the strict inspector refuses too). The
    /// output stops where the bytes stopped making sense, so stripping it again gives
    /// the same bytes.
    Fail(&'static str),
}

/// Most bytes one [`Step::Read`] may ask for: a JPEG segment, a PNG `eXIf` chunk.
const MAX_FIELD: usize = 1 << 16;

/// A format's structure as a stream editor.
trait Filter {
    /// The bytes of the last [`Step::Read`]; `end` is the input offset just after them.
    fn on_field(&mut self, field: &[u8], end: u64, out: &mut Output) -> Step;
    /// The last [`Step::Copy`], [`Step::Drop`] or [`Step::Blank`] is done.
    fn on_done(&mut self, end: u64, out: &mut Output) -> Step;
    /// Input while in [`Step::Scan`], starting at input offset `start`.
    fn on_scan(&mut self, bytes: &Bytes, start: u64, out: &mut Output) -> (usize, Step) {
        let _ = (bytes, start, out);
        (0, Step::Fail("data where none was expected"))
    }
    /// The orientation its EXIF gave, if any.
    fn orientation(&self) -> Option<Orientation>;
}

/// Feeds a filter from a stream of chunks, as it asks.
#[derive(Debug)]
struct Driver {
    step: Step,
    field: Vec<u8>,
    offset: u64,
}

impl Driver {
    fn feed(&mut self, filter: &mut impl Filter, mut chunk: Bytes, out: &mut Output) {
        while !chunk.is_empty() {
            match self.step {
                Step::Read(n) => {
                    debug_assert!(n <= MAX_FIELD);
                    if self.field.is_empty() && chunk.len() >= n {
                        let field = chunk.split_to(n);
                        self.offset += n as u64;
                        self.step = filter.on_field(&field, self.offset, out);
                    } else {
                        let take = (n - self.field.len()).min(chunk.len());
                        self.field.extend_from_slice(&chunk.split_to(take));
                        self.offset += take as u64;
                        if self.field.len() == n {
                            let field = std::mem::take(&mut self.field);
                            self.step = filter.on_field(&field, self.offset, out);
                        }
                    }
                }
                Step::Copy(n) | Step::Drop(n) | Step::Blank(n) => {
                    let take = n.min(chunk.len() as u64);
                    let taken = chunk.split_to(take as usize);
                    self.offset += take;
                    match self.step {
                        Step::Copy(_) => out.pass(taken),
                        Step::Blank(_) => out.zeros(taken.len()),
                        _ => {}
                    }
                    self.step = if take == n {
                        filter.on_done(self.offset, out)
                    } else {
                        match self.step {
                            Step::Copy(_) => Step::Copy(n - take),
                            Step::Blank(_) => Step::Blank(n - take),
                            _ => Step::Drop(n - take),
                        }
                    };
                }
                Step::Scan => {
                    let (used, next) = filter.on_scan(&chunk, self.offset, out);
                    let used = used.min(chunk.len());
                    let _ = chunk.split_to(used);
                    self.offset += used as u64;
                    self.step = next;
                }
                Step::Fail(_) => {
                    self.offset += chunk.len() as u64;
                    chunk.clear();
                }
                Step::Rest(keep) => {
                    self.offset += chunk.len() as u64;
                    if keep {
                        out.pass(std::mem::take(&mut chunk));
                    }
                    chunk.clear();
                }
            }
            // A zero-length request is answered at once.
            loop {
                self.step = match self.step {
                    Step::Read(0) => filter.on_field(&[], self.offset, out),
                    Step::Copy(0) | Step::Drop(0) | Step::Blank(0) => {
                        filter.on_done(self.offset, out)
                    }
                    _ => break,
                };
            }
        }
    }

    /// The stream ended: a field cut short is left out. Its block's head may have been
    /// held back already, so writing the rest would be a fragment that reads as
    /// something else; without it the output ends before the format's end marker, and
    /// the inspector refuses it as truncated, as it would have the input.
    fn finish(&mut self) {
        self.field.clear();
    }
}

#[derive(Debug)]
enum FormatFilter {
    Jpeg(jpeg::JpegFilter),
    Png(png::PngFilter),
    Gif(gif::GifFilter),
    Webp(webp::WebpFilter),
    /// Not an accepted kind: passed through for the inspector to refuse.
    Opaque,
}

/// Applies a [`MetadataPolicy`] to an upload as it streams; see the module
/// documentation. Also reads the EXIF orientation on the way (under every policy).
#[derive(Debug)]
pub struct MetadataStripper {
    policy: MetadataPolicy,
    sniffed: BytesMut,
    filter: Option<(FormatFilter, Driver)>,
}

impl MetadataStripper {
    /// A stripper applying `policy`.
    pub fn new(policy: MetadataPolicy) -> Self {
        Self {
            policy,
            sniffed: BytesMut::new(),
            filter: None,
        }
    }

    /// Feeds the next chunk; what is kept of it (and of earlier chunks) is in `out`.
    pub fn feed(&mut self, chunk: Bytes, out: &mut Output) {
        if self.filter.is_none() {
            let room = ImageKind::SNIFF_LEN - self.sniffed.len();
            let mut chunk = chunk;
            let head = chunk.split_to(room.min(chunk.len()));
            self.sniffed.extend_from_slice(&head);
            if self.sniffed.len() < ImageKind::SNIFF_LEN {
                return;
            }
            self.start();
            let sniffed = self.sniffed.split().freeze();
            self.run(sniffed, out);
            self.run(chunk, out);
            return;
        }
        self.run(chunk, out);
    }

    /// Ends the stream; the last kept bytes are in `out`.
    pub fn finish(&mut self, out: &mut Output) {
        if self.filter.is_none() {
            self.start();
            let sniffed = self.sniffed.split().freeze();
            self.run(sniffed, out);
        }
        if let Some((_, driver)) = self.filter.as_mut() {
            driver.finish();
        }
    }

    /// Why the bytes could not be framed, if they could not: the upload is refused.
    pub fn failure(&self) -> Option<ImageRejection> {
        let (filter, driver) = self.filter.as_ref()?;
        let Step::Fail(reason) = driver.step else {
            return None;
        };
        let kind = match filter {
            FormatFilter::Jpeg(_) => "JPEG",
            FormatFilter::Png(_) => "PNG",
            FormatFilter::Gif(_) => "GIF",
            FormatFilter::Webp(_) => "WebP",
            FormatFilter::Opaque => "image",
        };
        Some(ImageRejection::Malformed(format!(
            "the {kind} structure is invalid: {reason}"
        )))
    }

    /// The orientation the image's EXIF gave (upright when it has none).
    pub fn orientation(&self) -> Orientation {
        let found = match &self.filter {
            Some((FormatFilter::Jpeg(f), _)) => f.orientation(),
            Some((FormatFilter::Png(f), _)) => f.orientation(),
            Some((FormatFilter::Gif(f), _)) => f.orientation(),
            Some((FormatFilter::Webp(f), _)) => f.orientation(),
            _ => None,
        };
        found.unwrap_or_default()
    }

    fn start(&mut self) {
        let policy = self.policy;
        let (filter, first) = match ImageKind::sniff(&self.sniffed) {
            Some(ImageKind::Jpeg) => (
                FormatFilter::Jpeg(jpeg::JpegFilter::new(policy)),
                Step::Read(2),
            ),
            Some(ImageKind::Png) => (
                FormatFilter::Png(png::PngFilter::new(policy)),
                Step::Read(8),
            ),
            Some(ImageKind::Gif) => (
                FormatFilter::Gif(gif::GifFilter::new(policy)),
                Step::Read(13),
            ),
            Some(ImageKind::Webp) => (
                FormatFilter::Webp(webp::WebpFilter::new(policy)),
                Step::Read(12),
            ),
            None => (FormatFilter::Opaque, Step::Rest(true)),
        };
        let driver = Driver {
            step: first,
            field: Vec::new(),
            offset: 0,
        };
        self.filter = Some((filter, driver));
    }

    fn run(&mut self, chunk: Bytes, out: &mut Output) {
        let Some((filter, driver)) = self.filter.as_mut() else {
            return;
        };
        match filter {
            FormatFilter::Jpeg(f) => driver.feed(f, chunk, out),
            FormatFilter::Png(f) => driver.feed(f, chunk, out),
            FormatFilter::Gif(f) => driver.feed(f, chunk, out),
            FormatFilter::Webp(f) => driver.feed(f, chunk, out),
            FormatFilter::Opaque => out.pass(chunk),
        }
    }
}

/// Applies `policy` to a whole file in memory: for the tests, the fuzz targets and
/// re-processing stored images. Returns the kept bytes and the orientation.
pub fn strip(bytes: &[u8], policy: MetadataPolicy) -> (Vec<u8>, Orientation) {
    let mut stripper = MetadataStripper::new(policy);
    let mut out = Output::default();
    stripper.feed(Bytes::copy_from_slice(bytes), &mut out);
    stripper.finish(&mut out);
    let kept = out.take().concat();
    (kept, stripper.orientation())
}

/// Applies `policy` to a stored file (`pier images reprocess`); refused, as an upload
/// of those bytes would be, when they cannot be framed (the output would be cut short).
pub fn strip_stored(bytes: Bytes, policy: MetadataPolicy) -> Result<Bytes, ImageRejection> {
    let mut stripper = MetadataStripper::new(policy);
    let mut out = Output::default();
    stripper.feed(bytes, &mut out);
    stripper.finish(&mut out);
    match stripper.failure() {
        Some(rejection) => Err(rejection),
        None => Ok(Bytes::from(out.take().concat())),
    }
}

/// The EXIF orientation of a whole stored file (upright when it has none), read by the
/// same framing as uploads, so a thumbnail is turned as the upload's size was reported.
pub fn orientation_of(bytes: Bytes) -> Orientation {
    let mut reader = MetadataStripper::new(MetadataPolicy::Keep);
    let mut out = Output::default();
    reader.feed(bytes, &mut out);
    reader.finish(&mut out);
    reader.orientation()
}

#[cfg(test)]
mod tests;
