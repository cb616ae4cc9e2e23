//! Content-addressed objects: an image's bytes are stored once per distinct content, at
//! `objects/AB/<sha256>`, and shared by every image with those bytes; the object is
//! deleted when its last image is.
//!
//! The rules, which every path that writes or deletes images goes through (uploads, the
//! spool's replay, deletes, the sweep, `pier images migrate-objects`):
//! - An upload streams to its id key (the digest is known only at the end), commits its
//!   record — which adds a reference to the object in the same transaction — and only
//!   then **promotes**: copies the id key to the content key unless it is there, and
//!   drops the id key. A crash in between leaves the id key, which reads fall back on and
//!   the sweep promotes.
//! - A delete removes the record and its reference in one transaction; the store elects
//!   the one caller whose delete took the count to zero and marks the object dead; that
//!   caller deletes the object, then forgets it.
//! - An insert meeting a dead object is refused (`OBJECT_BEING_DELETED`) and tried again
//!   a moment later (the elected deleter finishes in milliseconds); it never finishes
//!   the deletion itself, since the elected deleter's object delete could then land
//!   after the new upload's promotion. A deletion whose deleter crashed is finished by
//!   the sweep once older than its grace — the same time-bound assumption as the
//!   spool's lease (a deleter paused longer than that between its election and its
//!   delete could remove a new upload's object). So no object is deleted under a live
//!   reference, and no reference is added to an object about to go.

use std::time::Duration;

use super::{Blobs, ImageMetaStore, ImageRecord, OBJECT_BEING_DELETED, StoreError};
use crate::domain::ImageId;

/// Attempts at an insert whose objects are being deleted, 10 ms to ~2.5 s apart (about
/// 5 s in all); then the upload is refused as unavailable, to be tried again.
const INSERT_ATTEMPTS: u32 = 9;

/// Commits `records` (and their references), then promotes each one's bytes.
pub async fn commit(
    meta: &dyn ImageMetaStore,
    blobs: &Blobs,
    records: &[ImageRecord],
) -> Result<(), StoreError> {
    insert_referencing(meta, records).await?;
    for record in records {
        promote(blobs, record).await?;
    }
    Ok(())
}

/// Inserts `records`, waiting while one of their objects is being deleted.
pub async fn insert_referencing(
    meta: &dyn ImageMetaStore,
    records: &[ImageRecord],
) -> Result<(), StoreError> {
    retry_while_being_deleted(|| meta.insert_all(records)).await
}

/// Moves a committed image's bytes from its id key to its content key (unless they are
/// there already) and drops the id key. Repeatable.
pub async fn promote(blobs: &Blobs, record: &ImageRecord) -> Result<(), StoreError> {
    blobs
        .promote(
            &Blobs::image_key(record.id),
            &Blobs::object_key(&record.sha256),
        )
        .await
}

/// Points an image at other bytes (`pier images reprocess` applying the metadata
/// policy); `false` when the record changed meanwhile (deleted, or switched by another
/// run) and nothing was switched.
///
/// The bytes are staged at the image's id key, where readers fall back while the new
/// content key does not exist yet; then the record and both references switch in one
/// transaction; then the staged bytes are promoted, and the old object goes if this was
/// its last image. The image's current bytes must be at their content key: the sweep,
/// meeting the staged bytes before the switch, then only drops them (it promotes an id
/// key to the record's content key, which is there). When nothing was switched the
/// staged bytes are left to the sweep: another run may be promoting the same key.
/// Two runs with different policies at once are not supported (one's staged bytes
/// could be promoted under the other's digest); runs with the same policy stage the
/// same bytes.
pub async fn switch(
    meta: &dyn ImageMetaStore,
    blobs: &Blobs,
    record: &ImageRecord,
    bytes: bytes::Bytes,
) -> Result<bool, StoreError> {
    use sha2::{Digest, Sha256};
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if sha256 == record.sha256 {
        return Ok(false);
    }
    let size = bytes.len() as u64;
    blobs.put_bytes(&Blobs::image_key(record.id), bytes).await?;
    let switched =
        retry_while_being_deleted(|| meta.switch_object(record.id, &record.sha256, &sha256, size))
            .await?;
    if !switched.switched {
        return Ok(false);
    }
    let now = ImageRecord {
        sha256,
        size,
        ..record.clone()
    };
    promote(blobs, &now).await?;
    if let Some(old) = &switched.unreferenced {
        finish_deletion(meta, blobs, old).await?;
    }
    Ok(true)
}

/// Runs `write` again, a moment later each time, while it is refused because an
/// object it references is being deleted (the elected deleter finishes in
/// milliseconds); after [`INSERT_ATTEMPTS`] the caller is told to try again later.
async fn retry_while_being_deleted<T, F>(mut write: impl FnMut() -> F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(StoreError::Conflict(message)) if message == OBJECT_BEING_DELETED => {
                attempt += 1;
                if attempt >= INSERT_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "an image with the same bytes is being deleted; try again".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            other => return other,
        }
    }
}

/// Deletes a dead object and forgets it.
pub async fn finish_deletion(
    meta: &dyn ImageMetaStore,
    blobs: &Blobs,
    sha256: &str,
) -> Result<(), StoreError> {
    blobs.delete(&Blobs::object_key(sha256)).await?;
    meta.forget_object(sha256).await
}

/// Deletes an image's record, its own objects (id key, sizes, failure) and, when it was
/// the last image with its bytes, its object; `false` when there was no such record.
pub async fn delete_image(
    meta: &dyn ImageMetaStore,
    blobs: &Blobs,
    id: ImageId,
) -> Result<bool, StoreError> {
    let deleted = meta.delete(id).await?;
    for key in Blobs::keys_of_image(id) {
        blobs.delete(&key).await?;
    }
    if let Some(sha256) = &deleted.unreferenced {
        finish_deletion(meta, blobs, sha256).await?;
    }
    Ok(deleted.existed)
}

/// What `pier images migrate-objects` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MigrationSummary {
    /// Images whose bytes moved to their content key.
    pub promoted: u64,
    /// Images already there.
    pub already: u64,
    /// References counted for records stored before reference counting (DynamoDB).
    pub counted: u64,
}

/// Moves every image stored under its id to its content key (and, on DynamoDB, counts
/// its reference first). Resumable: every step is skipped once done.
pub async fn migrate(
    meta: &dyn ImageMetaStore,
    blobs: &Blobs,
    mut progress: impl FnMut(u64, u64),
) -> Result<MigrationSummary, StoreError> {
    let mut records = Vec::new();
    let mut before = None;
    loop {
        let page = meta.list(before, 500).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        records.extend(page);
    }
    let total = records.len() as u64;
    let mut summary = MigrationSummary::default();
    progress(0, total);
    for (done, record) in records.iter().enumerate() {
        if meta.count_legacy_reference(record).await? {
            summary.counted += 1;
        }
        if blobs.size_of(&Blobs::image_key(record.id)).await?.is_some() {
            promote(blobs, record).await?;
            summary.promoted += 1;
        } else {
            summary.already += 1;
        }
        progress(done as u64 + 1, total);
    }
    Ok(summary)
}
