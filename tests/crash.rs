//! Crash safety of the real binary: SIGKILL in the middle of concurrent uploads and item
//! writes, restart, and check that everything acknowledged is there and intact, and that
//! nothing half-written is visible.

use std::{
    net::TcpListener,
    process::Child,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use pier::test_support::{Format, encode, noisy_png};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn start(dir: &std::path::Path, port: u16) -> Child {
    start_with(dir, port, &[])
}

/// What became of one write.
enum Answer {
    /// 201 with its whole body.
    Acknowledged(Value),
    /// 201, but the crash cut the body off: acknowledged all the same, only its id is
    /// unknown, so the test finds it by content after the restart.
    AcknowledgedCutOff,
    /// Any other status: before a crash nothing may be refused, so this fails the test.
    Refused(String),
    /// No answer: the server was gone.
    Gone,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let Ok(response) = request.send().await else {
        return Answer::Gone;
    };
    let status = response.status();
    let body = response.bytes().await;
    if status != 201 {
        let text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
        return Answer::Refused(format!("{status}: {}", text.unwrap_or_default()));
    }
    match body.ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(value) => Answer::Acknowledged(value),
        None => Answer::AcknowledgedCutOff,
    }
}

/// Everything the writers saw, shared between them.
#[derive(Default)]
struct Seen {
    /// (id, SHA-256) of each acknowledged upload.
    images: Vec<(String, String)>,
    /// SHA-256 of uploads acknowledged with a cut-off body.
    images_cut_off: Vec<String>,
    /// Ids of acknowledged items.
    items: Vec<i64>,
    /// Names of items acknowledged with a cut-off body.
    items_cut_off: Vec<String>,
    /// Every non-201 answer: must stay empty.
    refused: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = start(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let seen: Arc<Mutex<Seen>> = Arc::default();

    let mut writers = Vec::new();
    for worker in 0..6u32 {
        let (client, base, seen) = (client.clone(), base.clone(), seen.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..10_000u32 {
                let bytes = if n % 3 == 0 {
                    noisy_png(120, 120, worker * 10_000 + n)
                } else {
                    encode(Format::Png, 16 + n % 50, 16)
                };
                let sha = hex::encode(Sha256::digest(&bytes));
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name("c.png"),
                );
                match answer(client.post(format!("{base}/upload")).multipart(form)).await {
                    Answer::Acknowledged(body) => {
                        let id = body["images"][0]["id"].as_str().unwrap().to_owned();
                        seen.lock().unwrap().images.push((id, sha));
                    }
                    Answer::AcknowledgedCutOff => {
                        seen.lock().unwrap().images_cut_off.push(sha);
                        return;
                    }
                    Answer::Refused(what) => {
                        seen.lock().unwrap().refused.push(what);
                        return;
                    }
                    Answer::Gone => return,
                }
                let name = format!("w{worker}-{n}");
                let json = serde_json::json!({"name": name, "price": 1.25});
                match answer(client.post(format!("{base}/items")).json(&json)).await {
                    Answer::Acknowledged(item) => seen
                        .lock()
                        .unwrap()
                        .items
                        .push(item["id"].as_i64().unwrap()),
                    Answer::AcknowledgedCutOff => {
                        seen.lock().unwrap().items_cut_off.push(name);
                        return;
                    }
                    Answer::Refused(what) => {
                        seen.lock().unwrap().refused.push(what);
                        return;
                    }
                    Answer::Gone => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL"); // no shutdown, no flush: a crash
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.refused.is_empty(),
        "writes were refused before the crash: {:?}",
        seen.refused
    );
    let (acked_images, acked_items) = (seen.images.clone(), seen.items.clone());
    assert!(
        acked_images.len() >= 10,
        "the load ran long enough to matter ({} uploads)",
        acked_images.len()
    );

    let mut child = start(dir.path(), port);
    for (id, sha) in &acked_images {
        let response = client
            .get(format!("{base}/image/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged image {id} is there after the crash"
        );
        assert_eq!(
            &hex::encode(Sha256::digest(response.bytes().await.unwrap())),
            sha,
            "and intact"
        );
    }
    for id in &acked_items {
        let response = client
            .get(format!("{base}/items/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged item {id} is there after the crash"
        );
    }
    // Everything visible is whole: each listed image's bytes match its recorded hash.
    let mut listed = Vec::new();
    let mut after = String::new();
    for _ in 0..1000 {
        let page: Value = client
            .get(format!("{base}/images?limit=1000{after}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed.extend(page["images"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert!(listed.len() >= acked_images.len() + seen.images_cut_off.len());
    for sha in &seen.images_cut_off {
        assert!(
            listed.iter().any(|image| image["sha256"] == sha.as_str()),
            "an upload acknowledged with a cut-off body ({sha}) is there after the crash"
        );
    }
    for name in &seen.items_cut_off {
        let page: Value = client
            .get(format!("{base}/items?limit=1000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Items are created in order; a cut-off one is among the newest.
        let mut found = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == name.as_str());
        let mut after = page["next"].as_i64();
        while !found && let Some(next) = after {
            let page: Value = client
                .get(format!("{base}/items?limit=1000&after={next}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            found = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] == name.as_str());
            after = page["next"].as_i64();
        }
        assert!(
            found,
            "item {name}, acknowledged with a cut-off body, is there"
        );
    }
    for image in &listed {
        let bytes = process::fetch(
            &client,
            &format!("{base}{}", image["url"].as_str().unwrap()),
        )
        .await;
        assert_eq!(bytes.len() as u64, image["size"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            image["sha256"].as_str().unwrap()
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

// Shared with the API suite, which uses more of it than this file does.
#[allow(dead_code)]
#[path = "api/moto.rs"]
mod moto;

#[allow(dead_code)]
#[path = "support/process.rs"]
mod process;
use process::{aws_env, create_table, free_port, start_with};

/// The environment that points pier at the backends of `PIER_TEST_BACKEND`
/// (`sqlite-local` by default: none), creating a fresh database, bucket and table on the
/// shared servers that scripts/test.sh starts.
async fn backend_env() -> Vec<(String, String)> {
    let backend = std::env::var("PIER_TEST_BACKEND").unwrap_or_default();
    if backend.is_empty() || backend == "sqlite-local" {
        return Vec::new();
    }
    let need = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: PIER_TEST_BACKEND={backend} needs the servers that scripts/test.sh starts")
        })
    };
    use sqlx::Connection;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let admin = need("PIER_TEST_POSTGRES_URL");
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let database = format!("c{unique}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&database);
    let endpoint = need("PIER_TEST_AWS_ENDPOINT");
    let name = format!("crash-{}", &unique[..16]);
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let mut env = aws_env(&endpoint);
    env.push(("DATABASE_URL".into(), url.to_string()));
    env.push(("PIER_STORAGE".into(), format!("s3://{name}")));
    if backend == "postgres-s3-dynamodb" {
        create_table(&endpoint, &name).await;
        env.push(("PIER_METADATA".into(), format!("dynamodb://{name}")));
    }
    env
}

/// Sends `count` uploads at once and SIGKILLs pier once `kill_after` of them have been
/// acknowledged (or 20 s have passed). Returns the acknowledged (id, sha256) pairs and
/// the SHA-256 of those acknowledged with a body the crash cut off.
async fn crash_during_concurrent_uploads(
    child: &mut Child,
    base: &str,
    count: u32,
    kill_after: usize,
) -> (Vec<(String, String)>, Vec<String>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut uploads = Vec::new();
    for n in 0..count {
        let (client, base, seen) = (client.clone(), base.to_owned(), seen.clone());
        uploads.push(tokio::spawn(async move {
            let bytes = if n % 5 == 0 {
                noisy_png(90, 90, n)
            } else {
                encode(Format::Png, 16 + n % 40, 16)
            };
            let sha = hex::encode(Sha256::digest(&bytes));
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(format!("u{n}.png")),
            );
            match answer(client.post(format!("{base}/upload")).multipart(form)).await {
                Answer::Acknowledged(body) => {
                    let id = body["images"][0]["id"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().images.push((id, sha));
                }
                Answer::AcknowledgedCutOff => seen.lock().unwrap().images_cut_off.push(sha),
                Answer::Refused(what) => seen.lock().unwrap().refused.push(what),
                Answer::Gone => {}
            }
        }));
    }
    let started = Instant::now();
    while seen.lock().unwrap().images.len() < kill_after
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL"); // mid-stream: no shutdown, no flush
    child.wait().unwrap();
    for upload in uploads {
        upload.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.refused.is_empty(),
        "uploads were refused before the crash: {:?}",
        seen.refused
    );
    let acked = seen.images.len() + seen.images_cut_off.len();
    assert!(
        acked >= kill_after && acked < count as usize,
        "the crash came in the middle of the uploads ({acked} of {count} acknowledged)"
    );
    (seen.images, seen.images_cut_off)
}

/// Every acknowledged upload is served whole (those whose answer was cut off are found
/// by content), and every listed image is whole.
async fn assert_intact(base: &str, (acked, cut_off): &(Vec<(String, String)>, Vec<String>)) {
    let client = reqwest::Client::new();
    for (id, sha) in acked {
        let response = client
            .get(format!("{base}/image/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged image {id} survived the crash"
        );
        assert_eq!(
            &hex::encode(Sha256::digest(response.bytes().await.unwrap())),
            sha,
            "and is intact"
        );
    }
    let page: Value = client
        .get(format!("{base}/images?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = page["images"].as_array().unwrap();
    assert!(listed.len() >= acked.len() + cut_off.len());
    for sha in cut_off {
        assert!(
            listed.iter().any(|image| image["sha256"] == sha.as_str()),
            "an upload acknowledged with a cut-off body ({sha}) survived the crash"
        );
    }
    for image in listed {
        let bytes = process::fetch(
            &client,
            &format!("{base}{}", image["url"].as_str().unwrap()),
        )
        .await;
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            image["sha256"].as_str().unwrap(),
            "nothing half-written is visible"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_500_concurrent_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = backend_env().await;
    let mut child = start_with(dir.path(), port, &env);
    let base = format!("http://127.0.0.1:{port}");
    let acked = crash_during_concurrent_uploads(&mut child, &base, 500, 60).await;
    let mut child = start_with(dir.path(), port, &env);
    assert_intact(&base, &acked).await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_uploads_go_to_the_spool_loses_nothing() {
    let moto = moto::Moto::start();
    let mut gate = moto::Gate::open_to(moto.port()).await;
    moto.create_bucket("spooled").await;
    create_table(&moto.endpoint(), "spooled").await;
    let mut env = aws_env(&gate.endpoint());
    env.push(("PIER_STORAGE".into(), "s3://spooled".into()));
    env.push(("PIER_METADATA".into(), "dynamodb://spooled".into()));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_with(dir.path(), port, &env);
    gate.close().await; // S3 and DynamoDB down: every upload goes to the spool
    let acked = crash_during_concurrent_uploads(&mut child, &base, 500, 60).await;

    gate.open().await;
    let mut child = start_with(dir.path(), port, &env);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready: Value = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["status"] == "ready" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the spool did not drain: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_intact(&base, &acked).await;
    // Directly on moto: every acknowledged upload has its object and its record.
    let mut settings =
        pier::config::Settings::for_tests("unused.db".into(), pier::config::StorageUrl::Memory);
    settings.aws.endpoint_url = Some(moto.endpoint());
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(pier::config::Secret("testing".into()));
    let table = pier::store::dynamo::DynamoMeta::connect("spooled", &settings.aws).await;
    let bucket = pier::store::Blobs::open(
        &pier::config::StorageUrl::S3 {
            bucket: "spooled".into(),
            prefix: None,
        },
        &settings.aws,
    )
    .unwrap();
    use pier::store::ImageMetaStore;
    for (id, sha) in &acked.0 {
        let id = pier::domain::ImageId::parse(id).unwrap();
        let record = table
            .get(id)
            .await
            .unwrap()
            .expect("the record is in DynamoDB");
        assert_eq!(&record.sha256, sha);
        let size = bucket
            .size_of(&pier::store::Blobs::object_key(sha))
            .await
            .unwrap();
        assert_eq!(size, Some(record.size), "the object is in S3");
    }
    // Batch records anywhere in the spool: this replica's and the one it adopted.
    fn batch_records(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| {
                let path = entry.path();
                if !path.is_dir() {
                    0
                } else if entry.file_name() == "batches" {
                    std::fs::read_dir(&path).unwrap().count()
                } else {
                    batch_records(&path)
                }
            })
            .sum()
    }
    let spool_files = batch_records(&dir.path().join("data/spool"));
    assert_eq!(spool_files, 0, "the spool has drained");
    child.kill().unwrap();
    child.wait().unwrap();
}
