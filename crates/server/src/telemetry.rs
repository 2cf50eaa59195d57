//! Prometheus metrics. Every refused or unparsable line is counted by
//! transport, source and reason (the counters are part of compliance).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

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
        let h = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                &[
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
        describe();
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
