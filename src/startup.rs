//! Builds the application from `Settings`: opens the backends, assembles the router
//! with its cross-cutting layers, binds the listener (port 0 in tests) and serves until
//! a shutdown signal, finishing in-flight requests within a deadline.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::{
    config::{DatabaseUrl, MetadataBackend, Settings},
    context::{ApiContext, Limits, Shared},
    http::middleware::{AroundRequestLayer, RequestPolicy},
    routes,
    services::{
        catalogue::Catalogue,
        gallery::{DecodeLimits, Gallery, Thumbnailer},
    },
    store::{Blobs, Database, ImageMetaStore, StoreError, spool::Spool, sqlite::SqliteDatabase},
    telemetry,
};

/// How long an unreferenced object must exist before the orphan sweep removes it: longer
/// than any upload can take between writing its object and committing its metadata.
const ORPHAN_GRACE: Duration = Duration::from_secs(15 * 60);
/// How often the orphan sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A built, bound, not yet serving application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    shutdown_timeout: Duration,
    drain_delay: Duration,
    make_ahead_queue: usize,
    header_timeout: Duration,
    /// Whether requests carry their peer's address (only the rate limiter reads it).
    peer_in_extensions: bool,
    context: ApiContext,
}

impl Application {
    /// Opens the backends (applying migrations), builds the router and binds the address.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let tokens = settings.api_tokens().map_err(anyhow::Error::msg)?;
        let database = open_database(settings).await?;
        match &database {
            OpenedDatabase::Sqlite(db) => {
                db.migrate().await.context("applying database migrations")?
            }
            // A server that is down now must not stop the start: answer 503 until it is
            // back and migrated.
            #[cfg(feature = "postgres")]
            OpenedDatabase::Postgres(db) => {
                if let Err(error) = db.migrate().await {
                    tracing::warn!(error = %format!("{error:#}"), "database not ready at start-up; retrying in the background");
                    tokio::spawn(db.clone().migrate_until_done());
                }
            }
        }
        let blobs = Blobs::open(&settings.backends.storage, &settings.aws)
            .context("opening PIER_STORAGE")?
            .with_cache(settings.backends.object_cache_bytes);
        let database = database.into_arc();
        let metadata = open_metadata(settings).await;
        let spool = if settings.uses_remote_backend() {
            let options = crate::store::spool::SpoolOptions {
                lease: settings.backends.spool_lease,
            };
            Some(
                Spool::open_with(&settings.backends.spool, options)
                    .context("opening PIER_SPOOL")?,
            )
        } else {
            None
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let thumbnails = Thumbnailer::new(
            DecodeLimits {
                max_pixels: settings.images.max_image_pixels,
                memory: settings.images.decode_memory,
                timeout: settings.images.decode_timeout,
            },
            cores,
        );
        let gallery = Gallery::new(
            blobs,
            metadata.clone().unwrap_or_else(|| database.clone()),
            spool,
            thumbnails,
            settings.uploads.clone(),
            settings.images.clone(),
        );
        let context = ApiContext::new(Shared {
            catalogue: Catalogue::new(database.clone()),
            database,
            metadata,
            gallery,
            upload_permits: Arc::new(tokio::sync::Semaphore::new(
                settings.uploads.max_concurrent_uploads as usize,
            )),
            model: Arc::new(crate::sentiment::vader::Vader::new()),
            limits: Limits {
                uploads: settings.uploads.clone(),
                bodies: settings.bodies.clone(),
                writes_need_token: tokens.is_some(),
            },
            draining: Arc::default(),
            in_flight: Arc::default(),
            started: Instant::now(),
            metrics: telemetry::metrics_handle(),
        });
        let rate_limits = crate::http::rate_limit::RateLimits::new(
            settings.access.rate_limit_reads,
            settings.access.rate_limit_writes,
            settings.access.trusted_proxies.clone(),
        );
        let peer_in_extensions = rate_limits.enabled();
        let router = with_layers(
            with_cors(
                routes::router(context.clone()),
                &settings.access.cors_origins,
            ),
            RequestPolicy {
                tokens: tokens.map(Arc::new),
                rate_limits,
                max_in_flight: settings.server.max_in_flight as usize,
                draining: context.draining.clone(),
                in_flight: context.in_flight.clone(),
                ..RequestPolicy::with_deadline(settings.server.request_timeout)
            },
        );
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on PIER_ADDR {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            router,
            port,
            shutdown_timeout: settings.server.shutdown_timeout,
            drain_delay: settings.server.drain_delay,
            make_ahead_queue: settings.images.make_ahead_queue as usize,
            header_timeout: settings.server.header_timeout,
            peer_in_extensions,
            context,
        })
    }

    /// The bound port (the OS picks one when the address says port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for tests and maintenance tasks.
    pub fn context(&self) -> &ApiContext {
        &self.context
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets in-flight requests
    /// finish, and gives up on them after the shutdown deadline.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tokio::spawn(sweep_orphans_periodically(self.context.clone()));
        let gallery = &self.context.gallery;
        gallery.start_making_ahead(self.make_ahead_queue);
        if let Some(spool) = gallery.spool() {
            tokio::spawn(crate::store::spool::maintain_forever(spool.clone()));
            tokio::spawn(crate::store::spool::replay_forever(
                spool.clone(),
                gallery.blobs().clone(),
                gallery.metadata().clone(),
            ));
        }
        let deadline = self.shutdown_timeout;
        let (drain, context) = (self.drain_delay, self.context.clone());
        // The listener stays open through the drain delay; readiness fails meanwhile.
        let signal = async move {
            signal.await;
            if !drain.is_zero() {
                context
                    .draining
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    ?drain,
                    "draining: readiness fails, requests are still served"
                );
                tokio::time::sleep(drain).await;
            }
        };
        let finished = crate::http::server::serve(
            self.listener,
            self.router,
            signal,
            deadline,
            self.header_timeout,
            self.peer_in_extensions,
        )
        .await;
        if !finished {
            tracing::warn!(
                ?deadline,
                "shutdown deadline passed; abandoning unfinished requests"
            );
        }
        // Another replica (or the next start) adopts what the spool holds at once,
        // instead of waiting for the lease to expire.
        if let Some(spool) = self.context.gallery.spool() {
            spool.release();
        }
        self.context.database.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The SQL database named by `DATABASE_URL`.
