//! The gallery: images people upload, their metadata, thumbnails, and the spool that
//! keeps uploads durable while a remote backend is down.
//!
//! This is where the gallery's rules live, so that no route has to know them: an upload
//! is all-or-nothing; with remote backends (S3, DynamoDB) bytes stream to the spool first
//! and are pushed from there, or kept and replayed when the remote side is down; a
//! spooled image is served from the spool; a thumbnail is made once and kept, and so is
//! the reason it could not be made.

mod kept_thumbnails;
mod made_ahead;
mod reprocess;
pub mod thumbnails;
mod upload;

use std::{ops::Range, sync::Arc};

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::{
    config::{ImageSettings, UploadSettings},
    domain::{
        ImageId, PageLimit,
        image::{ImageRejection, VariantSize},
    },
    store::{Blobs, ImageMetaStore, ImageRecord, StoreError, spool::Spool},
};

pub use made_ahead::placeholder_of;
pub use reprocess::ReprocessSummary;
pub use thumbnails::{DecodeLimits, ThumbnailError, Thumbnailer};
pub use upload::{FileFailure, Upload};

/// Objects up to this size are read whole (and cached); larger ones stream, so memory
/// stays bounded whatever the object size.
const INLINE_READ_LIMIT: u64 = 1 << 20;

/// Why the gallery could not do what was asked, in the gallery's terms; `http::error`
/// turns each into a status.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// A file is larger than the per-file limit.
    #[error("`{filename}` is larger than the limit of {limit} bytes")]
    FileTooLarge { filename: String, limit: u64 },
    /// More files than one upload may hold.
    #[error("at most {0} files may be sent in one request")]
    TooManyFiles(u32),
    /// An upload without any file.
    #[error("send at least one image in a form field named `file`")]
    NoFiles,
    /// A file is not an image pier accepts (type, dimensions, structure, decode cost).
    #[error("`{filename}` was refused: {rejection}")]
    Refused {
        filename: String,
        rejection: ImageRejection,
    },
    /// The stored image cannot be decoded for a thumbnail within the decode limits.
    #[error("the stored image cannot be decoded for a thumbnail: {0}")]
    Undecodable(String),
    /// The image's bytes moved while it was read: `pier images reprocess` switched it
    /// to new bytes (and the old ones went), or it was deleted. Found again, it names
    /// its bytes now, or is gone.
    #[error("the image changed while it was read; try again")]
    Moved,
    /// A backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ThumbnailError> for GalleryError {
    fn from(error: ThumbnailError) -> Self {
        match error {
            ThumbnailError::Undecodable(reason) => Self::Undecodable(reason),
            ThumbnailError::Unavailable(detail) => Self::Store(StoreError::Unavailable(detail)),
            ThumbnailError::Internal(detail) => {
                Self::Store(StoreError::Other(anyhow::anyhow!(detail)))
            }
        }
    }
}

/// An image found in the gallery: its record, and where its bytes are.
#[derive(Debug, Clone)]
pub struct Found {
    /// The image's metadata.
    pub record: ImageRecord,
    /// Waiting in the spool for its replay (bytes read from there).
    spooled: bool,
}

/// An image's bytes (or a range of them), ready to send.
pub enum ImageBytes {
    /// Read whole: small objects, from the cache when they are there.
    Whole(Bytes),
    /// Streamed in chunks: large objects.
    Stream(BoxStream<'static, std::io::Result<Bytes>>),
}

/// The gallery service. Cheap to clone (every part is shared).
#[derive(Clone)]
pub struct Gallery {
    blobs: Blobs,
    metadata: Arc<dyn ImageMetaStore>,
    spool: Option<Arc<Spool>>,
    thumbnails: Thumbnailer,
    uploads: UploadSettings,
    images: ImageSettings,
    /// The make-ahead queue, once started ([`Gallery::start_making_ahead`]).
    made_ahead: Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<made_ahead::Job>>>,
}

impl Gallery {
    /// A gallery over these backends. `spool` is `Some` exactly when a backend is remote:
    /// uploads then go through it.
    pub fn new(
        blobs: Blobs,
        metadata: Arc<dyn ImageMetaStore>,
        spool: Option<Arc<Spool>>,
        thumbnails: Thumbnailer,
        uploads: UploadSettings,
        images: ImageSettings,
    ) -> Self {
        Self {
            blobs,
            metadata,
            spool,
            thumbnails,
            uploads,
            images,
            made_ahead: Arc::default(),
        }
    }

    /// Image bytes (tests, the orphan sweep, `migrate-store`).
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Image metadata.
    pub fn metadata(&self) -> &Arc<dyn ImageMetaStore> {
        &self.metadata
    }

