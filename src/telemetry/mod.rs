//! Logs, metrics and request ids: the tracing subscriber, the Prometheus recorder, and
//! one middleware that gives every request an id, counts it, times it and logs it once.

pub mod log_writer;
pub mod names;
pub mod otlp;
pub mod process;

use std::{
    cell::RefCell,
    io::IsTerminal,
    os::fd::AsFd,
    sync::{OnceLock, RwLock},
    time::Duration,
};

use axum::http::{HeaderName, HeaderValue, Method};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rustc_hash::{FxHashMap, FxHashSet};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Header carrying the request id in both directions.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The JSON log's writer, for access lines formatted without the general formatter
/// (see [`log_request`]); set only when pier's own JSON subscriber is installed.
static ACCESS_LOG: OnceLock<log_writer::LogWriter> = OnceLock::new();

/// Keeps the log writer thread's guard; dropping it flushes what is queued.
static LOG_GUARD: std::sync::Mutex<Option<log_writer::LogWriterGuard>> =
    std::sync::Mutex::new(None);

/// Installs the global log subscriber once: JSON lines unless stdout is a terminal.
/// Later calls (tests build many apps in one process) do nothing.
///
/// Lines are formatted on the request's thread and written by a dedicated thread in
/// batches ([`log_writer`]), so a busy server makes one `write` per batch of lines
/// instead of one per request, and wakes no thread per line. Nothing is dropped: when
/// the buffer is full, callers wait.
pub fn init_logging(format: Option<LogFormat>) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let format = format.unwrap_or(if std::io::stdout().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        });
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let sink: Box<dyn std::io::Write + Send> =
            match std::io::stdout().as_fd().try_clone_to_owned() {
                Ok(fd) => Box::new(std::io::BufWriter::with_capacity(
                    64 * 1024,
                    std::fs::File::from(fd),
                )),
                Err(_) => Box::new(std::io::stdout()),
            };
        let (writer, guard) = log_writer::LogWriter::new(sink);
        let registry = tracing_subscriber::registry().with(filter);
        let access = (format == LogFormat::Json).then(|| writer.clone());
        let installed = match format {
            LogFormat::Json => registry
                .with(
                    fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(false)
                        .with_writer(writer),
                )
                .try_init(),
            LogFormat::Pretty => registry
                .with(fmt::layer().compact().with_writer(writer))
                .try_init(),
        };
        // Another subscriber (a test harness) may already be installed; keep it.
        if installed.is_ok() {
            *LOG_GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
            if let Some(access) = access {
                let _ = ACCESS_LOG.set(access);
            }
        }
    });
}

/// Writes out every queued log line; call before the process exits.
pub fn flush_logs() {
    drop(LOG_GUARD.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// The process-wide Prometheus recorder. The `metrics` facade has one global recorder, so
/// every app in a process shares it; `/metrics` renders from this handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY_BUCKETS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::HTTP_REQUEST_DURATION_SECONDS.into()),
                    LATENCY_BUCKETS,
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe_metrics();
            crate::telemetry::process::install();
            // Histograms need periodic upkeep when the exporter runs no HTTP listener.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawning a thread at start-up");
            handle
        })
        .clone()
}

