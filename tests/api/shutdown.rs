//! Graceful shutdown: stop accepting, finish in-flight requests, give up after the deadline.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use pier::test_support::{Format, encode};

use crate::helpers::{TestApp, spawn_app_with};

/// A multipart body whose last part arrives only after `delay`.
fn slow_upload(delay: Duration) -> (String, reqwest::Body) {
    let png = encode(Format::Png, 20, 20);
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
    let (first, rest) = png.split_at(png.len() / 2);
    let mut start = head;
    start.extend_from_slice(first);
    let mut end = rest.to_vec();
    end.extend_from_slice(b"\r\n--B--\r\n");
    let stream = futures::stream::iter([Bytes::from(start)])
        .chain(futures::stream::once(async move {
            tokio::time::sleep(delay).await;
            Bytes::from(end)
        }))
        .map(Ok::<_, std::io::Error>);
    (
        "multipart/form-data; boundary=B".into(),
        reqwest::Body::wrap_stream(stream),
    )
}

/// Starts an upload whose body finishes only after `delay`; the request runs in a task.
fn send_slow_upload(
    app: &TestApp,
    delay: Duration,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let (content_type, body) = slow_upload(delay);
    tokio::spawn(
        app.client
            .post(app.url("/upload"))
            .header("content-type", content_type)
            .body(body)
            .send(),
    )
}

#[tokio::test]
async fn in_flight_requests_finish_after_the_signal() {
    let mut app = spawn_app_with(|s| s.server.shutdown_timeout = Duration::from_secs(10)).await;
    let in_flight = send_slow_upload(&app, Duration::from_millis(800));
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.stop.take().unwrap().send(()).unwrap();
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 201);
    let served = app.served.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(app.url("/health")).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_deadline() {
    let mut app = spawn_app_with(|s| s.server.shutdown_timeout = Duration::from_millis(300)).await;
    let _stuck = send_slow_upload(&app, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.stop.take().unwrap().send(()).unwrap();
    let served = app.served.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the deadline bounds shutdown")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn during_the_drain_delay_readiness_fails_but_requests_are_served() {
    let mut app = spawn_app_with(|s| s.server.drain_delay = Duration::from_millis(800)).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    assert!(
        !ready.headers().contains_key("connection"),
        "keep-alive before the drain"
    );
    let started = Instant::now();
    app.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ready = crate::helpers::assert_problem(app.get("/health/ready").await, 503).await;
    assert!(
        ready["detail"].as_str().unwrap().contains("draining"),
        "{ready}"
    );
    // New connections and requests are still served while draining.
    let fresh = reqwest::Client::new();
    let item = fresh
        .post(app.url("/items"))
        .json(&serde_json::json!({"name": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(item.status(), 201);
    // Each answer while draining closes its connection, so keep-alive clients reconnect
    // (to a replica that is staying) before the listener closes.
    assert_eq!(item.headers()["connection"], "close");
    let before = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(before.headers()["connection"], "close");
    let served = app.served.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the server stops after the drain delay")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert!(
        reqwest::get(app.url("/health")).await.is_err(),
        "no longer accepting"
    );
}
