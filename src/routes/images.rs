//! `/upload`, `/images`, `/image/{id}`: streamed uploads, conditional and ranged reads.

use axum::{
    Json,
    body::Body,
    extract::{
        FromRequest, Path, Request, State,
        multipart::{Field, Multipart, MultipartError},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    body_rate::{RateGuard, RateRules},
    context::ApiContext,
    domain::{FileName, ImageId, ImageInspector, PageLimit, image::ImageRejection},
    error::{ApiError, FieldErrors, Problem},
    extract::QueryParams,
    imaging::ThumbnailError,
    response::JsonResponse,
    spool::SpoolWriter,
    store::{Blobs, ImageRecord, blobs::BlobWriter},
};
use bytes::Bytes;

/// Objects up to this size are read whole before sending; larger ones are streamed.
const INLINE_READ_LIMIT: u64 = 1 << 20;

/// Cache policy for content-addressed, never-changing bytes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

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
        (status = 400, description = "Broken multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A file or the body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A file is not an acceptable image", body = Problem, content_type = "application/problem+json"),
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
            idle: ctx.limits.upload_idle_timeout,
            min_rate: ctx.limits.upload_min_rate,
        },
    );
    let request = Request::from_parts(parts, Body::from_stream(guarded));
    let mut multipart = Multipart::from_request(request, &ctx)
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;

    let mut stored: Vec<ImageRecord> = Vec::new();
    let outcome = receive_all(&ctx, &mut multipart, &mut stored).await;
    let outcome = match (outcome, tripped.reason()) {
        (Err(_), Some(reason)) => Err(ApiError::Timeout(reason.to_owned())),
        (outcome, _) => outcome,
    };
    let outcome = match (outcome, &ctx.spool) {
        (Ok(()), None) => ctx.images().insert_all(&stored).await,
        // Remote backends: push now, or keep durably in the spool and replay later.
        (Ok(()), Some(spool)) => match spool
            .accept(
                &ctx.blobs,
                ctx.images().as_ref(),
                std::mem::take(&mut stored),
            )
            .await
        {
            Ok(accepted) => {
                stored = accepted;
                Ok(())
            }
            Err(error) => Err(error),
        },
        (Err(error), _) => Err(error),
    };
    if let Err(error) = outcome {
        // All-or-nothing: nothing of this request stays behind.
        discard(&ctx, &stored).await;
        drain(&mut multipart).await;
        metrics::counter!("uploads_total", "result" => "rejected").increment(1);
        return Err(error);
    }
    let bytes: u64 = stored.iter().map(|r| r.size).sum();
    metrics::counter!("uploads_total", "result" => "accepted").increment(stored.len() as u64);
    metrics::counter!("upload_bytes_total").increment(bytes);
    let images = stored.into_iter().map(ImageView::from).collect();
    Ok((StatusCode::CREATED, Json(UploadResult { images })).into_response())
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

/// Removes what a refused upload wrote (its objects, or its spool files).
async fn discard(ctx: &ApiContext, stored: &[ImageRecord]) {
    if let Some(spool) = &ctx.spool {
        spool.discard(stored.iter().map(|r| r.id).collect()).await;
        return;
    }
    for record in stored {
        if let Err(cleanup) = ctx.blobs.delete(&Blobs::image_key(record.id)).await {
            tracing::warn!(error = %cleanup, id = %record.id, "could not remove an object; the orphan sweep will");
        }
    }
}

async fn receive_all(
    ctx: &ApiContext,
    multipart: &mut Multipart,
    stored: &mut Vec<ImageRecord>,
) -> Result<(), ApiError> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            let name: String = field.name().unwrap_or_default().chars().take(40).collect();
            return Err(ApiError::field(
                "file",
                format!("unexpected form field `{name}`; send images in fields named `file`"),
            ));
        }
        if stored.len() >= ctx.limits.max_files_per_upload as usize {
            return Err(ApiError::field(
                "file",
                format!(
                    "at most {} files may be sent in one request",
                    ctx.limits.max_files_per_upload
                ),
            ));
        }
        stored.push(store_one(ctx, field).await?);
    }
    if stored.is_empty() {
        return Err(ApiError::field(
            "file",
            "send at least one image in a form field named `file`",
        ));
    }
    Ok(())
}

