//! Carrying out retention on a running vault, and adding and releasing holds.
//!
//! Per expired segment, in this order (what a crash after each step leaves,
//! and how the next run finishes it, is in `ARCHITECTURE.md`):
//!
//! 1. keep the ledger's level-0 tiles at the edges of the range
//!    (`preserve_boundaries`; idempotent);
//! 2. one catalog transaction: re-check the holds, move the row from
//!    `segments` to `deletions`, write the `retention.deleted` record to the
//!    outbox;
//! 3. drop the segment from what searches see (under the lock snapshots
//!    take) and wait until no earlier snapshot still lists it;
//! 4. delete the object, then mark the deletion row `object_deleted_at_ns`;
//! 5. append the outbox record to the vault (after looking for it among the
//!    records since its watermark, in case an earlier attempt got that far),
//!    then mark the outbox row with its sequence number.
//!
//! Every run starts by finishing what an interrupted run left: deletion rows
//! whose object may remain (step 4), then outbox rows not yet appended (step 5).

use super::store::{NewHold, OutboxEntry, Released, RetireInfo, Retired};
use super::{
    decide, hold_touches, why_expired, Decision, Hold, HoldRef, IpClear, Judged, Policy, RunReport,
    SegmentReport,
};
use crate::catalog::CatalogError;
use crate::schema::col;
use crate::segment::leaf_path;
use crate::sink::VaultSink;
use crate::{AppendError, SegmentMeta, Vault, VaultError};
use object_store::path::Path as ObjPath;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use pramaan_db::outbox;
// Deprecated upstream in favour of a hand-written AsyncFileReader; it still does exactly what we need.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use pramaan_core::time::rfc3339_utc;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The peer of deletion records.
pub const PEER_RETENTION: &str = "pramaan:retention";
/// The peer of hold records.
pub const PEER_HOLDS: &str = "pramaan:holds";

/// The steps of a retention run, for fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The ledger's boundary tiles are kept.
    BoundariesPreserved,
    /// The catalog row is in `deletions`, with its outbox row.
    CatalogMoved,
    /// Searches no longer see the segment.
    ViewDropped,
    /// The object is deleted.
    ObjectDeleted,
    /// The deletion row says the object is gone.
    ObjectMarked,
    /// An internal record is appended (acknowledged, durable).
    RecordAppended,
    /// The outbox row has the record's sequence number.
    RecordMarked,
}

/// Fault injection for tests, in the style of sunlight's `testlog`: called
/// after every step; returning `true` stops the run right there, as a
/// `kill -9` would (nothing after it happens, nothing is tidied up).
#[derive(Clone, Default)]
pub struct Faults(Option<Arc<dyn Fn(Step) -> bool + Send + Sync>>);

impl Faults {
    pub fn new(f: impl Fn(Step) -> bool + Send + Sync + 'static) -> Self {
        Faults(Some(Arc::new(f)))
    }

    fn check(&self, step: Step) -> Result<(), RetentionError> {
        if self.stops(step) {
            return Err(RetentionError::Injected(step));
        }
        Ok(())
    }

