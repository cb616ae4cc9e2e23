//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers and the middleware return `ApiError` (handlers with `?`); storage and
//! gallery errors convert into it by `From`. This is the only place where an error
//! becomes a status code, a problem body and its headers (`Retry-After`,
//! `WWW-Authenticate`, `Content-Range`), so the mapping stays consistent across the API.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::domain::FieldErrors;

/// An RFC 9457 problem document, the body of every 4xx/5xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type (`about:blank` for plain HTTP statuses).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words a client developer can act on.
    pub detail: String,
    /// Validation failures per field (only on 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
    /// Each dependency's state (only on the readiness probe's 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub checks: Option<serde_json::Value>,
}

/// How long a client is asked to wait when a backend is unavailable: probes answer
/// within 2 s, so a few seconds later the answer may differ.
pub const BACKEND_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Everything a handler can fail with. Each variant picks its status once, here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not parseable (malformed JSON, broken multipart).
    #[error("{0}")]
    BadRequest(String),
    /// No resource at this address, or an id of a shape that cannot exist.
    #[error("{0}")]
    NotFound(String),
    /// The body, a file or a part is larger than its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request's `Content-Type` is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A `Range` header that selects nothing in the object.
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    /// The request contradicts the stored state (an id that already exists).
    #[error("{0}")]
    Conflict(String),
    /// Parsed, but broke a rule; `errors` says which field and why.
    #[error("{detail}")]
    Validation { detail: String, errors: FieldErrors },
    /// The client sent its request too slowly (an upload body that stalled or trickled).
    #[error("{0}")]
    Timeout(String),
    /// A backend (database, object storage) cannot be reached right now.
    #[error("{0}")]
    Unavailable(String),
    /// A write without a valid bearer token; `challenge` is the `WWW-Authenticate` value.
    #[error("{detail}")]
    Unauthorized {
        detail: &'static str,
        challenge: &'static str,
    },
    /// The client spent its rate budget; it may come back after `retry_after`.
    #[error("too many requests from this client; retry after the number of seconds in Retry-After")]
    TooManyRequests { retry_after: Duration },
    /// The server is at its in-flight limit: shed at once, retry shortly.
    #[error("the server is at capacity; retry shortly")]
    AtCapacity,
    /// The handler panicked (logged where it is caught; nothing of it is sent).
    #[error("a handler panicked")]
    Panicked,
    /// This replica is not ready; `checks` says which dependency is down.
    #[error("{detail}")]
    NotReady {
        detail: String,
        checks: serde_json::Value,
    },
    /// A fault on our side. The detail is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 for one field with one message: the common case in parsers.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        Self::Validation {
            detail: "the request breaks a validation rule".into(),
            errors,
        }
    }

    /// A 422 from a set of field errors collected by a parser.
    pub fn validation(errors: FieldErrors) -> Self {
        Self::Validation {
            detail: "the request breaks a validation rule".into(),
            errors,
        }
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) | Self::AtCapacity | Self::NotReady { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) | Self::Panicked => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Input the domain refused: not parseable → 400, broke a rule → 422 with every field.
impl From<crate::domain::Refusal> for ApiError {
    fn from(refusal: crate::domain::Refusal) -> Self {
        match refusal {
            crate::domain::Refusal::Malformed(detail) => Self::BadRequest(detail),
            crate::domain::Refusal::Invalid(errors) => Self::validation(errors),
        }
    }
}

/// Storage failures become statuses here and nowhere else: unreachable → 503 with
/// `Retry-After`, a conflict → 409, anything else (including stored data that
/// contradicts itself) → 500, logged and never sent.
impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::Corrupt(detail) => Self::Internal(anyhow::anyhow!(detail)),
            StoreError::Other(error) => Self::Internal(error),
        }
    }
}

