//! `pramaan verify`: everything the vault keeps, checked from scratch.
//!
//! 1. The latest checkpoint and every checkpoint in the history: signed by
//!    the node's key, co-signatures by the given keys valid, origin right.
//! 2. Every segment: its SHA-256 and size against the catalog, its rows
//!    against the catalog's counts and ranges, sequence numbers dense.
//!    With `deep`, every record is parsed again and its derived columns
//!    compared with the stored ones.
//! 3. Every WAL file: frames whole and CRC-checked, sequence numbers dense,
//!    records that are also in a segment identical there.
//! 4. The tree, rebuilt from the leaves recomputed out of those records, in
//!    blocks of 256: each block's root against the stored level-1 tile, every
//!    stored tile of level ≥ 1 against the rebuilt ones, every checkpoint's
//!    root against the rebuilt tree at its size (so each extends the one
//!    before). Ranges deleted by retention are taken from the stored tiles
//!    (level-1 entries, and level-0 tiles kept at their edges).
//!
//! It only reads (the object store's segments, tiles and checkpoint, through
//! the same [`crate::objects::Objects`] the vault writes with, the catalog
//! read-only, the WAL), so it runs beside a running server. Each problem names its
//! place: segment file and row, WAL file and byte, tile path and entry,
//! checkpoint and size, and the sequence numbers involved.

use super::{list_tile_objects, node_verifier, CHECKPOINT_OBJECT};
use crate::catalog::Catalog;
use crate::objects::Objects;
use crate::schema::{col, BatchBuilder};
use crate::wal;
use crate::{SegmentMeta, VaultError, VaultOptions};
use arrow::array::{Array, AsArray, BooleanArray, PrimitiveArray, RecordBatch};
use arrow::datatypes::{Int32Type, TimestampNanosecondType, UInt64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use pramaan_core::{RecordRef, Transport};
use pramaan_ledger::merkle::root_of;
use pramaan_ledger::tiles::{tile_hashes, tiles_for_size, TileId, TILE_WIDTH};
use pramaan_ledger::{Appender, Checkpoint, Hash, MemStore, TileStore, VerifierKey, Verifiers};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to check, beyond everything.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Recompute leaves from this sequence number on only; the tree below it
    /// is taken from the stored level-1 tiles (from the 256-record block
    /// holding it).
    pub from_seq: Option<u64>,
    /// Also parse every record again and compare the derived columns.
    pub deep: bool,
    /// Co-signers' keys: their signatures on checkpoints must verify.
    pub cosigners: Vec<VerifierKey>,
    /// The node's key; by default derived from `ledger.key_file` or read
    /// from the `.vkey` file beside it.
    pub node_key: Option<VerifierKey>,
}

/// One thing that does not verify, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, object or row: `segment segments/…parquet row 17 (seq 1234)`,
    /// `WAL file …/00000000000000000042.wal byte 812`, `tile tile/1/000 entry 3`,
    /// `checkpoint object …/checkpoint (size 5000)`.
    pub place: String,
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.what)
    }
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not problems.
    pub notes: Vec<String>,
    /// Leaves in the rebuilt tree (records stored or accounted for).
    pub tree_size: u64,
    /// Records whose leaf was recomputed from their bytes.
    pub records_hashed: u64,
    /// Raw log bytes of those records.
    pub raw_bytes: u64,
    pub segments: usize,
    pub segment_bytes: u64,
    pub wal_files: usize,
    pub wal_bytes: u64,
    /// Records in the WAL that no segment holds yet.
    pub unsealed: u64,
    pub deleted_ranges: usize,
    pub deleted_records: u64,
    /// Blocks of 256 records taken from the stored level-1 tiles.
    pub blocks_from_tiles: u64,
    pub tiles_checked: usize,
    /// Distinct checkpoints (by size) whose root matched the rebuilt tree.
    pub checkpoints_checked: usize,
    /// Co-signer key name → checkpoints (distinct sizes) co-signed by it.
    pub cosigned: BTreeMap<String, usize>,
    pub latest_checkpoint: Option<u64>,
    pub node_key: Option<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Raw log bytes hashed per second, in MB/s (10^6 bytes).
    pub fn mb_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.raw_bytes as f64 / 1e6 / secs
    }
}

/// At most this many problems are listed (the count goes on).
const MAX_PROBLEMS: usize = 10_000;
const WIDTH: u64 = TILE_WIDTH as u64;

struct Ctx {
    report: Report,
    more_problems: usize,
    /// Sizes of checked checkpoints, and (co-signer, size) pairs seen.
    checked_sizes: std::collections::BTreeSet<u64>,
    cosigned_sizes: std::collections::BTreeSet<(String, u64)>,
}

impl Ctx {
    fn problem(&mut self, place: impl Into<String>, what: impl Into<String>) {
        if self.report.problems.len() < MAX_PROBLEMS {
            self.report.problems.push(Problem {
                place: place.into(),
                what: what.into(),
            });
        } else {
            self.more_problems += 1;
        }
    }

    fn note(&mut self, n: impl Into<String>) {
        self.report.notes.push(n.into());
    }
}

fn b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// A checkpoint to check against the rebuilt tree.
struct Target {
    size: u64,
    root: Hash,
    place: String,
    checked: bool,
}

impl Target {
    fn new(cp: &Checkpoint, place: String) -> Target {
        Target {
            size: cp.size,
            root: cp.root,
            place,
            checked: false,
        }
    }
}

/// A stored tile of level ≥ 1.
struct StoredTile {
    tile: TileId,
    path: String,
    hashes: Vec<Hash>,
}

/// A leaf as the stream of records gives it.
#[derive(Clone, Copy)]
enum Leaf {
    Known(Hash),
    /// Deleted by retention, skipped by `from_seq`, or unreadable (already reported).
    Unknown,
}

/// Where the records of a range are, for messages.
struct Places {
    segments: Vec<(u64, u64, String)>,
}

impl Places {
    fn describe(&self, lo: u64, hi: u64) -> String {
        let mut parts = Vec::new();
        for (min, max, path) in &self.segments {
            if *max >= lo && *min < hi {
                let a = lo.max(*min);
                let b = (hi - 1).min(*max);
                parts.push(format!("segment {path} rows {}..={}", a - min, b - min));
            }
        }
        if parts.is_empty() {
            format!("records {lo}..={}", hi - 1)
        } else {
            format!("records {lo}..={} ({})", hi - 1, parts.join(", "))
        }
    }
}

/// Rebuilds the tree in blocks of 256 leaves.
struct Builder {
    app: Appender,
    block: Vec<Leaf>,
    /// Stored tiles by (level, index), every stored version.
    level1: HashMap<u64, Vec<Hash>>,
    level0: HashMap<u64, (String, Vec<Hash>)>,
    targets: Vec<Target>,
    next_target: usize,
    /// The tree could not be rebuilt from this leaf on.
    poisoned_at: Option<u64>,
    /// Leaves fed so far (the next sequence number), poisoned or not.
    fed: u64,
}

