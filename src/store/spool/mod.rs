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
            // Made after the upload, once the record is where it is read from.
            placeholder: None,
        })
    }
}

/// A spooled image this replica is responsible for, and the directory holding it.
#[derive(Clone)]
struct Held {
    record: ImageRecord,
    dir: Arc<PathBuf>,
}

/// What this replica is responsible for: its own uploads and those of the replicas it
/// adopted. Images by id, and batches (one per upload) by their first id.
#[derive(Default)]
struct Index {
    images: BTreeMap<ImageId, Held>,
    batches: BTreeMap<ImageId, (Vec<ImageId>, Arc<PathBuf>)>,
}

impl Index {
    fn insert_batch(&mut self, dir: &Arc<PathBuf>, records: Vec<ImageRecord>) {
        let Some(first) = records.first().map(|r| r.id) else {
            return;
        };
        self.batches
            .insert(first, (records.iter().map(|r| r.id).collect(), dir.clone()));
        for mut record in records {
            record.location = SPOOLED.to_owned();
            let dir = dir.clone();
            self.images.insert(record.id, Held { record, dir });
        }
    }
}

/// The spool as this replica sees it (readiness).
#[derive(Clone, Debug)]
pub struct SpoolStatus {
    /// Images this replica is responsible for, waiting for replay.
    pub pending: usize,
    /// This replica's id: the name of its directory under `replicas/`.
    pub replica: String,
    /// Whether it holds a live lease on that directory.
    pub lease_held: bool,
}

/// How the spool is shared. The defaults suit one process on local disk.
#[derive(Clone, Debug)]
pub struct SpoolOptions {
    /// How long a replica's lease may stay unrenewed before another replica adopts its
    /// directory (renewed every quarter of it).
    pub lease: Duration,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
        }
    }
}

/// The spool directory, this replica's part of it, and the in-memory indexes.
pub struct Spool {
    root: PathBuf,
    options: SpoolOptions,
    owner: Mutex<fleet::Owner>,
    process: Option<lease::ProcessIdentity>,
    index: Mutex<Index>,
    others: Mutex<fleet::Others>,
    observed: Mutex<std::collections::HashMap<String, fleet::Observed>>,
    refresh: fleet::RefreshGate,
    released: AtomicBool,
    /// Wakes the background tasks at release.
    stopping: tokio::sync::Notify,
    /// Renewals one at a time (they share the temporary lease file's name).
    renewing: tokio::sync::Mutex<()>,
    remote_down: AtomicBool,
    wake: tokio::sync::Notify,
    /// Held while a batch is replayed and while a spooled image is deleted, so a delete
    /// cannot race a replay into resurrecting the image remotely.
    replaying: tokio::sync::Mutex<()>,
}

