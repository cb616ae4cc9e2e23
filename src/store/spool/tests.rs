//! The spool against a real directory and a real SQLite metadata store.

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
        let spool = Spool::open(dir.path()).unwrap();
        spool_upload(&spool, &records).await;
        assert_eq!(spool.pending(), 2);
    }
    let spool = Spool::open(dir.path()).unwrap();
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
        let spool = Spool::open(dir.path()).unwrap();
        spool_upload(&spool, std::slice::from_ref(&kept)).await;
        // An upload that crashed before its record was written, and a record that
        // crashed before its rename.
        std::fs::write(
            dir.path()
                .join("data")
                .join(ImageId::generate().to_string()),
            b"x",
        )
        .unwrap();
        std::fs::write(dir.path().join("batches/whatever.tmp"), b"[").unwrap();
    }
    let spool = Spool::open(dir.path()).unwrap();
    assert_eq!(spool.pending(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        1
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("batches"))
            .unwrap()
            .count(),
        1
    );
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
        let bytes = blobs.get_bytes(&Blobs::image_key(record.id)).await.unwrap();
        assert_eq!(bytes.unwrap().as_ref(), b"bytes");
    }
    let spool_dir = dir.path().join("spool");
    assert_eq!(
        std::fs::read_dir(spool_dir.join("data")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(spool_dir.join("batches"))
            .unwrap()
            .count(),
        0
    );
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
        let spool = Spool::open(dir.path()).unwrap();
        spool_upload(&spool, &records).await;
        let _paused = spool.pause_replay().await;
        assert!(spool.remove(records[0].id).await.unwrap(), "the first");
        assert!(spool.remove(records[2].id).await.unwrap(), "the last");
        assert!(!spool.remove(records[2].id).await.unwrap(), "already gone");
    }
    let spool = Spool::open(dir.path()).unwrap();
    assert_eq!(spool.pending(), 1);
    assert!(spool.holds(records[1].id));
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        1
    );
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
