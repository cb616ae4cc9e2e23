//! Crash safety of the real binary: SIGKILL in the middle of concurrent uploads and item
//! writes, restart, and check that everything acknowledged is there and intact, and that
//! nothing half-written is visible.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use pier::test_images::{Format, encode, noisy_png};
use serde_json::Value;
use sha2::{Digest, Sha256};

const PIER: &str = env!("CARGO_BIN_EXE_pier");

fn start(dir: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(PIER)
        .current_dir(dir)
        .env("PIER_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pier starts");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("pier did not start listening");
}

/// The body of a 201 answer; `None` once the server is gone (or answers anything else).
async fn acknowledged(request: reqwest::RequestBuilder) -> Option<Value> {
    let response = request.send().await.ok()?;
    if response.status() != 201 {
        return None;
    }
    response.json().await.ok()
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
    let acked_images: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let acked_items: Arc<Mutex<Vec<i64>>> = Arc::default();

    let mut writers = Vec::new();
    for worker in 0..6u32 {
        let (client, base) = (client.clone(), base.clone());
        let (acked_images, acked_items) = (acked_images.clone(), acked_items.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..10_000u32 {
                let bytes = if n % 3 == 0 {
                    noisy_png(120, 120, worker * 10_000 + n)
                } else {
                    encode(Format::Png, 16 + n % 50, 16)
                };
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name("c.png"),
                );
                let Some(body) =
                    acknowledged(client.post(format!("{base}/upload")).multipart(form)).await
                else {
                    return;
                };
                let id = body["images"][0]["id"].as_str().unwrap().to_owned();
                acked_images
                    .lock()
                    .unwrap()
                    .push((id, hex::encode(Sha256::digest(&bytes))));
                let json = serde_json::json!({"name": format!("w{worker}-{n}"), "price": 1.25});
                let Some(item) =
                    acknowledged(client.post(format!("{base}/items")).json(&json)).await
                else {
                    return;
                };
                acked_items
                    .lock()
                    .unwrap()
                    .push(item["id"].as_i64().unwrap());
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL"); // no shutdown, no flush: a crash
    child.wait().unwrap();
    for writer in writers {
        let _ = writer.await;
    }
    let acked_images = acked_images.lock().unwrap().clone();
    let acked_items = acked_items.lock().unwrap().clone();
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
    assert!(listed.len() >= acked_images.len());
    for image in &listed {
        let bytes = client
            .get(format!("{base}{}", image["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, image["size"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            image["sha256"].as_str().unwrap()
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
