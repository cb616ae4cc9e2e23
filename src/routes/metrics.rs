//! `/metrics` in the Prometheus text format.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use crate::context::ApiContext;

/// Prometheus scrape endpoint (names and labels of SPEC §4).
#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
))]
pub async fn metrics(State(ctx): State<ApiContext>) -> Response {
    let (active, idle) = ctx.database.pool_state();
    metrics::gauge!(crate::telemetry::names::DB_POOL_CONNECTIONS, "state" => "active")
        .set(f64::from(active));
    metrics::gauge!(crate::telemetry::names::DB_POOL_CONNECTIONS, "state" => "idle")
        .set(f64::from(idle));
    metrics::gauge!(crate::telemetry::names::DB_POOL_CONNECTIONS, "state" => "max")
        .set(f64::from(ctx.database.pool_max()));
    crate::telemetry::process::refresh();
    crate::telemetry::set_in_flight(ctx.in_flight.load(std::sync::atomic::Ordering::Relaxed));
    // Readiness as a series (`pier_ready`), so an alert sees what a load balancer sees.
    crate::routes::health::assess(&ctx).await;
    let pending = ctx.gallery.spool_pending().unwrap_or(0);
    metrics::gauge!(crate::telemetry::names::SPOOL_PENDING).set(pending as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.metrics.render(),
    )
        .into_response()
}
