//! `/upload`, `/images`, `/image/{id}`: uploads of every kind, refusals, conditional and
//! ranged reads, thumbnails, paging, deletion, atomicity and orphan cleanup.

use std::time::Duration;

use pier::{
    domain::ImageId,
    store::Blobs,
    test_support::{Format, encode, noisy_png, png_header_claiming},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, spawn_local_app_with};

async fn image_count(app: &TestApp) -> usize {
    let page: Value = app.get("/images?limit=1000").await.json().await.unwrap();
    page["images"].as_array().unwrap().len()
}

#[tokio::test]
async fn upload_stores_every_kind_and_describes_it() {
    let app = spawn_app().await;
    let files = vec![
        ("a.png", encode(Format::Png, 40, 30)),
        ("b.jpg", encode(Format::Jpeg, 41, 31)),
        ("c.gif", encode(Format::Gif, 42, 32)),
        ("d.webp", encode(Format::Webp, 43, 33)),
    ];
    let response = app.upload(&files).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 4, "in the order sent");
    for (image, ((name, bytes), (kind, w, h))) in images.iter().zip(files.iter().zip([
        ("image/png", 40, 30),
        ("image/jpeg", 41, 31),
        ("image/gif", 42, 32),
        ("image/webp", 43, 33),
    ])) {
        let id = image["id"].as_str().unwrap();
        assert_eq!(image["filename"], *name);
        assert_eq!(image["content_type"], kind);
        assert_eq!(image["size"], bytes.len());
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(w), Some(h))
        );
        assert_eq!(image["sha256"], hex::encode(Sha256::digest(bytes)));
        assert_eq!(image["url"], format!("/image/{id}"));
        assert_eq!(image["thumbnail_url"], format!("/image/{id}/thumbnail"));
        assert_eq!(image["location"], app.context.gallery.blobs().location());
        assert!(image["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(uuid::Uuid::parse_str(id).unwrap().get_version_num() == 7);
        let fetched = app.get(&format!("/image/{id}")).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.headers()["content-type"], *kind);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn the_type_is_decided_by_the_bytes_not_the_name() {
    let app = spawn_app().await;
    let body: Value = app
        .upload(&[("photo.txt", encode(Format::Jpeg, 10, 10))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["images"][0]["content_type"], "image/jpeg");
}

#[tokio::test]
async fn reads_have_etag_304_range_206_and_immutable_caching() {
    let app = spawn_app().await;
    let bytes = noisy_png(64, 64, 1);
    let id = &app.upload_ok(&[("n.png", bytes.clone())]).await[0];
    let path = format!("/image/{id}");
    let full = app.get(&path).await;
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", hex::encode(Sha256::digest(&bytes))));
    assert_eq!(
        full.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        full.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(full.headers()["x-content-type-options"], "nosniff");

    let cached = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert!(cached.bytes().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url(&path))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let part = app
        .client
        .get(app.url(&path))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let suffix = app
        .client
        .get(app.url(&path))
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        suffix.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let beyond = app
        .client
        .get(app.url(&path))
        .header("range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    assert_problem(beyond, 416).await;
    let if_range = app
        .client
        .get(app.url(&path))
        .header("range", "bytes=0-0")
        .header("if-range", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        if_range.status(),
        200,
        "a stale If-Range gets the whole object"
    );

    let head = app.client.head(app.url(&path)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(head.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn thumbnails_are_small_jpegs_made_once_and_kept() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("wide.png", encode(Format::Png, 800, 400))])
        .await
        .remove(0);
    let path = format!("/image/{id}/thumbnail");
    let first = app.get(&path).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "image/jpeg");
    assert_eq!(
        first.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first = first.bytes().await.unwrap();
    let thumb = image::load_from_memory(&first).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 128));
    let kept = Blobs::thumbnail_key(ImageId::parse(&id).unwrap());
    let blobs = app.context.gallery.blobs();
    assert!(
        blobs.size_of(&kept).await.unwrap().is_some(),
        "the thumbnail is stored"
    );
    // Kept: the stored object is served as is (a planted marker proves no re-render).
    blobs
        .put_bytes(&kept, bytes::Bytes::from_static(b"kept"))
        .await
        .unwrap();
    assert_eq!(
        app.get(&path).await.bytes().await.unwrap().as_ref(),
        b"kept"
    );
    let cached = app
        .client
        .get(app.url(&path))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
}

#[tokio::test]
async fn list_is_newest_first_with_paging() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.extend(
            app.upload_ok(&[(&format!("{n}.png"), encode(Format::Png, 8, 8))])
                .await,
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let path = match &after {
            Some(a) => format!("/images?limit=2&after={a}"),
            None => "/images?limit=2".into(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(
            page["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    for query in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "after=not-a-uuid",
        "after=1",
    ] {
        assert_problem(app.get(&format!("/images?{query}")).await, 422).await;
    }
}

#[tokio::test]
async fn delete_removes_metadata_object_and_thumbnail() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("a.png", encode(Format::Png, 300, 300))])
        .await
        .remove(0);
    assert_eq!(
        app.get(&format!("/image/{id}/thumbnail")).await.status(),
        200
    );
    assert_eq!(app.stored_objects().await.len(), 2);
    assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
    assert_problem(app.get(&format!("/image/{id}")).await, 404).await;
    assert_problem(app.get(&format!("/image/{id}/thumbnail")).await, 404).await;
    assert_problem(app.delete(&format!("/image/{id}")).await, 404).await;
    let left = app.stored_objects().await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(image_count(&app).await, 0);
}

#[tokio::test]
async fn non_images_truncated_empty_and_bombs_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let png = encode(Format::Png, 50, 50);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "notes.png",
            b"just some text, honestly not an image".to_vec(),
            422,
        ),
        ("truncated.png", png[..png.len() / 2].to_vec(), 422),
        ("cut-end.png", png[..png.len() - 1].to_vec(), 422),
        ("empty.png", Vec::new(), 422),
        ("tiny.png", b"\x89P".to_vec(), 422),
        ("bomb.png", png_header_claiming(20_000, 20_000), 422),
        (
            "evil.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
            422,
        ),
    ];
    for (name, bytes, status) in cases {
        let problem = assert_problem(app.upload(&[(name, bytes)]).await, status).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "the problem names the file: {problem}"
        );
        assert!(problem["errors"]["file"].is_array());
    }
    assert_eq!(image_count(&app).await, 0);
    let left = app.stored_objects().await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn oversize_files_get_413_and_leave_nothing() {
    let app = spawn_app_with(|s| s.uploads.max_upload_bytes = 100_000).await;
    let big = noisy_png(200, 200, 7);
    assert!(big.len() > 100_000);
    let problem = assert_problem(app.upload(&[("big.png", big)]).await, 413).await;
    assert!(problem["detail"].as_str().unwrap().contains("big.png"));
    let fits = noisy_png(100, 100, 7);
    assert!(fits.len() < 100_000);
    app.upload_ok(&[("fits.png", fits)]).await;
    assert_eq!(image_count(&app).await, 1);
    assert_eq!(app.stored_objects().await.len(), 1);
}

