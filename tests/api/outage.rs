//! The spool under real outages: S3 and DynamoDB (moto) behind a gate that a test
//! closes in the middle of a stream of uploads and opens again later.

use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use pier::{
    config::{MetadataBackend, Secret, Settings, StorageUrl},
    domain::ImageId,
    store::{Blobs, ImageMetaStore, dynamo::DynamoMeta},
    test_support::noisy_png,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    helpers::{TestApp, spawn_local_app_with},
    moto::{Gate, Moto},
};

/// What the client was told: an acknowledged upload.
struct Acknowledged {
    id: String,
    filename: String,
    sha256: String,
}

/// Settings for S3 + DynamoDB at `endpoint` (the gate), bucket and table `name`.
fn remote(settings: &mut Settings, endpoint: &str, name: &str) {
    settings.backends.storage = StorageUrl::S3 {
        bucket: name.into(),
        prefix: None,
    };
    settings.backends.metadata = MetadataBackend::DynamoDb { table: name.into() };
    settings.aws.endpoint_url = Some(endpoint.into());
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(Secret("testing".into()));
}

/// Creates the bucket and table directly on moto.
async fn create_backends(moto: &Moto, name: &str) {
    moto.create_bucket(name).await;
    let mut settings = Settings::for_tests("unused.db".into(), StorageUrl::Memory);
    remote(&mut settings, &moto.endpoint(), name);
    DynamoMeta::connect(name, &settings.aws)
        .await
        .migrate()
        .await
        .expect("the table is created");
}

async fn upload(app: &TestApp, n: usize) -> (Acknowledged, Value) {
    let bytes = noisy_png(24 + (n % 7) as u32, 20, n as u32);
    let filename = format!("stream-{n}.png");
    let started = Instant::now();
    let response = app.upload(&[(filename.as_str(), bytes.clone())]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "upload {n} took {:?}: more than 10 s",
        started.elapsed()
    );
    assert_eq!(
        response.status(),
        201,
        "upload {n}: {}",
        response.text().await.unwrap_or_default()
    );
    let body: Value = response.json().await.unwrap();
    let image = body["images"][0].clone();
    let acknowledged = Acknowledged {
        id: image["id"].as_str().unwrap().to_owned(),
        filename,
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    assert_eq!(image["sha256"], acknowledged.sha256.as_str());
    (acknowledged, image)
}

async fn readiness(app: &TestApp) -> Value {
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200, "the replica keeps serving");
    response.json().await.unwrap()
}

/// Waits (bounded) until the spool has drained and the replica is ready again.
async fn wait_until_drained(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = readiness(app).await;
        if ready["status"] == "ready" && ready["checks"]["spool"]["pending"] == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the spool did not drain within 60 s: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks, directly on moto and not through pier, that every acknowledged upload is in
/// the bucket with the right bytes and in the table with the right record.
async fn assert_all_remote(moto: &Moto, name: &str, acknowledged: &[Acknowledged]) {
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name(name)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let mut settings = Settings::for_tests("unused.db".into(), StorageUrl::Memory);
    remote(&mut settings, &moto.endpoint(), name);
    let table = DynamoMeta::connect(name, &settings.aws).await;
    for ack in acknowledged {
        let id = ImageId::parse(&ack.id).unwrap();
        // Replayed images live at their content key.
        let stored = bucket
            .get(&Blobs::object_key(&ack.sha256))
            .await
            .unwrap_or_else(|e| panic!("{} is not in the bucket: {e}", ack.filename))
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&stored)),
            ack.sha256,
            "{}",
            ack.filename
        );
        let record = table
            .get(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no metadata in DynamoDB", ack.filename));
        assert_eq!(record.sha256, ack.sha256);
        assert_eq!(record.filename, ack.filename);
        assert_eq!(record.size, stored.len() as u64);
        assert_eq!(record.location, "s3");
    }
    let listed = table.list(None, 1000).await.unwrap();
    assert_eq!(
        listed.len(),
        acknowledged.len(),
        "no duplicates, nothing extra"
    );
}