impl Spool {
    /// Opens (creating) the spool under `dir` with the default options.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<Self>> {
        Self::open_with(dir, SpoolOptions::default())
    }

    /// Opens (creating) the spool under `root`: starts this replica's directory, adopts
    /// at once the directories of replicas that were stopped or provably died on this
    /// machine (and a spool of the one-directory layout of earlier versions), loads
    /// their batch records and removes files no record names: uploads that were never
    /// acknowledged.
    pub fn open_with(root: &Path, options: SpoolOptions) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(
            options.lease >= lease::MIN_LEASE,
            "the spool lease must be at least {:?}",
            lease::MIN_LEASE
        );
        let replicas = root.join("replicas");
        for d in [&replicas, &root.join("tombstones")] {
            std::fs::create_dir_all(d).map_err(|e| {
                anyhow::anyhow!("cannot create the spool directory {}: {e}", d.display())
            })?;
        }
        let process = lease::ProcessIdentity::current();
        let owner = fleet::Owner::start(&replicas, process.clone(), options.lease)
            .map_err(|e| anyhow::anyhow!("cannot create this replica's spool directory: {e}"))?;
        let spool = Arc::new(Self {
            root: root.to_owned(),
            options,
            owner: Mutex::new(owner),
            process,
            index: Mutex::new(Index::default()),
            others: Mutex::new(fleet::Others::default()),
            observed: Mutex::default(),
            refresh: fleet::RefreshGate::default(),
            released: AtomicBool::new(false),
            stopping: tokio::sync::Notify::new(),
            renewing: tokio::sync::Mutex::new(()),
            remote_down: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            replaying: tokio::sync::Mutex::new(()),
        });
        spool.adopt_legacy_layout()?;
        spool.adopt_expired(true);
        spool.refresh_others_blocking();
        let pending = spool.pending();
        if pending > 0 {
            tracing::warn!(pending, "spooled uploads found at start; replaying them");
            spool.remote_down.store(true, Ordering::Relaxed);
        }
        metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(pending as f64);
        for counter in [
            crate::telemetry::names::SPOOL_WRITES_TOTAL,
            crate::telemetry::names::SPOOL_REPLAYED_TOTAL,
            crate::telemetry::names::SPOOL_REPLAY_FAILURES_TOTAL,
            crate::telemetry::names::SPOOL_ADOPTED_TOTAL,
            crate::telemetry::names::SPOOL_LEASE_LOST_TOTAL,
        ] {
            metrics::counter!(counter).increment(0);
        }
        Ok(spool)
    }

    /// This replica's directory now (it changes if the lease is lost).
    fn own_dir(&self) -> Arc<PathBuf> {
        self.owner().dir.clone()
    }

    /// Where an upload being written now keeps its bytes.
    #[cfg(test)]
    fn data_path(&self, id: ImageId) -> PathBuf {
        self.own_dir().join("data").join(id.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        unpoisoned(&self.index)
    }

    fn owner(&self) -> std::sync::MutexGuard<'_, fleet::Owner> {
        unpoisoned(&self.owner)
    }

    /// Images this replica is responsible for (its own and adopted) waiting for replay.
    pub fn pending(&self) -> usize {
        self.lock().images.len()
    }

    /// What readiness reports about the spool.
    pub fn status(&self) -> SpoolStatus {
        SpoolStatus {
            pending: self.pending(),
            replica: self.replica_id(),
            lease_held: self.lease_held(),
        }
    }

    /// Whether the last attempt to reach the remote side failed (uploads then go
    /// straight to the spool instead of waiting for timeouts).
    pub fn remote_down(&self) -> bool {
        self.remote_down.load(Ordering::Relaxed)
    }

    /// Starts writing an upload's bytes into the spool.
    pub async fn writer(&self, id: ImageId) -> Result<SpoolWriter, StoreError> {
        if self.released.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the spool was released at shutdown".into(),
            ));
        }
        let dir = self.own_dir();
        let file = match tokio::fs::File::create(dir.join("data").join(id.to_string())).await {
            Ok(file) => file,
            Err(error) => {
                let error = io_error("creating a spool file", error);
                return Err(self.fenced(&dir).await.unwrap_or(error));
            }
        };
        Ok(SpoolWriter {
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// Removes the data files of an upload that was refused or pushed.
    pub async fn discard(&self, ids: Vec<ImageId>) {
        let data = self.own_dir().join("data");
        discard_in(&data, ids).await;
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
            let dir = self.own_dir();
            match tokio::time::timeout(deadline, self.push(blobs, meta, &records, &dir, true)).await
            {
                Ok(Ok(pushed)) => {
                    discard_in(&dir.join("data"), records.iter().map(|r| r.id).collect()).await;
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

    /// Copies an upload's files (in `dir`) to the object store, then writes its
    /// metadata. `fresh` says no attempt has been made before, so no record can exist
    /// yet; otherwise objects already stored and records already written are skipped.
    async fn push(
        &self,
        blobs: &Blobs,
        meta: &dyn ImageMetaStore,
        records: &[ImageRecord],
        dir: &Path,
        fresh: bool,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        for record in records {
            let key = Blobs::image_key(record.id);
            if blobs.size_of(&key).await? == Some(record.size) {
                continue;
            }
            let path = dir.join("data").join(record.id.to_string());
            let mut file = tokio::fs::File::open(path)
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
        crate::store::objects::insert_referencing(meta, &missing).await?;
        // Committed: a promotion that fails is finished by the orphan sweep.
        for record in &stored {
            if let Err(error) = crate::store::objects::promote(blobs, record).await {
                tracing::warn!(%error, id = %record.id, "could not move a replayed image to its content key; the sweep will");
            }
        }
        Ok(stored)
    }

    /// Makes an upload durable in the spool: its files fsync'd, then one batch record.
    /// Refused (nothing acknowledged) when this replica has lost its directory.
    async fn persist(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let dir = self.ensure_lease().await?;
        let files: Vec<PathBuf> = records
            .iter()
            .map(|r| dir.join("data").join(r.id.to_string()))
            .collect();
        let data = dir.join("data");
        let synced = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for file in &files {
                std::fs::File::open(file)?.sync_all()?;
            }
            sync_dir(&data)
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(|e| io_error("writing to the spool", e));
        // Only now, with every file durable, does the record make the upload exist.
        let written = match synced {
            Ok(()) => write_batch_record(&dir, records).await,
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            return Err(self.fenced(&dir).await.unwrap_or(error));
        }
        let mut index = self.lock();
        index.insert_batch(&dir, records.to_vec());
        metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(index.images.len() as f64);
        drop(index);
        self.wake.notify_one();
        Ok(())
    }

    /// After a failed write into `dir`: if the directory is gone (adopted while this
    /// replica was paused), starts a new one and says so as "unavailable".
    async fn fenced(&self, dir: &Path) -> Option<StoreError> {
        if tokio::fs::try_exists(dir.join("lease"))
            .await
            .unwrap_or(true)
        {
            return None;
        }
        if let Err(error) = self.rotate(dir) {
            return Some(io_error("starting a new spool directory", error));
        }
        Some(StoreError::Unavailable(
            "this replica's spool directory was adopted by another replica".into(),
        ))
    }

    /// Removes a spooled image (`DELETE /image/{id}`, under [`Spool::pause_replay`]);
    /// `false` when it is not spooled. One of this replica's is taken out of its batch
    /// record; one of another replica's gets a tombstone that its replay honours.
    pub async fn remove(&self, id: ImageId) -> Result<bool, StoreError> {
        let rewrite = {
            let mut index = self.lock();
            match index.images.remove(&id) {
                None => None,
                Some(held) => {
                    let first = index
                        .batches
                        .iter()
                        .find(|(_, (ids, _))| ids.contains(&id))
                        .map(|(first, _)| *first);
                    let rest = first.map(|first| {
                        let rest: Vec<ImageRecord> = index.batches[&first]
                            .0
                            .iter()
                            .filter(|other| **other != id)
                            .filter_map(|other| index.images.get(other).map(|h| h.record.clone()))
                            .collect();
                        index.batches.remove(&first);
                        if let Some(new_first) = rest.first() {
                            index.batches.insert(
                                new_first.id,
                                (rest.iter().map(|r| r.id).collect(), held.dir.clone()),
                            );
                        }
                        (first, rest)
                    });
                    metrics::gauge!(crate::telemetry::names::SPOOL_PENDING)
                        .set(index.images.len() as f64);
                    Some((held.dir, rest))
                }
            }
        };
        let Some((dir, rest)) = rewrite else {
            return self.bury(id).await;
        };
        let Some((old_first, rest)) = rest else {
            return Ok(true);
        };
        // The smaller record first, then the old one goes, then the bytes. A crash in
        // between may bring the image back (the delete was never acknowledged), but
        // never loses the other images of its upload.
        if let Some(new_first) = rest.first().map(|r| r.id) {
            write_batch_record(&dir, &rest).await?;
            if new_first == old_first {
                discard_in(&dir.join("data"), vec![id]).await;
                return Ok(true);
            }
        }
        if let Err(error) = tokio::fs::remove_file(batch_path(&dir, old_first)).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io_error("removing a spool record", error));
        }
        discard_in(&dir.join("data"), vec![id]).await;
        Ok(true)
    }

    /// Whether `id` is waiting in the spool of any replica (the orphan sweep must keep
    /// its objects: a replay writes an object before its record).
    pub fn holds(&self, id: ImageId) -> bool {
        self.lock().images.contains_key(&id) || self.others_lock().images.contains_key(&id)
    }
}

/// The batch record of the upload whose first image is `first`, in a replica directory.
fn batch_path(dir: &Path, first: ImageId) -> PathBuf {
    dir.join("batches").join(format!("{first}.json"))
}

/// Writes an upload's batch record into `dir` atomically and durably: temporary name,
/// fsync, rename, directory fsync. Fails once `dir` has been adopted away.
async fn write_batch_record(dir: &Path, records: &[ImageRecord]) -> Result<(), StoreError> {
    let Some(first) = records.first().map(|r| r.id) else {
        return Ok(());
    };
    let images: Vec<SpooledImage> = records.iter().map(SpooledImage::from_record).collect();
    let text = serde_json::to_vec(&images).map_err(|e| StoreError::Other(e.into()))?;
    write_durably(batch_path(dir, first), text, "writing to the spool").await
}

/// Writes a file atomically and durably: a temporary name (`.tmp`), fsync, rename over
/// `path`, then the directory fsync'd. Fails with "not found" once the directory has
/// been adopted away (the fence of `lease.rs`).
async fn write_durably(path: PathBuf, bytes: Vec<u8>, what: &str) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let temporary = path.with_extension("tmp");
        {
            let mut out = std::fs::File::create(&temporary)?;
            std::io::Write::write_all(&mut out, &bytes)?;
            out.sync_all()?;
        }
        std::fs::rename(&temporary, &path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })
    .await
    .map_err(|e| StoreError::Other(e.into()))?
    .map_err(|e| io_error(what, e))
}

/// Removes data files from a replica directory's `data/`.
async fn discard_in(data: &Path, ids: Vec<ImageId>) {
    for id in ids {
        if let Err(error) = tokio::fs::remove_file(data.join(id.to_string())).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, %id, "could not remove a spool file; the next start will");
        }
    }
}

