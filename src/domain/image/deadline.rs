//! The bytes of an image as a reader with a deadline, for every decoder pier runs.
//!
//! One reader type for all of them on purpose: the decoders are generic over their
//! input, so each reader type is another copy of a whole decoder in the binary (the
//! header check and the thumbnail decode share zune-jpeg's this way).

use std::{
    io::{BufRead, Cursor, Read, Seek, SeekFrom},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

/// The stored bytes as a reader that ends once the decode's time is up: every decoder
/// pulls its input through `read`, so a decode that runs too long runs out of input
/// and stops instead of holding a thread and its memory. The clock is read once per
/// 4096 reads (zune-jpeg reads a byte at a time).
#[derive(Clone)]
pub struct DeadlineReader<'a> {
    cursor: Cursor<&'a [u8]>,
    deadline: Instant,
    reads: u32,
    expired: Arc<AtomicBool>,
}

impl<'a> DeadlineReader<'a> {
    /// A reader of `bytes` that ends at `deadline`.
    pub fn new(bytes: &'a [u8], deadline: Instant) -> Self {
        Self {
            cursor: Cursor::new(bytes),
            deadline,
            reads: 0,
            expired: Arc::default(),
        }
    }

    /// Whether the deadline ended the reading.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    fn check(&mut self) -> std::io::Result<()> {
        self.reads = self.reads.wrapping_add(1);
        if self.reads % 4096 == 1 && Instant::now() > self.deadline {
            self.expired.store(true, Ordering::Relaxed);
        }
        if self.expired() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the decode's time is up",
            ));
        }
        Ok(())
    }
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        self.cursor.read(buf)
    }
}

impl BufRead for DeadlineReader<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.check()?;
        self.cursor.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.cursor.consume(amount)
    }
}

impl Seek for DeadlineReader<'_> {
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        self.cursor.seek(position)
    }
}
