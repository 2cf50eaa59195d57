//! The process allocator: jemalloc on Linux with glibc.
//!
//! `serve` allocates on many threads (Tokio workers, blocking file I/O, the
//! WAL writer, indexer, sealer, ledger and compactor). glibc's malloc gives
//! threads their own arenas and hands freed memory back to the kernel only
//! from the top of each heap, so under a long mixed load (ingest, searches,
//! compaction) its resident size kept rising (the soak in BENCHMARKS.md).
//! jemalloc gives unused pages back from a background thread after a few
//! seconds, and is faster for this allocation pattern.
//!
//! Its settings are compiled in from `.cargo/config.toml`
//! (`JEMALLOC_SYS_WITH_MALLOC_CONF`: background purging, pages returned
//! about 1 s after they are freed, one arena per CPU); `_RJEM_MALLOC_CONF`
//! in the environment overrides them at start, in jemalloc's own option
//! syntax.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What the heap holds now: bytes the program has allocated, and bytes of
/// pages jemalloc keeps resident (allocated plus its own caches and
/// metadata). The two apart tell a growing working set from fragmentation.
pub fn heap_stats() -> Option<pramaan_server::telemetry::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot taken when the epoch advances.
    epoch::advance().ok()?;
    Some(pramaan_server::telemetry::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}