fn describe_metrics() {
    metrics::describe_counter!(
        names::HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        names::HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer a request"
    );
    metrics::describe_gauge!(names::HTTP_REQUESTS_IN_FLIGHT, "Requests being served now");
    metrics::describe_gauge!(
        names::DB_POOL_CONNECTIONS,
        "Database pool connections by state"
    );
    metrics::describe_counter!(names::UPLOADS_TOTAL, "Uploaded files, by result");
    metrics::describe_counter!(
        names::MADE_AHEAD_TOTAL,
        "Images whose thumbnail and placeholder the background queue handled, by result"
    );
    metrics::describe_counter!(
        names::SPOOL_WRITES_TOTAL,
        "Uploaded images kept in the local spool because a remote backend failed"
    );
    metrics::describe_counter!(
        names::SPOOL_REPLAYED_TOTAL,
        "Spooled images replayed to the remote backends"
    );
    metrics::describe_counter!(
        names::SPOOL_REPLAY_FAILURES_TOTAL,
        "Replay attempts that failed (the remote side still down)"
    );
    metrics::describe_counter!(
        names::UPLOAD_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Bytes of accepted uploads"
    );
    metrics::describe_gauge!(
        names::SPOOL_PENDING,
        "Uploads this replica holds in the spool (its own and adopted) for a remote backend"
    );
    metrics::describe_counter!(
        names::SPOOL_ADOPTED_TOTAL,
        "Spool directories of other replicas this one adopted (lease expired or released)"
    );
    metrics::describe_counter!(
        names::SPOOL_LEASE_LOST_TOTAL,
        "Times this replica found its spool directory adopted after a pause and started a new one"
    );
    metrics::describe_counter!(
        names::PREDICTIONS_TOTAL,
        "Texts scored by /predict, by label"
    );
    // Counters exist from the first scrape at 0, so rate() sees the first event and a
    // dashboard panel or alert never queries a series that is merely absent.
    for name in [
        names::SPOOL_WRITES_TOTAL,
        names::SPOOL_REPLAYED_TOTAL,
        names::SPOOL_REPLAY_FAILURES_TOTAL,
        names::SPOOL_ADOPTED_TOTAL,
        names::SPOOL_LEASE_LOST_TOTAL,
        names::UPLOAD_BYTES_TOTAL,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for result in ["accepted", "rejected"] {
        metrics::counter!(names::UPLOADS_TOTAL, "result" => result).absolute(0);
    }
    for result in ["made", "skipped", "failed", "dropped"] {
        metrics::counter!(names::MADE_AHEAD_TOTAL, "result" => result).absolute(0);
    }
    for label in ["positive", "neutral", "negative"] {
        metrics::counter!(names::PREDICTIONS_TOTAL, "label" => label).absolute(0);
    }
}

/// Route templates are few and fixed; interning them lets metric labels borrow
/// `'static` strings instead of allocating per request.
pub fn intern_route(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<FxHashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(found) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return found;
    }
    let mut write = routes.write().unwrap_or_else(|e| e.into_inner());
    if write.len() >= 256 {
        return "other"; // bound: never grows with client input
    }
    match write.get(route) {
        Some(found) => found,
        None => {
            let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
            write.insert(leaked);
            leaked
        }
    }
}

pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_label(status: u16) -> &'static str {
    STATUS_TEXT
        .get(usize::from(status).wrapping_sub(100))
        .copied()
        .unwrap_or("other")
}

include!(concat!(env!("OUT_DIR"), "/status_text.rs"));

/// Sets the `http_requests_in_flight` gauge; called per scrape with the middleware's
/// counter, so requests pay for one shared counter, not for a gauge as well.
pub fn set_in_flight(requests: usize) {
    metrics::gauge!(names::HTTP_REQUESTS_IN_FLIGHT).set(requests as f64);
}

/// Counts and times one answered request. Metric handles are cached per thread by
/// (method, route, status), so the hot path does no registry lookup and no allocation.
/// The cache is keyed by the labels' addresses (both are interned `&'static str`s) and
/// hashed with FxHash: hashing the label text with SipHash was a visible share of a
/// `/health` request.
pub fn record_request(method: &'static str, route: &'static str, status: u16, seconds: f64) {
    type Key = (usize, usize, u16);
    thread_local! {
        static HANDLES: RefCell<FxHashMap<Key, (Counter, Histogram)>> =
            RefCell::new(FxHashMap::default());
    }
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let key = (method.as_ptr() as usize, route.as_ptr() as usize, status);
        let (counter, histogram) = handles.entry(key).or_insert_with(|| {
            (
                metrics::counter!(names::HTTP_REQUESTS_TOTAL, "method" => method, "route" => route, "status" => status_label(status)),
                metrics::histogram!(names::HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route),
            )
        });
        counter.increment(1);
        histogram.record(seconds);
    });
}

/// A request id from the client is kept when it is short, visible ASCII; otherwise a
/// fresh one is made, so ids are safe to log and to echo.
pub fn request_id(headers: &axum::http::HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| {
            (1..=128).contains(&v.len()) && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let mut buffer = uuid::Uuid::encode_buffer();
            let text = uuid::Uuid::new_v4().simple().encode_lower(&mut buffer);
            HeaderValue::from_str(text).expect("hex is a valid header value")
        })
}

