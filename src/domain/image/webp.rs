//! A strict WebP structure walker: the RIFF container chunk by chunk, the VP8/VP8L
//! bitstream headers read inside their chunks, and the extended format's canvas checked
//! against them. A WebP's size can be stated three times (the VP8X canvas, the bitstream,
//! each animation frame) and a lenient reader may believe one while the decoder uses
//! another; here every statement must agree, and frames must lie inside the canvas.

use super::{
    Dimensions, ImageRejection, MAX_FRAMES, check_pixels,
    walk::{Walker, Want, le16, le24, le32},
};

/// What the decoder needs to know to size its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebpLayout {
    /// The canvas (or the bitstream's size for a simple file).
    pub dimensions: Dimensions,
    /// Lossless (VP8L) rather than lossy (VP8) coding of the first image.
    pub lossless: bool,
    /// An alpha channel (VP8L's flag, an ALPH chunk, or VP8X's flag).
    pub alpha: bool,
    /// Animation frames (0 for a still image).
    pub frames: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Riff,
    ChunkHead,
    /// A bitstream header at the start of a VP8 or VP8L chunk, top level or in a frame.
    Bitstream {
        lossless: bool,
        in_frame: bool,
    },
    Extended,
    FrameHeader,
    /// Skipping the rest of a chunk (and its padding).
    Rest,
    /// The whole RIFF has been read (a writer may add one padding byte after it).
    End,
}

/// The walker; see the module documentation.
#[derive(Debug)]
pub(super) struct WebpWalker {
    state: State,
    max_pixels: u64,
    riff_end: u64,
    /// Where the chunk being read ends, padding included.
    chunk_end: u64,
    /// The animation frame being read: where its sub-chunks end, where it ends padded,
    /// and its size.
    frame: Option<(u64, u64, Dimensions)>,
    frame_has_image: bool,
    /// Where the ANMF chunk whose header is being read ends.
    frame_data_end: u64,
    canvas: Option<Dimensions>,
    extended_flags: u8,
    /// The still image's bitstream: its size and whether it is lossless.
    image: Option<(Dimensions, bool)>,
    first_frame_lossless: Option<bool>,
    seen_alpha_chunk: bool,
    seen_anim: bool,
    seen_exif: bool,
    seen_xmp: bool,
    frames: u32,
    trailing: u64,
}

fn malformed(reason: &str) -> ImageRejection {
    ImageRejection::Malformed(format!("the WebP structure is invalid: {reason}"))
}

const ANIMATION: u8 = 0x02;
const XMP: u8 = 0x04;
const EXIF: u8 = 0x08;
const ALPHA: u8 = 0x10;

/// Offset of the first chunk: after `RIFF`, the size and `WEBP`.
const FIRST_CHUNK: u64 = 12;

impl WebpWalker {
    pub(super) fn new(max_pixels: u64) -> (Self, Want) {
        (
            Self {
                state: State::Riff,
                max_pixels,
                riff_end: 0,
                chunk_end: 0,
                frame: None,
                frame_has_image: false,
                frame_data_end: 0,
                canvas: None,
                extended_flags: 0,
                image: None,
                first_frame_lossless: None,
                seen_alpha_chunk: false,
                seen_anim: false,
                seen_exif: false,
                seen_xmp: false,
                frames: 0,
                trailing: 0,
            },
            Want::Bytes(12),
        )
    }

    /// The image's size, once the first image chunk (or VP8X) has been read.
    pub(super) fn dimensions(&self) -> Option<Dimensions> {
        self.canvas.or(self.image.map(|(d, _)| d))
    }

    fn animated(&self) -> bool {
        self.extended_flags & ANIMATION != 0
    }

    /// The layout, if the stream ended with the RIFF and everything agreed.
    pub(super) fn finish(&self) -> Result<WebpLayout, ImageRejection> {
        if self.state != State::End {
            return Err(ImageRejection::Truncated);
        }
        if self.canvas.is_some() {
            if self.animated() && (!self.seen_anim || self.frames == 0) {
                return Err(malformed("an animation without ANIM or frames"));
            }
            if !self.animated() && self.image.is_none() {
                return Err(malformed("no image data"));
            }
            if self.extended_flags & EXIF != 0 && !self.seen_exif
                || self.extended_flags & XMP != 0 && !self.seen_xmp
            {
                return Err(malformed("VP8X announces metadata that is missing"));
            }
        }
        let dimensions = self.dimensions().ok_or(ImageRejection::UnreadableHeader)?;
        let lossless = self
            .image
            .map(|(_, lossless)| lossless)
            .or(self.first_frame_lossless)
            .unwrap_or(false);
        Ok(WebpLayout {
            dimensions,
            lossless,
            alpha: lossless || self.seen_alpha_chunk || self.extended_flags & ALPHA != 0,
            frames: self.frames,
        })
    }

