//! The spool shared by a fleet: this replica's directory and lease, adopting the
//! directories of replicas that are gone, seeing what other replicas hold, and
//! tombstones for their images deleted here. The lease protocol is in `lease.rs`.
//!
//! ```text
//! PIER_SPOOL/
//!   replicas/RID/            one per process start, written only by its owner
//!     lease                  renewed by rename every quarter of the lease time
//!     data/ID                image bytes
//!     batches/FIRST.json     one record per acknowledged upload
//!     adopted/RID2/          directories this replica took over (same layout)
//!   tombstones/ID            deletes of images another replica holds
//! ```

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    SPOOLED, Spool, StoreError, io_error,
    lease::{self, LeaseRecord, ProcessIdentity},
    load_batches, read_batch, sync_dir, unpoisoned, write_durably,
};
use crate::{domain::ImageId, store::ImageRecord, telemetry::names};

/// How deep adopted directories may nest (an adopter that died and was adopted...).
const MAX_NESTING: usize = 8;

/// This replica's directory and the state of its lease.
pub(super) struct Owner {
    pub id: String,
    pub dir: Arc<PathBuf>,
    pub renewals: u64,
    pub renewed_at: Instant,
}

impl Owner {
    /// Creates a new replica directory under `replicas`, with its first lease.
    pub fn start(
        replicas: &Path,
        process: Option<ProcessIdentity>,
        lease: Duration,
    ) -> std::io::Result<Self> {
        let record = LeaseRecord::new(lease::new_replica_id(), 0, false, process, lease);
        let dir = lease::create_replica_dir(replicas, &record)?;
        tracing::info!(replica = %record.replica, "spool: this replica's directory is {}", dir.display());
        Ok(Self {
            id: record.replica,
            dir: Arc::new(dir),
            renewals: 0,
            renewed_at: Instant::now(),
        })
    }
}

/// Another replica's lease as this one last saw it, and since when it has not changed.
pub(super) struct Observed {
    bytes: Vec<u8>,
    since: Instant,
}

/// What the other replicas hold, as of the last refresh: enough to serve their images
/// by id (record and file) without touching the shared directory per request.
#[derive(Default)]
pub(super) struct Others {
    pub images: BTreeMap<ImageId, (ImageRecord, PathBuf)>,
    /// Parsed batch records by path: a record never changes under its name, so a
    /// refresh reads only the new ones.
    cache: HashMap<PathBuf, Arc<Vec<ImageRecord>>>,
}

/// Lets concurrent refreshes share one scan that started after each of them asked.
#[derive(Default)]
pub(super) struct RefreshGate {
    lock: tokio::sync::Mutex<()>,
    started: AtomicU64,
}

