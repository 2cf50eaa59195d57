//! Records that are durable in the WAL but not yet in a sealed segment. They
//! are searchable from the moment they are indexed here.

use crate::schema::BatchBuilder;
use arrow::array::RecordBatch;
use pramaan_core::{ParsedFields, RecordRef};
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows per finished Arrow chunk; the active builder is copied on every
/// search snapshot, so it is kept small.
pub const CHUNK_ROWS: usize = 8192;
const NS_PER_HOUR: i64 = 3_600_000_000_000;

/// The records of one future segment.
pub struct Generation {
    chunks: Vec<RecordBatch>,
    active: BatchBuilder,
    pub seq_min: u64,
    pub seq_max: u64,
    pub time_min_ns: i64,
    pub time_max_ns: i64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub sources: BTreeMap<String, u64>,
    pub opened_at: Instant,
}

/// A generation handed to the sealer. It stays searchable until its segment is in the catalog.
pub struct Frozen {
    pub batches: Vec<RecordBatch>,
    pub seq_min: u64,
    pub seq_max: u64,
    pub time_min_ns: i64,
    pub time_max_ns: i64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub sources: BTreeMap<String, u64>,
}

impl Default for Generation {
    fn default() -> Self {
        Generation {
            chunks: Vec::new(),
            active: BatchBuilder::new(),
            seq_min: 0,
            seq_max: 0,
            time_min_ns: 0,
            time_max_ns: 0,
            rows: 0,
            raw_bytes: 0,
            sources: BTreeMap::new(),
            opened_at: Instant::now(),
        }
    }
}

/// The name a record's source goes by: the host it names, or the sender's address.
pub fn source_name<'a>(rec: &RecordRef<'a>, p: &'a ParsedFields) -> &'a str {
    pramaan_core::zones::source_name(p.host.as_deref(), rec.peer)
}

pub use pramaan_core::zones::peer_host;

impl Generation {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// True when `received_at_ns` falls in another UTC hour than this generation's first record.
    pub fn crosses_hour(&self, received_at_ns: i64) -> bool {
        self.rows > 0
            && self.time_min_ns.div_euclid(NS_PER_HOUR) != received_at_ns.div_euclid(NS_PER_HOUR)
    }

    pub fn push(&mut self, rec: &RecordRef<'_>, p: &ParsedFields) {
        if self.rows == 0 {
            self.seq_min = rec.seq;
            self.time_min_ns = rec.received_at_ns;
            self.opened_at = Instant::now();
        }
        self.seq_max = rec.seq;
        self.time_min_ns = self.time_min_ns.min(rec.received_at_ns);
        self.time_max_ns = self.time_max_ns.max(rec.received_at_ns);
        self.rows += 1;
        self.raw_bytes += rec.raw.len() as u64;
        let src = source_name(rec, p);
        match self.sources.get_mut(src) {
            Some(n) => *n += 1,
            None => {
                self.sources.insert(src.to_owned(), 1);
            }
        }
        self.active.push(rec, p);
        if self.active.rows() >= CHUNK_ROWS {
            self.chunks.push(self.active.finish());
        }
    }

    /// The rows so far as Arrow batches (cheap: shares finished chunks).
    pub fn snapshot(&mut self) -> Vec<RecordBatch> {
        let mut v = self.chunks.clone();
        if self.active.rows() > 0 {
            v.push(self.active.snapshot());
        }
        v
    }

    pub fn freeze(mut self) -> Frozen {
        if self.active.rows() > 0 {
            self.chunks.push(self.active.finish());
        }
        Frozen {
            batches: self.chunks,
            seq_min: self.seq_min,
            seq_max: self.seq_max,
            time_min_ns: self.time_min_ns,
            time_max_ns: self.time_max_ns,
            rows: self.rows,
            raw_bytes: self.raw_bytes,
            sources: self.sources,
        }
    }
}
