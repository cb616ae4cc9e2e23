//! `pier images reprocess`: brings images stored before orientation was read and
//! placeholders were made up to date — their displayed size, an upright thumbnail (a
//! kept one was made sideways, so every kept size is dropped and the thumbnail made
//! again) and their placeholder.
//!
//! Resumable and safe on a live system: an image is done when it has a placeholder, so a
//! second run skips what the first finished, and every step is one a serving replica
//! may take too (it makes variants the same way; a record update touches only derived
//! fields). What it does not do yet is apply the metadata policy to stored bytes: that
//! changes an image's bytes and SHA-256 under readers, which needs content-addressed
//! objects (a new object, then the record switched to it) — see README.

use super::{Gallery, GalleryError};
use crate::{
    domain::{
        ImageId, ImageInspector,
        image::{VariantSize, metadata},
    },
    store::Blobs,
};

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReprocessSummary {
    /// Images brought up to date.
    pub updated: u64,
    /// Images already up to date (a placeholder), deleted meanwhile, or still spooled.
    pub skipped: u64,
    /// Images that cannot be decoded (their failure is kept, as on first view).
    pub undecodable: u64,
}

/// Images read per page while listing.
const PAGE: u16 = 500;

impl Gallery {
    /// Reprocesses every image; `progress(done, total)` after each one.
    pub async fn reprocess_all(
        &self,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ReprocessSummary, GalleryError> {
        let mut ids: Vec<ImageId> = Vec::new();
        let mut before = None;
        loop {
            let page = self.metadata.list(before, PAGE).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            ids.extend(
                page.iter()
                    .filter(|r| r.placeholder.is_none())
                    .map(|r| r.id),
            );
        }
        let total = ids.len() as u64;
        let mut summary = ReprocessSummary::default();
        progress(0, total);
        for (done, id) in ids.into_iter().enumerate() {
            match self.reprocess(id).await? {
                Outcome::Updated => summary.updated += 1,
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Undecodable => summary.undecodable += 1,
            }
            progress(done as u64 + 1, total);
        }
        Ok(summary)
    }

    async fn reprocess(&self, id: ImageId) -> Result<Outcome, GalleryError> {
        let Some(found) = self.find(id).await? else {
            return Ok(Outcome::Skipped);
        };
        if found.spooled || found.record.placeholder.is_some() {
            return Ok(Outcome::Skipped);
        }
        let Some(original) = self.original(&found.record).await? else {
            return Ok(Outcome::Skipped);
        };
        let mut inspector = ImageInspector::new(u64::MAX, u64::MAX);
        let stored = match inspector.feed(&original).and_then(|()| inspector.finish()) {
            Ok(inspected) => inspected.dimensions,
            Err(_) => return Ok(Outcome::Undecodable),
        };
        let displayed = metadata::orientation_of(original).displayed(stored);
        if (displayed.width, displayed.height) != (found.record.width, found.record.height) {
            self.metadata
                .set_displayed_size(id, displayed.width, displayed.height)
                .await?;
        }
        // Kept sizes may have been made before orientation was applied.
        for size in VariantSize::ladder() {
            self.blobs.delete(&Blobs::variant_key(id, size)).await?;
        }
        Ok(match self.make_placeholder(&found).await? {
            Some(()) => Outcome::Updated,
            None => Outcome::Undecodable,
        })
    }
}

enum Outcome {
    Updated,
    Skipped,
    Undecodable,
}