    fn stops(&self, step: Step) -> bool {
        self.0.as_ref().is_some_and(|f| f(step))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A request that cannot be carried out as given (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    #[error("there is no hold {0}")]
    UnknownHold(i64),
    #[error("hold {0} was already released")]
    AlreadyReleased(i64),
    #[error("appending an internal record to the vault: {0}")]
    Append(#[from] AppendError),
    #[error("the vault is open read-only; retention and holds need the writer (run them through `pramaan serve`, or with no server running)")]
    ReadOnly,
    #[error("stopped after {0:?} (fault injection)")]
    Injected(Step),
    #[error("appending retention's records: {0}")]
    Outbox(#[from] pramaan_db::outbox::OutboxError),
}

/// `{"type":"retention.deleted",...}`: a deleted segment, as recorded in the vault.
#[derive(Serialize)]
struct DeletedRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    segment: &'a str,
    seq_min: u64,
    seq_max: u64,
    sha256: &'a str,
    rows: u64,
    received_from: String,
    received_to: String,
    policy: &'a str,
    run: i64,
}

/// `{"type":"hold.added",...}`.
#[derive(Serialize)]
struct HoldAddedRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    hold: i64,
    from: String,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
    reason: &'a str,
    order_ref: &'a str,
    by: &'a str,
    at: String,
}

/// `{"type":"hold.released",...}`.
#[derive(Serialize)]
struct HoldReleasedRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    hold: i64,
    order_ref: &'a str,
    reason: &'a str,
    by: &'a str,
    at: String,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records serialise")
}

/// The `retention.deleted` record for a segment.
pub fn deleted_record(seg: &SegmentMeta, policy: &str, run: i64) -> String {
    json(&DeletedRecord {
        kind: "retention.deleted",
        segment: &seg.path,
        seq_min: seg.seq_min,
        seq_max: seg.seq_max,
        sha256: &seg.sha256,
        rows: seg.rows,
        received_from: rfc3339_utc(seg.time_min_ns),
        received_to: rfc3339_utc(seg.time_max_ns),
        policy,
        run,
    })
}

fn hold_added_record(h: &Hold) -> String {
    json(&HoldAddedRecord {
        kind: "hold.added",
        hold: h.id,
        from: rfc3339_utc(h.from_ns),
        to: rfc3339_utc(h.to_ns),
        source: h.source.as_deref(),
        ip: h.ip.as_deref(),
        reason: &h.reason,
        order_ref: &h.order_ref,
        by: &h.created_by,
        at: rfc3339_utc(h.created_at_ns),
    })
}

fn hold_released_record(h: &Hold) -> String {
    json(&HoldReleasedRecord {
        kind: "hold.released",
        hold: h.id,
        order_ref: &h.order_ref,
        reason: h.release_reason.as_deref().unwrap_or_default(),
        by: h.released_by.as_deref().unwrap_or_default(),
        at: rfc3339_utc(h.released_at_ns.unwrap_or_default()),
    })
}

/// Checks and normalises a hold request: text fields trimmed and on one
/// line, `from <= to`, the IP address in canonical form.
pub fn validate_hold(h: &NewHold) -> Result<NewHold, String> {
    let text = |name: &str, v: &str| -> Result<String, String> {
        let v = v.trim();
        if v.is_empty() {
            return Err(format!("{name} must not be empty"));
        }
        if v.chars().any(char::is_control) {
            return Err(format!(
                "{name} must be one line without control characters"
            ));
        }
        if v.len() > 4096 {
            return Err(format!("{name} is longer than 4096 bytes"));
        }
        Ok(v.to_owned())
    };
    if h.from_ns > h.to_ns {
        return Err("from must not be after to".into());
    }
    let ip = match h.ip.as_deref().map(str::trim) {
        None => None,
        Some(s) => Some(
            s.parse::<IpAddr>()
                .map_err(|_| format!("ip: `{s}` is not an IPv4 or IPv6 address"))?
                .to_canonical()
                .to_string(),
        ),
    };
    let source = h.source.as_deref().map(|s| text("source", s)).transpose()?;
    Ok(NewHold {
        from_ns: h.from_ns,
        to_ns: h.to_ns,
        source,
        ip,
        reason: text("reason", &h.reason)?,
        order_ref: text("order reference", &h.order_ref)?,
        created_by: text("by", &h.created_by).unwrap_or_else(|_| "unknown".into()),
    })
}

/// Retention and holds for one vault. Runs, hold changes and outbox flushes
/// are serialised by one lock, so scheduled and on-demand runs never overlap.
pub struct Retention {
    vault: Vault,
    policy: Policy,
    lock: tokio::sync::Mutex<()>,
    /// Appends the catalog's outbox (the shared one, `pramaan_db::outbox`).
    flusher: outbox::Flusher,
    faults: Faults,
    /// How long a deletion waits for searches still reading the segment.
    reader_wait: Duration,
}

impl Retention {
    pub fn new(vault: Vault, policy: Policy) -> Self {
        Retention {
            vault,
            policy,
            lock: tokio::sync::Mutex::new(()),
            flusher: outbox::Flusher::new("retention"),
            faults: Faults::default(),
            reader_wait: Duration::from_secs(30),
        }
    }

