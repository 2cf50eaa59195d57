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
    /// The PostgreSQL catalog (its URL without the password).
    #[error("catalog in PostgreSQL at {url}: {why}")]
    Postgres { url: String, why: String },
    #[error("catalog in PostgreSQL at {url}: {source}")]
    PgSchema {
        url: String,
        source: pramaan_db::pg::PgSchemaError,
    },
    #[error("catalog row for segment {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
}
