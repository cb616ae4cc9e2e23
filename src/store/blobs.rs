//! Image bytes on object storage (`object_store`): local disk by default, memory for
//! tests; S3 plugs in here by configuration. Keys are derived from image ids only,
//! never from client input, so no path a client sends can reach the file system.

use std::{ops::Range, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{
    GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, PutPayload, buffered::BufWriter,
    local::LocalFileSystem, memory::InMemory, path::Path,
};
use tokio::io::AsyncWriteExt;

use super::ImageMetaStore;
use crate::{
    config::{AwsSettings, StorageUrl},
    domain::{ImageId, image::VariantSize},
    store::StoreError,
};

/// An S3 client that notices an unreachable endpoint within seconds: short connect and
/// request timeouts and few, quick retries, so an upload during an outage still answers
/// (503 for now) well within 10 s.
#[cfg(feature = "aws")]
fn s3_store(bucket: &str, aws: &AwsSettings) -> anyhow::Result<object_store::aws::AmazonS3> {
    use object_store::{BackoffConfig, ClientOptions, RetryConfig, aws::AmazonS3Builder};
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&aws.region)
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(8)),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        });
    if let Some(endpoint) = &aws.endpoint_url {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(key) = &aws.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &aws.secret_access_key {
        builder = builder.with_secret_access_key(&secret.0);
    }
    if let Some(token) = &aws.session_token {
        builder = builder.with_token(&token.0);
    }
    Ok(builder.build()?)
}

/// The object store holding originals (`images/{id}`) and thumbnails (`thumbnails/{id}.jpg`).
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    location: &'static str,
    local_root: Option<PathBuf>,
    cache: Option<Arc<ObjectCache>>,
    buffer: usize,
}

