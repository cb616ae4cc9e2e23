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
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

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

    /// A spooled image's record.
    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        self.lock().images.get(&id).cloned()
    }

    /// Adds spooled images older than `before` to a newest-first page from the remote
    /// side, keeping it newest-first, without duplicates, and at most `limit` long.
    pub fn merge_into(&self, page: &mut Vec<ImageRecord>, before: Option<ImageId>, limit: usize) {
        let index = self.lock();
        let older = match before {
            Some(before) => index.images.range(..before),
            None => index.images.range(..),
        };
        let spooled = older.rev().take(limit);
        let mut added = false;
        for (id, record) in spooled {
            if !page.iter().any(|r| r.id == *id) {
                page.push(record.clone());
                added = true;
            }
        }
        drop(index);
        if added {
            page.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
            page.truncate(limit);
        }
    }

    /// A byte range of a spooled image; `None` when it is no longer in the spool (it
    /// has just been replayed, so the remote side has it).
    pub async fn read(
        &self,
        id: ImageId,
        range: std::ops::Range<u64>,
    ) -> Result<Option<Bytes>, StoreError> {
        let mut file = match tokio::fs::File::open(self.data_path(id)).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("opening a spool file", error)),
        };
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        let length = range.end.saturating_sub(range.start);
        let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        file.take(length)
            .read_to_end(&mut buffer)
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        Ok(Some(Bytes::from(buffer)))
    }

    /// Stops replay until the guard is dropped: a delete holds it so that the image
    /// cannot move from the spool to the remote side between its two steps.
    pub async fn pause_replay(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.replaying.lock().await
    }

    /// A byte range of a spooled image as a stream of chunks (large images), or `None`
    /// when it is no longer in the spool.
    pub async fn stream(
        &self,
        id: ImageId,
        range: std::ops::Range<u64>,
    ) -> Result<Option<futures::stream::BoxStream<'static, std::io::Result<Bytes>>>, StoreError>
    {
        use futures::StreamExt;
        let mut file = match tokio::fs::File::open(self.data_path(id)).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("opening a spool file", error)),
        };
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        let remaining = range.end.saturating_sub(range.start);
        let chunks =
            futures::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = remaining.min(256 * 1024) as usize;
                let mut buffer = vec![0u8; want];
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                buffer.truncate(read);
                Ok(Some((Bytes::from(buffer), (file, remaining - read as u64))))
            });
        Ok(Some(chunks.boxed()))
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

    /// Replays the oldest batch after `after` (wrapping around), so that a batch the
    /// remote side keeps refusing cannot hold up the others; `Ok(None)` when the spool
    /// is empty, else the batch that was tried (an error names it in the log).
    async fn replay_one(
        &self,
        blobs: &Blobs,
        meta: &dyn ImageMetaStore,
        after: Option<ImageId>,
    ) -> Result<Option<ImageId>, (Option<ImageId>, StoreError)> {
        let _replaying = self.replaying.lock().await;
        let batch = {
            let index = self.lock();
            let next = after
                .and_then(|after| {
                    index
                        .batches
                        .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                        .next()
                })
                .or_else(|| index.batches.iter().next());
            next.map(|(first, ids)| {
                let records: Vec<ImageRecord> = ids
                    .iter()
                    .filter_map(|id| index.images.get(id).cloned())
                    .collect();
                (*first, records)
            })
        };
        let Some((first, records)) = batch else {
            return Ok(None);
        };
        self.push(blobs, meta, &records, false)
            .await
            .map_err(|error| (Some(first), error))?;
        // The remote side has everything: forget the record first (durably), then the
        // files. A crash in between leaves files without a record, removed at start.
        let path = self.batch_path(first);
        tokio::fs::remove_file(&path)
            .await
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| (Some(first), io_error("removing a spool record", e)))?;
        let batches = self.batches.clone();
        let _ = tokio::task::spawn_blocking(move || sync_dir(&batches)).await;
        {
            let mut index = self.lock();
            index.batches.remove(&first);
            for record in &records {
                index.images.remove(&record.id);
            }
            metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(index.images.len() as f64);
        }
        self.discard(records.iter().map(|r| r.id).collect()).await;
        metrics::counter!(crate::telemetry::names::SPOOL_REPLAYED_TOTAL)
            .increment(records.len() as u64);
        tracing::info!(images = records.len(), "replayed a spooled upload");
        Ok(Some(first))
    }
}

