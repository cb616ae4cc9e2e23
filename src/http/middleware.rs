//! The one per-request middleware. Everything that wraps every request happens here, in
//! one async function rather than a stack of layers (measured: each extra layer cost
//! several per cent of throughput on small requests): request id in and out, the API
//! token check for writes, a deadline, a panic guard, problem+json for every error,
//! metrics, one access-log line and the request's trace span.
//!
//! It is a plain tower [`Layer`] ([`AroundRequestLayer`]) rather than axum's
//! `middleware::from_fn`: measured under callgrind on a bare axum `/health`, one
//! `from_fn` layer added ~2,500 instructions per request (the request split into parts
//! and rebuilt, the inner service boxed again for `Next`, its future boxed twice) — as
//! much as everything this middleware does itself.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, MatchedPath, Request},
    http::{HeaderValue, Method, header},
    response::{IntoResponse, Response},
};
use futures::{FutureExt, future::BoxFuture};
use http_body_util::BodyExt;
use tower::{Layer, Service};

use crate::{
    http::auth::{ApiTokens, Verdict},
    http::error::{ApiError, ensure_problem_json},
    http::rate_limit::RateLimits,
    telemetry::{self, REQUEST_ID},
};

/// What the middleware enforces on every request.
pub struct RequestPolicy {
    /// Longest a request may take (408 after).
    pub deadline: Duration,
    /// Tokens writes need; `None`: writes are open.
    pub tokens: Option<Arc<ApiTokens>>,
    /// Per-client budgets.
    pub rate_limits: RateLimits,
    /// Most requests served at once (beyond: 503 at once).
    pub max_in_flight: usize,
    /// Requests being served now: for shedding, and read by `/metrics` for the
    /// `http_requests_in_flight` gauge (set per scrape, not per request: one shared
    /// counter per request instead of two).
    pub in_flight: Arc<AtomicUsize>,
    /// Set while the replica drains before shutting down: every answer then closes its
    /// connection, so keep-alive clients reconnect (and re-resolve, to a replica that is
    /// staying) before the listener closes, instead of sending into a closing socket.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl RequestPolicy {
    /// A policy with only a deadline: no tokens, no rate limits, no practical bound.
    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            deadline,
            tokens: None,
            rate_limits: RateLimits::new(None, None, Default::default()),
            max_in_flight: usize::MAX,
            in_flight: Arc::default(),
            draining: Arc::default(),
        }
    }
}

/// Counts a request in flight until dropped, whatever path the request takes.
struct InFlight(Arc<RequestPolicy>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most of a refused request's body read (for at most 5 s) before the 401 is sent,
/// so a browser still uploading gets the answer instead of a connection reset.
const REFUSED_BODY_DRAIN_BYTES: usize = 64 << 20;

/// POSTs that change nothing (SPEC §2: `/predict` only scores text), so they stay
/// public when writes need a token.
pub const PUBLIC_POSTS: &[&str] = &["/predict"];

fn changes_nothing(path: &str) -> bool {
    PUBLIC_POSTS.contains(&path)
}

/// Puts [`around_request`] around every route of a router (`Router::layer`).
#[derive(Clone)]
pub struct AroundRequestLayer {
    policy: Arc<RequestPolicy>,
}

impl AroundRequestLayer {
    /// The layer enforcing `policy`.
    pub fn new(policy: Arc<RequestPolicy>) -> Self {
        Self { policy }
    }
}

impl<S> Layer<S> for AroundRequestLayer {
    type Service = AroundRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundRequest {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// One route's service with [`around_request`] around it.
#[derive(Clone)]
pub struct AroundRequest<S> {
    inner: S,
    policy: Arc<RequestPolicy>,
}

/// The route's future with its answer made a [`Response`].
type Served<F> = futures::future::Map<F, fn(<F as Future>::Output) -> Response>;

impl<S> Service<Request> for AroundRequest<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        around_request(self.policy.clone(), request, &mut self.inner)
    }
}

/// Serves one request through `inner` (the matched route) with everything above around
/// it: the checks run and the route is called here, synchronously; the returned future
/// awaits the answer under the deadline and the panic guard, then writes the telemetry
/// and the headers every answer carries.
///
/// A named future rather than an `async` block: the block kept the route's future twice
/// (captured, then awaited) and every rare path's state inline, 1.2 KB a request, above
/// glibc's per-thread cache of small blocks (1,032 bytes): each request's future took
/// malloc's slow path (callgrind). The rare paths (a refusal's drain, rewriting an error
/// as problem+json) are boxed where they happen.
pub fn around_request<S>(
    policy: Arc<RequestPolicy>,
    request: Request,
    inner: &mut S,
) -> AroundFuture<S::Future>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let start = Instant::now();
    let method = telemetry::method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| telemetry::intern_route(path.as_str()));
    let id = telemetry::request_id(request.headers());
    let trace = crate::telemetry::otlp::begin(request.headers());

    let busy = policy.in_flight.fetch_add(1, Ordering::Relaxed) >= policy.max_in_flight;
    let admitted = InFlight(policy);
    let policy = &admitted.0;
    let refusal = if busy {
        Some(ApiError::AtCapacity)
    } else {
        over_budget(policy, &request, route).or_else(|| unauthorized(policy, &request))
    };
    let work = match refusal {
        Some(refusal) => {
            let body = request.into_body();
            Work::Refused {
                answer: Box::pin(async move {
                    drain(body).await;
                    refusal.into_response()
                }),
            }
        }
        None => {
            let into_response: fn(Result<S::Response, Infallible>) -> Response =
                |answer| match answer {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                };
            let served = futures::FutureExt::map(inner.call(request), into_response);
            Work::Serving {
                answer: Deadline::new(
                    start + policy.deadline,
                    AssertUnwindSafe(served).catch_unwind(),
                ),
            }
        }
    };
    AroundFuture {
        work,
        problem: None,
        request: Some(RequestRecord {
            admitted,
            start,
            method,
            route,
            id,
            trace,
        }),
    }
}

