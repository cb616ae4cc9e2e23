//! The accept loop: HTTP/1.1 connections served by hyper with bounds that `axum::serve`
//! does not expose, and a graceful shutdown that waits for in-flight requests.
//!
//! - Each connection's read buffer is capped (`READ_BUFFER`). hyper grows it up to
//!   ~400 KiB while streaming a large body and keeps it for the life of a keep-alive
//!   connection; with 64 clients uploading, that alone held ~50 MiB (measured).
//! - Request headers must arrive within `header_timeout` (slow-loris guard).

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Largest read buffer of one connection.
const READ_BUFFER: usize = 64 * 1024;

/// Serves `router` on `listener` until `signal` completes, then stops accepting and waits
/// up to `deadline` for in-flight requests. Returns whether every connection finished.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    signal: impl Future<Output = ()> + Send,
    deadline: Duration,
    header_timeout: Duration,
) -> bool {
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(READ_BUFFER)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutdown signal received; finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(deadline) => false,
    }
}
