//! The writer thread (`pramaan-wal`): owns the WAL file. Takes every
//! pending submission (up to `wal.max_batch` bytes), numbers the lines,
//! stamps `received_at` (never going backwards, so sequence order is time
//! order), appends and `fdatasync`s once, then acknowledges.
//!
//! One pass of [`Writer::run`], step by step: wait for work (or, holding
//! lines a full disk refused, for space), fill the batch, append it, then
//! acknowledge and hand it on ([`Writer::commit`]) or refuse or hold it
//! ([`Writer::refuse`]), and release the WAL files the sealer has covered.

use crate::ledger::Feed;
use crate::vault::{
    full_message, AppendError, Committed, Inner, SeqRange, Stats, Submit, NO_SEALED,
};
use crate::wal::{self, Wal, WalError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The first pause before retrying syslog lines held because the disk was
/// full; it doubles up to two seconds.
const FIRST_HOLD_WAIT: Duration = Duration::from_millis(100);

/// The writer's state between batches.
pub(crate) struct Writer {
    wal: Wal,
    next_seq: u64,
    max_batch: usize,
    rx: mpsc::Receiver<Submit>,
    committed: watch::Sender<u64>,
    sealed_through: Arc<AtomicU64>,
    stats: Arc<Stats>,
    /// The ledger thread, which hashes each durable batch's frames.
    ledger: Option<Feed>,
    /// The frames of the batch being written (handed to the ledger after).
    frames: Vec<u8>,
    /// The last `received_at` stamped.
    last_ts: i64,
    /// The sealed mark up to which WAL files were released.
    released: u64,
    hold_wait: Duration,
}

/// A batch appended (or not) to the WAL.
struct Appended {
    first_seq: u64,
    /// One past the last sequence number given (`first_seq`: no line).
    end_seq: u64,
    received_at_ns: i64,
    result: Result<(), WalError>,
}

impl Writer {
    pub(crate) fn new(
        wal: Wal,
        next_seq: u64,
        rx: mpsc::Receiver<Submit>,
        committed: watch::Sender<u64>,
        inner: &Inner,
        ledger: Option<Feed>,
    ) -> Writer {
        let max_batch = inner.opts.wal_max_batch;
        Writer {
            wal,
            next_seq,
            max_batch,
            rx,
            committed,
            sealed_through: inner.sealed_through.clone(),
            stats: inner.stats.clone(),
            ledger,
            frames: Vec::with_capacity(max_batch + 4096),
            last_ts: i64::MIN,
            released: NO_SEALED,
            hold_wait: FIRST_HOLD_WAIT,
        }
    }

    /// Runs until every producer is gone and the queue is drained (or, on
    /// a full disk at shutdown, until nothing more can be written).
    pub(crate) fn run(mut self, index_tx: std_mpsc::SyncSender<Committed>) {
        let mut batch: Vec<Submit> = Vec::new();
        loop {
            if !self.wait_for_work(&mut batch) {
                break;
            }
            let closed = self.fill(&mut batch);
            let appended = self.append(&batch);
            match appended.result {
                Ok(()) => self.commit(&appended, &mut batch, &index_tx),
                Err(e) => {
                    batch = self.refuse(&e, batch);
                    if closed && !batch.is_empty() {
                        // Shutting down: no sender is waiting for these any
                        // more and the disk is still full; stop rather than hang.
                        break;
                    }
                }
            }
            self.release_sealed();
        }
        self.drop_held(batch);
    }

    /// Blocks for the first submission, or, holding lines the disk had no
    /// room for, pauses before retrying them. Not taking more than a
    /// batch's worth then keeps the queue full, so the syslog listeners
    /// stop reading their sockets until space returns. False: every
    /// producer is gone and nothing is held.
    fn wait_for_work(&mut self, batch: &mut Vec<Submit>) -> bool {
        if batch.is_empty() {
            match self.rx.blocking_recv() {
                Some(first) => batch.push(first),
                None => return false,
            }
        } else {
            std::thread::sleep(self.hold_wait);
            self.hold_wait = (self.hold_wait * 2).min(Duration::from_secs(2));
        }
        true
    }

    /// Takes what is queued, up to `max_batch` bytes; true when every
    /// producer is gone (shutdown) and nothing more is queued.
    fn fill(&mut self, batch: &mut Vec<Submit>) -> bool {
        let mut bytes: usize = batch.iter().map(submit_bytes).sum();
        while bytes < self.max_batch {
            match self.rx.try_recv() {
                Ok(s) => {
                    bytes += submit_bytes(&s);
                    batch.push(s);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return true,
                Err(mpsc::error::TryRecvError::Empty) => break,
            }
        }
        false
    }

    /// Numbers and stamps every line, and appends the frames with one
    /// fsync. An empty submission is the sealer's nudge to release WAL
    /// files: nothing is written for it.
    fn append(&mut self, batch: &[Submit]) -> Appended {
        // received_at never goes backwards, so that sequence order is time order.
        let now = pramaan_core::time::now_ns().max(self.last_ts);
        self.last_ts = now;
        self.frames.clear();
        let first_seq = self.next_seq;
        let mut seq = first_seq;
        for s in batch {
            for line in &s.lines {
                wal::encode_frame(
                    &wal::record(seq, now, s.transport, &s.peer, line),
                    &mut self.frames,
                );
                seq += 1;
            }
        }
        let result = if seq > first_seq {
            let started = Instant::now();
            let r = self.wal.append(first_seq, &self.frames);
            metrics::histogram!("pramaan_wal_fsync_seconds")
                .record(started.elapsed().as_secs_f64());
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            r
        } else {
            Ok(())
        };
        Appended {
            first_seq,
            end_seq: seq,
            received_at_ns: now,
            result,
        }
    }

    /// The batch is durable: publish the committed count, acknowledge each
    /// sender with its range, hand the lines to the indexer and the frames
    /// to the ledger.
    fn commit(
        &mut self,
        a: &Appended,
        batch: &mut Vec<Submit>,
        index_tx: &std_mpsc::SyncSender<Committed>,
    ) {
        let storage = &self.stats.storage;
        if a.end_seq > a.first_seq && storage.is_wal_full() {
            tracing::info!("the write-ahead log takes lines again: space was freed");
            storage.set_wal_full(false, None);
        }
        storage.set_holding(false);
        self.hold_wait = FIRST_HOLD_WAIT;
        self.next_seq = a.end_seq;
        let _ = self.committed.send(self.next_seq);
        let mut s_seq = a.first_seq;
        for s in batch.drain(..) {
            let n = s.lines.len() as u64;
            if let Some(ack) = s.ack {
                let _ = ack.send(Ok(SeqRange {
                    first: s_seq,
                    last: s_seq + n.saturating_sub(1),
                }));
            }
            if n > 0 {
                let _ = index_tx.send(Committed {
                    first_seq: s_seq,
                    received_at_ns: a.received_at_ns,
                    transport: s.transport,
                    peer: s.peer,
                    lines: s.lines,
                });
            }
            s_seq += n;
        }
        // The ledger hashes the frames on its own thread (it gets the
        // buffer; the writer takes an empty one).
        if let (Some(l), true) = (&self.ledger, a.end_seq > a.first_seq) {
            l.committed(a.first_seq, &mut self.frames);
        }
    }

    /// The append failed: senders waiting for an acknowledgement are
    /// refused (507 when the disk is full); on a full disk, syslog lines
    /// (no acknowledgement to refuse with) are kept to retry, and returned.
    fn refuse(&mut self, e: &WalError, batch: Vec<Submit>) -> Vec<Submit> {
        let storage = &self.stats.storage;
        self.stats.wal_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("pramaan_wal_errors_total").increment(1);
        let msg = e.to_string();
        let full = e.io_source().is_some_and(crate::full::io_is_full);
        if full {
            if !storage.is_full() {
                tracing::error!(error = %e, "the disk is full: refusing acknowledged lines (HTTP 507) and holding syslog lines until space is freed");
            }
            storage.set_wal_full(true, Some(&msg));
        } else {
            tracing::error!(error = %e, "WAL append failed; the batch is refused");
        }
        let mut kept = Vec::new();
        for s in batch {
            if let Some(ack) = s.ack {
                let err = if full {
                    storage.count_refused(s.lines.len() as u64);
                    AppendError::StorageFull(full_message(storage))
                } else {
                    AppendError::Wal(msg.clone())
                };
                let _ = ack.send(Err(err));
            } else if full && !s.lines.is_empty() {
                kept.push(s);
            } else {
                metrics::counter!("pramaan_lines_refused_total", "transport" => s.transport.as_str(), "reason" => "wal_error").increment(s.lines.len() as u64);
            }
        }
        storage.set_holding(!kept.is_empty());
        kept
    }

    /// Deletes the WAL files whose records the sealer has sealed since the
    /// last pass (a failure is retried at the next).
    fn release_sealed(&mut self) {
        let sealed = self.sealed_through.load(Ordering::Acquire);
        if sealed != NO_SEALED && sealed != self.released {
            match self.wal.release_through(sealed) {
                Ok(_) => self.released = sealed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete sealed WAL files; will retry")
                }
            }
        }
    }

    /// Shutting down with held lines and still no space for them: they
    /// are counted as refused and said in the log.
    fn drop_held(&self, batch: Vec<Submit>) {
        if batch.is_empty() {
            return;
        }
        let storage = &self.stats.storage;
        let n: usize = batch.iter().map(|s| s.lines.len()).sum();
        storage.count_refused(n as u64);
        tracing::error!(
            lines = n,
            "shutting down with syslog lines the full disk had no room for; they are lost"
        );
        for s in batch {
            metrics::counter!("pramaan_lines_refused_total", "transport" => s.transport.as_str(), "reason" => "storage_full").increment(s.lines.len() as u64);
        }
        storage.set_holding(false);
    }
}

fn submit_bytes(s: &Submit) -> usize {
    s.lines.iter().map(|l| l.len()).sum()
}
