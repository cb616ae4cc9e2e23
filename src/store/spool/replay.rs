//! Replay: spooled batches pushed to the remote backends once they answer again, oldest
//! first, with backoff while they do not.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use super::{FIRST_BACKOFF, MAX_BACKOFF, Spool, batch_path, discard_in, fleet, io_error, sync_dir};
use crate::{
    domain::ImageId,
    store::{Blobs, ImageMetaStore, ImageRecord, StoreError},
};

impl Spool {
    /// Replays the oldest batch after `after` (wrapping around), so that a batch the
    /// remote side keeps refusing cannot hold up the others; `Ok(None)` when the spool
    /// is empty, else the batch that was tried (an error names it in the log).
    pub(super) async fn replay_one(
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
            next.map(|(first, (ids, dir))| {
                let records: Vec<ImageRecord> = ids
                    .iter()
                    .filter_map(|id| index.images.get(id).map(|held| held.record.clone()))
                    .collect();
                (*first, records, dir.clone())
            })
        };
        let Some((first, records, dir)) = batch else {
            return Ok(None);
        };
        // Images another replica deleted while they waited here (tombstones) are not
        // pushed; one deleted during the push is deleted remotely right after it.
        let mut buried = Vec::new();
        let mut live = Vec::with_capacity(records.len());
        for record in &records {
            if self.is_buried(record.id).await {
                buried.push(record.id);
            } else {
                live.push(record.clone());
            }
        }
        if !live.is_empty() {
            self.push(blobs, meta, &live, &dir, false)
                .await
                .map_err(|error| (Some(first), error))?;
        }
        for record in &live {
            if self.is_buried(record.id).await {
                buried.push(record.id);
            }
        }
        // An earlier attempt (cut short by a crash or a failure) may have pushed a
        // tombstoned image before its tombstone: delete it remotely either way.
        for id in &buried {
            fleet::delete_remotely(blobs, meta, *id)
                .await
                .map_err(|error| (Some(first), error))?;
        }
        // The remote side has everything: forget the record first (durably), then the
        // files. A crash in between leaves files without a record, removed at start.
        let path = batch_path(&dir, first);
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
        let batches = dir.join("batches");
        let _ = tokio::task::spawn_blocking(move || sync_dir(&batches)).await;
        {
            let mut index = self.lock();
            index.batches.remove(&first);
            for record in &records {
                index.images.remove(&record.id);
            }
            metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(index.images.len() as f64);
        }
        discard_in(&dir.join("data"), records.iter().map(|r| r.id).collect()).await;
        self.unbury(&buried).await;
        let replayed = records.len() - buried.len();
        metrics::counter!(crate::telemetry::names::SPOOL_REPLAYED_TOTAL).increment(replayed as u64);
        tracing::info!(
            images = replayed,
            deleted_meanwhile = buried.len(),
            "replayed a spooled upload"
        );
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
        if spool.released() {
            return;
        }
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
                    // Tombstones no spool holds any more: their remote copies go too.
                    let failed = spool.sweep_tombstones(&blobs, meta.as_ref()).await;
                    // Idle until an upload is spooled or adopted (or a few seconds pass:
                    // other replicas' tombstones), or the spool is released.
                    let idle = if failed > 0 {
                        backoff
                    } else {
                        Duration::from_secs(60).min(spool.options.lease)
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(idle, spool.wake.notified()) => {}
                        _ = spool.wake_on_release() => {}
                    }
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