impl Blobs {
    /// Opens the store named by `PIER_STORAGE`, creating a local directory when missing.
    pub fn open(url: &StorageUrl, aws: &AwsSettings) -> anyhow::Result<Self> {
        #[cfg(not(feature = "aws"))]
        let _ = aws;
        match url {
            StorageUrl::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create the storage directory {}: {e}", dir.display())
                })?;
                let root = std::fs::canonicalize(dir)?;
                // fsync on: a put returns only when the file and its directory entry are
                // on stable storage, which is what a 201 promises.
                let store = LocalFileSystem::new_with_prefix(&root)?.with_fsync(true);
                Ok(Self {
                    store: Arc::new(store),
                    location: "local",
                    local_root: Some(root),
                    cache: None,
                    buffer: 256 * 1024,
                })
            }
            #[cfg(feature = "aws")]
            StorageUrl::S3 { bucket, prefix } => {
                let store = s3_store(bucket, aws)?;
                let store: Arc<dyn ObjectStore> = match prefix {
                    Some(prefix) => Arc::new(object_store::prefix::PrefixStore::new(
                        store,
                        prefix.as_str(),
                    )),
                    None => Arc::new(store),
                };
                // S3 parts must be at least 5 MiB (but the last), so a streamed upload
                // buffers that much before sending a part.
                Ok(Self {
                    store,
                    location: "s3",
                    local_root: None,
                    cache: None,
                    buffer: 5 * 1024 * 1024,
                })
            }
            StorageUrl::Memory => Ok(Self {
                store: Arc::new(InMemory::new()),
                location: "memory",
                local_root: None,
                cache: None,
                buffer: 256 * 1024,
            }),
        }
    }

    /// Keeps recently read small objects (≤ [`CACHEABLE_OBJECT`]) in memory, up to
    /// `bytes` in total; 0 turns the cache off. Cached keys are never rewritten (content
    /// keys and thumbnails; id keys are not cached), so a cached copy is never stale; deletion goes through the
    /// metadata, which every read consults first, so other replicas' caches cannot
    /// serve a deleted image either.
    pub fn with_cache(mut self, bytes: u64) -> Self {
        self.cache = (bytes > 0).then(|| {
            Arc::new(ObjectCache::with_weighter(
                (bytes / 16_384).max(16) as usize,
                bytes,
                ByteWeight,
            ))
        });
        self
    }

    /// Names the backend in image records (`local`, `memory`, …).
    pub fn location(&self) -> &'static str {
        self.location
    }

    /// Key of an original image: `images/XY/ID`, where XY are the id's last two hex
    /// digits (random bits), spreading objects over 256 directories. A flat directory
    /// of millions of files is slow to create files in, and its lock is contended by
    /// concurrent uploads.
    pub fn image_key(id: ImageId) -> Path {
        Path::from(format!("images/{}/{id}", Self::shard(id)))
    }

    /// Key of a content-addressed object: `objects/AB/SHA256`, AB being the digest's
    /// first two hex digits. Images with the same bytes share it.
    pub fn object_key(sha256: &str) -> Path {
        let shard = sha256.get(..2).unwrap_or("00");
        Path::from(format!("objects/{shard}/{sha256}"))
    }

    /// Key of an image's thumbnail: `thumbnails/XY/ID.jpg`.
    pub fn thumbnail_key(id: ImageId) -> Path {
        Path::from(format!("thumbnails/{}/{id}.jpg", Self::shard(id)))
    }

    /// Where a thumbnail that could not be made records why: `thumbnails/XY/ID.failed`.
    /// Kept beside the thumbnail it replaces, so the failure is paid for once.
    pub fn thumbnail_failure_key(id: ImageId) -> Path {
        Path::from(format!("thumbnails/{}/{id}.failed", Self::shard(id)))
    }

    /// Key of one size of an image: the thumbnail's, or `thumbnails/XY/ID-SIZE.jpg`.
    pub fn variant_key(id: ImageId, size: VariantSize) -> Path {
        if size == VariantSize::THUMBNAIL {
            return Self::thumbnail_key(id);
        }
        Path::from(format!("thumbnails/{}/{id}-{size}.jpg", Self::shard(id)))
    }

    /// Every object an image may have: its bytes, each size, a thumbnail failure.
    /// A delete removes all of them.
    pub fn keys_of_image(id: ImageId) -> Vec<Path> {
        let mut keys = vec![Self::image_key(id), Self::thumbnail_failure_key(id)];
        keys.extend(VariantSize::ladder().map(|size| Self::variant_key(id, size)));
        keys
    }

    fn shard(id: ImageId) -> String {
        let text = id.to_string();
        text[text.len() - 2..].to_owned()
    }

    /// A streaming writer: small objects become one put, larger ones a multipart upload,
    /// so memory stays bounded by the buffer, not the object size. The object becomes
    /// visible only when [`BlobWriter::finish`] returns.
    pub fn writer(&self, key: Path) -> BlobWriter {
        BlobWriter {
            inner: BufWriter::with_capacity(self.store.clone(), key, self.buffer),
        }
    }

    /// Reads an object or a byte range of it; `None` when it does not exist.
    pub async fn get(
        &self,
        key: &Path,
        range: Option<Range<u64>>,
    ) -> Result<Option<GetResult>, StoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        match self.store.get_opts(key, options).await {
            Ok(result) => Ok(Some(result)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Reads a byte range of an object of known `size` into memory in one go; `None`
    /// when it does not exist. Small objects are read whole and kept in the cache, and
    /// the range is a slice of them. On local disk a read is one blocking call (open,
    /// seek, read) instead of object_store's open-then-read-per-chunk, and the buffer
    /// is not zeroed first.
    pub async fn read(
        &self,
        key: &Path,
        size: u64,
        range: Range<u64>,
    ) -> Result<Option<Bytes>, StoreError> {
        let cacheable = self.cache.is_some() && size <= CACHEABLE_OBJECT && cacheable_key(key);
        if let Some(cached) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.get(key.as_ref()))
        {
            return Ok(Some(slice(&cached, range)));
        }
        let span = if cacheable { 0..size } else { range.clone() };
        let bytes = match &self.local_root {
            Some(root) => read_local(root.join(key.as_ref()), span).await?,
            None => match self.get(key, Some(span)).await? {
                Some(result) => Some(result.bytes().await.map_err(storage_error)?),
                None => None,
            },
        };
        let Some(bytes) = bytes else { return Ok(None) };
        if !cacheable {
            return Ok(Some(bytes));
        }
        if let Some(cache) = &self.cache {
            cache.insert(key.as_ref().to_owned(), bytes.clone());
        }
        Ok(Some(slice(&bytes, range)))
    }

    /// Reads a whole object of unknown size into memory (thumbnails, and originals to
    /// make them from; objects are size-limited), through the cache when it is small.
    pub async fn get_bytes(&self, key: &Path) -> Result<Option<Bytes>, StoreError> {
        if let Some(cached) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.get(key.as_ref()))
        {
            return Ok(Some(cached));
        }
        let Some(result) = self.get(key, None).await? else {
            return Ok(None);
        };
        let bytes = result.bytes().await.map_err(storage_error)?;
        if let Some(cache) = self
            .cache
            .as_ref()
            .filter(|_| bytes.len() as u64 <= CACHEABLE_OBJECT && cacheable_key(key))
        {
            cache.insert(key.as_ref().to_owned(), bytes.clone());
        }
        Ok(Some(bytes))
    }

    /// Stores a small object in one durable put.
    pub async fn put_bytes(&self, key: &Path, bytes: Bytes) -> Result<(), StoreError> {
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// Every image and thumbnail key with its size (staging files of interrupted local
    /// uploads are not objects and are not listed).
    pub async fn list_objects(&self) -> Result<Vec<(Path, u64)>, StoreError> {
        let mut objects = Vec::new();
        for prefix in ["images", "objects", "thumbnails"] {
            let mut listing = self.store.list(Some(&Path::from(prefix)));
            while let Some(entry) = listing.next().await {
                let entry = entry.map_err(storage_error)?;
                objects.push((entry.location, entry.size));
            }
        }
        Ok(objects)
    }

    /// The size of an object, or `None` when it does not exist.
    pub async fn size_of(&self, key: &Path) -> Result<Option<u64>, StoreError> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Deletes an object; deleting what is not there is not an error.
    pub async fn delete(&self, key: &Path) -> Result<(), StoreError> {
        if let Some(cache) = &self.cache {
            cache.remove(key.as_ref());
        }
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Moves an upload's bytes from `from` (its id key) to `to` (its content key),
    /// repeatable; a `to` already there is kept and `from` dropped. Locally one rename
    /// (the bytes were fsync'd when written). S3 has no rename: a server-side copy,
    /// then `from` is deleted.
    pub async fn promote(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        if let Some(cache) = &self.cache {
            cache.remove(from.as_ref());
        }
        let Some(root) = &self.local_root else {
            if self.size_of(to).await?.is_none() {
                self.store.copy(from, to).await.map_err(storage_error)?;
            }
            return self.delete(from).await;
        };
        let (source, target) = (root.join(from.as_ref()), root.join(to.as_ref()));
        let moved = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let dir = target.parent().unwrap_or(std::path::Path::new("."));
            if target.exists() {
                // Never replaced: the id key may hold other bytes (`pier images
                // reprocess` staged them, then crashed before switching the record).
                match std::fs::remove_file(&source) {
                    Ok(()) => return Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
                    Err(e) => return Err(e),
                }
            }
            // Nothing there, or an upload of the same bytes promoting at this moment:
            // replacing those is harmless.
            let renamed = match std::fs::rename(&source, &target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => {
                    std::fs::create_dir_all(dir)?;
                    std::fs::rename(&source, &target)
                }
                other => other,
            };
            match renamed {
                // Not fsync'd: a rename is atomic in the journal, so after a crash either
                // the content key or the id key is there, and both are readable (the
                // sweep promotes an id key again); a later delete of the object is
                // journaled after it.
                Ok(()) => Ok(true),
                // Promoted already (by the sweep, or a run before a crash).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(target.exists()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(|e| StoreError::Unavailable(format!("cannot move {from} to {to}: {e}")))?;
        if moved {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "cannot move {from} to {to}: neither is there"
            )))
        }
    }

    /// Readiness probe: a metadata request that succeeds (or finds nothing) proves the
    /// store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self.store.head(&Path::from("_readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Removes what a crash between "object written" and "metadata committed" left
    /// behind: originals and thumbnails older than `grace` without a metadata row (and
    /// not `spooled`, i.e. waiting for the replay to write their row), and
    /// the local backend's staging files of interrupted uploads. Returns how many went.
    pub async fn sweep_orphans(
        &self,
        meta: &dyn ImageMetaStore,
        spooled: &(dyn Fn(ImageId) -> bool + Sync),
        grace: Duration,
    ) -> Result<usize, StoreError> {
        let cutoff = chrono_cutoff(grace);
        let mut removed = 0;
        // Deletions a crash cut short (the object is dead: nothing references it).
        for sha256 in meta.dead_objects(1000, grace).await? {
            super::objects::finish_deletion(meta, self, &sha256).await?;
            removed += 1;
        }
        for prefix in ["images", "thumbnails", "objects"] {
            let mut listing = self.store.list(Some(&Path::from(prefix)));
            while let Some(entry) = listing.next().await {
                let entry = entry.map_err(storage_error)?;
                if entry.last_modified.timestamp() > cutoff {
                    continue;
                }
                let name = entry.location.filename().unwrap_or_default();
                if prefix == "objects" {
                    // Content-addressed: kept while an image references it.
                    match meta.object_references(name).await? {
                        // Referenced, or dead (finished above once older than the grace).
                        Some((refs, dead)) if refs > 0 || dead => {}
                        Some(_) => {}
                        None => {
                            self.delete(&entry.location).await?;
                            removed += 1;
                        }
                    }
                    continue;
                }
                // `ID`, `ID.jpg`, `ID-512.jpg`, `ID.failed`: named by their image's id.
                let id = name.get(..36).unwrap_or(name);
                let orphan = match ImageId::parse(id) {
                    // A spooled upload being replayed has its objects before its record.
                    Some(id) if spooled(id) => false,
                    Some(id) => match meta.get(id).await? {
                        // An upload's bytes still at their id key: committed but not
                        // promoted (a crash, or stored before content addressing).
                        Some(record) if prefix == "images" && name.len() == 36 => {
                            super::objects::promote(self, &record).await?;
                            false
                        }
                        Some(_) => false,
                        None => true,
                    },
                    None => true,
                };
                if orphan {
                    self.delete(&entry.location).await?;
                    removed += 1;
                }
            }
        }
        if let Some(root) = &self.local_root {
            removed += sweep_staging_files(root, grace);
        }
        Ok(removed)
    }
}

