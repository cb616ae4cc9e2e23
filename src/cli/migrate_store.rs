//! `pier migrate-store`: copy every image and thumbnail from one object store to
//! another (say local disk to S3), resumably and verified.
//!
//! Resumable: an object already at the destination with the same content is skipped, so
//! an interrupted run is simply run again. Verified: each copied object is read back
//! from the destination and its SHA-256 compared with the source's before it counts,
//! and an object already there counts only when its SHA-256 is the source's too (a
//! same-size copy damaged by an earlier run or by the medium is copied again).

use sha2::{Digest, Sha256};

use crate::{store::Blobs, store::StoreError};

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopySummary {
    /// Objects copied and verified.
    pub copied: u64,
    /// Objects already at the destination with the same content.
    pub skipped: u64,
    /// Objects at the destination with the right size but other content, copied again.
    pub repaired: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Copies every object of `from` missing at `to`; `progress` is told the total once,
/// then called after each object.
pub async fn copy_store(
    from: &Blobs,
    to: &Blobs,
    mut progress: impl FnMut(u64, u64),
) -> Result<CopySummary, StoreError> {
    let objects = from.list_objects().await?;
    let total = objects.len() as u64;
    let mut summary = CopySummary::default();
    for (done, (key, size)) in objects.into_iter().enumerate() {
        // The object may have been deleted since the listing: nothing to copy then.
        if let Some(bytes) = from.get_bytes(&key).await? {
            let digest = Sha256::digest(&bytes);
            let there = match to.size_of(&key).await? {
                Some(there) if there == size => to.get_bytes(&key).await?,
                _ => None,
            };
            match there {
                Some(there) if Sha256::digest(&there) == digest => summary.skipped += 1,
                damaged => {
                    let length = bytes.len() as u64;
                    to.put_bytes(&key, bytes).await?;
                    let written = to.get_bytes(&key).await?.unwrap_or_default();
                    if Sha256::digest(&written) != digest {
                        return Err(StoreError::Other(anyhow::anyhow!(
                            "{key} differs at the destination after copying"
                        )));
                    }
                    if damaged.is_some() {
                        summary.repaired += 1;
                    } else {
                        summary.copied += 1;
                    }
                    summary.bytes += length;
                }
            }
        }
        progress(done as u64 + 1, total);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::StorageUrl, domain::ImageId};

    #[tokio::test]
    async fn copies_once_then_skips() {
        let from_dir = tempfile::tempdir().unwrap();
        let to_dir = tempfile::tempdir().unwrap();
        let aws = <crate::cli::Cli as clap::Parser>::parse_from(["pier"])
            .settings
            .aws;
        let from = Blobs::open(&StorageUrl::File(from_dir.path().to_path_buf()), &aws).unwrap();
        let to = Blobs::open(&StorageUrl::File(to_dir.path().to_path_buf()), &aws).unwrap();
        for n in 0..5u8 {
            let id = ImageId::generate();
            from.put_bytes(&Blobs::image_key(id), vec![n; 1000 + usize::from(n)].into())
                .await
                .unwrap();
            from.put_bytes(&Blobs::thumbnail_key(id), vec![n; 10].into())
                .await
                .unwrap();
        }
        let mut calls = 0;
        let first = copy_store(&from, &to, |_, total| {
            calls += 1;
            assert_eq!(total, 10);
        })
        .await
        .unwrap();
        assert_eq!(
            first,
            CopySummary {
                copied: 10,
                skipped: 0,
                repaired: 0,
                bytes: 5 * 1000 + 10 + 50
            }
        );
        assert_eq!(calls, 10);
        let second = copy_store(&from, &to, |_, _| {}).await.unwrap();
        assert_eq!(
            second,
            CopySummary {
                copied: 0,
                skipped: 10,
                repaired: 0,
                bytes: 0
            }
        );
        let listed = to.list_objects().await.unwrap();
        assert_eq!(listed.len(), 10);

        // A copy of the right size whose bytes are wrong (one flipped byte) is found by
        // its SHA-256 and copied again; the run says so.
        let (key, size) = listed[3].clone();
        let mut damaged = to.get_bytes(&key).await.unwrap().unwrap().to_vec();
        damaged[0] ^= 0xFF;
        to.put_bytes(&key, damaged.into()).await.unwrap();
        let third = copy_store(&from, &to, |_, _| {}).await.unwrap();
        assert_eq!((third.copied, third.skipped, third.repaired), (0, 9, 1));
        assert_eq!(third.bytes, size);
        assert_eq!(
            to.get_bytes(&key).await.unwrap(),
            from.get_bytes(&key).await.unwrap()
        );
    }
}