impl Builder {
    fn new(
        level1: HashMap<u64, Vec<Hash>>,
        level0: HashMap<u64, (String, Vec<Hash>)>,
        targets: Vec<Target>,
    ) -> Builder {
        Builder {
            app: Appender::new(),
            block: Vec::with_capacity(WIDTH as usize),
            level1,
            level0,
            targets,
            next_target: 0,
            poisoned_at: None,
            fed: 0,
        }
    }

    fn next_seq(&self) -> u64 {
        self.fed
    }

    fn check_targets(&mut self, ctx: &mut Ctx) {
        while let Some(t) = self.targets.get_mut(self.next_target) {
            if t.size > self.app.size() {
                break;
            }
            if t.size == self.app.size() {
                t.checked = true;
                let root = self.app.root();
                if root != t.root {
                    ctx.problem(
                        t.place.clone(),
                        format!(
                            "its root {} is not the root {} of the tree rebuilt from the records at size {}",
                            b64(&t.root),
                            b64(&root),
                            t.size
                        ),
                    );
                } else if ctx.checked_sizes.insert(t.size) {
                    ctx.report.checkpoints_checked += 1;
                }
            }
            self.next_target += 1;
        }
    }

    fn append_leaves(&mut self, leaves: &[Hash], ctx: &mut Ctx) {
        for h in leaves {
            self.app.append(*h);
            if self
                .targets
                .get(self.next_target)
                .is_some_and(|t| t.size == self.app.size())
            {
                self.check_targets(ctx);
            }
        }
    }

    fn feed(&mut self, leaf: Leaf, places: &Places, ctx: &mut Ctx) {
        self.fed += 1;
        if self.poisoned_at.is_some() {
            return;
        }
        self.block.push(leaf);
        if self.block.len() == WIDTH as usize {
            self.finish_block(places, ctx);
        }
    }

    /// Unknown leaves up to `to` (exclusive), whole blocks at a time where possible.
    fn skip_to(&mut self, to: u64, places: &Places, ctx: &mut Ctx) {
        while self.poisoned_at.is_none() && self.next_seq() < to {
            let at = self.next_seq();
            if self.block.is_empty() && at + WIDTH <= to && !self.level0.contains_key(&(at / WIDTH))
            {
                self.fed += WIDTH;
                self.substitute(at / WIDTH, ctx);
            } else {
                self.feed(Leaf::Unknown, places, ctx);
            }
        }
        self.fed = self.fed.max(to);
    }

    /// Appends block `index` as its stored level-1 entry.
    fn substitute(&mut self, index: u64, ctx: &mut Ctx) {
        let start = index * WIDTH;
        match self
            .level1
            .get(&(index / WIDTH))
            .and_then(|t| t.get((index % WIDTH) as usize))
        {
            Some(entry) => {
                let entry = *entry;
                self.app
                    .append_subtree(8, entry)
                    .expect("blocks are appended at multiples of 256");
                ctx.report.blocks_from_tiles += 1;
                // Checkpoints strictly inside the block cannot be checked.
                self.check_targets(ctx);
            }
            None => {
                self.poisoned_at = Some(start);
                ctx.problem(
                    format!("records {start}..={}", start + WIDTH - 1),
                    "their leaves cannot be recomputed (deleted, skipped or unreadable) and no stored level-1 \
                     tile holds their hash: the tree cannot be rebuilt from here on",
                );
            }
        }
    }

    /// A level-0 tile kept at the edge of a deleted range fills the gaps in
    /// a block, and must agree with the records that are still there.
    fn fill_from_level0(&self, index: u64, block: &mut [Leaf], places: &Places, ctx: &mut Ctx) {
        let start = index * WIDTH;
        if let Some((path, stored)) = self.level0.get(&index) {
            for (i, (leaf, kept)) in block.iter_mut().zip(stored).enumerate() {
                match leaf {
                    Leaf::Known(h) if h != kept => ctx.problem(
                        format!("tile {path} entry {i}"),
                        format!(
                            "differs from the leaf of record {} ({})",
                            start + i as u64,
                            places.describe(start + i as u64, start + i as u64 + 1)
                        ),
                    ),
                    Leaf::Known(_) => {}
                    Leaf::Unknown => *leaf = Leaf::Known(*kept),
                }
            }
        }
    }

    fn finish_block(&mut self, places: &Places, ctx: &mut Ctx) {
        let index = self.app.size() / WIDTH;
        let start = index * WIDTH;
        let mut block = std::mem::take(&mut self.block);
        self.fill_from_level0(index, &mut block, places, ctx);
        let known: Option<Vec<Hash>> = block
            .iter()
            .map(|l| match l {
                Leaf::Known(h) => Some(*h),
                Leaf::Unknown => None,
            })
            .collect();
        match known {
            Some(leaves) => {
                let root = root_of(&leaves);
                if let Some(entry) = self
                    .level1
                    .get(&(index / WIDTH))
                    .and_then(|t| t.get((index % WIDTH) as usize))
                {
                    if root != *entry {
                        let tile = TileId::for_size(1, index / WIDTH, self.app.size() + WIDTH)
                            .map(|t| t.path())
                            .unwrap_or_default();
                        ctx.problem(
                            format!("tile {tile} entry {}", index % WIDTH),
                            format!(
                                "differs from the root of the 256 leaves of {} (the records or the tile were changed)",
                                places.describe(start, start + WIDTH)
                            ),
                        );
                    }
                }
                self.append_block(&leaves, root, ctx);
            }
            None => self.substitute(index, ctx),
        }
    }

    /// Appends a full block whose root is known: as one subtree (the leaves
    /// are not hashed again) unless a checkpoint ends inside it.
    fn append_block(&mut self, leaves: &[Hash], root: Hash, ctx: &mut Ctx) {
        let size = self.app.size();
        let inside = self
            .targets
            .get(self.next_target)
            .is_some_and(|t| t.size > size && t.size < size + WIDTH);
        if inside || self.app.append_subtree(8, root).is_err() {
            self.append_leaves(leaves, ctx);
        } else {
            self.check_targets(ctx);
        }
    }

    /// The last, partial block: all its leaves must be known.
    fn finish(&mut self, places: &Places, ctx: &mut Ctx) {
        if self.poisoned_at.is_some() || self.block.is_empty() {
            return;
        }
        let start = self.app.size();
        let mut block = std::mem::take(&mut self.block);
        self.fill_from_level0(start / WIDTH, &mut block, places, ctx);
        let mut leaves = Vec::with_capacity(block.len());
        for (i, l) in block.iter().enumerate() {
            match l {
                Leaf::Known(h) => leaves.push(*h),
                Leaf::Unknown => {
                    self.append_leaves(&leaves, ctx);
                    self.poisoned_at = Some(start + i as u64);
                    return;
                }
            }
        }
        self.append_leaves(&leaves, ctx);
    }
}

/// A record read from the WAL.
struct WalLeaf {
    hash: Hash,
    raw_len: u64,
    file: usize,
    offset: u64,
}

struct WalScan {
    files: Vec<PathBuf>,
    leaves: HashMap<u64, WalLeaf>,
    /// Lowest and one past the highest sequence number read.
    range: Option<(u64, u64)>,
    /// A torn frame at the end of the newest file: (file, offset, next seq).
    torn_tail: Option<(usize, u64, u64)>,
    bytes: u64,
}

