//! Opening a vault: the data directory taken, what a crash left behind
//! cleaned up and replayed, then the threads started.
//!
//! `Vault::open` in order (each step its own function):
//! 1. [`take_data_dir`]: the directory made private and locked;
//! 2. [`recover`]: orphaned segment objects removed, the unsealed records
//!    replayed from the WAL into the memtable (see the crash list in
//!    `vault`);
//! 3. the ledger recovered at its last checkpoint and caught up to the
//!    committed count, before the writer takes anything new;
//! 4. [`start_threads`]: writer, indexer, sealer and, when enabled, the
//!    compactor.
//!
//! This module sits above `vault`, `compact`, `sql` and `ledger`: it wires
//! them together, and none of them reaches back into it.

use crate::catalog::{Catalog, SegmentMeta};
use crate::memtable::{Frozen, Generation};
use crate::options::VaultOptions;
use crate::vault::{
    indexer_loop, lock_data_dir, push_record, sealer_loop, Committed, Inner, Parser, State, Stats,
    Submit, Vault, Workers, NO_SEALED,
};
use crate::wal::{self, Wal};
use crate::writer::Writer;
use crate::VaultError;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

impl Vault {
    /// Opens the vault for writing: takes the data directory's lock, recovers
    /// from the catalog and WAL, and starts the writer, indexer and sealer.
    /// Must be called inside a Tokio runtime (the sealer uses its handle).
    pub async fn open(opts: VaultOptions) -> Result<(Vault, Workers), VaultError> {
        let (lock, loose) = take_data_dir(&opts.data_dir)?;
        // Before anything is recovered: another writer's fresh segments
        // would look like this one's orphans.
        let lease = match &opts.catalog_postgres {
            Some(at) => {
                let holder = opts
                    .ledger
                    .as_ref()
                    .map_or_else(|| opts.data_dir.display().to_string(), |l| l.origin.clone());
                Some(crate::catalog::postgres::lease::WriterLease::acquire(
                    at, &holder,
                )?)
            }
            None => None,
        };
        let mut objects = crate::objects::Objects::open(&opts)?;
        objects.probe(&opts).await?;
        if let Some(l) = &opts.ledger {
            crate::ledger::refuse_foreign_store(&objects, l).await?;
        }
        let catalog = crate::catalog::open(&opts)?;
        let parser = Parser::new(&opts);
        let rec = recover(&opts, &objects, &*catalog, &parser).await?;
        let next_seq = rec.next_seq;
        let (committed_tx, committed_rx) = watch::channel(next_seq);
        let (indexed_tx, indexed_rx) = watch::channel(next_seq);
        let stats = Arc::new(Stats::default());
        stats.storage.set_loose_modes(loose);
        let ledger = crate::ledger::LedgerState::open(&opts, false, &*catalog, &objects)?;
        let inner = Arc::new(Inner {
            opts: opts.clone(),
            state: Mutex::new(rec.state),
            seal_requests: AtomicU64::new(0),
            closing: Default::default(),
            objects,
            catalog,
            committed: committed_rx,
            indexed: indexed_rx,
            sealed_through: Arc::new(AtomicU64::new(rec.sealed.unwrap_or(NO_SEALED))),
            stats,
            read_only: false,
            ledger: ledger.clone(),
            maintenance: Default::default(),
            search_pool: Default::default(),
            sql_pool: Default::default(),
            sql_memory: crate::sql::memory_pool(&opts.sql),
            reads_stop: watch::channel(false).0,
        });
        // The ledger: recovered at its last checkpoint and caught up to
        // `next_seq` before the writer takes anything new.
        let (ledger_feed, ledger_thread) = match ledger {
            Some(l) => {
                let (feed, thread) =
                    crate::ledger::start(l, Vault::reader(&inner), next_seq).await?;
                (Some(feed), Some(thread))
            }
            None => (None, None),
        };
        let (submit_tx, submit_rx) = mpsc::channel::<Submit>(256);
        let writer = Writer::new(
            rec.wal,
            next_seq,
            submit_rx,
            committed_tx,
            &inner,
            ledger_feed,
        );
        let threads = start_threads(&inner, writer, indexed_tx, rec.pending, &submit_tx)?;
        let compactor = start_compactor(&inner)?;
        let vault = Vault {
            inner,
            submit: Some(submit_tx),
        };
        if let Some(l) = vault.ledger() {
            // A rebuild is said in the ledger itself (a crash before this
            // point says it at the next open).
            if let Err(e) = crate::ledger::record_rebuilds(l, &vault).await {
                tracing::error!(error = %e, "could not record a ledger rebuild; retrying at the next open");
            }
        }
        let workers = Workers {
            threads: threads
                .into_iter()
                .chain(ledger_thread)
                .chain(compactor)
                .collect(),
            sealed_through: vault.inner.sealed_through.clone(),
            committed: vault.inner.committed.clone(),
            wal_dir: opts.wal_dir(),
            _lock: lock,
            _lease: lease,
        };
        Ok((vault, workers))
    }

