//! The spool against a real directory and a real SQLite metadata store.

use std::collections::BTreeMap;

use super::*;
use crate::{
    config::{AwsSettings, StorageUrl},
    store::sqlite::SqliteDatabase,
};

fn record(n: u32) -> ImageRecord {
    ImageRecord {
        id: ImageId::generate(),
        filename: format!("f{n}.png"),
        content_type: "image/png".into(),
        size: 5,
        width: 1,
        height: 1,
        sha256: format!("{n:064x}"),
        location: "memory".into(),
        created_at: OffsetDateTime::now_utc(),
        placeholder: None,
    }
}

fn no_aws() -> AwsSettings {
    crate::config::Settings::for_tests("unused.db".into(), StorageUrl::Memory).aws
}

/// Writes the bytes of `records` into the spool and spools them.
async fn spool_upload(spool: &Spool, records: &[ImageRecord]) {
    for record in records {
        let mut writer = spool.writer(record.id).await.unwrap();
        writer.write(b"bytes").await.unwrap();
        writer.finish().await.unwrap();
    }
    spool.persist(records).await.unwrap();
}

/// A spool with a short lease, so that tests can let one expire.
fn open_short(dir: &Path) -> Arc<Spool> {
    Spool::open_with(dir, SpoolOptions { lease: SHORT }).unwrap()
}

const SHORT: Duration = Duration::from_millis(300);

/// Opens the spool again after the previous replica "crashed" (was dropped without
/// releasing its lease, in this same process: so only the timer can expire it), and
/// adopts its directory once the lease has run out.
async fn reopen_after_crash(dir: &Path) -> Arc<Spool> {
    let spool = open_short(dir);
    assert_eq!(
        spool.pending(),
        0,
        "a live-looking lease is not adopted at once"
    );
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    spool.adopt_expired(false);
    spool
}

/// Every file named `kind` (`data` or `batches`) anywhere under the spool.
fn files_in(dir: &Path, kind: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, kind: &str, inside: bool, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, kind, entry.file_name() == kind, out);
            } else if inside {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, kind, false, &mut out);
    out
}

async fn meta(dir: &Path) -> SqliteDatabase {
    let db = SqliteDatabase::connect(&dir.join("meta.db"), 2)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

#[tokio::test]
async fn a_spooled_upload_survives_a_reopen_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![record(1), record(2)];
    {
        let spool = open_short(dir.path());
        spool_upload(&spool, &records).await;
        assert_eq!(spool.pending(), 2);
    }
    let spool = reopen_after_crash(dir.path()).await;
    assert_eq!(spool.pending(), 2);
    assert!(
        spool.remote_down(),
        "a non-empty spool starts in replay mode"
    );
    for original in &records {
        let mut expected = original.clone();
        expected.location = SPOOLED.into();
        assert_eq!(spool.get(original.id), Some(expected));
        assert_eq!(
            spool
                .read(original.id, 1..3)
                .await
                .unwrap()
                .unwrap()
                .as_ref(),
            b"yt"
        );
    }
}

#[tokio::test]
async fn files_of_unacknowledged_uploads_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let kept = record(1);
    {
        let spool = open_short(dir.path());
        spool_upload(&spool, std::slice::from_ref(&kept)).await;
        // An upload that crashed before its record was written, and a record that
        // crashed before its rename.
        let own = spool.own_dir();
        std::fs::write(own.join("data").join(ImageId::generate().to_string()), b"x").unwrap();
        std::fs::write(own.join("batches/whatever.tmp"), b"[").unwrap();
    }
    let spool = reopen_after_crash(dir.path()).await;
    assert_eq!(spool.pending(), 1);
    assert_eq!(files_in(dir.path(), "data").len(), 1);
    assert_eq!(files_in(dir.path(), "batches").len(), 1);
}

#[tokio::test]
async fn a_spool_of_the_earlier_one_directory_layout_is_adopted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let kept = record(1);
    let legacy_dir = {
        let spool = open_short(dir.path());
        spool_upload(&spool, std::slice::from_ref(&kept)).await;
        spool.own_dir().as_ref().clone()
    };
    // What an earlier version left: `data/` and `batches/` at the top.
    std::fs::rename(legacy_dir.join("data"), dir.path().join("data")).unwrap();
    std::fs::rename(legacy_dir.join("batches"), dir.path().join("batches")).unwrap();
    std::fs::remove_dir_all(dir.path().join("replicas")).unwrap();
    let spool = open_short(dir.path());
    assert_eq!(spool.pending(), 1);
    assert!(!dir.path().join("batches").exists());
    let bytes = spool.read(kept.id, 0..5).await.unwrap().unwrap();
    assert_eq!(bytes.as_ref(), b"bytes");
}

