//! Images as untrusted bytes: the kind decided by magic bytes, dimensions read from the
//! header before anything is decoded, truncation caught at the end of the stream, and
//! client file names reduced to a safe display name.

pub mod cost;
pub mod deadline;
pub mod gif;
pub mod jpeg;
pub mod metadata;
pub mod png;
pub mod variant;
mod walk;
pub mod webp;

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

pub use gif::GifLayout;
pub use jpeg::{JpegFrame, JpegLayout};
pub use metadata::{MetadataPolicy, MetadataStripper, Orientation};
pub use png::PngLayout;
pub use variant::VariantSize;
pub use webp::WebpLayout;

/// An image id: a UUIDv7, so ids sort by creation time and "newest first" is an index scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ImageId(Uuid);

impl ImageId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id as a UUID, for databases with a native UUID type.
    pub fn as_uuid(self) -> Uuid {
        self.0
    }

    /// An id read back from a database.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// Parses an id from a path or query; `None` for anything that is not a UUID.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 36 {
            return None;
        }
        Uuid::try_parse(raw).ok().map(Self)
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// The image formats pier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageKind {
    /// Bytes needed to tell every accepted kind apart.
    pub const SNIFF_LEN: usize = 12;

    /// Decides the kind from the first bytes; `None` when they are not an accepted image.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// The media type sent with the bytes.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }
}

/// Width and height in pixels, both at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// Why a stream of bytes is not an acceptable image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRejection {
    #[error("the file is empty")]
    Empty,
    #[error("not an image pier accepts: the bytes are not PNG, JPEG, GIF or WebP")]
    NotAnImage,
    #[error("the image header is corrupt or truncated: its dimensions cannot be read")]
    UnreadableHeader,
    #[error("the image is {width}×{height} pixels, more than the limit of {limit} pixels")]
    TooManyPixels { width: u64, height: u64, limit: u64 },
    #[error("the image is truncated: its data ends before the format's end marker")]
    Truncated,
    /// The structure breaks the format's rules, or could be read two ways.
    #[error("{0}")]
    Malformed(String),
    /// A valid variant of the format that pier's decoders cannot thumbnail.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// More scans or frames than pier decodes.
    #[error("{0}")]
    OverLimit(String),
    /// Decoding it would need more memory than one decode may use.
    #[error(
        "decoding the image would need {needed_mib} MiB, more than the limit of {budget_mib} MiB (PIER_DECODE_MEMORY)"
    )]
    TooExpensive { needed_mib: u64, budget_mib: u64 },
    /// The header is larger than [`ImageInspector::MAX_HEADER`].
    #[error("the image's header is larger than {0} bytes")]
    HeaderTooLarge(usize),
}

/// Most frames in an animated image (APNG, GIF, WebP). Thumbnails decode only the
/// first, but a frame count is a cost every other reader of the file pays.
pub const MAX_FRAMES: u32 = 10_000;

/// An image's structure as the decoder will see it: its size and what sizes the
/// decoder's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Jpeg(JpegLayout),
    Png(PngLayout),
    Gif(GifLayout),
    Webp(WebpLayout),
}

impl Layout {
    /// The kind of image.
    pub fn kind(&self) -> ImageKind {
        match self {
            Self::Jpeg(_) => ImageKind::Jpeg,
            Self::Png(_) => ImageKind::Png,
            Self::Gif(_) => ImageKind::Gif,
            Self::Webp(_) => ImageKind::Webp,
        }
    }

    /// Width and height.
    pub fn dimensions(&self) -> Dimensions {
        match self {
            Self::Jpeg(l) => l.frame.dimensions,
            Self::Png(l) => l.dimensions,
            Self::Gif(l) => l.dimensions,
            Self::Webp(l) => l.dimensions,
        }
    }