impl Spool {
    pub(super) fn others_lock(&self) -> std::sync::MutexGuard<'_, Others> {
        unpoisoned(&self.others)
    }

    fn replicas(&self) -> PathBuf {
        self.root.join("replicas")
    }

    fn tombstone(&self, id: ImageId) -> PathBuf {
        self.root.join("tombstones").join(id.to_string())
    }

    /// This replica's id (readiness, logs).
    pub fn replica_id(&self) -> String {
        self.owner().id.clone()
    }

    /// Whether this replica holds a live lease: renewed within the lease time and not
    /// released.
    pub fn lease_held(&self) -> bool {
        !self.released.load(Ordering::Relaxed)
            && self.owner().renewed_at.elapsed() < self.options.lease
    }

    /// The directory to make an upload durable in, renewing the lease first when its
    /// last renewal is older than half the lease time (a replica back from a pause
    /// learns here that it lost its directory, before acknowledging anything).
    pub(super) async fn ensure_lease(&self) -> Result<Arc<PathBuf>, StoreError> {
        if self.released.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the spool was released at shutdown".into(),
            ));
        }
        let stale = self.owner().renewed_at.elapsed() > self.options.lease / 2;
        if stale {
            return self.renew().await;
        }
        Ok(self.own_dir())
    }

    /// Renews the lease; on finding the directory gone (adopted), starts a new one and
    /// fails, so that nothing is acknowledged from the lost directory.
    pub(super) async fn renew(&self) -> Result<Arc<PathBuf>, StoreError> {
        let _one_at_a_time = self.renewing.lock().await;
        let (dir, record) = {
            let owner = self.owner();
            (owner.dir.clone(), self.next_lease(&owner, false))
        };
        let target = dir.clone();
        let written = tokio::task::spawn_blocking(move || lease::write_lease(&target, &record))
            .await
            .map_err(|e| StoreError::Other(e.into()))?;
        match written {
            Ok(()) => {
                let mut owner = self.owner();
                if owner.dir == dir {
                    owner.renewals += 1;
                    owner.renewed_at = Instant::now();
                }
                Ok(dir)
            }
            Err(error) if lease::is_gone(&error) => {
                self.rotate(&dir)
                    .map_err(|e| io_error("starting a new spool directory", e))?;
                Err(StoreError::Unavailable(
                    "this replica's spool directory was adopted by another replica".into(),
                ))
            }
            Err(error) => Err(io_error("renewing the spool lease", error)),
        }
    }

    /// The lease `owner` writes next: one more renewal, released or not.
    fn next_lease(&self, owner: &Owner, released: bool) -> LeaseRecord {
        LeaseRecord::new(
            owner.id.clone(),
            owner.renewals + 1,
            released,
            self.process.clone(),
            self.options.lease,
        )
    }

    /// After the lease on `lost` was lost: a new directory under a new id; what the old
    /// one held is the adopter's now.
    pub(super) fn rotate(&self, lost: &Path) -> std::io::Result<()> {
        let mut owner = self.owner();
        if owner.dir.as_path() != lost {
            return Ok(()); // rotated already
        }
        let old = owner.id.clone();
        *owner = Owner::start(&self.replicas(), self.process.clone(), self.options.lease)?;
        let new = owner.id.clone();
        drop(owner);
        let mut index = self.lock();
        let before = index.images.len();
        index.images.retain(|_, held| !held.dir.starts_with(lost));
        index.batches.retain(|_, (_, dir)| !dir.starts_with(lost));
        let handed_over = before - index.images.len();
        metrics::gauge!(names::SPOOL_PENDING).set(index.images.len() as f64);
        drop(index);
        metrics::counter!(names::SPOOL_LEASE_LOST_TOTAL).increment(1);
        tracing::warn!(
            lost = %old, new = %new, handed_over,
            "spool: this replica's lease was lost (another replica adopted its directory); continuing in a new one"
        );
        Ok(())
    }

    /// Marks the lease released (a graceful stop): another replica, or the next start,
    /// adopts the directory at once. Nothing is written to it afterwards.
    pub fn release(&self) {
        if self.released.swap(true, Ordering::Relaxed) {
            return;
        }
        let owner = self.owner();
        let record = self.next_lease(&owner, true);
        if let Err(error) = lease::write_lease(&owner.dir, &record) {
            tracing::warn!(%error, "spool: could not release the lease; it expires instead");
        } else {
            tracing::info!(replica = %owner.id, "spool: lease released");
        }
        self.stopping.notify_waiters();
    }

    /// Whether this replica stopped using the spool (released at shutdown).
    pub fn released(&self) -> bool {
        self.released.load(Ordering::Relaxed)
    }

    /// Looks at every other replica's lease and adopts the directories whose lease has
    /// expired. `first_look` (at start): only released leases and dead processes count,
    /// since how long a lease has stayed the same cannot be known from one look.
    pub(super) fn adopt_expired(&self, first_look: bool) {
        let entries = match std::fs::read_dir(self.replicas()) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "spool: cannot list the replicas");
                return;
            }
        };
        let me = self.replica_id();
        let mut present = HashSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !lease::is_replica_name(&name) || name == me {
                continue;
            }
            present.insert(name.clone());
            let (bytes, record) = match lease::read_lease(&entry.path()) {
                Ok(Some(found)) => found,
                Ok(None) => (Vec::new(), None),
                Err(_) => continue, // moved meanwhile, or a transient error
            };
            let released = record.as_ref().is_some_and(|r| r.released);
            let dead = match (
                &self.process,
                record.as_ref().and_then(|r| r.process.as_ref()),
            ) {
                (Some(me), Some(them)) => them.is_gone(me),
                _ => false,
            };
            let timed_out = {
                let mut observed = unpoisoned(&self.observed);
                let now = Instant::now();
                let seen = observed.entry(name.clone()).or_insert_with(|| Observed {
                    bytes: bytes.clone(),
                    since: now,
                });
                if seen.bytes != bytes {
                    *seen = Observed { bytes, since: now };
                }
                // The owner's own lease time, when its lease says (else this one's).
                let lease = record
                    .as_ref()
                    .and_then(|r| r.lease_ms)
                    .map_or(self.options.lease, Duration::from_millis);
                !first_look && seen.since.elapsed() >= lease
            };
            if released || dead || timed_out {
                let why = if released {
                    "released"
                } else if dead {
                    "its process is gone"
                } else {
                    "expired"
                };
                self.adopt(&name, why);
            }
        }
        unpoisoned(&self.observed).retain(|name, _| present.contains(name));
    }

    /// Takes over another replica's directory with one rename; of several replicas
    /// trying at once exactly one succeeds (the others find it gone).
    fn adopt(&self, victim: &str, why: &str) {
        let own = self.own_dir();
        let target = own.join("adopted").join(victim);
        match std::fs::rename(self.replicas().join(victim), &target) {
            Ok(()) => {}
            Err(error) if lease::is_gone(&error) => return, // another replica won
            Err(error) => {
                tracing::warn!(%error, victim, "spool: could not adopt a replica's directory");
                return;
            }
        }
        let _ = sync_dir(&self.replicas());
        match self.load_adopted(&target) {
            Ok(batches) => {
                metrics::counter!(names::SPOOL_ADOPTED_TOTAL).increment(1);
                tracing::warn!(
                    adopted = victim,
                    why,
                    batches,
                    "spool: adopted another replica's directory; replaying what it held"
                );
            }
            Err(error) => {
                tracing::error!(%error, adopted = victim, "spool: an adopted directory is unreadable; it stays for an operator");
            }
        }
    }

    /// Loads the batches of an adopted directory and of those it had adopted itself;
    /// returns how many.
    fn load_adopted(&self, top: &Path) -> anyhow::Result<usize> {
        let mut dirs = vec![(top.to_owned(), 0)];
        let mut loaded = Vec::new();
        while let Some((dir, depth)) = dirs.pop() {
            if dir.join("batches").is_dir() {
                for records in load_batches(&dir)? {
                    loaded.push((dir.clone(), records));
                }
            }
            if depth < MAX_NESTING
                && let Ok(entries) = std::fs::read_dir(dir.join("adopted"))
            {
                dirs.extend(entries.flatten().map(|e| (e.path(), depth + 1)));
            }
        }
        let count = loaded.len();
        let mut index = self.lock();
        for (dir, records) in loaded {
            index.insert_batch(&Arc::new(dir), records);
        }
        metrics::gauge!(names::SPOOL_PENDING).set(index.images.len() as f64);
        drop(index);
        if count > 0 {
            self.remote_down.store(true, Ordering::Relaxed);
            self.wake.notify_one();
        }
        Ok(count)
    }

    /// A spool of the one-directory layout of earlier versions (`data/`, `batches/` at
    /// the top) becomes an adopted directory of this replica.
    pub(super) fn adopt_legacy_layout(&self) -> anyhow::Result<()> {
        let (data, batches) = (self.root.join("data"), self.root.join("batches"));
        if !data.exists() && !batches.exists() {
            return Ok(());
        }
        let target = self.own_dir().join("adopted").join("legacy");
        std::fs::create_dir_all(&target)?;
        for (from, name) in [(data, "data"), (batches, "batches")] {
            if from.exists() {
                std::fs::rename(&from, target.join(name))?;
            } else {
                std::fs::create_dir_all(target.join(name))?;
            }
        }
        sync_dir(&self.root)?;
        let batches = self.load_adopted(&target)?;
        tracing::info!(
            batches,
            "spool: moved the spool of an earlier version into this replica's directory"
        );
        Ok(())
    }

    /// Removes adopted directories whose batches have all been replayed.
    pub(super) fn remove_drained_adoptions(&self) {
        let Ok(entries) = std::fs::read_dir(self.own_dir().join("adopted")) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let busy = self
                .lock()
                .batches
                .values()
                .any(|(_, dir)| dir.starts_with(&path));
            if !busy && let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(%error, "spool: could not remove a drained adopted directory");
            }
        }
    }

    /// Re-reads what other replicas hold, sharing a scan with concurrent callers. The
    /// scan starts after the call, so an image another replica acknowledged before it
    /// is seen (read-your-writes across replicas).
    pub async fn refresh(&self) {
        let seen = self.refresh.started.load(Ordering::SeqCst);
        let _scan = self.refresh.lock.lock().await;
        if self.refresh.started.load(Ordering::SeqCst) > seen {
            return; // a scan that began after this call has just finished
        }
        self.refresh.started.fetch_add(1, Ordering::SeqCst);
        let (root, me) = (self.root.clone(), self.replica_id());
        let cache = self.others_lock().cache.clone();
        match tokio::task::spawn_blocking(move || scan_others(&root, &me, &cache)).await {
            Ok(others) => *self.others_lock() = others,
            Err(error) => tracing::warn!(%error, "spool: scanning other replicas failed"),
        }
    }

    /// [`Spool::refresh`] for the start, outside the runtime's workers.
    pub(super) fn refresh_others_blocking(&self) {
        let cache = self.others_lock().cache.clone();
        let others = scan_others(&self.root, &self.replica_id(), &cache);
        *self.others_lock() = others;
    }

    /// Deletes another replica's spooled image: a durable tombstone that its replay
    /// honours (and that outlives its adoption). `false` when no replica holds `id`.
    pub(super) async fn bury(&self, id: ImageId) -> Result<bool, StoreError> {
        if !self.others_lock().images.contains_key(&id) {
            self.refresh().await;
            if !self.others_lock().images.contains_key(&id) {
                return Ok(false);
            }
        }
        self.leave_tombstone(id).await?;
        self.others_lock().images.remove(&id);
        Ok(true)
    }

    /// Writes a durable tombstone for `id`: no replay pushes it, and the replay task
    /// deletes any remote copy of it before removing the tombstone.
    pub async fn leave_tombstone(&self, id: ImageId) -> Result<(), StoreError> {
        write_durably(self.tombstone(id), Vec::new(), "writing a tombstone").await
    }

    /// Whether `id` was deleted by some replica while spooled (one `stat`).
    pub async fn is_buried(&self, id: ImageId) -> bool {
        tokio::fs::try_exists(self.tombstone(id))
            .await
            .unwrap_or(false)
    }

    /// Tombstones no spool holds any more: their images may have reached the remote side
    /// before the delete (a replay that finished first), so they are deleted there too,
    /// then the tombstone goes. Returns the ids whose remote deletes failed.
    pub(super) async fn sweep_tombstones(
        &self,
        blobs: &crate::store::Blobs,
        meta: &dyn crate::store::ImageMetaStore,
    ) -> usize {
        let Ok(mut entries) = tokio::fs::read_dir(self.root.join("tombstones")).await else {
            return 0;
        };
        let mut buried = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Some(id) = entry.file_name().to_str().and_then(ImageId::parse) {
                buried.push(id);
            }
        }
        if buried.is_empty() {
            return 0;
        }
        self.refresh().await;
        let mut failed = 0;
        for id in buried {
            if self.holds(id) {
                continue; // its owner's replay skips it and removes the tombstone
            }
            if delete_remotely(blobs, meta, id).await.is_err() {
                failed += 1;
                continue;
            }
            let _ = tokio::fs::remove_file(self.tombstone(id)).await;
        }
        failed
    }

    /// Removes tombstones once the batch that held their images is gone.
    pub(super) async fn unbury(&self, ids: &[ImageId]) {
        for id in ids {
            let _ = tokio::fs::remove_file(self.tombstone(*id)).await;
        }
    }
}

