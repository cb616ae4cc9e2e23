//! Images on S3, against a real S3-compatible server (moto, from PyPI, on 127.0.0.1).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use pier::{
    config::{Settings, StorageUrl},
    store::Blobs,
    test_support::{Format, encode, noisy_png},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    helpers::{TestApp, assert_problem, spawn_app_with},
    moto::Moto,
};

fn on_s3(settings: &mut Settings, moto: &Moto, bucket: &str) {
    settings.backends.storage = StorageUrl::S3 {
        bucket: bucket.into(),
        prefix: Some("pier/test".into()),
    };
    settings.aws.endpoint_url = Some(moto.endpoint());
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(pier::config::Secret("testing".into()));
}

async fn app_on_s3(moto: &Moto, bucket: &str) -> TestApp {
    moto.create_bucket(bucket).await;
    spawn_app_with(|s| on_s3(s, moto, bucket)).await
}

#[tokio::test]
async fn images_live_in_the_bucket() {
    let moto = Moto::start();
    let app = app_on_s3(&moto, "gallery").await;
    let bytes = noisy_png(60, 60, 4);
    let body: Value = app
        .upload(&[
            ("a.png", bytes.clone()),
            ("b.jpg", encode(Format::Jpeg, 300, 200)),
        ])
        .await
        .json()
        .await
        .unwrap();
    let images = body["images"].as_array().unwrap();
    assert_eq!(images[0]["location"], "s3");
    let id = images[0]["id"].as_str().unwrap();
    let fetched = app
        .get(&format!("/image/{id}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(fetched.as_ref(), bytes.as_slice());
    let part = app
        .client
        .get(app.url(&format!("/image/{id}")))
        .header("range", "bytes=5-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[5..10]);
    let second = images[1]["id"].as_str().unwrap();
    let thumb = app.get(&format!("/image/{second}/thumbnail")).await;
    assert_eq!(thumb.status(), 200);
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 171));
    // The object is really in the bucket, under the prefix and the sharded key, and
    // private: an anonymous request is refused.
    // Content-addressed: at the key of its SHA-256 (the id key is gone once promoted).
    let key = Blobs::object_key(images[0]["sha256"].as_str().unwrap());
    let full_key = object_store::path::Path::from(format!("pier/test/{}", key.as_ref()));
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name("gallery")
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    use object_store::ObjectStoreExt;
    let stored = bucket.get(&full_key).await.unwrap().bytes().await.unwrap();
    assert_eq!(Sha256::digest(&stored), Sha256::digest(&bytes));
    let anonymous = reqwest::get(format!("{}/gallery/{full_key}", moto.endpoint()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403, "objects are private");
    let page: Value = app.get("/images").await.json().await.unwrap();
    assert_eq!(page["images"].as_array().unwrap().len(), 2);
    assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
    assert_problem(app.get(&format!("/image/{id}")).await, 404).await;
    let gone = reqwest::get(format!(
        "{}/gallery/pier/test/{}",
        moto.endpoint(),
        key.as_ref()
    ))
    .await
    .unwrap();
    assert_eq!(gone.status(), 404, "the object is deleted too");
    let ready: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["checks"]["storage"]["status"], "up");
}

#[tokio::test]
async fn a_large_upload_streams_as_a_multipart_upload() {
    let moto = Moto::start();
    let app = app_on_s3(&moto, "large").await;
    let big = noisy_png(1500, 1500, 8); // ~6.5 MB: more than one 5 MiB part
    assert!(big.len() > 5 * 1024 * 1024 && big.len() < 10 * 1024 * 1024);
    app.round_trip("big.png", &big).await;
    // An upload streams to its id key, then is copied to its content key, which loses
    // the multipart ETag: the writer uploads streams is checked on its own, the same
    // way. A multipart upload's ETag is the MD5 of its parts' MD5s followed by `-N`, N
    // the number of parts (a single PUT has a plain MD5).
    let streamed = pier::domain::ImageId::generate();
    let mut writer = app
        .context
        .gallery
        .blobs()
        .writer(Blobs::image_key(streamed));
    for piece in big.chunks(64 * 1024) {
        writer
            .write(bytes::Bytes::copy_from_slice(piece))
            .await
            .unwrap();
    }
    writer.finish().await.unwrap();
    use object_store::ObjectStoreExt;
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name("large")
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let key = Blobs::image_key(streamed);
    let full_key = object_store::path::Path::from(format!("pier/test/{}", key.as_ref()));
    let meta = bucket.head(&full_key).await.unwrap();
    let promoted = Blobs::object_key(&hex::encode(Sha256::digest(&big)));
    let promoted = object_store::path::Path::from(format!("pier/test/{}", promoted.as_ref()));
    assert_eq!(bucket.head(&promoted).await.unwrap().size, big.len() as u64);
    let etag = meta.e_tag.expect("S3 gives every object an ETag");
    assert!(
        etag.trim_matches('"').ends_with("-2"),
        "a 6.5 MB object is stored in two parts, ETag {etag}"
    );
    assert_eq!(meta.size, big.len() as u64);
}

#[tokio::test]
async fn an_unreachable_bucket_is_noticed_within_seconds() {
    let mut moto = Moto::start();
    let app = app_on_s3(&moto, "outage").await;
    let id = app
        .upload_ok(&[("a.png", encode(Format::Png, 8, 8))])
        .await
        .remove(0);
    moto.stop();
    // The upload still succeeds, into the spool, and answers well within 10 s.
    let started = Instant::now();
    let response = app.upload(&[("b.png", encode(Format::Png, 8, 8))]).await;
    assert_eq!(response.status(), 201);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an upload during an outage answers within 10 s (took {:?})",
        started.elapsed()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["images"][0]["location"], "spool");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200, "degraded, still serving");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["storage"]["status"], "down");
    assert_eq!(ready["checks"]["spool"]["pending"], 1);
    // An image that only the bucket has cannot be read: 503, not 500.
    let object = app
        .client
        .get(app.url(&format!("/image/{id}")))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_problem(object, 503).await;
}

#[tokio::test]
async fn migrate_store_copies_local_images_into_the_bucket() {
    let moto = Moto::start();
    moto.create_bucket("moved").await;
    let local = crate::helpers::spawn_local_app_with(|_| {}).await;
    let contents = [encode(Format::Png, 30, 30), encode(Format::Gif, 30, 30)];
    let first_id = local.round_trip("a.png", &contents[0]).await;
    local.round_trip("b.gif", &contents[1]).await;
    assert_eq!(
        local
            .get(&format!("/image/{first_id}/thumbnail"))
            .await
            .status(),
        200
    );
    let mut settings = Settings::for_tests(PathBuf::from("unused.db"), StorageUrl::Memory);
    on_s3(&mut settings, &moto, "moved");
    let bucket = Blobs::open(&settings.backends.storage, &settings.aws).unwrap();
    let first =
        pier::cli::migrate_store::copy_store(local.context.gallery.blobs(), &bucket, |_, _| {})
            .await
            .unwrap();
    assert_eq!(
        (first.copied, first.skipped),
        (3, 0),
        "two images' objects and one thumbnail"
    );
    let again =
        pier::cli::migrate_store::copy_store(local.context.gallery.blobs(), &bucket, |_, _| {})
            .await
            .unwrap();
    assert_eq!(
        (again.copied, again.skipped),
        (0, 3),
        "resumable: nothing copied twice"
    );
    for bytes in &contents {
        let key = Blobs::object_key(&hex::encode(Sha256::digest(bytes)));
        assert!(bucket.size_of(&key).await.unwrap().is_some());
    }
}
