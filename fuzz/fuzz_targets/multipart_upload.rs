//! `POST /upload` with an arbitrary multipart body, through the real router, handler and
//! local backends (SQLite and a directory, made once per fuzzing process).
//!
//! Properties: no panic and never a 5xx; a refusal is a 4xx that leaves the gallery
//! empty (all-or-nothing); every accepted image reads back whole, its thumbnail is
//! served or refused as a client error, and it deletes cleanly (so the next input starts
//! from an empty gallery again).
#![no_main]

use std::sync::LazyLock;

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Method, Request, StatusCode, header},
};
use libfuzzer_sys::fuzz_target;
use pier::{
    config::{Settings, StorageUrl},
    startup::Application,
};
use tower::ServiceExt;

/// The boundary the seed corpus uses; the fuzzer mutates everything around it.
const CONTENT_TYPE: &str = "multipart/form-data; boundary=pierfuzz";

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings::for_tests(
        dir.path().join("pier.db"),
        StorageUrl::File(dir.path().join("images")),
    );
    settings.images.max_image_pixels = 1 << 20;
    settings.uploads.max_upload_bytes = 1 << 20;
    settings.uploads.max_files_per_upload = 4;
    let router = runtime.block_on(async {
        let app = Application::build(&settings).await.expect("the app builds");
        pier::routes::router(app.context().clone())
    });
    Harness {
        runtime,
        router,
        _dir: dir,
    }
});

fuzz_target!(|body: &[u8]| {
    let harness = &*HARNESS;
    harness
        .runtime
        .block_on(exercise(&harness.router, body.to_vec()));
});

async fn exercise(router: &Router, body: Vec<u8>) {
    let upload = Request::builder()
        .method(Method::POST)
        .uri("/upload")
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Body::from(body))
        .expect("a request");
    let (status, answer) = call(router, upload).await;
    if status != StatusCode::CREATED {
        assert!(
            status.is_client_error(),
            "upload answered {status}: {answer}"
        );
        let (status, page) = call(router, get("/images")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            page["images"],
            serde_json::json!([]),
            "a refused upload left images behind"
        );
        return;
    }
    let images = answer["images"]
        .as_array()
        .expect("a list of images")
        .clone();
    assert!(!images.is_empty() && images.len() <= 4, "{answer}");
    for image in images {
        let url = image["url"].as_str().expect("a url");
        let size = image["size"].as_u64().expect("a size");
        let stored = router
            .clone()
            .oneshot(get(url))
            .await
            .expect("the router answers");
        assert_eq!(stored.status(), StatusCode::OK);
        let bytes = to_bytes(stored.into_body(), usize::MAX)
            .await
            .expect("the bytes");
        assert_eq!(bytes.len() as u64, size, "the stored image is not whole");
        let thumbnail_url = image["thumbnail_url"].as_str().expect("a thumbnail url");
        let (status, problem) = call(router, get(thumbnail_url)).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::UNPROCESSABLE_ENTITY,
            "thumbnail answered {status}: {problem}"
        );
        let delete = Request::builder()
            .method(Method::DELETE)
            .uri(url)
            .body(Body::empty())
            .expect("a request");
        let (status, _) = call(router, delete).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("a request")
}

/// Sends a request and reads a JSON answer (`null` for a body that is not JSON).
async fn call(router: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}