fn scan_wal(dir: &Path, ctx: &mut Ctx, progress: &mut dyn FnMut(u64)) -> WalScan {
    let mut scan = WalScan {
        files: Vec::new(),
        leaves: HashMap::new(),
        range: None,
        torn_tail: None,
        bytes: 0,
    };
    let files = match wal::list_files(dir) {
        Ok(f) => f,
        Err(e) => {
            ctx.problem(format!("WAL directory {}", dir.display()), e.to_string());
            return scan;
        }
    };
    let newest = files.len().checked_sub(1);
    for (fi, wf) in files.iter().enumerate() {
        scan.files.push(wf.path.clone());
        let place = |off: u64| format!("WAL file {} byte {off}", wf.path.display());
        // Up to a failed append's mark, if one is beside the file.
        let data = match wal::read_valid(&wf.path) {
            Ok(d) => d,
            // Deleted by a running server after it sealed the records.
            Err(wal::WalError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue
            }
            Err(e) => {
                ctx.problem(format!("WAL file {}", wf.path.display()), e.to_string());
                continue;
            }
        };
        scan.bytes += data.len() as u64;
        let mut expected = wf.first_seq;
        let mut off = 0usize;
        while off < data.len() {
            let rest = data.len() - off;
            let torn = |ctx: &mut Ctx, scan: &mut WalScan, expected: u64, why: &str| {
                if Some(fi) == newest {
                    scan.torn_tail = Some((fi, off as u64, expected));
                } else {
                    ctx.problem(
                        place(off as u64),
                        format!("{why} in a WAL file that is not the newest (record {expected})"),
                    );
                }
            };
            if rest < 8 {
                torn(ctx, &mut scan, expected, "a torn frame header");
                break;
            }
            let len = u32::from_be_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_be_bytes(data[off + 4..off + 8].try_into().expect("4 bytes"));
            if len > wal::MAX_FRAME {
                ctx.problem(place(off as u64), format!("frame length {len} is impossible (record {expected}); the rest of the file is unreadable"));
                break;
            }
            if rest - 8 < len {
                torn(ctx, &mut scan, expected, "a torn frame");
                break;
            }
            let body = &data[off + 8..off + 8 + len];
            if crc32c::crc32c(body) != crc {
                ctx.problem(place(off as u64), format!("CRC-32C mismatch in the frame of record {expected}; the rest of the file is unreadable"));
                break;
            }
            let rec = match RecordRef::decode(body) {
                Ok(r) => r,
                Err(e) => {
                    ctx.problem(
                        place(off as u64),
                        format!("the frame of record {expected} does not decode: {e}"),
                    );
                    break;
                }
            };
            if rec.seq != expected {
                ctx.problem(
                    place(off as u64),
                    format!("sequence number {} where {expected} was expected", rec.seq),
                );
            }
            scan.leaves.insert(
                rec.seq,
                WalLeaf {
                    hash: pramaan_core::leaf_hash(body),
                    raw_len: rec.raw.len() as u64,
                    file: fi,
                    offset: off as u64,
                },
            );
            scan.range = Some(match scan.range {
                None => (rec.seq, rec.seq + 1),
                Some((a, b)) => (a.min(rec.seq), b.max(rec.seq + 1)),
            });
            expected = rec.seq + 1;
            off += 8 + len;
        }
        progress(data.len() as u64);
    }
    scan
}

/// Checks a signed checkpoint; returns it when its node signature verifies.
fn check_note(note: &[u8], signer: &Signer<'_>, place: &str, ctx: &mut Ctx) -> Option<Checkpoint> {
    let (origin, cosigners) = (signer.origin, signer.cosigners);
    let Some(node) = signer.node else {
        return Checkpoint::parse(
            pramaan_ledger::note::Note::parse(note)
                .map_err(|e| ctx.problem(place, e.to_string()))
                .ok()?
                .text(),
        )
        .map_err(|e| ctx.problem(place, e.to_string()))
        .ok();
    };
    let known = Verifiers::new(std::iter::once(node.clone()).chain(cosigners.iter().cloned()));
    match Checkpoint::open(note, origin, &known) {
        Ok(opened) => {
            if !opened.verified.is_signed_by(node) {
                ctx.problem(place, format!("not signed by the node key {}", node.name()));
                return None;
            }
            for c in cosigners {
                if opened.verified.is_signed_by(c)
                    && ctx
                        .cosigned_sizes
                        .insert((c.name().to_owned(), opened.checkpoint.size))
                {
                    *ctx.report.cosigned.entry(c.name().to_owned()).or_default() += 1;
                }
            }
            Some(opened.checkpoint)
        }
        Err(e) => {
            ctx.problem(place, format!("does not verify: {e}"));
            None
        }
    }
}

