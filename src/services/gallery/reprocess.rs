//! `pier images reprocess`: brings images stored by an earlier pier up to date — the
//! metadata policy applied to their bytes, their displayed size, an upright thumbnail (a
//! kept one was made sideways, so every kept size is dropped and the thumbnail made
//! again) and their placeholder.
//!
//! Resumable and safe on a live system. An image with a placeholder has its size and
//! thumbnail done; the policy is deterministic and idempotent, so an image whose bytes
//! it leaves unchanged is done (a second run reads every image again, but writes
//! nothing). New bytes are a new content-addressed object that the record switches to
//! in one transaction with both references ([`objects::switch`]): a reader sees the old
//! bytes with the old record or the new bytes with the new one, never a mix.

use super::{Gallery, GalleryError};
use crate::{
    domain::{
        ImageId, ImageInspector,
        image::{MetadataPolicy, VariantSize, metadata},
    },
    store::{Blobs, ImageRecord, objects},
};

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReprocessSummary {
    /// Images whose displayed size, thumbnail and placeholder were brought up to date.
    pub updated: u64,
    /// Images whose bytes the metadata policy changed (now a new object).
    pub stripped: u64,
    /// Images with nothing to do, deleted meanwhile, or still spooled.
    pub skipped: u64,
    /// Images that cannot be decoded (their failure is kept, as on first view).
    pub undecodable: u64,
    /// Images still stored under their id: `pier images migrate-objects` first, then
    /// reprocess again applies the policy to them.
    pub not_content_addressed: u64,
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
            ids.extend(page.iter().map(|r| r.id));
        }
        let total = ids.len() as u64;
        let mut summary = ReprocessSummary::default();
        progress(0, total);
        for (done, id) in ids.into_iter().enumerate() {
            self.reprocess(id, &mut summary).await?;
            progress(done as u64 + 1, total);
        }
        Ok(summary)
    }

    async fn reprocess(
        &self,
        id: ImageId,
        summary: &mut ReprocessSummary,
    ) -> Result<(), GalleryError> {
        let mut found = match self.find(id).await? {
            Some(found) if !found.spooled => found,
            _ => {
                summary.skipped += 1;
                return Ok(());
            }
        };
        let policy = self.images.metadata_policy;
        let mut changed = false;
        if policy != MetadataPolicy::Keep {
            match self.apply_policy(&found.record, policy).await? {
                Policy::Applied => {
                    summary.stripped += 1;
                    changed = true;
                    // The record now names the new bytes.
                    match self.find(id).await? {
                        Some(now) => found = now,
                        None => return Ok(()),
                    }
                }
                Policy::Unchanged => {}
                Policy::NotContentAddressed => summary.not_content_addressed += 1,
                Policy::Undecodable => {
                    summary.undecodable += 1;
                    return Ok(());
                }
            }
        }
        if found.record.placeholder.is_none() {
            match self.bring_up_to_date(&found).await? {
                UpToDate::Brought => {
                    summary.updated += 1;
                    changed = true;
                }
                UpToDate::Gone => {}
                UpToDate::Undecodable => {
                    summary.undecodable += 1;
                    return Ok(());
                }
            }
        }
        if !changed {
            summary.skipped += 1;
        }
        Ok(())
    }

    /// Applies the metadata policy to an image's stored bytes.
    async fn apply_policy(
        &self,
        record: &ImageRecord,
        policy: MetadataPolicy,
    ) -> Result<Policy, GalleryError> {
        let Some(stored) = self
            .blobs
            .get_bytes(&Blobs::object_key(&record.sha256))
            .await?
        else {
            return Ok(Policy::NotContentAddressed);
        };
        let Ok(kept) = metadata::strip_stored(stored.clone(), policy) else {
            return Ok(Policy::Undecodable);
        };
        if kept == stored {
            return Ok(Policy::Unchanged);
        }
        Ok(
            match objects::switch(self.metadata.as_ref(), &self.blobs, record, kept).await? {
                true => Policy::Applied,
                // Deleted or switched meanwhile: the next run sees what it is now.
                false => Policy::Unchanged,
            },
        )
    }

    /// Records the displayed size, drops kept sizes and makes the thumbnail and the
    /// placeholder again.
    async fn bring_up_to_date(&self, found: &super::Found) -> Result<UpToDate, GalleryError> {
        let id = found.record.id;
        let Some(original) = self.original(&found.record).await? else {
            return Ok(UpToDate::Gone);
        };
        let mut inspector = ImageInspector::new(u64::MAX, u64::MAX);
        let stored = match inspector.feed(&original).and_then(|()| inspector.finish()) {
            Ok(inspected) => inspected.dimensions,
            Err(_) => return Ok(UpToDate::Undecodable),
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
        Ok(match self.make_placeholder(found).await? {
            Some(()) => UpToDate::Brought,
            None => UpToDate::Undecodable,
        })
    }
}

/// What applying the policy to one image did.
enum Policy {
    Applied,
    Unchanged,
    NotContentAddressed,
    Undecodable,
}

/// What bringing one image's size, thumbnail and placeholder up to date did.
enum UpToDate {
    Brought,
    /// Its bytes are gone (deleted meanwhile).
    Gone,
    Undecodable,
}