    /// Peak bytes pier's decoder allocates to decode this image's first frame to 8-bit
    /// samples, the encoded input excluded: the decoded pixels plus the decoder's own
    /// working buffers (a progressive JPEG keeps 2 bytes per coefficient of every
    /// component until its last scan). An upper bound, checked against the real peak
    /// by `tests/decode_memory.rs`; see [`cost`].
    pub fn decode_bytes(&self) -> u64 {
        cost::decode_bytes(self)
    }
}

/// Refuses dimensions over the pixel limit: called by each walker the moment it reads
/// them, so the refusal comes before anything after them is read.
fn check_pixels(dimensions: Dimensions, max_pixels: u64) -> Result<(), ImageRejection> {
    let (width, height) = (u64::from(dimensions.width), u64::from(dimensions.height));
    if width.saturating_mul(height) > max_pixels {
        return Err(ImageRejection::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    Ok(())
}

/// Inspects an upload chunk by chunk with a strict walker of its format, keeping only
/// the current field (and, for JPEG, the header up to the first scan, to have it read
/// again by the decoder): memory stays flat whatever the file size. Every check runs at
/// the point in the stream where its bytes are, so the verdict — which problem is
/// reported — never depends on how the stream was chunked.
#[derive(Debug)]
pub struct ImageInspector {
    max_pixels: u64,
    decode_budget: u64,
    sniffed: Vec<u8>,
    walker: Option<(FormatWalker, walk::Driver)>,
    size: u64,
}

#[derive(Debug)]
enum FormatWalker {
    Jpeg(jpeg::JpegWalker),
    Png(png::PngWalker),
    Gif(gif::GifWalker),
    Webp(webp::WebpWalker),
}

/// What the inspector found in a complete, acceptable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectedImage {
    pub kind: ImageKind,
    pub dimensions: Dimensions,
    pub size: u64,
    /// What sizes its decoding.
    pub layout: Layout,
}

impl ImageInspector {
    /// Most header bytes kept while looking for the dimensions (JPEG puts EXIF and ICC
    /// data before its frame header). A file whose header is larger is refused.
    pub const MAX_HEADER: usize = 1 << 20;

    /// An inspector refusing images over `max_pixels` (width × height) or whose decoding
    /// would need more than `decode_budget` bytes.
    pub fn new(max_pixels: u64, decode_budget: u64) -> Self {
        Self {
            max_pixels,
            decode_budget,
            sniffed: Vec::new(),
            walker: None,
            size: 0,
        }
    }

    /// Feeds the next chunk. Fails as early as the bytes allow, before more is read.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ImageRejection> {
        self.size += chunk.len() as u64;
        if self.walker.is_none() {
            let room = ImageKind::SNIFF_LEN - self.sniffed.len();
            let (head, rest) = chunk.split_at(room.min(chunk.len()));
            self.sniffed.extend_from_slice(head);
            if self.sniffed.len() < ImageKind::SNIFF_LEN {
                return Ok(());
            }
            let kind = ImageKind::sniff(&self.sniffed).ok_or(ImageRejection::NotAnImage)?;
            self.start(kind);
            let sniffed = std::mem::take(&mut self.sniffed);
            self.walk(&sniffed)?;
            return self.walk(rest);
        }
        self.walk(chunk)
    }

    fn start(&mut self, kind: ImageKind) {
        let max = self.max_pixels;
        let (walker, first) = match kind {
            ImageKind::Jpeg => {
                let (w, first) = jpeg::JpegWalker::new(max);
                (FormatWalker::Jpeg(w), first)
            }
            ImageKind::Png => {
                let (w, first) = png::PngWalker::new(max);
                (FormatWalker::Png(w), first)
            }
            ImageKind::Gif => {
                let (w, first) = gif::GifWalker::new(max);
                (FormatWalker::Gif(w), first)
            }
            ImageKind::Webp => {
                let (w, first) = webp::WebpWalker::new(max);
                (FormatWalker::Webp(w), first)
            }
        };
        self.walker = Some((walker, walk::Driver::new(first)));
    }

    fn walk(&mut self, chunk: &[u8]) -> Result<(), ImageRejection> {
        let Some((walker, driver)) = self.walker.as_mut() else {
            return Ok(());
        };
        match walker {
            FormatWalker::Jpeg(w) => driver.feed(w, chunk),
            FormatWalker::Png(w) => driver.feed(w, chunk),
            FormatWalker::Gif(w) => driver.feed(w, chunk),
            FormatWalker::Webp(w) => driver.feed(w, chunk),
        }
    }

    /// Ends the stream: the image is accepted only if it is complete, within the pixel
    /// limit and decodable within the decode budget.
    pub fn finish(mut self) -> Result<InspectedImage, ImageRejection> {
        if self.size == 0 {
            return Err(ImageRejection::Empty);
        }
        if self.walker.is_none() {
            // Shorter than the sniffing length: too short to be any accepted image.
            let kind = ImageKind::sniff(&self.sniffed).ok_or(ImageRejection::NotAnImage)?;
            self.start(kind);
            let sniffed = std::mem::take(&mut self.sniffed);
            self.walk(&sniffed)?;
        }
        let Some((walker, _)) = &self.walker else {
            return Err(ImageRejection::NotAnImage);
        };
        let (layout, dimensions) = match walker {
            FormatWalker::Jpeg(w) => (w.finish().map(Layout::Jpeg), w.dimensions()),
            FormatWalker::Png(w) => (w.finish().map(Layout::Png), w.dimensions()),
            FormatWalker::Gif(w) => (w.finish().map(Layout::Gif), w.dimensions()),
            FormatWalker::Webp(w) => (w.finish().map(Layout::Webp), w.dimensions()),
        };
        let layout = match layout {
            Err(ImageRejection::Truncated) if dimensions.is_none() => {
                return Err(ImageRejection::UnreadableHeader);
            }
            other => other?,
        };
        let needed = layout.decode_bytes().saturating_add(self.size);
        if needed > self.decode_budget {
            return Err(ImageRejection::TooExpensive {
                needed_mib: needed.div_ceil(1 << 20),
                budget_mib: self.decode_budget >> 20,
            });
        }
        Ok(InspectedImage {
            kind: layout.kind(),
            dimensions: layout.dimensions(),
            size: self.size,
            layout,
        })
    }
}

