//! The benchmark's ceiling: the smallest axum server answering the same `/health` JSON
//! as pier, on the same runtime. Absolute req/s drift between machines; pier's figures
//! are reported as a fraction of this server's, measured in the same run.
//!
//! Also `/blob`: a 64 KiB body from memory, the ceiling for serving an image.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:9000`

use std::time::Instant;

use axum::{Json, Router, body::Bytes, routing::get};
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
    // A 64 KiB body from memory: the most any server can do for GET /image/{id} here.
    let blob = Bytes::from(vec![7u8; 64 * 1024]);
    let app = Router::new()
        .route("/blob", get(move || std::future::ready(blob.clone())))
        .route(
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
