//! Optional export of request spans to an OpenTelemetry collector: OTLP over HTTP with
//! the JSON encoding, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! One span per request (`GET /items/{id}`), with the method, route template, status and
//! request id as attributes; an incoming W3C `traceparent` is honoured, so pier's span
//! joins the caller's trace. Spans are queued without blocking (a full queue drops and
//! counts them: tracing must never slow or fail a request) and sent in batches of up to
//! 512 every second, each POST bounded by 5 s; a failed batch is counted and dropped.
//!
//! Written here rather than with the OpenTelemetry SDK and its OTLP exporter: those add
//! a protobuf stack and another HTTP client to a binary that must fit a 20 MB image,
//! for one span kind whose JSON encoding is a page of code. It speaks plain HTTP to a
//! collector next to pier (a sidecar, a node agent), which owns TLS and authentication
//! to the tracing backend.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::http::{HeaderMap, Method, Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const QUEUE_CAPACITY: usize = 4096;
const BATCH_SIZE: usize = 512;
const BATCH_INTERVAL: Duration = Duration::from_secs(1);
const POST_TIMEOUT: Duration = Duration::from_secs(5);

static QUEUE: OnceLock<mpsc::Sender<Message>> = OnceLock::new();

enum Message {
    Span(FinishedSpan),
    Flush(oneshot::Sender<()>),
}

/// The trace context of one request in progress.
pub struct RequestTrace {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start: SystemTime,
}

struct FinishedSpan {
    trace: RequestTrace,
    end: SystemTime,
    method: &'static str,
    route: &'static str,
    status: u16,
    request_id: String,
}

/// Starts the exporter task (once per process). Needs a Tokio runtime.
pub fn start(endpoint: &str, service_name: &str) -> anyhow::Result<()> {
    let url: Uri = format!("{}/v1/traces", endpoint.trim_end_matches('/')).parse()?;
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    if QUEUE.set(sender).is_err() {
        anyhow::bail!("the OTLP exporter is already running");
    }
    metrics::describe_counter!(
        crate::telemetry::names::OTLP_SPANS_DROPPED_TOTAL,
        "Request spans not exported: the queue was full or the collector refused them"
    );
    metrics::counter!(crate::telemetry::names::OTLP_SPANS_DROPPED_TOTAL).absolute(0);
    tokio::spawn(export_batches(receiver, url, service_name.to_owned()));
    tracing::info!(%endpoint, "exporting request spans over OTLP");
    Ok(())
}

/// A new span for a request, or `None` when export is off (the common case: one load).
pub fn begin(headers: &HeaderMap) -> Option<RequestTrace> {
    QUEUE.get()?;
    let parent = headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_traceparent);
    let random = uuid::Uuid::new_v4().into_bytes();
    let mut span_id = [0u8; 8];
    span_id.copy_from_slice(&random[..8]);
    let (trace_id, parent_span_id) = match parent {
        Some((trace_id, parent_span_id)) => (trace_id, Some(parent_span_id)),
        None => (uuid::Uuid::new_v4().into_bytes(), None),
    };
    Some(RequestTrace {
        trace_id,
        span_id,
        parent_span_id,
        start: SystemTime::now(),
    })
}

/// Ends a request's span and queues it; never waits.
pub fn end(
    trace: RequestTrace,
    method: &'static str,
    route: &'static str,
    status: u16,
    request_id: &str,
) {
    let Some(queue) = QUEUE.get() else { return };
    let span = FinishedSpan {
        trace,
        end: SystemTime::now(),
        method,
        route,
        status,
        request_id: request_id.to_owned(),
    };
    if queue.try_send(Message::Span(span)).is_err() {
        metrics::counter!(crate::telemetry::names::OTLP_SPANS_DROPPED_TOTAL).increment(1);
    }
}

/// Sends what is queued (at shutdown), waiting at most a few seconds.
pub async fn flush() {
    let Some(queue) = QUEUE.get() else { return };
    let (ack, done) = oneshot::channel();
    if queue.send(Message::Flush(ack)).await.is_ok() {
        let _ = tokio::time::timeout(POST_TIMEOUT + Duration::from_secs(1), done).await;
    }
}