    /// The spool, when a backend is remote (its replay task, readiness).
    pub fn spool(&self) -> Option<&Arc<Spool>> {
        self.spool.as_ref()
    }

    /// The thumbnail maker (its decode count, for tests).
    pub fn thumbnails(&self) -> &Thumbnailer {
        &self.thumbnails
    }

    /// Starts an all-or-nothing upload: add files, then commit, or discard on failure.
    pub fn begin_upload(&self) -> Upload<'_> {
        Upload::new(self)
    }

    /// An image's record and where it is. The spool's in-memory index is consulted
    /// first: it is free, and a spooled image has the same record and bytes wherever it
    /// is read from; otherwise the metadata store decides. When that does not know the
    /// id (or cannot answer), another replica may have spooled it a moment ago: the
    /// spool looks again before the answer is "no such image".
    pub async fn find(&self, id: ImageId) -> Result<Option<Found>, GalleryError> {
        let spooled = |record| Found {
            record,
            spooled: true,
        };
        let Some(spool) = &self.spool else {
            return Ok(self.metadata.get(id).await?.map(|record| Found {
                record,
                spooled: false,
            }));
        };
        if let Some(record) = spool.get(id) {
            // Deleted through another replica while spooled: gone here too.
            if spool.is_buried(id).await {
                return Ok(None);
            }
            return Ok(Some(spooled(record)));
        }
        match self.metadata.get(id).await {
            Ok(Some(record)) => Ok(Some(Found {
                record,
                spooled: false,
            })),
            Ok(None) => Ok(spool.get_fresh(id).await.map(spooled)),
            Err(error) => match spool.get_fresh(id).await {
                Some(record) => Ok(Some(spooled(record))),
                // Deleted while spooled: known here even while the remote side is down.
                None if spool.is_buried(id).await => Ok(None),
                None => Err(error.into()),
            },
        }
    }

    /// One page of images older than `after`, newest first, spooled ones included, and
    /// the cursor of the next page (`None` on the last one).
    pub async fn page(
        &self,
        after: Option<ImageId>,
        limit: PageLimit,
    ) -> Result<(Vec<ImageRecord>, Option<ImageId>), GalleryError> {
        let mut records = self.metadata.list(after, limit.fetch()).await?;
        if let Some(spool) = &self.spool {
            spool.refresh().await;
            spool.merge_into(&mut records, after, usize::from(limit.fetch()));
        }
        let next = limit.cut(&mut records, |record| record.id);
        Ok((records, next))
    }

    /// The bytes of `span` of a found image.
    pub async fn read(&self, found: &Found, span: Range<u64>) -> Result<ImageBytes, GalleryError> {
        let id = found.record.id;
        let length = span.end - span.start;
        // A spooled image is read from the spool; if it has just been replayed (and left
        // the spool) the object store has it.
        if found.spooled
            && let Some(spool) = &self.spool
        {
            let bytes = if length <= INLINE_READ_LIMIT {
                spool.read(id, span.clone()).await?.map(ImageBytes::Whole)
            } else {
                spool
                    .stream(id, span.clone())
                    .await?
                    .map(ImageBytes::Stream)
            };
            if let Some(bytes) = bytes {
                return Ok(bytes);
            }
        }
        // The content key; the id key for an image stored before content addressing
        // or not yet promoted.
        let key = Blobs::object_key(&found.record.sha256);
        let staged = Blobs::image_key(id);
        if length <= INLINE_READ_LIMIT {
            let bytes = match self
                .blobs
                .read(&key, found.record.size, span.clone())
                .await?
            {
                Some(bytes) => Some(bytes),
                None => self.blobs.read(&staged, found.record.size, span).await?,
            };
            return match bytes {
                Some(bytes) => Ok(ImageBytes::Whole(bytes)),
                None => Err(self.missing(&found.record).await),
            };
        }
        let whole = span.start == 0 && span.end == found.record.size;
        let range = (!whole).then_some(span);
        let object = match self.blobs.get(&key, range.clone()).await? {
            Some(object) => object,
            None => match self.blobs.get(&staged, range).await? {
                Some(object) => object,
                None => return Err(self.missing(&found.record).await),
            },
        };
        Ok(ImageBytes::Stream(object_stream(object)))
    }

    /// Why a found image's bytes are not in storage: they moved since it was found
    /// (switched to new bytes, or deleted), or they are lost.
    async fn missing(&self, found: &ImageRecord) -> GalleryError {
        match self.metadata.get(found.id).await {
            Ok(Some(now)) if now.sha256 == found.sha256 => {
                GalleryError::Store(StoreError::Corrupt(format!(
                    "image {} has metadata but no object in storage",
                    found.id
                )))
            }
            Ok(_) => GalleryError::Moved,
            Err(error) => error.into(),
        }
    }

