//! `spawn_app`: builds the real application on an OS-chosen port with throwaway
//! backends, and serves it until the test ends.
//!
//! The backends come from `PIER_TEST_BACKEND`, so the same suite runs against each
//! combination (the README test command runs all three):
//! - `sqlite-local` (default): a SQLite file and a local directory;
//! - `postgres-s3`: a fresh database on the PostgreSQL server at `PIER_TEST_POSTGRES_URL`
//!   (a superuser URL) and a fresh bucket on the S3 server at `PIER_TEST_AWS_ENDPOINT`;
//! - `postgres-s3-dynamodb`: the same plus a fresh DynamoDB table on that endpoint.

use std::path::PathBuf;

use pier::{
    config::{DatabaseUrl, MetadataBackend, Settings, StorageUrl},
    context::ApiContext,
    startup::Application,
};
use reqwest::{Client, Response, multipart};
use serde_json::Value;
use tokio::sync::oneshot;

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    /// The settings it runs with (the backends of `PIER_TEST_BACKEND`).
    pub settings: Settings,
    pub client: Client,
    pub context: ApiContext,
    pub storage_dir: PathBuf,
    pub _dir: tempfile::TempDir,
    pub stop: Option<oneshot::Sender<()>>,
    pub served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Which backends the suite runs against (`PIER_TEST_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteLocal,
    PostgresS3,
    PostgresS3Dynamo,
}

impl Backend {
    pub fn from_env() -> Self {
        match std::env::var("PIER_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("sqlite-local") => Self::SqliteLocal,
            Ok("postgres-s3") => Self::PostgresS3,
            Ok("postgres-s3-dynamodb") => Self::PostgresS3Dynamo,
            Ok(other) => panic!(
                "PIER_TEST_BACKEND={other}: expected sqlite-local, postgres-s3 or postgres-s3-dynamodb"
            ),
        }
    }
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: PIER_TEST_BACKEND={:?} needs running servers; run scripts/test.sh, which starts PostgreSQL and moto and sets it",
            std::env::var("PIER_TEST_BACKEND").unwrap_or_default()
        )
    })
}

/// Points `settings` at fresh remote backends: a new database, bucket and table.
async fn use_remote_backends(settings: &mut Settings, backend: Backend) {
    use sqlx::Connection;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let admin = required_env("PIER_TEST_POSTGRES_URL");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PIER_TEST_POSTGRES_URL: {e}"));
    let database = format!("t{unique}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut conn)
    .await
    .expect("create a test database");
    let mut url = url::Url::parse(&admin).expect("PIER_TEST_POSTGRES_URL is a URL");
    url.set_path(&database);
    settings.backends.database_url = DatabaseUrl::Postgres(url.to_string());

    let endpoint = required_env("PIER_TEST_AWS_ENDPOINT");
    let bucket = format!("pier-{}", &unique[..20]);
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the S3 server at {endpoint}: {e}"));
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    settings.backends.storage = StorageUrl::S3 {
        bucket,
        prefix: Some("gallery".into()),
    };
    settings.aws.endpoint_url = Some(endpoint);
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(pier::config::Secret("testing".into()));
    if backend == Backend::PostgresS3Dynamo {
        let table = format!("pier-{unique}");
        pier::store::dynamo::DynamoMeta::connect(&table, &settings.aws)
            .await
            .migrate()
            .await
            .expect("create the DynamoDB table");
        settings.backends.metadata = MetadataBackend::DynamoDb { table };
    }
}

/// Starts the app on the backends of `PIER_TEST_BACKEND`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on the backends of `PIER_TEST_BACKEND`, after `adjust` has changed
/// its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(Backend::from_env(), adjust).await
}

/// Starts the app on SQLite and local disk whatever `PIER_TEST_BACKEND` says, for tests
/// of what only the local backend does (staging files, the file system).
pub async fn spawn_local_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(Backend::SqliteLocal, adjust).await
}

async fn spawn_on(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage_dir = dir.path().join("images");
    let mut settings = Settings::for_tests(
        dir.path().join("pier.db"),
        StorageUrl::File(storage_dir.clone()),
    );
    settings.backends.spool = dir.path().join("spool");
    if backend != Backend::SqliteLocal {
        use_remote_backends(&mut settings, backend).await;
    }
    adjust(&mut settings);
    start(settings, dir, storage_dir).await
}

/// Starts the app on `settings`, whose files live in `dir` (kept as long as the app):
/// also how a test restarts an app on the data of a stopped one ([`TestApp::stop`]).
pub async fn start(
    settings: Settings,
    dir: tempfile::TempDir,
    storage_dir: std::path::PathBuf,
) -> TestApp {
    pier::telemetry::init_logging(settings.telemetry.log_format);
    let app = Application::build(&settings).await.expect("the app builds");
    let settings = settings.clone();
    let address = format!("http://127.0.0.1:{}", app.port());
    let context = app.context().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        settings,
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

    /// Deletes an object straight from the backend, behind pier's back (and its cache's):
    /// what an operator, a lifecycle rule or a lost disk does.
    pub async fn remove_object_behind_pier(&self, key: &object_store::path::Path) {
        match &self.settings.backends.storage {
            StorageUrl::File(dir) => std::fs::remove_file(dir.join(key.as_ref()))
                .expect("the object is a file in the storage directory"),
            StorageUrl::S3 { bucket, prefix } => {
                use object_store::ObjectStoreExt;
                let store = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(self.settings.aws.endpoint_url.clone().unwrap())
                    .with_allow_http(true)
                    .with_bucket_name(bucket)
                    .with_region("us-east-1")
                    .with_access_key_id("testing")
                    .with_secret_access_key("testing")
                    .build()
                    .unwrap();
                let full = match prefix {
                    Some(prefix) => object_store::path::Path::from(format!("{prefix}/{key}")),
                    None => key.clone(),
                };
                store.delete(&full).await.expect("the object is deleted");
            }
            StorageUrl::Memory => panic!("memory storage has no behind"),
        }
    }

    /// Everything an upload can leave behind: every object in the store, the local
    /// backend's staging files, and the spool's files.
    pub async fn stored_objects(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out)
                } else {
                    out.push(path.display().to_string())
                }
            }
        }
        let mut out: Vec<String> = self
            .context
            .gallery
            .blobs()
            .list_objects()
            .await
            .expect("the store lists")
            .into_iter()
            .map(|(key, _)| key.to_string())
            .collect();
        let mut local = Vec::new();
        walk(&self.storage_dir, &mut local);
        out.extend(local.into_iter().filter(|file| file.contains('#')));
        // The replicas' leases are the spool's own, not left by an upload.
        let mut spooled = Vec::new();
        walk(&self._dir.path().join("spool"), &mut spooled);
        out.extend(
            spooled
                .into_iter()
                .filter(|file| !file.ends_with("/lease") && !file.ends_with("/lease.tmp")),
        );
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
