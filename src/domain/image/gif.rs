//! A strict GIF structure walker: header, logical screen, colour tables, extension and
//! image blocks with their sub-blocks, the trailer. A GIF's size is its logical screen,
//! but each frame has its own size and offset, and a decoder allocates for the frame: a
//! 1×1 screen can hold a 65535×65535 frame. Every frame must lie inside the screen, so
//! the screen the pixel limit checks bounds everything the decoder allocates.

use super::{
    Dimensions, ImageRejection, MAX_FRAMES, check_pixels,
    walk::{Walker, Want, le16},
};

/// What the decoder needs to know to size its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GifLayout {
    /// The logical screen (the canvas every frame is drawn on).
    pub dimensions: Dimensions,
    /// The first frame's size (what a still thumbnail decodes).
    pub first_frame: Dimensions,
    /// Image blocks in the file.
    pub frames: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Screen,
    ColorTable,
    Block,
    ExtensionLabel,
    ImageDescriptor,
    LocalColorTable,
    CodeSize,
    /// Expecting a sub-block size byte (0 ends the block).
    SubBlockSize,
    SubBlockData,
    /// After the trailer.
    End,
}

/// The walker; see the module documentation.
#[derive(Debug)]
pub(super) struct GifWalker {
    state: State,
    max_pixels: u64,
    screen: Option<Dimensions>,
    first_frame: Option<Dimensions>,
    frames: u32,
}

fn malformed(reason: &str) -> ImageRejection {
    ImageRejection::Malformed(format!("the GIF structure is invalid: {reason}"))
}

/// Bytes of a colour table announced by a packed field (0 when there is none).
fn color_table_bytes(packed: u8) -> u64 {
    if packed & 0x80 == 0 {
        0
    } else {
        3 * (1u64 << ((packed & 0x07) + 1))
    }
}

impl GifWalker {
    pub(super) fn new(max_pixels: u64) -> (Self, Want) {
        (
            Self {
                state: State::Header,
                max_pixels,
                screen: None,
                first_frame: None,
                frames: 0,
            },
            Want::Bytes(6),
        )
    }

    /// The logical screen, once read.
    pub(super) fn dimensions(&self) -> Option<Dimensions> {
        self.screen
    }

    /// The layout, if the stream ended after the trailer.
    pub(super) fn finish(&self) -> Result<GifLayout, ImageRejection> {
        match (self.state, self.screen, self.first_frame) {
            (State::End, Some(screen), Some(first)) => Ok(GifLayout {
                dimensions: screen,
                first_frame: first,
                frames: self.frames,
            }),
            (State::End, _, None) => Err(malformed("no image in the file")),
            _ => Err(ImageRejection::Truncated),
        }
    }

    fn skip_or(&mut self, bytes: u64, then: State, want_then: Want) -> Want {
        if bytes == 0 {
            self.state = then;
            want_then
        } else {
            // `on_skipped` moves from the colour table states to what follows.
            Want::Skip(bytes)
        }
    }
}

impl Walker for GifWalker {
    fn on_bytes(&mut self, bytes: &[u8], _end: u64) -> Result<Want, ImageRejection> {
        match self.state {
            State::Header => {
                if bytes != b"GIF87a" && bytes != b"GIF89a" {
                    return Err(ImageRejection::NotAnImage);
                }
                self.state = State::Screen;
                Ok(Want::Bytes(7))
            }
            State::Screen => {
                let (width, height) = (le16(bytes, 0), le16(bytes, 2));
                if width == 0 || height == 0 {
                    return Err(ImageRejection::UnreadableHeader);
                }
                let screen = Dimensions {
                    width: u32::from(width),
                    height: u32::from(height),
                };
                check_pixels(screen, self.max_pixels)?;
                self.screen = Some(screen);
                self.state = State::ColorTable;
                Ok(self.skip_or(color_table_bytes(bytes[4]), State::Block, Want::Bytes(1)))
            }
            State::Block => match bytes[0] {
                0x21 => {
                    self.state = State::ExtensionLabel;
                    Ok(Want::Bytes(1))
                }
                0x2C => {
                    self.state = State::ImageDescriptor;
                    Ok(Want::Bytes(9))
                }
                0x3B => {
                    self.state = State::End;
                    Ok(Want::Stream)
                }
                other => Err(malformed(&format!("unknown block type 0x{other:02X}"))),
            },
            State::ExtensionLabel => {
                self.state = State::SubBlockSize;
                Ok(Want::Bytes(1))
            }
            State::ImageDescriptor => {
                let screen = self.screen.expect("the screen comes first");
                let (left, top, width, height) = (
                    u32::from(le16(bytes, 0)),
                    u32::from(le16(bytes, 2)),
                    u32::from(le16(bytes, 4)),
                    u32::from(le16(bytes, 6)),
                );
                if width == 0
                    || height == 0
                    || left + width > screen.width
                    || top + height > screen.height
                {
                    return Err(malformed("a frame outside the logical screen"));
                }
                self.frames += 1;
                if self.frames > MAX_FRAMES {
                    return Err(ImageRejection::OverLimit(format!(
                        "the image has more than {MAX_FRAMES} frames"
                    )));
                }
                self.first_frame.get_or_insert(Dimensions { width, height });
                self.state = State::LocalColorTable;
                Ok(self.skip_or(color_table_bytes(bytes[8]), State::CodeSize, Want::Bytes(1)))
            }
            State::CodeSize => {
                if !(1..=11).contains(&bytes[0]) {
                    return Err(malformed("an LZW code size outside 1..=11"));
                }
                self.state = State::SubBlockSize;
                Ok(Want::Bytes(1))
            }
            State::SubBlockSize => match bytes[0] {
                0 => {
                    self.state = State::Block;
                    Ok(Want::Bytes(1))
                }
                size => {
                    self.state = State::SubBlockData;
                    Ok(Want::Skip(u64::from(size)))
                }
            },
            State::ColorTable | State::LocalColorTable | State::SubBlockData | State::End => {
                unreachable!("skipped or streamed states")
            }
        }
    }

    fn on_skipped(&mut self, _end: u64) -> Result<Want, ImageRejection> {
        match self.state {
            State::ColorTable => self.state = State::Block,
            State::LocalColorTable => self.state = State::CodeSize,
            State::SubBlockData => self.state = State::SubBlockSize,
            _ => unreachable!("only tables and sub-blocks are skipped"),
        }
        Ok(Want::Bytes(1))
    }

    fn on_stream(&mut self, bytes: &[u8], _start: u64) -> Result<(usize, Want), ImageRejection> {
        // Some encoders pad after the trailer with zero bytes; anything else would be a
        // second file hiding behind the image.
        if bytes.iter().all(|&b| b == 0) {
            Ok((bytes.len(), Want::Stream))
        } else {
            Err(malformed("data after the trailer"))
        }
    }
}
