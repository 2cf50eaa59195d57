//! Compaction: each sealed segment is rewritten once, in the background, at a
//! higher zstd level and in larger pages.
//!
//! Sealing has to keep up with ingest, so it compresses fast
//! (`segments.zstd_level`, default 1, 1 MiB pages). Most segments then sit
//! untouched for 180 days, so a thread at the lowest CPU priority rewrites
//! them at `segments.compact_level` (default 19) in 8 MiB pages, which gives
//! zstd more context: on the loghub lines segments shrink by about a fifth
//! against level 1. Ingest never waits for it.
//!
//! The records do not change, and that is checked: the rewrite is decoded
//! again and compared with the original, batch by batch, before it replaces
//! it. The ledger hashes records, not files, so no proof changes; the catalog
//! keeps the new object's SHA-256, which `verify` checks.
//!
//! What a crash leaves behind, step by step:
//! 1. New object written, catalog not switched: the new object is in no
//!    catalog row and is removed at the next open, like an interrupted seal;
//!    the old object is still the segment.
//! 2. Catalog switched, old object not deleted: now the old object is the one
//!    in no catalog row, and is removed at the next open.
//!
//! A search that took its snapshot before the switch still reads the old
//! object, so it is deleted only once no such snapshot is alive.

use crate::catalog::SegmentMeta;
pub use crate::options::CompactOptions;
use crate::schema::schema;
use crate::segment::{self, SegmentOptions};
use crate::vault::Vault;
use crate::VaultError;
use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::{path::Path as ObjPath, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::time::{Duration, Instant};

/// What rewriting one segment did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    pub id: i64,
    pub old_path: String,
    pub new_path: String,
    pub old_bytes: u64,
    pub new_bytes: u64,
    /// The old object is deleted (false: a search still reads it; it goes later).
    pub old_deleted: bool,
}

