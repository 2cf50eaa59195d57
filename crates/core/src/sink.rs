//! Where components other than the listeners put records that must be in the
//! ledger: audit events, clock-status samples, incident transitions.
//!
//! `serve` implements [`LedgerSink`] by appending to the vault as `internal`
//! records whose peer is the `source` (for example `pramaan:audit`), so such a
//! record is sequenced, hashed into the Merkle tree and provable exactly like a
//! log line, and `pramaan search --app`/SQL `WHERE peer = 'pramaan:audit'`
//! finds it. Libraries depend on the trait, not on the vault.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// The future [`LedgerSink::append`] returns: the record's sequence number.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<u64, SinkError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The vault is closed, read-only or refused the record; nothing was stored.
    #[error("the ledger did not take the record: {0}")]
    Refused(String),
}

/// Appends one record (a JSON document, as bytes) durably and returns its
/// sequence number only once it is fsync'd.
pub trait LedgerSink: Send + Sync {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_>;

    /// Appends several records from one source, in order, and returns the
    /// first one's sequence number. A sink over the vault makes them one
    /// write (one fsync, consecutive numbers); this default appends them one
    /// by one. Nothing to append is an error: there is no number to return.
    fn append_all(&self, source: &str, bodies: Vec<Vec<u8>>) -> SinkFuture<'_> {
        let source = source.to_owned();
        Box::pin(async move {
            let mut first = None;
            for body in bodies {
                let seq = self.append(&source, body).await?;
                first.get_or_insert(seq);
            }
            first.ok_or_else(|| SinkError::Refused("no records to append".into()))
        })
    }
}

/// Keeps records in memory, numbered from 0: for library tests and for
/// commands that run without a vault.
#[derive(Default)]
pub struct MemorySink {
    records: Mutex<Vec<(String, Vec<u8>)>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record so far, as (source, body).
    pub fn records(&self) -> Vec<(String, Vec<u8>)> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl LedgerSink for MemorySink {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_> {
        let mut r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        r.push((source.to_owned(), body));
        let seq = (r.len() - 1) as u64;
        Box::pin(async move { Ok(seq) })
    }
}
