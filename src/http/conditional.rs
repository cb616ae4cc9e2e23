//! Conditional and ranged reads of immutable, content-addressed bytes (RFC 9110):
//! `ETag` / `If-None-Match` → 304, `Range` / `If-Range` → 206 or 416, and the headers
//! every served image carries.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};

/// Cache policy for content-addressed, never-changing bytes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An empty response with the headers of served image bytes: its validator, a year of
/// caching, and a policy that no browser treats it as a document.
pub fn cached_headers(status: StatusCode, etag: &str, content_type: Option<&str>) -> Response {
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

/// Whether `If-None-Match` names this validator (or `*`): answer 304.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// `If-Range` with another validator means "send it all": the client's part is stale.
pub fn if_range_allows(headers: &HeaderMap, etag: &str) -> bool {
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