/// The object path of a segment rewritten at `level`:
/// `…/<seq_min>-<seq_max>.z<level>.parquet`.
pub fn compacted_path(path: &str, level: i32) -> String {
    let stem = path.strip_suffix(".parquet").unwrap_or(path);
    // A segment compacted before (at another level) keeps one suffix.
    let stem = match stem.rsplit_once(".z") {
        Some((s, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => stem,
    };
    format!("{stem}.z{level}.parquet")
}

/// Re-encodes a segment's bytes with `opts`, and checks that the result holds
/// exactly the same records. `stop` is asked between batches; `Ok(None)`
/// when it said stop.
pub fn reencode(
    path: &str,
    data: Bytes,
    rows: u64,
    opts: &SegmentOptions,
    stop: &dyn Fn() -> bool,
) -> Result<Option<segment::Encoded>, VaultError> {
    let read_err = |e: &dyn std::fmt::Display| VaultError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let batches = |bytes: Bytes| {
        ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.with_batch_size(8192).build())
            .map_err(|e| read_err(&e))
    };
    let footer =
        ParquetRecordBatchReaderBuilder::try_new(data.clone()).map_err(|e| read_err(&e))?;
    // A segment of a layout this binary does not know is never rewritten.
    segment::version_of(path, footer.metadata().file_metadata())?;
    drop(footer);
    let mut enc = segment::Encoder::new(opts, rows as usize)?;
    for b in batches(data.clone())? {
        if stop() {
            return Ok(None);
        }
        let b = b.map_err(|e| read_err(&e))?;
        // The file's own schema carries Parquet metadata; the writer wants ours.
        let b = RecordBatch::try_new(schema(), b.columns().to_vec()).map_err(|e| read_err(&e))?;
        enc.write(&b)?;
    }
    let out = enc.finish()?;
    // Nothing that was sealed may change: compare every value.
    let mut old = batches(data)?;
    let mut new = batches(Bytes::from(out.bytes.clone()))?;
    let mut row = 0u64;
    loop {
        if stop() {
            return Ok(None);
        }
        match (old.next(), new.next()) {
            (None, None) => break,
            (Some(a), Some(b)) => {
                let (a, b) = (a.map_err(|e| read_err(&e))?, b.map_err(|e| read_err(&e))?);
                let same = a.num_rows() == b.num_rows()
                    && a.columns()
                        .iter()
                        .zip(b.columns())
                        .all(|(x, y)| x.to_data() == y.to_data());
                if !same {
                    return Err(read_err(&format!(
                        "the rewrite differs from the sealed segment near row {row}; the segment is left as it is"
                    )));
                }
                row += a.num_rows() as u64;
            }
            _ => {
                return Err(read_err(
                    &"the rewrite has a different number of rows; the segment is left as it is",
                ))
            }
        }
    }
    Ok(Some(out))
}

/// Compaction replaces a segment's object; under Object Lock the old one
/// would stay, locked, for its whole window beside the new one.
fn refuse_under_object_lock(v: &Vault) -> Result<(), VaultError> {
    if v.objects().object_lock().is_some() {
        return Err(VaultError::Store(
            "compaction is not run under storage.object_lock: the bucket would keep each rewritten \
             segment's locked original beside its copy until the window ends"
                .into(),
        ));
    }
    Ok(())
}

impl Vault {
    /// Segments that compaction would rewrite now, oldest first.
    pub fn compaction_candidates(
        &self,
        opts: &CompactOptions,
        now_ns: i64,
    ) -> Result<Vec<SegmentMeta>, VaultError> {
        if !opts.enabled() {
            return Ok(Vec::new());
        }
        let below = self.catalog().below_level(opts.level)?;
        let after = i64::try_from(opts.after.as_nanos()).unwrap_or(i64::MAX);
        Ok(self
            .segments_now()
            .iter()
            .filter(|s| below.contains(&s.id) && now_ns.saturating_sub(s.created_at_ns) >= after)
            .cloned()
            .collect())
    }

    /// Rewrites one segment (see the module docs). Blocking: call it from a
    /// thread that is not a Tokio worker. `Ok(None)`: `stop` said stop, or
    /// the segment was deleted meanwhile; nothing changed.
    pub fn compact_segment(
        &self,
        handle: &tokio::runtime::Handle,
        copts: &CompactOptions,
        seg: &SegmentMeta,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Compacted>, VaultError> {
        refuse_under_object_lock(self)?;
        // The store's own bytes: a damaged segment must not be rewritten
        // from a good cached copy (verify would no longer see the damage).
        let store = self.objects().origin();
        let location = ObjPath::from(seg.path.as_str());
        let data = handle
            .block_on(async { store.get(&location).await?.bytes().await })
            .map_err(VaultError::store)?;
        let sha = segment::sha256_hex(&data);
        if sha != seg.sha256 {
            // Never rewrite evidence that no longer matches its catalog row:
            // `verify` must still see the damage.
            return Err(VaultError::Read {
                path: seg.path.clone(),
                reason: format!(
                    "its SHA-256 is {sha}, the catalog recorded {}; not compacted",
                    seg.sha256
                ),
            });
        }
        let sopts = SegmentOptions {
            zstd_level: copts.level,
            data_page_bytes: copts.page_bytes,
            ..self.options().segment.clone()
        };
        let Some(enc) = reencode(&seg.path, data, seg.rows, &sopts, stop)? else {
            return Ok(None);
        };
        let new_path = compacted_path(&seg.path, copts.level);
        let new_bytes = enc.bytes.len() as u64;
        let new_loc = ObjPath::from(new_path.as_str());
        handle
            .block_on(store.put(&new_loc, PutPayload::from(Bytes::from(enc.bytes))))
            .map_err(VaultError::store)?;

        // Switch under the maintenance lock, so that retention never plans
        // with a path that is about to change.
        let earlier = {
            let _m = self.maintenance_blocking();
            let switched = self.catalog().switch_object(
                seg.id,
                &seg.path,
                &new_path,
                new_bytes,
                &enc.sha256,
                copts.level,
            )?;
            if !switched {
                // Retention deleted it meanwhile.
                let _ = handle.block_on(store.delete(&new_loc));
                return Ok(None);
            }
            self.replace_segment(SegmentMeta {
                path: new_path.clone(),
                bytes: new_bytes,
                sha256: enc.sha256.clone(),
                ..seg.clone()
            })
        };
        metrics::counter!("pramaan_segments_compacted_total").increment(1);
        metrics::counter!("pramaan_compaction_bytes_saved_total")
            .increment(seg.bytes.saturating_sub(new_bytes));
        let old_deleted = self.delete_when_unread(handle, &earlier, seg, Duration::from_secs(60));
        Ok(Some(Compacted {
            id: seg.id,
            old_path: seg.path.clone(),
            new_path,
            old_bytes: seg.bytes,
            new_bytes,
            old_deleted,
        }))
    }

    /// Deletes a replaced object once no snapshot listed in `earlier` is
    /// alive, waiting up to `wait`. False: still read; the next open (or the
    /// next compaction pass) removes it.
    pub(crate) fn delete_when_unread(
        &self,
        handle: &tokio::runtime::Handle,
        earlier: &[std::sync::Weak<Vec<SegmentMeta>>],
        seg: &SegmentMeta,
        wait: Duration,
    ) -> bool {
        let start = Instant::now();
        while earlier.iter().any(|w| {
            w.upgrade()
                .is_some_and(|l| l.iter().any(|s| s.id == seg.id && s.path == seg.path))
        }) {
            if start.elapsed() >= wait {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let store = self.store();
        let loc = ObjPath::from(seg.path.as_str());
        match handle.block_on(store.delete(&loc)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => true,
            Err(e) => {
                tracing::warn!(object = %seg.path, error = %e, "could not delete a segment object replaced by compaction; the next start removes it");
                false
            }
        }
    }

    /// Rewrites every segment due now, one after the other (`pramaan
    /// compact`, and the background thread). `progress(done, total, last)`.
    pub fn compact_due(
        &self,
        handle: &tokio::runtime::Handle,
        opts: &CompactOptions,
        now_ns: i64,
        stop: &dyn Fn() -> bool,
        progress: &mut dyn FnMut(usize, usize, Option<&Compacted>),
    ) -> Result<Vec<Compacted>, VaultError> {
        refuse_under_object_lock(self)?;
        let due = self.compaction_candidates(opts, now_ns)?;
        let mut done = Vec::new();
        progress(0, due.len(), None);
        for (i, seg) in due.iter().enumerate() {
            if stop() {
                break;
            }
            if let Some(c) = self.compact_segment(handle, opts, seg, stop)? {
                progress(i + 1, due.len(), Some(&c));
                done.push(c);
            }
        }
        Ok(done)
    }
}

/// The background thread of `serve`: looks for due segments every `every`,
/// rewrites them at the lowest CPU priority, and ends when the vault closes.
pub(crate) fn compactor_loop(
    vault: Vault,
    handle: tokio::runtime::Handle,
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    every: Duration,
) {
    // Compaction only uses CPU that nothing else wants.
    crate::priority::lower_this_thread(19, "compaction");
    let stop = || closing.load(std::sync::atomic::Ordering::Acquire);
    let opts = vault.options().compact.clone();
    let mut backoff = every;
    while !stop() {
        let started = Instant::now();
        while started.elapsed() < backoff {
            if stop() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100).min(backoff));
        }
        match vault.compact_due(
            &handle,
            &opts,
            pramaan_core::time::now_ns(),
            &stop,
            &mut |_, _, c| {
                if let Some(c) = c {
                    tracing::debug!(segment = %c.new_path, old_bytes = c.old_bytes, new_bytes = c.new_bytes, "compacted a segment");
                }
            },
        ) {
            Ok(_) => backoff = every,
            Err(e) => {
                metrics::counter!("pramaan_compaction_errors_total").increment(1);
                tracing::warn!(error = %e, "compacting segments failed; the segments stay as sealed and it is tried again later");
                backoff = (backoff * 2).min(Duration::from_secs(3600)).max(every);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacted_paths_keep_one_level_suffix() {
        let p = "segments/2026/11/28/06/00000000000000000000-00000000000000000009.parquet";
        let c = compacted_path(p, 19);
        assert_eq!(
            c,
            "segments/2026/11/28/06/00000000000000000000-00000000000000000009.z19.parquet"
        );
        assert_eq!(
            compacted_path(&c, 22),
            "segments/2026/11/28/06/00000000000000000000-00000000000000000009.z22.parquet"
        );
    }
}
