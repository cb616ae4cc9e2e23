//! The durable local fallback for uploads when a remote backend (S3, DynamoDB) is down.
//!
//! Used only when a remote backend is configured. Every upload streams into the spool
//! first (`PIER_SPOOL/data/ID`), then is *pushed*: bytes to the object store, metadata
//! to the metadata store, spool files removed. If the push fails or the remote side is
//! already known to be down, the upload is *spooled* instead: its files are fsync'd and
//! one batch record (`batches/FIRST-ID.json`, written to a temporary name, fsync'd and
//! renamed, directory fsync'd) makes the whole upload durable at once, and only then
//! does the client get its 201. A background task ([`replay_forever`]) pushes spooled
//! batches with exponential backoff and removes them once the remote side has them.
//!
//! Guarantees:
//! - Nothing acknowledged is lost: a 201 follows either a completed push or a durable
//!   batch record; a crash after it leaves the batch, which the next start replays.
//! - Nothing is duplicated: image ids are fixed before the first attempt, objects are
//!   keyed by id (a repeated put writes the same bytes), and replay skips the metadata
//!   write when the record is already there (metadata writes are conditional).
//! - Nothing half-written is visible: a batch record names only complete, fsync'd files;
//!   data files without a record (a crash mid-upload, never acknowledged) are removed at
//!   start. Remote metadata is written only after every object of the batch is stored.
//! - Reads ask the remote side first, then the spool. The spool is per replica: other
//!   replicas see a spooled image once it has been replayed.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    domain::ImageId,
    store::StoreError,
    store::{Blobs, ImageMetaStore, ImageRecord},
};

/// The `location` of an image that is waiting in the spool.
pub const SPOOLED: &str = "spool";

/// Longest wait between replay attempts while the remote side stays down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// First wait after a failed replay attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// One image as kept in a batch record: the API record with an exact timestamp.
#[derive(Serialize, Deserialize)]
struct SpooledImage {
    id: String,
    filename: String,
    content_type: String,
    size: u64,
    width: u32,
    height: u32,
    sha256: String,
    created_ns: i128,
}

impl SpooledImage {
    fn from_record(record: &ImageRecord) -> Self {
        Self {
            id: record.id.to_string(),
            filename: record.filename.clone(),
            content_type: record.content_type.clone(),
            size: record.size,
            width: record.width,
            height: record.height,
            sha256: record.sha256.clone(),
            created_ns: record.created_at.unix_timestamp_nanos(),
        }
    }

    fn into_record(self) -> Option<ImageRecord> {
        Some(ImageRecord {
            id: ImageId::parse(&self.id)?,
            filename: self.filename,
            content_type: self.content_type,
            size: self.size,
            width: self.width,
            height: self.height,
            sha256: self.sha256,
            location: SPOOLED.to_owned(),
            created_at: OffsetDateTime::from_unix_timestamp_nanos(self.created_ns).ok()?,
        })
    }
}

/// What is waiting: images by id, and batches (one per upload) by their first id.
#[derive(Default)]
struct Index {
    images: BTreeMap<ImageId, ImageRecord>,
    batches: BTreeMap<ImageId, Vec<ImageId>>,
}

/// The spool directory and the in-memory index of what it holds.
pub struct Spool {
    data: PathBuf,
    batches: PathBuf,
    index: Mutex<Index>,
    remote_down: AtomicBool,
    wake: tokio::sync::Notify,
    /// Held while a batch is replayed and while a spooled image is deleted, so a delete
    /// cannot race a replay into resurrecting the image remotely.
    replaying: tokio::sync::Mutex<()>,
}

