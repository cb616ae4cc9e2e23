//! Items and image metadata on PostgreSQL: what a fleet of replicas shares.
//!
//! The pool connects lazily, so pier starts (and answers 503 on the endpoints that need
//! the database) while PostgreSQL is down, and recovers by itself when it returns:
//! migrations are retried in the background and every query waits at most a few
//! seconds for a connection.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use sqlx::{
    PgPool, Row,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};
use time::OffsetDateTime;

use super::{
    Database, Deleted, ImageMetaStore, ImageRecord, Item, ItemStore, OBJECT_BEING_DELETED, Switched,
};
use crate::{
    domain::{ImageId, ItemId, NewItem, Price},
    store::StoreError,
};

/// Migrations embedded in the binary, applied by `pier migrate` and at serve start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL database behind a connection pool.
#[derive(Clone)]
pub struct PgDatabase {
    pool: PgPool,
    migrated: Arc<AtomicBool>,
}

impl PgDatabase {
    /// Prepares a pool for `url` without connecting yet.
    pub fn connect_lazy(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid postgres:// URL: {e}"))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(3))
            .idle_timeout(Duration::from_secs(300))
            // A broken connection fails one query (503) and is replaced; no ping per query.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            migrated: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Applies pending migrations; until they have succeeded every query answers 503.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await?;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    /// Retries migrations every two seconds until they succeed (database down at start).
    pub async fn migrate_until_done(self) {
        loop {
            match self.migrate().await {
                Ok(()) => {
                    tracing::info!("database migrations applied");
                    return;
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "database not ready; retrying migrations")
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    fn pool(&self) -> Result<&PgPool, StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            Ok(&self.pool)
        } else {
            Err(StoreError::Unavailable(
                "the database is unavailable: its schema is not ready yet".into(),
            ))
        }
    }
}

/// Maps database failures onto the API: one that cannot be reached now is a 503.
fn pg_error(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // connection exceptions, admin shutdown, crash shutdown, cannot connect now,
            // too many connections
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(format!("the database is unavailable: {error}"))
    } else {
        StoreError::Other(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Decodes an optional row, mapping decode failures like query failures.
fn decode_optional<T>(
    row: Option<PgRow>,
    decode: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Option<T>, StoreError> {
    row.as_ref().map(decode).transpose().map_err(pg_error)
}

/// Decodes every row of a listing.
fn decode_all<T>(
    rows: Vec<PgRow>,
    decode: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(decode)
        .collect::<Result<_, _>>()
        .map_err(pg_error)
}

fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // PostgreSQL keeps microseconds; drop the rest so what we return is what is stored.
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

fn item_from_row(row: &PgRow) -> Result<Item, sqlx::Error> {
    let price: Option<String> = row.try_get("price")?;
    Ok(Item {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price: price.and_then(|text| Price::parse_json_number(&text).ok()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl ItemStore for PgDatabase {
    async fn create(&self, item: &NewItem) -> Result<Item, StoreError> {
        let row = sqlx::query(
            "INSERT INTO items (name, description, price, created_at, updated_at) VALUES ($1, $2, $3::numeric, $4, $4) \
             RETURNING id, name, description, price::text AS price, created_at, updated_at",
        )
        .bind(item.name.as_str())
        .bind(item.description.as_ref().map(|d| d.as_str()))
        .bind(item.price.map(|p| p.to_string()))
        .bind(now())
        .fetch_one(self.pool()?)
        .await
        .map_err(pg_error)?;
        item_from_row(&row).map_err(pg_error)
    }

    async fn get(&self, id: ItemId) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT id, name, description, price::text AS price, created_at, updated_at FROM items WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool()?)
            .await
            .map_err(pg_error)?;
        decode_optional(row, item_from_row)
    }

    async fn list(&self, after: Option<ItemId>, limit: u16) -> Result<Vec<Item>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, description, price::text AS price, created_at, updated_at FROM items \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(self.pool()?)
        .await
        .map_err(pg_error)?;
        decode_all(rows, item_from_row)
    }

    async fn replace(&self, id: ItemId, item: &NewItem) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query(
            "UPDATE items SET name = $1, description = $2, price = $3::numeric, updated_at = $4 WHERE id = $5 \
             RETURNING id, name, description, price::text AS price, created_at, updated_at",
        )
        .bind(item.name.as_str())
        .bind(item.description.as_ref().map(|d| d.as_str()))
        .bind(item.price.map(|p| p.to_string()))
        .bind(now())
        .bind(id)
        .fetch_optional(self.pool()?)
        .await
        .map_err(pg_error)?;
        decode_optional(row, item_from_row)
    }

    async fn delete(&self, id: ItemId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM items WHERE id = $1")
            .bind(id)
            .execute(self.pool()?)
            .await
            .map_err(pg_error)?;
        Ok(done.rows_affected() > 0)
    }
}

fn image_from_row(row: &PgRow) -> Result<ImageRecord, sqlx::Error> {
    let corrupt = |column: &str| sqlx::Error::ColumnDecode {
        index: column.into(),
        source: "out of range".into(),
    };
    Ok(ImageRecord {
        id: ImageId::from_uuid(row.try_get("id")?),
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: u64::try_from(row.try_get::<i64, _>("size")?).map_err(|_| corrupt("size"))?,
        width: u32::try_from(row.try_get::<i32, _>("width")?).map_err(|_| corrupt("width"))?,
        height: u32::try_from(row.try_get::<i32, _>("height")?).map_err(|_| corrupt("height"))?,
        sha256: row.try_get("sha256")?,
        location: row.try_get("location")?,
        created_at: row.try_get("created_at")?,
        placeholder: row.try_get("placeholder")?,
    })
}

#[async_trait]
impl ImageMetaStore for PgDatabase {
    async fn insert_all(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool()?.begin().await.map_err(pg_error)?;
        for r in records {
            sqlx::query(
                "INSERT INTO images (id, filename, content_type, size, width, height, sha256, location, created_at, placeholder) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(r.id.as_uuid())
            .bind(&r.filename)
            .bind(&r.content_type)
            .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
            .bind(i32::try_from(r.width).unwrap_or(i32::MAX))
            .bind(i32::try_from(r.height).unwrap_or(i32::MAX))
            .bind(&r.sha256)
            .bind(&r.location)
            .bind(r.created_at)
            .bind(&r.placeholder)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
            reference(&mut tx, &r.sha256).await?;
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn get(&self, id: ImageId) -> Result<Option<ImageRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, filename, content_type, size, width, height, sha256, location, created_at, placeholder FROM images WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(self.pool()?)
        .await
        .map_err(pg_error)?;
        decode_optional(row, image_from_row)
    }

    async fn list(
        &self,
        before: Option<ImageId>,
        limit: u16,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let before = before.map_or(uuid::Uuid::max(), ImageId::as_uuid);
        let rows = sqlx::query(
            "SELECT id, filename, content_type, size, width, height, sha256, location, created_at, placeholder FROM images \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(self.pool()?)
        .await
        .map_err(pg_error)?;
        decode_all(rows, image_from_row)
    }

    async fn delete(&self, id: ImageId) -> Result<Deleted, StoreError> {
        let mut tx = self.pool()?.begin().await.map_err(pg_error)?;
        let sha256: Option<String> =
            sqlx::query_scalar("DELETE FROM images WHERE id = $1 RETURNING sha256")
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_error)?;
        let Some(sha256) = sha256 else {
            return Ok(Deleted::default());
        };
        let unreferenced = dereference(&mut tx, sha256).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Deleted {
            existed: true,
            unreferenced,
        })
    }

    async fn switch_object(
        &self,
        id: ImageId,
        from: &str,
        to: &str,
        size: u64,
    ) -> Result<Switched, StoreError> {
        let mut tx = self.pool()?.begin().await.map_err(pg_error)?;
        let changed =
            sqlx::query("UPDATE images SET sha256 = $3, size = $4 WHERE id = $1 AND sha256 = $2")
                .bind(id.as_uuid())
                .bind(from)
                .bind(to)
                .bind(i64::try_from(size).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(pg_error)?;
        if changed.rows_affected() == 0 {
            return Ok(Switched::default());
        }
        reference(&mut tx, to).await?;
        let unreferenced = dereference(&mut tx, from.to_owned()).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Switched {
            switched: true,
            unreferenced,
        })
    }

    async fn forget_object(&self, sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM objects WHERE sha256 = $1 AND dead")
            .bind(sha256)
            .execute(self.pool()?)
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn dead_objects(
        &self,
        limit: u16,
        older_than: std::time::Duration,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT sha256 FROM objects \
             WHERE dead AND dead_since <= now() - make_interval(secs => $2) LIMIT $1",
        )
        .bind(i64::from(limit))
        .bind(older_than.as_secs_f64())
        .fetch_all(self.pool()?)
        .await
        .map_err(pg_error)
    }

    async fn object_references(&self, sha256: &str) -> Result<Option<(u64, bool)>, StoreError> {
        let row: Option<(i64, bool)> =
            sqlx::query_as("SELECT refs, dead FROM objects WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(self.pool()?)
                .await
                .map_err(pg_error)?;
        Ok(row.map(|(refs, dead)| (u64::try_from(refs).unwrap_or(0), dead)))
    }

    async fn set_displayed_size(
        &self,
        id: ImageId,
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE images SET width = $2, height = $3 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(i32::try_from(width).unwrap_or(i32::MAX))
            .bind(i32::try_from(height).unwrap_or(i32::MAX))
            .execute(self.pool()?)
            .await
            .map_err(pg_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_placeholder(&self, id: ImageId, placeholder: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE images SET placeholder = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(placeholder)
            .execute(self.pool()?)
            .await
            .map_err(pg_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn reachable(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pool()?)
            .await
            .map_err(pg_error)?;
        Ok(())
    }
}

#[async_trait]
impl Database for PgDatabase {
    fn pool_state(&self) -> (u32, u32) {
        let idle = self.pool.num_idle() as u32;
        (self.pool.size().saturating_sub(idle), idle)
    }

    fn pool_max(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds a reference to an object (creating its row); refused when it is being deleted.
async fn reference(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sha256: &str,
) -> Result<(), StoreError> {
    let referenced = sqlx::query(
        "INSERT INTO objects (sha256, refs) VALUES ($1, 1) \
         ON CONFLICT (sha256) DO UPDATE SET refs = objects.refs + 1 WHERE NOT objects.dead",
    )
    .bind(sha256)
    .execute(&mut **tx)
    .await
    .map_err(pg_error)?;
    if referenced.rows_affected() == 0 {
        return Err(StoreError::Conflict(OBJECT_BEING_DELETED.into()));
    }
    Ok(())
}

/// Removes a reference from an object; at zero it is marked dead and its SHA-256
/// returned, for the caller to delete.
async fn dereference(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sha256: String,
) -> Result<Option<String>, StoreError> {
    let dead: Option<bool> = sqlx::query_scalar(
        "UPDATE objects SET refs = refs - 1, dead = (refs = 1), \
         dead_since = CASE WHEN refs = 1 THEN now() END \
         WHERE sha256 = $1 AND refs > 0 RETURNING dead",
    )
    .bind(&sha256)
    .fetch_optional(&mut **tx)
    .await
    .map_err(pg_error)?;
    Ok(dead.unwrap_or(false).then_some(sha256))
}
