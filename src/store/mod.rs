//! The storage interfaces the routes see. Routes never name a backend: `startup`
//! picks implementations from `Settings` and hands them over in `ApiContext`.

pub mod blobs;
#[cfg(feature = "aws")]
pub mod dynamo;
mod error;
pub mod objects;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod spool;
pub mod sqlite;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::{ImageId, ItemId, NewItem, Price};

pub use blobs::Blobs;
pub use error::StoreError;

/// A stored catalogue item, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Item {
    /// Database id, ascending in creation order.
    pub id: ItemId,
    /// 1..=200 characters.
    pub name: String,
    /// Up to 5000 characters, or null.
    pub description: Option<String>,
    /// Exact decimal with two fraction digits, or null.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 999999999999.99, multiple_of = 0.01, example = 19.99)]
    pub price: Option<Price>,
    /// When it was created (RFC 3339, UTC).
    #[serde(serialize_with = "crate::domain::timestamp::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When it was last replaced (RFC 3339, UTC).
    #[serde(serialize_with = "crate::domain::timestamp::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// The metadata of one stored image, as stored and as the API shows it (the API adds
/// the URLs, see `routes::images::ImageView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImageRecord {
    /// UUIDv7: sorts by creation time.
    #[schema(value_type = String, format = Uuid)]
    pub id: ImageId,
    /// The client's file name without any path.
    pub filename: String,
    /// Decided from the bytes: image/png, image/jpeg, image/gif or image/webp.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Hex SHA-256 of the bytes; also the ETag.
    pub sha256: String,
    /// Which backend holds the bytes (`local`, `memory`, `s3`…).
    pub location: String,
    /// When it was stored (RFC 3339, UTC).
    #[serde(serialize_with = "crate::domain::timestamp::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// A ThumbHash of the image (base64, ~30 characters): a blurred preview to draw while
    /// the thumbnail loads. Made in the background right after the upload; null until
    /// then.
    #[schema(example = "1QcSHQRnh493V4dIh4eXh1h4kJUI")]
    pub placeholder: Option<String>,
}

/// The catalogue of items. Every call is one statement or one transaction.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Stores a new item and returns it with its id and timestamps.
    async fn create(&self, item: &NewItem) -> Result<Item, StoreError>;
    /// One item by id.
    async fn get(&self, id: ItemId) -> Result<Option<Item>, StoreError>;
    /// Up to `limit` items with ids greater than `after`, ascending.
    async fn list(&self, after: Option<ItemId>, limit: u16) -> Result<Vec<Item>, StoreError>;
    /// Replaces every field of an item; `None` when it does not exist.
    async fn replace(&self, id: ItemId, item: &NewItem) -> Result<Option<Item>, StoreError>;
    /// Deletes an item; `false` when it did not exist.
    async fn delete(&self, id: ItemId) -> Result<bool, StoreError>;
}

/// What deleting an image's record left to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deleted {
    /// There was such a record.
    pub existed: bool,
    /// The SHA-256 of an object whose last reference this was: it is now marked dead,
    /// and the caller deletes the object, then calls [`ImageMetaStore::forget_object`].
    pub unreferenced: Option<String>,
}

/// What switching an image to other bytes left to do
/// ([`ImageMetaStore::switch_object`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Switched {
    /// The record had the old SHA-256 and now has the new one.
    pub switched: bool,
    /// As in [`Deleted`]: the old object lost its last reference, is marked dead, and
    /// the caller deletes it, then forgets it.
    pub unreferenced: Option<String>,
}

/// The message of [`StoreError::Conflict`] when an image would reference an object
/// that is being deleted: the caller waits for the deletion to finish and tries again.
pub const OBJECT_BEING_DELETED: &str = "the image's object is being deleted; try again";

/// Image metadata, and the reference count of each content-addressed object. A row
/// exists only for an image whose bytes are durable.
#[async_trait]
pub trait ImageMetaStore: Send + Sync {
    /// Stores several records all-or-nothing, each adding a reference to the object of
    /// its SHA-256 in the same transaction; a [`StoreError::Conflict`] with
    /// [`OBJECT_BEING_DELETED`] when one of those objects is being deleted.
    async fn insert_all(&self, records: &[ImageRecord]) -> Result<(), StoreError>;
    /// One record by id.
    async fn get(&self, id: ImageId) -> Result<Option<ImageRecord>, StoreError>;
    /// Up to `limit` records older than `before`, newest first.
    async fn list(
        &self,
        before: Option<ImageId>,
        limit: u16,
    ) -> Result<Vec<ImageRecord>, StoreError>;
    /// Deletes a record and, in the same transaction, its reference to its object.
    async fn delete(&self, id: ImageId) -> Result<Deleted, StoreError>;
    /// Points an image at other bytes (`pier images reprocess` applying the metadata
    /// policy): its SHA-256 and size change, the new object gains a reference and the
    /// old one loses it, all in one transaction, and only while the record still has
    /// `from` (otherwise nothing changes and `switched` is false). A
    /// [`StoreError::Conflict`] with [`OBJECT_BEING_DELETED`] when the new object is
    /// being deleted, as for an insert.
    async fn switch_object(
        &self,
        id: ImageId,
        from: &str,
        to: &str,
        size: u64,
    ) -> Result<Switched, StoreError>;
    /// Forgets a dead object once it has been deleted from storage.
    async fn forget_object(&self, sha256: &str) -> Result<(), StoreError>;
    /// Up to `limit` objects marked dead longer than `older_than` ago: deletions a crash
    /// cut short, which the sweep finishes. A fresher one is left to its elected
    /// deleter: if another caller finished it and an upload then stored the same bytes
    /// again, that deleter's late object delete would remove the new upload's object.
    async fn dead_objects(
        &self,
        limit: u16,
        older_than: std::time::Duration,
    ) -> Result<Vec<String>, StoreError>;
    /// Adds the reference of a record stored before reference counting, once (`pier
    /// images migrate-objects`); `false` when it was counted already. The SQL stores
    /// counted every record in their migration.
    async fn count_legacy_reference(&self, record: &ImageRecord) -> Result<bool, StoreError> {
        let _ = record;
        Ok(false)
    }
    /// An object's reference count and whether it is dead; `None` when unknown.
    async fn object_references(&self, sha256: &str) -> Result<Option<(u64, bool)>, StoreError>;
    /// Records an image's placeholder; `false` when there is no such record (deleted,
    /// or still in the spool).
    async fn set_placeholder(&self, id: ImageId, placeholder: &str) -> Result<bool, StoreError>;
    /// Records an image's displayed size (`pier images reprocess`: images stored before
    /// orientation was read); `false` when there is no such record.
    async fn set_displayed_size(
        &self,
        id: ImageId,
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError>;
    /// Cheap round trip proving the store answers (readiness, and the spool's probe).
    async fn reachable(&self) -> Result<(), StoreError>;
}

/// A database: the items and the image records, and its pool for the metrics. Whether
/// it answers is [`ImageMetaStore::reachable`] (one probe for both roles).
#[async_trait]
pub trait Database: ItemStore + ImageMetaStore {
    /// (active, idle) connections, for `db_pool_connections{state}`.
    fn pool_state(&self) -> (u32, u32);
    /// Most connections the pool opens, for `db_pool_connections{state="max"}` (an
    /// exhausted pool is active == max with none idle).
    fn pool_max(&self) -> u32;
    /// Closes every connection (at shutdown, so SQLite checkpoints its WAL). Calls after
    /// this fail with 503.
    async fn close(&self);
}
