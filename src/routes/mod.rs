//! HTTP routes, one file per resource, and the OpenAPI document they generate.

pub mod docs;
pub mod health;
pub mod images;
pub mod items;
pub mod metrics;
pub mod page;
pub mod predict;
pub mod problems;
pub mod root;

use axum::{Router, extract::DefaultBodyLimit, routing::get};
use utoipa::OpenApi;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};

use crate::{context::ApiContext, http::error};

/// All routes with their state, each registered once: `routes!` reads the handler's
/// `#[utoipa::path]`, so the router and the OpenAPI document cannot disagree.
/// Cross-cutting layers are added by `startup`.
pub fn router(ctx: ApiContext) -> Router {
    // Multipart bodies hold up to `max_files` files plus form overhead; each file's own
    // limit is enforced while streaming.
    let upload_body_limit = ctx
        .limits
        .uploads
        .max_upload_bytes
        .saturating_mul(u64::from(ctx.limits.uploads.max_files_per_upload))
        .saturating_add(1 << 20);
    let upload_body_limit = usize::try_from(upload_body_limit).unwrap_or(usize::MAX);
    let (router, document) = documented(upload_body_limit).split_for_parts();
    router
        .route("/assets/{name}", get(page::asset))
        .merge(docs::router(document, &ctx.limits))
        .fallback(error::not_found)
        .with_state(ctx)
}

/// The generated OpenAPI document alone, before `docs` completes it.
pub fn generated_document() -> utoipa::openapi::OpenApi {
    documented(usize::MAX).into_openapi()
}

/// Every documented route.
fn documented(upload_body_limit: usize) -> OpenApiRouter<ApiContext> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(items::create, items::list))
        .routes(routes!(items::get, items::replace, items::delete))
        .routes(routes!(images::upload).layer(DefaultBodyLimit::max(upload_body_limit)))
        .routes(routes!(images::list))
        .routes(routes!(images::get, images::delete))
        .routes(routes!(images::thumbnail))
        .routes(routes!(predict::predict))
        .routes(routes!(predict::model_info))
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::metrics))
        .routes(routes!(root::root))
}