/// Verifies the vault at `opts` (see the module docs). `progress(done, total)`
/// is called with bytes of segments and WAL files read. Errors are returned
/// only when nothing can be checked (no catalog); everything else is a
/// [`Problem`] in the report.
pub fn verify(
    opts: &VaultOptions,
    vo: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, VaultError> {
    let started = Instant::now();
    let mut ctx = Ctx::new();
    // The store's own bytes, never a cached copy: a segment altered or
    // deleted in the bucket must be named even when a good copy is cached.
    let objects = crate::objects::Objects::open(opts)?.uncached();
    let lo = opts
        .ledger
        .clone()
        .unwrap_or_else(|| super::LedgerOptions::new(&opts.data_dir));
    let node = check_node_key(&lo, vo, &mut ctx);
    let catalog = crate::catalog::open_read_only(opts)?;
    let signer = Signer {
        origin: &lo.origin,
        node: node.as_ref(),
        cosigners: &vo.cosigners,
    };
    let checkpoints = read_checkpoints(&objects, &*catalog, &signer, &mut ctx)?;
    let tiles = read_stored_tiles(&objects, &mut ctx);
    let records = read_records_list(opts, &*catalog, &mut ctx, progress)?;

    let mut builder = Builder::new(tiles.level1, tiles.level0, checkpoints.targets);
    builder.check_targets(&mut ctx);
    let places = Places {
        segments: records
            .segments
            .iter()
            .map(|s| (s.seq_min, s.seq_max, s.path.clone()))
            .collect(),
    };
    let start = vo.from_seq.map_or(0, |f| f / WIDTH * WIDTH);
    builder.skip_to(start, &places, &mut ctx);
    let mut walk = Walk {
        builder: &mut builder,
        wal: &records.wal,
        places: &places,
        ctx: &mut ctx,
    };
    walk.segments_and_deletions(opts, vo, &objects, &records, start, progress);
    walk.unsealed_wal_records();
    let end = builder.next_seq();
    check_wal_end(&records.wal, checkpoints.latest.as_ref(), end, &mut ctx);
    builder.finish(&places, &mut ctx);
    ctx.report.tree_size = end;

    check_tiles(&mut builder, &tiles.stored, end, &places, &mut ctx);
    check_tiles_present(
        checkpoints.latest.as_ref(),
        &tiles.stored,
        builder.app.size(),
        &mut ctx,
    );
    check_checkpoints(&builder.targets, checkpoints.latest.as_ref(), end, &mut ctx);
    check_object_locks(&objects, &records.segments, &mut ctx);
    if checkpoints.latest.is_none() && end > 0 {
        ctx.problem(
            format!("checkpoint object {}", checkpoints.object),
            "missing or unreadable, and records are stored",
        );
    }
    if ctx.more_problems > 0 {
        ctx.note(format!(
            "{} more problems were not listed",
            ctx.more_problems
        ));
    }
    ctx.report.elapsed = started.elapsed();
    Ok(ctx.report)
}

/// Under `storage.object_lock`: every segment must be under COMPLIANCE
/// retention until its window ends, and the checkpoint under one at all
/// (how long depends on when it was written).
fn check_object_locks(objects: &Objects, segments: &[SegmentMeta], ctx: &mut Ctx) {
    use futures::StreamExt;
    let Some(lock) = objects.object_lock() else {
        return;
    };
    let mut wanted: Vec<(String, i64)> = segments
        .iter()
        .map(|s| (s.path.clone(), lock.segment_until(s)))
        .collect();
    // Locked at all (a quiet node's may have been written long ago).
    wanted.push((CHECKPOINT_OBJECT.to_owned(), 0));
    let found: Vec<(String, Option<String>)> = objects.block_on(
        futures::stream::iter(wanted)
            .map(|(key, until)| async move {
                let why = lock.missing_lock(&key, until).await;
                (key, why)
            })
            .buffer_unordered(16)
            .collect(),
    );
    let mut locked = 0;
    for (key, why) in found {
        match why {
            None => locked += 1,
            Some(why) => ctx.problem(format!("object {}", objects.place(&key)), why),
        }
    }
    ctx.note(format!(
        "{locked} objects (segments and the checkpoint) are under the bucket's COMPLIANCE Object Lock until their windows end"
    ));
}

/// The node's key (given, or from `ledger.key_file`), named for this
/// node's origin and matching the `.vkey` file beside it; `None` when it
/// cannot be had (signatures are then not checked).
fn check_node_key(
    lo: &super::LedgerOptions,
    vo: &VerifyOptions,
    ctx: &mut Ctx,
) -> Option<VerifierKey> {
    let node = match &vo.node_key {
        Some(k) => k.clone(),
        None => match node_verifier(&lo.key_file) {
            Ok(k) => k,
            Err(e) => {
                ctx.problem("node key", format!("{e}; signatures are not checked"));
                return None;
            }
        },
    };
    ctx.report.node_key = Some(node.to_vkey());
    if node.name() != lo.origin {
        ctx.problem(
            "node key",
            format!(
                "it is named {:?}, but this node's origin is {:?}",
                node.name(),
                lo.origin
            ),
        );
    }
    if let Ok(text) = std::fs::read_to_string(lo.vkey_file()) {
        if text.trim() != node.to_vkey() {
            ctx.problem(
                format!("verifier key file {}", lo.vkey_file().display()),
                "it is not the public key of the node's signing key",
            );
        }
    }
    Some(node)
}

/// Who must have signed a checkpoint, and for which origin.
struct Signer<'a> {
    origin: &'a str,
    /// `None`: the node's key is unknown; notes are parsed, not verified.
    node: Option<&'a VerifierKey>,
    cosigners: &'a [VerifierKey],
}

/// The checkpoints found, to check against the rebuilt tree.
struct Checkpoints {
    /// Every checkpoint whose signature verified, smallest first.
    targets: Vec<Target>,
    /// The published checkpoint object: its size and how to name it.
    latest: Option<(u64, String)>,
    /// Where the published checkpoint object is.
    object: String,
}

/// Step 1: the latest checkpoint object, then every checkpoint in the
/// history; the published one must not be older than the history's newest.
fn read_checkpoints(
    objects: &Objects,
    catalog: &dyn Catalog,
    signer: &Signer<'_>,
    ctx: &mut Ctx,
) -> Result<Checkpoints, VaultError> {
    let object = objects.place(CHECKPOINT_OBJECT);
    let mut targets: Vec<Target> = Vec::new();
    let mut latest: Option<(u64, String)> = None;
    match objects.get_blocking(CHECKPOINT_OBJECT) {
        Ok(Some(bytes)) => {
            let place = format!("checkpoint object {object}");
            if let Some(cp) = check_note(&bytes, signer, &place, ctx) {
                let place = format!("{place} (size {})", cp.size);
                latest = Some((cp.size, place.clone()));
                ctx.report.latest_checkpoint = Some(cp.size);
                targets.push(Target::new(&cp, place));
            }
        }
        Ok(None) => {}
        Err(e) => ctx.problem(format!("checkpoint object {object}"), e.to_string()),
    }
    let mut newest_kept: Option<u64> = None;
    for h in &catalog.checkpoints()? {
        let place = format!("checkpoint history, size {}", h.size);
        if let Some(cp) = check_note(h.note.as_bytes(), signer, &place, ctx) {
            if cp.size != h.size {
                ctx.problem(
                    place.clone(),
                    format!(
                        "the row is for size {} but its note says {}",
                        h.size, cp.size
                    ),
                );
            }
            newest_kept = newest_kept.max(Some(cp.size));
            targets.push(Target::new(&cp, place));
        }
    }
    if let (Some((size, place)), Some(kept)) = (&latest, newest_kept) {
        if *size < kept {
            ctx.problem(
                place.clone(),
                format!("it is older than the newest checkpoint in the history (size {kept}): the published checkpoint went backwards"),
            );
        }
    }
    targets.sort_by_key(|t| t.size);
    Ok(Checkpoints {
        targets,
        latest,
        object,
    })
}

/// The tiles in the object store.
struct StoredTiles {
    /// Level-1 tiles by index, the widest version of each.
    level1: HashMap<u64, Vec<Hash>>,
    /// Level-0 tiles kept at the edges of deleted ranges, the widest of each.
    level0: HashMap<u64, (String, Vec<Hash>)>,
    /// Every stored tile of level ≥ 1, each version.
    stored: Vec<StoredTile>,
}

/// Step 2: every stored tile, read and sized.
fn read_stored_tiles(objects: &Objects, ctx: &mut Ctx) -> StoredTiles {
    let mut tiles = StoredTiles {
        level1: HashMap::new(),
        level0: HashMap::new(),
        stored: Vec::new(),
    };
    let listed = list_tile_objects(objects).unwrap_or_else(|e| {
        ctx.problem(
            format!("tiles {}", objects.place(crate::objects::TILES)),
            e.to_string(),
        );
        Vec::new()
    });
    for (path, _) in listed {
        let Some((tile, hashes)) = read_tile(&path, objects, ctx) else {
            continue;
        };
        if tile.level == 0 {
            // Kept at the edge of a range deleted by retention; the widest wins.
            if tiles
                .level0
                .get(&tile.index)
                .is_none_or(|(_, h)| h.len() < hashes.len())
            {
                tiles.level0.insert(tile.index, (path.clone(), hashes));
            }
            continue;
        }
        if tile.level == 1 {
            let e = tiles.level1.entry(tile.index).or_default();
            if hashes.len() > e.len() {
                *e = hashes.clone();
            }
        }
        tiles.stored.push(StoredTile { tile, path, hashes });
    }
    tiles
}