pub enum OpenedDatabase {
    /// The embedded default.
    Sqlite(SqliteDatabase),
    /// A shared server.
    #[cfg(feature = "postgres")]
    Postgres(crate::store::postgres::PgDatabase),
}

impl OpenedDatabase {
    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(db) => db.migrate().await,
            #[cfg(feature = "postgres")]
            Self::Postgres(db) => db.migrate().await,
        }
    }

    /// The database as the routes see it.
    fn into_arc(self) -> Arc<dyn Database> {
        match self {
            Self::Sqlite(db) => Arc::new(db),
            #[cfg(feature = "postgres")]
            Self::Postgres(db) => Arc::new(db),
        }
    }
}

/// Opens the database named by `DATABASE_URL` (PostgreSQL lazily: it may be down now).
pub async fn open_database(settings: &Settings) -> anyhow::Result<OpenedDatabase> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    match &settings.backends.database_url {
        DatabaseUrl::Sqlite(path) => SqliteDatabase::connect(path, cores * 2)
            .await
            .map(OpenedDatabase::Sqlite)
            .with_context(|| format!("opening DATABASE_URL sqlite://{}", path.display())),
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(url) => {
            crate::store::postgres::PgDatabase::connect_lazy(url, cores * 4)
                .map(OpenedDatabase::Postgres)
        }
    }
}

/// The image metadata store named by `PIER_METADATA`: the SQL database, or DynamoDB.
pub async fn open_metadata(settings: &Settings) -> Option<Arc<dyn ImageMetaStore>> {
    match &settings.backends.metadata {
        MetadataBackend::Database => None,
        #[cfg(feature = "aws")]
        MetadataBackend::DynamoDb { table } => Some(Arc::new(
            crate::store::dynamo::DynamoMeta::connect(table, &settings.aws).await,
        )),
    }
}

/// Wraps every route (and the fallback) in the one per-request middleware.
/// CORS only when origins are configured: by default a browser on another site cannot
/// read pier's answers (the API is same-origin with its page).
fn with_cors(router: Router, origins: &crate::config::CorsOrigins) -> Router {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = match origins {
        crate::config::CorsOrigins::None => return router,
        crate::config::CorsOrigins::Any => AllowOrigin::any(),
        crate::config::CorsOrigins::List(list) => AllowOrigin::list(list.clone()),
    };
    router.layer(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::HEAD,
                axum::http::Method::POST,
                axum::http::Method::PUT,
                axum::http::Method::DELETE,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::header::IF_NONE_MATCH,
                axum::http::header::RANGE,
                axum::http::HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                axum::http::header::ETAG,
                axum::http::header::LOCATION,
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderName::from_static("x-request-id"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

fn with_layers(router: Router, policy: RequestPolicy) -> Router {
    let policy = Arc::new(policy);
    if policy.rate_limits.enabled() {
        // Clients whose budget has refilled are forgotten once a minute.
        let idle = Arc::downgrade(&policy);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match idle.upgrade() {
                    Some(policy) => policy.rate_limits.forget_idle(),
                    None => return,
                }
            }
        });
    }
    router.layer(AroundRequestLayer::new(policy))
}

async fn sweep_orphans_periodically(ctx: ApiContext) {
    loop {
        match sweep_orphans_once(&ctx, ORPHAN_GRACE).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed orphaned objects"),
            Err(error) => tracing::warn!(%error, "orphan sweep failed; retrying later"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// One pass of the orphan sweep as the server runs it: objects older than `grace` with
/// no metadata are removed, except those of uploads the spool still holds (its replay
/// writes an object before its record). Public for the tests of that exception.
pub async fn sweep_orphans_once(ctx: &ApiContext, grace: Duration) -> Result<usize, StoreError> {
    ctx.gallery.sweep_orphans(grace).await
}

/// Completes on SIGTERM (containers, orchestrators) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
