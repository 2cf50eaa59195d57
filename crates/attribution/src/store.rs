//! The storage trait both stores implement: the embedded one (`MemStore`,
//! in-memory index persisted in the data directory) and PostgreSQL
//! (`PgStore`). They depend on this module, never the other way round (the
//! trait's documentation lists its implementors).

use crate::index::Index;
use crate::model::{Binding, Probe};
use std::future::Future;
use std::pin::Pin;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("attribution store in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] crate::index::IndexFileError),
    #[error("attribution store in {path}: {what}")]
    Corrupt { path: String, what: String },
    #[error("PostgreSQL attribution store: {0}")]
    Postgres(String),
    #[error("attribution store: {0}")]
    Other(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message when it gave one (the default Display says only "db error").
        let msg = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        StoreError::Postgres(msg)
    }
}

impl From<pramaan_db::pg::PgSchemaError> for StoreError {
    fn from(e: pramaan_db::pg::PgSchemaError) -> Self {
        StoreError::Postgres(e.to_string())
    }
}

/// What the log feeder needs back after a restart.
#[derive(Debug, Default, Clone)]
pub struct FeedState {
    /// The highest vault sequence number whose record has been processed.
    pub last_seq: Option<u64>,
    /// Sessions started and not yet stopped (`open == true`).
    pub open: Vec<Binding>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StoreStats {
    pub bindings: u64,
    pub open: u64,
    pub last_seq: Option<u64>,
    pub backend: &'static str,
}

/// One storage for bindings. Every method is all-or-nothing.
pub trait BindingStore: Send + Sync {
    /// Every binding (closed or open) holding the address (and port) at the instant.
    fn lookup(&self, probe: Probe) -> StoreFuture<'_, Vec<Binding>>;
    /// Stores bindings (a binding with a key replaces the one with the same
    /// key; an open binding stays open until a closed one with its key
    /// comes) and, in the same step, the feeder's progress.
    fn apply(&self, upserts: Vec<Binding>, last_seq: Option<u64>) -> StoreFuture<'_, ()>;
    /// The feeder's progress and open sessions.
    fn feed_state(&self) -> StoreFuture<'_, FeedState>;
    /// Adds many bindings at once (a bulk import); returns how many.
    fn import(&self, bindings: Index) -> StoreFuture<'_, u64>;
    fn stats(&self) -> StoreFuture<'_, StoreStats>;
    /// Every binding (closed or open) of `subscriber` overlapping
    /// `[from_ns, to_ns)`, by start: what an order's evidence bundle carries.
    fn of_subscriber(
        &self,
        subscriber: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> StoreFuture<'_, Vec<Binding>>;
}
