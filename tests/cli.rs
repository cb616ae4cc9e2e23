//! The `pier` binary itself: version, configuration errors, migrate, serve on embedded
//! defaults, healthcheck, and shutdown on SIGTERM.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const PIER: &str = env!("CARGO_BIN_EXE_pier");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pier(dir: &std::path::Path) -> Command {
    let mut command = Command::new(PIER);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn version_prints_the_crate_version() {
    let out = Command::new(PIER).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pier {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("PIER_ADDR", "localhost"),
        ("DATABASE_URL", "mysql://db"),
        ("PIER_STORAGE", "ftp://x"),
        ("PIER_MAX_UPLOAD_BYTES", "lots"),
        ("PIER_SHUTDOWN_TIMEOUT", "soon"),
        ("PIER_LOG_FORMAT", "xml"),
        ("PIER_API_TOKENS", "too-short"),
        ("PIER_RATE_LIMIT_WRITES", "20 per second"),
        ("PIER_RATE_LIMIT_READS", "0/s,burst=5"),
    ] {
        let out = pier(dir.path()).env(name, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(!stderr.contains("too-short"), "a token is echoed: {stderr}");
        let line = stderr.to_lowercase();
        let flag = name.to_lowercase().replace("pier_", "").replace('_', "-");
        assert!(
            stderr.contains(name) || line.contains(&flag),
            "{name}: {stderr}"
        );
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a refused start creates nothing"
    );
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = pier(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://db/x.db")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("db/x.db").exists());
    let again = pier(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://db/x.db")
        .output()
        .unwrap();
    assert!(again.status.success(), "migrate is idempotent");
}

#[test]
fn serves_on_embedded_defaults_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = pier(dir.path())
        .env("PIER_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health");
    let started = Instant::now();
    let mut healthy = false;
    while started.elapsed() < Duration::from_secs(10) {
        let check = pier(dir.path())
            .args(["healthcheck", "--url", &url])
            .output()
            .unwrap();
        if check.status.success() {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(healthy, "pier did not become healthy");
    assert!(
        dir.path().join("data/pier.db").exists(),
        "the default database is created"
    );
    assert!(
        dir.path().join("data/images").is_dir(),
        "the default storage directory is created"
    );
    // The default healthcheck URL follows PIER_ADDR's port.
    let default_check = pier(dir.path())
        .arg("healthcheck")
        .env("PIER_ADDR", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(default_check.status.success());

    let stopping = Instant::now();
    // SAFETY-free: send SIGTERM through the kill command.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "pier did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    // Not a terminal: JSON lines.
    let first = logs.lines().next().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert_eq!(parsed["message"], "pier is serving");
    assert!(logs.contains("shutdown signal received"));
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/health", free_port());
    let out = pier(dir.path())
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pier healthcheck"));
}

#[test]
fn migrate_store_copies_resumably() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("from");
    for (shard, id) in [
        ("0a", "01936f0e-0000-7000-8000-00000000000a"),
        ("0b", "01936f0e-0000-7000-8000-00000000000b"),
    ] {
        std::fs::create_dir_all(from.join("images").join(shard)).unwrap();
        std::fs::write(from.join("images").join(shard).join(id), id.as_bytes()).unwrap();
    }
    let run = || {
        pier(dir.path())
            .args([
                "migrate-store",
                "--from",
                &format!("file://{}", from.display()),
                "--to",
                "file://to",
            ])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("copied 2 objects"),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let copied = dir
        .path()
        .join("to/images/0a/01936f0e-0000-7000-8000-00000000000a");
    assert_eq!(
        std::fs::read(copied).unwrap(),
        b"01936f0e-0000-7000-8000-00000000000a"
    );
    let second = run();
    assert!(
        String::from_utf8_lossy(&second.stdout)
            .contains("copied 0 objects (0 bytes), 2 already there, 0 damaged copies replaced")
    );
    let bad = pier(dir.path())
        .args(["migrate-store", "--from", "ftp://x", "--to", "file://to"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// A tiny OTLP/HTTP collector: accepts connections for up to `seconds`, answers every
/// request 200 and hands each `(path, content type, body)` to the test.
fn collector(seconds: u64) -> (u16, std::sync::mpsc::Receiver<(String, String, Vec<u8>)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < until {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            // Keep-alive: several requests may come on one connection.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let (mut length, mut content_type) = (0usize, String::new());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if let Some(value) = lower.strip_prefix("content-type:") {
                        content_type = value.trim().to_owned();
                    }
                }
                let mut body = vec![0; length.min(16 << 20)];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = sender.send((path, content_type, body));
                let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                if reader.get_mut().write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, receiver)
}

#[test]
fn request_spans_go_to_an_otlp_collector() {
    let (collector_port, posts) = collector(30);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = pier(dir.path())
        .env("PIER_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}"),
        )
        .env("OTEL_SERVICE_NAME", "pier-under-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // One plain HTTP/1.1 request; the status code, or None while pier is not up yet.
    let send = || -> Option<u16> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = "GET /items/424242 HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: otlp-span-1\r\n\
            traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nconnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    };
    let answered = loop {
        if let Some(status) = send() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pier did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(answered, 404);

    // The span arrives within a couple of batch intervals.
    let mut found = None;
    while found.is_none() && started.elapsed() < Duration::from_secs(20) {
        let Ok((path, content_type, body)) = posts.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/json");
        let request: serde_json::Value = serde_json::from_slice(&body).expect("OTLP JSON");
        let resource = &request["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"][0]["value"]["stringValue"],
            "pier-under-test"
        );
        let spans = resource["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .clone();
        found = spans.into_iter().find(|span| {
            span["attributes"].as_array().unwrap().iter().any(|a| {
                a["key"] == "pier.request_id" && a["value"]["stringValue"] == "otlp-span-1"
            })
        });
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let span = found.expect("the request's span reached the collector");
    assert_eq!(span["name"], "GET /items/{id}");
    assert_eq!(
        span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "the caller's trace is joined"
    );
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(span["kind"], 2);
    let status = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "http.response.status_code")
        .unwrap();
    assert_eq!(status["value"]["intValue"], "404");
    let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(end >= start && start > 1_700_000_000_000_000_000);
}

#[test]
fn an_https_otlp_endpoint_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = pier(dir.path())
        .args(["migrate"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:4318",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("otel-exporter-otlp-endpoint") && stderr.contains("https is not supported"),
        "{stderr}"
    );
}

/// One plain HTTP/1.1 GET on a fresh connection: the status and the whole answer, or
/// `None` while nothing listens yet.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer))
}

/// `pier_ready` on a process of its own (the API tests share one metrics recorder, so
/// they cannot tell whose readiness it is): 1 for a ready replica, 0 for one whose
/// database does not answer, which also answers readiness 503 with `Retry-After`.
#[test]
fn pier_ready_says_whether_this_replica_is_ready() {
    let ready_value = |extra: &[(&str, String)]| -> (f64, u16, String) {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = pier(dir.path());
        command
            .env("PIER_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let started = Instant::now();
        while http_get(port, "/health").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pier did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (ready_status, ready) = http_get(port, "/health/ready").unwrap();
        let (_, metrics) = http_get(port, "/metrics").unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix("pier_ready "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pier_ready in /metrics:\n{metrics}"));
        (value, ready_status, ready)
    };
    let (value, status, _) = ready_value(&[]);
    assert_eq!((value, status), (1.0, 200));
    // A PostgreSQL server where nothing listens (pier starts and retries; an S3 outage
    // would only make it degraded, still ready: uploads go to the spool).
    let (value, status, answer) = ready_value(&[(
        "DATABASE_URL",
        format!("postgres://pier:pier@127.0.0.1:{}/pier", free_port()),
    )]);
    assert_eq!((value, status), (0.0, 503), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nretry-after: "),
        "{answer}"
    );
}

#[test]
fn images_reprocess_runs_against_the_configured_stores_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = pier(dir.path()).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let out = pier(dir.path())
        .args(["images", "reprocess"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reprocessed 0 images"), "{stdout}");
}
