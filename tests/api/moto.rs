//! A moto server (S3 and DynamoDB, from PyPI) on a free loopback port, killed on drop,
//! and a gate in front of it that a test can close and open to make it unreachable
//! without losing its state.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A moto S3 server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    pub fn start() -> Self {
        let binary = std::env::var_os("PIER_TEST_MOTO")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/moto_server")
            });
        assert!(
            binary.exists(),
            "moto_server not found at {}: run scripts/test.sh (it installs moto[server] into target/test-venv) or set PIER_TEST_MOTO",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Self { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "moto_server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint()))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "create bucket: {}",
            response.status()
        );
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP relay on a fixed loopback port in front of a server. Closing it refuses new
/// connections and cuts open ones, as an unreachable endpoint does; opening it again
/// restores the path, with the server's state intact (moto keeps state in memory, so
/// stopping the server itself would lose the bucket).
pub struct Gate {
    port: u16,
    target: u16,
    relay: Option<tokio::task::JoinHandle<()>>,
    hanging: bool,
}

impl Gate {
    /// An open gate relaying to `target` on loopback.
    pub async fn open_to(target: u16) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut gate = Self {
            port,
            target,
            relay: None,
            hanging: false,
        };
        gate.open().await;
        gate
    }

    /// The URL clients use instead of the server's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts relaying (again).
    pub async fn open(&mut self) {
        if self.relay.is_some() {
            return;
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the gate's port is free again");
        let target = self.target;
        let hanging = self.hanging;
        self.relay = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                connections.spawn(async move {
                    if hanging {
                        // Accept, then never answer: a black-holed endpoint.
                        let _held = &inbound;
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Accepts connections but never answers (a hung server or a black-holed route);
    /// open connections are cut.
    pub async fn hang(&mut self) {
        self.close().await;
        self.hanging = true;
        self.open().await;
    }

    /// Relays normally again after [`Gate::hang`].
    pub async fn resume(&mut self) {
        self.close().await;
        self.hanging = false;
        self.open().await;
    }

    /// Refuses connections and cuts the open ones.
    pub async fn close(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
            let _ = relay.await;
        }
    }
}

impl Moto {
    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}