pin_project_lite::pin_project! {
    /// What [`around_request`] returns.
    pub struct AroundFuture<F: Future> {
        #[pin]
        work: Work<F>,
        // An error answer being rewritten as problem+json.
        problem: Option<BoxFuture<'static, Response>>,
        request: Option<RequestRecord>,
    }
}

pin_project_lite::pin_project! {
    /// The route's answer under the deadline and the panic guard, or a refusal's.
    #[project = WorkProjection]
    enum Work<F: Future> {
        Serving {
            #[pin]
            answer: Deadline<futures::future::CatchUnwind<AssertUnwindSafe<Served<F>>>>,
        },
        Refused {
            answer: BoxFuture<'static, Response>,
        },
    }
}

/// What the request's telemetry needs once it is answered.
struct RequestRecord {
    admitted: InFlight,
    start: Instant,
    method: &'static str,
    route: &'static str,
    id: HeaderValue,
    trace: Option<crate::telemetry::otlp::RequestTrace>,
}

impl<F: Future> Future for AroundFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.problem {
            Some(problem) => std::task::ready!(problem.as_mut().poll(cx)),
            None => {
                let outcome = match this.work.project() {
                    WorkProjection::Serving { answer } => std::task::ready!(answer.poll(cx)),
                    WorkProjection::Refused { answer } => {
                        Ok(Ok(std::task::ready!(answer.as_mut().poll(cx))))
                    }
                };
                let record = this.request.as_ref().expect("polled after its answer");
                let response = answer(&record.admitted.0, outcome, &record.id, record.route);
                let status = response.status();
                if status.is_client_error() || status.is_server_error() {
                    let problem = this.problem.insert(Box::pin(ensure_problem_json(response)));
                    std::task::ready!(problem.as_mut().poll(cx))
                } else {
                    response
                }
            }
        };
        let record = this.request.take().expect("polled after its answer");
        Poll::Ready(Ok(finish(record, response)))
    }
}

/// The route's answer, or the problem a panic or a missed deadline becomes.
fn answer(
    policy: &RequestPolicy,
    outcome: Result<std::thread::Result<Response>, Elapsed>,
    id: &HeaderValue,
    route: &'static str,
) -> Response {
    match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(_panic)) => {
            tracing::error!(
                request_id = id.to_str().unwrap_or_default(),
                route,
                "a handler panicked"
            );
            ApiError::Panicked.into_response()
        }
        Err(Elapsed) => ApiError::Timeout(format!(
            "the request took longer than {} ms",
            policy.deadline.as_millis()
        ))
        .into_response(),
    }
}