/// Streams one file to storage while sniffing, measuring and hashing it. The object is
/// durable when this returns; it has no metadata row yet, so it is not visible.
async fn store_one(ctx: &ApiContext, mut field: Field<'_>) -> Result<ImageRecord, ApiError> {
    let filename =
        FileName::parse(field.file_name()).map_err(|reason| ApiError::field("file", reason))?;
    let refuse = |rejection: ImageRejection| refused(&filename, rejection);
    let id = ImageId::generate();
    let mut inspector = ImageInspector::new(ctx.limits.max_image_pixels, ctx.limits.decode_memory);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut sink: Option<Sink> = None;
    let result: Result<(), ApiError> = async {
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            size += chunk.len() as u64;
            if size > ctx.limits.max_upload_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "`{}` is larger than the limit of {} bytes",
                    filename.as_str(),
                    ctx.limits.max_upload_bytes
                )));
            }
            inspector.feed(&chunk).map_err(refuse)?;
            hasher.update(&chunk);
            if sink.is_none() {
                sink = Some(Sink::open(ctx, id).await?);
            }
            if let Some(sink) = sink.as_mut() {
                sink.write(chunk).await?;
            }
        }
        Ok(())
    }
    .await;
    let inspected = result.and_then(|()| inspector.finish().map_err(refuse));
    let inspected = match inspected {
        Ok(inspected) => inspected,
        Err(error) => {
            if let Some(sink) = sink {
                sink.abort(ctx, id).await;
            }
            return Err(error);
        }
    };
    sink.ok_or_else(|| refuse(ImageRejection::Empty))?
        .finish()
        .await?;
    Ok(ImageRecord {
        id,
        filename: filename.as_str().to_owned(),
        content_type: inspected.kind.content_type().to_owned(),
        size: inspected.size,
        width: inspected.dimensions.width,
        height: inspected.dimensions.height,
        sha256: hex::encode(hasher.finalize()),
        location: ctx.blobs.location().to_owned(),
        created_at: OffsetDateTime::now_utc(),
    })
}

/// Where an upload's bytes stream to: the object store, or the spool when remote
/// backends are configured (pushed from there once the whole upload is accepted).
enum Sink {
    Blob(BlobWriter),
    Spool(SpoolWriter),
}

impl Sink {
    async fn open(ctx: &ApiContext, id: ImageId) -> Result<Self, ApiError> {
        Ok(match &ctx.spool {
            Some(spool) => Self::Spool(spool.writer(id).await?),
            None => Self::Blob(ctx.blobs.writer(Blobs::image_key(id))),
        })
    }

    async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), ApiError> {
        match self {
            Self::Blob(writer) => writer.write(chunk).await,
            Self::Spool(writer) => writer.write(&chunk).await,
        }
    }

    async fn finish(self) -> Result<(), ApiError> {
        match self {
            Self::Blob(writer) => writer.finish().await,
            Self::Spool(writer) => writer.finish().await,
        }
    }

    async fn abort(self, ctx: &ApiContext, id: ImageId) {
        match self {
            Self::Blob(writer) => writer.abort().await,
            Self::Spool(writer) => {
                drop(writer);
                if let Some(spool) = &ctx.spool {
                    spool.discard(vec![id]).await;
                }
            }
        }
    }
}

