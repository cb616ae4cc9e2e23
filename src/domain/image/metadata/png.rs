//! PNG: chunks are kept (critical ones, and the ancillary ones displaying needs),
//! dropped (text, time, unknown), or rewritten (`eXIf`, with a new CRC); what follows
//! `IEND` is dropped unless `keep`.

use super::{Block, Filter, MAX_FIELD, MetadataPolicy, Orientation, Output, Step, exif};

/// Ancillary chunks that change how the pixels look or move: transparency, colour
/// (gamma, chromaticities, sRGB, ICC, CICP, HDR metadata), significant bits, background,
/// pixel aspect, and APNG's animation control.
const DISPLAY: [&[u8; 4]; 14] = [
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"acTL", b"fcTL",
    b"fdAT", b"cICP", b"mDCV", b"cLLI",
];

/// Text keywords that credit the image's maker (PNG's own copyright fields).
const CREDITS: [&[u8]; 2] = [b"Copyright", b"Author"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Signature,
    ChunkHead,
    /// A chunk read whole (data and CRC) to be judged, after this head.
    Judged([u8; 8]),
    Copying,
    /// Copying `IEND`.
    End,
}

/// The filter; see the module documentation.
#[derive(Debug)]
pub(super) struct PngFilter {
    policy: MetadataPolicy,
    state: State,
    orientation: Option<Orientation>,
}

impl PngFilter {
    pub(super) fn new(policy: MetadataPolicy) -> Self {
        Self {
            policy,
            state: State::Signature,
            orientation: None,
        }
    }

    fn on_head(&mut self, head: &[u8], out: &mut Output) -> Step {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        if length > i32::MAX as u32 {
            return Step::Fail("a chunk longer than 2^31 - 1 bytes");
        }
        let whole = u64::from(length) + 4;
        let critical = kind[0] & 0x20 == 0;
        let mut keep = |state: State| {
            out.owned(head);
            self.state = state;
            Step::Copy(whole)
        };
        if &kind == b"IEND" {
            return keep(State::End);
        }
        let fits = whole <= MAX_FIELD as u64;
        // `eXIf` is read under every policy, for its orientation.
        let judged = match &kind {
            b"eXIf" => fits,
            _ if critical || DISPLAY.contains(&&kind) || self.policy == MetadataPolicy::Keep => {
                return keep(State::Copying);
            }
            b"tEXt" | b"zTXt" | b"iTXt" => fits && self.policy.keeps(Block::Credit),
            _ => false,
        };
        if judged {
            let mut saved = [0u8; 8];
            saved.copy_from_slice(head);
            self.state = State::Judged(saved);
            return Step::Read(whole as usize);
        }
        if self.policy == MetadataPolicy::Keep {
            return keep(State::Copying);
        }
        self.state = State::Copying;
        Step::Drop(whole)
    }

    fn on_judged(&mut self, head: [u8; 8], chunk: &[u8], out: &mut Output) {
        let data = &chunk[..chunk.len() - 4];
        if &head[4..] == b"eXIf" {
            let rewritten = exif::rewrite(data, self.policy);
            if self.orientation.is_none() {
                self.orientation = rewritten.orientation;
            }
            if self.policy == MetadataPolicy::Keep {
                out.owned(&head);
                out.owned(chunk);
            } else if let Some(tiff) = rewritten.tiff {
                write_chunk(out, b"eXIf", &tiff);
            }
            return;
        }
        let keyword = data.split(|&b| b == 0).next().unwrap_or_default();
        if CREDITS.contains(&keyword) {
            out.owned(&head);
            out.owned(chunk);
        }
    }
}

/// Writes a chunk with its length and CRC.
fn write_chunk(out: &mut Output, kind: &[u8; 4], data: &[u8]) {
    let Ok(length) = u32::try_from(data.len()) else {
        return;
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.owned(&length.to_be_bytes());
    out.owned(kind);
    out.owned(data);
    out.owned(&crc.finalize().to_be_bytes());
}

impl Filter for PngFilter {
    fn on_field(&mut self, field: &[u8], _end: u64, out: &mut Output) -> Step {
        match self.state {
            State::Signature => {
                if field != b"\x89PNG\r\n\x1a\n" {
                    return Step::Fail("no PNG signature");
                }
                out.owned(field);
                self.state = State::ChunkHead;
                Step::Read(8)
            }
            State::ChunkHead => self.on_head(field, out),
            State::Judged(head) => {
                self.on_judged(head, field, out);
                self.state = State::ChunkHead;
                Step::Read(8)
            }
            State::Copying | State::End => Step::Fail("a field in a streamed state"),
        }
    }

    fn on_done(&mut self, _end: u64, _out: &mut Output) -> Step {
        if self.state == State::End {
            return Step::Rest(self.policy == MetadataPolicy::Keep);
        }
        self.state = State::ChunkHead;
        Step::Read(8)
    }

    fn orientation(&self) -> Option<Orientation> {
        self.orientation
    }
}