/// One tile object, when its path names a tile and its length fits it.
fn read_tile(path: &str, objects: &Objects, ctx: &mut Ctx) -> Option<(TileId, Vec<Hash>)> {
    let tile = match TileId::parse(path) {
        Ok(t) => t,
        Err(_) if path.contains(".tmp-") => {
            ctx.note(format!(
                "{path}: a temporary file of an interrupted tile write"
            ));
            return None;
        }
        Err(e) => {
            ctx.problem(format!("tile {path}"), format!("not a tile path: {e}"));
            return None;
        }
    };
    let data = match objects.get_blocking(path) {
        Ok(Some(d)) => d,
        // Deleted since it was listed (a superseded partial tile).
        Ok(None) => return None,
        Err(e) => {
            ctx.problem(format!("tile {path}"), e.to_string());
            return None;
        }
    };
    if data.len() != tile.byte_len() {
        ctx.problem(
            format!("tile {path}"),
            format!(
                "it has {} bytes, a tile of its width has {}",
                data.len(),
                tile.byte_len()
            ),
        );
        return None;
    }
    let hashes = tile_hashes(&data).expect("length checked");
    Some((tile, hashes))
}

/// Where the records are: the catalog's segments and deleted ranges, and
/// the WAL, read so that the WAL starts where the segments end.
struct RecordsList {
    segments: Vec<SegmentMeta>,
    /// Sequence number ranges (inclusive) deleted by retention.
    deleted: Vec<(u64, u64)>,
    wal: WalScan,
}

/// Step 3: the catalog's segments and deletions, and the WAL. A running
/// server may seal and delete WAL files in between: read again (up to five
/// times) until the WAL starts where the segments end.
fn read_records_list(
    opts: &VaultOptions,
    catalog: &dyn Catalog,
    ctx: &mut Ctx,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RecordsList, VaultError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let segments = catalog.segments(None, None)?;
        let deleted: Vec<(u64, u64)> = catalog
            .deletions()
            .unwrap_or_default()
            .iter()
            .map(|d| (d.segment.seq_min, d.segment.seq_max))
            .collect();
        let sealed_end = segments
            .iter()
            .map(|s| s.seq_max + 1)
            .chain(deleted.iter().map(|d| d.1 + 1))
            .max()
            .unwrap_or(0);
        let mut trial = Ctx::new();
        let total: u64 = segments.iter().map(|s| s.bytes).sum::<u64>() + wal_bytes(opts);
        let mut done = 0u64;
        let wal = scan_wal(&opts.wal_dir(), &mut trial, &mut |n| {
            done += n;
            progress(done, total);
        });
        let consistent = wal.range.is_none_or(|(first, _)| first <= sealed_end);
        if consistent || attempt >= 5 {
            ctx.report.problems.extend(trial.report.problems);
            ctx.report.wal_files = wal.files.len();
            ctx.report.wal_bytes = wal.bytes;
            return Ok(RecordsList {
                segments,
                deleted,
                wal,
            });
        }
    }
}