/// A refused file, named in the problem so a multi-file client knows which one.
fn refused(filename: &FileName, rejection: ImageRejection) -> ApiError {
    let mut errors = FieldErrors::new();
    errors.insert(
        "file".into(),
        vec![format!("{}: {rejection}", filename.as_str())],
    );
    ApiError::Validation {
        detail: format!("`{}` was refused: {rejection}", filename.as_str()),
        errors,
    }
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

/// An image's record, and whether it is waiting in the spool. The spool's in-memory
/// index is consulted first: it is free, and a spooled image has the same record and
/// bytes wherever it is read from; otherwise the metadata store decides.
async fn find(ctx: &ApiContext, id: ImageId, raw: &str) -> Result<(ImageRecord, bool), ApiError> {
    if let Some(record) = ctx.spool.as_ref().and_then(|spool| spool.get(id)) {
        return Ok((record, true));
    }
    let record = ctx.images().get(id).await?.ok_or_else(|| not_found(raw))?;
    Ok((record, false))
}

/// An image id from the path; anything that is not a UUID cannot exist.
fn image_id(raw: &str) -> Result<ImageId, ApiError> {
    ImageId::parse(raw).ok_or_else(|| not_found(raw))
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
        (status = 422, description = "Bad paging parameter", body = Problem, content_type = "application/problem+json"),
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
    let mut records = ctx.images().list(after, limit.fetch()).await?;
    if let Some(spool) = &ctx.spool {
        spool.merge_into(&mut records, after, usize::from(limit.fetch()));
    }
    let next = limit.cut(&mut records, |record| record.id);
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
        (status = 404, description = "No such image", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(ctx): State<ApiContext>,
    method: Method,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = image_id(&raw)?;
    let (record, spooled) = find(&ctx, id, &raw).await?;
    let etag = format!("\"{}\"", record.sha256);
    if not_modified(&headers, &etag) {
        return Ok(cached_headers(StatusCode::NOT_MODIFIED, &etag, None));
    }
    let size = record.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if if_range_allows(&headers, &etag) => match parse_range(spec, size) {
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
        return Ok(response);
    }
    let missing = || {
        ApiError::Internal(anyhow::anyhow!(
            "image {id} has metadata but no object in storage"
        ))
    };
    let key = Blobs::image_key(id);
    let span = range.clone().unwrap_or(0..size);
    // A spooled image is read from the spool; if it has just been replayed (and left
    // the spool) the object store has it.
    if spooled && let Some(spool) = &ctx.spool {
        let body = if length <= INLINE_READ_LIMIT {
            spool.read(id, span.clone()).await?.map(Body::from)
        } else {
            spool.stream(id, span.clone()).await?.map(Body::from_stream)
        };
        if let Some(body) = body {
            return Ok(response.map(|_| body));
        }
    }
    // Small objects are read in one go (and cached); large ones stream, so memory stays
    // bounded whatever the object size.
    let body = if length <= INLINE_READ_LIMIT {
        Body::from(
            ctx.blobs
                .read(&key, size, span)
                .await?
                .ok_or_else(missing)?,
        )
    } else {
        Body::from_stream(
            ctx.blobs
                .get(&key, range)
                .await?
                .ok_or_else(missing)?
                .into_stream(),
        )
    };
    Ok(response.map(|_| body))
}

/// A JPEG thumbnail, at most 256 px on its longest side; made on first request and kept.
#[utoipa::path(operation_id = "get_thumbnail", get, path = "/image/{id}/thumbnail", tag = "images",
    params(("id" = String, Path, format = Uuid, description = "Image id")),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The image cannot be decoded within the decode limits (remembered: later requests get the same answer at once)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn thumbnail(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = image_id(&raw)?;
    let (record, spooled) = find(&ctx, id, &raw).await?;
    let etag = format!("\"thumb-{}\"", record.sha256);
    if not_modified(&headers, &etag) {
        return Ok(cached_headers(StatusCode::NOT_MODIFIED, &etag, None));
    }
    let bytes = if spooled {
        spooled_thumbnail(&ctx, id, record.size).await?
    } else {
        None
    };
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => stored_thumbnail(&ctx, id).await?,
    };
    Ok(cached_headers(StatusCode::OK, &etag, Some("image/jpeg")).map(|_| Body::from(bytes)))
}

/// A spooled image's thumbnail, made from the spool and not kept (the object store may
/// be the thing that is down); a failure is remembered in memory. `None` when the image
/// has just left the spool for the object store.
async fn spooled_thumbnail(
    ctx: &ApiContext,
    id: ImageId,
    size: u64,
) -> Result<Option<Bytes>, ApiError> {
    if let Some(reason) = ctx.thumbnails.remembered_failure(id) {
        return Err(ThumbnailError::Undecodable(reason).into());
    }
    let Some(spool) = ctx.spool.clone() else {
        return Ok(None);
    };
    let Some(original) = spool.read(id, 0..size).await? else {
        return Ok(None);
    };
    let made = ctx.thumbnails.clone();
    let flight = async move {
        let result = made.make(original).await;
        if let Err(ThumbnailError::Undecodable(reason)) = &result {
            made.remember_failure(id, reason.clone());
        }
        result
    };
    Ok(Some(ctx.thumbnails.single_flight(id, flight).await?))
}

/// A stored image's thumbnail: the kept one, the kept failure, or — once, however many
/// ask at the same time — a decode whose result (thumbnail or failure) is kept.
async fn stored_thumbnail(ctx: &ApiContext, id: ImageId) -> Result<Bytes, ApiError> {
    if let Some(bytes) = ctx.blobs.get_bytes(&Blobs::thumbnail_key(id)).await? {
        return Ok(bytes);
    }
    if let Some(reason) = remembered_failure(ctx, id).await? {
        return Err(ThumbnailError::Undecodable(reason).into());
    }
    let flight_ctx = ctx.clone();
    let flight = async move {
        let ctx = flight_ctx;
        // A flight that ended between the checks above and this one left its result.
        if let Some(bytes) = ctx.blobs.get_bytes(&Blobs::thumbnail_key(id)).await? {
            return Ok(bytes);
        }
        if let Some(reason) = remembered_failure(&ctx, id).await? {
            return Err(ThumbnailError::Undecodable(reason));
        }
        let original = ctx
            .blobs
            .get_bytes(&Blobs::image_key(id))
            .await?
            .ok_or_else(|| {
                ThumbnailError::Internal(format!(
                    "image {id} has metadata but no object in storage"
                ))
            })?;
        match ctx.thumbnails.make(original).await {
            Ok(thumbnail) => {
                ctx.blobs
                    .put_bytes(&Blobs::thumbnail_key(id), thumbnail.clone())
                    .await?;
                Ok(thumbnail)
            }
            Err(ThumbnailError::Undecodable(reason)) => {
                ctx.thumbnails.remember_failure(id, reason.clone());
                ctx.blobs
                    .put_bytes(
                        &Blobs::thumbnail_failure_key(id),
                        Bytes::from(reason.clone().into_bytes()),
                    )
                    .await?;
                Err(ThumbnailError::Undecodable(reason))
            }
            Err(other) => Err(other),
        }
    };
    Ok(ctx.thumbnails.single_flight(id, flight).await?)
}

/// Why a stored image's thumbnail could not be made, if that was tried before.
async fn remembered_failure(ctx: &ApiContext, id: ImageId) -> Result<Option<String>, ApiError> {
    if let Some(reason) = ctx.thumbnails.remembered_failure(id) {
        return Ok(Some(reason));
    }
    Ok(ctx
        .blobs
        .get_bytes(&Blobs::thumbnail_failure_key(id))
        .await?
        .map(|reason| String::from_utf8_lossy(&reason).into_owned()))
}

/// Delete an image and its thumbnail.
#[utoipa::path(operation_id = "delete_image", delete, path = "/image/{id}", tag = "images",
    params(("id" = String, Path, format = Uuid, description = "Image id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such image", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = image_id(&raw)?;
    // No replay may move this image from the spool to the remote side meanwhile.
    let _paused = match &ctx.spool {
        Some(spool) => Some(spool.pause_replay().await),
        None => None,
    };
    // Metadata first: once the row is gone the image is invisible; objects left by a
    // failure below are orphans that the sweep removes.
    let remote = ctx.images().delete(id).await?;
    let spooled = match &ctx.spool {
        Some(spool) => spool.remove(id).await?,
        None => false,
    };
    if !remote && !spooled {
        return Err(not_found(&raw));
    }
    for key in [
        Blobs::image_key(id),
        Blobs::thumbnail_key(id),
        Blobs::thumbnail_failure_key(id),
    ] {
        if let Err(error) = ctx.blobs.delete(&key).await {
            tracing::warn!(%error, %id, "could not delete an object; the orphan sweep will");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn cached_headers(status: StatusCode, etag: &str, content_type: Option<&str>) -> Response {
    let mut response = Response::builder().status(status);
    if let Ok(value) = HeaderValue::from_str(etag) {
        response = response.header(header::ETAG, value);
    }
    response = response
        .header(header::CACHE_CONTROL, IMMUTABLE)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // Served images are never a document that can run script.
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        );
    if let Some(content_type) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        response = response.header(header::CONTENT_TYPE, content_type);
    }
    response.body(Body::empty()).unwrap_or_default()
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// `If-Range` with another validator means "send it all": the client's part is stale.
fn if_range_allows(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|value| value.trim() == etag)
}

/// What a `Range` header asks for, against an object of known size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Ignore the header (malformed, or several ranges): send everything with 200.
    Whole,
    /// One satisfiable range, end exclusive.
    Part(std::ops::Range<u64>),
    /// A well-formed range that selects nothing: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range (RFC 9110 §14.1.2); multiple ranges are served whole.
pub fn parse_range(spec: &str, size: u64) -> RangeRequest {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if set.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(size.saturating_sub(n)..size),
            None => RangeRequest::Whole,
        },
        (start, "") => match number(start) {
            Some(s) if s < size => RangeRequest::Part(s..size),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(s), Some(e)) if s > e => RangeRequest::Whole,
            (Some(s), Some(_)) if s >= size => RangeRequest::Unsatisfiable,
            (Some(s), Some(e)) => RangeRequest::Part(s..e.saturating_add(1).min(size)),
            _ => RangeRequest::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Part(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Part(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0..100));
        assert_eq!(parse_range("bytes=50-1000", 100), Part(50..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=a-b", 100), Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Whole);
    }
}
