//! The web page (SPEC §3): HTML, CSS and JavaScript embedded in the binary from `web/`,
//! so nothing is built with Node.js and nothing is fetched from elsewhere.
//!
//! The stylesheet and script are served under names that carry a hash of their
//! content (`/assets/app.3f2a….js`) with a one-year immutable cache lifetime, so a new
//! binary's assets are fetched at once and an unchanged one's never again; the page
//! itself is `no-cache` and names the current files. Each asset is gzip-compressed once,
//! at first use, and sent compressed to clients that accept it.

use std::{io::Write, sync::OnceLock};

use axum::{
    body::Body,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// The page's Content-Security-Policy: only this origin's script, style, images and
/// API; no inline script or style, no framing, no plugins.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// One embedded file, ready to send.
struct Asset {
    /// The name it is served under (content-hashed for the page's CSS and JS).
    name: String,
    content_type: &'static str,
    /// The bytes, unless the file is embedded compressed only (the vendored Swagger UI,
    /// kept gzip'd to keep the binary small; inflated per request for the rare client
    /// that does not accept gzip).
    body: Option<Bytes>,
    gzip: Bytes,
    etag: String,
}

impl Asset {
    fn new(name: String, content_type: &'static str, body: Bytes) -> Self {
        let digest = hex::encode(Sha256::digest(&body));
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 3),
            flate2::Compression::best(),
        );
        // Writing to a Vec cannot fail.
        let gzip = encoder
            .write_all(&body)
            .and_then(|()| encoder.finish())
            .map(Bytes::from)
            .unwrap_or_default();
        Self {
            name,
            content_type,
            body: Some(body),
            gzip,
            etag: format!("\"{}\"", &digest[..32]),
        }
    }

    /// A file embedded gzip'd only.
    fn gzipped(name: &str, content_type: &'static str, gzip: &'static [u8]) -> Self {
        let digest = hex::encode(Sha256::digest(gzip));
        Self {
            name: name.to_owned(),
            content_type,
            body: None,
            gzip: Bytes::from_static(gzip),
            etag: format!("\"{}\"", &digest[..32]),
        }
    }

    fn inflated(&self) -> Bytes {
        if let Some(body) = &self.body {
            return body.clone();
        }
        let mut out = Vec::with_capacity(self.gzip.len() * 4);
        let mut decoder = flate2::read::GzDecoder::new(&self.gzip[..]);
        match std::io::Read::read_to_end(&mut decoder, &mut out) {
            Ok(_) => Bytes::from(out),
            Err(_) => Bytes::new(),
        }
    }

    /// The response for this asset: compressed when the client accepts gzip, 304 when
    /// the client's copy is current.
    fn respond(&self, request: &HeaderMap, cache_control: &'static str) -> Response {
        let mut response = Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::CACHE_CONTROL, cache_control)
            .header(header::ETAG, &self.etag)
            .header(header::VARY, "Accept-Encoding")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|tag| tag.trim() == self.etag));
        if fresh {
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_default();
        }
        let gzip_ok = !self.gzip.is_empty()
            && request
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|coding| {
                    let mut parts = coding.trim().split(';');
                    parts.next().is_some_and(|c| c.trim() == "gzip")
                        && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
                });
        let body = if gzip_ok {
            response = response.header(header::CONTENT_ENCODING, "gzip");
            self.gzip.clone()
        } else {
            self.inflated()
        };
        response.body(Body::from(body)).unwrap_or_default()
    }
}

/// The page and its assets, and the API docs UI, built once.
struct WebAssets {
    index: Asset,
    files: Vec<Asset>,
    docs: Vec<Asset>,
}

fn hashed(stem: &str, extension: &str, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!("{stem}.{}.{extension}", &digest[..12])
}

