//! `/health` (liveness) and `/health/ready` (readiness).

use std::{cell::RefCell, collections::BTreeMap, future::Future, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::problems::NotReady;
use crate::{context::ApiContext, http::error::ApiError, store::StoreError};

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
    /// `up` or `down` (the spool: `empty` or `pending`); `off` for a dependency this
    /// replica does not use (metadata kept in the database, no spool without a remote
    /// backend). `off` never makes a replica unready.
    pub status: &'static str,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Images waiting in the spool (the spool check only): this replica's own and
    /// those of replicas it adopted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<usize>,
    /// This replica's id in a shared spool (the spool check only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// Whether this replica holds a live lease on its spool directory (the spool check
    /// only); `false` while it is stopping or after a pause longer than the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<bool>,
}

/// Readiness: whether this replica can serve requests, and each dependency's state.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `degraded` while uploads go to the spool (remote storage or
    /// metadata down, or spooled uploads not yet replayed): the replica still serves.
    pub status: &'static str,
    /// Always `database`, `storage`, `metadata` and `spool` (SPEC §4).
    pub checks: BTreeMap<&'static str, Check>,
}

/// Liveness probe.
#[utoipa::path(operation_id = "health", get, path = "/health", tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
pub async fn health(State(ctx): State<ApiContext>) -> Response {
    let body = liveness_body(ctx.started.elapsed().as_secs());
    ([(header::CONTENT_TYPE, JSON)], body).into_response()
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The liveness answer's body, serialised once per second of uptime and per worker
/// thread: it changes only then, and a balancer or a load test asks many times a second
/// (serialising it each time was ~700 of the ~20,000 instructions of a `/health`).
fn liveness_body(uptime_seconds: u64) -> Bytes {
    thread_local! {
        static LAST: RefCell<(u64, Bytes)> = const { RefCell::new((u64::MAX, Bytes::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != uptime_seconds {
            let health = Health {
                status: "healthy",
                version: env!("CARGO_PKG_VERSION"),
                uptime_seconds,
            };
            let json =
                serde_json::to_vec(&health).expect("a struct of strings and a number serialises");
            *last = (uptime_seconds, Bytes::from(json));
        }
        last.1.clone()
    })
}

/// Readiness probe: 503 while any dependency is down. The 503 is problem+json like every
/// error, with the same `checks` member, so one parser reads both answers.
#[utoipa::path(operation_id = "readiness", get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    NotReady,
))]
pub async fn ready(State(ctx): State<ApiContext>) -> Result<Json<Readiness>, ApiError> {
    let Assessment {
        ready,
        status,
        checks,
        draining,
    } = assess(&ctx).await;
    if ready {
        return Ok(Json(Readiness { status, checks }));
    }
    let down: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| c.status == "down")
        .map(|(name, _)| *name)
        .collect();
    let detail = if draining {
        "not ready: shutting down (draining)".to_owned()
    } else {
        format!("not ready: {} down", down.join(", "))
    };
    Err(ApiError::NotReady {
        detail,
        checks: serde_json::to_value(&checks).unwrap_or_default(),
    })
}

/// What a readiness check found; shared by `/health/ready` and the `pier_ready` gauge
/// that `/metrics` refreshes, so both always agree.
pub struct Assessment {
    /// Whether this replica should receive traffic.
    pub ready: bool,
    /// `ready` or `degraded` (see [`Readiness::status`]).
    pub status: &'static str,
    /// Each dependency's state.
    pub checks: BTreeMap<&'static str, Check>,
    /// Shutting down: readiness fails on purpose.
    pub draining: bool,
}

/// Probes every dependency (each within 2 s) and decides readiness; also sets the
/// `pier_ready` gauge.
pub async fn assess(ctx: &ApiContext) -> Assessment {
    let metadata_probe = async {
        match &ctx.metadata {
            Some(metadata) => probe(metadata.reachable()).await,
            None => Check::off(),
        }
    };
    let (database, storage, metadata) = tokio::join!(
        probe(ctx.database.reachable()),
        probe(ctx.gallery.blobs().ping()),
        metadata_probe
    );
    // The SQL database holds the items: without it this replica cannot serve. Remote
    // storage and metadata have the spool to fall back on. A draining replica is shutting
    // down: new traffic should go elsewhere.
    let draining = ctx.draining.load(std::sync::atomic::Ordering::Relaxed);
    let mut ready = database.status == "up" && !draining;
    let remote_up = storage.status == "up" && metadata.status != "down";
    // Read once: the check and the status must describe the same moment.
    let spool_status = ctx.gallery.spool_status();
    let pending = spool_status.as_ref().map(|s| s.pending);
    let spool = match spool_status {
        Some(state) => Check {
            status: if state.pending == 0 {
                "empty"
            } else {
                "pending"
            },
            error: None,
            pending: Some(state.pending),
            replica: Some(state.replica),
            lease: Some(state.lease_held),
        },
        None => Check::off(),
    };
    let status = match pending {
        Some(0) if remote_up => "ready",
        Some(_) => "degraded",
        None => {
            ready &= remote_up;
            "ready"
        }
    };
    let checks = BTreeMap::from([
        ("database", database),
        ("storage", storage),
        ("metadata", metadata),
        ("spool", spool),
    ]);
    metrics::gauge!(crate::telemetry::names::PIER_READY).set(if ready { 1.0 } else { 0.0 });
    Assessment {
        ready,
        status,
        checks,
        draining,
    }
}

impl Check {
    /// A dependency this replica does not use.
    fn off() -> Self {
        Self {
            status: "off",
            error: None,
            pending: None,
            replica: None,
            lease: None,
        }
    }
}

/// Runs a probe with a short deadline: a hung dependency must not hang the probe.
async fn probe(check: impl Future<Output = Result<(), StoreError>>) -> Check {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => Check {
            status: "up",
            error: None,
            pending: None,
            replica: None,
            lease: None,
        },
        Ok(Err(error)) => Check {
            status: "down",
            error: Some(error.to_string()),
            pending: None,
            replica: None,
            lease: None,
        },
        Err(_) => Check {
            status: "down",
            error: Some("no answer within 2 s".into()),
            pending: None,
            replica: None,
            lease: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_liveness_body_is_the_serialised_answer_of_that_second() {
        for uptime_seconds in [0, 7, 7, 8, u64::MAX - 1] {
            let expected = serde_json::to_vec(&Health {
                status: "healthy",
                version: env!("CARGO_PKG_VERSION"),
                uptime_seconds,
            })
            .unwrap();
            assert_eq!(liveness_body(uptime_seconds), expected);
        }
    }
}
