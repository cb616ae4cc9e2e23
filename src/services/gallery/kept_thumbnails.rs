//! Thumbnails and the other sizes made once and kept: a stored image's variant (or the
//! reason it cannot be made) is written beside it, so one decode serves every later request; a spooled
//! image's is made from the spool and not kept (the object store may be what is down).

use bytes::Bytes;

use super::{Gallery, thumbnails::ThumbnailError};
use crate::{
    domain::{ImageId, image::VariantSize},
    store::{Blobs, ImageRecord},
};

impl Gallery {
    /// A spooled image's thumbnail; a failure is remembered in memory. `None` when the
    /// image has just left the spool for the object store.
    pub(super) async fn spooled_thumbnail(
        &self,
        id: ImageId,
        size: u64,
        variant: VariantSize,
    ) -> Result<Option<Bytes>, ThumbnailError> {
        if let Some(reason) = self.thumbnails.remembered_failure(id) {
            return Err(ThumbnailError::Undecodable(reason));
        }
        let Some(spool) = self.spool.clone() else {
            return Ok(None);
        };
        let Some(original) = spool.read(id, 0..size).await? else {
            return Ok(None);
        };
        let made = self.thumbnails.clone();
        let flight = async move {
            let result = made.make(original, variant).await;
            if let Err(ThumbnailError::Undecodable(reason)) = &result {
                made.remember_failure(id, reason.clone());
            }
            result
        };
        Ok(Some(
            self.thumbnails.single_flight(id, variant, flight).await?,
        ))
    }

    /// A stored image's thumbnail: the kept one, the kept failure, or — once, however
    /// many ask at the same time — a decode whose result (thumbnail or failure) is kept.
    pub(super) async fn stored_thumbnail(
        &self,
        record: &ImageRecord,
        variant: VariantSize,
    ) -> Result<Bytes, ThumbnailError> {
        let id = record.id;
        let record = record.clone();
        let key = Blobs::variant_key(id, variant);
        if let Some(bytes) = self.blobs.get_bytes(&key).await? {
            return Ok(bytes);
        }
        if let Some(reason) = self.remembered_failure(id).await? {
            return Err(ThumbnailError::Undecodable(reason));
        }
        let gallery = self.clone();
        let flight = async move {
            // A flight that ended between the checks above and this one left its result.
            if let Some(bytes) = gallery.blobs.get_bytes(&key).await? {
                return Ok(bytes);
            }
            if let Some(reason) = gallery.remembered_failure(id).await? {
                return Err(ThumbnailError::Undecodable(reason));
            }
            let original = gallery.original(&record).await?.ok_or_else(|| {
                ThumbnailError::Internal(format!(
                    "image {id} has metadata but no object in storage"
                ))
            })?;
            match gallery.thumbnails.make(original, variant).await {
                Ok(thumbnail) => {
                    gallery.blobs.put_bytes(&key, thumbnail.clone()).await?;
                    Ok(thumbnail)
                }
                Err(ThumbnailError::Undecodable(reason)) => {
                    gallery.thumbnails.remember_failure(id, reason.clone());
                    gallery
                        .blobs
                        .put_bytes(
                            &Blobs::thumbnail_failure_key(id),
                            Bytes::from(reason.clone().into_bytes()),
                        )
                        .await?;
                    Err(ThumbnailError::Undecodable(reason))
                }
                Err(other) => Err(other),
            }
        };
        self.thumbnails.single_flight(id, variant, flight).await
    }

    /// Why a stored image's thumbnail could not be made, if that was tried before.
    async fn remembered_failure(&self, id: ImageId) -> Result<Option<String>, ThumbnailError> {
        if let Some(reason) = self.thumbnails.remembered_failure(id) {
            return Ok(Some(reason));
        }
        Ok(self
            .blobs
            .get_bytes(&Blobs::thumbnail_failure_key(id))
            .await?
            .map(|reason| String::from_utf8_lossy(&reason).into_owned()))
    }
}
