//! The one shared state value handed to every route.

use std::{sync::Arc, time::Instant};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    config::{BodyLimits, UploadSettings},
    sentiment::SentimentModel,
    services::{catalogue::Catalogue, gallery::Gallery},
    store::{Database, ImageMetaStore},
};

/// Limits on what one request may send; every body, field and list is bounded. The
/// settings groups themselves, handed over whole.
#[derive(Debug, Clone)]
pub struct Limits {
    /// What one upload may send, and how fast it must arrive.
    pub uploads: UploadSettings,
    /// JSON bodies and the texts `/predict` scores.
    pub bodies: BodyLimits,
    /// Whether writes need a bearer token (`PIER_API_TOKENS` set); the OpenAPI document
    /// then declares the security scheme on them.
    pub writes_need_token: bool,
}

/// Shared state: the backends chosen at start-up and the limits. One `Arc`, so the
/// per-request clone that axum's `State` makes is a single reference-count increment.
#[derive(Clone)]
pub struct ApiContext(Arc<Shared>);

impl ApiContext {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for ApiContext {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every route can reach.
pub struct Shared {
    /// The SQL database, for readiness and pool metrics (the catalogue, and the
    /// gallery's metadata unless it is kept elsewhere, are in it too).
    pub database: Arc<dyn Database>,
    /// A separate image metadata store (DynamoDB), for readiness; `None` when image
    /// metadata is kept in `database`.
    pub metadata: Option<Arc<dyn ImageMetaStore>>,
    /// The items catalogue.
    pub catalogue: Catalogue,
    /// The image gallery: uploads, reads, thumbnails, the spool.
    pub gallery: Gallery,
    /// Permits for uploads in progress (`PIER_MAX_CONCURRENT_UPLOADS`).
    pub upload_permits: Arc<tokio::sync::Semaphore>,
    /// The sentiment model, loaded once.
    pub model: Arc<dyn SentimentModel>,
    /// Request limits.
    pub limits: Limits,
    /// Set on SIGTERM while the drain delay runs: readiness answers 503 so that traffic
    /// moves elsewhere while in-flight and late requests are still served.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Requests being served now, counted by the middleware (which sheds beyond
    /// `PIER_MAX_IN_FLIGHT`); `/metrics` reports it as `http_requests_in_flight`.
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// When the process started serving, for `uptime_seconds`.
    pub started: Instant,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