/// A client's file name reduced to something safe to store and show: the last path
/// component only (so `../../etc/passwd` is just `passwd`), without the invisible
/// characters of [`crate::domain::text`] (controls, bidirectional overrides — the
/// `a\u{202E}gnp.exe.png`, which displays as `a` then `gnp.exe.png` right to left, i.e.
/// as an `.exe` ending in `png` — zero-width characters,
/// separators), trimmed, at most 255 characters. Never used to build a storage path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Longest kept name, in characters.
    pub const MAX_CHARS: usize = 255;

    /// The name of a file sent without one (or with only a path, `.` or `..`).
    pub const UNNAMED: &str = "upload";

    /// Parses a client-supplied name: `upload` when none was sent; a refusal (for a
    /// 422) when one was sent but nothing visible is left of it.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let raw = raw.unwrap_or_default();
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = super::text::strip_invisible(last)
            .chars()
            .take(Self::MAX_CHARS)
            .collect();
        let unusable = |name: &str| name.is_empty() || name == "." || name == "..";
        if !unusable(&cleaned) {
            return Ok(Self(cleaned));
        }
        if unusable(last.trim()) {
            return Ok(Self(Self::UNNAMED.into()));
        }
        Err("the file name has no visible characters once invisible ones are removed".into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod basics {
    use super::*;
    use crate::test_support::{Format, encode};

    fn inspect(bytes: &[u8], chunk: usize) -> Result<InspectedImage, ImageRejection> {
        let mut inspector = ImageInspector::new(50_000_000, 256 << 20);
        for piece in bytes.chunks(chunk.max(1)) {
            inspector.feed(piece)?;
        }
        inspector.finish()
    }

    #[test]
    fn accepts_every_kind_in_any_chunking() {
        for (format, kind) in [
            (Format::Png, ImageKind::Png),
            (Format::Jpeg, ImageKind::Jpeg),
            (Format::Gif, ImageKind::Gif),
            (Format::Webp, ImageKind::Webp),
        ] {
            let bytes = encode(format, 40, 30);
            for chunk in [1, 3, 7, 64, 100_000] {
                let found = inspect(&bytes, chunk)
                    .unwrap_or_else(|e| panic!("{format:?} chunk {chunk}: {e}"));
                assert_eq!(found.kind, kind);
                assert_eq!(
                    found.dimensions,
                    Dimensions {
                        width: 40,
                        height: 30
                    }
                );
                assert_eq!(found.size, bytes.len() as u64);
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_whole_image() {
        assert_eq!(inspect(b"", 10), Err(ImageRejection::Empty));
        assert_eq!(
            inspect(b"hello, this is text pretending to be a png", 10),
            Err(ImageRejection::NotAnImage)
        );
        assert_eq!(inspect(b"\x89PN", 10), Err(ImageRejection::NotAnImage));
        for format in [Format::Png, Format::Jpeg, Format::Gif, Format::Webp] {
            let bytes = encode(format, 40, 30);
            let cut = &bytes[..bytes.len() - 5];
            assert_eq!(
                inspect(cut, 16),
                Err(ImageRejection::Truncated),
                "{format:?}"
            );
            assert!(inspect(&bytes[..20], 16).is_err(), "{format:?} header only");
        }
    }

    #[test]
    fn refuses_decompression_bombs_from_the_header() {
        let bomb = crate::test_support::png_header_claiming(20_000, 20_000);
        let mut inspector = ImageInspector::new(50_000_000, 256 << 20);
        assert!(matches!(
            inspector.feed(&bomb),
            Err(ImageRejection::TooManyPixels {
                width: 20_000,
                height: 20_000,
                ..
            })
        ));
    }

    #[test]
    fn file_names_lose_their_paths() {
        let name = |raw: &str| FileName::parse(Some(raw)).unwrap().as_str().to_owned();
        assert_eq!(name("../../etc/passwd"), "passwd");
        assert_eq!(name("C:\\x\\cat.png"), "cat.png");
        assert_eq!(name(".."), "upload");
        assert_eq!(name("dir/"), "upload");
        assert_eq!(FileName::parse(None).unwrap().as_str(), "upload");
        assert_eq!(name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(name(&"x".repeat(999)).len(), 255);
    }

    #[test]
    fn file_names_lose_what_cannot_be_seen() {
        let name = |raw: &str| FileName::parse(Some(raw)).map(|n| n.as_str().to_owned());
        assert_eq!(name("a\u{202E}gnp.exe.png"), Ok("agnp.exe.png".into()));
        assert_eq!(name("cat\u{2028}\u{2029}.png"), Ok("cat.png".into()));
        assert_eq!(name("\u{200B}\u{FEFF}x.png\u{E0041}"), Ok("x.png".into()));
        assert_eq!(name("👩\u{200D}💻.png"), Ok("👩\u{200D}💻.png".into()));
        assert!(name("\u{202E}").is_err(), "a name that becomes empty");
        assert!(name("\u{200D}\u{200B}").is_err());
    }

    #[test]
    fn ids_parse_only_uuids() {
        let id = ImageId::generate();
        assert_eq!(ImageId::parse(&id.to_string()), Some(id));
        for bad in [
            "",
            "1",
            "../etc",
            "0190000000000000000000000000000000000",
            "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        ] {
            assert_eq!(ImageId::parse(bad), None, "{bad}");
        }
    }
}