    /// Stops runs at chosen steps (tests).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// How long a deletion waits for searches reading the segment before
    /// leaving the object for the next run.
    pub fn with_reader_wait(mut self, wait: Duration) -> Self {
        self.reader_wait = wait;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Every hold, released ones too.
    pub fn holds(&self) -> Result<Vec<Hold>, RetentionError> {
        Ok(self.vault.catalog().holds()?)
    }

    /// What a run at `now_ns` would do, without changing anything.
    pub async fn plan(
        &self,
        now_ns: i64,
    ) -> Result<(Decision, Vec<Hold>, IpClear), RetentionError> {
        let catalog = self.vault.catalog();
        let segments = catalog.segments(None, None)?;
        let holds = catalog.holds()?;
        let first = decide(&segments, &holds, &self.policy, now_ns, &IpClear::new());
        let clear = self.ip_clear(&first, &holds).await;
        let d = if clear.is_empty() {
            first
        } else {
            decide(&segments, &holds, &self.policy, now_ns, &clear)
        };
        Ok((d, holds, clear))
    }

    /// One retention run with the clock at `now_ns`. A dry run reports and
    /// changes nothing (it does not finish interrupted runs either).
    pub async fn run(&self, now_ns: i64, dry_run: bool) -> Result<RunReport, RetentionError> {
        let _serial = self.lock.lock().await;
        // Compaction switches segment paths; not while a run plans with them.
        let _maintenance = self.vault.maintenance().await;
        if !dry_run && self.vault.is_read_only() {
            return Err(RetentionError::ReadOnly);
        }
        let mut report = RunReport {
            dry_run,
            now_ns,
            now: rfc3339_utc(now_ns),
            policy: self.policy.clone(),
            compliant: self.policy.compliant(),
            ..Default::default()
        };
        if !dry_run {
            report.finished_interrupted = self.finish_interrupted(&mut report, now_ns).await?;
        }
        let (d, holds, clear) = self.plan(now_ns).await?;
        let by_id: BTreeMap<i64, &Hold> = holds.iter().map(|h| (h.id, h)).collect();
        report.kept = d.kept;
        for (j, ids) in &d.held {
            report.held.push(held_report(j, ids, &by_id));
        }
        if !dry_run {
            // Their compliance lock has ended: the object legal hold is what
            // keeps them in the bucket now.
            let held = d.held.iter().map(|(j, _)| j.segment.path.clone());
            self.set_legal_holds(held.collect(), true).await;
        }
        if dry_run {
            report.deleted = d
                .expired
                .iter()
                .map(|j| SegmentReport::new(j, why_expired(j), Vec::new()))
                .collect();
            return Ok(report);
        }
        let catalog = self.vault.catalog();
        let run = catalog.begin_run(now_ns, pramaan_core::time::now_ns())?;
        report.run = Some(run);
        let res = self.execute(&d, run, now_ns, &clear, &mut report).await;
        if let Err(RetentionError::Injected(_)) = res {
            // A simulated crash leaves everything as it is.
            return res.map(|_| report);
        }
        let error = res
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .or_else(|| report.stopped.clone());
        catalog.finish_run(
            run,
            report.deleted.len() as u64,
            report.held.len() as u64,
            pramaan_core::time::now_ns(),
            error.as_deref(),
        )?;
        metrics::counter!("pramaan_retention_runs_total").increment(1);
        metrics::counter!("pramaan_retention_segments_deleted_total")
            .increment(report.deleted.len() as u64);
        if res.is_err() || report.stopped.is_some() {
            metrics::counter!("pramaan_retention_errors_total").increment(1);
        }
        res.map(|_| report)
    }

    async fn execute(
        &self,
        d: &Decision,
        run: i64,
        now_ns: i64,
        clear: &IpClear,
        report: &mut RunReport,
    ) -> Result<(), RetentionError> {
        let catalog = self.vault.catalog();
        for j in &d.expired {
            let seg = &j.segment;
            if let Err(e) = self.preserve_ledger_boundaries(seg).await {
                // Newer segments would meet the same refusal: stop here, keep the rest.
                tracing::error!(segment = %seg.path, error = %e, "the ledger cannot keep the level-0 tiles at the edges of an expired segment; it and the segments after it are kept for now");
                report.stopped = Some(format!("stopped before {}: {e}", seg.path));
                break;
            }
            self.faults.check(Step::BoundariesPreserved)?;
            let policy = Policy::label(&j.class, j.days);
            let record = OutboxEntry {
                peer: PEER_RETENTION.to_owned(),
                body: deleted_record(seg, &policy, run),
                watermark: self.vault.committed(),
            };
            let info = RetireInfo {
                policy,
                cutoff_ns: j.cutoff_ns,
                run,
                deleted_at_ns: now_ns,
            };
            let blocked = |holds: &[Hold]| -> Vec<i64> {
                holds
                    .iter()
                    .filter(|h| hold_touches(h, seg, clear))
                    .map(|h| h.id)
                    .collect()
            };
            let deletion = match catalog.retire_segment(seg.id, &info, &blocked, &record)? {
                Retired::Gone => continue,
                Retired::Held(ids) => {
                    let holds = catalog.holds()?;
                    let by_id: BTreeMap<i64, &Hold> = holds.iter().map(|h| (h.id, h)).collect();
                    report.held.push(held_report(j, &ids, &by_id));
                    continue;
                }
                Retired::Moved(id) => id,
            };
            self.faults.check(Step::CatalogMoved)?;
            let unread = self
                .vault
                .forget_segments(&[seg.id], self.reader_wait)
                .await;
            self.faults.check(Step::ViewDropped)?;
            if unread {
                if self.delete_object(&seg.path, report).await? {
                    self.faults.check(Step::ObjectDeleted)?;
                    catalog.mark_object_deleted(deletion, now_ns)?;
                    self.faults.check(Step::ObjectMarked)?;
                }
            } else {
                tracing::warn!(segment = %seg.path, "a search is still reading an expired segment; its object is deleted by the next run");
                report.deferred.push(seg.path.clone());
            }
            tracing::info!(segment = %seg.path, seq_min = seg.seq_min, seq_max = seg.seq_max, rows = seg.rows, policy = %info.policy, run, "retention deleted a segment");
            report
                .deleted
                .push(SegmentReport::new(j, why_expired(j), Vec::new()));
            self.flush_outbox_locked().await?;
        }
        Ok(())
    }

    /// Before any record of the segment is gone, the ledger keeps the
    /// level-0 tiles at the edges of `seq_min..=seq_max` (the leaf hashes it
    /// cannot recompute once the records are deleted), after waiting for a
    /// checkpoint that covers the range. Idempotent, so a crash after it is
    /// harmless.
    async fn preserve_ledger_boundaries(&self, seg: &SegmentMeta) -> Result<(), RetentionError> {
        crate::ledger::preserve_boundaries(&self.vault, seg.seq_min, seg.seq_max).await?;
        Ok(())
    }

    /// Finishes what an interrupted run left: objects of retired segments
    /// and records not yet appended. Returns the deletions it finished.
    async fn finish_interrupted(
        &self,
        report: &mut RunReport,
        now_ns: i64,
    ) -> Result<usize, RetentionError> {
        let catalog = self.vault.catalog();
        let pending = catalog.pending_object_deletions()?;
        let mut finished = 0;
        for d in &pending {
            if !self
                .vault
                .forget_segments(&[d.segment.id], self.reader_wait)
                .await
            {
                report.deferred.push(d.segment.path.clone());
                continue;
            }
            if !self.delete_object(&d.segment.path, report).await? {
                continue;
            }
            catalog.mark_object_deleted(d.id, now_ns)?;
            tracing::info!(segment = %d.segment.path, run = d.run, "finished a deletion an earlier retention run began");
            finished += 1;
        }
        self.flush_outbox_locked().await?;
        Ok(finished)
    }

    /// Deletes a retired segment's object: true when it is gone, false
    /// when the bucket's Object Lock still keeps it (in `report.locked`;
    /// its deletion row stays pending, so a later run deletes it).
    async fn delete_object(
        &self,
        path: &str,
        report: &mut RunReport,
    ) -> Result<bool, RetentionError> {
        let objects = self.vault.objects();
        if let Some(lock) = objects.object_lock() {
            // The catalog holds no hold over it any more (released holds
            // may have left their object legal hold on).
            if let Err(why) = lock.set_legal_hold(path, false).await {
                tracing::warn!(segment = %path, error = %why, "could not clear the object legal hold of an expired segment");
            }
        }
        // Durable when it returns; the local store also removes the hour
        // and day directories it empties.
        match objects.delete(path).await {
            Ok(()) => Ok(true),
            Err(e) if crate::objects::is_locked(&e) => {
                tracing::warn!(segment = %path, error = %e, "retention cannot delete an expired segment yet: the bucket's Object Lock keeps it (a later run deletes it)");
                report.locked.push(e.to_string());
                Ok(false)
            }
            Err(e) => Err(VaultError::Store(e.to_string()).into()),
        }
    }

    /// Appends the outbox's pending records (exactly once each).
    pub async fn flush_outbox(&self) -> Result<(), RetentionError> {
        let _serial = self.lock.lock().await;
        self.flush_outbox_locked().await
    }

    async fn flush_outbox_locked(&self) -> Result<(), RetentionError> {
        let catalog = self.vault.catalog();
        if catalog.outbox_pending()?.is_empty() {
            return Ok(());
        }
        if self.vault.is_read_only() {
            return Err(RetentionError::ReadOnly);
        }
        let rows = catalog.outbox_rows();
        let stop = |p: outbox::Point, _: &outbox::Pending| {
            self.faults.stops(match p {
                outbox::Point::Appended => Step::RecordAppended,
                outbox::Point::Marked => Step::RecordMarked,
            })
        };
        match self
            .flusher
            .flush_with(&*rows, &VaultSink::new(self.vault.clone()), &stop)
            .await
        {
            Ok(_) => Ok(()),
            Err(outbox::OutboxError::Injected(p, _)) => Err(RetentionError::Injected(match p {
                outbox::Point::Appended => Step::RecordAppended,
                outbox::Point::Marked => Step::RecordMarked,
            })),
            Err(e) => Err(RetentionError::Outbox(e)),
        }
    }

    /// Records of holds and deletions not yet in the vault.
    pub fn outbox_pending(&self) -> Result<u64, RetentionError> {
        Ok(self.vault.catalog().outbox_pending()?.len() as u64)
    }

    /// Adds a hold (and its `hold.added` record) with the clock at `now_ns`.
    pub async fn add_hold(&self, h: &NewHold, now_ns: i64) -> Result<Hold, RetentionError> {
        let h = validate_hold(h).map_err(RetentionError::Invalid)?;
        let _serial = self.lock.lock().await;
        if self.vault.is_read_only() {
            return Err(RetentionError::ReadOnly);
        }
        let hold = self.vault.catalog().add_hold(
            &h,
            now_ns,
            PEER_HOLDS,
            self.vault.committed(),
            &hold_added_record,
        )?;
        tracing::info!(hold = hold.id, reason = %hold.reason, order_ref = %hold.order_ref, by = %hold.created_by, "legal hold added");
        self.flush_outbox_locked().await?;
        if self.vault.objects().object_lock().is_some() {
            let touched = self
                .vault
                .catalog()
                .segments(None, None)?
                .into_iter()
                .filter(|s| hold_touches(&hold, s, &IpClear::new()))
                .map(|s| s.path);
            self.set_legal_holds(touched.collect(), true).await;
        }
        Ok(hold)
    }

    /// Releases a hold (and records `hold.released`) with the clock at `now_ns`.
    pub async fn release_hold(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now_ns: i64,
    ) -> Result<Hold, RetentionError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().any(char::is_control) {
            return Err(RetentionError::Invalid(
                "a release needs a reason (one line)".into(),
            ));
        }
        let by = if by.trim().is_empty() {
            "unknown"
        } else {
            by.trim()
        };
        let _serial = self.lock.lock().await;
        if self.vault.is_read_only() {
            return Err(RetentionError::ReadOnly);
        }
        let released = self.vault.catalog().release_hold(
            id,
            by,
            reason,
            now_ns,
            PEER_HOLDS,
            self.vault.committed(),
            &hold_released_record,
        )?;
        match released {
            Released::Released(h) => {
                tracing::info!(hold = h.id, reason, by, "legal hold released");
                self.flush_outbox_locked().await?;
                if self.vault.objects().object_lock().is_some() {
                    self.clear_legal_holds(&h).await?;
                }
                Ok(h)
            }
            Released::AlreadyReleased(_) => Err(RetentionError::AlreadyReleased(id)),
            Released::Unknown => Err(RetentionError::UnknownHold(id)),
        }
    }

