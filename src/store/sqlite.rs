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

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::{Database, ImageMetaStore, ImageRecord, Item, ItemStore};
use crate::{
    domain::{ImageId, ItemId, NewItem, Price},
    store::StoreError,
};

/// Numbered migrations, embedded in the binary and applied in order, each in its own
/// transaction, recorded in `pier_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "items_and_images",
    include_str!("../../migrations/sqlite/0001_items_and_images.sql"),
)];

/// Most writes committed by one transaction (one fsync).
const MAX_GROUP: usize = 512;
/// Most queued writes before callers wait for room (back-pressure, bounded memory).
const QUEUE: usize = 4096;

/// Outcome of a group commit, shared by every write in the group.
type CommitOutcome = Result<(), (bool, String)>;
/// Sends one write's result once its group's commit outcome is known.
type Delivery = Box<dyn FnOnce(CommitOutcome) + Send>;
/// A write: runs inside the group's transaction (or learns the group could not start).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Delivery + Send>;

/// The SQLite database: a writer thread and a pool of read-only connections over one file.
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
            migrate(&mut conn)
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

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS pier_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let newest_known = MIGRATIONS.last().map_or(0, |m| m.0);
    let newest_applied: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM pier_migrations",
        [],
        |r| r.get(0),
    )?;
    anyhow::ensure!(
        newest_applied <= newest_known,
        "the database is at migration {newest_applied}, newer than this pier knows ({newest_known}); run a newer pier"
    );
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction()?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM pier_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)
                .map_err(|e| anyhow::anyhow!("migration {version} ({name}) failed: {e}"))?;
            tx.execute(
                "INSERT INTO pier_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, now_micros()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// The writer thread: take every waiting write, run them in one transaction, commit
/// once, then answer each caller. Ends when every sender is gone.
fn write_loop(conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            let failure = failure_of(&error);
            for job in group {
                job(None)(Err(failure.clone()));
            }
            continue;
        }
        let deliveries: Vec<Delivery> = group.into_iter().map(|job| job(Some(&conn))).collect();
        let outcome = match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(failure_of(&error))
            }
        };
        for deliver in deliveries {
            deliver(outcome.clone());
        }
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    statement: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT write")?;
    match statement(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE write")?;
            Ok(value)
        }
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
            Err(error)
        }
    }
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

/// Columns of an item row, in the order `item_from_row` reads them.
macro_rules! item_columns {
    () => {
        "id, name, description, price_cents, created_at, updated_at"
    };
}

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        price: row.get::<_, Option<i64>>(3)?.and_then(Price::from_cents),
        created_at: from_micros(row.get(4)?),
        updated_at: from_micros(row.get(5)?),
    })
}

#[async_trait]
impl ItemStore for SqliteDatabase {
    async fn create(&self, item: &NewItem) -> Result<Item, StoreError> {
        let item = item.clone();
        self.write(move |conn| {
            let now = now_micros();
            conn.prepare_cached(concat!("INSERT INTO items (name, description, price_cents, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) RETURNING ", item_columns!()))?
            .query_row(
                params![item.name.as_str(), item.description.as_ref().map(|d| d.as_str()), item.price.map(Price::cents), now],
                item_from_row,
            )
        })
        .await
    }

    async fn get(&self, id: ItemId) -> Result<Option<Item>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                item_columns!(),
                " FROM items WHERE id = ?1"
            ))?
            .query_row([id], item_from_row)
            .optional()
        })
    }

    async fn list(&self, after: Option<ItemId>, limit: u16) -> Result<Vec<Item>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                item_columns!(),
                " FROM items WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after.unwrap_or(i64::MIN), limit], item_from_row)?
            .collect()
        })
    }

    async fn replace(&self, id: ItemId, item: &NewItem) -> Result<Option<Item>, StoreError> {
        let item = item.clone();
        self.write(move |conn| {
            conn.prepare_cached(concat!("UPDATE items SET name = ?1, description = ?2, price_cents = ?3, updated_at = ?4 WHERE id = ?5 RETURNING ", item_columns!()))?
            .query_row(
                params![item.name.as_str(), item.description.as_ref().map(|d| d.as_str()), item.price.map(Price::cents), now_micros(), id],
                item_from_row,
            )
            .optional()
        })
        .await
    }

    async fn delete(&self, id: ItemId) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM items WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }
}

