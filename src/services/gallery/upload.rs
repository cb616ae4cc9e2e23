//! One upload, all-or-nothing: each file streams to its destination while it is
//! sniffed, measured and hashed; the upload becomes visible only when every file passed
//! and its metadata is committed, and a refused upload leaves nothing behind.

use std::pin::pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Gallery, GalleryError};
use crate::{
    domain::{
        FileName, ImageId, ImageInspector,
        image::{ImageRejection, MetadataStripper, metadata::Output},
    },
    store::{
        Blobs, ImageRecord, StoreError,
        blobs::BlobWriter,
        spool::{Spool, SpoolWriter},
    },
    telemetry::names,
};

/// Why a file could not be added: its body failed to arrive (the caller's error, e.g.
/// a broken multipart body), or the gallery refused it.
#[derive(Debug)]
pub enum FileFailure<E> {
    /// Reading the file's bytes failed.
    Body(E),
    /// The gallery refused the file or could not store it.
    Gallery(GalleryError),
}

impl<E> From<GalleryError> for FileFailure<E> {
    fn from(error: GalleryError) -> Self {
        Self::Gallery(error)
    }
}

impl<E> From<StoreError> for FileFailure<E> {
    fn from(error: StoreError) -> Self {
        Self::Gallery(error.into())
    }
}

/// An upload in progress; see [`Gallery::begin_upload`].
pub struct Upload<'g> {
    gallery: &'g Gallery,
    stored: Vec<ImageRecord>,
}

impl<'g> Upload<'g> {
    pub(super) fn new(gallery: &'g Gallery) -> Self {
        Self {
            gallery,
            stored: Vec::new(),
        }
    }

    /// Streams one file to storage while sniffing, measuring and hashing it. Its bytes
    /// are durable when this returns, but invisible until [`Upload::commit`].
    pub async fn add<E>(
        &mut self,
        filename: FileName,
        chunks: impl Stream<Item = Result<Bytes, E>>,
    ) -> Result<(), FileFailure<E>> {
        let (uploads, images) = (&self.gallery.uploads, &self.gallery.images);
        if self.stored.len() >= uploads.max_files_per_upload as usize {
            return Err(GalleryError::TooManyFiles(uploads.max_files_per_upload).into());
        }
        let refuse = |rejection: ImageRejection| GalleryError::Refused {
            filename: filename.as_str().to_owned(),
            rejection,
        };
        let id = ImageId::generate();
        let mut stripper = MetadataStripper::new(images.metadata_policy);
        let mut kept = Output::default();
        let mut intake = Intake {
            inspector: ImageInspector::new(images.max_image_pixels, images.decode_memory),
            hasher: Sha256::new(),
            sink: None,
        };
        let mut received_bytes: u64 = 0;
        let mut chunks = pin!(chunks);
        let received: Result<(), FileFailure<E>> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(FileFailure::Body)?;
                received_bytes += chunk.len() as u64;
                if received_bytes > uploads.max_upload_bytes {
                    return Err(GalleryError::FileTooLarge {
                        filename: filename.as_str().to_owned(),
                        limit: uploads.max_upload_bytes,
                    }
                    .into());
                }
                // What the policy keeps is what is checked, hashed and stored.
                stripper.feed(chunk, &mut kept);
                for piece in kept.take() {
                    intake
                        .take(self.gallery, id, piece)
                        .await
                        .map_err(|e| e.into_failure(&refuse))?;
                }
                if let Some(rejection) = stripper.failure() {
                    return Err(refuse(rejection).into());
                }
            }
            stripper.finish(&mut kept);
            for piece in kept.take() {
                intake
                    .take(self.gallery, id, piece)
                    .await
                    .map_err(|e| e.into_failure(&refuse))?;
            }
            Ok(())
        }
        .await;
        let Intake {
            inspector,
            hasher,
            sink,
        } = intake;
        let inspected = received.and_then(|()| inspector.finish().map_err(|r| refuse(r).into()));
        let inspected = match inspected {
            Ok(inspected) => inspected,
            Err(error) => {
                if let Some(sink) = sink {
                    sink.abort(self.gallery.spool.as_deref(), id).await;
                }
                return Err(error);
            }
        };
        sink.ok_or_else(|| refuse(ImageRejection::Empty))?
            .finish()
            .await?;
        // Width and height as the image is seen: a portrait phone photo is stored as
        // landscape pixels turned by its EXIF orientation.
        let displayed = stripper.orientation().displayed(inspected.dimensions);
        self.stored.push(ImageRecord {
            id,
            filename: filename.as_str().to_owned(),
            content_type: inspected.kind.content_type().to_owned(),
            size: inspected.size,
            width: displayed.width,
            height: displayed.height,
            sha256: hex::encode(hasher.finalize()),
            location: self.gallery.blobs.location().to_owned(),
            created_at: OffsetDateTime::now_utc(),
            placeholder: None,
        });
        Ok(())
    }

    /// Makes every added file visible at once: their metadata committed together, or —
    /// with remote backends — pushed now or kept durably in the spool for replay. On
    /// failure nothing of the upload stays behind.
    pub async fn commit(mut self) -> Result<Vec<ImageRecord>, GalleryError> {
        if self.stored.is_empty() {
            return Err(GalleryError::NoFiles);
        }
        let gallery = self.gallery;
        let committed = match &gallery.spool {
            None => {
                let committed = crate::store::objects::insert_referencing(
                    gallery.metadata.as_ref(),
                    &self.stored,
                )
                .await;
                if committed.is_ok() {
                    // Committed: a promotion that fails is finished by the orphan sweep
                    // (reads fall back on the id key meanwhile).
                    for record in &self.stored {
                        if let Err(error) =
                            crate::store::objects::promote(&gallery.blobs, record).await
                        {
                            tracing::warn!(%error, id = %record.id, "could not move an upload to its content key; the sweep will");
                        }
                    }
                }
                committed.map(|()| std::mem::take(&mut self.stored))
            }
            // The spool owns the files from here, and cleans up after itself.
            Some(spool) => {
                let records = std::mem::take(&mut self.stored);
                spool
                    .accept(&gallery.blobs, gallery.metadata.as_ref(), records)
                    .await
            }
        };
        match committed {
            Ok(records) => {
                let bytes: u64 = records.iter().map(|r| r.size).sum();
                metrics::counter!(names::UPLOADS_TOTAL, "result" => "accepted")
                    .increment(records.len() as u64);
                metrics::counter!(names::UPLOAD_BYTES_TOTAL).increment(bytes);
                gallery.make_ahead(records.iter().map(|r| r.id));
                Ok(records)
            }
            Err(error) => {
                self.discard().await;
                Err(error.into())
            }
        }
    }

    /// Removes what the upload wrote (its objects, or its spool files): it was refused.
    pub async fn discard(self) {
        metrics::counter!(names::UPLOADS_TOTAL, "result" => "rejected").increment(1);
        let gallery = self.gallery;
        if let Some(spool) = &gallery.spool {
            spool
                .discard(self.stored.iter().map(|r| r.id).collect())
                .await;
            return;
        }
        for record in &self.stored {
            if let Err(cleanup) = gallery.blobs.delete(&Blobs::image_key(record.id)).await {
                tracing::warn!(error = %cleanup, id = %record.id, "could not remove an object; the orphan sweep will");
            }
        }
    }
}