    /// A found image's JPEG of `size` (at most that on its longest side, upright).
    pub async fn thumbnail(&self, found: &Found, size: VariantSize) -> Result<Bytes, GalleryError> {
        if found.record.placeholder.is_none() {
            // Missed by the queue (it was full, or this image predates it).
            self.make_ahead([found.record.id]);
        }
        self.variant(found, size).await
    }

    /// A found image's JPEG of `size`, kept or made.
    async fn variant(&self, found: &Found, size: VariantSize) -> Result<Bytes, GalleryError> {
        let id = found.record.id;
        if found.spooled
            && let Some(bytes) = self.spooled_thumbnail(id, found.record.size, size).await?
        {
            return Ok(bytes);
        }
        Ok(self.stored_thumbnail(&found.record, size).await?)
    }

    /// A stored image's bytes, whole: its content key, else its id key (stored before
    /// content addressing, or not yet promoted); `None` when neither is there.
    pub(super) async fn original(&self, record: &ImageRecord) -> Result<Option<Bytes>, StoreError> {
        match self
            .blobs
            .get_bytes(&Blobs::object_key(&record.sha256))
            .await?
        {
            Some(bytes) => Ok(Some(bytes)),
            None => self.blobs.get_bytes(&Blobs::image_key(record.id)).await,
        }
    }

    /// Deletes an image and its thumbnail; `false` when there was no such image.
    pub async fn delete(&self, id: ImageId) -> Result<bool, GalleryError> {
        // No replay may move this image from the spool to the remote side meanwhile.
        let _paused = match &self.spool {
            Some(spool) => Some(spool.pause_replay().await),
            None => None,
        };
        // The spool first: another replica's image gets a durable tombstone before the
        // remote delete, so whichever of its replay and this delete comes second
        // removes it remotely (its replay checks the tombstone after pushing).
        let spooled = match &self.spool {
            Some(spool) => spool.remove(id).await?,
            None => false,
        };
        // Metadata next: once the row is gone the image is invisible; objects left by a
        // failure below are orphans that the sweep removes. A spooled image's delete is
        // done once the spool forgot it (a tombstone left behind is swept with its
        // remote copy, if any, by the replay task).
        let remote = match self.metadata.delete(id).await {
            Ok(deleted) => deleted,
            Err(error) if spooled => {
                // A replay cut short by a crash may have left a remote copy: the
                // tombstone has the replay task delete it once the remote side answers.
                if let Some(spool) = &self.spool {
                    spool.leave_tombstone(id).await?;
                }
                tracing::warn!(%error, %id, "deleted a spooled image while the remote side was down; a tombstone remains for it");
                crate::store::Deleted::default()
            }
            Err(error) => return Err(error.into()),
        };
        if !remote.existed && !spooled {
            return Ok(false);
        }
        for key in Blobs::keys_of_image(id) {
            if let Err(error) = self.blobs.delete(&key).await {
                tracing::warn!(%error, %id, "could not delete an object; the orphan sweep will");
            }
        }
        // The last image with these bytes: the object goes too (elected by the store,
        // so exactly one delete does it; a failure here is finished by the sweep).
        if let Some(sha256) = &remote.unreferenced
            && let Err(error) =
                crate::store::objects::finish_deletion(self.metadata.as_ref(), &self.blobs, sha256)
                    .await
        {
            tracing::warn!(%error, %id, "could not delete an unreferenced object; the orphan sweep will");
        }
        Ok(true)
    }

    /// Images waiting in the spool; `None` when there is no spool.
    pub fn spool_pending(&self) -> Option<usize> {
        self.spool.as_ref().map(|spool| spool.pending())
    }

    /// The spool's depth, this replica's id and lease; `None` when there is no spool.
    pub fn spool_status(&self) -> Option<crate::store::spool::SpoolStatus> {
        self.spool.as_ref().map(|spool| spool.status())
    }

    /// One pass of the orphan sweep: objects older than `grace` with no metadata are
    /// removed, except those of uploads the spool still holds (its replay writes an
    /// object before its record).
    pub async fn sweep_orphans(&self, grace: std::time::Duration) -> Result<usize, StoreError> {
        let spool = self.spool.clone();
        let spooled = move |id| spool.as_ref().is_some_and(|s| s.holds(id));
        self.blobs
            .sweep_orphans(self.metadata.as_ref(), &spooled, grace)
            .await
    }
}

fn object_stream(object: object_store::GetResult) -> BoxStream<'static, std::io::Result<Bytes>> {
    use futures::StreamExt;
    object
        .into_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .boxed()
}
