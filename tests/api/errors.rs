//! Every error is RFC 9457 problem+json, including the ones axum makes itself.

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/items/1/extra",
        "/image",
        "/../../etc/passwd",
        "/%2e%2e/secret",
        "/upload/x",
    ] {
        assert_problem(app.get(path).await, 404).await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = spawn_app().await;
    for (method, path) in [
        ("PATCH", "/items/1"),
        ("DELETE", "/items"),
        ("GET", "/upload"),
        ("PUT", "/images"),
        ("POST", "/health"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        assert_problem(response, 405).await;
    }
}

#[tokio::test]
async fn whole_upload_bodies_over_the_limit_are_413() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.uploads.max_upload_bytes = 10_000;
        s.uploads.max_files_per_upload = 1;
    })
    .await;
    // A well-formed multipart body whose preamble alone is over the route's body limit
    // (files × size + 1 MiB): no part is over its own limit, the body is.
    let mut body = vec![b'x'; 1_100_000];
    body.extend_from_slice(
        b"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n",
    );
    body.extend_from_slice(&pier::test_support::encode(
        pier::test_support::Format::Png,
        4,
        4,
    ));
    body.extend_from_slice(b"\r\n--B--\r\n");
    let response = app
        .client
        .post(app.url("/upload"))
        .header("content-type", "multipart/form-data; boundary=B")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 413).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("too large"),
        "{problem}"
    );
    assert_eq!(
        app.get("/images")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["images"],
        serde_json::json!([])
    );
}
