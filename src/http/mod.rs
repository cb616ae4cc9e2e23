//! HTTP machinery shared by every route. Nothing here knows where bytes are stored.

pub mod auth;
pub mod body_rate;
pub mod conditional;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod rate_limit;
pub mod response;
pub mod server;