    /// Under Object Lock, sets (or clears) the object legal hold of each
    /// of `paths`. A failure is logged, not returned: the catalog's hold is
    /// what retention obeys, and each run sets the legal hold again on the
    /// expired segments a hold keeps, and clears it before a deletion.
    async fn set_legal_holds(&self, paths: Vec<String>, on: bool) {
        use futures::StreamExt;
        let Some(lock) = self.vault.objects().object_lock() else {
            return;
        };
        let failed = futures::stream::iter(paths)
            .map(|p| async move { (lock.set_legal_hold(&p, on).await, p) })
            .buffer_unordered(8)
            .filter_map(|(r, p)| async move { r.err().map(|e| (p, e)) })
            .collect::<Vec<_>>()
            .await;
        for (path, error) in failed {
            tracing::error!(segment = %path, %error, on, "could not set the object legal hold");
        }
    }

    /// The object legal holds `released` leaves needless: those of the
    /// segments it covered that no active hold covers.
    async fn clear_legal_holds(&self, released: &Hold) -> Result<(), RetentionError> {
        let catalog = self.vault.catalog();
        let active: Vec<Hold> = catalog
            .holds()?
            .into_iter()
            .filter(|h| h.active())
            .collect();
        let as_active = Hold {
            released_at_ns: None,
            ..released.clone()
        };
        let none = IpClear::new();
        let paths: Vec<String> = catalog
            .segments(None, None)?
            .into_iter()
            .filter(|s| {
                hold_touches(&as_active, s, &none)
                    && !active.iter().any(|h| hold_touches(h, s, &none))
            })
            .map(|s| s.path)
            .collect();
        self.set_legal_holds(paths, false).await;
        Ok(())
    }

