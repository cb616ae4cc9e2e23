//! Image metadata on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteDatabase, from_micros};
use crate::{
    domain::ImageId,
    store::{Deleted, ImageMetaStore, ImageRecord, OBJECT_BEING_DELETED, StoreError, Switched},
};

/// Columns of an image row, in the order `image_from_row` reads them.
macro_rules! image_columns {
    () => {
        "id, filename, content_type, size, width, height, sha256, location, created_at, placeholder"
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
        placeholder: row.get(9)?,
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
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
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
                    (r.created_at.unix_timestamp_nanos() / 1000) as i64,
                    r.placeholder
                ])?;
                if reference(conn, &r.sha256)? == 0 {
                    return Err(being_deleted());
                }
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

    async fn set_placeholder(&self, id: ImageId, placeholder: &str) -> Result<bool, StoreError> {
        let placeholder = placeholder.to_owned();
        self.write(move |conn| {
            let changed = conn
                .prepare_cached("UPDATE images SET placeholder = ?2 WHERE id = ?1")?
                .execute(params![id.to_string(), placeholder])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn set_displayed_size(
        &self,
        id: ImageId,
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let changed = conn
                .prepare_cached("UPDATE images SET width = ?2, height = ?3 WHERE id = ?1")?
                .execute(params![id.to_string(), width, height])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn delete(&self, id: ImageId) -> Result<Deleted, StoreError> {
        self.write(move |conn| {
            let sha256: Option<String> = conn
                .prepare_cached("DELETE FROM images WHERE id = ?1 RETURNING sha256")?
                .query_row([id.to_string()], |row| row.get(0))
                .optional()?;
            let Some(sha256) = sha256 else {
                return Ok(Deleted::default());
            };
            Ok(Deleted {
                existed: true,
                unreferenced: dereference(conn, sha256)?,
            })
        })
        .await
    }

    async fn switch_object(
        &self,
        id: ImageId,
        from: &str,
        to: &str,
        size: u64,
    ) -> Result<Switched, StoreError> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE images SET sha256 = ?3, size = ?4 WHERE id = ?1 AND sha256 = ?2",
                )?
                .execute(params![
                    id.to_string(),
                    &from,
                    &to,
                    i64::try_from(size).unwrap_or(i64::MAX)
                ])?;
            if changed == 0 {
                return Ok(Switched::default());
            }
            if reference(conn, &to)? == 0 {
                return Err(being_deleted());
            }
            Ok(Switched {
                switched: true,
                unreferenced: dereference(conn, from)?,
            })
        })
        .await
    }

    async fn forget_object(&self, sha256: &str) -> Result<(), StoreError> {
        let sha256 = sha256.to_owned();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM objects WHERE sha256 = ?1 AND dead = 1")?
                .execute([sha256])?;
            Ok(())
        })
        .await
    }

    async fn dead_objects(
        &self,
        limit: u16,
        older_than: std::time::Duration,
    ) -> Result<Vec<String>, StoreError> {
        let cutoff = super::now_micros()
            .saturating_sub(i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX));
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT sha256 FROM objects WHERE dead = 1 AND dead_since <= ?2 LIMIT ?1",
            )?
            .query_map(params![limit, cutoff], |row| row.get(0))?
            .collect()
        })
    }

    async fn object_references(&self, sha256: &str) -> Result<Option<(u64, bool)>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT refs, dead FROM objects WHERE sha256 = ?1")?
                .query_row([sha256], |row| {
                    Ok((
                        u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                        row.get(1)?,
                    ))
                })
                .optional()
        })
    }

    async fn reachable(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
    }
}

/// The error that rolls an insert back when its object is being deleted; `db_error`
/// turns it into [`StoreError::Conflict`] with [`OBJECT_BEING_DELETED`].
/// Adds a reference to an object (creating its row); 0 rows when it is being deleted.
fn reference(conn: &rusqlite::Connection, sha256: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO objects (sha256, refs) VALUES (?1, 1) \
         ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1 WHERE dead = 0",
    )?
    .execute([sha256])
}

/// Removes a reference from an object; at zero it is marked dead and its SHA-256
/// returned, for the caller to delete.
fn dereference(conn: &rusqlite::Connection, sha256: String) -> rusqlite::Result<Option<String>> {
    let dead: Option<bool> = conn
        .prepare_cached(
            "UPDATE objects SET refs = refs - 1, dead = (refs = 1), \
             dead_since = CASE WHEN refs = 1 THEN ?2 END \
             WHERE sha256 = ?1 AND refs > 0 RETURNING dead",
        )?
        .query_row(params![&sha256, super::now_micros()], |row| row.get(0))
        .optional()?;
    Ok(dead.unwrap_or(false).then_some(sha256))
}

fn being_deleted() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        Some(OBJECT_BEING_DELETED.to_owned()),
    )
}