    /// Reads the next chunk header, or leaves the frame, or ends the RIFF.
    fn next_chunk(&mut self, at: u64) -> Want {
        if let Some((sub_end, padded_end, _)) = self.frame {
            if at + 8 <= sub_end {
                self.state = State::ChunkHead;
                return Want::Bytes(8);
            }
            self.frame = None;
            self.state = State::Rest;
            return Want::Skip(padded_end - at);
        }
        if at + 8 <= self.riff_end {
            self.state = State::ChunkHead;
            Want::Bytes(8)
        } else if at < self.riff_end {
            self.state = State::Rest;
            Want::Skip(self.riff_end - at)
        } else {
            self.state = State::End;
            Want::Stream
        }
    }

    fn skip_rest(&mut self, at: u64) -> Want {
        self.state = State::Rest;
        Want::Skip(self.chunk_end - at)
    }

    fn on_riff(&mut self, header: &[u8]) -> Result<Want, ImageRejection> {
        if &header[0..4] != b"RIFF" || &header[8..12] != b"WEBP" {
            return Err(ImageRejection::NotAnImage);
        }
        let size = u64::from(le32(header, 4));
        if size < 4 + 8 {
            return Err(malformed("a RIFF too short to hold an image"));
        }
        self.riff_end = 8 + size;
        Ok(self.next_chunk(FIRST_CHUNK))
    }

    fn on_chunk_head(&mut self, head: &[u8], at: u64) -> Result<Want, ImageRejection> {
        let fourcc: [u8; 4] = [head[0], head[1], head[2], head[3]];
        let size = u64::from(le32(head, 4));
        let container_end = self.frame.map_or(self.riff_end, |(end, _, _)| end);
        if at + size > container_end {
            return Err(malformed("a chunk runs past its container"));
        }
        self.chunk_end = (at + size + (size & 1)).min(container_end);
        let first = at == FIRST_CHUNK + 8;
        let in_frame = self.frame.is_some();
        match &fourcc {
            b"VP8 " | b"VP8L" => {
                if in_frame {
                    if self.frame_has_image {
                        return Err(malformed("a frame with two images"));
                    }
                    self.frame_has_image = true;
                } else if !first && (self.canvas.is_none() || self.animated()) {
                    return Err(malformed("an image chunk where none may be"));
                } else if self.image.is_some() {
                    return Err(malformed("a second image chunk"));
                }
                let lossless = &fourcc == b"VP8L";
                let need = if lossless { 5 } else { 10 };
                if size < need {
                    return Err(malformed("a bitstream chunk too short for its header"));
                }
                self.state = State::Bitstream { lossless, in_frame };
                Ok(Want::Bytes(need as usize))
            }
            b"VP8X" if first => {
                if size < 10 {
                    return Err(malformed("VP8X too short"));
                }
                self.state = State::Extended;
                Ok(Want::Bytes(10))
            }
            _ if first => Err(malformed("the first chunk is not VP8, VP8L or VP8X")),
            _ if self.canvas.is_none() => Err(malformed("chunks after a simple image")),
            b"ANMF" if !in_frame => {
                if !self.animated() {
                    return Err(malformed("a frame in an image not marked animated"));
                }
                if size < 16 + 8 {
                    return Err(malformed("a frame too short"));
                }
                self.state = State::FrameHeader;
                self.frame_data_end = at + size;
                Ok(Want::Bytes(16))
            }
            b"ALPH" if !in_frame => {
                if self.seen_alpha_chunk || self.animated() {
                    return Err(malformed("a misplaced ALPH chunk"));
                }
                self.seen_alpha_chunk = true;
                Ok(self.skip_rest(at))
            }
            b"ANIM" if !in_frame => {
                self.seen_anim = true;
                Ok(self.skip_rest(at))
            }
            b"EXIF" if !in_frame => {
                self.seen_exif = true;
                Ok(self.skip_rest(at))
            }
            b"XMP " if !in_frame => {
                self.seen_xmp = true;
                Ok(self.skip_rest(at))
            }
            _ => Ok(self.skip_rest(at)),
        }
    }

    fn on_extended(&mut self, header: &[u8], at: u64) -> Result<Want, ImageRejection> {
        let canvas = Dimensions {
            width: le24(header, 4) + 1,
            height: le24(header, 7) + 1,
        };
        // image-webp also refuses a canvas of more than 2^32 - 1 pixels.
        check_pixels(canvas, self.max_pixels.min(u64::from(u32::MAX)))?;
        self.extended_flags = header[0];
        self.canvas = Some(canvas);
        Ok(self.skip_rest(at))
    }

