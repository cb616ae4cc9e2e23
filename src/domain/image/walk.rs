//! The streaming driver shared by the format walkers: an upload arrives in chunks of any
//! size, and each walker only ever sees what it asked for — the next `n` bytes, a skip
//! over `n` bytes it does not need, or the raw stream (JPEG's entropy-coded data). So a
//! walker is a plain state machine, memory stays bounded by the largest field it reads
//! (never the file), and the verdict cannot depend on how the stream was chunked.

use super::ImageRejection;

/// What a walker needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Exactly this many bytes, handed over at once (kept small: a field, a header).
    Bytes(usize),
    /// Pass over this many bytes without looking at them.
    Skip(u64),
    /// Whatever arrives, chunk by chunk; the walker says how much it used.
    Stream,
}

/// A format's structure as a push parser.
pub(super) trait Walker {
    /// The bytes asked for by the last [`Want::Bytes`]; `end` is the stream offset just
    /// after them.
    fn on_bytes(&mut self, bytes: &[u8], end: u64) -> Result<Want, ImageRejection>;
    /// The last [`Want::Skip`] is done.
    fn on_skipped(&mut self, end: u64) -> Result<Want, ImageRejection>;
    /// Input while in [`Want::Stream`]; returns how many bytes it used (all of them unless
    /// it wants something else next) and what it wants next.
    fn on_stream(&mut self, bytes: &[u8], start: u64) -> Result<(usize, Want), ImageRejection>;
}

/// Most bytes one [`Want::Bytes`] may ask for: every field a walker reads is small.
pub(super) const MAX_FIELD: usize = 1 << 16;

/// Feeds a walker from a stream of chunks.
#[derive(Debug)]
pub(super) struct Driver {
    want: Want,
    field: Vec<u8>,
    offset: u64,
}

impl Driver {
    /// A driver whose walker first wants `first`.
    pub(super) fn new(first: Want) -> Self {
        Self {
            want: first,
            field: Vec::new(),
            offset: 0,
        }
    }

    /// Hands `chunk` to `walker`, as it asks.
    pub(super) fn feed(
        &mut self,
        walker: &mut impl Walker,
        mut chunk: &[u8],
    ) -> Result<(), ImageRejection> {
        while !chunk.is_empty() {
            match self.want {
                Want::Bytes(n) => {
                    debug_assert!(n <= MAX_FIELD);
                    if self.field.is_empty() && chunk.len() >= n {
                        // The common case: the whole field is in this chunk, no copy.
                        let (field, rest) = chunk.split_at(n);
                        self.offset += n as u64;
                        chunk = rest;
                        self.want = walker.on_bytes(field, self.offset)?;
                        continue;
                    }
                    let take = (n - self.field.len()).min(chunk.len());
                    self.field.extend_from_slice(&chunk[..take]);
                    self.offset += take as u64;
                    chunk = &chunk[take..];
                    if self.field.len() == n {
                        let field = std::mem::take(&mut self.field);
                        self.want = walker.on_bytes(&field, self.offset)?;
                    }
                }
                Want::Skip(n) => {
                    let take = n.min(chunk.len() as u64);
                    self.offset += take;
                    chunk = &chunk[take as usize..];
                    if take == n {
                        self.want = walker.on_skipped(self.offset)?;
                    } else {
                        self.want = Want::Skip(n - take);
                    }
                }
                Want::Stream => {
                    let (used, next) = walker.on_stream(chunk, self.offset)?;
                    let used = used.min(chunk.len());
                    self.offset += used as u64;
                    chunk = &chunk[used..];
                    self.want = next;
                }
            }
            // A zero-length request is answered at once.
            while self.want == Want::Bytes(0) || self.want == Want::Skip(0) {
                self.want = match self.want {
                    Want::Bytes(_) => walker.on_bytes(&[], self.offset)?,
                    _ => walker.on_skipped(self.offset)?,
                };
            }
        }
        Ok(())
    }
}

/// Big-endian `u16` at `at`.
pub(super) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Big-endian `u32` at `at`.
pub(super) fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Little-endian `u16` at `at`.
pub(super) fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// Little-endian 24-bit value at `at`.
pub(super) fn le24(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], 0])
}

/// Little-endian `u32` at `at`.
pub(super) fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