/// Bytes in the WAL files now (for progress).
fn wal_bytes(opts: &VaultOptions) -> u64 {
    wal::list_files(&opts.wal_dir())
        .map(|f| {
            f.iter()
                .filter_map(|f| std::fs::metadata(&f.path).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A stretch of sequence numbers in the catalog.
enum Piece<'a> {
    Segment(&'a SegmentMeta),
    Deleted(u64, u64),
}

/// Step 4: the leaves, in sequence order, fed to the tree being rebuilt.
struct Walk<'a> {
    builder: &'a mut Builder,
    wal: &'a WalScan,
    places: &'a Places,
    ctx: &'a mut Ctx,
}

impl Walk<'_> {
    /// Every segment and deleted range in sequence order. Segments are
    /// decoded and hashed by worker threads, in order of `wanted`; the tree
    /// takes them in that order.
    fn segments_and_deletions(
        &mut self,
        opts: &VaultOptions,
        vo: &VerifyOptions,
        objects: &Objects,
        records: &RecordsList,
        start: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) {
        let mut pieces: Vec<(u64, Piece)> = records
            .segments
            .iter()
            .map(|s| (s.seq_min, Piece::Segment(s)))
            .collect();
        pieces.extend(
            records
                .deleted
                .iter()
                .map(|&(min, max)| (min, Piece::Deleted(min, max))),
        );
        pieces.sort_by_key(|(s, _)| *s);
        let wanted: Vec<&SegmentMeta> = pieces
            .iter()
            .filter_map(|(_, p)| match p {
                Piece::Segment(seg) if seg.seq_max >= start => Some(*seg),
                _ => None,
            })
            .collect();
        let total_bytes: u64 =
            records.segments.iter().map(|s| s.bytes).sum::<u64>() + self.wal.bytes;
        let mut done_bytes = self.wal.bytes;
        let threads = verify_threads();
        let feed = Feed {
            state: std::sync::Mutex::new((0, 0)),
            cv: std::sync::Condvar::new(),
            total: wanted.len(),
            window: threads + 1,
        };
        std::thread::scope(|sc| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, SegmentScan)>();
            for _ in 0..threads {
                let (tx, feed, wanted) = (tx.clone(), &feed, &wanted);
                sc.spawn(move || {
                    while let Some(i) = feed.take() {
                        let r = scan_segment(opts, vo, wanted[i], objects, start);
                        if tx.send((i, r)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            let mut scanned = InOrder {
                rx,
                ready: BTreeMap::new(),
                taken: 0,
                feed: &feed,
            };
            for (_, piece) in &pieces {
                match piece {
                    Piece::Deleted(min, max) => self.deleted(*min, *max),
                    Piece::Segment(seg) => {
                        self.ctx.report.segments += 1;
                        self.ctx.report.segment_bytes += seg.bytes;
                        if seg.seq_max < start {
                            continue;
                        }
                        self.segment(seg, scanned.next());
                        done_bytes += seg.bytes;
                        progress(done_bytes, total_bytes);
                    }
                }
            }
            feed.stop();
        });
    }

    /// A range deleted by retention: its leaves are unknown (the tiles
    /// stand for them).
    fn deleted(&mut self, min: u64, max: u64) {
        self.ctx.report.deleted_ranges += 1;
        self.ctx.report.deleted_records += max - min + 1;
        let next = self.builder.next_seq();
        if min > next {
            gap(self.builder, next, min, self.wal, self.places, self.ctx);
        }
        if max + 1 > self.builder.next_seq() {
            self.builder.skip_to(max + 1, self.places, self.ctx);
        }
    }

    /// A segment as a worker scanned it (`None`: the worker stopped).
    fn segment(&mut self, seg: &SegmentMeta, scanned: Option<SegmentScan>) {
        let next = self.builder.next_seq();
        if seg.seq_min > next {
            gap(
                self.builder,
                next,
                seg.seq_min,
                self.wal,
                self.places,
                self.ctx,
            );
        }
        match scanned {
            Some(r) => apply_segment(r, seg, self.builder, self.wal, self.places, self.ctx),
            None => self.ctx.problem(
                format!("segment {}", seg.path),
                "was not read: a verify worker thread stopped",
            ),
        }
        // Whatever the segment failed to give is unknown.
        if self.builder.next_seq() <= seg.seq_max {
            self.builder.skip_to(seg.seq_max + 1, self.places, self.ctx);
        }
    }

    /// Records only in the WAL (not sealed yet).
    fn unsealed_wal_records(&mut self) {
        loop {
            let s = self.builder.next_seq();
            let Some(w) = self.wal.leaves.get(&s) else {
                break;
            };
            self.builder
                .feed(Leaf::Known(w.hash), self.places, self.ctx);
            self.ctx.report.records_hashed += 1;
            self.ctx.report.raw_bytes += w.raw_len;
            self.ctx.report.unsealed += 1;
        }
    }
}

/// The workers' scans, handed back in the order they were asked for.
struct InOrder<'a> {
    rx: std::sync::mpsc::Receiver<(usize, SegmentScan)>,
    ready: BTreeMap<usize, SegmentScan>,
    taken: usize,
    feed: &'a Feed,
}

impl InOrder<'_> {
    /// The next segment's scan; `None` when every worker has stopped.
    fn next(&mut self) -> Option<SegmentScan> {
        let scanned = loop {
            if let Some(r) = self.ready.remove(&self.taken) {
                break Some(r);
            }
            match self.rx.recv() {
                Ok((i, r)) => {
                    self.ready.insert(i, r);
                }
                Err(_) => break None,
            }
        };
        self.taken += 1;
        self.feed.consumed(self.taken);
        scanned
    }
}

/// Step 5: the WAL's end. A torn frame at the end of the newest file was
/// never acknowledged, unless a checkpoint covers it; records after the
/// last one fed to the tree were cut off from it.
fn check_wal_end(scan: &WalScan, latest: Option<&(u64, String)>, end: u64, ctx: &mut Ctx) {
    if let Some((fi, off, next_seq)) = scan.torn_tail {
        let place = format!("WAL file {} byte {off}", scan.files[fi].display());
        if latest.is_some_and(|(size, _)| *size > next_seq) {
            ctx.problem(
                place,
                format!("the frame of record {next_seq} is torn, but the latest checkpoint covers it: acknowledged records were lost"),
            );
        } else {
            ctx.note(format!("{place}: a torn frame at the end of the newest WAL file (never acknowledged; cut at the next start)"));
        }
    }
    if let Some((_, hi)) = scan.range {
        if hi > end {
            ctx.problem(
                format!(
                    "WAL file {}",
                    scan.files
                        .last()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                format!(
                    "it holds records up to {} but the records before them stop at {end}",
                    hi - 1
                ),
            );
        }
    }
}

/// Step 6: every stored tile of level ≥ 1 against the rebuilt tree, where
/// the rebuilt tree is reliable (below the first leaf it could not know).
fn check_tiles(
    builder: &mut Builder,
    stored: &[StoredTile],
    end: u64,
    places: &Places,
    ctx: &mut Ctx,
) {
    let tree = builder.app.size();
    let rebuilt = MemStore::new();
    if let Err(e) = builder.app.flush(&rebuilt) {
        ctx.problem("rebuilt tree", e.to_string());
    }
    let reliable = builder.poisoned_at.unwrap_or(u64::MAX).min(tree);
    for st in stored {
        let span = 1u64 << (8 * st.tile.level as u32);
        let covers_to = st
            .tile
            .index
            .saturating_mul(WIDTH)
            .saturating_add(st.tile.width as u64)
            .saturating_mul(span);
        let Some(have) = TileId::for_size(st.tile.level, st.tile.index, tree)
            .filter(|h| h.width >= st.tile.width)
        else {
            if builder.poisoned_at.is_none() {
                ctx.problem(
                    format!("tile {}", st.path),
                    format!(
                        "it covers records up to {}, but only {end} records are stored",
                        covers_to - 1
                    ),
                );
            }
            continue;
        };
        if covers_to > reliable {
            continue;
        }
        let mine = rebuilt
            .get(&have.path())
            .ok()
            .flatten()
            .and_then(|d| tile_hashes(&d).ok())
            .unwrap_or_default();
        ctx.report.tiles_checked += 1;
        for (i, h) in st.hashes.iter().enumerate() {
            if mine.get(i) != Some(h) {
                let lo = (st.tile.index * WIDTH + i as u64) * span;
                ctx.problem(
                    format!("tile {} entry {i}", st.path),
                    format!(
                        "differs from the tree rebuilt from {}",
                        places.describe(lo, (lo + span).min(end).max(lo + 1))
                    ),
                );
                break;
            }
        }
    }
}

/// Step 7: every level-1 tile the published checkpoint needs is stored
/// (when the tree reached its size).
fn check_tiles_present(
    latest: Option<&(u64, String)>,
    stored: &[StoredTile],
    tree: u64,
    ctx: &mut Ctx,
) {
    let Some((size, place)) = latest else { return };
    if *size > tree {
        return;
    }
    for t in tiles_for_size(*size, 1) {
        let present = stored
            .iter()
            .any(|s| s.tile.level == t.level && s.tile.index == t.index && s.tile.width >= t.width);
        if !present {
            ctx.problem(
                format!("tile {}", t.path()),
                format!("missing, and the {place} needs it"),
            );
        }
    }
}

/// Step 8: the checkpoints the rebuilt tree did not reach: beyond the
/// records (records were lost), or inside records it could not know.
fn check_checkpoints(targets: &[Target], latest: Option<&(u64, String)>, end: u64, ctx: &mut Ctx) {
    for t in targets {
        if t.checked {
            continue;
        }
        if t.size > end {
            ctx.problem(
                t.place.clone(),
                format!(
                    "it covers {} records, but only {end} are stored: records were lost",
                    t.size
                ),
            );
        } else {
            ctx.note(format!(
                "{}: its root was not recomputed (its size falls in records that were deleted, skipped or unreadable)",
                t.place
            ));
        }
    }
    if let Some((size, _)) = latest {
        if end > *size {
            ctx.note(format!(
                "{} records are not yet covered by a checkpoint",
                end - size
            ));
        }
    }
}

/// Records `lo..hi` are in no segment and no deletion: take them from the
/// WAL when it has them, else report them missing.
fn gap(builder: &mut Builder, lo: u64, hi: u64, scan: &WalScan, places: &Places, ctx: &mut Ctx) {
    let mut s = lo;
    while s < hi {
        match scan.leaves.get(&s) {
            Some(w) => {
                builder.feed(Leaf::Known(w.hash), places, ctx);
                ctx.report.records_hashed += 1;
                ctx.report.raw_bytes += w.raw_len;
                s += 1;
            }
            None => {
                let mut e = s;
                while e < hi && !scan.leaves.contains_key(&e) {
                    e += 1;
                }
                ctx.problem(
                    format!("records {s}..={}", e - 1),
                    "in no segment, no deletion record and no WAL file: lost",
                );
                builder.skip_to(e, places, ctx);
                s = e;
            }
        }
    }
}

/// What a worker read from one segment on its own, before the checks that
/// need the records in sequence order.
struct SegmentScan {
    /// Problems in the segment itself (bytes, decoding, derived columns).
    local: Ctx,
    rows: Vec<RowLeaf>,
}

/// One row of a segment.
struct RowLeaf {
    seq: u64,
    kind: RowKind,
}

enum RowKind {
    Leaf(Hash, u32),
    /// Below `--from`: the tiles stand for it.
    Below,
    /// The transport column holds something unknown (already reported).
    Unknown,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            report: Report::default(),
            more_problems: 0,
            checked_sizes: Default::default(),
            cosigned_sizes: Default::default(),
        }
    }

    /// Takes over another context's problems and notes, in their order.
    fn absorb(&mut self, other: Ctx) {
        for p in other.report.problems {
            self.problem(p.place, p.what);
        }
        self.more_problems += other.more_problems;
        self.report.notes.extend(other.report.notes);
    }
}

/// Reads one segment (run by the worker threads, several at once): checks
/// its bytes against the catalog, decodes it, hashes the leaves, and with
/// `deep` compares the derived columns.
fn scan_segment(
    opts: &VaultOptions,
    vo: &VerifyOptions,
    seg: &SegmentMeta,
    objects: &Objects,
    skip_before: u64,
) -> SegmentScan {
    let mut ctx = Ctx::new();
    let mut rows = Vec::with_capacity(seg.rows.min(1 << 22) as usize);
    let place = format!("segment {}", seg.path);
    let data = match objects.get_blocking(&seg.path) {
        Ok(Some(d)) => d,
        Ok(None) => {
            ctx.problem(
                place,
                format!(
                    "is missing from the object store; its records {}..={} are lost",
                    seg.seq_min, seg.seq_max
                ),
            );
            return SegmentScan { local: ctx, rows };
        }
        Err(e) => {
            ctx.problem(
                place,
                format!(
                    "cannot be read ({e}); its records {}..={} are lost",
                    seg.seq_min, seg.seq_max
                ),
            );
            return SegmentScan { local: ctx, rows };
        }
    };
    if data.len() as u64 != seg.bytes {
        ctx.problem(
            place.clone(),
            format!(
                "it has {} bytes, the catalog says {}",
                data.len(),
                seg.bytes
            ),
        );
    }
    let sha = hex::encode(Sha256::digest(&data));
    if sha != seg.sha256 {
        ctx.problem(
            place.clone(),
            format!("its SHA-256 is {sha}, the catalog recorded {}", seg.sha256),
        );
    }
    // The Parquet reader panics on some corrupt files: contain it.
    let decoded = quietly(std::panic::AssertUnwindSafe(|| {
        decode_segment(opts, vo, seg, data, skip_before, &mut rows, &mut ctx)
    }));
    if let Err(msg) = decoded {
        ctx.problem(
            format!("segment {}", seg.path),
            format!("cannot be decoded: the Parquet reader failed ({msg})"),
        );
    }
    SegmentScan { local: ctx, rows }
}

/// Feeds a scanned segment's leaves to the tree, in order: checks that its
/// sequence numbers are dense and its own, and cross-checks the WAL's copies.
fn apply_segment(
    scan: SegmentScan,
    seg: &SegmentMeta,
    builder: &mut Builder,
    wal: &WalScan,
    places: &Places,
    ctx: &mut Ctx,
) {
    ctx.absorb(scan.local);
    let place = format!("segment {}", seg.path);
    let mut overlapping = 0u64;
    for (row, r) in scan.rows.iter().enumerate() {
        let s = r.seq;
        let (h, raw_len) = match r.kind {
            RowKind::Below => continue,
            RowKind::Unknown => {
                builder.feed(Leaf::Unknown, places, ctx);
                continue;
            }
            RowKind::Leaf(h, len) => (h, len),
        };
        let expected = builder.next_seq();
        if s < expected {
            if overlapping == 0 {
                ctx.problem(
                    format!("{place} row {row}"),
                    format!("record {s} is also in an earlier segment or row (sequence numbers must be unique)"),
                );
            }
            overlapping += 1;
            continue;
        }
        if s > seg.seq_max {
            ctx.problem(
                format!("{place} row {row}"),
                format!(
                    "sequence number {s} is outside the catalog's range {}..={}",
                    seg.seq_min, seg.seq_max
                ),
            );
            continue;
        }
        if s > expected {
            ctx.problem(
                format!("{place} row {row}"),
                format!("sequence number {s} where {expected} was expected (records {expected}..{s} are missing)"),
            );
            builder.skip_to(s, places, ctx);
        }
        if let Some(w) = wal.leaves.get(&s) {
            if w.hash != h {
                ctx.problem(
                    format!("WAL file {} byte {}", wal.files[w.file].display(), w.offset),
                    format!("record {s} differs from its copy in {place} row {row}"),
                );
            }
        }
        ctx.report.records_hashed += 1;
        ctx.report.raw_bytes += raw_len as u64;
        builder.feed(Leaf::Known(h), places, ctx);
    }
}

/// Segments are read by this many threads ahead of the tree (at most this
/// many more scanned segments wait in memory).
fn verify_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
}

/// Hands out segment indexes to the workers, never more than `window`
/// ahead of the one the tree is waiting for, so memory stays bounded.
struct Feed {
    state: std::sync::Mutex<(usize, usize)>,
    cv: std::sync::Condvar,
    total: usize,
    window: usize,
}

impl Feed {
    /// The next index to scan, or None when every segment is handed out.
    fn take(&self) -> Option<usize> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (next, consumed) = *g;
            if next >= self.total {
                return None;
            }
            if next < consumed + self.window {
                g.0 += 1;
                return Some(next);
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn consumed(&self, n: usize) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.1 = n;
        self.cv.notify_all();
    }

    /// Stops handing out work (the consumer is gone).
    fn stop(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = self.total;
        self.cv.notify_all();
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into an error message, without the panic
/// being printed (only on this thread; other threads' panics print as usual).
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = std::panic::catch_unwind(f);
    QUIET.with(|q| q.set(false));
    r.map_err(|e| {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    })
}

fn decode_segment(
    opts: &VaultOptions,
    vo: &VerifyOptions,
    seg: &SegmentMeta,
    data: Bytes,
    skip_before: u64,
    rows: &mut Vec<RowLeaf>,
    ctx: &mut Ctx,
) {
    let place = format!("segment {}", seg.path);
    let builder_pq = match ParquetRecordBatchReaderBuilder::try_new(data) {
        Ok(b) => b,
        Err(e) => {
            ctx.problem(place, format!("cannot be decoded as Parquet: {e}"));
            return;
        }
    };
    if let Err(e) = crate::segment::version_of(&seg.path, builder_pq.metadata().file_metadata()) {
        ctx.problem(place, e.to_string());
        return;
    }
    let mask = if vo.deep {
        ProjectionMask::all()
    } else {
        ProjectionMask::roots(builder_pq.parquet_schema(), [0, 1, 2, 3, 4])
    };
    let reader = match builder_pq
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            ctx.problem(place, format!("cannot be decoded as Parquet: {e}"));
            return;
        }
    };
    let ctx_parse = pramaan_ingest::ParseContext {
        received_at_ns: 0,
        default_offset_secs: opts.default_offset_secs,
    };
    let mut row = 0u64;
    let mut raw_bytes = 0u64;
    let (mut tmin, mut tmax) = (i64::MAX, i64::MIN);
    let mut deep_problems = 0usize;
    for batch in reader {
        let b = match batch {
            Ok(b) => b,
            Err(e) => {
                ctx.problem(
                    format!("{place} row {row}"),
                    format!("cannot be decoded: {e}"),
                );
                return;
            }
        };
        let Some(cols) = columns(&b) else {
            ctx.problem(
                place.clone(),
                "the columns seq, received_at, transport, peer and raw are not as expected",
            );
            return;
        };
        let (seq, at, transport, peer, raw) = cols;
        let mut rebuilt = vo.deep.then(BatchBuilder::new);
        // A zone-less stamp was read in its source's zone at ingest (the
        // configuration then); the stored offset says which, so `--deep`
        // reads it the same way even after `clock.source_zones` changed.
        let read_zone = vo.deep.then(|| stored_read_zone(&b)).flatten();
        for i in 0..b.num_rows() {
            let s = seq.value(i);
            let t = transport.value(i);
            row += 1;
            let Some(tr) = Transport::parse(t) else {
                ctx.problem(
                    format!("{place} row {} (seq {s})", row - 1),
                    format!("unknown transport {t:?}"),
                );
                rows.push(RowLeaf {
                    seq: s,
                    kind: RowKind::Unknown,
                });
                rebuilt = None;
                continue;
            };
            let rec = RecordRef {
                seq: s,
                received_at_ns: at.value(i),
                transport: tr,
                peer: peer.value(i),
                raw: raw.value(i),
            };
            raw_bytes += rec.raw.len() as u64;
            tmin = tmin.min(rec.received_at_ns);
            tmax = tmax.max(rec.received_at_ns);
            if let Some(rb) = rebuilt.as_mut() {
                let default_offset_secs = match read_zone {
                    Some((assumed, offset))
                        if assumed.is_valid(i) && assumed.value(i) && offset.is_valid(i) =>
                    {
                        offset.value(i)
                    }
                    _ => ctx_parse.default_offset_secs,
                };
                let p = pramaan_ingest::parse_record(
                    rec.raw,
                    rec.peer,
                    &pramaan_ingest::ParseContext {
                        received_at_ns: rec.received_at_ns,
                        default_offset_secs,
                    },
                );
                rb.push(&rec, &p);
            }
            let kind = if s < skip_before {
                RowKind::Below
            } else {
                RowKind::Leaf(
                    rec.leaf_hash(),
                    u32::try_from(rec.raw.len()).unwrap_or(u32::MAX),
                )
            };
            rows.push(RowLeaf { seq: s, kind });
        }
        if let Some(mut rb) = rebuilt {
            let mine = rb.finish();
            let first_row = row - b.num_rows() as u64;
            compare_derived(&b, &mine, &place, first_row, &mut deep_problems, ctx);
        }
    }
    if row != seg.rows {
        ctx.problem(
            place.clone(),
            format!("it has {row} rows, the catalog says {}", seg.rows),
        );
    }
    if row > 0 && (raw_bytes != seg.raw_bytes || tmin < seg.time_min_ns || tmax > seg.time_max_ns) {
        ctx.problem(
            place,
            format!(
                "its raw bytes ({raw_bytes}) or time range ({tmin}..{tmax}) differ from the catalog's ({} bytes, {}..{})",
                seg.raw_bytes, seg.time_min_ns, seg.time_max_ns
            ),
        );
    }
}