/// Whether a key's bytes may be cached: not an id key (`images/…`), where an upload
/// waits for its promotion and `pier images reprocess` stages new bytes, so the same
/// key can name other bytes later; content keys and thumbnails never change.
fn cacheable_key(key: &Path) -> bool {
    !key.as_ref().starts_with("images/")
}

/// Seconds since the epoch before which an unreferenced object counts as an orphan.
fn chrono_cutoff(grace: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(grace).as_secs() as i64
}

/// Local uploads are staged as `KEY#N` beside their key (`images/XY/ID#N`) and renamed
/// into place; a crash mid-write leaves the staging file, which no listing shows. Remove
/// those older than `grace`, in the shard directories as well as at the top.
fn sweep_staging_files(root: &std::path::Path, grace: Duration) -> usize {
    fn sweep_dir(dir: &std::path::Path, grace: Duration, depth: u8) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth > 0 {
                    removed += sweep_dir(&entry.path(), grace, depth - 1);
                }
                continue;
            }
            let is_staging = entry.file_name().to_string_lossy().contains('#');
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= grace);
            if is_staging && old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
    ["images", "thumbnails"]
        .iter()
        .map(|dir| sweep_dir(&root.join(dir), grace, 1))
        .sum()
}

/// Largest object kept in the read cache.
pub const CACHEABLE_OBJECT: u64 = 256 * 1024;

