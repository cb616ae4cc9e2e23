//! `/health`, `/health/ready`, `/metrics`, request ids and `/`.

use pier::config::MetadataBackend;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn health_is_alive_with_version_and_uptime() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn readiness_reports_each_dependency_and_503s_when_one_is_down() {
    let app = spawn_app().await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    // The four dependencies are always listed. Metadata kept in the database is "off"
    // (the database check covers it); without a remote backend there is no spool.
    let separate_metadata = !matches!(app.settings.backends.metadata, MetadataBackend::Database);
    let remote = app.settings.uses_remote_backend();
    let (metadata, spool) = (
        if separate_metadata { "up" } else { "off" },
        if remote { "empty" } else { "off" },
    );
    for (dependency, status) in [
        ("database", "up"),
        ("storage", "up"),
        ("metadata", metadata),
        ("spool", spool),
    ] {
        assert_eq!(body["checks"][dependency]["status"], status, "{body}");
    }
    assert_eq!(body["checks"].as_object().unwrap().len(), 4, "{body}");

    app.context.database.close().await;
    let down = app.get("/health/ready").await;
    let body = assert_problem(down, 503).await;
    assert!(body["detail"].as_str().unwrap().contains("database"));
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["checks"]["database"]["error"].is_string());
    assert_eq!(body["checks"]["storage"]["status"], "up");
    assert_eq!(body["checks"]["metadata"]["status"], metadata);
    assert_eq!(body["checks"]["spool"]["status"], spool, "off is not down");
    // Liveness stays green: the process is fine, only a dependency is not.
    assert_eq!(app.get("/health").await.status(), 200);
    // Endpoints that need the database answer 503 problem+json, not 500, and say when
    // to come back.
    let items = app.get("/items").await;
    let retry: u64 = items.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let problem = assert_problem(items, 503).await;
    assert!(problem["detail"].as_str().unwrap().contains("database"));
    let write = app.post_json("/items", &json!({"name": "x"})).await;
    assert!(write.headers().contains_key("retry-after"));
    assert_problem(write, 503).await;
}

/// The value of one series (`name{labels}` exactly as exported), 0 when it is absent.
/// The recorder is global to this test binary, so tests read a series before and after
/// what they do and compare: other tests only ever add to counters.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_use_route_templates_and_spec_names() {
    let app = spawn_app().await;
    let counted = [
        (
            r#"http_requests_total{method="GET",route="/items/{id}",status="200"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="GET",route="/items/{id}",status="404"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="POST",route="/items",status="201"}"#,
            1.0,
        ),
        (
            r#"http_request_duration_seconds_count{method="GET",route="/items/{id}"}"#,
            2.0,
        ),
        (r#"uploads_total{result="accepted"}"#, 1.0),
        (r#"uploads_total{result="rejected"}"#, 1.0),
        ("upload_bytes_total", 1.0),
    ];
    let before = app.get("/metrics").await.text().await.unwrap();
    let item: Value = app.create_item(&json!({"name": "m"})).await;
    app.get(&format!("/items/{}", item["id"])).await;
    app.get("/items/987654321").await;
    app.upload(&[("x.png", b"not an image".to_vec())]).await;
    app.upload(&[(
        "ok.png",
        pier::test_support::encode(pier::test_support::Format::Png, 4, 4),
    )])
    .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let after = response.text().await.unwrap();
    for (series, at_least) in counted {
        let grew = sample(&after, series) - sample(&before, series);
        assert!(
            grew >= at_least,
            "{series} grew by {grew}, expected {at_least}"
        );
    }
    for present in [
        "http_requests_in_flight",
        r#"db_pool_connections{state="idle"}"#,
        r#"db_pool_connections{state="active"}"#,
        "spool_pending",
    ] {
        assert!(after.contains(present), "missing {present}");
    }
    assert!(
        !after.contains("/items/987654321"),
        "raw paths never become labels"
    );
}

/// Process and build series, the limits alerts compare them with: what
/// deploy/observability/rules/alerts.yml reads. (`pier_ready`'s meaning is checked on
/// the real binary in tests/cli.rs: the recorder here is shared with tests that close
/// their database.)
#[tokio::test]
async fn metrics_carry_process_limits_and_build() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(name) && !line.starts_with('#'))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample of {name} in /metrics"))
    };
    assert!(value(&text, "process_resident_memory_bytes") > 1e6);
    assert!(value(&text, "process_open_fds") >= 3.0);
    assert!(value(&text, "process_start_time_seconds") > 1.7e9);
    assert!(value(&text, "pier_cpu_limit_cores") > 0.0);
    assert!(
        value(&text, "pier_memory_limit_bytes") > value(&text, "process_resident_memory_bytes")
    );
    assert!(value(&text, r#"db_pool_connections{state="max"}"#) >= 1.0);
    // CPU time is the process's (a counter of whole seconds): 1.5 s of work shows up.
    // The work is counted in this thread's own CPU time, not in wall time: on a busy
    // machine 1.5 s of wall time can be well under a second of CPU.
    let cpu_before = value(&text, "process_cpu_seconds_total");
    tokio::task::spawn_blocking(|| {
        let thread_cpu = || {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec it is given.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
            std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
        };
        let (started, wall) = (thread_cpu(), std::time::Instant::now());
        let mut x = 0u64;
        while thread_cpu() - started < std::time::Duration::from_millis(1500)
            && wall.elapsed() < std::time::Duration::from_secs(60)
        {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    })
    .await
    .unwrap();
    let later = app.get("/metrics").await.text().await.unwrap();
    let spent = value(&later, "process_cpu_seconds_total") - cpu_before;
    assert!(spent >= 1.0, "process_cpu_seconds_total grew by {spent}");
    let build = format!(
        r#"pier_build_info{{version="{}",git_sha="{}"}} 1"#,
        env!("CARGO_PKG_VERSION"),
        pier::telemetry::process::GIT_SHA
    );
    assert!(text.contains(&build), "missing {build}");
    assert!(!pier::telemetry::process::GIT_SHA.is_empty());
}

#[tokio::test]
async fn request_ids_are_honoured_generated_and_sanitised() {
    let app = spawn_app().await;
    let honoured = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(honoured.headers()["x-request-id"], "abc-123");
    let generated = app.get("/items/404").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
    let too_long = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(
        too_long.headers()["x-request-id"].len(),
        32,
        "an oversize id is replaced"
    );
}

#[tokio::test]
async fn root_serves_a_banner_or_a_page() {
    let app = spawn_app().await;
    let varies_on_accept = |response: &reqwest::Response| {
        response
            .headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("accept"))
    };
    let banner = app.get("/").await;
    assert!(varies_on_accept(&banner), "the banner says Vary: Accept");
    let banner: Value = banner.json().await.unwrap();
    assert_eq!(banner["name"], "pier");
    assert_eq!(banner["docs"], "/docs");
    let page = app
        .client
        .get(app.url("/"))
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(varies_on_accept(&page), "the page says Vary: Accept");
    assert!(page.text().await.unwrap().contains("/docs"));
}
