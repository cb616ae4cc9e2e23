//! `/upload`, `/images`, `/image/{id}`: HTTP in and out of the gallery service. The
//! gallery decides where bytes live; this file reads multipart bodies and speaks
//! conditional and ranged HTTP.

use axum::{
    Json,
    body::Body,
    extract::{
        FromRequest, Path, Request, State,
        multipart::{Multipart, MultipartError},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::problems::{BadPaging, NoSuchImage, RangeNotSatisfiable, Undecodable, UploadProblems};
use crate::{
    context::ApiContext,
    domain::{FileName, ImageId, PageLimit, image::VariantSize},
    http::{
        body_rate::{RateGuard, RateRules},
        conditional::{RangeRequest, cached_headers, if_range_allows, not_modified, parse_range},
        error::ApiError,
        extract::QueryParams,
        response::JsonResponse,
    },
    services::gallery::{FileFailure, Found, GalleryError, ImageBytes, Upload},
    store::ImageRecord,
};

/// An image as the API shows it: its record and where to fetch it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    #[serde(flatten)]
    pub image: ImageRecord,
    /// Where to fetch the bytes.
    pub url: String,
    /// Where to fetch a ≤ 256 px JPEG thumbnail.
    pub thumbnail_url: String,
}

impl From<ImageRecord> for ImageView {
    fn from(image: ImageRecord) -> Self {
        Self {
            url: format!("/image/{}", image.id),
            thumbnail_url: format!("/image/{}/thumbnail", image.id),
            image,
        }
    }
}

/// The images stored by one upload, in the order sent.
#[derive(Serialize, ToSchema)]
pub struct UploadResult {
    pub images: Vec<ImageView>,
}

/// One page of images.
#[derive(Serialize, ToSchema)]
pub struct ImagePage {
    /// Newest first.
    pub images: Vec<ImageView>,
    /// Pass as `after` for the next (older) page; null on the last page.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub next: Option<ImageId>,
}

/// Multipart upload form (documentation only): one or more `file` parts, nothing else.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// One or more images (repeat the field); PNG, JPEG, GIF or WebP.
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    file: Vec<Vec<u8>>,
}

/// Upload one or more images (all-or-nothing).
#[utoipa::path(operation_id = "upload_images", post, path = "/upload", tag = "images",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored; bytes and metadata are durable", body = UploadResult),
        UploadProblems,
    ))]
pub async fn upload(State(ctx): State<ApiContext>, request: Request) -> Result<Response, ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(ApiError::UnsupportedMediaType(
            "send images as multipart/form-data, each in a field named `file`".into(),
        ));
    }
    // Wait for a slot before reading the body: bounded memory and disk contention.
    let _permit = ctx
        .upload_permits
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // From here the body must keep arriving, or the slot goes to someone else.
    let (parts, body) = request.into_parts();
    let (guarded, tripped) = RateGuard::new(
        body.into_data_stream(),
        RateRules {
            idle: ctx.limits.uploads.upload_idle_timeout,
            min_rate: ctx.limits.uploads.upload_min_rate,
        },
    );
    let request = Request::from_parts(parts, Body::from_stream(guarded));
    let mut multipart = Multipart::from_request(request, &ctx)
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;

    let mut upload = ctx.gallery.begin_upload();
    let received = receive_all(&mut upload, &mut multipart).await;
    let received = match (received, tripped.reason()) {
        (Err(_), Some(reason)) => Err(ApiError::Timeout(reason.to_owned())),
        (received, _) => received,
    };
    let committed = match received {
        Ok(()) => upload.commit().await.map_err(ApiError::from),
        Err(error) => {
            upload.discard().await;
            Err(error)
        }
    };
    match committed {
        Ok(stored) => {
            let images = stored.into_iter().map(ImageView::from).collect();
            Ok((StatusCode::CREATED, Json(UploadResult { images })).into_response())
        }
        Err(error) => {
            drain(&mut multipart).await;
            Err(error)
        }
    }
}

