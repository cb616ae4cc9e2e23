//! Photos as phones write them (made by Pillow: `tests/metadata/phone.py`): what the
//! default metadata policy stores, read back by Pillow (an independent reader), the
//! displayed size in the API and upright thumbnails, for all eight orientations.

use serde_json::Value;

use crate::{
    crafted,
    helpers::{TestApp, spawn_app, spawn_app_with},
};

fn phone_py() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/metadata/phone.py")
}

fn run_python(args: &[&str]) -> Vec<u8> {
    let script = phone_py();
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    crafted::run_python(&all)
}

/// A phone's photo of `kind` stored for EXIF `orientation`.
fn phone(kind: &str, orientation: u8) -> Vec<u8> {
    run_python(&["make", kind, &orientation.to_string()])
}

/// What Pillow finds in `served`, compared with `original`.
fn pillow_report(original: &[u8], served: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("original"), dir.path().join("served"));
    std::fs::write(&a, original).unwrap();
    std::fs::write(&b, served).unwrap();
    let report = run_python(&["check", a.to_str().unwrap(), b.to_str().unwrap()]);
    serde_json::from_slice(&report).expect("a JSON report")
}

async fn served(app: &TestApp, id: &str) -> Vec<u8> {
    app.get(&format!("/image/{id}"))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// The image as the list describes it.
async fn described(app: &TestApp, id: &str) -> Value {
    let page: Value = app.get("/images?limit=1000").await.json().await.unwrap();
    page["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|image| image["id"] == id)
        .cloned()
        .expect("the image is listed")
}

/// The thumbnail's corners: red top-left, green top-right, blue bottom-left.
pub async fn assert_upright_thumbnail(app: &TestApp, id: &str, what: &str) {
    let thumb = app.get(&format!("/image/{id}/thumbnail")).await;
    assert_eq!(thumb.status(), 200, "{what}");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap())
        .unwrap()
        .to_rgb8();
    let (w, h) = thumb.dimensions();
    assert_eq!(w, 2 * h, "{what}: the thumbnail is landscape, as displayed");
    for (x, y, want) in [
        (w / 8, h / 8, [255u8, 0, 0]),
        (w - w / 8, h / 8, [0, 255, 0]),
        (w / 8, h - h / 8, [0, 0, 255]),
    ] {
        let got = thumb.get_pixel(x, y).0;
        assert!(
            got.iter().zip(want).all(|(g, w)| g.abs_diff(w) < 60),
            "{what}: at ({x}, {y}) {got:?}, expected {want:?}"
        );
    }
}

#[tokio::test]
async fn the_default_policy_serves_no_private_field_and_keeps_orientation_colour_and_credit() {
    let app = spawn_app().await;
    for kind in ["jpeg", "png", "webp", "gif"] {
        let original = phone(kind, 6);
        let id = app
            .upload_ok(&[("phone", original.clone())])
            .await
            .remove(0);
        let served = served(&app, &id).await;
        let report = pillow_report(&original, &served);
        assert_eq!(report["private_bytes"], false, "{kind}: {report}");
        assert_eq!(report["pixels_equal"], true, "{kind}: lossless: {report}");
        assert_eq!(
            report["info"],
            serde_json::json!([]),
            "{kind}: XMP, comments: {report}"
        );
        assert_eq!(report["gps"], 0, "{kind}: {report}");
        assert_eq!(
            report["exif_ifd"], 0,
            "{kind}: serial, maker notes: {report}"
        );
        if kind != "gif" {
            // 274 orientation, 315 artist, 33432 copyright: nothing else.
            assert_eq!(
                report["tags"],
                serde_json::json!([274, 315, 33432]),
                "{kind}: {report}"
            );
            assert_eq!(report["orientation"], 6, "{kind}");
            assert_eq!(report["copyright"], "(c) Ada Photographer", "{kind}");
            assert_eq!(
                report["icc_kept"], true,
                "{kind}: the colour profile: {report}"
            );
        } else {
            assert_eq!(report["frames"], 2, "the animation is kept");
        }
        // The ETag is of the stored bytes.
        let meta = described(&app, &id).await;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&served));
        assert_eq!(meta["sha256"], digest.as_str(), "{kind}");
        assert_eq!(meta["size"], served.len(), "{kind}");
    }
}

#[tokio::test]
async fn every_orientation_is_reported_displayed_and_thumbnailed_upright() {
    let app = spawn_app().await;
    for orientation in 1..=8u8 {
        let id = app
            .upload_ok(&[("phone.jpg", phone("jpeg", orientation))])
            .await
            .remove(0);
        let meta = described(&app, &id).await;
        assert_eq!(
            (&meta["width"], &meta["height"]),
            (&Value::from(64), &Value::from(32)),
            "orientation {orientation}: the displayed size"
        );
        assert_upright_thumbnail(&app, &id, &format!("orientation {orientation}")).await;
    }
}

