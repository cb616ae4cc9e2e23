//! `/health` (liveness) and `/health/ready` (readiness).

use std::{collections::BTreeMap, future::Future, time::Duration};

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{context::ApiContext, error::ApiError};

/// Liveness: the process answers. Touches no dependency, so a slow database never
/// gets a healthy replica killed.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: &'static str,
    /// The running version.
    pub version: &'static str,
    /// Seconds since start-up.
    pub uptime_seconds: u64,
}

/// One dependency's state in a readiness answer.
#[derive(Serialize, ToSchema)]
pub struct Check {
    /// `up` or `down`.
    pub status: &'static str,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness: whether this replica can serve requests, and each dependency's state.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `unavailable` when a dependency is down.
    pub status: &'static str,
    /// database, storage, metadata.
    pub checks: BTreeMap<&'static str, Check>,
}

/// Liveness probe.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
pub async fn health(State(ctx): State<ApiContext>) -> Json<Health> {
    Json(Health { status: "healthy", version: env!("CARGO_PKG_VERSION"), uptime_seconds: ctx.started.elapsed().as_secs() })
}

/// Readiness probe: 503 while any dependency is down.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "A dependency is down", body = Readiness),
))]
pub async fn ready(State(ctx): State<ApiContext>) -> (StatusCode, Json<Readiness>) {
    let (database, storage) = tokio::join!(probe(ctx.database.ping()), probe(ctx.blobs.ping()));
    let metadata = Check { status: database.status, error: database.error.clone() };
    let all_up = database.status == "up" && storage.status == "up";
    let checks = BTreeMap::from([("database", database), ("storage", storage), ("metadata", metadata)]);
    let status = if all_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { status: if all_up { "ready" } else { "unavailable" }, checks }))
}

/// Runs a probe with a short deadline: a hung dependency must not hang the probe.
async fn probe(check: impl Future<Output = Result<(), ApiError>>) -> Check {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => Check { status: "up", error: None },
        Ok(Err(error)) => Check { status: "down", error: Some(error.to_string()) },
        Err(_) => Check { status: "down", error: Some("no answer within 2 s".into()) },
    }
}
