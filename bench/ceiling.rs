//! The benchmark's ceiling: the smallest axum server answering the same `/health` JSON
//! as pier, on the same runtime. Absolute req/s drift between machines; pier's figures
//! are reported as a fraction of this server's, measured in the same run.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:9000`

use std::time::Instant;

use axum::{Json, Router, routing::get};
use serde::Serialize;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let started = Instant::now();
    let app = Router::new().route(
        "/health",
        get(move || async move {
            Json(Health {
                status: "healthy",
                version: "0.1.0",
                uptime_seconds: started.elapsed().as_secs(),
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("bind the ceiling server");
    axum::serve(listener, app).await.expect("serve");
}
