//! pier: an image gallery, an items catalogue and a sentiment model behind one small,
//! fast binary. The layers call one way only: `http` → `routes` → `services` → `store`.
//! `ARCHITECTURE.md` walks one upload through them.
//!
//! The map, one line per folder:

/// The `pier` command line: its subcommands (serve, migrate, migrate-store, healthcheck).
pub mod cli;
/// Every setting, typed and checked at start (flags and environment variables).
pub mod config;
/// The state every route reaches: the services and the request limits.
pub mod context;
/// Values that parse instead of validate: ids, names, prices, images, text, paging.
pub mod domain;
/// HTTP machinery shared by all routes: server, middleware, auth, rate limits,
/// extractors, responses, conditional reads, and the one error → problem+json mapping.
pub mod http;
/// One file per resource: HTTP in, a service call, HTTP out.
pub mod routes;
/// The sentiment model behind `/predict` (VADER).
pub mod sentiment;
/// What the API does, without HTTP: the gallery (uploads, reads, thumbnails, the spool
/// fallback) and the items catalogue.
pub mod services;
/// Builds the application from the settings: opens backends, wires services, binds.
pub mod startup;
/// Backends: SQL databases, DynamoDB, object storage and the local spool, failing
/// with a storage error, never an HTTP status.
pub mod store;
/// Logs, metrics (names in one place), traces and process statistics.
pub mod telemetry;
/// Small real images made in memory, for tests and the benchmark (`test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
