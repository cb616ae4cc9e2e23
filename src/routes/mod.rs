//! HTTP routes, one file per resource, and the OpenAPI document they generate.

pub mod docs;
pub mod health;
pub mod images;
pub mod items;
pub mod metrics;
pub mod page;
pub mod predict;
pub mod root;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};

use crate::{context::ApiContext, http::error};

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
        .route("/assets/{name}", get(page::asset))
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
        .route("/predict", post(predict::predict))
        .route("/model/info", get(predict::model_info))
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .merge(docs::router(&ctx.limits))
        .fallback(error::not_found)
        .with_state(ctx)
}
