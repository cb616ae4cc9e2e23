//! Running the real pier binary in tests: start it on a port with an environment, the
//! AWS settings that point it at moto, a DynamoDB table for it. Shared by the crash and
//! fleet tests.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The binary under test.
pub const PIER: &str = env!("CARGO_BIN_EXE_pier");

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts pier in `dir` (its working directory: `data/` lands there) on `port`, and
/// waits until it listens (10 s at most).
pub fn start_with(dir: &std::path::Path, port: u16, env: &[(String, String)]) -> Child {
    let mut child = Command::new(PIER)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PIER_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(log_file(dir))
        .stderr(log_file(dir))
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

/// `dir/pier.log`, appended to by every process started in `dir` (read by tests that
/// check what was logged, and by whoever debugs a failure).
pub fn log_file(dir: &std::path::Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pier.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Points the AWS SDK at `endpoint` (moto, or the outage gate in front of it).
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Creates the DynamoDB table `name` on `endpoint`, as `pier migrate` would.
pub async fn create_table(endpoint: &str, name: &str) {
    let mut settings =
        pier::config::Settings::for_tests("unused.db".into(), pier::config::StorageUrl::Memory);
    settings.aws.endpoint_url = Some(endpoint.into());
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(pier::config::Secret("testing".into()));
    pier::store::dynamo::DynamoMeta::connect(name, &settings.aws)
        .await
        .migrate()
        .await
        .unwrap();
}

/// The body of a GET that the server must answer (any status).
pub async fn fetch(client: &reqwest::Client, url: &str) -> bytes::Bytes {
    client.get(url).send().await.unwrap().bytes().await.unwrap()
}
