//! The accept loop: HTTP/1.1 connections served by hyper with bounds that `axum::serve`
//! does not expose, and a graceful shutdown that waits for in-flight requests.
//!
//! - Each connection's read buffer is capped (`READ_BUFFER`). hyper grows it up to
//!   ~400 KiB while streaming a large body and keeps it for the life of a keep-alive
//!   connection; with 64 clients uploading, that alone held ~50 MiB (measured).
//! - Request headers must arrive within `header_timeout` (slow-loris guard), timed by
//!   one watchdog per connection ([`HeadWatch`]) rather than hyper's own header timer:
//!   hyper makes, registers and drops a new timer for every request, ~1,300 instructions
//!   of a `GET /health` that costs ~21,000 in all (callgrind); the watchdog costs two
//!   clock reads and two atomic stores per request and wakes about once per timeout.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo, http::Request, response::Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

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
    peer_in_extensions: bool,
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
        let watch = Arc::new(HeadWatch::waiting());
        let service = Watched {
            inner: router
                .clone()
                .map_request(move |mut request: Request<Incoming>| {
                    // Only the rate limiter reads the peer; inserting it costs an allocation.
                    if peer_in_extensions {
                        request
                            .extensions_mut()
                            .insert(ConnectInfo::<SocketAddr>(peer));
                    }
                    request
                }),
            watch: watch.clone(),
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .max_buf_size(READ_BUFFER)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                },
                () = watch.overdue(header_timeout) => {
                    tracing::debug!(%peer, "closing a connection: no request head within the header timeout");
                }
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

/// When the connection began waiting for its next request head, in milliseconds of
/// [`clock_ms`], or [`HeadWatch::SERVING`] while a request is being answered.
///
/// Waiting starts when the connection opens and again when an answer's body has been
/// sent (its drop), so a slow download is never mistaken for a slow request head, and
/// an idle keep-alive connection is closed after the timeout, as hyper's timer did.
struct HeadWatch {
    since: AtomicU64,
}

impl HeadWatch {
    const SERVING: u64 = u64::MAX;

    fn waiting() -> Self {
        Self {
            since: AtomicU64::new(clock_ms()),
        }
    }

    fn serving(&self) {
        self.since.store(Self::SERVING, Ordering::Relaxed);
    }

    fn answered(&self) {
        self.since.store(clock_ms(), Ordering::Relaxed);
    }

    /// Completes once the connection has waited longer than `timeout` for a request head.
    async fn overdue(&self, timeout: Duration) {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        loop {
            let since = self.since.load(Ordering::Relaxed);
            let wait = if since == Self::SERVING {
                timeout_ms
            } else {
                let due = since.saturating_add(timeout_ms);
                let now = clock_ms();
                if now >= due {
                    return;
                }
                due - now
            };
            tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
        }
    }
}

/// Milliseconds since the first call: a monotonic clock that fits an atomic.
fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The connection's service, marking when a request is served and when its answer is
/// sent.
#[derive(Clone)]
struct Watched<S> {
    inner: S,
    watch: Arc<HeadWatch>,
}

impl<S> Service<Request<Incoming>> for Watched<S>
where
    S: Service<Request<Incoming>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response<WatchedBody>;
    type Error = S::Error;
    type Future = WatchedAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        self.watch.serving();
        WatchedAnswer {
            inner: self.inner.call(request),
            watch: Some(self.watch.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer's future; its body carries the watch on to the end of the answer.
    struct WatchedAnswer<F> {
        #[pin]
        inner: F,
        watch: Option<Arc<HeadWatch>>,
    }
}

impl<F, E> Future for WatchedAnswer<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response<WatchedBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        let watch = this.watch.take();
        Poll::Ready(answer.map(|response| {
            response.map(|body| WatchedBody {
                inner: body,
                _watch: AnswerSent(watch),
            })
        }))
    }
}

/// Marks the connection as waiting for its next request head when dropped.
struct AnswerSent(Option<Arc<HeadWatch>>);

impl Drop for AnswerSent {
    fn drop(&mut self) {
        if let Some(watch) = &self.0 {
            watch.answered();
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer's body; hyper drops it once the body is sent (or the connection fails).
    struct WatchedBody {
        #[pin]
        inner: Body,
        _watch: AnswerSent,
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A body of three chunks 300 ms apart: 600 ms in all, longer than the timeout.
    fn slow_body() -> Body {
        let chunks = futures::stream::unfold(0u8, |sent| async move {
            if sent == 3 {
                return None;
            }
            if sent > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some((Ok::<_, std::io::Error>(vec![b'x'; 4]), sent + 1))
        });
        Body::from_stream(chunks)
    }

    async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while !answer.ends_with(b"0\r\n\r\n") && !answer.ends_with(b"ok") {
            let read = stream.read(&mut buffer).await.unwrap();
            assert_ne!(
                read,
                0,
                "closed mid-answer: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn the_header_timeout_spares_slow_answers_and_closes_idle_connections() {
        let router = Router::new()
            .route("/slow", get(|| async { slow_body() }))
            .route("/quick", get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(200);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
            timeout,
            false,
        ));
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();

        // An answer that takes three timeouts to send arrives whole.
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("xxxx\r\n0\r\n\r\n"), "{answer}");

        // The same connection idles for less than the timeout and is served again.
        tokio::time::sleep(timeout / 2).await;
        stream
            .write_all(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));

        // Idle (no request head) for longer than the timeout: closed by the server.
        let started = Instant::now();
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an idle connection was kept open past the header timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(
            started.elapsed() >= timeout * 3 / 4,
            "{:?}",
            started.elapsed()
        );

        let _ = stop.send(());
        assert!(server.await.unwrap(), "the server did not finish in time");
    }
}
