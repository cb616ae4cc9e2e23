//! Items and image metadata on SQLite: the embedded default that needs no set-up.
//!
//! Shape, chosen by measurement (see README "Benchmark"):
//! - **Reads** run inline on the calling task with a pooled read-only connection. They are
//!   short, bounded, indexed lookups on WAL pages (readers never wait for the writer), so
//!   they cost microseconds — less than a thread hand-off, which is what made a
//!   worker-thread-per-connection driver spend most of its time context switching.
//! - **Writes** go to one writer thread that owns the only read-write connection and
//!   commits in groups: every write waiting when a transaction starts joins it, each in
//!   its own savepoint (so one failing write does not fail its neighbours), and one fsync
//!   (`synchronous = FULL`) makes the whole group durable before any caller is answered.
//!
//! Files: this one (the handle, its read pool and write queue, closing), `writer.rs` (the
//! group-commit thread), `migrate.rs` (numbered migrations), `items.rs` and `images.rs`
//! (the two stores' queries).

mod images;
mod items;
mod migrate;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use self::writer::{CommitOutcome, Job, QUEUE, in_savepoint, write_loop};
use super::Database;
use crate::store::StoreError;

#[derive(Clone)]
pub struct SqliteDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    readers_in_use: AtomicU32,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl SqliteDatabase {
    /// Opens (creating when missing) the database file and its directory, and starts the
    /// writer thread.
    pub async fn connect(path: &Path, max_idle_readers: u32) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the database directory {}: {e}",
                    dir.display()
                )
            })?;
        }
        let path = path.to_path_buf();
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_writer(&path)).await??
        };
        let (sender, receiver) = mpsc::channel::<Job>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, receiver))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                readers: Mutex::new(Vec::new()),
                max_idle_readers: max_idle_readers.max(1) as usize,
                readers_in_use: AtomicU32::new(0),
                writer: Mutex::new(Some(sender)),
                writer_thread: Mutex::new(Some(thread)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Applies pending migrations on a connection of its own. Refuses a database that a
    /// newer pier has migrated further than this binary knows.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = open_writer(&path)?;
            migrate::run(&mut conn)
        })
        .await?
    }

    /// Runs a read on a pooled read-only connection, inline (see the module docs).
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path).map_err(db_error)?,
        };
        self.inner.readers_in_use.fetch_add(1, Ordering::Relaxed);
        let result = query(&conn);
        self.inner.readers_in_use.fetch_sub(1, Ordering::Relaxed);
        let mut idle = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.inner.max_idle_readers && !self.inner.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
        result.map_err(db_error)
    }

    /// Queues a write for the next group commit and waits until it is durable.
    async fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let sender = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = conn.map(|conn| in_savepoint(conn, statement));
            Box::new(move |commit: CommitOutcome| {
                let outcome = match (commit, result) {
                    (Err((unavailable, message)), _) => Err(if unavailable {
                        StoreError::Unavailable(format!("the database is unavailable: {message}"))
                    } else {
                        StoreError::Other(anyhow::anyhow!("commit failed: {message}"))
                    }),
                    (Ok(()), Some(result)) => result.map_err(db_error),
                    (Ok(()), None) => Err(closed()),
                };
                let _ = reply.send(outcome);
            })
        });
        sender.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is unavailable: it has been closed".into())
}

fn open_writer(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "cache_size", "-2000")?; // 2 MiB each; the OS page cache holds the rest
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn is_unavailable(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        error.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | CannotOpen
                | DiskFull
                | SystemIoFailure
                | ReadOnly
                | OutOfMemory
        )
    )
}

fn failure_of(error: &rusqlite::Error) -> (bool, String) {
    (is_unavailable(error), error.to_string())
}

/// Maps SQLite failures onto the API: a database that cannot answer now is a 503.
fn db_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(_, Some(message)) = &error
        && message == crate::store::OBJECT_BEING_DELETED
    {
        return StoreError::Conflict(message.clone());
    }
    if is_unavailable(&error) {
        StoreError::Unavailable(format!("the database is unavailable: {error}"))
    } else {
        StoreError::Other(anyhow::Error::new(error).context("database query failed"))
    }
}

fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
#[async_trait]
impl Database for SqliteDatabase {
    fn pool_state(&self) -> (u32, u32) {
        let idle = self
            .inner
            .readers
            .lock()
            .map(|r| r.len() as u32)
            .unwrap_or(0);
        // The writer connection counts as active: it is always held by its thread.
        (self.inner.readers_in_use.load(Ordering::Relaxed) + 1, idle)
    }

    fn pool_max(&self) -> u32 {
        // Readers are opened on demand (only idle ones are capped): there is no limit
        // to exhaust, so the pool alert can never fire on SQLite.
        u32::MAX
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        // Dropping the sender lets the writer finish what is queued, then exit; its
        // connection closes last and checkpoints the WAL.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let thread = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

#[cfg(test)]
mod tests;