/// Reads the batch records of one replica directory and removes what no record names:
/// temporary records and data files of uploads that were never acknowledged.
fn load_batches(dir: &Path) -> anyhow::Result<Vec<Vec<ImageRecord>>> {
    let mut batches = Vec::new();
    let mut named = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir.join("batches"))? {
        let path = entry?.path();
        let Some(records) = read_batch(&path)? else {
            // A temporary record of an upload that was never acknowledged.
            let _ = std::fs::remove_file(&path);
            continue;
        };
        named.extend(records.iter().map(|r| r.id));
        batches.push(records);
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(dir.join("data"))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let keep = ImageId::parse(name).is_some_and(|id| named.contains(&id));
        if !keep && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, dir = %dir.display(), "removed spool files of unacknowledged uploads");
    }
    Ok(batches)
}

/// One batch record: `Ok(None)` for a file that is not one (a temporary name).
fn read_batch(path: &Path) -> anyhow::Result<Option<Vec<ImageRecord>>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name
        .strip_suffix(".json")
        .and_then(ImageId::parse)
        .is_none()
    {
        return Ok(None);
    }
    let text = std::fs::read(path)?;
    let images: Vec<SpooledImage> = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("spool batch record {} is unreadable: {e}", path.display()))?;
    let records = images
        .into_iter()
        .map(SpooledImage::into_record)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow::anyhow!("spool batch record {} is malformed", path.display()))?;
    Ok(Some(records))
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

/// Locks `mutex`, going on after a panic elsewhere held it: every structure behind the
/// spool's mutexes is valid after each single update.
fn unpoisoned<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn io_error(what: &str, error: std::io::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(error).context(format!("spool: {what}")))
}

mod fleet;
mod lease;
mod read;
mod replay;
#[cfg(test)]
mod tests;

pub use fleet::maintain_forever;
pub use lease::MIN_LEASE;
pub use replay::replay_forever;
