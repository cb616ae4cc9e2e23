//! Items and image metadata on SQLite: the embedded default that needs no set-up.
//!
//! One writer connection (SQLite allows one writer at a time; a single connection
//! avoids lock contention and `SQLITE_BUSY`) and a pool of readers, in WAL mode so
//! reads never wait for writes. `synchronous = FULL`: a committed write survives a
//! power cut, which is what a 201 promises.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use time::OffsetDateTime;

use super::{Database, ImageMetaStore, ImageRecord, Item, ItemStore};
use crate::{
    domain::{ImageId, ItemId, NewItem, Price},
    error::ApiError,
};

/// Migrations embedded in the binary, applied by `pier migrate` and at serve start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite database: a writer connection and a reader pool over one file.
#[derive(Clone)]
pub struct SqliteDatabase {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteDatabase {
    /// Opens (creating when missing) the database file and its directory.
    pub async fn connect(path: &Path, readers: u32) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the database directory {}: {e}",
                    dir.display()
                )
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let writer = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(readers.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await;
        // A read-only connection fails on a database file that does not exist yet; the
        // writer has created it by now, so this only fails for real reasons.
        let readers = readers?;
        Ok(Self { writer, readers })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }
}

fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    name: String,
    description: Option<String>,
    price_cents: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<ItemRow> for Item {
    fn from(row: ItemRow) -> Self {
        Item {
            id: row.id,
            name: row.name,
            description: row.description,
            price: row.price_cents.and_then(Price::from_cents),
            created_at: from_micros(row.created_at),
            updated_at: from_micros(row.updated_at),
        }
    }
}

#[async_trait]
impl ItemStore for SqliteDatabase {
    async fn create(&self, item: &NewItem) -> Result<Item, ApiError> {
        let now = now_micros();
        let row: ItemRow = sqlx::query_as(
            "INSERT INTO items (name, description, price_cents, created_at, updated_at) VALUES (?, ?, ?, ?, ?) \
             RETURNING id, name, description, price_cents, created_at, updated_at",
        )
        .bind(item.name.as_str())
        .bind(item.description.as_ref().map(|d| d.as_str()))
        .bind(item.price.map(Price::cents))
        .bind(now)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.into())
    }

    async fn get(&self, id: ItemId) -> Result<Option<Item>, ApiError> {
        let row: Option<ItemRow> = sqlx::query_as(
            "SELECT id, name, description, price_cents, created_at, updated_at FROM items WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(Item::from))
    }

    async fn list(&self, after: Option<ItemId>, limit: u16) -> Result<Vec<Item>, ApiError> {
        let rows: Vec<ItemRow> = sqlx::query_as(
            "SELECT id, name, description, price_cents, created_at, updated_at FROM items \
             WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(Item::from).collect())
    }

    async fn replace(&self, id: ItemId, item: &NewItem) -> Result<Option<Item>, ApiError> {
        let row: Option<ItemRow> = sqlx::query_as(
            "UPDATE items SET name = ?, description = ?, price_cents = ?, updated_at = ? WHERE id = ? \
             RETURNING id, name, description, price_cents, created_at, updated_at",
        )
        .bind(item.name.as_str())
        .bind(item.description.as_ref().map(|d| d.as_str()))
        .bind(item.price.map(Price::cents))
        .bind(now_micros())
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(Item::from))
    }

    async fn delete(&self, id: ItemId) -> Result<bool, ApiError> {
        let done = sqlx::query("DELETE FROM items WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[derive(sqlx::FromRow)]
struct ImageRow {
    id: String,
    filename: String,
    content_type: String,
    size: i64,
    width: i64,
    height: i64,
    sha256: String,
    location: String,
    created_at: i64,
}

impl TryFrom<ImageRow> for ImageRecord {
    type Error = ApiError;

    fn try_from(row: ImageRow) -> Result<Self, ApiError> {
        let corrupt = || ApiError::Internal(anyhow::anyhow!("corrupt image row {}", row.id));
        Ok(ImageRecord {
            id: ImageId::parse(&row.id).ok_or_else(corrupt)?,
            size: u64::try_from(row.size).map_err(|_| corrupt())?,
            width: u32::try_from(row.width).map_err(|_| corrupt())?,
            height: u32::try_from(row.height).map_err(|_| corrupt())?,
            created_at: from_micros(row.created_at),
            filename: row.filename,
            content_type: row.content_type,
            sha256: row.sha256,
            location: row.location,
        })
    }
}

#[async_trait]
impl ImageMetaStore for SqliteDatabase {
    async fn insert_all(&self, records: &[ImageRecord]) -> Result<(), ApiError> {
        let mut tx = self.writer.begin().await?;
        for record in records {
            sqlx::query(
                "INSERT INTO images (id, filename, content_type, size, width, height, sha256, location, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(record.id.to_string())
            .bind(&record.filename)
            .bind(&record.content_type)
            .bind(record.size as i64)
            .bind(i64::from(record.width))
            .bind(i64::from(record.height))
            .bind(&record.sha256)
            .bind(&record.location)
            .bind((record.created_at.unix_timestamp_nanos() / 1000) as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: ImageId) -> Result<Option<ImageRecord>, ApiError> {
        let row: Option<ImageRow> = sqlx::query_as(
            "SELECT id, filename, content_type, size, width, height, sha256, location, created_at FROM images WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.readers)
        .await?;
        row.map(ImageRecord::try_from).transpose()
    }

    async fn list(
        &self,
        before: Option<ImageId>,
        limit: u16,
    ) -> Result<Vec<ImageRecord>, ApiError> {
        // Any id sorts below "g…", so an absent cursor starts at the newest image.
        let before = before.map_or_else(|| "g".to_owned(), |id| id.to_string());
        let rows: Vec<ImageRow> = sqlx::query_as(
            "SELECT id, filename, content_type, size, width, height, sha256, location, created_at FROM images \
             WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(ImageRecord::try_from).collect()
    }

    async fn delete(&self, id: ImageId) -> Result<bool, ApiError> {
        let done = sqlx::query("DELETE FROM images WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    async fn ping(&self) -> Result<(), ApiError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    fn pool_state(&self) -> (u32, u32) {
        let size = self.readers.size() + self.writer.size();
        let idle = (self.readers.num_idle() + self.writer.num_idle()) as u32;
        (size.saturating_sub(idle), idle)
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
