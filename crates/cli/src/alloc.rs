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
//! about 5 s after they are freed); `_RJEM_MALLOC_CONF` in the environment
//! overrides them at start, in jemalloc's own option syntax.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