#[tokio::test]
async fn strip_all_and_keep_do_what_they_say() {
    let strip_all = spawn_app_with(|s| {
        s.images.metadata_policy = pier::domain::image::MetadataPolicy::StripAll
    })
    .await;
    let original = phone("jpeg", 8);
    let id = strip_all
        .upload_ok(&[("p.jpg", original.clone())])
        .await
        .remove(0);
    let report = pillow_report(&original, &served(&strip_all, &id).await);
    assert_eq!(report["tags"], serde_json::json!([274]), "{report}");
    assert_eq!(report["icc_kept"], true, "{report}");
    assert_eq!(report["pixels_equal"], true, "{report}");

    let keep =
        spawn_app_with(|s| s.images.metadata_policy = pier::domain::image::MetadataPolicy::Keep)
            .await;
    let id = keep.round_trip("p.jpg", &original).await;
    assert_upright_thumbnail(&keep, &id, "keep").await;
}

#[tokio::test]
async fn images_stored_by_an_earlier_pier_are_reprocessed_resumably() {
    use pier::{
        domain::ImageId,
        store::{Blobs, ImageRecord},
    };
    let app = spawn_app().await;
    // What an earlier pier stored: the stored (sideways) size, no placeholder, and a
    // thumbnail kept sideways.
    let bytes = pier::test_support::oriented_jpeg(&pier::test_support::quadrants(64, 32), 6);
    let id = ImageId::generate();
    let gallery = &app.context.gallery;
    gallery
        .blobs()
        .put_bytes(&Blobs::image_key(id), bytes::Bytes::from(bytes.clone()))
        .await
        .unwrap();
    gallery
        .blobs()
        .put_bytes(
            &Blobs::thumbnail_key(id),
            bytes::Bytes::from_static(b"sideways"),
        )
        .await
        .unwrap();
    let record = ImageRecord {
        id,
        filename: "old.jpg".into(),
        content_type: "image/jpeg".into(),
        size: bytes.len() as u64,
        width: 32,
        height: 64,
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        location: gallery.blobs().location().to_owned(),
        created_at: time::OffsetDateTime::now_utc(),
        placeholder: None,
    };
    gallery.metadata().insert_all(&[record]).await.unwrap();

    let mut seen = Vec::new();
    let summary = gallery
        .reprocess_all(|done, total| seen.push((done, total)))
        .await
        .unwrap();
    assert_eq!(summary.updated, 1, "{summary:?}");
    assert_eq!(seen.last(), Some(&(1, 1)), "progress: {seen:?}");
    let meta = described(&app, &id.to_string()).await;
    assert_eq!(
        (&meta["width"], &meta["height"]),
        (&Value::from(64), &Value::from(32))
    );
    assert!(meta["placeholder"].is_string(), "{meta}");
    assert_upright_thumbnail(&app, &id.to_string(), "reprocessed").await;

    // Resumable: what is done is not done again. (Stored under its id, the policy
    // waits for `pier images migrate-objects`.)
    assert_eq!(summary.not_content_addressed, 1, "{summary:?}");
    let again = gallery.reprocess_all(|_, _| {}).await.unwrap();
    assert_eq!(
        again,
        pier::services::gallery::ReprocessSummary {
            skipped: 1,
            not_content_addressed: 1,
            ..Default::default()
        }
    );
}