/// Reads and drops what is left of a refused upload's body (bounded by the body limit
/// and a few seconds), so that a client still sending — a browser — receives the
/// problem instead of a connection reset.
async fn drain(multipart: &mut Multipart) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    })
    .await;
}

/// Hands every `file` part of the form to the upload; any other field is refused.
async fn receive_all(upload: &mut Upload<'_>, multipart: &mut Multipart) -> Result<(), ApiError> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            let name: String = field.name().unwrap_or_default().chars().take(40).collect();
            return Err(ApiError::field(
                "file",
                format!("unexpected form field `{name}`; send images in fields named `file`"),
            ));
        }
        let filename =
            FileName::parse(field.file_name()).map_err(|reason| ApiError::field("file", reason))?;
        upload
            .add(filename, field)
            .await
            .map_err(|failure| match failure {
                FileFailure::Body(error) => multipart_error(error),
                FileFailure::Gallery(error) => error.into(),
            })?;
    }
    Ok(())
}

fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!("the upload is too large: {}", error.body_text()))
    } else {
        ApiError::BadRequest(format!(
            "the multipart body is malformed: {}",
            error.body_text()
        ))
    }
}

/// An image found by the id in the path; anything that is not a UUID cannot exist.
async fn find(ctx: &ApiContext, raw: &str) -> Result<Found, ApiError> {
    let id = ImageId::parse(raw).ok_or_else(|| not_found(raw))?;
    ctx.gallery.find(id).await?.ok_or_else(|| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    let shown: String = raw.chars().take(40).collect();
    ApiError::NotFound(format!("no image with id `{shown}`"))
}

/// List images, newest first.
#[utoipa::path(operation_id = "list_images", get, path = "/images", tag = "images",
    params(
        ("limit" = Option<u16>, Query, description = "Page size, 1..=1000 (default 50)", minimum = 1, maximum = 1000),
        ("after" = Option<String>, Query, format = Uuid, description = "Only images older than this id (the previous page's `next`)"),
    ),
    responses(
        (status = 200, description = "A page of images", body = ImagePage),
        BadPaging,
    ))]
pub async fn list(
    State(ctx): State<ApiContext>,
    query: QueryParams,
) -> Result<JsonResponse<ImagePage>, ApiError> {
    let limit = PageLimit::parse(query.get("limit"))?;
    let after = query
        .get("after")
        .map(|raw| {
            ImageId::parse(raw)
                .ok_or_else(|| ApiError::field("after", "must be an image id (a UUID)"))
        })
        .transpose()?;
    let (records, next) = ctx.gallery.page(after, limit).await?;
    let capacity = 64 + records.len() * 420;
    let images = records.into_iter().map(ImageView::from).collect();
    Ok(JsonResponse::new(ImagePage { images, next }, capacity))
}

/// The image's bytes, with `ETag`, `304` and `Range`/`206`.
#[utoipa::path(operation_id = "get_image", get, path = "/image/{id}", tag = "images",
    params(("id" = String, Path, format = Uuid, description = "Image id")),
    responses(
        (status = 200, description = "The bytes, as the image type they were sniffed as"),
        (status = 206, description = "The requested range"),
        (status = 304, description = "Not modified (If-None-Match)"),
        NoSuchImage,
        RangeNotSatisfiable,
    ))]
pub async fn get(
    State(ctx): State<ApiContext>,
    method: Method,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    // Once more when the bytes moved under the read (`pier images reprocess` switched
    // the image to new bytes, or it was deleted): found again, it names its bytes now,
    // or is a 404.
    for _ in 0..2 {
        if let Some(response) = serve_image(&ctx, &method, &headers, &raw).await? {
            return Ok(response);
        }
    }
    Err(GalleryError::Moved.into())
}