/// What one file's kept bytes pass through, in order: the strict inspector, the hash
/// and the sink (opened with the first byte).
struct Intake {
    inspector: ImageInspector,
    hasher: Sha256,
    sink: Option<Sink>,
}

/// Why a piece could not be taken in.
enum IntakeError {
    Refused(ImageRejection),
    Store(StoreError),
}

impl IntakeError {
    fn into_failure<E>(self, refuse: &impl Fn(ImageRejection) -> GalleryError) -> FileFailure<E> {
        match self {
            Self::Refused(rejection) => refuse(rejection).into(),
            Self::Store(error) => error.into(),
        }
    }
}

impl Intake {
    async fn take(
        &mut self,
        gallery: &Gallery,
        id: ImageId,
        piece: Bytes,
    ) -> Result<(), IntakeError> {
        self.inspector.feed(&piece).map_err(IntakeError::Refused)?;
        self.hasher.update(&piece);
        if self.sink.is_none() {
            self.sink = Some(Sink::open(gallery, id).await.map_err(IntakeError::Store)?);
        }
        if let Some(sink) = self.sink.as_mut() {
            sink.write(piece).await.map_err(IntakeError::Store)?;
        }
        Ok(())
    }
}

/// Where an upload's bytes stream to: the object store, or the spool when remote
/// backends are configured (pushed from there once the whole upload is accepted).
enum Sink {
    Blob(BlobWriter),
    Spool(SpoolWriter),
}

impl Sink {
    async fn open(gallery: &Gallery, id: ImageId) -> Result<Self, StoreError> {
        Ok(match &gallery.spool {
            Some(spool) => Self::Spool(spool.writer(id).await?),
            None => Self::Blob(gallery.blobs.writer(Blobs::image_key(id))),
        })
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        match self {
            Self::Blob(writer) => writer.write(chunk).await,
            Self::Spool(writer) => writer.write(&chunk).await,
        }
    }

    async fn finish(self) -> Result<(), StoreError> {
        match self {
            Self::Blob(writer) => writer.finish().await,
            Self::Spool(writer) => writer.finish().await,
        }
    }

    async fn abort(self, spool: Option<&Spool>, id: ImageId) {
        match self {
            Self::Blob(writer) => writer.abort().await,
            Self::Spool(writer) => {
                drop(writer);
                if let Some(spool) = spool {
                    spool.discard(vec![id]).await;
                }
            }
        }
    }
}