#[tokio::test]
async fn uploads_during_an_outage_are_spooled_served_and_replayed() {
    let moto = Moto::start();
    let mut gate = Gate::open_to(moto.port()).await;
    create_backends(&moto, "stream").await;
    let endpoint = gate.endpoint();
    let app = spawn_local_app_with(|s| remote(s, &endpoint, "stream")).await;
    let mut acknowledged = Vec::new();
    for n in 0..8 {
        let (ack, image) = upload(&app, n).await;
        assert_eq!(image["location"], "s3");
        acknowledged.push(ack);
    }
    assert_eq!(readiness(&app).await["status"], "ready");

    gate.close().await; // S3 and DynamoDB become unreachable mid-stream
    for n in 8..20 {
        let (ack, image) = upload(&app, n).await;
        assert_eq!(image["location"], "spool", "upload {n}");
        acknowledged.push(ack);
    }
    let ready = readiness(&app).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["spool"]["pending"], 12);
    assert_eq!(ready["checks"]["storage"]["status"], "down");
    assert_eq!(ready["checks"]["metadata"]["status"], "down");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("spool_pending 12"), "{metrics}");
    // Spooled images are served from the spool: bytes, ranges, thumbnails.
    let spooled = &acknowledged[12];
    let bytes = app
        .get(&format!("/image/{}", spooled.id))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), spooled.sha256);
    let part = app
        .client
        .get(app.url(&format!("/image/{}", spooled.id)))
        .header("range", "bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[1..4]);
    let thumbnail = app.get(&format!("/image/{}/thumbnail", spooled.id)).await;
    assert_eq!(thumbnail.status(), 200);

    gate.open().await; // the remote side is back: the spool drains by itself
    for n in 20..24 {
        acknowledged.push(upload(&app, n).await.0);
    }
    wait_until_drained(&app).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("spool_pending 0"), "{metrics}");
    assert_all_remote(&moto, "stream", &acknowledged).await;
    let page: Value = app.get("/images?limit=100").await.json().await.unwrap();
    let listed: Vec<&str> = page["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = acknowledged.iter().map(|a| a.id.as_str()).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected, "every upload listed once, newest first");
    let left = app.stored_objects().await;
    assert!(
        left.iter().all(|key| !key.contains("/spool/")),
        "the spool is empty: {left:?}"
    );
}

#[tokio::test]
async fn a_restart_resumes_the_replay_of_the_spool() {
    let moto = Moto::start();
    let mut gate = Gate::open_to(moto.port()).await;
    create_backends(&moto, "restart").await;
    let endpoint = gate.endpoint();
    let mut first = spawn_local_app_with(|s| remote(s, &endpoint, "restart")).await;
    gate.close().await;
    let mut acknowledged = Vec::new();
    // A two-file upload is one batch in the spool: replayed all-or-nothing.
    let pair = first
        .upload(&[
            ("pair-a.png", noisy_png(30, 30, 1)),
            ("pair-b.png", noisy_png(31, 30, 2)),
        ])
        .await;
    assert_eq!(pair.status(), 201);
    let pair: Value = pair.json().await.unwrap();
    for (image, seed) in pair["images"].as_array().unwrap().iter().zip([1, 2]) {
        assert_eq!(image["location"], "spool");
        acknowledged.push(Acknowledged {
            id: image["id"].as_str().unwrap().to_owned(),
            filename: image["filename"].as_str().unwrap().to_owned(),
            sha256: hex::encode(Sha256::digest(noisy_png(29 + seed, 30, seed))),
        });
    }
    acknowledged.push(upload(&first, 3).await.0);
    assert_eq!(readiness(&first).await["checks"]["spool"]["pending"], 3);
    // Stop the replica while the remote side is still down.
    let _ = first.stop.take().unwrap().send(());
    first.served.take().unwrap().await.unwrap().unwrap();

    gate.open().await;
    let spool = first._dir.path().join("spool");
    let second = spawn_local_app_with(|s| {
        remote(s, &endpoint, "restart");
        s.backends.spool = spool.clone();
    })
    .await;
    // Until replayed, the restarted replica serves the spooled images itself.
    let early = second.get(&format!("/image/{}", acknowledged[2].id)).await;
    assert_eq!(early.status(), 200);
    wait_until_drained(&second).await;
    assert_all_remote(&moto, "restart", &acknowledged).await;
}

#[tokio::test]
async fn a_hung_backend_is_given_up_on_and_the_upload_answers_within_10_s() {
    let moto = Moto::start();
    let mut gate = Gate::open_to(moto.port()).await;
    create_backends(&moto, "hung").await;
    let endpoint = gate.endpoint();
    let app = spawn_local_app_with(|s| remote(s, &endpoint, "hung")).await;
    let mut acknowledged = vec![upload(&app, 0).await.0];
    gate.hang().await; // connections are accepted and never answered
    // The first upload waits for the timeouts (asserted < 10 s inside `upload`); once
    // the outage is known the next ones go straight to the spool.
    let (ack, image) = upload(&app, 1).await;
    assert_eq!(image["location"], "spool");
    acknowledged.push(ack);
    let started = Instant::now();
    let (ack, image) = upload(&app, 2).await;
    assert_eq!(image["location"], "spool");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    acknowledged.push(ack);
    let ready = readiness(&app).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["storage"]["status"], "down");
    gate.resume().await;
    wait_until_drained(&app).await;
    assert_all_remote(&moto, "hung", &acknowledged).await;
}

