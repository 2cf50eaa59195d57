//! Where the register is kept: one trait, [`Store`], with an SQLite
//! implementation (embedded, the default) and a PostgreSQL one. The store sees
//! only what may be stored: plain external ids, periods of hire (dates), the
//! names of missing fields, wrapped data keys and sealed personal fields. It
//! never sees a plaintext personal field.
//!
//! The same conformance suite (`tests/store_suite.rs`) runs against both.

use crate::model::Period;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

pub mod postgres;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite registry {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("SQLite registry: {0}")]
    Open(#[from] pramaan_db::OpenError),
    #[error(transparent)]
    PgSchema(#[from] pramaan_db::pg::PgSchemaError),
    #[error("PostgreSQL registry: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("registry store: {0}")]
    Other(String),
    #[error("no legal hold #{0}")]
    UnknownHold(i64),
    #[error("legal hold #{0} is already released")]
    AlreadyReleased(i64),
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One subscriber as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub external_id: String,
    pub periods: Vec<Period>,
    /// End of the last period of hire; `None` while a period is open.
    pub last_end_ns: Option<i64>,
    /// Names of required fields the record lacks (not their values).
    pub missing: Vec<String>,
    /// Which master key wraps the data key.
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    /// The personal fields, sealed with the data key.
    pub sealed: Vec<u8>,
    pub created_at_ns: i64,
    pub updated_at_ns: i64,
}

/// What retention and completeness need of a row (no key, no ciphertext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowMeta {
    pub external_id: String,
    pub last_end_ns: Option<i64>,
    pub missing: Vec<String>,
    pub key_id: String,
}

/// A legal hold on one subscriber: blocks erasure until released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: i64,
    pub subscriber_id: String,
    pub reason: String,
    pub order_ref: String,
    pub created_by: String,
    pub created_at_ns: i64,
    pub released_at_ns: Option<i64>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
}

impl Hold {
    pub fn active(&self) -> bool {
        self.released_at_ns.is_none()
    }
}

/// What erasure destroyed and when; kept after the subscriber is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReport {
    pub id: i64,
    pub subscriber_id: String,
    pub erased_at_ns: i64,
    pub last_end_ns: i64,
    pub retain_until_ns: i64,
    /// Which master key had wrapped the destroyed data key.
    pub key_id: String,
    /// The names of the fields destroyed.
    pub fields: Vec<String>,
    pub reason: String,
    /// Sequence number of its `pramaan:registry` ledger record, once appended.
    pub ledger_seq: Option<u64>,
}

/// A `pramaan:registry` record staged with the change it records, in the
/// same transaction (the outbox: `pramaan_db::outbox`); the registry's
/// flusher appends it exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub source: String,
    pub body: Vec<u8>,
    /// The ledger's committed count before the change.
    pub watermark: u64,
}

pub use pramaan_db::outbox::Pending;

/// Outcome of [`Store::erase`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseOutcome {
    Erased(ErasureReport),
    /// An active hold appeared: nothing was deleted.
    Held(Vec<i64>),
    /// No such subscriber (erased before).
    Gone,
}

/// The storage behind the register. Every method is one transaction.
pub trait Store: Send + Sync {
    /// `"sqlite:/path"` or `"postgres"`: for messages.
    fn describe(&self) -> String;
    fn get(&self, external_id: &str) -> StoreFuture<'_, Option<StoredRow>>;
    /// Several rows at once (those that exist).
    fn get_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<StoredRow>>;
    /// Inserts or replaces every row, all or nothing, with its ledger record
    /// staged in the same transaction.
    fn put_many(&self, rows: Vec<StoredRow>, record: Option<Staged>) -> StoreFuture<'_, ()>;
    fn list_meta(&self) -> StoreFuture<'_, Vec<RowMeta>>;
    fn count(&self) -> StoreFuture<'_, u64>;
    /// (external id, key id, wrapped key) of every row.
    fn wrapped_keys(&self) -> StoreFuture<'_, Vec<(String, String, Vec<u8>)>>;
    /// Replaces wrapped keys (external id, new key id, new wrapped key), all or nothing.
    fn rewrap(&self, rows: Vec<(String, String, Vec<u8>)>) -> StoreFuture<'_, ()>;
    /// Deletes the row (and so its wrapped key) and records `report`, in one
    /// transaction that first re-checks the holds. `report.id` is assigned.
    fn erase(&self, report: ErasureReport) -> StoreFuture<'_, EraseOutcome>;
    fn erasure_reports(&self) -> StoreFuture<'_, Vec<ErasureReport>>;
    fn mark_reported(&self, report_id: i64, seq: u64) -> StoreFuture<'_, ()>;
    /// Adds the hold and stages its record, in one transaction.
    fn add_hold(&self, hold: Hold, record: Staged) -> StoreFuture<'_, Hold>;
    /// Releases the hold and stages its record, in one transaction.
    fn release_hold(
        &self,
        id: i64,
        by: String,
        reason: String,
        at_ns: i64,
        record: Staged,
    ) -> StoreFuture<'_, Hold>;
    /// The outbox (`pramaan_db::outbox::Rows`): the first pending row above `after`.
    fn outbox_next(&self, after: i64) -> StoreFuture<'_, Option<Pending>>;
    /// True when another row of the same source is marked with `seq`.
    fn outbox_claimed(&self, row: Pending, seq: u64) -> StoreFuture<'_, bool>;
    fn outbox_mark(&self, row: Pending, seq: u64) -> StoreFuture<'_, ()>;
    /// Records not yet in the ledger.
    fn outbox_pending(&self) -> StoreFuture<'_, u64>;
    fn holds(&self) -> StoreFuture<'_, Vec<Hold>>;
    /// Makes deleted bytes unrecoverable from the files where the backend
    /// can (SQLite: checkpoint and truncate the WAL; secure_delete is on).
    fn scrub(&self) -> StoreFuture<'_, ()>;
}

pub(crate) fn periods_json(p: &[Period]) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn periods_from(s: &str) -> Result<Vec<Period>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("stored periods: {e}")))
}

pub(crate) fn list_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn list_from(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("stored list: {e}")))
}
