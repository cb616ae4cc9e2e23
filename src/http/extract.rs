//! Extractors that turn requests into domain input and every failure into problem+json
//! (axum's own rejections are plain text).

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
};

use crate::{context::ApiContext, http::error::ApiError};

/// A JSON request body: `Content-Type` checked (415), size bounded (413). Parsing into a
/// domain type is left to that type's parser, which reports per-field errors.
pub struct JsonBody(pub Bytes);

impl JsonBody {
    /// Reads a JSON body of at most `limit` bytes (endpoints with larger bodies, such as
    /// batch prediction, call this with their own limit).
    pub async fn read(request: Request, limit: u64) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json".into(),
            ));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        match axum::body::to_bytes(request.into_body(), limit).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(error) if is_length_limit(&error) => Err(ApiError::PayloadTooLarge(format!(
                "the JSON body is larger than {limit} bytes"
            ))),
            Err(error) => Err(ApiError::BadRequest(format!(
                "the body could not be read: {error}"
            ))),
        }
    }
}

impl FromRequest<ApiContext> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiContext) -> Result<Self, ApiError> {
        Self::read(request, state.limits.bodies.max_json_bytes).await
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// `application/json` or any `application/*+json`, with optional parameters.
fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query parameters as name/value pairs; decoding never fails (bad escapes are kept
/// as sent), and each handler parses the values it knows.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        let ok = |s: &'static str| is_json(Some(&header::HeaderValue::from_static(s)));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/jsonx"));
        assert!(!is_json(None));
    }

    #[test]
    fn query_keeps_the_last_value() {
        let query = QueryParams::parse(Some("limit=5&after=3&limit=7&x=%ZZ"));
        assert_eq!(query.get("limit"), Some("7"));
        assert_eq!(query.get("after"), Some("3"));
        assert_eq!(query.get("missing"), None);
    }
}