/// `pier images reprocess` applies the metadata policy to images stored with their
/// metadata (by a pier before the policy, or under `keep`): two images with the same
/// phone photo switch to one new, stripped object and the old one goes; an image with
/// nothing to strip is left alone; and a reader fetching the image all along gets, on
/// every request, whole bytes whose SHA-256 is the ETag it was given — the old bytes or
/// the new, never a mix or an error.
#[tokio::test]
async fn reprocess_applies_the_policy_to_stored_bytes_under_live_readers() {
    use pier::store::{Blobs, ImageRecord};
    use sha2::{Digest, Sha256};
    let app = std::sync::Arc::new(spawn_app().await);
    let gallery = &app.context.gallery;
    let meta = gallery.metadata();
    let photo = phone("jpeg", 6);
    let clean = pier::test_support::noisy_png(40, 30, 3);
    let old_sha = hex::encode(Sha256::digest(&photo));
    // What a pier before the policy stored: the photo at its content key, two records
    // referencing it, and a PNG with nothing to strip.
    let mut ids = Vec::new();
    for (bytes, name, kind) in [
        (&photo, "a.jpg", "image/jpeg"),
        (&photo, "b.jpg", "image/jpeg"),
        (&clean, "c.png", "image/png"),
    ] {
        let sha256 = hex::encode(Sha256::digest(bytes));
        gallery
            .blobs()
            .put_bytes(&Blobs::object_key(&sha256), bytes.clone().into())
            .await
            .unwrap();
        let id = pier::domain::ImageId::generate();
        let record = ImageRecord {
            id,
            filename: name.into(),
            content_type: kind.into(),
            size: bytes.len() as u64,
            width: 1,
            height: 1,
            sha256,
            location: gallery.blobs().location().to_owned(),
            created_at: time::OffsetDateTime::now_utc(),
            placeholder: None,
        };
        meta.insert_all(&[record]).await.unwrap();
        ids.push(id.to_string());
    }
    assert_eq!(
        meta.object_references(&old_sha).await.unwrap(),
        Some((2, false))
    );
    assert_eq!(
        meta.switch_object(
            pier::domain::ImageId::parse(&ids[0]).unwrap(),
            "not-its-sha",
            "x",
            1
        )
        .await
        .unwrap(),
        pier::store::Switched::default(),
        "a record that does not have `from` is left alone"
    );

    // A reader fetching the first image in a loop (bounded) while reprocess runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (app, stop, id) = (app.clone(), stop.clone(), ids[0].clone());
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < std::time::Duration::from_secs(30)
            {
                let response = app.get(&format!("/image/{id}")).await;
                assert_eq!(response.status(), 200, "the image is served throughout");
                let etag = response.headers()["etag"]
                    .to_str()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned();
                let body = response.bytes().await.unwrap();
                assert_eq!(
                    hex::encode(Sha256::digest(&body)),
                    etag,
                    "whole bytes of its ETag"
                );
                seen.insert(etag);
            }
            seen
        })
    };
    // And a read caught between finding the image and reading its bytes.
    let first_id = pier::domain::ImageId::parse(&ids[0]).unwrap();
    let stale = gallery.find(first_id).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let summary = gallery.reprocess_all(|_, _| {}).await.unwrap();
    assert!(
        matches!(
            gallery.read(&stale, 0..stale.record.size).await,
            Err(pier::services::gallery::GalleryError::Moved)
        ),
        "its bytes moved: the route finds the image again (not a 500 for lost bytes)"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.await.unwrap();
    assert_eq!(summary.stripped, 2, "{summary:?}");
    assert_eq!(summary.updated, 3, "{summary:?}");

    // Served: what the policy keeps (read by Pillow), the same pixels, the record's
    // SHA-256 and size; one object for both images, the old one gone.
    let served_first = served(&app, &ids[0]).await;
    let report = pillow_report(&photo, &served_first);
    assert_eq!(report["gps"], 0, "{report}");
    assert_eq!(report["private_bytes"], false, "{report}");
    assert_eq!(report["pixels_equal"], true, "{report}");
    assert_eq!(report["orientation"], 6, "{report}");
    let new_sha = hex::encode(Sha256::digest(&served_first));
    assert_ne!(new_sha, old_sha);
    assert!(
        seen.contains(&new_sha),
        "the reader saw the new bytes: {seen:?}"
    );
    assert_eq!(served(&app, &ids[1]).await, served_first);
    for id in &ids[..2] {
        let listed = described(&app, id).await;
        assert_eq!(listed["sha256"], new_sha.as_str());
        assert_eq!(listed["size"], served_first.len());
        assert_eq!(
            (&listed["width"], &listed["height"]),
            (&Value::from(64), &Value::from(32)),
            "{listed}"
        );
    }
    assert_eq!(
        meta.object_references(&new_sha).await.unwrap(),
        Some((2, false))
    );
    assert_eq!(meta.object_references(&old_sha).await.unwrap(), None);
    assert!(
        gallery
            .blobs()
            .size_of(&Blobs::object_key(&old_sha))
            .await
            .unwrap()
            .is_none()
    );
    for id in &ids {
        let id = pier::domain::ImageId::parse(id).unwrap();
        assert!(
            gallery
                .blobs()
                .size_of(&Blobs::image_key(id))
                .await
                .unwrap()
                .is_none(),
            "nothing left staged"
        );
    }
    assert_eq!(
        served(&app, &ids[2]).await,
        clean,
        "nothing to strip: untouched"
    );

    // Resumable: a second run reads every image and writes nothing.
    let again = gallery.reprocess_all(|_, _| {}).await.unwrap();
    assert_eq!(
        again,
        pier::services::gallery::ReprocessSummary {
            skipped: 3,
            ..Default::default()
        }
    );
}