async fn export_batches(mut receiver: mpsc::Receiver<Message>, url: Uri, service: String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut ticker = tokio::time::interval(BATCH_INTERVAL);
    loop {
        tokio::select! {
            message = receiver.recv() => match message {
                Some(Message::Span(span)) => {
                    batch.push(span);
                    if batch.len() >= BATCH_SIZE {
                        post(&client, &url, &service, &mut batch).await;
                    }
                }
                Some(Message::Flush(ack)) => {
                    post(&client, &url, &service, &mut batch).await;
                    let _ = ack.send(());
                }
                None => {
                    post(&client, &url, &service, &mut batch).await;
                    return;
                }
            },
            _ = ticker.tick() => post(&client, &url, &service, &mut batch).await,
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, url: &Uri, service: &str, batch: &mut Vec<FinishedSpan>) {
    if batch.is_empty() {
        return;
    }
    let count = batch.len() as u64;
    let body = encode(service, batch);
    batch.clear();
    let request = Request::builder()
        .method(Method::POST)
        .uri(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else { return };
    let outcome = tokio::time::timeout(POST_TIMEOUT, client.request(request)).await;
    let failure = match outcome {
        Ok(Ok(response)) if response.status().is_success() => return,
        Ok(Ok(response)) => format!("the collector answered {}", response.status()),
        Ok(Err(error)) => format!("cannot reach the collector: {error}"),
        Err(_) => format!("no answer within {} s", POST_TIMEOUT.as_secs()),
    };
    metrics::counter!(crate::telemetry::names::OTLP_SPANS_DROPPED_TOTAL).increment(count);
    tracing::warn!(spans = count, reason = %failure, "dropped a batch of request spans");
}

/// The OTLP/JSON `ExportTraceServiceRequest` for a batch (ids as lowercase hex, times as
/// decimal strings of nanoseconds, as the OTLP JSON mapping specifies).
fn encode(service: &str, batch: &[FinishedSpan]) -> Vec<u8> {
    let spans: Vec<Value> = batch.iter().map(span_json).collect();
    let request = json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                string_attribute("service.name", service),
                string_attribute("service.version", env!("CARGO_PKG_VERSION")),
            ]},
            "scopeSpans": [{
                "scope": { "name": "pier", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    });
    serde_json::to_vec(&request).unwrap_or_default()
}

fn span_json(span: &FinishedSpan) -> Value {
    let mut value = json!({
        "traceId": hex(&span.trace.trace_id),
        "spanId": hex(&span.trace.span_id),
        "name": format!("{} {}", span.method, span.route),
        "kind": 2, // SERVER
        "startTimeUnixNano": unix_nanos(span.trace.start).to_string(),
        "endTimeUnixNano": unix_nanos(span.end).to_string(),
        "attributes": [
            string_attribute("http.request.method", span.method),
            string_attribute("http.route", span.route),
            { "key": "http.response.status_code", "value": { "intValue": span.status.to_string() } },
            string_attribute("pier.request_id", &span.request_id),
        ],
        // ERROR for 5xx; UNSET otherwise (a 4xx is the client's mistake, not a failure).
        "status": { "code": if span.status >= 500 { 2 } else { 0 } },
    });
    if let Some(parent) = span.trace.parent_span_id {
        value["parentSpanId"] = Value::String(hex(&parent));
    }
    value
}

fn string_attribute(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn unix_nanos(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `00-TRACEID(32 hex)-PARENTID(16 hex)-FLAGS`; all-zero ids are invalid (W3C).
fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8])> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || flags.len() != 2 {
        return None;
    }
    let trace_id: [u8; 16] = unhex(trace)?.try_into().ok()?;
    let parent_id: [u8; 8] = unhex(parent)?.try_into().ok()?;
    (trace_id != [0; 16] && parent_id != [0; 8]).then_some((trace_id, parent_id))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2)
        || !text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let (trace, parent) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex(&trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent), "00f067aa0ba902b7");
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_batch_encodes_as_otlp_json() {
        let span = FinishedSpan {
            trace: RequestTrace {
                trace_id: [1; 16],
                span_id: [2; 8],
                parent_span_id: Some([3; 8]),
                start: UNIX_EPOCH + Duration::from_secs(1),
            },
            end: UNIX_EPOCH + Duration::from_millis(1500),
            method: "GET",
            route: "/items/{id}",
            status: 503,
            request_id: "abc".into(),
        };
        let body: Value = serde_json::from_slice(&encode("pier-test", &[span])).unwrap();
        let resource = &body["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"][0]["value"]["stringValue"],
            "pier-test"
        );
        let span = &resource["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "01010101010101010101010101010101");
        assert_eq!(span["spanId"], "0202020202020202");
        assert_eq!(span["parentSpanId"], "0303030303030303");
        assert_eq!(span["name"], "GET /items/{id}");
        assert_eq!(span["startTimeUnixNano"], "1000000000");
        assert_eq!(span["endTimeUnixNano"], "1500000000");
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(span["attributes"][2]["value"]["intValue"], "503");
        assert_eq!(span["attributes"][3]["value"]["stringValue"], "abc");
    }

    #[test]
    fn export_is_off_until_started() {
        assert!(QUEUE.get().is_none());
        assert!(begin(&HeaderMap::new()).is_none());
    }
}
