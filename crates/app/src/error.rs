//! What a caller can be told went wrong, without HTTP: the server maps each
//! kind to a status code, the CLI prints the message. Internal details stay
//! in the log.

use serde::{Deserialize, Serialize};

/// Every failure of an operation, as its caller sees it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum AppError {
    /// The request is malformed or names something impossible (400).
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks the role (or the access table has no row): 403.
    #[error("{0}")]
    Forbidden(String),
    /// A named thing that does not exist (404).
    #[error("{0}")]
    Missing(String),
    /// The thing exists but is not in a state that allows this (409).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but over one of the server's limits (422); the message
    /// names the limit's key.
    #[error("{0}")]
    OverLimit(String),
    /// The caller runs too many of these at once (429).
    #[error("{0}")]
    TooMany(String),
    /// Not now: shutting down, or the audit record that must come first
    /// could not be written (503, retry later).
    #[error("{0}")]
    NotNow(String),
    /// The data directory's disk is full (507).
    #[error("{0}")]
    StorageFull(String),
    /// Stored data cannot be read (500), said without file system paths.
    #[error("{0}")]
    Damaged(String),
    /// Anything else (500); the details are in the log.
    #[error("internal error; see the server log")]
    Internal,
}

impl AppError {
    /// Logs `e` in full and tells the caller only that it failed.
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "operation failed");
        AppError::Internal
    }
}