/// Deletes an image's metadata and objects on the remote side (idempotent).
pub(super) async fn delete_remotely(
    blobs: &crate::store::Blobs,
    meta: &dyn crate::store::ImageMetaStore,
    id: ImageId,
) -> Result<(), StoreError> {
    crate::store::objects::delete_image(meta, blobs, id).await?;
    Ok(())
}

/// Reads every other replica's batch records (new ones only; known ones from `cache`).
/// A directory that vanishes mid-scan was being adopted: the scan starts over (three
/// times at most), so an adoption never hides what it moved.
fn scan_others(root: &Path, me: &str, cache: &HashMap<PathBuf, Arc<Vec<ImageRecord>>>) -> Others {
    let mut others = Others::default();
    for _attempt in 0..3 {
        others = Others::default();
        if scan_once(root, me, cache, &mut others) {
            break;
        }
    }
    others
}

/// One scan; `false` when a directory vanished under it.
fn scan_once(
    root: &Path,
    me: &str,
    cache: &HashMap<PathBuf, Arc<Vec<ImageRecord>>>,
    others: &mut Others,
) -> bool {
    let buried: HashSet<ImageId> = std::fs::read_dir(root.join("tombstones"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(ImageId::parse))
                .collect()
        })
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(root.join("replicas")) else {
        return true;
    };
    let mut dirs: Vec<(PathBuf, usize)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            lease::is_replica_name(&name) && name != me
        })
        .map(|e| (e.path(), 0))
        .collect();
    while let Some((dir, depth)) = dirs.pop() {
        let listing = match std::fs::read_dir(dir.join("batches")) {
            Ok(listing) => listing,
            Err(error) if lease::is_gone(&error) => return false,
            Err(_) => continue,
        };
        for entry in listing.flatten() {
            let path = entry.path();
            let records = match cache.get(&path) {
                Some(records) => records.clone(),
                None => match read_batch(&path) {
                    Ok(Some(records)) => Arc::new(records),
                    Ok(None) => continue,
                    Err(error) => {
                        let gone = error
                            .downcast_ref::<std::io::Error>()
                            .is_some_and(lease::is_gone);
                        if !gone {
                            tracing::warn!(%error, "spool: another replica's batch record is unreadable");
                        }
                        continue; // replayed meanwhile, or moved (the directory check catches it)
                    }
                },
            };
            for record in records.iter() {
                if buried.contains(&record.id) {
                    continue;
                }
                let mut record = record.clone();
                record.location = SPOOLED.to_owned();
                let file = dir.join("data").join(record.id.to_string());
                others.images.insert(record.id, (record, file));
            }
            others.cache.insert(path, records);
        }
        if depth < MAX_NESTING
            && let Ok(adopted) = std::fs::read_dir(dir.join("adopted"))
        {
            dirs.extend(adopted.flatten().map(|e| (e.path(), depth + 1)));
        }
    }
    true
}

/// Keeps this replica's lease, adopts expired ones, refreshes the view of the others,
/// for as long as the spool is in use (every quarter of the lease time).
pub async fn maintain_forever(spool: Arc<Spool>) {
    let period = spool.options.lease / 4;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = spool.wake_on_release() => {}
        }
        if spool.released() {
            return;
        }
        if let Err(error) = spool.renew().await {
            tracing::warn!(%error, "spool: lease renewal failed");
        }
        let adopter = spool.clone();
        let _ = tokio::task::spawn_blocking(move || {
            adopter.adopt_expired(false);
            adopter.remove_drained_adoptions();
        })
        .await;
        spool.refresh().await;
    }
}

impl Spool {
    /// Completes once the spool is released.
    pub(super) async fn wake_on_release(&self) {
        loop {
            let notified = self.stopping.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.released() {
                return;
            }
            notified.await;
        }
    }
}
