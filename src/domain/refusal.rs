//! Why untrusted input was refused, in the domain's terms; `http::error` turns a
//! refusal into a 400 (not parseable) or a 422 naming each field.

use std::collections::BTreeMap;

/// Field name → human-readable messages, as sent in a 422 problem's `errors`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Input that does not parse into a domain value.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not parseable at all: malformed JSON, a field sent twice.
    #[error("{0}")]
    Malformed(String),
    /// Parsed, but broke a rule: every failing field and why.
    #[error("the request breaks a validation rule")]
    Invalid(FieldErrors),
}

impl Refusal {
    /// One field with one message: the common case in parsers.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        Self::Invalid(errors)
    }
}