/// Columns of an image row, in the order `image_from_row` reads them.
macro_rules! image_columns {
    () => {
        "id, filename, content_type, size, width, height, sha256, location, created_at"
    };
}

fn image_from_row(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let corrupt = |column: usize| rusqlite::Error::IntegralValueOutOfRange(column, -1);
    let id: String = row.get(0)?;
    Ok(ImageRecord {
        id: ImageId::parse(&id).ok_or_else(|| corrupt(0))?,
        filename: row.get(1)?,
        content_type: row.get(2)?,
        size: u64::try_from(row.get::<_, i64>(3)?).map_err(|_| corrupt(3))?,
        width: row.get(4)?,
        height: row.get(5)?,
        sha256: row.get(6)?,
        location: row.get(7)?,
        created_at: from_micros(row.get(8)?),
    })
}

#[async_trait]
impl ImageMetaStore for SqliteDatabase {
    async fn insert_all(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.write(move |conn| {
            let mut insert = conn.prepare_cached(concat!(
                "INSERT INTO images (",
                image_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?;
            for r in &records {
                insert.execute(params![
                    r.id.to_string(),
                    r.filename,
                    r.content_type,
                    i64::try_from(r.size).unwrap_or(i64::MAX),
                    r.width,
                    r.height,
                    r.sha256,
                    r.location,
                    (r.created_at.unix_timestamp_nanos() / 1000) as i64
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, id: ImageId) -> Result<Option<ImageRecord>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE id = ?1"
            ))?
            .query_row([id.to_string()], image_from_row)
            .optional()
        })
    }

    async fn list(
        &self,
        before: Option<ImageId>,
        limit: u16,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        // Every id sorts below "g", so an absent cursor starts at the newest image.
        let before = before.map_or_else(|| "g".to_owned(), |id| id.to_string());
        self.read(|conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
            ))?
            .query_map(params![before, limit], image_from_row)?
            .collect()
        })
    }

    async fn delete(&self, id: ImageId) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM images WHERE id = ?1")?
                .execute([id.to_string()])?
                > 0)
        })
        .await
    }

    async fn reachable(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
    }
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
mod tests {
    use super::*;
    use crate::domain::ItemName;

    fn new_item(name: &str) -> NewItem {
        NewItem {
            name: ItemName::parse(name).unwrap(),
            description: None,
            price: Price::from_cents(1999),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_grouped_and_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteDatabase::connect(&path, 4).await.unwrap();
        db.migrate().await.unwrap();
        let writes = (0..500).map(|n| {
            let db = db.clone();
            tokio::spawn(async move { db.create(&new_item(&format!("n{n}"))).await })
        });
        let created = futures::future::join_all(writes).await;
        let mut ids: Vec<i64> = created
            .into_iter()
            .map(|r| r.unwrap().unwrap().id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 500);
        db.close().await;
        // Everything acknowledged is in the file, as seen by a fresh connection.
        let reopened = SqliteDatabase::connect(&path, 1).await.unwrap();
        assert_eq!(
            ItemStore::list(&reopened, None, 1000).await.unwrap().len(),
            500
        );
    }

    #[tokio::test]
    async fn one_failing_write_does_not_fail_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::connect(&dir.path().join("t.db"), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let bad = db.write(|conn| conn.execute("INSERT INTO no_such_table VALUES (1)", []));
        let kept = new_item("kept");
        let good = db.create(&kept);
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        assert!(good.is_ok());
        assert_eq!(ItemStore::list(&db, None, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn migrations_are_idempotent_and_refuse_a_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteDatabase::connect(&path, 1).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO pier_migrations VALUES (999, 'from the future', 0)",
            [],
        )
        .unwrap();
        let error = db.migrate().await.unwrap_err().to_string();
        assert!(error.contains("newer"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_database_answers_503() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::connect(&dir.path().join("t.db"), 1)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        db.close().await;
        assert!(matches!(
            ItemStore::get(&db, 1).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            db.create(&new_item("x")).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            db.reachable().await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
