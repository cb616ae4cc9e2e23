//! WebP: the RIFF length comes first, so nothing is shortened (see the module
//! documentation of [`super`]): removed chunks become zero-filled `JUNK` chunks of the
//! same length, the EXIF chunk keeps its length with the rewritten directory
//! zero-padded, and VP8X's XMP flag is cleared. Animation frames (`ANMF`) are copied
//! whole; anything after the RIFF is dropped unless `keep`.

use super::{Block, Filter, MAX_FIELD, MetadataPolicy, Orientation, Output, Step, exif};

/// Chunks of the image itself and of how it displays.
const DISPLAY: [&[u8; 4]; 7] = [
    b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];

/// VP8X's flag saying an XMP chunk follows.
const XMP_FLAG: u8 = 0x04;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Riff,
    ChunkHead,
    /// VP8X's flags and canvas, then the rest of the chunk.
    Extended(u64),
    /// An EXIF chunk's payload read whole (padding included).
    Exif,
    /// The 14 bytes of an EXIF chunk too large to read, left out: then its rest blanked.
    ExifHead(u64),
    Copying,
}

/// The filter; see the module documentation.
#[derive(Debug)]
pub(super) struct WebpFilter {
    policy: MetadataPolicy,
    state: State,
    riff_end: u64,
    orientation: Option<Orientation>,
}

impl WebpFilter {
    pub(super) fn new(policy: MetadataPolicy) -> Self {
        Self {
            policy,
            state: State::Riff,
            riff_end: 0,
            orientation: None,
        }
    }

    fn next_chunk(&mut self, at: u64) -> Step {
        if at + 8 > self.riff_end {
            // Past the RIFF (or a head that cannot fit in it).
            let inside = self.riff_end.saturating_sub(at);
            if inside > 0 {
                self.state = State::Copying;
                return Step::Copy(inside);
            }
            return Step::Rest(self.policy == MetadataPolicy::Keep);
        }
        self.state = State::ChunkHead;
        Step::Read(8)
    }

    fn on_head(&mut self, head: &[u8], at: u64, out: &mut Output) -> Step {
        let kind: [u8; 4] = [head[0], head[1], head[2], head[3]];
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        if at + size > self.riff_end {
            return Step::Fail("a chunk runs past its container");
        }
        // The padding byte of an odd-sized last chunk may be missing.
        let padded = (size + (size & 1)).min(self.riff_end - at);
        if self.policy == MetadataPolicy::Keep && &kind != b"EXIF" {
            out.owned(head);
            self.state = State::Copying;
            return Step::Copy(padded);
        }
        match &kind {
            b"VP8X" if padded >= 10 => {
                out.owned(head);
                self.state = State::Extended(padded - 10);
                Step::Read(10)
            }
            b"EXIF" if padded <= MAX_FIELD as u64 => {
                out.owned(head);
                self.state = State::Exif;
                Step::Read(padded as usize)
            }
            b"EXIF" if padded >= exif::EMPTY_TIFF.len() as u64 => {
                out.owned(head);
                out.owned(&exif::EMPTY_TIFF);
                self.state = State::ExifHead(padded - exif::EMPTY_TIFF.len() as u64);
                Step::Drop(exif::EMPTY_TIFF.len() as u64)
            }
            _ if DISPLAY.contains(&&kind) && self.policy.keeps(Block::Display) => {
                out.owned(head);
                self.state = State::Copying;
                Step::Copy(padded)
            }
            _ => {
                out.owned(b"JUNK");
                out.owned(&head[4..]);
                self.state = State::Copying;
                Step::Blank(padded)
            }
        }
    }
}

impl Filter for WebpFilter {
    fn on_field(&mut self, field: &[u8], end: u64, out: &mut Output) -> Step {
        match self.state {
            State::Riff => {
                if &field[0..4] != b"RIFF" || &field[8..12] != b"WEBP" {
                    return Step::Fail("no RIFF WEBP header");
                }
                out.owned(field);
                let size = u32::from_le_bytes([field[4], field[5], field[6], field[7]]);
                self.riff_end = 8 + u64::from(size);
                self.next_chunk(end)
            }
            State::ChunkHead => self.on_head(field, end, out),
            State::Extended(rest) => {
                let mut flags = field.to_vec();
                if self.policy != MetadataPolicy::Keep {
                    flags[0] &= !XMP_FLAG;
                }
                out.owned(&flags);
                self.state = State::Copying;
                Step::Copy(rest)
            }
            State::Exif => {
                // Some writers put JPEG's "Exif\0\0" before the directory.
                let tiff = field.strip_prefix(b"Exif\0\0").unwrap_or(field);
                let rewritten = exif::rewrite(tiff, self.policy);
                if self.orientation.is_none() {
                    self.orientation = rewritten.orientation;
                }
                if self.policy == MetadataPolicy::Keep {
                    out.owned(field);
                } else {
                    let kept = rewritten
                        .tiff
                        .filter(|tiff| tiff.len() <= field.len())
                        .unwrap_or_else(|| exif::EMPTY_TIFF.to_vec());
                    let kept = &kept[..kept.len().min(field.len())];
                    out.owned(kept);
                    out.zeros(field.len() - kept.len());
                }
                self.next_chunk(end)
            }
            State::ExifHead(_) | State::Copying => Step::Fail("a field in a streamed state"),
        }
    }

    fn on_done(&mut self, end: u64, _out: &mut Output) -> Step {
        if let State::ExifHead(rest) = self.state {
            self.state = State::Copying;
            return Step::Blank(rest);
        }
        self.next_chunk(end)
    }

    fn orientation(&self) -> Option<Orientation> {
        self.orientation
    }
}
