//! The items store on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteDatabase, from_micros, now_micros};
use crate::{
    domain::{ItemId, NewItem, Price},
    store::{Item, ItemStore, StoreError},
};

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
