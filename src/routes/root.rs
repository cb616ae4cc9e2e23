//! `/`: the web page for browsers (see `page`), a JSON banner for everything else.

use axum::{
    Json,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// What a non-browser client sees at `/`: where to go next.
#[derive(Serialize, ToSchema)]
pub struct Banner {
    pub name: &'static str,
    pub version: &'static str,
    pub docs: &'static str,
    pub openapi: &'static str,
    pub health: &'static str,
}

/// The service root.
#[utoipa::path(operation_id = "root", get, path = "/", tag = "operations", responses(
    (status = 200, description = "JSON banner, or the web page for `Accept: text/html`", body = Banner),
))]
pub async fn root(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return super::page::index(&headers);
    }
    Json(Banner {
        name: "pier",
        version: env!("CARGO_PKG_VERSION"),
        docs: "/docs",
        openapi: "/openapi.json",
        health: "/health",
    })
    .into_response()
}