#[tokio::test]
async fn replay_moves_a_batch_and_a_repeated_replay_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let records = vec![record(1), record(2), record(3)];
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    spool_upload(&spool, &records).await;
    // A crash after a push wrote the first record but before the spool forgot it.
    let mut first = records[0].clone();
    first.location = "memory".into();
    meta.insert_all(&[first]).await.unwrap();
    let replayed = spool.replay_one(&blobs, &meta, None).await.ok().flatten();
    assert_eq!(replayed, Some(records[0].id));
    let again = spool.replay_one(&blobs, &meta, None).await.ok().flatten();
    assert_eq!(again, None, "nothing left");
    assert_eq!(spool.pending(), 0);
    assert_eq!(meta.list(None, 10).await.unwrap().len(), 3);
    for record in &records {
        let stored = meta.get(record.id).await.unwrap().unwrap();
        assert_eq!(stored.location, "memory");
        // Promoted to the content key once its record was committed.
        let bytes = blobs
            .get_bytes(&Blobs::object_key(&record.sha256))
            .await
            .unwrap();
        assert_eq!(bytes.unwrap().as_ref(), b"bytes");
        assert!(
            blobs
                .get_bytes(&Blobs::image_key(record.id))
                .await
                .unwrap()
                .is_none()
        );
    }
    let spool_dir = dir.path().join("spool");
    assert_eq!(files_in(&spool_dir, "data").len(), 0);
    assert_eq!(files_in(&spool_dir, "batches").len(), 0);
}

#[tokio::test]
async fn a_batch_that_keeps_failing_does_not_hold_up_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let (poison, good) = (record(1), record(2));
    spool_upload(&spool, std::slice::from_ref(&poison)).await;
    spool_upload(&spool, std::slice::from_ref(&good)).await;
    std::fs::remove_file(spool.data_path(poison.id)).unwrap();
    let (failed, _) = spool.replay_one(&blobs, &meta, None).await.unwrap_err();
    assert_eq!(failed, Some(poison.id));
    let replayed = spool.replay_one(&blobs, &meta, failed).await.unwrap();
    assert_eq!(replayed, Some(good.id));
    assert!(meta.get(good.id).await.unwrap().is_some());
    assert!(spool.holds(poison.id) && !spool.holds(good.id));
}

#[tokio::test]
async fn removing_one_image_of_a_batch_keeps_the_others_durably() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![record(1), record(2), record(3)];
    {
        let spool = open_short(dir.path());
        spool_upload(&spool, &records).await;
        let _paused = spool.pause_replay().await;
        assert!(spool.remove(records[0].id).await.unwrap(), "the first");
        assert!(spool.remove(records[2].id).await.unwrap(), "the last");
        assert!(!spool.remove(records[2].id).await.unwrap(), "already gone");
    }
    let spool = reopen_after_crash(dir.path()).await;
    assert_eq!(spool.pending(), 1);
    assert!(spool.holds(records[1].id));
    assert_eq!(files_in(dir.path(), "data").len(), 1);
}

#[tokio::test]
async fn spooled_images_merge_into_a_page_newest_first_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let all: Vec<ImageRecord> = (0..6).map(record).collect();
    // Odd ones are spooled; the remote side has the even ones, and the newest
    // spooled one too (replayed, not yet forgotten by the spool).
    let spooled: Vec<ImageRecord> = all.iter().skip(1).step_by(2).cloned().collect();
    spool_upload(&spool, &spooled).await;
    let ids = |page: &[ImageRecord]| page.iter().map(|r| r.id).collect::<Vec<_>>();
    let mut first = vec![
        all[5].clone(),
        all[4].clone(),
        all[2].clone(),
        all[0].clone(),
    ];
    spool.merge_into(&mut first, None, 4);
    assert_eq!(ids(&first), [all[5].id, all[4].id, all[3].id, all[2].id]);
    let mut second = vec![all[2].clone(), all[0].clone()];
    spool.merge_into(&mut second, Some(all[4].id), 4);
    assert_eq!(ids(&second), [all[3].id, all[2].id, all[1].id, all[0].id]);
}

/// Every file under `dir`, with its bytes: what a replica that lost its directory must
/// never change.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

