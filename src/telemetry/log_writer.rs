//! The log's writer: request threads append finished lines to one shared buffer, and a
//! writer thread writes the buffer out every few milliseconds in one `write`.
//!
//! Why not a channel with a line per message (`tracing-appender`): on a busy server
//! every line woke the writer thread, and those wake-ups (a context switch per request
//! on two cores) cost more than formatting the line. Here a request thread only takes a
//! short lock and copies its line; nothing is dropped (past [`MAX_BUFFERED`] bytes
//! writers wait for the writer thread), and [`LogWriterGuard`] writes out what is left
//! when the process ends.

use std::{
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::Duration,
};

/// How often the writer thread writes out what has gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Past this many buffered bytes the writer thread is woken at once.
const WAKE_AT: usize = 256 * 1024;

/// Past this many buffered bytes writers wait: memory stays bounded if the sink stalls.
const MAX_BUFFERED: usize = 8 << 20;

struct Shared {
    state: Mutex<State>,
    /// Signalled for the writer thread (much buffered, or stopping).
    work: Condvar,
    /// Signalled for waiting writers (the buffer was taken).
    room: Condvar,
}

#[derive(Default)]
struct State {
    buffer: Vec<u8>,
    stopping: bool,
}

/// A cheap, cloneable handle that appends whole lines to the log.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it wrote out everything buffered.
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// A writer into `sink`, and the guard that flushes it at the end.
    pub fn new(sink: Box<dyn Write + Send>) -> (Self, LogWriterGuard) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = shared.clone();
                move || write_out(&shared, sink)
            })
            .ok();
        (
            Self {
                shared: shared.clone(),
            },
            LogWriterGuard { shared, thread },
        )
    }

    /// Appends `line` (one or more whole lines).
    pub fn append(&self, line: &[u8]) {
        let mut state = lock(&self.shared.state);
        while state.buffer.len() >= MAX_BUFFERED && !state.stopping {
            self.shared.work.notify_one();
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.buffer.extend_from_slice(line);
        if state.buffer.len() >= WAKE_AT {
            self.shared.work.notify_one();
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        lock(&self.shared.state).stopping = true;
        self.shared.work.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer thread: every [`FLUSH_EVERY`] (or sooner when woken) takes the buffer and
/// writes it out; ends after a last write once stopping.
fn write_out(shared: &Shared, mut sink: Box<dyn Write + Send>) {
    let mut taken = Vec::new();
    loop {
        let stopping = {
            let mut state = lock(&shared.state);
            if state.buffer.len() < WAKE_AT && !state.stopping {
                state = shared
                    .work
                    .wait_timeout(state, FLUSH_EVERY)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut state.buffer, &mut taken);
            state.stopping
        };
        shared.room.notify_all();
        if !taken.is_empty() {
            let _ = sink.write_all(&taken);
            let _ = sink.flush();
            taken.clear();
            // Keep a buffer of ordinary size for the next swap, not a burst's.
            taken.shrink_to(WAKE_AT);
        }
        if stopping && lock(&shared.state).buffer.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_once_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = LogWriter::new(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        writer.append(format!("{t} {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "thread {t}'s lines in order, none lost");
            next[t] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }

    #[test]
    fn lines_appear_within_a_flush_interval_without_a_wake_up() {
        let sink = Sink::default();
        let (writer, _guard) = LogWriter::new(Box::new(sink.clone()));
        writer.append(b"one line\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&sink.0.lock().unwrap()[..], b"one line\n");
    }
}
