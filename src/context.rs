//! The one shared state value handed to every route.

use std::{sync::Arc, time::Instant};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    sentiment::SentimentModel,
    services::{catalogue::Catalogue, gallery::Gallery},
    store::{Database, ImageMetaStore},
};

/// Limits on what one request may send; every body, field and list is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file in an upload.
    pub max_upload_bytes: u64,
    /// Most files in one upload.
    pub max_files_per_upload: u32,
    /// Most pixels (width × height) in an image.
    pub max_image_pixels: u64,
    /// Most memory one image decode may use (an upload needing more is refused).
    pub decode_memory: u64,
    /// How long an upload body may send nothing before it loses its slot.
    pub upload_idle_timeout: std::time::Duration,
    /// Slowest accepted upload body, in bytes per second over a 10 s window.
    pub upload_min_rate: u64,
    /// Largest JSON body.
    pub max_json_bytes: u64,
    /// Longest text to score, in characters.
    pub max_text_chars: u32,
    /// Most texts in one prediction batch.
    pub max_batch_texts: u32,
    /// Largest `/predict` body.
    pub max_predict_bytes: u64,
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
    /// When the process started serving, for `uptime_seconds`.
    pub started: Instant,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
