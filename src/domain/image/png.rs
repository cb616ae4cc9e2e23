//! A strict PNG structure walker: signature, IHDR first with a valid depth and colour
//! type, every chunk framed, APNG frames inside the canvas, IDAT present, IEND last and
//! nothing after it. The size the decoder uses is IHDR's (and an APNG's first frame
//! control, when it comes before IDAT, must say the same), so one reading is enough.

use super::{
    Dimensions, ImageRejection, MAX_FRAMES, check_pixels,
    walk::{Walker, Want, be16, be32},
};

/// What the decoder needs to know to size its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngLayout {
    /// Width and height (IHDR).
    pub dimensions: Dimensions,
    /// IHDR colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
    pub color_type: u8,
    /// Bits per sample (1, 2, 4, 8 or 16).
    pub bit_depth: u8,
    /// A `tRNS` chunk adds an alpha channel when expanded.
    pub transparency: bool,
    /// Adam7 interlacing.
    pub interlaced: bool,
}

impl PngLayout {
    /// Channels after expansion to 8 bits per sample (palette to RGB, `tRNS` to alpha).
    pub fn channels(&self) -> u8 {
        let base = match self.color_type {
            0 => 1,
            4 => 2,
            2 | 3 => 3,
            _ => 4,
        };
        if self.transparency && matches!(self.color_type, 0 | 2 | 3) {
            base + 1
        } else {
            base
        }
    }

    /// Bytes of one row as stored (before expansion), plus its filter byte.
    pub fn stored_row_bytes(&self) -> u64 {
        let samples = match self.color_type {
            0 | 3 => 1,
            4 => 2,
            2 => 3,
            _ => 4,
        };
        (u64::from(self.dimensions.width) * samples * u64::from(self.bit_depth)).div_ceil(8) + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Signature,
    ChunkHead,
    Ihdr,
    FrameControl,
    AnimationControl,
    /// Skipping a chunk's data, then its CRC.
    Data,
    Crc,
    /// After IEND's CRC.
    End,
}

/// The walker; see the module documentation.
#[derive(Debug)]
pub(super) struct PngWalker {
    state: State,
    max_pixels: u64,
    layout: Option<PngLayout>,
    seen_palette: bool,
    seen_data: bool,
    seen_frame_control: bool,
    seen_end: bool,
    frames: u32,
    /// The chunk being read: its type and length.
    chunk: ([u8; 4], u32),
}

fn malformed(reason: &str) -> ImageRejection {
    ImageRejection::Malformed(format!("the PNG structure is invalid: {reason}"))
}

impl PngWalker {
    pub(super) fn new(max_pixels: u64) -> (Self, Want) {
        (
            Self {
                state: State::Signature,
                max_pixels,
                layout: None,
                seen_palette: false,
                seen_data: false,
                seen_frame_control: false,
                seen_end: false,
                frames: 0,
                chunk: ([0; 4], 0),
            },
            Want::Bytes(8),
        )
    }

    /// Width and height, once IHDR has been read.
    pub(super) fn dimensions(&self) -> Option<Dimensions> {
        self.layout.map(|l| l.dimensions)
    }

    /// The layout, if the stream ended right after IEND.
    pub(super) fn finish(&self) -> Result<PngLayout, ImageRejection> {
        match (self.state, self.layout) {
            (State::End, Some(layout)) => Ok(layout),
            _ => Err(ImageRejection::Truncated),
        }
    }

    fn on_chunk_head(&mut self, head: &[u8]) -> Result<Want, ImageRejection> {
        let length = be32(head, 0);
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        if length > i32::MAX as u32 {
            return Err(malformed("a chunk longer than 2^31 - 1 bytes"));
        }
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(malformed("a chunk type that is not four letters"));
        }
        if self.layout.is_none() && &kind != b"IHDR" {
            return Err(malformed("the first chunk is not IHDR"));
        }
        self.chunk = (kind, length);
        let exact = |want: u32, state: State, this: &mut Self| {
            if length != want {
                return Err(malformed(&format!(
                    "{} chunk of length {length}",
                    String::from_utf8_lossy(&kind)
                )));
            }
            this.state = state;
            Ok(Want::Bytes(want as usize))
        };
        match &kind {
            b"IHDR" if self.layout.is_some() => Err(malformed("a second IHDR")),
            b"IHDR" => exact(13, State::Ihdr, self),
            b"fcTL" => exact(26, State::FrameControl, self),
            b"acTL" => exact(8, State::AnimationControl, self),
            b"IEND" => {
                if !self.seen_data {
                    return Err(malformed("IEND before any image data"));
                }
                self.seen_end = true;
                exact(0, State::Data, self)
            }
            b"PLTE" => {
                if self.seen_data || !length.is_multiple_of(3) || length == 0 || length > 768 {
                    return Err(malformed("a misplaced or mis-sized palette"));
                }
                self.seen_palette = true;
                self.state = State::Data;
                Ok(Want::Skip(u64::from(length)))
            }
            b"IDAT" => {
                let layout = self.layout.expect("IHDR came first");
                if layout.color_type == 3 && !self.seen_palette {
                    return Err(malformed("palette image data before PLTE"));
                }
                self.seen_data = true;
                self.state = State::Data;
                Ok(Want::Skip(u64::from(length)))
            }
            b"tRNS" => {
                if self.seen_data {
                    return Err(malformed("tRNS after image data"));
                }
                if let Some(layout) = self.layout.as_mut() {
                    layout.transparency = true;
                }
                self.state = State::Data;
                Ok(Want::Skip(u64::from(length)))
            }
            // A critical chunk the decoder does not know makes it fail; refuse it now.
            _ if kind[0].is_ascii_uppercase() && &kind != b"fdAT" => Err(malformed(&format!(
                "unknown critical chunk {}",
                String::from_utf8_lossy(&kind)
            ))),
            _ => {
                self.state = State::Data;
                Ok(Want::Skip(u64::from(length)))
            }
        }
    }

