//! The storage trait both stores implement: the embedded one (`MemStore`,
//! in-memory index persisted in the data directory) and PostgreSQL
//! (`PgStore`). They depend on this module, never the other way round (the
//! trait's documentation lists its implementors).

use crate::index::Index;
use crate::model::{Binding, Kind, Probe};
use std::collections::{HashMap, HashSet};
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

/// Which bindings the register's retention no longer allows (DPDP Act: kept
/// no longer than the duty to keep them). Open bindings are never erased.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    /// When the erasure runs (its note gives the date).
    pub at_ns: i64,
    /// Subscribers whose register entry was erased, with when: their
    /// bindings that ended by then go (a later subscription under the same
    /// id is another's).
    pub subscribers: HashMap<String, i64>,
    /// Bindings that ended before this go too (the 5-year rule), unless
    /// their subscriber is in `kept`.
    pub ended_before_ns: i64,
    /// Subscribers the register holds, and those under a legal hold: the
    /// 5-year rule leaves their bindings (they go with the register entry).
    pub kept: HashSet<String>,
    /// The rule's years (`registry.retention_years`, 5 as CERT-In asks), as
    /// the note says them.
    pub years: u32,
}

impl Erasure {
    /// The closed bindings of `subscriber` that ended before this instant
    /// go, by either rule. One number per subscriber, so that a store can
    /// find what goes from each binding's end alone, decoding nothing else.
    pub fn ended_before(&self, subscriber: &str) -> i64 {
        let by_entry = self
            .subscribers
            .get(subscriber)
            .map_or(i64::MIN, |&at| at.saturating_add(1));
        let by_years = if self.kept.contains(subscriber) {
            i64::MIN
        } else {
            self.ended_before_ns
        };
        by_entry.max(by_years)
    }

    /// What becomes of `b`: `Some(what is left)` when it goes. What is left
    /// names nobody: its address, ports and times, and a note saying when
    /// and why (so that `whois` answers "no record kept", not "nobody").
    pub fn apply(&self, b: &Binding) -> Option<Binding> {
        if b.open || b.kind == Kind::Erased || b.end_ns >= self.ended_before(&b.subscriber) {
            return None;
        }
        let years = self.years;
        let why = match self.subscribers.get(&b.subscriber) {
            Some(&at) if b.end_ns <= at => "its subscriber's register entry was erased".to_owned(),
            _ => {
                format!("it ended {years} years before, and its subscriber is not in the register")
            }
        };
        let day = pramaan_core::time::rfc3339_utc(self.at_ns);
        Some(Binding {
            subscriber: String::new(),
            session: String::new(),
            detail: format!(
                "no record kept: erased on {} under the {years}-year rule ({why})",
                day.get(..10).unwrap_or(&day)
            ),
            evidence: Vec::new(),
            kind: Kind::Erased,
            // A key holds the session's id, which may name the subscriber.
            key: None,
            ..b.clone()
        })
    }
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
    /// Replaces every binding `e` erases by what [`Erasure::apply`] leaves,
    /// on disk too (nothing of the subscriber stays in a file the store
    /// keeps); returns how many. Running it again changes nothing.
    fn erase(&self, e: Erasure) -> StoreFuture<'_, u64>;
}
