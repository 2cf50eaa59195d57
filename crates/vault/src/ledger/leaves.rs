//! Records by sequence number, and the ledger's level 0 recomputed from them.
//!
//! Leaf hashes are never stored: a [`RecordSource`] answers
//! [`LeafHashes::leaf_hashes`] from a [`Snapshot`]: unsealed records from the
//! memtable, sealed ones by reading the `seq`, `received_at`, `transport`,
//! `peer` and `raw` columns of the segments that hold them (only the row
//! groups whose `seq` statistics overlap). A full level-0 tile stored by
//! [`super::preserve_boundaries`] (at the edges of a range that retention
//! deleted) is used in preference to the records.

use crate::schema::col;
use crate::vault::Snapshot;
use crate::{SegmentMeta, Vault, VaultError};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{TimestampNanosecondType, UInt64Type};
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::statistics::Statistics;
use pramaan_core::{Record, RecordRef, Transport};
use pramaan_ledger::tiles::{tile_hashes, TileId, TILE_WIDTH};
use pramaan_ledger::{Hash, LeafHashes, LedgerError, TileStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Calls `f` for every record of `b` with `lo <= seq < hi`, in row order.
/// `b` has at least the columns seq, received_at, transport, peer and raw.
pub(crate) fn each_record(
    b: &RecordBatch,
    lo: u64,
    hi: u64,
    f: &mut impl FnMut(RecordRef<'_>) -> Result<(), VaultError>,
) -> Result<(), VaultError> {
    let bad = |what: &str| VaultError::Read {
        path: "(record batch)".into(),
        reason: format!("column {what} is missing or has the wrong type"),
    };
    let seq = b
        .column_by_name(col::SEQ)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| bad(col::SEQ))?;
    let at = b
        .column_by_name(col::RECEIVED_AT)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| bad(col::RECEIVED_AT))?;
    let transport = b
        .column_by_name(col::TRANSPORT)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| bad(col::TRANSPORT))?;
    let peer = b
        .column_by_name(col::PEER)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| bad(col::PEER))?;
    let raw = b
        .column_by_name(col::RAW)
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| bad(col::RAW))?;
    for i in 0..b.num_rows() {
        let s = seq.value(i);
        if s < lo || s >= hi {
            continue;
        }
        let t = transport.value(i);
        let transport = Transport::parse(t).ok_or_else(|| VaultError::Read {
            path: "(record batch)".into(),
            reason: format!("record {s} has the unknown transport {t:?}"),
        })?;
        f(RecordRef {
            seq: s,
            received_at_ns: at.value(i),
            transport,
            peer: peer.value(i),
            raw: raw.value(i),
        })?;
    }
    Ok(())
}

/// The row groups of a segment whose `seq` statistics meet `[lo, hi)`.
fn row_groups_for(meta: &ArrowReaderMetadata, lo: u64, hi: u64) -> Vec<usize> {
    let md = meta.metadata();
    (0..md.num_row_groups())
        .filter(|&rg| match md.row_group(rg).column(0).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(min), Some(max)) => (*max as u64) >= lo && (*min as u64) < hi,
                _ => true,
            },
            _ => true,
        })
        .collect()
}

/// Reads the records of one segment with `lo <= seq < hi`.
async fn read_segment<F>(
    store: &Arc<dyn ObjectStore>,
    seg: &SegmentMeta,
    lo: u64,
    hi: u64,
    f: &mut F,
) -> Result<(), VaultError>
where
    F: FnMut(RecordRef<'_>) -> Result<(), VaultError>,
{
    let read_err = |e: &dyn std::fmt::Display| VaultError::Read {
        path: seg.path.clone(),
        reason: e.to_string(),
    };
    #[allow(deprecated)]
    let mut reader = ParquetObjectReader::new(store.clone(), ObjPath::from(seg.path.as_str()))
        .with_file_size(seg.bytes);
    let meta = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| read_err(&e))?;
    crate::segment::version_of(&seg.path, meta.metadata().file_metadata())?;
    let groups = row_groups_for(&meta, lo, hi);
    if groups.is_empty() {
        return Ok(());
    }
    let mask = ProjectionMask::roots(meta.parquet_schema(), [0, 1, 2, 3, 4]);
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta)
        .with_row_groups(groups)
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| read_err(&e))?;
    let mut stream = std::pin::pin!(stream);
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| read_err(&e))?;
        each_record(&b, lo, hi, f)?;
    }
    Ok(())
}

/// Reads the records with `lo <= seq < hi` that `snap` holds, in sequence
/// order: sealed ones from their segments, the rest from the memtable.
/// Records that are in neither (deleted by retention, or beyond the
/// snapshot) are simply not produced; callers check what they got.
pub(crate) async fn read_records<F>(
    store: &Arc<dyn ObjectStore>,
    snap: &Snapshot,
    lo: u64,
    hi: u64,
    f: &mut F,
) -> Result<(), VaultError>
where
    F: FnMut(RecordRef<'_>) -> Result<(), VaultError>,
{
    let mem_first = snap
        .mem
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| b.column_by_name(col::SEQ))
        .and_then(|c| c.as_primitive_opt::<UInt64Type>().map(|a| a.value(0)))
        .unwrap_or(snap.upto);
    let seg_hi = hi.min(mem_first);
    if lo < seg_hi {
        for seg in snap.segments.iter() {
            if seg.seq_max >= lo && seg.seq_min < seg_hi {
                read_segment(
                    store,
                    seg,
                    lo.max(seg.seq_min),
                    seg_hi.min(seg.seq_max + 1),
                    f,
                )
                .await?;
            }
        }
    }
    if hi > mem_first {
        for b in &snap.mem {
            each_record(b, lo.max(mem_first), hi, f)?;
        }
    }
    Ok(())
}

