//! Image metadata on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteDatabase, from_micros};
use crate::{
    domain::ImageId,
    store::{ImageMetaStore, ImageRecord, StoreError},
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
