//! Images as untrusted bytes: the kind decided by magic bytes, dimensions read from the
//! header before anything is decoded, truncation caught at the end of the stream, and
//! client file names reduced to a safe display name.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

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
}

/// Inspects an upload chunk by chunk, keeping only a bounded header and a short tail:
/// memory stays flat whatever the file size.
#[derive(Debug)]
pub struct ImageInspector {
    max_pixels: u64,
    head: Vec<u8>,
    kind: Option<ImageKind>,
    dimensions: Option<Dimensions>,
    tail: [u8; 16],
    tail_len: usize,
    size: u64,
    riff_declared: Option<u64>,
}

/// What the inspector found in a complete, acceptable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectedImage {
    pub kind: ImageKind,
    pub dimensions: Dimensions,
    pub size: u64,
}

impl ImageInspector {
    /// Most header bytes kept while looking for the dimensions (JPEG puts EXIF and ICC
    /// data before its frame header). A file whose header is larger is refused.
    pub const MAX_HEADER: usize = 1 << 20;

    /// An inspector refusing images over `max_pixels` (width × height).
    pub fn new(max_pixels: u64) -> Self {
        Self {
            max_pixels,
            head: Vec::new(),
            kind: None,
            dimensions: None,
            tail: [0; 16],
            tail_len: 0,
            size: 0,
            riff_declared: None,
        }
    }

    /// Feeds the next chunk. Fails as early as the bytes allow, before more is read.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ImageRejection> {
        self.size += chunk.len() as u64;
        self.remember_tail(chunk);
        if self.dimensions.is_some() {
            return Ok(());
        }
        let room = Self::MAX_HEADER.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if self.kind.is_none() {
            if self.head.len() < ImageKind::SNIFF_LEN {
                return Ok(());
            }
            self.set_kind(ImageKind::sniff(&self.head).ok_or(ImageRejection::NotAnImage)?);
        }
        self.try_dimensions()?;
        if self.dimensions.is_none() && self.head.len() >= Self::MAX_HEADER {
            return Err(ImageRejection::UnreadableHeader);
        }
        Ok(())
    }

    /// Ends the stream: the image is accepted only if it is complete.
    pub fn finish(mut self) -> Result<InspectedImage, ImageRejection> {
        if self.size == 0 {
            return Err(ImageRejection::Empty);
        }
        let kind = match self.kind {
            Some(kind) => kind,
            None => ImageKind::sniff(&self.head).ok_or(ImageRejection::NotAnImage)?,
        };
        self.set_kind(kind);
        if self.dimensions.is_none() {
            self.try_dimensions()?;
        }
        let dimensions = self.dimensions.ok_or(ImageRejection::UnreadableHeader)?;
        if !self.is_complete(kind) {
            return Err(ImageRejection::Truncated);
        }
        Ok(InspectedImage {
            kind,
            dimensions,
            size: self.size,
        })
    }

    fn remember_tail(&mut self, chunk: &[u8]) {
        let keep = self.tail.len();
        if chunk.len() >= keep {
            self.tail.copy_from_slice(&chunk[chunk.len() - keep..]);
            self.tail_len = keep;
        } else {
            let total = (self.tail_len + chunk.len()).min(keep);
            let mut next = [0u8; 16];
            let old = total - chunk.len();
            next[..old].copy_from_slice(&self.tail[self.tail_len - old..self.tail_len]);
            next[old..total].copy_from_slice(chunk);
            self.tail = next;
            self.tail_len = total;
        }
    }

    fn try_dimensions(&mut self) -> Result<(), ImageRejection> {
        let Ok(size) = imagesize::blob_size(&self.head) else {
            return Ok(()); // not enough header yet
        };
        let (width, height) = (size.width as u64, size.height as u64);
        if width == 0 || height == 0 {
            return Err(ImageRejection::UnreadableHeader);
        }
        if width.saturating_mul(height) > self.max_pixels
            || width > u32::MAX as u64
            || height > u32::MAX as u64
        {
            return Err(ImageRejection::TooManyPixels {
                width,
                height,
                limit: self.max_pixels,
            });
        }
        self.dimensions = Some(Dimensions {
            width: width as u32,
            height: height as u32,
        });
        self.head = Vec::new();
        Ok(())
    }

    /// Checks the format's end marker, which a truncated upload lacks.
    fn is_complete(&self, kind: ImageKind) -> bool {
        let tail = &self.tail[..self.tail_len];
        // Some encoders pad files with zero bytes after the end marker.
        let unpadded = {
            let end = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            &tail[..end]
        };
        match kind {
            ImageKind::Png => tail.ends_with(&[0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]),
            ImageKind::Jpeg => unpadded.ends_with(&[0xFF, 0xD9]),
            ImageKind::Gif => unpadded.ends_with(&[0x3B]),
            ImageKind::Webp => self.riff_size().is_some_and(|declared| {
                let declared = declared + 8;
                self.size == declared || self.size == declared + 1
            }),
        }
    }

    fn set_kind(&mut self, kind: ImageKind) {
        self.kind = Some(kind);
        if kind == ImageKind::Webp && self.head.len() >= 8 {
            let size = u32::from_le_bytes([self.head[4], self.head[5], self.head[6], self.head[7]]);
            self.riff_declared = Some(u64::from(size));
        }
    }

    fn riff_size(&self) -> Option<u64> {
        self.riff_declared
    }
}

/// A client's file name reduced to something safe to store and show: the last path
/// component only (so `../../etc/passwd` is just `passwd`), no control characters,
/// at most 255 characters. Never used to build a storage path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Longest kept name, in characters.
    pub const MAX_CHARS: usize = 255;

    /// Sanitises a client-supplied name; `upload` when nothing usable is left.
    pub fn sanitize(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or_default();
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::MAX_CHARS)
            .collect();
        let cleaned = cleaned.trim();
        if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
            Self("upload".into())
        } else {
            Self(cleaned.to_owned())
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{Format, encode};

    fn inspect(bytes: &[u8], chunk: usize) -> Result<InspectedImage, ImageRejection> {
        let mut inspector = ImageInspector::new(50_000_000);
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
        let bomb = crate::test_images::png_header_claiming(20_000, 20_000);
        let mut inspector = ImageInspector::new(50_000_000);
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
        assert_eq!(
            FileName::sanitize(Some("../../etc/passwd")).as_str(),
            "passwd"
        );
        assert_eq!(
            FileName::sanitize(Some("C:\\x\\cat.png")).as_str(),
            "cat.png"
        );
        assert_eq!(FileName::sanitize(Some("..")).as_str(), "upload");
        assert_eq!(FileName::sanitize(None).as_str(), "upload");
        assert_eq!(
            FileName::sanitize(Some("a\u{0}b\nc.png")).as_str(),
            "abc.png"
        );
        assert_eq!(
            FileName::sanitize(Some(&"x".repeat(999))).as_str().len(),
            255
        );
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
