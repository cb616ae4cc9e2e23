//! `spawn_app`: builds the real application on an OS-chosen port with a throwaway
//! SQLite file and object store, and serves it until the test ends.

use std::path::PathBuf;

use pier::{
    config::{Settings, StorageUrl},
    context::ApiContext,
    startup::Application,
};
use reqwest::{Client, Response, multipart};
use serde_json::Value;
use tokio::sync::oneshot;

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub context: ApiContext,
    pub storage_dir: PathBuf,
    pub _dir: tempfile::TempDir,
    pub stop: Option<oneshot::Sender<()>>,
    pub served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts the app on local-disk storage (the default backend).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `adjust` has changed its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage_dir = dir.path().join("images");
    let mut settings = Settings::for_tests(
        dir.path().join("pier.db"),
        StorageUrl::File(storage_dir.clone()),
    );
    adjust(&mut settings);
    pier::telemetry::init_logging(settings.log_format);
    let app = Application::build(&settings).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let context = app.context().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client"),
        context,
        storage_dir,
        _dir: dir,
        stop: Some(stop),
        served: Some(served),
    }
}

impl TestApp {
    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Creates an item, asserting 201, and returns it.
    pub async fn create_item(&self, body: &Value) -> Value {
        let response = self.post_json("/items", body).await;
        assert_eq!(response.status(), 201, "creating an item failed");
        response.json().await.expect("JSON")
    }

    /// Uploads `(file name, bytes)` pairs in fields named `file`.
    pub async fn upload(&self, files: &[(&str, Vec<u8>)]) -> Response {
        let mut form = multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        self.client
            .post(self.url("/upload"))
            .multipart(form)
            .send()
            .await
            .expect("request sent")
    }

    /// Uploads files and returns their ids, asserting success.
    pub async fn upload_ok(&self, files: &[(&str, Vec<u8>)]) -> Vec<String> {
        let response = self.upload(files).await;
        assert_eq!(
            response.status(),
            201,
            "upload failed: {}",
            response.text().await.unwrap_or_default()
        );
        let body: Value = response.json().await.expect("JSON");
        body["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Uploads one file, fetches it back and asserts the bytes are the same; returns its id.
    pub async fn round_trip(&self, name: &str, bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let id = self.upload_ok(&[(name, bytes.to_vec())]).await.remove(0);
        let fetched = self
            .get(&format!("/image/{id}"))
            .await
            .bytes()
            .await
            .expect("the bytes");
        assert_eq!(
            Sha256::digest(&fetched),
            Sha256::digest(bytes),
            "{name} came back changed"
        );
        id
    }

    /// Every file under the storage directory (objects and staging files).
    pub fn stored_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out)
                } else {
                    out.push(path)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.storage_dir, &mut out);
        out
    }
}

/// Asserts a problem+json response with `status`, returning its body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = response.json().await.expect("a JSON problem body");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}
