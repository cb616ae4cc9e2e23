//! Every metric name pier exports, once. Dashboards, alert rules and tests use these
//! strings; a rename here is a rename there (`deploy/observability/`).

/// Requests served, by method, route and status.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Request latency, by method and route.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Requests being served now.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
/// Uploaded files, by result (`accepted`, `rejected`).
pub const UPLOADS_TOTAL: &str = "uploads_total";
/// Images the background queue handled, by result (`made`: thumbnail and placeholder;
/// `skipped`: nothing to do; `failed`; `dropped`: the queue was full).
pub const MADE_AHEAD_TOTAL: &str = "made_ahead_total";
/// Bytes of accepted uploads.
pub const UPLOAD_BYTES_TOTAL: &str = "upload_bytes_total";
/// Texts scored by `/predict`, by label.
pub const PREDICTIONS_TOTAL: &str = "predictions_total";
/// Uploads waiting in the spool for their replay.
pub const SPOOL_PENDING: &str = "spool_pending";
/// Uploads written to the spool.
pub const SPOOL_WRITES_TOTAL: &str = "spool_writes_total";
/// Spooled uploads replayed to the remote backends.
pub const SPOOL_REPLAYED_TOTAL: &str = "spool_replayed_total";
/// Replay attempts that failed (retried later).
pub const SPOOL_REPLAY_FAILURES_TOTAL: &str = "spool_replay_failures_total";
/// Directories of other replicas this one adopted (their lease expired or was released).
pub const SPOOL_ADOPTED_TOTAL: &str = "spool_adopted_total";
/// Times this replica found its own spool directory adopted (it was paused past its
/// lease) and started a new one.
pub const SPOOL_LEASE_LOST_TOTAL: &str = "spool_lease_lost_total";
/// Database pool connections, by state (`active`, `idle`, `max`).
pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";
/// Whether this replica is ready (1) or not (0), as `/health/ready` answers.
pub const PIER_READY: &str = "pier_ready";
/// The CPU limit of the container (cgroup), in cores.
pub const PIER_CPU_LIMIT_CORES: &str = "pier_cpu_limit_cores";
/// The memory limit of the container (cgroup), in bytes.
pub const PIER_MEMORY_LIMIT_BYTES: &str = "pier_memory_limit_bytes";
/// Spans the OTLP exporter dropped (collector down or too slow).
pub const OTLP_SPANS_DROPPED_TOTAL: &str = "otlp_spans_dropped_total";
