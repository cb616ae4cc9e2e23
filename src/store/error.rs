//! What a backend can fail with, in storage terms. The store decides *what* happened
//! (the backend is unreachable, the data contradicts itself); `error.rs` alone decides
//! which HTTP status that becomes, and the CLI prints it as it is.

/// A failure of a store: database, metadata store, object storage or the spool.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached right now (connect failure, timeout, closed pool):
    /// worth retrying later, and what the spool falls back on.
    #[error("{0}")]
    Unavailable(String),
    /// The write contradicts what is stored (an id or key that already exists).
    #[error("{0}")]
    Conflict(String),
    /// What is stored contradicts itself: a record without its object, a malformed item,
    /// a copy that differs from its source. Never the client's fault.
    #[error("{0}")]
    Corrupt(String),
    /// Anything else the backend refused or failed with.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl StoreError {
    /// Whether the backend is unreachable (as opposed to refusing or failing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
