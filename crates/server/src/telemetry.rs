//! Prometheus metrics. Every refused or unparsable line is counted by
//! transport, source and reason (the counters are part of compliance).
//!
//! The `source` label takes its values from senders (addresses, host names),
//! and UDP addresses can be spoofed: left alone, one series per value would
//! grow `/metrics` (and the process) without end. The recorder is wrapped
//! ([`Bounded`]) so that at most `metrics.max_sources` distinct values keep
//! series of their own, the first ones seen; the counts of every later
//! source go under `source="other"` (nothing is dropped from the totals),
//! and `pramaan_metrics_sources_folded` says how many sources were folded.

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

/// The label whose values come from senders.
pub const SOURCE_LABEL: &str = "source";
/// The `source` value that sources past `metrics.max_sources` are counted under.
pub const OTHER_SOURCE: &str = "other";
/// Folded sources are counted exactly up to this many (then the gauge stays there).
const FOLDED_COUNTED: usize = 100_000;

/// Which `source` label values keep series of their own: the first `max`
/// distinct ones seen. Never forgets one (a counter must keep its series).
pub struct SourceCap {
    max: AtomicUsize,
    kept: RwLock<HashSet<String>>,
    /// Hashes of the distinct values folded into `other` (to count them).
    folded: Mutex<HashSet<u64>>,
    hasher: RandomState,
}

/// What [`SourceCap::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The value keeps its own series.
    Own,
    /// Counted under `other`; `Some(n)` when this value is a newly folded
    /// one, `n` the distinct values folded so far.
    Other(Option<usize>),
}

impl SourceCap {
    pub fn new(max: usize) -> Self {
        SourceCap {
            max: AtomicUsize::new(max),
            kept: RwLock::new(HashSet::new()),
            folded: Mutex::new(HashSet::new()),
            hasher: RandomState::new(),
        }
    }

    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// Whether `value` keeps its own series (and remembers it if there is room).
    pub fn admit(&self, value: &str) -> Admit {
        if value == OTHER_SOURCE {
            return Admit::Own;
        }
        {
            let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
            if kept.contains(value) {
                return Admit::Own;
            }
        }
        {
            let mut kept = self.kept.write().unwrap_or_else(|e| e.into_inner());
            if kept.contains(value) {
                return Admit::Own;
            }
            if kept.len() < self.max.load(Ordering::Relaxed) {
                kept.insert(value.to_owned());
                return Admit::Own;
            }
        }
        let h = self.hasher.hash_one(value);
        let mut folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        if folded.len() < FOLDED_COUNTED && folded.insert(h) {
            Admit::Other(Some(folded.len()))
        } else {
            Admit::Other(None)
        }
    }

    /// Distinct values folded into `other` (counted up to 100,000).
    pub fn folded(&self) -> usize {
        self.folded.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn sources() -> &'static SourceCap {
    static CAP: OnceLock<SourceCap> = OnceLock::new();
    CAP.get_or_init(|| SourceCap::new(1000))
}

/// Sets `metrics.max_sources` (`serve` does, before its listeners start).
pub fn set_max_sources(max: usize) {
    sources().set_max(max.max(1));
}

/// The Prometheus recorder, with the `source` label bounded by [`SourceCap`].
struct Bounded<R> {
    inner: R,
    cap: &'static SourceCap,
}

impl<R> Bounded<R> {
    /// `key`, or the same key with `source="other"` when its source is folded.
    fn key<'a>(&self, key: &'a Key) -> Cow<'a, Key> {
        let Some(src) = key.labels().find(|l| l.key() == SOURCE_LABEL) else {
            return Cow::Borrowed(key);
        };
        match self.cap.admit(src.value()) {
            Admit::Own => Cow::Borrowed(key),
            Admit::Other(newly) => {
                if let Some(n) = newly {
                    metrics::gauge!("pramaan_metrics_sources_folded").set(n as f64);
                }
                let labels: Vec<Label> = key
                    .labels()
                    .map(|l| {
                        if l.key() == SOURCE_LABEL {
                            Label::from_static_parts(SOURCE_LABEL, OTHER_SOURCE)
                        } else {
                            l.clone()
                        }
                    })
                    .collect();
                Cow::Owned(Key::from_parts(key.name_shared(), labels))
            }
        }
    }
}

impl<R: Recorder> Recorder for Bounded<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(&self.key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(&self.key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(&self.key(key), metadata)
    }
}

/// The allocator's own account of the heap, where the binary can give it
/// (`pramaan` on jemalloc); shown in `/metrics` and `/api/v1/status`.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct HeapStats {
    /// Bytes allocated by the program and not yet freed.
    pub allocated: u64,
    /// Bytes in pages the allocator holds resident (allocated, caches, metadata).
    pub resident: u64,
    /// Bytes of address space kept mapped but given back to the kernel.
    pub retained: u64,
}

static HEAP_STATS: OnceLock<fn() -> Option<HeapStats>> = OnceLock::new();

/// Tells the server how to read the allocator's statistics (the binary
/// owns the allocator, so it passes the reader in; once per process).
pub fn set_heap_stats(read: fn() -> Option<HeapStats>) {
    let _ = HEAP_STATS.set(read);
}

/// The allocator's statistics now, if the binary gave a reader.
pub fn heap_stats() -> Option<HeapStats> {
    HEAP_STATS.get().and_then(|read| read())
}

