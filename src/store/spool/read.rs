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
    /// A spooled image's record, held by this replica or (as of the last refresh) by
    /// another one.
    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        if let Some(held) = self.lock().images.get(&id) {
            return Some(held.record.clone());
        }
        self.others_lock()
            .images
            .get(&id)
            .map(|(record, _)| record.clone())
    }

    /// [`Spool::get`] after a refresh: for an id the remote side does not know (yet),
    /// which another replica may have spooled a moment ago.
    pub async fn get_fresh(&self, id: ImageId) -> Option<ImageRecord> {
        self.refresh().await;
        self.get(id)
    }

    /// Where a spooled image's bytes are now.
    fn file_of(&self, id: ImageId) -> Option<std::path::PathBuf> {
        if let Some(held) = self.lock().images.get(&id) {
            return Some(held.dir.join("data").join(id.to_string()));
        }
        self.others_lock()
            .images
            .get(&id)
            .map(|(_, file)| file.clone())
    }

    /// Adds spooled images older than `before` to a newest-first page from the remote
    /// side, keeping it newest-first, without duplicates, and at most `limit` long.
    pub fn merge_into(&self, page: &mut Vec<ImageRecord>, before: Option<ImageId>, limit: usize) {
        let range = match before {
            Some(before) => (
                std::ops::Bound::Unbounded,
                std::ops::Bound::Excluded(before),
            ),
            None => (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
        };
        let mut spooled: Vec<ImageRecord> = {
            let index = self.lock();
            index
                .images
                .range(range)
                .rev()
                .take(limit)
                .map(|(_, held)| held.record.clone())
                .collect()
        };
        spooled.extend(
            self.others_lock()
                .images
                .range(range)
                .rev()
                .take(limit)
                .map(|(_, (record, _))| record.clone()),
        );
        let mut added = false;
        for record in spooled {
            if !page.iter().any(|r| r.id == record.id) {
                page.push(record);
                added = true;
            }
        }
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
    /// spool. A file that moved (its replica was adopted) is found again after a refresh.
    async fn open_at(
        &self,
        id: ImageId,
        start: u64,
    ) -> Result<Option<tokio::fs::File>, StoreError> {
        let mut file = None;
        for attempt in 0..2 {
            let Some(path) = self.file_of(id) else {
                return Ok(None);
            };
            match tokio::fs::File::open(path).await {
                Ok(opened) => {
                    file = Some(opened);
                    break;
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    if attempt == 0 && !self.lock().images.contains_key(&id) {
                        self.refresh().await;
                    } else {
                        return Ok(None);
                    }
                }
                Err(error) => return Err(io_error("opening a spool file", error)),
            }
        }
        let Some(mut file) = file else {
            return Ok(None);
        };
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_error("reading a spool file", e))?;
        Ok(Some(file))
    }
}