#[tokio::test]
async fn a_ten_mebibyte_upload_streams_through() {
    let app = spawn_app().await;
    let big = noisy_png(1900, 1800, 3);
    assert!(
        big.len() > 9 << 20 && big.len() <= 10 << 20,
        "{}",
        big.len()
    );
    app.round_trip("big.png", &big).await;
}

#[tokio::test]
async fn a_multi_file_upload_is_all_or_nothing_and_names_the_bad_file() {
    let app = spawn_app().await;
    let files = vec![
        ("good1.png", encode(Format::Png, 10, 10)),
        ("good2.jpg", encode(Format::Jpeg, 10, 10)),
        ("bad.gif", b"GIF89a but then nothing sensible".to_vec()),
    ];
    let problem = assert_problem(app.upload(&files).await, 422).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("bad.gif"),
        "{problem}"
    );
    assert_eq!(image_count(&app).await, 0);
    let left = app.stored_objects().await;
    assert!(left.is_empty(), "{left:?}");

    let many: Vec<_> = (0..21)
        .map(|n| (format!("{n}.png"), encode(Format::Png, 4, 4)))
        .collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let problem = assert_problem(app.upload(&many).await, 422).await;
    assert!(
        problem["errors"]["file"][0]
            .as_str()
            .unwrap()
            .contains("at most 20 files")
    );
    assert_eq!(image_count(&app).await, 0);
    let left = app.stored_objects().await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn file_names_cannot_traverse_paths() {
    let app = spawn_app().await;
    let body: Value = app
        .upload(&[("../../../etc/passwd.png", encode(Format::Png, 5, 5))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["images"][0]["filename"], "passwd.png");
    let html: Value = app
        .upload(&[(
            "<img src=x onerror=alert(1)>.png",
            encode(Format::Png, 5, 5),
        )])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        html["images"][0]["filename"], "<img src=x onerror=alert(1)>.png",
        "kept as text, never interpreted"
    );
    // Both uploads were the same 5×5 PNG: one content-addressed object.
    let objects = app.stored_objects().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    for key in objects {
        let name = key.rsplit('/').next().unwrap();
        assert!(
            name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "objects are named by their SHA-256 only: {key}"
        );
    }
}