/// Replays spooled uploads for as long as the process runs: batches one after another
/// while the remote side answers, exponential backoff (0.5 s to 30 s) while it does not.
/// When the spool is empty but the remote side was marked down, probes it so new
/// uploads go straight to it again once it is back.
pub async fn replay_forever(spool: Arc<Spool>, blobs: Blobs, meta: Arc<dyn ImageMetaStore>) {
    let mut backoff = FIRST_BACKOFF;
    // Where the last failed attempt was, so the next one tries the following batch.
    let mut cursor = None;
    loop {
        let outcome = match spool.replay_one(&blobs, meta.as_ref(), cursor).await {
            Ok(Some(_)) => Ok(true),
            Ok(None) if spool.remote_down() => {
                match tokio::try_join!(blobs.ping(), meta.reachable()) {
                    Ok(_) => Ok(false),
                    Err(error) => Err((None, error)),
                }
            }
            Ok(None) => Ok(false),
            Err(failed) => Err(failed),
        };
        match outcome {
            Ok(replayed) => {
                backoff = FIRST_BACKOFF;
                cursor = None;
                if spool.remote_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("remote backends answer again; uploads go to them directly");
                }
                if !replayed {
                    // Idle until an upload is spooled (or a minute passes).
                    let _ =
                        tokio::time::timeout(Duration::from_secs(60), spool.wake.notified()).await;
                }
            }
            Err((batch, error)) => {
                spool.remote_down.store(true, Ordering::Relaxed);
                cursor = batch;
                metrics::counter!(crate::telemetry::names::SPOOL_REPLAY_FAILURES_TOTAL)
                    .increment(1);
                tracing::warn!(%error, batch = ?batch.map(|b| b.to_string()), retry_in = ?backoff, "replay failed; retrying later");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::{AwsSettings, StorageUrl},
        store::sqlite::SqliteDatabase,
    };

    fn record(n: u32) -> ImageRecord {
        ImageRecord {
            id: ImageId::generate(),
            filename: format!("f{n}.png"),
            content_type: "image/png".into(),
            size: 5,
            width: 1,
            height: 1,
            sha256: format!("{n:064x}"),
            location: "memory".into(),
            created_at: OffsetDateTime::now_utc(),
        }
    }

    fn no_aws() -> AwsSettings {
        crate::config::Settings::for_tests("unused.db".into(), StorageUrl::Memory).aws
    }

    /// Writes the bytes of `records` into the spool and spools them.
    async fn spool_upload(spool: &Spool, records: &[ImageRecord]) {
        for record in records {
            let mut writer = spool.writer(record.id).await.unwrap();
            writer.write(b"bytes").await.unwrap();
            writer.finish().await.unwrap();
        }
        spool.persist(records).await.unwrap();
    }

    async fn meta(dir: &Path) -> SqliteDatabase {
        let db = SqliteDatabase::connect(&dir.join("meta.db"), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn a_spooled_upload_survives_a_reopen_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![record(1), record(2)];
        {
            let spool = Spool::open(dir.path()).unwrap();
            spool_upload(&spool, &records).await;
            assert_eq!(spool.pending(), 2);
        }
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 2);
        assert!(
            spool.remote_down(),
            "a non-empty spool starts in replay mode"
        );
        for original in &records {
            let mut expected = original.clone();
            expected.location = SPOOLED.into();
            assert_eq!(spool.get(original.id), Some(expected));
            assert_eq!(
                spool
                    .read(original.id, 1..3)
                    .await
                    .unwrap()
                    .unwrap()
                    .as_ref(),
                b"yt"
            );
        }
    }

    #[tokio::test]
    async fn files_of_unacknowledged_uploads_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let kept = record(1);
        {
            let spool = Spool::open(dir.path()).unwrap();
            spool_upload(&spool, std::slice::from_ref(&kept)).await;
            // An upload that crashed before its record was written, and a record that
            // crashed before its rename.
            std::fs::write(
                dir.path()
                    .join("data")
                    .join(ImageId::generate().to_string()),
                b"x",
            )
            .unwrap();
            std::fs::write(dir.path().join("batches/whatever.tmp"), b"[").unwrap();
        }
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join("data")).unwrap().count(),
            1
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("batches"))
                .unwrap()
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn replay_moves_a_batch_and_a_repeated_replay_duplicates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
        let meta = meta(dir.path()).await;
        let records = vec![record(1), record(2), record(3)];
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        spool_upload(&spool, &records).await;
        // A crash after a push wrote the first record but before the spool forgot it.
        let mut first = records[0].clone();
        first.location = "memory".into();
        meta.insert_all(&[first]).await.unwrap();
        let replayed = spool.replay_one(&blobs, &meta, None).await.ok().flatten();
        assert_eq!(replayed, Some(records[0].id));
        let again = spool.replay_one(&blobs, &meta, None).await.ok().flatten();
        assert_eq!(again, None, "nothing left");
        assert_eq!(spool.pending(), 0);
        assert_eq!(meta.list(None, 10).await.unwrap().len(), 3);
        for record in &records {
            let stored = meta.get(record.id).await.unwrap().unwrap();
            assert_eq!(stored.location, "memory");
            let bytes = blobs.get_bytes(&Blobs::image_key(record.id)).await.unwrap();
            assert_eq!(bytes.unwrap().as_ref(), b"bytes");
        }
        let spool_dir = dir.path().join("spool");
        assert_eq!(
            std::fs::read_dir(spool_dir.join("data")).unwrap().count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(spool_dir.join("batches"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_batch_that_keeps_failing_does_not_hold_up_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
        let meta = meta(dir.path()).await;
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let (poison, good) = (record(1), record(2));
        spool_upload(&spool, std::slice::from_ref(&poison)).await;
        spool_upload(&spool, std::slice::from_ref(&good)).await;
        std::fs::remove_file(spool.data_path(poison.id)).unwrap();
        let (failed, _) = spool.replay_one(&blobs, &meta, None).await.unwrap_err();
        assert_eq!(failed, Some(poison.id));
        let replayed = spool.replay_one(&blobs, &meta, failed).await.unwrap();
        assert_eq!(replayed, Some(good.id));
        assert!(meta.get(good.id).await.unwrap().is_some());
        assert!(spool.holds(poison.id) && !spool.holds(good.id));
    }

    #[tokio::test]
    async fn removing_one_image_of_a_batch_keeps_the_others_durably() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![record(1), record(2), record(3)];
        {
            let spool = Spool::open(dir.path()).unwrap();
            spool_upload(&spool, &records).await;
            let _paused = spool.pause_replay().await;
            assert!(spool.remove(records[0].id).await.unwrap(), "the first");
            assert!(spool.remove(records[2].id).await.unwrap(), "the last");
            assert!(!spool.remove(records[2].id).await.unwrap(), "already gone");
        }
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 1);
        assert!(spool.holds(records[1].id));
        assert_eq!(
            std::fs::read_dir(dir.path().join("data")).unwrap().count(),
            1
        );
    }

    #[tokio::test]
    async fn spooled_images_merge_into_a_page_newest_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let all: Vec<ImageRecord> = (0..6).map(record).collect();
        // Odd ones are spooled; the remote side has the even ones, and the newest
        // spooled one too (replayed, not yet forgotten by the spool).
        let spooled: Vec<ImageRecord> = all.iter().skip(1).step_by(2).cloned().collect();
        spool_upload(&spool, &spooled).await;
        let ids = |page: &[ImageRecord]| page.iter().map(|r| r.id).collect::<Vec<_>>();
        let mut first = vec![
            all[5].clone(),
            all[4].clone(),
            all[2].clone(),
            all[0].clone(),
        ];
        spool.merge_into(&mut first, None, 4);
        assert_eq!(ids(&first), [all[5].id, all[4].id, all[3].id, all[2].id]);
        let mut second = vec![all[2].clone(), all[0].clone()];
        spool.merge_into(&mut second, Some(all[4].id), 4);
        assert_eq!(ids(&second), [all[3].id, all[2].id, all[1].id, all[0].id]);
    }
}
