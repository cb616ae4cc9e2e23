//! `/`: the web page for browsers (see `page`), a JSON banner for everything else.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, header},
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
    let mut response = if wants_html {
        super::page::index(&headers)
    } else {
        Json(Banner {
            name: "pier",
            version: env!("CARGO_PKG_VERSION"),
            docs: "/docs",
            openapi: "/openapi.json",
            health: "/health",
        })
        .into_response()
    };
    // Two representations chosen by `Accept`: a cache must not hand the page to an API
    // client or the banner to a browser.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    response
}