#[tokio::test]
async fn replicas_sharing_a_spool_serve_each_others_images_by_id_and_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let a = Spool::open(dir.path()).unwrap();
    let b = Spool::open(dir.path()).unwrap();
    assert_ne!(a.replica_id(), b.replica_id());
    let image = record(1);
    spool_upload(&a, std::slice::from_ref(&image)).await;
    assert_eq!(b.get(image.id), None, "not yet seen: no scan per lookup");
    let seen = b.get_fresh(image.id).await.expect("seen after a refresh");
    assert_eq!(seen.sha256, image.sha256);
    assert_eq!(seen.location, SPOOLED);
    assert_eq!(
        b.read(image.id, 1..4).await.unwrap().unwrap().as_ref(),
        b"yte"
    );
    let mut page = Vec::new();
    b.merge_into(&mut page, None, 10);
    assert_eq!(page.len(), 1);
    assert!(b.holds(image.id), "the orphan sweep keeps its objects");
    assert_eq!(
        b.pending(),
        0,
        "pending counts what this replica must replay"
    );
}

#[tokio::test]
async fn a_released_lease_is_adopted_at_once_and_its_uploads_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let root = dir.path().join("spool");
    let images = vec![record(1), record(2)];
    let a = Spool::open(&root).unwrap();
    spool_upload(&a, &images).await;
    a.release();
    assert!(
        a.writer(ImageId::generate()).await.is_err(),
        "a released spool writes nothing"
    );
    let b = Spool::open(&root).unwrap();
    assert_eq!(
        b.pending(),
        2,
        "adopted at start, without waiting for the lease"
    );
    assert!(
        b.remote_down(),
        "a spool holding uploads starts in replay mode"
    );
    b.replay_one(&blobs, &meta, None)
        .await
        .ok()
        .flatten()
        .unwrap();
    assert_eq!(meta.list(None, 10).await.unwrap().len(), 2);
    b.remove_drained_adoptions();
    assert_eq!(files_in(&root, "batches").len(), 0);
    assert!(
        std::fs::read_dir(b.own_dir().join("adopted"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn of_three_replicas_adopting_one_expired_directory_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let root = dir.path().join("spool");
    let orphan: Vec<Vec<ImageRecord>> = (0..4)
        .map(|n| vec![record(2 * n), record(2 * n + 1)])
        .collect();
    {
        let dead = open_short(&root);
        for batch in &orphan {
            spool_upload(&dead, batch).await;
        }
    } // dropped without a release: only its lease's expiry frees the directory
    let adopters: Vec<Arc<Spool>> = (0..3).map(|_| open_short(&root)).collect();
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    // The adopters are alive: they renew (as their maintenance task would), so only
    // the dead replica's lease has stayed the same for the whole lease time.
    for adopter in &adopters {
        adopter.renew().await.unwrap();
    }
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = adopters
        .iter()
        .cloned()
        .map(|spool| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                spool.adopt_expired(false);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let pending: Vec<usize> = adopters.iter().map(|s| s.pending()).collect();
    assert_eq!(pending.iter().filter(|p| **p > 0).count(), 1, "{pending:?}");
    assert_eq!(pending.iter().sum::<usize>(), 8);
    let winner = adopters.iter().find(|s| s.pending() > 0).unwrap();
    let mut cursor = None;
    while let Some(first) = winner.replay_one(&blobs, &meta, cursor).await.unwrap() {
        cursor = Some(first);
    }
    let stored = meta.list(None, 100).await.unwrap();
    assert_eq!(stored.len(), 8, "every image once");
    for loser in adopters.iter().filter(|s| s.pending() == 0) {
        assert_eq!(loser.replay_one(&blobs, &meta, None).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_replica_paused_past_its_lease_never_writes_into_the_directory_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let stalled = open_short(root);
    let first = record(1);
    spool_upload(&stalled, std::slice::from_ref(&first)).await;
    let lost_dir = stalled.own_dir().as_ref().clone();
    let adopter = open_short(root);
    // The stalled replica renews nothing for longer than the lease.
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    adopter.adopt_expired(false);
    assert_eq!(
        adopter.pending(),
        1,
        "the acknowledged upload is the adopter's now"
    );
    assert!(!lost_dir.exists());
    let adopted_dir = adopter
        .own_dir()
        .join("adopted")
        .join(lost_dir.file_name().unwrap());
    let before = snapshot(&adopted_dir);
    // Back from its pause, the replica tries to spool again: refused, nothing written.
    let second = record(2);
    let refused = stalled.writer(second.id).await.err().expect("refused");
    assert!(refused.is_unavailable(), "{refused}");
    assert_eq!(
        snapshot(&adopted_dir),
        before,
        "nothing written into the lost directory"
    );
    assert_ne!(*stalled.own_dir(), lost_dir, "it started a new directory");
    assert_eq!(stalled.pending(), 0, "what it held is the adopter's");
    // Its later uploads succeed, in its new directory.
    spool_upload(&stalled, std::slice::from_ref(&second)).await;
    assert_eq!(stalled.pending(), 1);
    assert!(
        stalled
            .own_dir()
            .join("data")
            .join(second.id.to_string())
            .exists()
    );
    assert_eq!(snapshot(&adopted_dir), before);
}

#[tokio::test]
async fn a_replica_paused_between_writing_and_committing_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let stalled = open_short(root);
    let image = record(1);
    let mut writer = stalled.writer(image.id).await.unwrap();
    writer.write(b"bytes").await.unwrap();
    writer.finish().await.unwrap();
    let adopter = open_short(root);
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    adopter.adopt_expired(false);
    let refused = stalled
        .persist(std::slice::from_ref(&image))
        .await
        .unwrap_err();
    assert!(refused.is_unavailable(), "{refused}");
    assert_eq!(
        adopter.pending(),
        0,
        "an upload never acknowledged is nobody's"
    );
    assert_eq!(files_in(root, "batches").len(), 0);
}

#[tokio::test]
async fn an_image_deleted_through_another_replica_is_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let root = dir.path().join("spool");
    let owner = Spool::open(&root).unwrap();
    let other = Spool::open(&root).unwrap();
    let (deleted, kept) = (record(1), record(2));
    spool_upload(&owner, &[deleted.clone(), kept.clone()]).await;
    {
        let _paused = other.pause_replay().await;
        assert!(
            other.remove(deleted.id).await.unwrap(),
            "found through a refresh"
        );
    }
    assert_eq!(other.get_fresh(deleted.id).await, None);
    owner.replay_one(&blobs, &meta, None).await.unwrap();
    assert!(
        meta.get(deleted.id).await.unwrap().is_none(),
        "not resurrected"
    );
    for key in [
        Blobs::image_key(deleted.id),
        Blobs::object_key(&deleted.sha256),
    ] {
        assert!(blobs.get_bytes(&key).await.unwrap().is_none(), "{key}");
    }
    assert!(meta.get(kept.id).await.unwrap().is_some());
    assert!(
        std::fs::read_dir(root.join("tombstones"))
            .unwrap()
            .next()
            .is_none(),
        "the tombstone goes with the batch"
    );
}

#[tokio::test]
async fn a_delete_that_lands_during_a_replay_is_carried_out_remotely() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let root = dir.path().join("spool");
    let owner = Spool::open(&root).unwrap();
    let image = record(1);
    spool_upload(&owner, std::slice::from_ref(&image)).await;
    // Pushed before the tombstone, as if the delete came in mid-replay.
    owner
        .push(
            &blobs,
            &meta,
            std::slice::from_ref(&image),
            &owner.own_dir(),
            true,
        )
        .await
        .unwrap();
    owner.leave_tombstone(image.id).await.unwrap();
    owner.replay_one(&blobs, &meta, None).await.unwrap();
    assert!(meta.get(image.id).await.unwrap().is_none());
    for key in [Blobs::image_key(image.id), Blobs::object_key(&image.sha256)] {
        assert!(blobs.get_bytes(&key).await.unwrap().is_none(), "{key}");
    }
}

#[tokio::test]
async fn a_tombstone_no_spool_holds_is_swept_with_its_remote_copy() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(&StorageUrl::Memory, &no_aws()).unwrap();
    let meta = meta(dir.path()).await;
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let image = record(1);
    spool_upload(&spool, std::slice::from_ref(&image)).await;
    spool.replay_one(&blobs, &meta, None).await.unwrap();
    assert!(meta.get(image.id).await.unwrap().is_some());
    // A delete whose remote half failed left a tombstone behind.
    spool.leave_tombstone(image.id).await.unwrap();
    assert_eq!(spool.sweep_tombstones(&blobs, &meta).await, 0);
    assert!(meta.get(image.id).await.unwrap().is_none());
    assert!(
        std::fs::read_dir(dir.path().join("spool/tombstones"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn a_replica_with_a_shorter_lease_judges_others_by_their_own_lease() {
    let dir = tempfile::tempdir().unwrap();
    let patient = Spool::open(dir.path()).unwrap(); // 30 s lease, renewed every 7.5 s
    spool_upload(&patient, &[record(1)]).await;
    let eager = open_short(dir.path());
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    eager.adopt_expired(false);
    assert_eq!(
        eager.pending(),
        0,
        "a live replica's directory is not adopted"
    );
    assert!(patient.own_dir().exists());
}