/// The gallery's refusals become statuses here: a file too large → 413, a file that is
/// not an acceptable image (or an upload with too many or no files) → 422 on `file`,
/// naming the file so a multi-file client knows which one.
impl From<crate::services::gallery::GalleryError> for ApiError {
    fn from(error: crate::services::gallery::GalleryError) -> Self {
        use crate::services::gallery::GalleryError;
        match error {
            GalleryError::Store(error) => error.into(),
            GalleryError::FileTooLarge { .. } => Self::PayloadTooLarge(error.to_string()),
            GalleryError::TooManyFiles(_) | GalleryError::NoFiles => {
                Self::field("file", error.to_string())
            }
            GalleryError::Refused {
                ref filename,
                ref rejection,
            } => {
                let mut errors = FieldErrors::new();
                errors.insert("file".into(), vec![format!("{filename}: {rejection}")]);
                Self::Validation {
                    detail: error.to_string(),
                    errors,
                }
            }
            GalleryError::Undecodable(_) => Self::field("file", error.to_string()),
            GalleryError::Moved => crate::store::StoreError::Unavailable(error.to_string()).into(),
        }
    }
}

/// Builds a problem response for a status with a detail message.
pub fn problem_response(
    status: StatusCode,
    detail: impl Into<String>,
    errors: Option<FieldErrors>,
) -> Response {
    let problem = Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
        errors,
        checks: None,
    };
    with_problem_type((status, Json(problem)).into_response())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut retry_after = None;
        let mut response = match self {
            Self::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "internal error");
                problem_response(status, INTERNAL_DETAIL, None)
            }
            Self::Panicked => problem_response(status, INTERNAL_DETAIL, None),
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "backend unavailable");
                retry_after = Some(BACKEND_RETRY_AFTER);
                problem_response(status, detail, None)
            }
            Self::NotReady { detail, checks } => {
                retry_after = Some(BACKEND_RETRY_AFTER);
                let problem = Problem {
                    kind: "about:blank".into(),
                    title: "Service Unavailable".into(),
                    status: status.as_u16(),
                    detail,
                    errors: None,
                    checks: Some(checks),
                };
                with_problem_type((status, Json(problem)).into_response())
            }
            Self::AtCapacity => {
                retry_after = Some(Duration::from_secs(1));
                problem_response(status, Self::AtCapacity.to_string(), None)
            }
            Self::TooManyRequests { retry_after: wait } => {
                retry_after = Some(wait);
                problem_response(status, self.to_string(), None)
            }
            Self::Unauthorized { detail, challenge } => {
                let mut response = problem_response(status, detail, None);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                response
            }
            Self::Validation { detail, errors } => problem_response(status, detail, Some(errors)),
            Self::RangeNotSatisfiable { size } => {
                let mut response = problem_response(
                    status,
                    format!("the range selects nothing in an object of {size} bytes"),
                    None,
                );
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response
            }
            other => {
                let detail = other.to_string();
                problem_response(status, detail, None)
            }
        };
        if let Some(wait) = retry_after {
            // Whole seconds, at least 1: a client must not come back at once.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// What a client is told about a fault on our side (the fault itself is logged).
const INTERNAL_DETAIL: &str = "an internal error occurred; it has been logged";

/// Marks a response as `application/problem+json`.
fn with_problem_type(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// Safety net for responses that no handler shaped: axum's own rejections, the fallback,
/// 405s. Any 4xx/5xx that is not already problem+json is rewritten into one, so a client
/// never sees a plain-text or empty error body.
pub async fn ensure_problem_json(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Keep a short plain-text reason (axum's rejections carry one) as the detail.
    let detail = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => default_detail(status).to_owned(),
    };
    let mut fresh = problem_response(status, detail, None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().append(name.clone(), value.clone());
        }
    }
    fresh
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no resource at this address",
        StatusCode::METHOD_NOT_ALLOWED => {
            "this method is not allowed on this resource; see the Allow header"
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this endpoint accepts",
        StatusCode::REQUEST_TIMEOUT => "the request took too long",
        StatusCode::INTERNAL_SERVER_ERROR => INTERNAL_DETAIL,
        _ => "the request could not be served",
    }
}

/// Fallback for unknown routes: a 404 problem rather than axum's empty body.
pub async fn not_found() -> Response {
    problem_response(StatusCode::NOT_FOUND, "no resource at this address", None)
}

/// Fallback for a known route with a method it does not serve.
pub async fn method_not_allowed() -> Response {
    problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not allowed on this resource; see the Allow header",
        None,
    )
}