fn assets() -> &'static WebAssets {
    static ASSETS: OnceLock<WebAssets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let css: &'static [u8] = include_bytes!("../../web/app.css");
        let js: &'static [u8] = include_bytes!("../../web/app.js");
        let css_name = hashed("app", "css", css);
        let js_name = hashed("app", "js", js);
        let html = include_str!("../../web/index.html")
            .replace("{{app.css}}", &format!("/assets/{css_name}"))
            .replace("{{app.js}}", &format!("/assets/{js_name}"));
        WebAssets {
            index: Asset::new("index.html".into(), "text/html; charset=utf-8", html.into()),
            files: vec![
                Asset::new(css_name, "text/css; charset=utf-8", Bytes::from_static(css)),
                Asset::new(
                    js_name,
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(js),
                ),
            ],
            docs: docs_assets(),
        }
    })
}

/// Swagger UI 5.32.6 (Apache-2.0, `web/docs/SWAGGER-UI-LICENSE`): its bundle, preset
/// and stylesheet vendored gzip'd, with pier's own page and initializer (no inline
/// script, pointed at `/openapi.json`).
fn docs_assets() -> Vec<Asset> {
    const JS: &str = "text/javascript; charset=utf-8";
    const CSS: &str = "text/css; charset=utf-8";
    vec![
        Asset::new(
            "index.html".into(),
            "text/html; charset=utf-8",
            Bytes::from_static(include_bytes!("../../web/docs/index.html")),
        ),
        Asset::new(
            "swagger-initializer.js".into(),
            JS,
            Bytes::from_static(include_bytes!("../../web/docs/swagger-initializer.js")),
        ),
        Asset::new(
            "index.css".into(),
            CSS,
            Bytes::from_static(include_bytes!("../../web/docs/index.css")),
        ),
        Asset::gzipped(
            "swagger-ui-bundle.js",
            JS,
            include_bytes!("../../web/docs/swagger-ui-bundle.js.gz"),
        ),
        Asset::gzipped(
            "swagger-ui-standalone-preset.js",
            JS,
            include_bytes!("../../web/docs/swagger-ui-standalone-preset.js.gz"),
        ),
        Asset::gzipped(
            "swagger-ui.css",
            CSS,
            include_bytes!("../../web/docs/swagger-ui.css.gz"),
        ),
    ]
}

/// The docs UI's policy: Swagger UI styles elements inline and shows data: images, so
/// style and images are looser than the page's; scripts are still this origin's only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
font-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/// `/docs/` and `/docs/{file}`: the API docs UI, revalidated on every load (the names
/// are not content-hashed, so they must not be cached for long).
pub async fn docs(headers: HeaderMap, file: Option<Path<String>>) -> Result<Response, ApiError> {
    let name = file.map_or_else(|| "index.html".to_owned(), |Path(name)| name);
    let asset = assets()
        .docs
        .iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| {
            let shown: String = name.chars().take(60).collect();
            ApiError::NotFound(format!("no docs file named `{shown}`"))
        })?;
    let mut response = asset.respond(&headers, "no-cache");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    Ok(response)
}

/// The page at `/`, with its security headers. Revalidated on every load (`no-cache`)
/// so that it always names the current assets.
pub fn index(request: &HeaderMap) -> Response {
    let mut response = assets().index.respond(request, "no-cache");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `/assets/{name}`: a content-hashed stylesheet or script, cached for a year.
pub async fn asset(headers: HeaderMap, Path(name): Path<String>) -> Result<Response, ApiError> {
    let asset = assets()
        .files
        .iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| {
            let shown: String = name.chars().take(60).collect();
            ApiError::NotFound(format!("no asset named `{shown}`"))
        })?;
    Ok(asset
        .respond(&headers, "public, max-age=31536000, immutable")
        .into_response())
}

/// The paths of the current assets, for tests and the README.
pub fn asset_paths() -> Vec<String> {
    assets()
        .files
        .iter()
        .map(|asset| format!("/assets/{}", asset.name))
        .collect()
}
