//! HTTP routes, one file per resource, and the OpenAPI document they generate.

pub mod health;
pub mod images;
pub mod items;
pub mod metrics;
pub mod root;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{context::ApiContext, error};

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "pier", description = "Image gallery, items catalogue and sentiment model. Errors are RFC 9457 problem+json."),
    paths(
        items::create, items::list, items::get, items::replace, items::delete,
        images::upload, images::list, images::get, images::thumbnail, images::delete,
        health::health, health::ready, metrics::metrics, root::root,
    ),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "items", description = "The catalogue"),
        (name = "images", description = "Upload, list, fetch and delete images"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// All routes with their state; cross-cutting layers are added by `startup`.
pub fn router(ctx: ApiContext) -> Router {
    // Multipart bodies hold up to `max_files` files plus form overhead; each file's own
    // limit is enforced while streaming.
    let upload_body_limit = ctx
        .limits
        .max_upload_bytes
        .saturating_mul(u64::from(ctx.limits.max_files_per_upload))
        .saturating_add(1 << 20);
    let upload_body_limit = usize::try_from(upload_body_limit).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(root::root))
        .route("/items", post(items::create).get(items::list))
        .route(
            "/items/{id}",
            get(items::get).put(items::replace).delete(items::delete),
        )
        .route(
            "/upload",
            post(images::upload).layer(DefaultBodyLimit::max(upload_body_limit)),
        )
        .route("/images", get(images::list))
        .route("/image/{id}", get(images::get).delete(images::delete))
        .route("/image/{id}/thumbnail", get(images::thumbnail))
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(error::not_found)
        .with_state(ctx)
}
