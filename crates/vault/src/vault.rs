//! The vault engine: the `Vault` handle and its state, indexing, sealing.
//! Opening (recovery, then the threads) is in `open`, the writer thread
//! (sequencer and group commit) in `writer`, the options in `options`.
//!
//! Threads and what each owns:
//!
//! ```text
//! producers ──Submit──► writer ──Committed──► indexer ──Frozen──► sealer
//!  (listeners,           seq numbers,          parse, memtable      Parquet, object store,
//!   HTTP, CLI)           WAL + fdatasync,      (searchable)         catalog, then the WAL
//!                        then ack                                    files it covers go
//! ```
//!
//! What a crash leaves behind, step by step:
//! 1. WAL append torn: the tail of the newest WAL file; truncated at open, and
//!    none of it was acknowledged (acks follow the fsync).
//! 2. Segment object written, catalog row not: the object is an orphan, deleted
//!    at open; its records are still in the WAL and are sealed again.
//! 3. Catalog row written, WAL files not yet deleted: replay starts after the
//!    catalog's highest sealed sequence number, so nothing is indexed twice.

use crate::catalog::{Catalog, SegmentMeta};
use crate::memtable::{Frozen, Generation};
use crate::options::VaultOptions;
use crate::segment;
use crate::wal;
use crate::VaultError;
use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::{ObjectStore, PutPayload};
use pramaan_core::{RecordRef, Transport};
use pramaan_ingest::ParseContext;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The sequence numbers given to an accepted batch (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

/// Lines to append, all from one sender.
pub struct Submit {
    pub transport: Transport,
    pub peer: Arc<str>,
    pub lines: Vec<Bytes>,
    /// Answered after the lines are durable. `None` for senders that get no acknowledgement (syslog).
    pub ack: Option<oneshot::Sender<Result<SeqRange, AppendError>>>,
}

/// Why an append was not acknowledged.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the write-ahead log could not be written: {0}")]
    Wal(String),
    /// The data directory's disk is full; retry when space is freed.
    #[error("{0}")]
    StorageFull(String),
    #[error("the vault is shutting down")]
    Closed,
}

pub(crate) struct Committed {
    pub(crate) first_seq: u64,
    pub(crate) received_at_ns: i64,
    pub(crate) transport: Transport,
    pub(crate) peer: Arc<str>,
    pub(crate) lines: Vec<Bytes>,
}

/// What searches see: sealed segments and indexed records not yet sealed.
#[derive(Clone)]
pub struct Snapshot {
    pub segments: Arc<Vec<SegmentMeta>>,
    /// Unsealed records in sequence order.
    pub mem: Vec<RecordBatch>,
    /// Every record with `seq < upto` is in this snapshot.
    pub upto: u64,
}

pub(crate) struct State {
    pub(crate) current: Generation,
    pub(crate) sealing: Vec<Arc<Frozen>>,
    pub(crate) segments: Arc<Vec<SegmentMeta>>,
    /// Segment lists handed to snapshots, so that retention can wait until no
    /// search still reads a segment it deletes ([`Vault::forget_segments`]).
    pub(crate) handed_out: Vec<std::sync::Weak<Vec<SegmentMeta>>>,
}

/// Counters for status pages and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub fsyncs: AtomicU64,
    pub wal_errors: AtomicU64,
    pub seal_errors: AtomicU64,
    pub unparsable: AtomicU64,
    /// A full disk: which part found it, and whether ingest pushes back.
    pub storage: crate::full::StorageState,
}

