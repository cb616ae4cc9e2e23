//! Thumbnails and placeholders made ahead: right after an upload is acknowledged its
//! images join a bounded queue, and one worker makes each thumbnail (kept, as a first
//! view would) and, from it, a ThumbHash placeholder recorded in the image's metadata,
//! where the list shows it. Nothing here is needed for correctness: a full queue drops
//! the job (the thumbnail is then made on first view, which also queues the
//! placeholder), and what was not made before a restart is found and made by the
//! catch-up pass at the next start.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Gallery, GalleryError};
use crate::{
    domain::{ImageId, image::VariantSize},
    telemetry::names,
};

/// One image to make ahead, and how often it was found still in the spool.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    id: ImageId,
    spooled_attempts: u32,
}

/// How long a spooled image waits before it is tried again (its record must be in the
/// metadata store for the placeholder to be recorded), and how often.
const SPOOLED_RETRY: Duration = Duration::from_secs(5);
const SPOOLED_ATTEMPTS: u32 = 120;

/// Images read per page by the catch-up pass.
const CATCH_UP_PAGE: u16 = 500;

impl Gallery {
    /// Starts the queue (`capacity` jobs; 0 leaves making ahead off) and its worker,
    /// and the catch-up pass over images stored without a placeholder.
    pub fn start_making_ahead(&self, capacity: usize) {
        if capacity == 0 {
            return;
        }
        let (sender, receiver) = mpsc::channel(capacity);
        if self.made_ahead.set(sender.clone()).is_err() {
            return;
        }
        tokio::spawn(self.clone().work(receiver));
        tokio::spawn(self.clone().catch_up(sender));
    }

    /// Queues images to make ahead; a full (or absent) queue drops them.
    pub(super) fn make_ahead(&self, ids: impl IntoIterator<Item = ImageId>) {
        let Some(queue) = self.made_ahead.get() else {
            return;
        };
        for id in ids {
            let job = Job {
                id,
                spooled_attempts: 0,
            };
            if queue.try_send(job).is_err() {
                metrics::counter!(names::MADE_AHEAD_TOTAL, "result" => "dropped").increment(1);
            }
        }
    }

    async fn work(self, mut receiver: mpsc::Receiver<Job>) {
        while let Some(job) = receiver.recv().await {
            let result = match self.make_one(job).await {
                Ok(Some(())) => "made",
                Ok(None) => "skipped",
                Err(error) => {
                    tracing::warn!(%error, id = %job.id, "could not make an image's placeholder ahead; its first view will");
                    "failed"
                }
            };
            metrics::counter!(names::MADE_AHEAD_TOTAL, "result" => result).increment(1);
        }
    }

    /// Makes one image's thumbnail and placeholder; `None` when there was nothing to do
    /// (deleted, made already, undecodable, or still spooled and tried again later).
    async fn make_one(&self, job: Job) -> Result<Option<()>, GalleryError> {
        let Some(found) = self.find(job.id).await? else {
            return Ok(None);
        };
        if found.record.placeholder.is_some() {
            return Ok(None);
        }
        if found.spooled {
            self.retry_later(job);
            return Ok(None);
        }
        self.make_placeholder(&found).await
    }

    /// Makes (or reads the kept) thumbnail of a stored image and records its
    /// placeholder; `None` when the image cannot be decoded. Also `pier images reprocess`.
    pub(super) async fn make_placeholder(
        &self,
        found: &super::Found,
    ) -> Result<Option<()>, GalleryError> {
        let thumbnail = match self.variant(found, VariantSize::THUMBNAIL).await {
            Ok(thumbnail) => thumbnail,
            Err(GalleryError::Undecodable(_)) => return Ok(None),
            Err(other) => return Err(other),
        };
        let placeholder = tokio::task::spawn_blocking(move || placeholder_of(&thumbnail))
            .await
            .map_err(|e| GalleryError::Undecodable(e.to_string()))?;
        let Some(placeholder) = placeholder else {
            return Ok(None);
        };
        self.metadata
            .set_placeholder(found.record.id, &placeholder)
            .await?;
        Ok(Some(()))
    }

    fn retry_later(&self, job: Job) {
        if job.spooled_attempts >= SPOOLED_ATTEMPTS {
            return;
        }
        let Some(queue) = self.made_ahead.get().cloned() else {
            return;
        };
        tokio::spawn(async move {
            tokio::time::sleep(SPOOLED_RETRY).await;
            let _ = queue.try_send(Job {
                spooled_attempts: job.spooled_attempts + 1,
                ..job
            });
        });
    }

    /// Pages through every image once, newest first, queueing those without a
    /// placeholder (waiting for room: this pass is the queue's only patient producer).
    async fn catch_up(self, queue: mpsc::Sender<Job>) {
        let mut before = None;
        loop {
            let page = match self.metadata.list(before, CATCH_UP_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "the placeholder catch-up pass stopped; the next start runs it again");
                    return;
                }
            };
            let Some(last) = page.last() else {
                return;
            };
            before = Some(last.id);
            for record in page.iter().filter(|r| r.placeholder.is_none()) {
                let job = Job {
                    id: record.id,
                    spooled_attempts: 0,
                };
                if queue.send(job).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Longest side ThumbHash encodes (its limit is 100 px).
const PLACEHOLDER_SIDE: u32 = 100;

/// The ThumbHash of a thumbnail, base64: `None` when it cannot be decoded.
pub fn placeholder_of(thumbnail: &Bytes) -> Option<String> {
    let rgb = super::thumbnails::decode_own_jpeg(thumbnail)?;
    // Fitted within PLACEHOLDER_SIDE, aspect kept, never enlarged.
    let (width, height) = rgb.dimensions();
    let scale = (f64::from(PLACEHOLDER_SIDE) / f64::from(width.max(height))).min(1.0);
    let fit = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    let small = image::imageops::thumbnail(&rgb, fit(width), fit(height));
    let (w, h) = small.dimensions();
    let rgba: Vec<u8> = small
        .pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2], 255])
        .collect();
    let hash = thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &rgba);
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash))
}
