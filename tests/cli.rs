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
    ] {
        let out = pier(dir.path()).env(name, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
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
            .contains("copied 0 objects (0 bytes), 2 already there")
    );
    let bad = pier(dir.path())
        .args(["migrate-store", "--from", "ftp://x", "--to", "file://to"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