pub(crate) struct Inner {
    pub(crate) opts: VaultOptions,
    pub(crate) state: Mutex<State>,
    /// Where sealed evidence lives (segments, tiles, checkpoints).
    pub(crate) objects: crate::objects::Objects,
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) committed: watch::Receiver<u64>,
    pub(crate) indexed: watch::Receiver<u64>,
    pub(crate) sealed_through: Arc<AtomicU64>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) read_only: bool,
    /// Asks the indexer to seal every record below this sequence number
    /// (raised to the committed count by [`Vault::seal_now`]), including
    /// records acknowledged but not indexed yet when it was asked.
    pub(crate) seal_requests: AtomicU64,
    /// The writer has stopped (shutdown): the sealer seals what is left,
    /// but does not wait for a full disk to empty.
    pub(crate) closing: Arc<std::sync::atomic::AtomicBool>,
    /// The ledger's state (latest checkpoint, tile store); see [`crate::ledger`].
    pub(crate) ledger: Option<Arc<crate::ledger::LedgerState>>,
    /// Serialises what changes segment objects after sealing (retention
    /// runs, compaction), so that neither acts on a path the other changes.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    /// Where searches scan, below ingest's CPU priority; made at the first
    /// search (`None`: it could not be made, searches run in place).
    pub(crate) search_pool: std::sync::OnceLock<Option<crate::priority::SearchPool>>,
    /// Where SQL queries run (`pramaan-sql`, at the searches' priority).
    pub(crate) sql_pool: std::sync::OnceLock<Option<crate::priority::SearchPool>>,
    /// The memory pool every SQL query's operators share (`sql.memory_limit`).
    pub(crate) sql_memory: Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
    /// Set at shutdown ([`Vault::stop_reads`]): running queries and searches end.
    pub(crate) reads_stop: watch::Sender<bool>,
}

/// A handle to the vault; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
    pub(crate) submit: Option<mpsc::Sender<Submit>>,
}

/// Keeps the background threads; dropping the last [`Vault`] that can write
/// and then calling [`Workers::join`] shuts down cleanly.
pub struct Workers {
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) sealed_through: Arc<AtomicU64>,
    pub(crate) committed: watch::Receiver<u64>,
    pub(crate) wal_dir: PathBuf,
    pub(crate) _lock: std::fs::File,
    /// The PostgreSQL catalog schema's writer lock, when the catalog is there.
    pub(crate) _lease: Option<crate::catalog::postgres::lease::WriterLease>,
}

impl Workers {
    /// Waits for the threads (the last generation is sealed on the way out),
    /// then removes the WAL files when every record they hold is sealed.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
        let committed = *self.committed.borrow();
        let sealed = self.sealed_through.load(Ordering::Acquire);
        if committed > 0 && sealed != NO_SEALED && sealed + 1 >= committed {
            if let Ok(files) = wal::list_files(&self.wal_dir) {
                for f in files {
                    let _ = std::fs::remove_file(&f.path);
                    let _ = std::fs::remove_file(wal::cut_mark_path(&f.path));
                }
                let _ = wal::sync_dir(&self.wal_dir);
            }
        }
    }
}

pub(crate) const NO_SEALED: u64 = u64::MAX;

impl Vault {
    pub fn options(&self) -> &VaultOptions {
        &self.inner.opts
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.inner.objects.store()
    }

    /// The object store of sealed evidence, with its sync bridge.
    pub fn objects(&self) -> &crate::objects::Objects {
        &self.inner.objects
    }