/// Installs the global recorder once per process and returns its handle.
pub fn install() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                &[
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ],
            )
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        let bounded = Bounded {
            inner: recorder,
            cap: sources(),
        };
        let h = match metrics::set_global_recorder(bounded) {
            Ok(()) => handle,
            // Another recorder was installed first (a test harness): ours records nothing.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        };
        describe();
        metrics::gauge!("pramaan_metrics_sources_folded").set(sources().folded() as f64);
        h
    })
    .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "pramaan_lines_received_total",
        "Lines accepted from senders, by transport and source"
    );
    describe_counter!(
        "pramaan_lines_refused_total",
        "Lines refused (not stored), by transport, source and reason"
    );
    describe_counter!(
        "pramaan_lines_unparsable_total",
        "Stored lines whose header did not parse, by transport and source"
    );
    describe_counter!(
        "pramaan_connections_refused_total",
        "Connections refused, by transport and reason"
    );
    describe_gauge!("pramaan_connections_open", "Open syslog connections");
    describe_counter!(
        "pramaan_connections_closed_total",
        "Syslog connections the server closed, by transport and reason"
    );
    describe_gauge!(
        "pramaan_metrics_sources_folded",
        "Distinct sources past metrics.max_sources, whose counts are under source=\"other\""
    );
    describe_gauge!(
        "pramaan_http_ingests_in_flight",
        "POST /api/v1/ingest requests being read and decoded (at most http.max_concurrent_ingests)"
    );
    describe_counter!(
        "pramaan_http_ingests_refused_total",
        "Ingest requests answered 503 because http.max_concurrent_ingests were running"
    );
    describe_gauge!(
        "pramaan_heap_allocated_bytes",
        "Bytes the process has allocated and not freed (jemalloc's stats.allocated)"
    );
    describe_gauge!(
        "pramaan_heap_resident_bytes",
        "Bytes of heap pages resident in memory (jemalloc's stats.resident)"
    );
    describe_histogram!(
        "pramaan_wal_fsync_seconds",
        "Time to append and fdatasync one group-commit batch"
    );
    describe_counter!(
        "pramaan_wal_errors_total",
        "Group-commit batches the WAL could not write"
    );
    describe_counter!(
        "pramaan_segments_sealed_total",
        "Segments sealed since start"
    );
    describe_counter!(
        "pramaan_segment_bytes_total",
        "Bytes of segments sealed since start"
    );
    describe_counter!(
        "pramaan_seal_errors_total",
        "Failed attempts to seal a segment"
    );
    describe_counter!(
        "pramaan_object_store_requests_total",
        "Requests to the evidence store (segments, tiles, checkpoint), by kind"
    );
    describe_counter!(
        "pramaan_object_store_errors_total",
        "Requests to the evidence store that failed after the client's retries, by kind"
    );
    describe_gauge!("pramaan_segments", "Sealed segments in the catalog");
    describe_gauge!(
        "pramaan_segments_bytes",
        "Bytes of sealed segments in the catalog"
    );
    describe_gauge!(
        "pramaan_memtable_rows",
        "Records durable in the WAL, not yet sealed"
    );
    describe_gauge!(
        "pramaan_committed_records",
        "Records committed since the vault began"
    );
    describe_gauge!(
        "pramaan_retention_compliant",
        "1 when every retention window is at least CERT-In's 180 days, else 0"
    );
    describe_gauge!("pramaan_legal_holds_active", "Legal holds not released");
    describe_counter!("pramaan_retention_runs_total", "Retention runs since start");
    describe_counter!(
        "pramaan_retention_segments_deleted_total",
        "Segments deleted by retention since start"
    );
    describe_counter!(
        "pramaan_retention_errors_total",
        "Retention runs that ended with an error"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sources_keep_their_series_and_later_ones_are_other() {
        let cap = SourceCap::new(2);
        assert_eq!(cap.admit("10.0.0.1"), Admit::Own);
        assert_eq!(cap.admit("10.0.0.2"), Admit::Own);
        assert_eq!(cap.admit("10.0.0.3"), Admit::Other(Some(1)));
        // Known ones stay, a folded one is counted once.
        assert_eq!(cap.admit("10.0.0.1"), Admit::Own);
        assert_eq!(cap.admit("10.0.0.3"), Admit::Other(None));
        assert_eq!(cap.admit("10.0.0.4"), Admit::Other(Some(2)));
        assert_eq!(cap.folded(), 2);
        // A source literally called `other` is the other series.
        assert_eq!(cap.admit(OTHER_SOURCE), Admit::Own);
        // A larger cap admits new ones again.
        cap.set_max(3);
        assert_eq!(cap.admit("10.0.0.5"), Admit::Own);
        assert_eq!(cap.admit("10.0.0.6"), Admit::Other(Some(3)));
    }

    #[test]
    fn a_folded_key_keeps_its_other_labels() {
        static CAP: OnceLock<SourceCap> = OnceLock::new();
        let cap = CAP.get_or_init(|| SourceCap::new(1));
        let b = Bounded { inner: (), cap };
        let k = |src: &str| {
            Key::from_parts(
                "pramaan_lines_received_total",
                vec![
                    Label::new("transport", "udp"),
                    Label::new("source", src.to_owned()),
                ],
            )
        };
        let first = k("127.0.0.2");
        assert_eq!(b.key(&first).as_ref(), &first);
        let second = k("127.0.0.3");
        let folded = b.key(&second);
        let labels: Vec<(&str, &str)> = folded.labels().map(|l| (l.key(), l.value())).collect();
        assert_eq!(labels, vec![("transport", "udp"), ("source", "other")]);
        assert_eq!(folded.name(), "pramaan_lines_received_total");
    }
}