    /// Opens the vault for reading beside no running server: the catalog, the
    /// segments and the WAL's records (without truncating anything).
    pub fn open_read_only(opts: VaultOptions) -> Result<Vault, VaultError> {
        let mut objects = crate::objects::Objects::open(&opts)?;
        if objects.is_remote() {
            let bridge = objects.clone();
            bridge.block_on(objects.probe(&opts))?;
        }
        let catalog = crate::catalog::open_read_only(&opts)?;
        let segments = catalog.segments(None, None)?;
        let sealed = catalog.sealed_through()?;
        let (current, next) = read_wal(&opts, sealed.map_or(0, |s| s + 1))?;
        let (_ctx, committed) = watch::channel(next);
        let (_itx, indexed) = watch::channel(next);
        let ledger = crate::ledger::LedgerState::open(&opts, true, &*catalog, &objects)?;
        if let Some(l) = &ledger {
            l.check_present(&*catalog, next)?;
        }
        let sql_memory = crate::sql::memory_pool(&opts.sql);
        Ok(Vault {
            inner: Arc::new(Inner {
                opts,
                state: Mutex::new(State {
                    current,
                    sealing: Vec::new(),
                    segments: Arc::new(segments),
                    handed_out: Vec::new(),
                }),
                objects,
                catalog,
                committed,
                indexed,
                sealed_through: Arc::new(AtomicU64::new(sealed.unwrap_or(NO_SEALED))),
                stats: Arc::new(Stats::default()),
                read_only: true,
                seal_requests: AtomicU64::new(0),
                closing: Default::default(),
                ledger,
                maintenance: Default::default(),
                search_pool: Default::default(),
                sql_pool: Default::default(),
                sql_memory,
                reads_stop: watch::channel(false).0,
            }),
            submit: None,
        })
    }

    /// A handle for the vault's own threads: reads, never submits (so that
    /// the writer still ends when every producer is gone).
    fn reader(inner: &Arc<Inner>) -> Vault {
        Vault {
            inner: inner.clone(),
            submit: None,
        }
    }
}

/// Step 1: the data directory, made private and locked; its loose modes
/// (said at every start, never changed: see `modes`).
fn take_data_dir(dir: &Path) -> Result<(std::fs::File, crate::modes::LooseModes), VaultError> {
    crate::modes::create_private_dir(dir).map_err(VaultError::io(dir))?;
    let lock = lock_data_dir(dir)?;
    let loose = crate::modes::loose_modes(dir);
    crate::modes::warn_loose(dir, &loose);
    Ok((lock, loose))
}

/// What recovery leaves for the threads.
struct Recovery {
    /// The sealed segments, and the replayed records in the memtable.
    state: State,
    /// Generations cut while replaying, to seal first.
    pending: Vec<Arc<Frozen>>,
    wal: Wal,
    /// The next sequence number (the committed count).
    next_seq: u64,
    /// The catalog's highest sealed sequence number.
    sealed: Option<u64>,
}

/// Step 2: segment objects no catalog row names are removed (an
/// interrupted seal or compaction, or a retention run's retired objects),
/// then the records after the highest sealed one are replayed from the WAL
/// (its torn tail cut) and the WAL files they no longer need released.
async fn recover(
    opts: &VaultOptions,
    objects: &crate::objects::Objects,
    catalog: &dyn Catalog,
    parser: &Parser,
) -> Result<Recovery, VaultError> {
    let segments = catalog.segments(None, None)?;
    let retired: Vec<String> = catalog
        .pending_object_deletions()?
        .into_iter()
        .map(|d| d.segment.path)
        .collect();
    remove_orphans(objects, &segments, &retired).await?;
    let sealed = catalog.sealed_through()?;
    let start_seq = sealed.map_or(0, |s| s + 1);
    let mut state = State {
        current: Generation::default(),
        sealing: Vec::new(),
        segments: Arc::new(segments),
        handed_out: Vec::new(),
    };
    let mut pending = Vec::new();
    let recovered = Wal::open(
        &opts.wal_dir(),
        start_seq,
        opts.wal_file_bytes,
        opts.fsync,
        |rec| {
            let p = parser.parse(&rec);
            push_record(&mut state, opts, &rec, &p, &mut pending);
        },
    )?;
    let next_seq = recovered.next_seq;
    let mut wal = recovered.wal;
    if let Some(s) = sealed {
        wal.release_through(s)?;
    }
    if next_seq > start_seq {
        tracing::info!(
            records = next_seq - start_seq,
            "replayed unsealed records from the WAL"
        );
    }
    Ok(Recovery {
        state,
        pending,
        wal,
        next_seq,
        sealed,
    })
}