/// Writes the one access-log line of a request: `debug` for successful probes (they
/// come every few seconds), `warn` for 5xx, `info` otherwise, as `RUST_LOG` allows.
///
/// With the JSON log the line is written by hand, exactly as the JSON formatter writes
/// it, into a per-thread buffer: the general formatter (field visitors, a serialiser per
/// event, its own clock formatting) cost a quarter of `GET /items/{id}`'s throughput.
pub fn log_request(
    request_id: &HeaderValue,
    method: &'static str,
    route: &'static str,
    status: u16,
    latency_ms: f64,
) {
    use tracing::Level;
    let request_id = request_id.to_str().unwrap_or_default();
    let level = if route.starts_with("/health") && status < 400 {
        if !tracing::enabled!(target: "pier::access", Level::DEBUG) {
            return;
        }
        Level::DEBUG
    } else if status >= 500 {
        if !tracing::enabled!(target: "pier::access", Level::WARN) {
            return;
        }
        Level::WARN
    } else {
        if !tracing::enabled!(target: "pier::access", Level::INFO) {
            return;
        }
        Level::INFO
    };
    let Some(writer) = ACCESS_LOG.get() else {
        // Another subscriber (pretty logs, a test harness): through tracing.
        match level {
            Level::DEBUG => {
                tracing::debug!(target: "pier::access", request_id, method, route, status, latency_ms, "request")
            }
            Level::WARN => {
                tracing::warn!(target: "pier::access", request_id, method, route, status, latency_ms, "request")
            }
            _ => {
                tracing::info!(target: "pier::access", request_id, method, route, status, latency_ms, "request")
            }
        }
        return;
    };
    thread_local! {
        static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        access_line(
            &mut line,
            time::OffsetDateTime::now_utc(),
            level,
            request_id,
            method,
            route,
            status,
            latency_ms,
        );
        writer.append(&line);
    });
}

/// One access line, byte for byte as `tracing-subscriber`'s JSON formatter writes the
/// same event (flattened fields, then the target).
#[allow(clippy::too_many_arguments)]
fn access_line(
    out: &mut Vec<u8>,
    at: time::OffsetDateTime,
    level: tracing::Level,
    request_id: &str,
    method: &str,
    route: &str,
    status: u16,
    latency_ms: f64,
) {
    let (timestamp, len) = crate::domain::timestamp::format(at);
    out.extend_from_slice(b"{\"timestamp\":\"");
    out.extend_from_slice(&timestamp[..len]);
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":\"request\",\"request_id\":");
    // Strings through serde_json, so that quotes and backslashes are escaped.
    let _ = serde_json::to_writer(&mut *out, request_id);
    out.extend_from_slice(b",\"method\":");
    let _ = serde_json::to_writer(&mut *out, method);
    out.extend_from_slice(b",\"route\":");
    let _ = serde_json::to_writer(&mut *out, route);
    out.extend_from_slice(b",\"status\":");
    let _ = serde_json::to_writer(&mut *out, &status);
    out.extend_from_slice(b",\"latency_ms\":");
    let _ = serde_json::to_writer(&mut *out, &latency_ms);
    out.extend_from_slice(b",\"target\":\"pier::access\"}\n");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a formatter writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The timestamp's value differs between the two (each reads the clock); its shape
    /// and everything around it must not.
    fn without_timestamp(line: &str) -> String {
        let value = &line[r#"{"timestamp":""#.len()..][..27];
        assert!(
            value.ends_with('Z') && value.as_bytes()[10] == b'T',
            "{line}"
        );
        line.replacen(value, "T", 1)
    }

    #[test]
    fn the_hand_written_access_line_is_the_json_formatters_line() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(captured.clone()),
        );
        let cases: [(&str, &str, &str, u16, f64); 4] = [
            ("0f3a9c", "GET", "/items/{id}", 200, 0.965929),
            ("quote\"and\\slash", "POST", "/upload", 201, 12.5),
            ("x", "DELETE", "unmatched", 404, 1e-7),
            ("y", "GET", "/health", 503, 1234567.0),
        ];
        tracing::subscriber::with_default(subscriber, || {
            for (id, method, route, status, latency_ms) in cases {
                tracing::info!(target: "pier::access", request_id = id, method, route, status, latency_ms, "request");
            }
        });
        let expected = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let mut ours = Vec::new();
        for (id, method, route, status, latency_ms) in cases {
            access_line(
                &mut ours,
                time::OffsetDateTime::now_utc(),
                tracing::Level::INFO,
                id,
                method,
                route,
                status,
                latency_ms,
            );
        }
        let ours = String::from_utf8(ours).unwrap();
        assert_eq!(ours.lines().count(), 4);
        for (theirs, mine) in expected.lines().zip(ours.lines()) {
            assert_eq!(without_timestamp(mine), without_timestamp(theirs));
        }
    }
}