/// The answer as sent, with the request's telemetry written: every answer carries the
/// request id and the security headers.
fn finish(record: RequestRecord, mut response: Response) -> Response {
    // The request leaves the in-flight count before its telemetry is written.
    let policy = record.admitted.0.clone();
    drop(record.admitted);
    let (method, route) = (record.method, record.route);
    let status = response.status();
    let elapsed = record.start.elapsed();
    telemetry::record_request(method, route, status.as_u16(), elapsed.as_secs_f64());
    telemetry::log_request(
        &record.id,
        method,
        route,
        status.as_u16(),
        elapsed.as_secs_f64() * 1000.0,
    );
    if let Some(trace) = record.trace {
        crate::telemetry::otlp::end(
            trace,
            method,
            route,
            status.as_u16(),
            record.id.to_str().unwrap_or_default(),
        );
    }
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID.clone(), record.id);
    // On every answer: never sniff a type other than the declared one, never leak URLs.
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    if policy.draining.load(Ordering::Relaxed) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

pin_project_lite::pin_project! {
    /// `inner`, or `Err(Elapsed)` once `at` has passed. Unlike `tokio::time::timeout`,
    /// the timer is made only when `inner` is not ready on its first poll: most answers
    /// (`/health`, `/predict`, cached reads) are, and then no timer is built, registered
    /// or dropped (its clock read, runtime handle and size: ~300 instructions a request).
    struct Deadline<F> {
        #[pin]
        inner: F,
        at: Instant,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

/// The deadline passed before the answer was ready.
struct Elapsed;

impl<F: Future> Deadline<F> {
    fn new(at: Instant, inner: F) -> Self {
        Self {
            inner,
            at,
            timer: None,
        }
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let at = *this.at;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
        timer.as_mut().poll(cx).map(|()| Err(Elapsed))
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The 429 for a client over its budget, or `None`. Health checks and scrapes are
/// exempt: a balancer or Prometheus must never be throttled into an outage.
fn over_budget(policy: &RequestPolicy, request: &Request, route: &str) -> Option<ApiError> {
    let limits = &policy.rate_limits;
    if !limits.enabled() || matches!(route, "/health" | "/health/ready" | "/metrics") {
        return None;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let client = limits.client(peer, request.headers());
    let wait = limits.check(is_write(request.method()), client).err()?;
    Some(ApiError::TooManyRequests { retry_after: wait })
}

/// The 401 for a write without a valid token, or `None` when the request may proceed.
fn unauthorized(policy: &RequestPolicy, request: &Request) -> Option<ApiError> {
    let tokens = policy.tokens.as_ref()?;
    if !is_write(request.method()) || changes_nothing(request.uri().path()) {
        return None;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match crate::http::auth::judge(tokens, authorization) {
        Verdict::Allowed => None,
        Verdict::Missing => Some(ApiError::Unauthorized {
            detail: "this request changes data and needs `Authorization: Bearer <token>` (an API token of PIER_API_TOKENS)",
            challenge: r#"Bearer realm="pier""#,
        }),
        Verdict::Invalid => Some(ApiError::Unauthorized {
            detail: "the bearer token is not valid",
            challenge: r#"Bearer realm="pier", error="invalid_token""#,
        }),
    }
}

/// Reads and drops a refused request's body, bounded in bytes and time.
async fn drain(mut body: Body) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut read = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |data| data.len());
            if read > REFUSED_BODY_DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::StatusCode, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn panics() -> &'static str {
        panic!("boom")
    }

    fn app(deadline: Duration) -> Router {
        Router::new()
            .route("/panic", get(panics))
            .route(
                "/slow",
                get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
            )
            .route(
                "/teapot",
                get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
            )
            .layer(AroundRequestLayer::new(Arc::new(
                RequestPolicy::with_deadline(deadline),
            )))
    }

    async fn call(app: Router, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        assert!(response.headers().contains_key("x-request-id"));
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_problem() {
        let (status, content_type, body) = call(app(Duration::from_secs(5)), "/panic").await;
        assert_eq!(status, 500);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert!(
            !body["detail"].as_str().unwrap().contains("boom"),
            "panic messages are not sent"
        );
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_becomes_a_408_problem() {
        let (status, content_type, _) = call(app(Duration::from_millis(50)), "/slow").await;
        assert_eq!(status, 408);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    }

    #[tokio::test]
    async fn plain_text_errors_are_rewritten_as_problems() {
        let (status, content_type, body) = call(app(Duration::from_secs(5)), "/teapot").await;
        assert_eq!(status, 418);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(body["detail"], "short and stout");
    }
}