    /// Holds whose IP address the Bloom filters rule out of a held segment.
    async fn ip_clear(&self, d: &Decision, holds: &[Hold]) -> IpClear {
        let mut clear = IpClear::new();
        if !holds.iter().any(|h| h.active() && h.ip.is_some()) {
            return clear;
        }
        let store = self.vault.store();
        for (j, ids) in &d.held {
            for h in holds.iter().filter(|h| ids.contains(&h.id)) {
                let Some(ip) = &h.ip else { continue };
                if !j.segment.sources.contains_key(ip) && ip_absent(&store, &j.segment, ip).await {
                    clear.insert((j.segment.id, h.id));
                }
            }
        }
        clear
    }
}

fn held_report(j: &Judged, ids: &[i64], by_id: &BTreeMap<i64, &Hold>) -> SegmentReport {
    let holds: Vec<HoldRef> = ids
        .iter()
        .map(|id| match by_id.get(id) {
            Some(h) => HoldRef {
                id: *id,
                reason: h.reason.clone(),
                order_ref: h.order_ref.clone(),
            },
            None => HoldRef {
                id: *id,
                reason: String::new(),
                order_ref: String::new(),
            },
        })
        .collect();
    let names: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
    let why = format!(
        "past the {}-day window of `{}`, but held by {} {}",
        j.days,
        j.class,
        if ids.len() == 1 { "hold" } else { "holds" },
        names.join(", ")
    );
    SegmentReport::new(j, why, holds)
}

/// True when the segment's Bloom filters on extracted IP addresses rule `ip`
/// out of every row group. Any doubt (no filter, a read error) is `false`.
async fn ip_absent(store: &Arc<dyn ObjectStore>, seg: &SegmentMeta, ip: &str) -> bool {
    #[allow(deprecated)]
    let mut reader = ParquetObjectReader::new(store.clone(), ObjPath::from(seg.path.as_str()))
        .with_file_size(seg.bytes);
    let Ok(meta) = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await
    else {
        return false;
    };
    if crate::segment::version_of(&seg.path, meta.metadata().file_metadata()).is_err() {
        return false;
    }
    let md = meta.metadata().clone();
    let schema = md.file_metadata().schema_descr();
    let path = leaf_path(col::IPS);
    let Some(c) = (0..schema.num_columns()).find(|i| schema.column(*i).path() == &path) else {
        return false;
    };
    let mut probe = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta);
    for rg in 0..md.num_row_groups() {
        match probe.get_row_group_column_bloom_filter(rg, c).await {
            Ok(Some(bf)) if !bf.check(ip) => {}
            _ => return false,
        }
    }
    true
}
