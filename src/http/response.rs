//! JSON responses serialised into a buffer sized up front: a page of items is ~15 KiB,
//! and growing axum's default 128-byte buffer to that took seven reallocations.

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::http::error::ApiError;

/// A JSON body with a capacity hint in bytes.
pub struct JsonResponse<T> {
    value: T,
    capacity: usize,
}

impl<T: Serialize> JsonResponse<T> {
    /// `capacity`: the expected size; a good guess saves copies, a bad one costs nothing else.
    pub fn new(value: T, capacity: usize) -> Self {
        Self { value, capacity }
    }
}

impl<T: Serialize> IntoResponse for JsonResponse<T> {
    fn into_response(self) -> Response {
        let mut buffer = Vec::with_capacity(self.capacity);
        match serde_json::to_writer(&mut buffer, &self.value) {
            Ok(()) => {
                let mut response = Response::new(Body::from(buffer));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(error) => {
                ApiError::Internal(anyhow::Error::new(error).context("serialising a response"))
                    .into_response()
            }
        }
    }
}