/// The orphan sweep against a replay caught between "object written" and "record
/// written": the spooled image's object has no metadata yet and must survive, while a
/// true orphan beside it goes.
#[tokio::test]
async fn the_orphan_sweep_keeps_what_the_spool_is_replaying() {
    let moto = Moto::start();
    let mut gate = Gate::open_to(moto.port()).await;
    create_backends(&moto, "sweep").await;
    let app = spawn_local_app_with(|s| remote(s, &gate.endpoint(), "sweep")).await;
    gate.close().await;
    let (spooled, _) = upload(&app, 7).await;
    let spool = app
        .context
        .gallery
        .spool()
        .cloned()
        .expect("remote backends have a spool");
    let id = ImageId::parse(&spooled.id).unwrap();
    // Hold the replay off, then bring the backends back.
    let paused = spool.pause_replay().await;
    gate.open().await;
    assert!(spool.holds(id), "the upload is still the spool's");
    // What the replay does first: the object, before the record.
    let bytes = app
        .get(&format!("/image/{}", spooled.id))
        .await
        .bytes()
        .await
        .unwrap();
    app.context
        .gallery
        .blobs()
        .put_bytes(&Blobs::image_key(id), bytes)
        .await
        .unwrap();
    let orphan = ImageId::generate();
    app.context
        .gallery
        .blobs()
        .put_bytes(
            &Blobs::image_key(orphan),
            b"left by a crash".to_vec().into(),
        )
        .await
        .unwrap();
    let removed = pier::startup::sweep_orphans_once(&app.context, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed, 1, "only the true orphan goes");
    assert!(
        app.context
            .gallery
            .blobs()
            .size_of(&Blobs::image_key(id))
            .await
            .unwrap()
            .is_some(),
        "the spooled upload's object survives the sweep"
    );
    assert!(
        app.context
            .gallery
            .blobs()
            .size_of(&Blobs::image_key(orphan))
            .await
            .unwrap()
            .is_none()
    );
    drop(paused);
    wait_until_drained(&app).await;
    assert_all_remote(&moto, "sweep", &[spooled]).await;
}

/// Stored once through the spool: the same bytes uploaded once before an outage and
/// twice during it (spooled) end as one object in the bucket with three references
/// once replayed; the object goes with the last of the three images.
#[tokio::test]
async fn the_same_bytes_spooled_and_replayed_are_stored_once() {
    use futures::TryStreamExt;
    use object_store::ObjectStore as _;
    let moto = Moto::start();
    let mut gate = Gate::open_to(moto.port()).await;
    create_backends(&moto, "once").await;
    let app = spawn_local_app_with(|s| remote(s, &gate.endpoint(), "once")).await;
    let bytes = noisy_png(40, 30, 99);
    let sha = hex::encode(Sha256::digest(&bytes));
    let mut ids = vec![app.round_trip("before.png", &bytes).await];
    gate.close().await;
    for name in ["during-1.png", "during-2.png"] {
        let response = app.upload(&[(name, bytes.clone())]).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["images"][0]["location"], "spool");
        ids.push(body["images"][0]["id"].as_str().unwrap().to_owned());
    }
    gate.open().await;
    wait_until_drained(&app).await;
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name("once")
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let images_in_bucket = || async {
        bucket
            .list(None)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .map(|meta| meta.location.to_string())
            .filter(|key| !key.contains("thumbnails/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        images_in_bucket().await,
        vec![Blobs::object_key(&sha).to_string()],
        "one object, at its content key, and no id key left"
    );
    let meta = app.context.gallery.metadata();
    assert_eq!(
        meta.object_references(&sha).await.unwrap(),
        Some((3, false))
    );
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
        let left = images_in_bucket().await;
        assert_eq!(
            left.len(),
            usize::from(n < 2),
            "after {} deletes: {left:?}",
            n + 1
        );
    }
    assert_eq!(meta.object_references(&sha).await.unwrap(), None);
}
