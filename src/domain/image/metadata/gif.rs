//! GIF: images, graphic control and plain-text extensions, the looping (NETSCAPE2.0,
//! ANIMEXTS1.0) and colour profile (ICCRGBG1) application extensions are kept; comments,
//! XMP and every other application or unknown extension are dropped, as is anything
//! after the trailer unless `keep`. GIF has no EXIF, so no orientation.

use bytes::Bytes;

use super::{Block, Filter, MetadataPolicy, Orientation, Output, Step};

/// Application extensions that change how the image displays.
const DISPLAY_APPLICATIONS: [&[u8]; 3] = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    /// After the header and global colour table: the next block's introducer.
    Block,
    /// After an image descriptor's colour table: the LZW code size.
    CodeSize,
    /// Copying a colour table, then the LZW code size.
    Table,
    /// An extension's label.
    Label,
    /// An application extension's first sub-block length, then the block itself.
    ApplicationLength,
    ApplicationId(u8),
    /// A chain of sub-blocks, written or not.
    SubBlocks {
        keep: bool,
    },
    /// An image descriptor.
    Descriptor,
    /// Copying the trailer's aftermath is not needed; the trailer was written.
    Done,
}

/// The filter; see the module documentation.
#[derive(Debug)]
pub(super) struct GifFilter {
    policy: MetadataPolicy,
    state: State,
    /// Bytes left in the current sub-block; `None` when its length byte is next.
    in_block: Option<u8>,
}

impl GifFilter {
    pub(super) fn new(policy: MetadataPolicy) -> Self {
        Self {
            policy,
            state: State::Header,
            in_block: None,
        }
    }

    fn sub_blocks(&mut self, keep: bool) -> Step {
        self.state = State::SubBlocks { keep };
        self.in_block = None;
        Step::Scan
    }

    fn colour_table(flags: u8) -> u64 {
        if flags & 0x80 == 0 {
            0
        } else {
            3 << ((flags & 0x07) + 1)
        }
    }
}

impl Filter for GifFilter {
    fn on_field(&mut self, field: &[u8], _end: u64, out: &mut Output) -> Step {
        match self.state {
            State::Header => {
                out.owned(field);
                self.state = State::Block;
                match Self::colour_table(field[10]) {
                    0 => Step::Read(1),
                    table => Step::Copy(table),
                }
            }
            State::Block => match field[0] {
                0x2C => {
                    self.state = State::Descriptor;
                    Step::Read(9)
                }
                0x21 => {
                    self.state = State::Label;
                    Step::Read(1)
                }
                0x3B => {
                    out.owned(field);
                    self.state = State::Done;
                    Step::Rest(self.policy == MetadataPolicy::Keep)
                }
                _ => Step::Fail("an unknown block"),
            },
            State::Descriptor => {
                out.owned(&[0x2C]);
                out.owned(field);
                match Self::colour_table(field[8]) {
                    0 => {
                        self.state = State::CodeSize;
                        Step::Read(1)
                    }
                    table => {
                        self.state = State::Table;
                        Step::Copy(table)
                    }
                }
            }
            State::CodeSize => {
                out.owned(field);
                self.sub_blocks(true)
            }
            State::Label => match field[0] {
                0xFF => {
                    self.state = State::ApplicationLength;
                    Step::Read(1)
                }
                label => {
                    // Graphic control and plain text display; comments and unknown
                    // extensions do not.
                    let block = if matches!(label, 0xF9 | 0x01) {
                        Block::Display
                    } else {
                        Block::Private
                    };
                    let keep = self.policy.keeps(block);
                    if keep {
                        out.owned(&[0x21, label]);
                    }
                    self.sub_blocks(keep)
                }
            },
            State::ApplicationLength => {
                self.state = State::ApplicationId(field[0]);
                Step::Read(usize::from(field[0]))
            }
            State::ApplicationId(length) => {
                let block = if DISPLAY_APPLICATIONS.contains(&field) {
                    Block::Display
                } else {
                    Block::Private
                };
                let keep = self.policy.keeps(block);
                if keep {
                    out.owned(&[0x21, 0xFF, length]);
                    out.owned(field);
                }
                if length == 0 {
                    // The zero-length "first sub-block" was the terminator.
                    self.state = State::Block;
                    return Step::Read(1);
                }
                self.sub_blocks(keep)
            }
            State::Table | State::SubBlocks { .. } | State::Done => {
                Step::Fail("a field in a streamed state")
            }
        }
    }

    fn on_done(&mut self, _end: u64, _out: &mut Output) -> Step {
        if self.state == State::Table {
            self.state = State::CodeSize;
        } else {
            self.state = State::Block;
        }
        Step::Read(1)
    }

    fn on_scan(&mut self, bytes: &Bytes, _start: u64, out: &mut Output) -> (usize, Step) {
        let State::SubBlocks { keep } = self.state else {
            return (0, Step::Fail("data outside sub-blocks"));
        };
        let mut at = 0;
        while at < bytes.len() {
            match self.in_block {
                None => {
                    let length = bytes[at];
                    at += 1;
                    if length == 0 {
                        if keep {
                            out.pass(bytes.slice(..at));
                        }
                        self.state = State::Block;
                        return (at, Step::Read(1));
                    }
                    self.in_block = Some(length);
                }
                Some(left) => {
                    let take = usize::from(left).min(bytes.len() - at);
                    at += take;
                    self.in_block = (take < usize::from(left)).then(|| left - take as u8);
                }
            }
        }
        if keep {
            out.pass(bytes.clone());
        }
        (bytes.len(), Step::Scan)
    }

    fn orientation(&self) -> Option<Orientation> {
        None
    }
}
