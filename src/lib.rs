//! pier: an image gallery, an items catalogue and a sentiment model behind one small,
//! fast binary. See `README.md` for the map of modules.

pub mod auth;
pub mod body_rate;
pub mod config;
pub mod context;
pub mod domain;
pub mod error;
pub mod extract;
pub mod guard;
pub mod imaging;
pub mod middleware;
pub mod migrate_store;
pub mod otlp;
pub mod process_metrics;
pub mod response;
pub mod routes;
pub mod sentiment;
pub mod server;
pub mod spool;
pub mod startup;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod test_images;