    /// The pool searches scan on ([`crate::priority::SearchPool`]).
    pub(crate) fn search_pool(&self) -> Option<&crate::priority::SearchPool> {
        self.inner
            .search_pool
            .get_or_init(|| {
                crate::priority::SearchPool::new(self.inner.opts.search_nice)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "could not start the search threads; searches run at ingest's priority")
                    })
                    .ok()
            })
            .as_ref()
    }

    /// The pool SQL queries run on (made at the first query).
    pub(crate) fn sql_pool(&self) -> Option<&crate::priority::SearchPool> {
        self.inner
            .sql_pool
            .get_or_init(|| {
                crate::priority::SearchPool::named("pramaan-sql", self.inner.opts.search_nice)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "could not start the SQL threads; queries run at ingest's priority")
                    })
                    .ok()
            })
            .as_ref()
    }

    pub(crate) fn sql_memory(&self) -> Arc<dyn datafusion::execution::memory_pool::MemoryPool> {
        self.inner.sql_memory.clone()
    }

    /// Ends every running SQL query and search, and refuses new ones (a
    /// shutdown does not wait for them).
    pub fn stop_reads(&self) {
        self.inner.reads_stop.send_replace(true);
    }

    /// Becomes `true` at [`Vault::stop_reads`].
    pub(crate) fn reads_stopped(&self) -> watch::Receiver<bool> {
        self.inner.reads_stop.subscribe()
    }

    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.inner.catalog.clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Whether the disk is full, and why (for the status page).
    pub fn storage(&self) -> crate::full::StorageStatus {
        self.inner.stats.storage.status()
    }

    /// The ledger, unless the vault runs without one.
    pub fn ledger(&self) -> Option<&Arc<crate::ledger::LedgerState>> {
        self.inner.ledger.as_ref()
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Number of records committed (the next sequence number).
    pub fn committed(&self) -> u64 {
        *self.inner.committed.borrow()
    }

    /// Highest sealed sequence number.
    pub fn sealed_through(&self) -> Option<u64> {
        match self.inner.sealed_through.load(Ordering::Acquire) {
            NO_SEALED => None,
            v => Some(v),
        }
    }

    /// A sender for producers that feed the vault (listeners).
    pub fn sender(&self) -> Option<mpsc::Sender<Submit>> {
        self.submit.clone()
    }

    /// Appends lines and waits until they are durable.
    pub async fn append(
        &self,
        transport: Transport,
        peer: Arc<str>,
        lines: Vec<Bytes>,
    ) -> Result<SeqRange, AppendError> {
        let tx = self.submit.as_ref().ok_or(AppendError::Closed)?;
        let storage = &self.inner.stats.storage;
        if storage.refuses_new() {
            // The writer or the sealer is already waiting for space and
            // retries by itself; queueing behind it would only time out.
            storage.count_refused(lines.len() as u64);
            metrics::counter!("pramaan_lines_refused_total", "transport" => transport.as_str(), "reason" => "storage_full").increment(lines.len() as u64);
            return Err(AppendError::StorageFull(full_message(storage)));
        }
        let (ack, rx) = oneshot::channel();
        tx.send(Submit {
            transport,
            peer,
            lines,
            ack: Some(ack),
        })
        .await
        .map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// Stops accepting; the writer drains what it has, then the threads end.
    pub fn close(&mut self) {
        self.submit = None;
    }

    /// A clean shutdown: stops accepting, and once every other handle to
    /// this vault is dropped too, waits for the threads to drain the WAL,
    /// seal the rest and publish the last checkpoint.
    pub async fn shutdown(mut self, workers: Workers) {
        self.close();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || workers.join()).await;
    }

    /// What a search sees: waits until every record committed before the call is indexed.
    pub async fn snapshot(&self) -> Snapshot {
        let target = *self.inner.committed.borrow();
        let mut indexed = self.inner.indexed.clone();
        // The indexer always catches up unless the process is going down.
        let _ = indexed.wait_for(|v| *v >= target).await;
        let mut st = self.inner.state.lock().expect("state lock");
        let mut mem = Vec::new();
        for f in &st.sealing {
            mem.extend(f.batches.iter().cloned());
        }
        mem.extend(st.current.snapshot());
        let segments = st.segments.clone();
        note_handed_out(&mut st.handed_out, &segments);
        Snapshot {
            segments,
            mem,
            upto: target,
        }
    }

    /// The sealed segments searches see now (a copy: holding it keeps no
    /// object from being deleted, unlike a [`Snapshot`]).
    pub fn segments_now(&self) -> Vec<SegmentMeta> {
        self.inner
            .state
            .lock()
            .expect("state lock")
            .segments
            .as_ref()
            .clone()
    }

    /// Swaps a segment's row for `meta` (same id) in what new snapshots see;
    /// returns the lists handed to earlier snapshots (which may still read
    /// the old object).
    pub(crate) fn replace_segment(
        &self,
        meta: SegmentMeta,
    ) -> Vec<std::sync::Weak<Vec<SegmentMeta>>> {
        let mut st = self.inner.state.lock().expect("state lock");
        if let Some(s) = Arc::make_mut(&mut st.segments)
            .iter_mut()
            .find(|s| s.id == meta.id)
        {
            *s = meta;
        }
        st.handed_out.retain(|w| w.strong_count() > 0);
        st.handed_out.clone()
    }

    /// The lock retention runs and compaction take (see [`Inner::maintenance`]).
    pub async fn maintenance(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.maintenance.lock().await
    }

    pub(crate) fn maintenance_blocking(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.maintenance.blocking_lock()
    }

    /// Unsealed records (rows) and their raw bytes.
    pub fn memtable_size(&self) -> (u64, u64) {
        let st = self.inner.state.lock().expect("state lock");
        let rows = st.current.rows + st.sealing.iter().map(|f| f.rows).sum::<u64>();
        let bytes = st.current.raw_bytes + st.sealing.iter().map(|f| f.raw_bytes).sum::<u64>();
        (rows, bytes)
    }

    /// Seals every record committed so far, also those not yet indexed (tests,
    /// `serve` on demand).
    pub fn seal_now(&self) {
        self.inner
            .seal_requests
            .fetch_max(self.committed(), Ordering::AcqRel);
    }

    /// Waits until every record committed so far is in a sealed segment.
    pub async fn wait_sealed(&self, timeout: Duration) -> bool {
        let target = self.committed();
        let start = Instant::now();
        loop {
            if target == 0 || self.sealed_through().is_some_and(|s| s + 1 >= target) {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Derives a record's fields; a zone-less stamp is read in its source's
/// zone (`source_zones`), else in the default one.
#[derive(Clone)]
pub(crate) struct Parser {
    ctx: ParseContext,
    zones: Arc<pramaan_core::zones::ZoneMap>,
}

impl Parser {
    pub(crate) fn new(opts: &VaultOptions) -> Parser {
        Parser {
            ctx: ParseContext {
                received_at_ns: 0,
                default_offset_secs: opts.default_offset_secs,
            },
            zones: Arc::new(opts.source_zones.clone()),
        }
    }

    pub(crate) fn parse(&self, rec: &RecordRef<'_>) -> pramaan_core::ParsedFields {
        pramaan_ingest::parse_from(
            rec.raw,
            rec.peer,
            &ParseContext {
                received_at_ns: rec.received_at_ns,
                ..self.ctx
            },
            &self.zones,
        )
    }
}

pub(crate) fn lock_data_dir(dir: &Path) -> Result<std::fs::File, VaultError> {
    let path = dir.join("LOCK");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(VaultError::io(&path))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(VaultError::Locked(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => return Err(VaultError::io(&path)(e)),
    }
    Ok(f)
}

/// True when a process (a running `serve`) holds the data directory's lock.
pub fn is_locked(dir: &Path) -> bool {
    let path = dir.join("LOCK");
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

/// What a refused sender is told when the disk is full.
pub(crate) fn full_message(storage: &crate::full::StorageState) -> String {
    storage.status().storage_full_reason.unwrap_or_else(|| {
        "the data directory's disk is full; ingest resumes by itself when space is freed".into()
    })
}

/// Adds one record to the current generation, cutting it first when it
/// would cross an hour and after when it is full.
pub(crate) fn push_record(
    st: &mut State,
    opts: &VaultOptions,
    rec: &RecordRef<'_>,
    p: &pramaan_core::ParsedFields,
    to_seal: &mut Vec<Arc<Frozen>>,
) {
    if opts.cut_hourly && st.current.crosses_hour(rec.received_at_ns) {
        freeze_locked(st, to_seal);
    }
    st.current.push(rec, p);
    if st.current.rows >= opts.seal_max_rows || st.current.raw_bytes >= opts.seal_max_bytes {
        freeze_locked(st, to_seal);
    }
}

pub(crate) fn indexer_loop(
    inner: Arc<Inner>,
    parser: Parser,
    rx: std_mpsc::Receiver<Committed>,
    indexed: watch::Sender<u64>,
    seal_tx: std_mpsc::SyncSender<Arc<Frozen>>,
) {
    let opts = inner.opts.clone();
    let mut parsed = Vec::new();
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(200));
        let closed = matches!(msg, Err(std_mpsc::RecvTimeoutError::Disconnected));
        if closed {
            inner.closing.store(true, Ordering::Release);
        }
        let mut to_seal: Vec<Arc<Frozen>> = Vec::new();
        if let Ok(c) = msg {
            parsed.clear();
            for (i, line) in c.lines.iter().enumerate() {
                let rec = wal::record(
                    c.first_seq + i as u64,
                    c.received_at_ns,
                    c.transport,
                    &c.peer,
                    line,
                );
                let p = parser.parse(&rec);
                if p.parse_error.is_some() {
                    inner.stats.unparsable.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("pramaan_lines_unparsable_total", "transport" => c.transport.as_str(), "source" => crate::memtable::peer_host(&c.peer).to_owned()).increment(1);
                }
                parsed.push(p);
            }
            let mut st = inner.state.lock().expect("state lock");
            for (i, line) in c.lines.iter().enumerate() {
                let rec = wal::record(
                    c.first_seq + i as u64,
                    c.received_at_ns,
                    c.transport,
                    &c.peer,
                    line,
                );
                push_record(&mut st, &opts, &rec, &parsed[i], &mut to_seal);
            }
            drop(st);
            let _ = indexed.send(c.first_seq + c.lines.len() as u64);
        }
        {
            let seal_below = inner.seal_requests.load(Ordering::Acquire);
            let mut st = inner.state.lock().expect("state lock");
            // A clean shutdown seals what is left, so the WAL is empty afterwards.
            if !st.current.is_empty()
                && (closed
                    || st.current.opened_at.elapsed() >= opts.seal_max_age
                    || st.current.seq_min < seal_below)
            {
                freeze_locked(&mut st, &mut to_seal);
            }
        }
        for f in to_seal {
            let _ = seal_tx.send(f);
        }
        if closed {
            return;
        }
    }
}

fn freeze_locked(st: &mut State, out: &mut Vec<Arc<Frozen>>) {
    if st.current.is_empty() {
        return;
    }
    let g = std::mem::take(&mut st.current);
    let f = Arc::new(g.freeze());
    st.sealing.push(f.clone());
    out.push(f);
}

pub(crate) fn sealer_loop(
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    pending: Vec<Arc<Frozen>>,
    rx: std_mpsc::Receiver<Arc<Frozen>>,
    nudge: mpsc::WeakSender<Submit>,
) {
    // Generations cut while replaying the WAL at start come first.
    for job in pending.into_iter().chain(rx) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match seal(&inner, &handle, &job) {
                Ok(meta) => {
                    tracing::debug!(path = %meta.path, rows = meta.rows, bytes = meta.bytes, "sealed a segment");
                    if inner.stats.storage.is_seal_full() {
                        inner.stats.storage.set_seal_full(false, None);
                    }
                    metrics::counter!("pramaan_segments_sealed_total").increment(1);
                    metrics::counter!("pramaan_segment_bytes_total").increment(meta.bytes);
                    let mut st = inner.state.lock().expect("state lock");
                    st.sealing.retain(|f| !Arc::ptr_eq(f, &job));
                    Arc::make_mut(&mut st.segments).push(meta);
                    inner.sealed_through.store(job.seq_max, Ordering::Release);
                    drop(st);
                    // Wake the writer so it deletes the WAL files this seal covers even when idle.
                    if let Some(tx) = nudge.upgrade() {
                        let _ = tx.try_send(Submit {
                            transport: Transport::Internal,
                            peer: Arc::from(""),
                            lines: Vec::new(),
                            ack: None,
                        });
                    }
                    break;
                }
                Err(e) => {
                    inner.stats.seal_errors.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("pramaan_seal_errors_total").increment(1);
                    tracing::error!(error = %e, seq_min = job.seq_min, "sealing a segment failed; its records stay in the WAL and memtable; retrying");
                    if e.is_storage_full() && inner.closing.load(Ordering::Acquire) {
                        // Shutting down on a full disk: the records stay in
                        // the WAL (kept, as they are not sealed) and are
                        // sealed after the next start.
                        tracing::warn!(seq_min = job.seq_min, seq_max = job.seq_max, "shutting down with the disk full: this generation stays in the WAL and is sealed at the next start");
                        break;
                    }
                    // A full disk clears when space is freed: look again
                    // often, so ingest resumes soon after.
                    let cap = if e.is_storage_full() {
                        inner
                            .stats
                            .storage
                            .set_seal_full(true, Some(&e.to_string()));
                        Duration::from_secs(2)
                    } else {
                        Duration::from_secs(30)
                    };
                    std::thread::sleep(backoff.min(cap));
                    backoff = (backoff * 2).min(cap);
                }
            }
        }
    }
}

fn seal(
    inner: &Inner,
    handle: &tokio::runtime::Handle,
    job: &Frozen,
) -> Result<SegmentMeta, VaultError> {
    let enc = segment::encode(&job.batches, &inner.opts.segment)?;
    let path = segment::object_path(job.time_min_ns, job.seq_min, job.seq_max);
    let bytes = enc.bytes.len() as u64;
    let payload = PutPayload::from(Bytes::from(enc.bytes));
    let mut meta = SegmentMeta {
        id: 0,
        path,
        seq_min: job.seq_min,
        seq_max: job.seq_max,
        time_min_ns: job.time_min_ns,
        time_max_ns: job.time_max_ns,
        rows: job.rows,
        bytes,
        sha256: enc.sha256,
        sources: job.sources.clone(),
        raw_bytes: job.raw_bytes,
        created_at_ns: pramaan_core::time::now_ns(),
    };
    // Durable (and, under Object Lock, locked) when the put returns (the
    // store's contract; the local one syncs the file and its directories):
    // the WAL is deleted after this.
    let objects = &inner.objects;
    handle
        .block_on(objects.put_segment(&meta, payload))
        .map_err(VaultError::store)?;
    meta.id = inner.catalog.insert(&meta)?;
    Ok(meta)
}

/// Remembers a segment list handed to a snapshot (pruning dead ones).
fn note_handed_out(
    handed_out: &mut Vec<std::sync::Weak<Vec<SegmentMeta>>>,
    list: &Arc<Vec<SegmentMeta>>,
) {
    if handed_out
        .last()
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(list)))
    {
        return;
    }
    if handed_out.len() >= 16 {
        handed_out.retain(|w| w.strong_count() > 0);
    }
    handed_out.push(Arc::downgrade(list));
}

impl Vault {
    /// Retention: takes segments out of what searches see, under the lock
    /// snapshots are taken under, then waits (up to `wait`) until no snapshot
    /// taken earlier still lists them, so their objects can be deleted without
    /// a search finding a segment half gone. False when a search still holds
    /// one after `wait`.
    pub async fn forget_segments(&self, ids: &[i64], wait: Duration) -> bool {
        let earlier = {
            let mut st = self.inner.state.lock().expect("state lock");
            if st.segments.iter().any(|s| ids.contains(&s.id)) {
                Arc::make_mut(&mut st.segments).retain(|s| !ids.contains(&s.id));
            }
            st.handed_out.retain(|w| w.strong_count() > 0);
            st.handed_out.clone()
        };
        let start = Instant::now();
        loop {
            let read = earlier.iter().any(|w| {
                w.upgrade()
                    .is_some_and(|list| list.iter().any(|s| ids.contains(&s.id)))
            });
            if !read {
                return true;
            }
            if start.elapsed() >= wait {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
