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

/// The future [`LedgerSink::find`] returns: the sequence numbers found.
pub type FindFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u64>, SinkError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The vault is closed, read-only or refused the record; nothing was stored.
    #[error("the ledger did not take the record: {0}")]
    Refused(String),
    /// Looking for records failed (a search error); nothing is known.
    #[error("searching the ledger failed: {0}")]
    Search(String),
}

/// Appends one record (a JSON document, as bytes) durably and returns its
/// sequence number only once it is fsync'd.
///
/// [`LedgerSink::committed`] and [`LedgerSink::find`] are what the outbox
/// (`pramaan_db::outbox`) needs to append each record exactly once: a row
/// staged when the ledger held `committed()` records can only have been
/// appended at a sequence number from there on, so after a crash between an
/// append and its mark, `find` from that watermark tells whether it was.
pub trait LedgerSink: Send + Sync {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_>;

    /// How many records the ledger holds now: every record appended after
    /// this call gets a sequence number at least this.
    fn committed(&self) -> u64;

    /// The sequence numbers, in order, of the records of `source` whose body
    /// is exactly `body`, from sequence number `from` on.
    fn find(&self, source: &str, body: &[u8], from: u64) -> FindFuture<'_>;

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

    fn committed(&self) -> u64 {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    fn find(&self, source: &str, body: &[u8], from: u64) -> FindFuture<'_> {
        let r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let found = r
            .iter()
            .enumerate()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
            .filter(|(_, (s, b))| s == source && b == body)
            .map(|(i, _)| i as u64)
            .collect();
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_sink_finds_exact_bodies_of_a_source_from_a_sequence_number_on() {
        let s = MemorySink::new();
        let run = |f: FindFuture<'_>| futures_lite(f);
        for (src, b) in [("a", "x"), ("b", "x"), ("a", "xy"), ("a", "x")] {
            futures_lite(s.append(src, b.as_bytes().to_vec())).unwrap();
        }
        assert_eq!(s.committed(), 4);
        assert_eq!(run(s.find("a", b"x", 0)).unwrap(), vec![0, 3]);
        assert_eq!(run(s.find("a", b"x", 1)).unwrap(), vec![3]);
        assert_eq!(run(s.find("b", b"x", 0)).unwrap(), vec![1]);
        assert!(run(s.find("a", b"x", 4)).unwrap().is_empty());
        assert!(run(s.find("c", b"x", 0)).unwrap().is_empty());
    }

    /// Polls a future the memory sink made (always ready) to completion.
    fn futures_lite<T>(mut f: Pin<Box<dyn Future<Output = T> + Send + '_>>) -> T {
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the memory sink's futures are always ready"),
        }
    }
}