type Cols<'a> = (
    &'a arrow::array::UInt64Array,
    &'a arrow::array::TimestampNanosecondArray,
    &'a arrow::array::StringArray,
    &'a arrow::array::StringArray,
    &'a arrow::array::BinaryArray,
);

fn columns(b: &RecordBatch) -> Option<Cols<'_>> {
    Some((
        b.column_by_name(col::SEQ)?
            .as_primitive_opt::<UInt64Type>()?,
        b.column_by_name(col::RECEIVED_AT)?
            .as_primitive_opt::<TimestampNanosecondType>()?,
        b.column_by_name(col::TRANSPORT)?.as_string_opt::<i32>()?,
        b.column_by_name(col::PEER)?.as_string_opt::<i32>()?,
        b.column_by_name(col::RAW)?.as_binary_opt::<i32>()?,
    ))
}

/// The stored `event_zone_assumed` and `event_offset` columns.
fn stored_read_zone(b: &RecordBatch) -> Option<(&BooleanArray, &PrimitiveArray<Int32Type>)> {
    Some((
        b.column_by_name(col::EVENT_ZONE_ASSUMED)?
            .as_boolean_opt()?,
        b.column_by_name(col::EVENT_OFFSET)?
            .as_primitive_opt::<Int32Type>()?,
    ))
}