    fn on_header(&mut self, ihdr: &[u8]) -> Result<Want, ImageRejection> {
        let (width, height) = (be32(ihdr, 0), be32(ihdr, 4));
        let (depth, color, compression, filter, interlace) =
            (ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]);
        if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
            return Err(ImageRejection::UnreadableHeader);
        }
        let valid_depth = match color {
            0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
            3 => matches!(depth, 1 | 2 | 4 | 8),
            2 | 4 | 6 => matches!(depth, 8 | 16),
            _ => false,
        };
        if !valid_depth || compression != 0 || filter != 0 || interlace > 1 {
            return Err(malformed(
                "IHDR has an invalid colour type, depth or method",
            ));
        }
        let dimensions = Dimensions { width, height };
        check_pixels(dimensions, self.max_pixels)?;
        self.layout = Some(PngLayout {
            dimensions,
            color_type: color,
            bit_depth: depth,
            transparency: false,
            interlaced: interlace == 1,
        });
        self.state = State::Crc;
        Ok(Want::Skip(4))
    }

    fn on_frame_control(&mut self, fctl: &[u8]) -> Result<Want, ImageRejection> {
        let canvas = self.layout.expect("IHDR came first").dimensions;
        let (width, height, x, y) = (be32(fctl, 4), be32(fctl, 8), be32(fctl, 12), be32(fctl, 16));
        let _delay = (be16(fctl, 20), be16(fctl, 22));
        let inside = width > 0
            && height > 0
            && u64::from(x) + u64::from(width) <= u64::from(canvas.width)
            && u64::from(y) + u64::from(height) <= u64::from(canvas.height);
        if !inside {
            return Err(malformed("an animation frame outside the canvas"));
        }
        if !self.seen_data
            && !self.seen_frame_control
            && (width, height, x, y) != (canvas.width, canvas.height, 0, 0)
        {
            return Err(malformed("the default image's frame differs from IHDR"));
        }
        self.seen_frame_control = true;
        self.frames += 1;
        if self.frames > MAX_FRAMES {
            return Err(ImageRejection::OverLimit(format!(
                "the image has more than {MAX_FRAMES} frames"
            )));
        }
        self.state = State::Crc;
        Ok(Want::Skip(4))
    }
}

impl Walker for PngWalker {
    fn on_bytes(&mut self, bytes: &[u8], _end: u64) -> Result<Want, ImageRejection> {
        match self.state {
            State::Signature => {
                if bytes != b"\x89PNG\r\n\x1a\n" {
                    return Err(ImageRejection::NotAnImage);
                }
                self.state = State::ChunkHead;
                Ok(Want::Bytes(8))
            }
            State::ChunkHead => self.on_chunk_head(bytes),
            State::Ihdr => self.on_header(bytes),
            State::FrameControl => self.on_frame_control(bytes),
            State::AnimationControl => {
                if self.seen_data {
                    return Err(malformed("acTL after image data"));
                }
                if be32(bytes, 0) == 0 {
                    return Err(malformed("an animation of zero frames"));
                }
                self.state = State::Crc;
                Ok(Want::Skip(4))
            }
            // IEND's empty data.
            State::Data => self.on_skipped(0),
            State::Crc | State::End => unreachable!("skipped or streamed states"),
        }
    }

    fn on_skipped(&mut self, _end: u64) -> Result<Want, ImageRejection> {
        match self.state {
            State::Data => {
                self.state = State::Crc;
                Ok(Want::Skip(4))
            }
            State::Crc if self.seen_end => {
                self.state = State::End;
                Ok(Want::Stream)
            }
            State::Crc => {
                self.state = State::ChunkHead;
                Ok(Want::Bytes(8))
            }
            _ => unreachable!("only data and CRCs are skipped"),
        }
    }

    fn on_stream(&mut self, bytes: &[u8], _start: u64) -> Result<(usize, Want), ImageRejection> {
        if bytes.is_empty() {
            return Ok((0, Want::Stream));
        }
        Err(malformed("data after IEND"))
    }
}