impl Vault {
    /// The stored records with `from <= seq < to`, in sequence order, from the
    /// segments and the memtable (waits until every committed record is
    /// indexed). Records deleted by retention are not returned.
    pub async fn records(&self, from: u64, to: u64) -> Result<Vec<Record>, VaultError> {
        let snap = self.snapshot().await;
        let mut out = Vec::new();
        read_records(&self.store(), &snap, from, to, &mut |r: RecordRef<'_>| {
            out.push(r.to_owned());
            Ok(())
        })
        .await?;
        Ok(out)
    }
}

/// Leaf hashes (and records) of the tree from a snapshot of the vault, for
/// [`pramaan_ledger::TileHashReader`] and [`pramaan_ledger::Appender`].
/// Blocking: call it from a blocking thread, never from async code.
pub struct RecordSource {
    snap: Snapshot,
    store: Arc<dyn ObjectStore>,
    tiles: Arc<dyn TileStore + Send + Sync>,
    handle: tokio::runtime::Handle,
    /// Level-0 tiles kept at the edges of deleted ranges: index → width.
    preserved: Arc<BTreeMap<u64, u16>>,
}

impl RecordSource {
    pub fn new(
        snap: Snapshot,
        store: Arc<dyn ObjectStore>,
        tiles: Arc<dyn TileStore + Send + Sync>,
        handle: tokio::runtime::Handle,
        preserved: Arc<BTreeMap<u64, u16>>,
    ) -> RecordSource {
        RecordSource {
            snap,
            store,
            tiles,
            handle,
            preserved,
        }
    }

    /// The number of records in the snapshot (the next sequence number).
    pub fn upto(&self) -> u64 {
        self.snap.upto
    }

    /// Records `lo <= seq < hi` (blocking).
    pub fn read(
        &self,
        lo: u64,
        hi: u64,
        f: &mut impl FnMut(RecordRef<'_>) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        self.handle
            .block_on(read_records(&self.store, &self.snap, lo, hi, f))
    }

    /// The record with sequence number `seq`.
    pub fn record(&self, seq: u64) -> Result<Option<Record>, VaultError> {
        let mut out = None;
        self.read(seq, seq + 1, &mut |r| {
            out = Some(r.to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// The level-0 tile kept for this index (see [`super::preserve_boundaries`]):
    /// its first `width` leaf hashes.
    fn stored_level0(&self, index: u64) -> Result<Option<Vec<Hash>>, LedgerError> {
        let Some(&width) = self.preserved.get(&index) else {
            return Ok(None);
        };
        let tile = TileId::new(0, index, width)?;
        let path = tile.path();
        match self.tiles.get(&path)? {
            None => Ok(None),
            Some(data) if data.len() == tile.byte_len() => Ok(Some(tile_hashes(&data)?)),
            Some(data) => Err(LedgerError::BadTile {
                path,
                len: data.len(),
                expected: tile.byte_len(),
            }),
        }
    }

    /// Leaf hashes of `lo..hi` from the records, checking that every one is there.
    fn hashes_from_records(
        &self,
        lo: u64,
        hi: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), LedgerError> {
        let mut expected = lo;
        self.read(lo, hi, &mut |r| {
            if r.seq != expected {
                return Err(VaultError::Read {
                    path: "(records)".into(),
                    reason: format!("record {expected} is missing (found {} instead)", r.seq),
                });
            }
            expected += 1;
            out.push(r.leaf_hash());
            Ok(())
        })
        .map_err(|e| LedgerError::backend(format!("reading records [{lo}, {hi})"), e))?;
        if expected != hi {
            return Err(LedgerError::backend(
                format!("reading records [{lo}, {hi})"),
                format!(
                    "records from {expected} on are not stored (deleted by retention without a \
                     preserved level-0 tile, or lost)"
                ),
            ));
        }
        Ok(())
    }
}

impl LeafHashes for RecordSource {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        if start > end {
            return Err(LedgerError::InvalidArgument(format!(
                "leaves [{start}, {end})"
            )));
        }
        let width = TILE_WIDTH as u64;
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut pos = start;
        // Records not covered by a stored level-0 tile are read in runs.
        let mut run_start = start;
        while pos < end {
            let index = pos / width;
            let tile_end = ((index + 1) * width).min(end);
            if let Some(stored) = self.stored_level0(index)? {
                // A kept tile covers its first `stored.len()` leaves; the
                // rest of the tile (if any) comes from the records.
                let base = index * width;
                let covered_end = (base + stored.len() as u64).min(tile_end);
                if pos < covered_end {
                    if run_start < pos {
                        self.hashes_from_records(run_start, pos, &mut out)?;
                    }
                    out.extend_from_slice(
                        &stored[(pos - base) as usize..(covered_end - base) as usize],
                    );
                    run_start = covered_end;
                }
            }
            pos = tile_end;
        }
        if run_start < end {
            self.hashes_from_records(run_start, end, &mut out)?;
        }
        Ok(out)
    }
}