#[tokio::test]
async fn malformed_requests_to_upload_are_4xx() {
    let app = spawn_app().await;
    let json = app
        .client
        .post(app.url("/upload"))
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(json, 415).await;
    let none = app.client.post(app.url("/upload")).send().await.unwrap();
    assert_problem(none, 415).await;
    let broken = app
        .client
        .post(app.url("/upload"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(
            "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nabc",
        )
        .send()
        .await
        .unwrap();
    assert!(broken.status().is_client_error(), "{}", broken.status());
    assert_eq!(broken.headers()["content-type"], "application/problem+json");
    let no_boundary = app
        .client
        .post(app.url("/upload"))
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(no_boundary, 400).await;
    let form = reqwest::multipart::Form::new().text("other", "value");
    let wrong_field = app
        .client
        .post(app.url("/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(wrong_field, 422).await;
    let empty_form = reqwest::multipart::Form::new();
    let empty = app
        .client
        .post(app.url("/upload"))
        .multipart(empty_form)
        .send()
        .await
        .unwrap();
    assert!(empty.status().is_client_error());
    assert_eq!(image_count(&app).await, 0);
    let left = app.stored_objects().await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn unknown_image_ids_of_every_shape_are_404() {
    let app = spawn_app().await;
    let absent = ImageId::generate().to_string();
    for id in [
        absent.as_str(),
        "abc",
        "0",
        "%2E%2E%2Fetc%2Fpasswd",
        "00000000-0000-0000-0000-000000000000",
        "%00",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    ] {
        assert_problem(app.get(&format!("/image/{id}")).await, 404).await;
        assert_problem(app.get(&format!("/image/{id}/thumbnail")).await, 404).await;
        assert_problem(app.delete(&format!("/image/{id}")).await, 404).await;
    }
}

#[tokio::test]
async fn orphans_from_a_crash_are_swept_and_live_objects_kept() {
    let app = spawn_app().await;
    let live = app
        .upload_ok(&[("live.png", encode(Format::Png, 5, 5))])
        .await
        .remove(0);
    app.get(&format!("/image/{live}/thumbnail")).await;
    // What a crash between "object durable" and "metadata committed" leaves behind:
    // an original and a thumbnail of an image that has no record.
    let orphan = ImageId::generate();
    for key in [Blobs::image_key(orphan), Blobs::thumbnail_key(orphan)] {
        app.context
            .gallery
            .blobs()
            .put_bytes(&key, encode(Format::Png, 5, 5).into())
            .await
            .unwrap();
    }
    assert_problem(app.get(&format!("/image/{orphan}")).await, 404).await; // never visible

    // Within the grace period nothing is touched (an upload may still be committing).
    let sweep = |grace| pier::startup::sweep_orphans_once(&app.context, grace);
    assert_eq!(sweep(Duration::from_secs(3600)).await.unwrap(), 0);
    assert_eq!(sweep(Duration::ZERO).await.unwrap(), 2);
    let left: Vec<String> = app.stored_objects().await;
    assert_eq!(
        left.len(),
        2,
        "the live image's object and thumbnail: {left:?}"
    );
    let page: Value = app.get("/images").await.json().await.unwrap();
    let live_sha = page["images"][0]["sha256"].as_str().unwrap().to_owned();
    assert!(
        left.iter()
            .all(|key| key.contains(&live) || key.contains(&live_sha))
    );
    assert_eq!(app.get(&format!("/image/{live}")).await.status(), 200);
    assert_eq!(
        app.get(&format!("/image/{live}/thumbnail")).await.status(),
        200
    );
}

#[tokio::test]
async fn staging_files_of_interrupted_local_writes_are_swept() {
    let app = spawn_local_app_with(|_| {}).await; // local disk's own staging files
    // Where object_store stages a write: beside the key, in its shard directory.
    let id = ImageId::generate();
    let key = app.storage_dir.join(Blobs::image_key(id).as_ref());
    let staging = key.with_file_name(format!("{id}#1"));
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, b"half an upload").unwrap();
    let sweep = |grace| pier::startup::sweep_orphans_once(&app.context, grace);
    assert_eq!(sweep(Duration::from_secs(3600)).await.unwrap(), 0);
    assert!(staging.exists());
    assert_eq!(sweep(Duration::ZERO).await.unwrap(), 1);
    assert!(!staging.exists());
}

#[tokio::test]
async fn memory_storage_works_for_fast_tests() {
    // With the database and metadata of every backend.
    let app = spawn_app_with(|s| s.backends.storage = pier::config::StorageUrl::Memory).await;
    let body: Value = app
        .upload(&[("m.gif", encode(Format::Gif, 9, 9))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["images"][0]["location"], "memory");
    let id = body["images"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/image/{id}/thumbnail")).await.status(),
        200
    );
    assert!(!app.storage_dir.exists(), "nothing on disk");
    assert_eq!(
        app.stored_objects().await.len(),
        2,
        "the image and its thumbnail, in memory"
    );
}

#[tokio::test]
async fn uploads_beyond_the_concurrency_bound_wait_their_turn() {
    let app = spawn_app_with(|s| s.uploads.max_concurrent_uploads = 1).await;
    // One upload takes the only slot and sends half its file, then waits.
    let png = encode(Format::Png, 30, 30);
    let (half, rest) = png.split_at(png.len() / 2);
    let mut first =
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.png\"\r\n\r\n"
            .to_vec();
    first.extend_from_slice(half);
    let mut last = rest.to_vec();
    last.extend_from_slice(b"\r\n--B--\r\n");
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let slow = tokio::spawn(
        app.client
            .post(app.url("/upload"))
            .header("content-type", "multipart/form-data; boundary=B")
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    sender.send(Ok(first)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Others wait, unread, for the slot: none is answered while it is held.
    let app = &app;
    let waiting = futures::future::join_all((0..3).map(|n| async move {
        let name = format!("{n}.png");
        app.upload(&[(name.as_str(), encode(Format::Png, 30, 30))])
            .await
            .status()
    }));
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(700), &mut waiting)
            .await
            .is_err(),
        "an upload was served while the only slot was taken"
    );
    assert_eq!(image_count(app).await, 0);
    // The slot's holder finishes: everyone gets their turn.
    sender.send(Ok(last)).await.unwrap();
    drop(sender);
    assert_eq!(slow.await.unwrap().unwrap().status(), 201);
    let statuses = waiting.await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(image_count(app).await, 4);
}

#[tokio::test]
async fn small_images_are_served_from_the_cache_until_deleted() {
    let app = spawn_app().await;
    let bytes = noisy_png(40, 40, 5);
    let id = app.upload_ok(&[("c.png", bytes.clone())]).await.remove(0);
    let path = format!("/image/{id}");
    assert_eq!(
        app.get(&path).await.bytes().await.unwrap().as_ref(),
        bytes.as_slice()
    );
    // Take the object away behind pier's back: the cached copy still answers, ranges too.
    app.remove_object_behind_pier(&Blobs::object_key(&hex::encode(Sha256::digest(&bytes))))
        .await;
    assert_eq!(
        app.get(&path).await.bytes().await.unwrap().as_ref(),
        bytes.as_slice()
    );
    let part = app
        .client
        .get(app.url(&path))
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[2..6]);
    // Deletion goes through the metadata, which every read consults first.
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_problem(app.get(&path).await, 404).await;
}

#[tokio::test]
async fn sizes_come_from_the_ladder_each_made_once_kept_and_deleted_with_the_image() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("wide.png", encode(Format::Png, 1200, 600))])
        .await
        .remove(0);
    let image_id = ImageId::parse(&id).unwrap();
    let blobs = app.context.gallery.blobs();
    let mut etags = Vec::new();
    for (size, expected) in [
        (256, (256, 128)),
        (512, (512, 256)),
        (1024, (1024, 512)),
        (2048, (1200, 600)),
    ] {
        let response = app.get(&format!("/image/{id}/thumbnail?size={size}")).await;
        assert_eq!(response.status(), 200, "{size}");
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        etags.push(response.headers()["etag"].to_str().unwrap().to_owned());
        let variant = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(
            (variant.width(), variant.height()),
            expected,
            "{size}: never larger than the original"
        );
        let key = Blobs::variant_key(
            image_id,
            pier::domain::image::VariantSize::parse(&size.to_string()).unwrap(),
        );
        assert!(
            blobs.size_of(&key).await.unwrap().is_some(),
            "{size} is kept"
        );
    }
    etags.dedup();
    assert_eq!(etags.len(), 4, "each size has its own ETag");
    pier::startup::sweep_orphans_once(&app.context, Duration::ZERO)
        .await
        .unwrap();
    // The original is at its content key now, not its id key.
    for key in Blobs::keys_of_image(image_id)
        .into_iter()
        .filter(|k| !k.as_ref().ends_with(".failed") && *k != Blobs::image_key(image_id))
    {
        assert!(
            blobs.size_of(&key).await.unwrap().is_some(),
            "{key} is not an orphan"
        );
    }
    for bad in ["300", "4096", "0", "-1", "big", "256.5", ""] {
        let problem = assert_problem(
            app.get(&format!("/image/{id}/thumbnail?size={bad}")).await,
            422,
        )
        .await;
        assert!(
            problem["errors"]["size"][0]
                .as_str()
                .unwrap()
                .contains("256, 512, 1024, 2048"),
            "{bad}: {problem}"
        );
    }
    assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
    for key in Blobs::keys_of_image(image_id) {
        assert!(
            blobs.size_of(&key).await.unwrap().is_none(),
            "{key} left after the delete"
        );
    }
}

/// Polls the list until `id` has a placeholder (bounded: 30 s; a spooled image waits
/// for its replay first).
async fn placeholder_of(app: &TestApp, id: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let page: Value = app.get("/images?limit=1000").await.json().await.unwrap();
        let image = page["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .expect("listed");
        if let Some(placeholder) = image["placeholder"].as_str() {
            return placeholder.to_owned();
        }
        assert!(image["placeholder"].is_null(), "{image}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no placeholder for {id} after 30 s: {image}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The placeholder decodes to a blurred image of the same colours: red left, blue right.
fn assert_placeholder_looks_like_red_left_blue_right(placeholder: &str) {
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(placeholder)
        .expect("base64");
    let (w, h, rgba) = thumbhash::thumb_hash_to_rgba(&hash).expect("a ThumbHash");
    assert!(w > h, "landscape: {w}x{h}");
    let at = |x: usize, y: usize| &rgba[(y * w + x) * 4..(y * w + x) * 4 + 3];
    let (left, right) = (at(1, h / 2), at(w - 2, h / 2));
    assert!(left[0] > left[2] + 60, "red on the left: {left:?}");
    assert!(right[2] > right[0] + 60, "blue on the right: {right:?}");
}

fn red_left_blue_right() -> Vec<u8> {
    let image = image::RgbImage::from_fn(300, 150, |x, _| {
        if x < 150 {
            image::Rgb([230, 20, 20])
        } else {
            image::Rgb([20, 20, 230])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn the_thumbnail_and_placeholder_are_made_ahead_without_a_read() {
    let app = spawn_app_with(|s| s.images.make_ahead_queue = 16).await;
    let id = app
        .upload_ok(&[("rb.png", red_left_blue_right())])
        .await
        .remove(0);
    let placeholder = placeholder_of(&app, &id).await;
    assert_placeholder_looks_like_red_left_blue_right(&placeholder);
    // Nobody asked for the thumbnail: it was made and kept ahead.
    let kept = Blobs::thumbnail_key(ImageId::parse(&id).unwrap());
    assert!(
        app.context
            .gallery
            .blobs()
            .size_of(&kept)
            .await
            .unwrap()
            .is_some()
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"made_ahead_total{result="made"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn what_was_not_made_before_a_restart_is_made_after_it() {
    // The queue off: uploads are acknowledged and nothing is made (a full queue, or a
    // crash before the worker got to them, leaves the same state).
    let mut first = spawn_local_app_with(|s| s.images.make_ahead_queue = 0).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app_upload(&first).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page: Value = first.get("/images").await.json().await.unwrap();
    assert!(
        page["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["placeholder"].is_null())
    );
    let _ = first.stop.take().unwrap().send(());
    first.served.take().unwrap().await.unwrap().unwrap();

    let mut settings = first.settings.clone();
    settings.images.make_ahead_queue = 1024;
    let dir = std::mem::replace(&mut first._dir, tempfile::tempdir().unwrap());
    let second = crate::helpers::start(settings, dir, first.storage_dir.clone()).await;
    for id in &ids {
        assert_placeholder_looks_like_red_left_blue_right(&placeholder_of(&second, id).await);
    }
}

async fn app_upload(app: &TestApp) -> String {
    app.upload_ok(&[("rb.png", red_left_blue_right())])
        .await
        .remove(0)
}

/// The content-addressed objects in the store.
async fn content_objects(app: &TestApp) -> Vec<String> {
    app.context
        .gallery
        .blobs()
        .list_objects()
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key.to_string())
        .filter(|key| key.starts_with("objects/"))
        .collect()
}

#[tokio::test]
async fn the_same_bytes_are_stored_once_and_go_with_their_last_image() {
    let app = spawn_app().await;
    let bytes = noisy_png(60, 40, 5);
    let first = app.round_trip("a.png", &bytes).await;
    let second = app.round_trip("b.png", &bytes).await;
    assert_ne!(first, second, "two images");
    let objects = content_objects(&app).await;
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(objects[0].ends_with(&sha));
    let meta = app.context.gallery.metadata();
    assert_eq!(
        meta.object_references(&sha).await.unwrap(),
        Some((2, false))
    );
    assert_eq!(app.delete(&format!("/image/{first}")).await.status(), 204);
    assert_eq!(content_objects(&app).await.len(), 1, "still referenced");
    let left = app
        .get(&format!("/image/{second}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(left.as_ref(), bytes.as_slice());
    assert_eq!(app.delete(&format!("/image/{second}")).await.status(), 204);
    assert!(
        content_objects(&app).await.is_empty(),
        "the last image took it"
    );
    assert_eq!(meta.object_references(&sha).await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_uploads_and_deletes_of_the_same_bytes_lose_nothing_and_leak_nothing() {
    let app = std::sync::Arc::new(spawn_app().await);
    let bytes = noisy_png(50, 50, 11);
    let sha = hex::encode(Sha256::digest(&bytes));
    // Kept throughout: an image with the same bytes, uploaded first.
    let kept = app.round_trip("kept.png", &bytes).await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (app, bytes) = (app.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            let mut survivors = Vec::new();
            for round in 0..6 {
                let id = app
                    .upload_ok(&[("same.png", bytes.clone())])
                    .await
                    .remove(0);
                if (task + round) % 3 == 0 {
                    survivors.push(id);
                } else {
                    assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
                }
            }
            survivors
        }));
    }
    let mut survivors = vec![kept.clone()];
    for task in tasks {
        survivors.extend(task.await.unwrap());
    }
    for id in &survivors {
        let got = app
            .get(&format!("/image/{id}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(Sha256::digest(&got), Sha256::digest(&bytes), "{id}");
    }
    let meta = app.context.gallery.metadata();
    assert_eq!(
        meta.object_references(&sha).await.unwrap(),
        Some((survivors.len() as u64, false)),
        "one reference per surviving image"
    );
    assert_eq!(content_objects(&app).await.len(), 1);
    for id in &survivors {
        assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
    }
    assert!(content_objects(&app).await.is_empty(), "no object leaked");
    assert_eq!(meta.object_references(&sha).await.unwrap(), None);
}

#[tokio::test]
async fn images_stored_under_their_id_move_to_content_keys_resumably() {
    use pier::store::{ImageRecord, objects};
    let app = spawn_app().await;
    let gallery = &app.context.gallery;
    // What an earlier pier stored: bytes at the id key, a record (two images with the
    // same bytes, and one other).
    let same = noisy_png(30, 30, 1);
    let other = noisy_png(31, 30, 2);
    let mut ids = Vec::new();
    for bytes in [&same, &same, &other] {
        let id = ImageId::generate();
        gallery
            .blobs()
            .put_bytes(&Blobs::image_key(id), bytes.clone().into())
            .await
            .unwrap();
        let record = ImageRecord {
            id,
            filename: "old.png".into(),
            content_type: "image/png".into(),
            size: bytes.len() as u64,
            width: 30,
            height: 30,
            sha256: hex::encode(Sha256::digest(bytes)),
            location: gallery.blobs().location().to_owned(),
            created_at: time::OffsetDateTime::now_utc(),
            placeholder: None,
        };
        gallery.metadata().insert_all(&[record]).await.unwrap();
        ids.push(id);
    }
    // Readable before the migration (the id key), and after it.
    for id in &ids {
        assert_eq!(app.get(&format!("/image/{id}")).await.status(), 200);
    }
    let mut seen = Vec::new();
    let summary = objects::migrate(gallery.metadata().as_ref(), gallery.blobs(), |d, t| {
        seen.push((d, t))
    })
    .await
    .unwrap();
    assert_eq!(summary.promoted, 3, "{summary:?}");
    assert_eq!(seen.last(), Some(&(3, 3)));
    let objects = content_objects(&app).await;
    assert_eq!(objects.len(), 2, "the same bytes once: {objects:?}");
    for id in &ids {
        assert!(
            gallery
                .blobs()
                .size_of(&Blobs::image_key(*id))
                .await
                .unwrap()
                .is_none()
        );
        let got = app
            .get(&format!("/image/{id}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert!(got.as_ref() == same.as_slice() || got.as_ref() == other.as_slice());
    }
    let again = objects::migrate(gallery.metadata().as_ref(), gallery.blobs(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.promoted, again.already), (0, 3), "resumable");
}

#[tokio::test]
async fn the_sweep_finishes_promotions_and_deletions_a_crash_cut_short() {
    let app = spawn_app().await;
    let gallery = &app.context.gallery;
    let bytes = noisy_png(20, 20, 3);
    let sha = hex::encode(Sha256::digest(&bytes));
    let id = app.round_trip("a.png", &bytes).await;
    let image_id = ImageId::parse(&id).unwrap();
    // A crash after the commit, before the promotion: the bytes at the id key only.
    let object = Blobs::object_key(&sha);
    gallery
        .blobs()
        .put_bytes(&Blobs::image_key(image_id), bytes.clone().into())
        .await
        .unwrap();
    gallery.blobs().delete(&object).await.unwrap();
    assert_eq!(
        app.get(&format!("/image/{id}")).await.status(),
        200,
        "read from the id key"
    );
    pier::startup::sweep_orphans_once(&app.context, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        gallery.blobs().size_of(&object).await.unwrap().is_some(),
        "promoted"
    );
    assert!(
        gallery
            .blobs()
            .size_of(&Blobs::image_key(image_id))
            .await
            .unwrap()
            .is_none()
    );
    // A crash of `pier images reprocess` after it staged new bytes at the id key and
    // before it switched the record: the sweep drops them and never puts them at the
    // record's content key.
    gallery
        .blobs()
        .put_bytes(&Blobs::image_key(image_id), noisy_png(20, 20, 4).into())
        .await
        .unwrap();
    pier::startup::sweep_orphans_once(&app.context, Duration::ZERO)
        .await
        .unwrap();
    let kept = gallery.blobs().get_bytes(&object).await.unwrap().unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&kept)),
        sha,
        "the object keeps its bytes"
    );
    assert!(
        gallery
            .blobs()
            .size_of(&Blobs::image_key(image_id))
            .await
            .unwrap()
            .is_none()
    );
    // A crash after the last reference went, before the object was deleted: dead.
    let meta = gallery.metadata();
    let deleted = meta.delete(image_id).await.unwrap();
    assert_eq!(deleted.unreferenced.as_deref(), Some(sha.as_str()));
    assert_eq!(meta.object_references(&sha).await.unwrap(), Some((0, true)));
    // An upload of the same bytes meanwhile waits for the elected deleter (here: 300 ms
    // late), then references a fresh object.
    let deleter = {
        let (meta, blobs, sha) = (meta.clone(), gallery.blobs().clone(), sha.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            pier::store::objects::finish_deletion(meta.as_ref(), &blobs, &sha)
                .await
                .unwrap();
        })
    };
    let again = app.round_trip("again.png", &bytes).await;
    deleter.await.unwrap();
    assert_eq!(
        meta.object_references(&sha).await.unwrap(),
        Some((1, false))
    );
    assert_eq!(
        content_objects(&app).await.len(),
        1,
        "the new upload's object survived"
    );
    assert_eq!(app.delete(&format!("/image/{again}")).await.status(), 204);
    // And a dead object nobody re-uploads is finished by the sweep.
    let third = app.round_trip("third.png", &bytes).await;
    let deleted = meta.delete(ImageId::parse(&third).unwrap()).await.unwrap();
    assert!(deleted.unreferenced.is_some());
    pier::startup::sweep_orphans_once(&app.context, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(meta.object_references(&sha).await.unwrap(), None);
    assert!(content_objects(&app).await.is_empty());
}
