//! Abuse resistance (SPEC §2 limits, §6): per-client rate limits with `Retry-After`,
//! `X-Forwarded-For` believed only from trusted proxies, load shedding, the slow-client
//! cut-off, security headers on every answer, CORS off unless configured.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use pier::http::rate_limit::RateBudget;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

async fn post_item(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/items"))
        .json(&json!({"name": "budget"}));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn writes_over_budget_get_429_with_retry_after_and_reads_have_their_own_budget() {
    // 10 writes a minute: a burst of 1, then one every 6 s.
    let app =
        spawn_app_with(|s| s.access.rate_limit_writes = RateBudget::parse("10/m,burst=1").unwrap())
            .await;
    assert_eq!(post_item(&app, None).await.status(), 201);
    let refused = post_item(&app, None).await;
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    let problem = assert_problem(refused, 429).await;
    assert!(problem["detail"].as_str().unwrap().contains("Retry-After"));
    // Reads are not writes: unlimited here.
    for _ in 0..30 {
        assert_eq!(app.get("/items").await.status(), 200);
    }

    // 10 reads a minute: the 2nd read is refused, but health checks and scrapes never are.
    let app =
        spawn_app_with(|s| s.access.rate_limit_reads = RateBudget::parse("10/m,burst=1").unwrap())
            .await;
    assert_eq!(app.get("/items").await.status(), 200);
    assert_problem(app.get("/items").await, 429).await;
    for path in ["/health", "/health/ready", "/metrics"] {
        for _ in 0..5 {
            assert_eq!(app.get(path).await.status(), 200, "{path} is exempt");
        }
    }
    assert_eq!(
        post_item(&app, None).await.status(),
        201,
        "writes have their own budget"
    );
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The test client (127.0.0.1) is not a trusted proxy: its X-Forwarded-For is noise.
    let app =
        spawn_app_with(|s| s.access.rate_limit_writes = RateBudget::parse("10/m,burst=1").unwrap())
            .await;
    assert_eq!(post_item(&app, Some("198.51.100.1")).await.status(), 201);
    let second = post_item(&app, Some("198.51.100.2")).await;
    assert_eq!(
        second.status(),
        429,
        "a new forged address must not buy a new budget"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_app_with(|s| {
        s.access.rate_limit_writes = RateBudget::parse("10/m,burst=1").unwrap();
        s.access.trusted_proxies =
            pier::config::TrustedProxies(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    assert_eq!(post_item(&app, Some("198.51.100.1")).await.status(), 201);
    assert_eq!(post_item(&app, Some("198.51.100.2")).await.status(), 201);
    assert_eq!(post_item(&app, Some("198.51.100.1")).await.status(), 429);
    // What a client writes to the left of the proxy's entry proves nothing.
    assert_eq!(
        post_item(&app, Some("10.9.9.9, 198.51.100.3"))
            .await
            .status(),
        201
    );
    assert_eq!(
        post_item(&app, Some("10.8.8.8, 198.51.100.3"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn beyond_the_in_flight_bound_requests_are_shed_with_503() {
    let app = spawn_app_with(|s| s.server.max_in_flight = 1).await;
    // One upload whose body arrives slowly holds the only slot.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let body = reqwest::Body::wrap_stream(stream);
    let slow = app
        .client
        .post(app.url("/upload"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(body)
        .send();
    let slow = tokio::spawn(slow);
    sender.send(Ok(b"--x\r\n".to_vec())).await.unwrap();
    let started = Instant::now();
    let shed = loop {
        let response = app.get("/items").await;
        if response.status() == 503 || started.elapsed() > Duration::from_secs(5) {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let problem = assert_problem(shed, 503).await;
    assert!(problem["detail"].as_str().unwrap().contains("capacity"));
    drop(sender); // the slow upload ends (malformed), freeing the slot
    let slow = slow.await.unwrap().expect("the slow upload is answered");
    assert_problem(slow, 400).await;
    let started = Instant::now();
    while app.get("/items").await.status() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off() {
    let app = spawn_app_with(|s| s.server.header_timeout = Duration::from_millis(500)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /items HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    // Never finishing the headers: the server closes the connection after the timeout,
    // with a 408 or without a word; either way the read ends.
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the server kept a slow client's connection open");
    match read {
        Ok(0) => {}
        Ok(n) => assert!(
            buffer[..n].starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buffer[..n])
        ),
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // A well-behaved client on a new connection is served.
    assert_eq!(app.get("/items").await.status(), 200);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/items", "/nope", "/health", "/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        assert_eq!(
            response.headers()["referrer-policy"],
            "no-referrer",
            "{path}"
        );
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/items"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let closed = spawn_app().await;
    let answer = preflight(&closed, "https://evil.example").await;
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let read = closed
        .client
        .get(closed.url("/items"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(read.headers().get("access-control-allow-origin").is_none());

    let open = spawn_app_with(|s| {
        s.access.cors_origins =
            pier::config::CorsOrigins::List(vec!["https://app.example".parse().unwrap()]);
    })
    .await;
    let allowed = preflight(&open, "https://app.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight(&open, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let read = open
        .client
        .get(open.url("/items"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
