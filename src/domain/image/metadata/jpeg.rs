//! JPEG: segments between SOI and the first scan, and between scans, are kept, dropped
//! or (EXIF) rewritten by kind; entropy-coded data passes as slices of the input; what
//! follows EOI (Multi-Picture thumbnails, vendor trailers) is dropped unless `keep`.

use bytes::Bytes;

use super::{Block, Filter, MetadataPolicy, Orientation, Output, Step, exif};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Soi,
    /// Expecting the `FF` of a marker.
    Prefix,
    /// After `FF`: fill bytes or the marker code.
    Code,
    /// A segment's length, for this marker.
    Length(u8),
    /// An APPn or COM segment's payload, read whole to be judged.
    Judged(u8),
    /// Copying a segment's payload; after a scan header, entropy-coded data follows.
    Copying {
        scan: bool,
    },
    /// Entropy-coded data.
    Entropy,
}

/// The filter; see the module documentation.
#[derive(Debug)]
pub(super) struct JpegFilter {
    policy: MetadataPolicy,
    state: State,
    /// `FF` bytes at the end of the entropy-coded data seen so far that are not yet
    /// known to be data (`FF 00`, a restart marker) or a marker's prefix and fill.
    held_ff: usize,
    orientation: Option<Orientation>,
}

impl JpegFilter {
    pub(super) fn new(policy: MetadataPolicy) -> Self {
        Self {
            policy,
            state: State::Soi,
            held_ff: 0,
            orientation: None,
        }
    }

    /// A marker code after `FF`; its `FF` is written only with a kept segment.
    fn on_code(&mut self, code: u8, out: &mut Output) -> Step {
        match code {
            0xD9 => {
                out.owned(&[0xFF, 0xD9]);
                Step::Rest(self.policy == MetadataPolicy::Keep)
            }
            0x01 => {
                out.owned(&[0xFF, 0x01]);
                self.state = State::Prefix;
                Step::Read(1)
            }
            0xD0..=0xD8 => Step::Fail("a restart or start-of-image marker between segments"),
            0xC0..=0xFE => {
                self.state = State::Length(code);
                Step::Read(2)
            }
            _ => Step::Fail("an unknown marker"),
        }
    }

    fn on_length(&mut self, code: u8, length: &[u8], out: &mut Output) -> Step {
        let value = u16::from_be_bytes([length[0], length[1]]);
        if value < 2 {
            return Step::Fail("a segment length under 2");
        }
        let payload = usize::from(value - 2);
        if matches!(code, 0xE0..=0xEF | 0xFE) {
            self.state = State::Judged(code);
            return Step::Read(payload);
        }
        out.owned(&[0xFF, code, length[0], length[1]]);
        self.state = State::Copying { scan: code == 0xDA };
        Step::Copy(payload as u64)
    }

    fn on_judged(&mut self, code: u8, payload: &[u8], out: &mut Output) {
        let block = match code {
            0xE0 if payload.starts_with(b"JFIF\0") => Block::Display,
            0xE1 if payload.starts_with(b"Exif\0\0") => {
                let rewritten = exif::rewrite(&payload[6..], self.policy);
                if self.orientation.is_none() {
                    self.orientation = rewritten.orientation;
                }
                if let Some(tiff) = rewritten.tiff {
                    write_segment(out, 0xE1, &[b"Exif\0\0", &tiff[..]]);
                }
                return;
            }
            0xE2 if payload.starts_with(b"ICC_PROFILE\0") => Block::Display,
            // Adobe's colour transform flag: without it CMYK/YCCK decode to wrong colours.
            0xEE if payload.starts_with(b"Adobe") => Block::Display,
            _ => Block::Private,
        };
        if self.policy.keeps(block) {
            write_segment(out, code, &[payload]);
        }
    }
}

/// Writes a segment; its parts together are at most a segment's 65,533 bytes (an EXIF
/// rewrite only ever shortens).
fn write_segment(out: &mut Output, code: u8, parts: &[&[u8]]) {
    let length: usize = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
    let Ok(length) = u16::try_from(length) else {
        return;
    };
    out.owned(&[0xFF, code]);
    out.owned(&length.to_be_bytes());
    for part in parts {
        out.owned(part);
    }
}

impl Filter for JpegFilter {
    fn on_field(&mut self, field: &[u8], _end: u64, out: &mut Output) -> Step {
        match self.state {
            State::Soi => {
                if field != [0xFF, 0xD8] {
                    return Step::Fail("no start-of-image marker");
                }
                out.owned(field);
                self.state = State::Prefix;
                Step::Read(1)
            }
            State::Prefix => {
                if field[0] != 0xFF {
                    return Step::Fail("bytes between segments");
                }
                self.state = State::Code;
                Step::Read(1)
            }
            // Fill bytes before a marker carry nothing and are not written.
            State::Code if field[0] == 0xFF => Step::Read(1),
            State::Code => self.on_code(field[0], out),
            State::Length(code) => self.on_length(code, field, out),
            State::Judged(code) => {
                self.on_judged(code, field, out);
                self.state = State::Prefix;
                Step::Read(1)
            }
            State::Copying { .. } | State::Entropy => Step::Fail("a field in a streamed state"),
        }
    }

    fn on_done(&mut self, _end: u64, _out: &mut Output) -> Step {
        if self.state == (State::Copying { scan: true }) {
            self.state = State::Entropy;
            self.held_ff = 0;
            return Step::Scan;
        }
        self.state = State::Prefix;
        Step::Read(1)
    }

    fn on_scan(&mut self, bytes: &Bytes, _start: u64, out: &mut Output) -> (usize, Step) {
        // `held_ff` counts the `FF`s just seen that may be data (`FF 00`, a restart
        // marker) or a marker's prefix and fill; `carried` of them came from an earlier
        // chunk and were not written with it.
        let mut carried = self.held_ff;
        let mut at = 0;
        while at < bytes.len() {
            if self.held_ff == 0 {
                match memchr::memchr(0xFF, &bytes[at..]) {
                    Some(found) => {
                        at += found + 1;
                        self.held_ff = 1;
                    }
                    None => at = bytes.len(),
                }
                continue;
            }
            let code = bytes[at];
            at += 1;
            match code {
                0xFF => self.held_ff += 1,
                0x00 | 0xD0..=0xD7 => {
                    // Data after all: what came from an earlier chunk is written now,
                    // the rest goes with this chunk's slice.
                    out.owned(&vec![0xFF; carried]);
                    carried = 0;
                    self.held_ff = 0;
                }
                _ => {
                    // A marker: its `FF` and fill bytes are not data.
                    let here = self.held_ff - carried;
                    out.pass(bytes.slice(..at - 1 - here));
                    self.held_ff = 0;
                    return (at, self.on_code(code, out));
                }
            }
        }
        // Written up to the `FF`s still held, which wait for the next chunk.
        let here = self.held_ff - carried;
        out.pass(bytes.slice(..bytes.len() - here));
        (bytes.len(), Step::Scan)
    }

    fn orientation(&self) -> Option<Orientation> {
        self.orientation
    }
}
