//! Reading the spool: a spooled image's record, its place in a page of images, and
//! its bytes (whole or streamed), for as long as it waits for its replay.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{Spool, io_error};
use crate::{
    domain::ImageId,
    store::{ImageRecord, StoreError},
};

impl Spool {
    /// A spooled image's record.
    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        self.lock().images.get(&id).cloned()
    }

    /// Adds spooled images older than `before` to a newest-first page from the remote
    /// side, keeping it newest-first, without duplicates, and at most `limit` long.
    pub fn merge_into(&self, page: &mut Vec<ImageRecord>, before: Option<ImageId>, limit: usize) {
        let index = self.lock();
        let older = match before {
            Some(before) => index.images.range(..before),
            None => index.images.range(..),
        };
        let spooled = older.rev().take(limit);
        let mut added = false;
        for (id, record) in spooled {
            if !page.iter().any(|r| r.id == *id) {
                page.push(record.clone());
                added = true;
            }
        }
        drop(index);
        if added {
            page.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
            page.truncate(limit);
        }
    }

    /// A byte range of a spooled image; `None` when it is no longer in the spool (it
    /// has just been replayed, so the remote side has it).
    pub async fn read(
        &self,
        id: ImageId,
        range: std::ops::Range<u64>,
    ) -> Result<Option<Bytes>, StoreError> {
        let Some(file) = self.open_at(id, range.start).await? else {
            return Ok(None);
        };
        let length = range.end.saturating_sub(range.start);
        let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        file.take(length)
            .read_to_end(&mut buffer)
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        Ok(Some(Bytes::from(buffer)))
    }

    /// Stops replay until the guard is dropped: a delete holds it so that the image
    /// cannot move from the spool to the remote side between its two steps.
    pub async fn pause_replay(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.replaying.lock().await
    }

    /// A byte range of a spooled image as a stream of chunks (large images), or `None`
    /// when it is no longer in the spool.
    pub async fn stream(
        &self,
        id: ImageId,
        range: std::ops::Range<u64>,
    ) -> Result<Option<futures::stream::BoxStream<'static, std::io::Result<Bytes>>>, StoreError>
    {
        use futures::StreamExt;
        let Some(file) = self.open_at(id, range.start).await? else {
            return Ok(None);
        };
        let remaining = range.end.saturating_sub(range.start);
        let chunks =
            futures::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = remaining.min(256 * 1024) as usize;
                let mut buffer = vec![0u8; want];
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                buffer.truncate(read);
                Ok(Some((Bytes::from(buffer), (file, remaining - read as u64))))
            });
        Ok(Some(chunks.boxed()))
    }

    /// A spooled image's file, positioned at `start`; `None` when it is no longer in the
    /// spool.
    async fn open_at(
        &self,
        id: ImageId,
        start: u64,
    ) -> Result<Option<tokio::fs::File>, StoreError> {
        let mut file = match tokio::fs::File::open(self.data_path(id)).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("opening a spool file", error)),
        };
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        Ok(Some(file))
    }
}