    fn on_frame_header(&mut self, header: &[u8], at: u64) -> Result<Want, ImageRejection> {
        let canvas = self.canvas.expect("animation needs VP8X");
        let (x, y) = (le24(header, 0) * 2, le24(header, 3) * 2);
        let size = Dimensions {
            width: le24(header, 6) + 1,
            height: le24(header, 9) + 1,
        };
        if u64::from(x) + u64::from(size.width) > u64::from(canvas.width)
            || u64::from(y) + u64::from(size.height) > u64::from(canvas.height)
        {
            return Err(malformed("a frame outside the canvas"));
        }
        self.frames += 1;
        if self.frames > MAX_FRAMES {
            return Err(ImageRejection::OverLimit(format!(
                "the image has more than {MAX_FRAMES} frames"
            )));
        }
        // The ANMF chunk's own end (sub-chunks lie inside), and its padded end.
        self.frame = Some((self.frame_data_end, self.chunk_end, size));
        self.frame_has_image = false;
        Ok(self.next_chunk(at))
    }

    fn on_bitstream(
        &mut self,
        header: &[u8],
        lossless: bool,
        in_frame: bool,
        at: u64,
    ) -> Result<Want, ImageRejection> {
        let dimensions = if lossless {
            if header[0] != 0x2F {
                return Err(malformed("a lossless bitstream without its signature"));
            }
            let bits = le32(header, 1);
            if bits >> 29 != 0 {
                return Err(malformed("a lossless bitstream of an unknown version"));
            }
            let (w, h) = (bits & 0x3FFF, (bits >> 14) & 0x3FFF);
            // image-webp computes the size as (1 + field) & 0x3FFF, which reads the
            // largest value (16384) as 0: a file a strict reading and the decoder would
            // size differently is refused.
            if w == 0x3FFF || h == 0x3FFF {
                return Err(ImageRejection::Unsupported(
                    "a lossless WebP 16384 pixels wide or high".into(),
                ));
            }
            Dimensions {
                width: w + 1,
                height: h + 1,
            }
        } else {
            if le24(header, 0) & 1 != 0 {
                return Err(malformed("a lossy bitstream that is not a key frame"));
            }
            if header[3..6] != [0x9D, 0x01, 0x2A] {
                return Err(malformed("a lossy bitstream without its start code"));
            }
            let (w, h) = (
                u32::from(le16(header, 6) & 0x3FFF),
                u32::from(le16(header, 8) & 0x3FFF),
            );
            if w == 0 || h == 0 {
                return Err(ImageRejection::UnreadableHeader);
            }
            Dimensions {
                width: w,
                height: h,
            }
        };
        if in_frame {
            let (_, _, frame_size) = self.frame.expect("in a frame");
            if dimensions != frame_size {
                return Err(malformed(
                    "a frame whose bitstream size differs from the frame's",
                ));
            }
            self.first_frame_lossless.get_or_insert(lossless);
        } else {
            if let Some(canvas) = self.canvas
                && canvas != dimensions
            {
                return Err(malformed("the bitstream size differs from the canvas"));
            }
            check_pixels(dimensions, self.max_pixels)?;
            self.image = Some((dimensions, lossless));
        }
        Ok(self.skip_rest(at))
    }
}

impl Walker for WebpWalker {
    fn on_bytes(&mut self, bytes: &[u8], end: u64) -> Result<Want, ImageRejection> {
        match self.state {
            State::Riff => self.on_riff(bytes),
            State::ChunkHead => self.on_chunk_head(bytes, end),
            State::Bitstream { lossless, in_frame } => {
                self.on_bitstream(bytes, lossless, in_frame, end)
            }
            State::Extended => self.on_extended(bytes, end),
            State::FrameHeader => self.on_frame_header(bytes, end),
            State::Rest | State::End => unreachable!("skipped or streamed states"),
        }
    }

    fn on_skipped(&mut self, end: u64) -> Result<Want, ImageRejection> {
        Ok(self.next_chunk(end))
    }

    fn on_stream(&mut self, bytes: &[u8], _start: u64) -> Result<(usize, Want), ImageRejection> {
        // One padding byte after the RIFF is tolerated (some writers add it), no more.
        self.trailing += bytes.len() as u64;
        if self.trailing > 1 {
            return Err(malformed("data after the RIFF"));
        }
        Ok((bytes.len(), Want::Stream))
    }
}