/// Compares every column of a stored batch with the one rebuilt by parsing
/// its records again; reports the rows that differ (at most 20 per segment).
fn compare_derived(
    stored: &RecordBatch,
    mine: &RecordBatch,
    place: &str,
    first_row: u64,
    count: &mut usize,
    ctx: &mut Ctx,
) {
    use arrow::util::display::array_value_to_string;
    let seq = stored.column(0).as_primitive::<UInt64Type>();
    for (c, field) in mine.schema().fields().iter().enumerate() {
        let Some(theirs) = stored.column_by_name(field.name()) else {
            ctx.problem(
                place.to_owned(),
                format!("column {} is missing", field.name()),
            );
            continue;
        };
        let ours = mine.column(c);
        if theirs.to_data() == ours.to_data() {
            continue;
        }
        for i in 0..stored.num_rows() {
            if theirs.slice(i, 1).to_data() == ours.slice(i, 1).to_data() {
                continue;
            }
            *count += 1;
            if *count <= 20 {
                ctx.problem(
                    format!(
                        "{place} row {} (seq {})",
                        first_row + i as u64,
                        seq.value(i)
                    ),
                    format!(
                        "column {} is {}, parsing the record again gives {}",
                        field.name(),
                        array_value_to_string(theirs, i).unwrap_or_else(|_| "?".into()),
                        array_value_to_string(ours, i).unwrap_or_else(|_| "?".into())
                    ),
                );
            } else if *count == 21 {
                ctx.note(format!(
                    "{place}: more derived columns differ; the first 20 are listed"
                ));
            }
        }
    }
}

/// Reads a verifier key file for `--key`: a `vkey` line, or a signer key
/// (`PRIVATE+KEY+…`, whose public half is used).
pub fn read_key_file(path: &Path) -> Result<VerifierKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = text.trim();
    if line.starts_with("PRIVATE+KEY+") {
        pramaan_ledger::SignerKey::parse(line)
            .map(|k| k.verifier())
            .map_err(|e| format!("{}: {e}", path.display()))
    } else {
        VerifierKey::parse(line).map_err(|e| format!("{}: {e}", path.display()))
    }
}
