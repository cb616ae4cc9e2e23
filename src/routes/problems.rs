//! The problem responses the OpenAPI document lists, each written once and named by
//! what went wrong; handlers list them in `responses(...)`. Every one is an RFC 9457
//! `application/problem+json` body (`http::error::Problem`).

use utoipa::IntoResponses;

use crate::http::error::Problem;

/// What every endpoint that reads a JSON body may answer before looking at its fields.
#[derive(IntoResponses)]
pub enum JsonBodyProblems {
    /// Malformed JSON
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// Body too large
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Not JSON
    #[response(status = 415, content_type = "application/problem+json")]
    NotJson(Problem),
}

/// What `POST /upload` may answer besides 201.
#[derive(IntoResponses)]
pub enum UploadProblems {
    /// Broken multipart body
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// A file or the body is too large
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Not multipart/form-data
    #[response(status = 415, content_type = "application/problem+json")]
    NotMultipart(Problem),
    /// A file is not an acceptable image
    #[response(status = 422, content_type = "application/problem+json")]
    NotAnImage(Problem),
}

/// Declares one documented problem response: its type name, status and description.
macro_rules! problem {
    ($(#[$doc:meta])* $name:ident, $status:literal, $description:literal) => {
        $(#[$doc])*
        #[derive(IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        pub struct $name(pub Problem);
    };
}

problem!(
    /// An item body that parsed but broke a rule.
    InvalidItem, 422, "A field breaks a rule"
);
problem!(
    /// A `/predict` body that parsed but broke a rule.
    InvalidTexts, 422, "A text too long, too many texts, or a wrong type"
);
problem!(
    /// `limit` or `after` out of range or of the wrong shape.
    BadPaging, 422, "Bad paging parameter"
);
problem!(
    /// No item with this id.
    NoSuchItem, 404, "No such item"
);
problem!(
    /// No image with this id.
    NoSuchImage, 404, "No such image"
);
problem!(
    /// A range that selects nothing in the image.
    RangeNotSatisfiable, 416, "Range not satisfiable"
);
problem!(
    /// A size outside the ladder, or a stored image that cannot be decoded for a variant.
    Undecodable, 422,
    "`size` is not on the ladder (256, 512, 1024, 2048), or the image cannot be decoded within the decode limits (remembered: later requests get the same answer at once)"
);
problem!(
    /// Readiness when a dependency is down.
    NotReady, 503, "A dependency is down: a problem with a `checks` member"
);