impl Spool {
    /// Opens (creating) the spool under `dir`, loads every batch record and removes
    /// files no record names: uploads that were never acknowledged.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<Self>> {
        let data = dir.join("data");
        let batches = dir.join("batches");
        for d in [&data, &batches] {
            std::fs::create_dir_all(d).map_err(|e| {
                anyhow::anyhow!("cannot create the spool directory {}: {e}", d.display())
            })?;
        }
        let mut index = Index::default();
        for entry in std::fs::read_dir(&batches)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(first) = name.strip_suffix(".json").and_then(ImageId::parse) else {
                // A temporary record of an upload that was never acknowledged.
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let text = std::fs::read(&path)?;
            let images: Vec<SpooledImage> = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!("spool batch record {} is unreadable: {e}", path.display())
            })?;
            let records: Vec<ImageRecord> = images
                .into_iter()
                .map(SpooledImage::into_record)
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    anyhow::anyhow!("spool batch record {} is malformed", path.display())
                })?;
            index
                .batches
                .insert(first, records.iter().map(|r| r.id).collect());
            for record in records {
                index.images.insert(record.id, record);
            }
        }
        let mut removed = 0;
        for entry in std::fs::read_dir(&data)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let named = ImageId::parse(name).is_some_and(|id| index.images.contains_key(&id));
            if !named && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed spool files of unacknowledged uploads");
        }
        let pending = index.images.len();
        if pending > 0 {
            tracing::warn!(pending, "spooled uploads found at start; replaying them");
        }
        metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(pending as f64);
        for counter in [
            "spool_writes_total",
            "spool_replayed_total",
            "spool_replay_failures_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        Ok(Arc::new(Self {
            data,
            batches,
            remote_down: AtomicBool::new(pending > 0),
            index: Mutex::new(index),
            wake: tokio::sync::Notify::new(),
            replaying: tokio::sync::Mutex::new(()),
        }))
    }

    fn data_path(&self, id: ImageId) -> PathBuf {
        self.data.join(id.to_string())
    }

    fn batch_path(&self, first: ImageId) -> PathBuf {
        self.batches.join(format!("{first}.json"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Images waiting to be replayed.
    pub fn pending(&self) -> usize {
        self.lock().images.len()
    }

    /// Whether the last attempt to reach the remote side failed (uploads then go
    /// straight to the spool instead of waiting for timeouts).
    pub fn remote_down(&self) -> bool {
        self.remote_down.load(Ordering::Relaxed)
    }

    /// Starts writing an upload's bytes into the spool.
    pub async fn writer(&self, id: ImageId) -> Result<SpoolWriter, StoreError> {
        let path = self.data_path(id);
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io_error("creating a spool file", e))?;
        Ok(SpoolWriter {
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// Removes the data files of an upload that was refused or pushed.
    pub async fn discard(&self, ids: Vec<ImageId>) {
        for id in ids {
            if let Err(error) = tokio::fs::remove_file(self.data_path(id)).await
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%error, %id, "could not remove a spool file; the next start will");
            }
        }
    }

    /// Stores an upload remotely if it can, else durably in the spool. Returns the
    /// records as stored (`location` says where).
    pub async fn accept(
        &self,
        blobs: &Blobs,
        meta: &dyn ImageMetaStore,
        records: Vec<ImageRecord>,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        if !self.remote_down() {
            let bytes: u64 = records.iter().map(|r| r.size).sum();
            let deadline = Duration::from_secs(6) + Duration::from_millis(bytes / 4096);
            match tokio::time::timeout(deadline, self.push(blobs, meta, &records, true)).await {
                Ok(Ok(pushed)) => {
                    self.discard(records.iter().map(|r| r.id).collect()).await;
                    return Ok(pushed);
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "remote backend failed; spooling the upload")
                }
                Err(_) => tracing::warn!(?deadline, "remote backend too slow; spooling the upload"),
            }
            self.remote_down.store(true, Ordering::Relaxed);
        }
        self.persist(&records).await?;
        metrics::counter!(crate::telemetry::names::SPOOL_WRITES_TOTAL)
            .increment(records.len() as u64);
        Ok(records
            .into_iter()
            .map(|mut r| {
                r.location = SPOOLED.to_owned();
                r
            })
            .collect())
    }

    /// Copies an upload's files to the object store, then writes its metadata. `fresh`
    /// says no attempt has been made before, so no record can exist yet; otherwise
    /// objects already stored and records already written are skipped (idempotent).
    async fn push(
        &self,
        blobs: &Blobs,
        meta: &dyn ImageMetaStore,
        records: &[ImageRecord],
        fresh: bool,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        for record in records {
            let key = Blobs::image_key(record.id);
            if blobs.size_of(&key).await? == Some(record.size) {
                continue;
            }
            let mut file = tokio::fs::File::open(self.data_path(record.id))
                .await
                .map_err(|e| io_error("opening a spool file", e))?;
            let mut writer = blobs.writer(key);
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let read = file
                    .read(&mut buffer)
                    .await
                    .map_err(|e| io_error("reading a spool file", e))?;
                if read == 0 {
                    break;
                }
                if let Err(error) = writer.write(Bytes::copy_from_slice(&buffer[..read])).await {
                    writer.abort().await;
                    return Err(error);
                }
            }
            writer.finish().await?;
        }
        let stored: Vec<ImageRecord> = records
            .iter()
            .cloned()
            .map(|mut r| {
                r.location = blobs.location().to_owned();
                r
            })
            .collect();
        // A replay may follow an attempt that wrote some metadata (or a crash): write
        // only what is missing, so the conditional writes never trip on our own records.
        let mut missing = Vec::with_capacity(stored.len());
        for record in &stored {
            if fresh || meta.get(record.id).await?.is_none() {
                missing.push(record.clone());
            }
        }
        meta.insert_all(&missing).await?;
        Ok(stored)
    }

    /// Makes an upload durable in the spool: its files fsync'd, then one batch record.
    async fn persist(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        let Some(first) = records.first().map(|r| r.id) else {
            return Ok(());
        };
        let files: Vec<PathBuf> = records.iter().map(|r| self.data_path(r.id)).collect();
        let data = self.data.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for file in &files {
                std::fs::File::open(file)?.sync_all()?;
            }
            sync_dir(&data)
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(|e| io_error("writing to the spool", e))?;
        // Only now, with every file durable, does the record make the upload exist.
        self.write_batch_record(records).await?;
        let mut index = self.lock();
        index
            .batches
            .insert(first, records.iter().map(|r| r.id).collect());
        for record in records {
            let mut record = record.clone();
            record.location = SPOOLED.to_owned();
            index.images.insert(record.id, record);
        }
        metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(index.images.len() as f64);
        drop(index);
        self.wake.notify_one();
        Ok(())
    }

    /// Removes a spooled image (`DELETE /image/{id}`, under [`Spool::pause_replay`]);
    /// `false` when it is not spooled.
    pub async fn remove(&self, id: ImageId) -> Result<bool, StoreError> {
        let rewrite = {
            let mut index = self.lock();
            if index.images.remove(&id).is_none() {
                return Ok(false);
            }
            let first = index
                .batches
                .iter()
                .find(|(_, ids)| ids.contains(&id))
                .map(|(first, _)| *first);
            let Some(first) = first else { return Ok(true) };
            let rest: Vec<ImageRecord> = index.batches[&first]
                .iter()
                .filter(|other| **other != id)
                .filter_map(|other| index.images.get(other).cloned())
                .collect();
            index.batches.remove(&first);
            if let Some(new_first) = rest.first() {
                index
                    .batches
                    .insert(new_first.id, rest.iter().map(|r| r.id).collect());
            }
            metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(index.images.len() as f64);
            (first, rest)
        };
        let (old_first, rest) = rewrite;
        // The smaller record first, then the old one goes, then the bytes. A crash in
        // between may bring the image back (the delete was never acknowledged), but
        // never loses the other images of its upload.
        if let Some(new_first) = rest.first().map(|r| r.id) {
            self.write_batch_record(&rest).await?;
            if new_first == old_first {
                self.discard(vec![id]).await;
                return Ok(true);
            }
        }
        if let Err(error) = tokio::fs::remove_file(self.batch_path(old_first)).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io_error("removing a spool record", error));
        }
        self.discard(vec![id]).await;
        Ok(true)
    }

    /// Writes an upload's batch record atomically and durably: temporary name, fsync,
    /// rename, directory fsync.
    async fn write_batch_record(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        let Some(first) = records.first().map(|r| r.id) else {
            return Ok(());
        };
        let images: Vec<SpooledImage> = records.iter().map(SpooledImage::from_record).collect();
        let text = serde_json::to_vec(&images).map_err(|e| StoreError::Other(e.into()))?;
        let path = self.batch_path(first);
        let batches = self.batches.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let temporary = path.with_extension("tmp");
            {
                let mut out = std::fs::File::create(&temporary)?;
                std::io::Write::write_all(&mut out, &text)?;
                out.sync_all()?;
            }
            std::fs::rename(&temporary, &path)?;
            sync_dir(&batches)
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(|e| io_error("writing to the spool", e))
    }

    /// Whether `id` is waiting in the spool (the orphan sweep must keep its objects).
    pub fn holds(&self, id: ImageId) -> bool {
        self.lock().images.contains_key(&id)
    }
}

/// Bytes of one upload on their way into the spool.
pub struct SpoolWriter {
    file: tokio::io::BufWriter<tokio::fs::File>,
}

impl SpoolWriter {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| io_error("writing a spool file", e))
    }

    /// Flushes to the file; durability comes later, in [`Spool::accept`], only if the
    /// upload has to stay in the spool.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        self.file
            .flush()
            .await
            .map_err(|e| io_error("writing a spool file", e))
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn io_error(what: &str, error: std::io::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(error).context(format!("spool: {what}")))
}

mod read;
mod replay;
#[cfg(test)]
mod tests;

pub use replay::replay_forever;
