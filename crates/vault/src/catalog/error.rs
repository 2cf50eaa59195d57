//! What can go wrong with the catalog.

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    /// Opening it, or its schema (newer than this binary, or older and
    /// opened read-only).
    #[error("catalog database: {0}")]
    Open(#[from] pramaan_db::OpenError),
    #[error("catalog row for segment {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
}