/// The image's response; `None` when its bytes moved while it was read.
async fn serve_image(
    ctx: &ApiContext,
    method: &Method,
    headers: &HeaderMap,
    raw: &str,
) -> Result<Option<Response>, ApiError> {
    let found = find(ctx, raw).await?;
    let record = &found.record;
    let etag = format!("\"{}\"", record.sha256);
    if not_modified(headers, &etag) {
        return Ok(Some(cached_headers(StatusCode::NOT_MODIFIED, &etag, None)));
    }
    let size = record.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if if_range_allows(headers, &etag) => match parse_range(spec, size) {
            RangeRequest::Whole => None,
            RangeRequest::Part(range) => Some(range),
            RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
        },
        _ => None,
    };
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let mut response = cached_headers(status, &etag, Some(&record.content_type));
    let headers_out = response.headers_mut();
    headers_out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers_out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(r) = &range {
        let value = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        headers_out.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).map_err(|e| ApiError::Internal(e.into()))?,
        );
    }
    if method == Method::HEAD {
        return Ok(Some(response));
    }
    let body = match ctx.gallery.read(&found, range.unwrap_or(0..size)).await {
        Ok(ImageBytes::Whole(bytes)) => Body::from(bytes),
        Ok(ImageBytes::Stream(chunks)) => Body::from_stream(chunks),
        Err(GalleryError::Moved) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    Ok(Some(response.map(|_| body)))
}

/// The ladder as the OpenAPI document states it (documentation only: requests are
/// parsed by `VariantSize::parse`, which a unit test keeps equal to this list).
#[derive(ToSchema)]
#[repr(u32)]
#[allow(dead_code)]
pub enum LadderSize {
    S256 = 256,
    S512 = 512,
    S1024 = 1024,
    S2048 = 2048,
}

/// An upright JPEG of the image at most `size` px on its longest side (256 by default;
/// never larger than the original); each size made once and kept.
#[utoipa::path(operation_id = "get_thumbnail", get, path = "/image/{id}/thumbnail", tag = "images",
    params(
        ("id" = String, Path, format = Uuid, description = "Image id"),
        ("size" = Option<LadderSize>, Query, description = "Longest side in pixels, one of the ladder 256, 512, 1024, 2048 (default 256); anything else is a 422"),
    ),
    responses(
        (status = 200, description = "The variant", content_type = "image/jpeg"),
        (status = 304, description = "Not modified (If-None-Match)"),
        NoSuchImage,
        Undecodable,
    ))]
pub async fn thumbnail(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let size = query
        .get("size")
        .map(VariantSize::parse)
        .transpose()
        .map_err(|reason| ApiError::field("size", &reason))?
        .unwrap_or(VariantSize::THUMBNAIL);
    let found = find(&ctx, &raw).await?;
    let etag = if size == VariantSize::THUMBNAIL {
        format!("\"thumb-{}\"", found.record.sha256)
    } else {
        format!("\"thumb{size}-{}\"", found.record.sha256)
    };
    if not_modified(&headers, &etag) {
        return Ok(cached_headers(StatusCode::NOT_MODIFIED, &etag, None));
    }
    let bytes = ctx.gallery.thumbnail(&found, size).await?;
    Ok(cached_headers(StatusCode::OK, &etag, Some("image/jpeg")).map(|_| Body::from(bytes)))
}

/// Delete an image and its thumbnail.
#[utoipa::path(operation_id = "delete_image", delete, path = "/image/{id}", tag = "images",
    params(("id" = String, Path, format = Uuid, description = "Image id")),
    responses(
        (status = 204, description = "Deleted"),
        NoSuchImage,
    ))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ImageId::parse(&raw).ok_or_else(|| not_found(&raw))?;
    if ctx.gallery.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&raw))
    }
}

#[cfg(test)]
mod ladder_tests {
    use super::LadderSize;
    use crate::domain::image::VariantSize;

    #[test]
    fn the_documented_ladder_is_the_parsed_one() {
        let documented = [
            LadderSize::S256 as u32,
            LadderSize::S512 as u32,
            LadderSize::S1024 as u32,
            LadderSize::S2048 as u32,
        ];
        assert_eq!(documented, VariantSize::LADDER);
    }
}