/// The WAL's records from `start_seq` on, read without changing anything
/// (up to a failed append's mark: its bytes are no records), and the
/// next sequence number.
fn read_wal(opts: &VaultOptions, start_seq: u64) -> Result<(Generation, u64), VaultError> {
    let parser = Parser::new(opts);
    let mut current = Generation::default();
    let mut next = start_seq;
    for wf in wal::list_files(&opts.wal_dir())? {
        let data = wal::read_valid(&wf.path)?;
        wal::scan_frames(&data, |_, rec| {
            if rec.seq >= next {
                next = rec.seq + 1;
                let p = parser.parse(&rec);
                current.push(&rec, &p);
            }
            Ok(())
        });
    }
    Ok((current, next))
}

/// Step 4: the writer, indexer and sealer. The channels between them are bounded: when the sealer falls behind,
/// the indexer waits, then the writer, then the senders (TCP stops being
/// read), so memory stays at about two generations instead of growing
/// with the backlog.
fn start_threads(
    inner: &Arc<Inner>,
    writer: Writer,
    indexed_tx: watch::Sender<u64>,
    pending: Vec<Arc<Frozen>>,
    submit_tx: &mpsc::Sender<Submit>,
) -> Result<Vec<JoinHandle<()>>, VaultError> {
    let (index_tx, index_rx) = std_mpsc::sync_channel::<Committed>(64);
    let (seal_tx, seal_rx) = std_mpsc::sync_channel::<Arc<Frozen>>(1);
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(VaultError::io(Path::new("thread")))
    };
    let mut threads = Vec::with_capacity(4);
    let closing = inner.closing.clone();
    threads.push(spawn(
        "pramaan-wal",
        Box::new(move || {
            writer.run(index_tx);
            closing.store(true, Ordering::Release);
        }),
    )?);
    let (i, parser) = (inner.clone(), Parser::new(&inner.opts));
    threads.push(spawn(
        "pramaan-index",
        Box::new(move || indexer_loop(i, parser, index_rx, indexed_tx, seal_tx)),
    )?);
    let (i, handle) = (inner.clone(), tokio::runtime::Handle::current());
    // Weak, so that the writer still ends when every producer is gone.
    let nudge = submit_tx.downgrade();
    threads.push(spawn(
        "pramaan-seal",
        Box::new(move || sealer_loop(i, handle, pending, seal_rx, nudge)),
    )?);
    Ok(threads)
}

/// Step 4 (end): the compactor, when enabled, at the lowest CPU priority.
fn start_compactor(inner: &Arc<Inner>) -> Result<Option<JoinHandle<()>>, VaultError> {
    let compact = &inner.opts.compact;
    if !compact.enabled() {
        return Ok(None);
    }
    if inner.objects.object_lock().is_some() {
        // `storage.object_lock` says so; the log says it again at start.
        tracing::warn!("compaction is not run under Object Lock (the locked originals would stay beside each copy)");
        return Ok(None);
    }
    let (reader, closing) = (Vault::reader(inner), inner.closing.clone());
    let handle = tokio::runtime::Handle::current();
    // Looks for due segments a few times per `after` (at least every minute).
    let every = (compact.after / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    std::thread::Builder::new()
        .name("pramaan-compact".into())
        .spawn(move || crate::compact::compactor_loop(reader, handle, closing, every))
        .map(Some)
        .map_err(VaultError::io(Path::new("thread")))
}

async fn remove_orphans(
    objects: &crate::objects::Objects,
    segments: &[SegmentMeta],
    retired: &[String],
) -> Result<(), VaultError> {
    let known: std::collections::HashSet<&str> = segments.iter().map(|s| s.path.as_str()).collect();
    let listed = objects
        .list(crate::objects::SEGMENTS)
        .await
        .map_err(VaultError::store)?;
    for (key, _) in listed {
        let (why, expected) = if retired.contains(&key) {
            ("deleting a segment that an interrupted retention run had already taken out of the catalog", true)
        } else if !known.contains(key.as_str()) {
            ("removing a segment object that no catalog row names (an interrupted seal, whose records are replayed from the WAL, or the other half of an interrupted compaction)", false)
        } else {
            continue;
        };
        match objects.delete(&key).await {
            Ok(()) if expected => tracing::info!(object = %key, "{why}"),
            Ok(()) => tracing::warn!(object = %key, "{why}"),
            // Its lock ends with its window; a re-seal of the same records
            // writes a new version over it, and retention deletes both.
            Err(e) if crate::objects::is_locked(&e) => {
                tracing::warn!(object = %key, error = %e, "{why}: the bucket's Object Lock keeps it for now")
            }
            Err(e) => return Err(VaultError::store(e)),
        }
    }
    Ok(())
}