/// Recently read small objects by key, bounded by their total size.
type ObjectCache = quick_cache::sync::Cache<String, Bytes, ByteWeight>;

/// Weighs a cached object by its length, so the bound is in bytes.
#[derive(Clone)]
struct ByteWeight;

impl quick_cache::Weighter<String, Bytes> for ByteWeight {
    fn weight(&self, key: &String, value: &Bytes) -> u64 {
        (key.len() + value.len()) as u64
    }
}

/// The part of `bytes` that `range` selects (clamped to what is there).
fn slice(bytes: &Bytes, range: Range<u64>) -> Bytes {
    let end = (range.end as usize).min(bytes.len());
    let start = (range.start as usize).min(end);
    bytes.slice(start..end)
}

/// One blocking call: open, seek, read `span` without zeroing the buffer first.
async fn read_local(path: PathBuf, span: Range<u64>) -> Result<Option<Bytes>, StoreError> {
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Bytes>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let length = span.end.saturating_sub(span.start);
        file.seek(SeekFrom::Start(span.start))?;
        let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        file.take(length).read_to_end(&mut buffer)?;
        Ok(Some(Bytes::from(buffer)))
    });
    read.await
        .map_err(|e| StoreError::Other(e.into()))?
        .map_err(|e| {
            StoreError::Other(anyhow::Error::new(e).context("reading an object from local storage"))
        })
}

/// Maps an object store failure onto the API: unreachable stores are a 503.
fn storage_error(error: object_store::Error) -> StoreError {
    match error {
        object_store::Error::Generic { .. } => {
            StoreError::Unavailable(format!("object storage is unavailable: {error}"))
        }
        other => StoreError::Other(anyhow::Error::new(other).context("object storage failed")),
    }
}

/// A streaming upload into the store; see [`Blobs::writer`].
pub struct BlobWriter {
    inner: BufWriter,
}

impl BlobWriter {
    /// Appends a chunk without copying it.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.inner.put(chunk).await.map_err(storage_error)
    }

    /// Completes the upload: the object is durable and visible when this returns.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| StoreError::Unavailable(format!("object storage is unavailable: {e}")))
    }

    /// Abandons the upload; nothing becomes visible.
    pub async fn abort(mut self) {
        if let Err(error) = self.inner.abort().await {
            tracing::warn!(%error, "could not abort an upload; the orphan sweep will remove it");
        }
    }
}
