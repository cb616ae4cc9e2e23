//! Replay: spooled batches pushed to the remote backends once they answer again, oldest
//! first, with backoff while they do not.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use super::{FIRST_BACKOFF, MAX_BACKOFF, Spool, io_error, sync_dir};
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
