//! C2SP tlog-tiles: tile geometry, paths, and a [`HashReader`] over tiles.
//!
//! A tile at level `L` and index `N` holds up to 256 consecutive hashes of
//! Merkle tree level `8·L`:
//!
//! ```text
//! entry i of tile (L, N) = MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L])
//! ```
//!
//! so a level-1 entry is the root of one full level-0 tile (256 leaves), a
//! level-2 entry the root of one full level-1 tile, and so on. The tile for a
//! tree of size `s` at level `L` has `min(256, s/256^L − N·256)` entries; with
//! fewer than 256 it is *partial*, with path suffix `.p/<width>`.
//!
//! Level-0 tiles are never stored: [`TileHashReader`] recomputes them from
//! [`LeafHashes`]. Tiles of level ≥ 1 come from the [`TileStore`], with a fall
//! back to the full tile and then to recomputing from the level below if the
//! expected object is missing (e.g. a partial tile deleted by a concurrent
//! flush), so reads are always correct, just slower in those rare cases.

use crate::merkle::{perfect_root, HashReader};
use crate::{read_leaves, Hash, LeafHashes, LedgerError, TileStore};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Tile height: each tile spans 8 tree levels.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Bytes in a full tile.
pub const FULL_TILE_BYTES: usize = 256 * 32;
/// Highest tile level C2SP allows in a path.
pub const MAX_LEVEL: u8 = 63;

/// One tile: level, index within the level, and width (1..=256; 256 = full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// Why a tile path did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed tile path {path:?}: {reason}")]
pub struct TilePathError {
    pub path: String,
    pub reason: &'static str,
}

impl TileId {
    /// A full tile (256 hashes).
    pub fn full(level: u8, index: u64) -> TileId {
        TileId {
            level,
            index,
            width: TILE_WIDTH,
        }
    }

    /// A tile of `width` hashes (1..=256; 256 is the full tile).
    pub fn new(level: u8, index: u64, width: u16) -> Result<TileId, LedgerError> {
        if width == 0 || width > TILE_WIDTH || level > MAX_LEVEL {
            return Err(LedgerError::InvalidArgument(format!(
                "no tile has level {level} and width {width}"
            )));
        }
        Ok(TileId {
            level,
            index,
            width,
        })
    }

    /// The tile at `level` and `index` as it appears in a tree of `size`
    /// leaves (full or partial), or `None` if that tree has no such tile.
    pub fn for_size(level: u8, index: u64, size: u64) -> Option<TileId> {
        let entries = entries_at_level(size, level);
        let before = index.checked_mul(TILE_WIDTH as u64)?;
        if entries <= before {
            return None;
        }
        let width = (entries - before).min(TILE_WIDTH as u64) as u16;
        Some(TileId {
            level,
            index,
            width,
        })
    }

    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Number of bytes of this tile's data.
    pub fn byte_len(&self) -> usize {
        self.width as usize * 32
    }

    /// The C2SP path: `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`, with `N` in
    /// 3-digit groups, all but the last prefixed by `x`
    /// (`tile/0/x001/x234/067.p/8`).
    pub fn path(&self) -> String {
        let mut p = format!("tile/{}/{}", self.level, encode_index(self.index));
        if !self.is_full() {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// Parses a C2SP tile path (levels 0..=63; not `tile/entries/...`).
    pub fn parse(path: &str) -> Result<TileId, TilePathError> {
        let err = |reason| TilePathError {
            path: path.to_owned(),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or(err("does not start with tile/"))?;
        let (level_s, rest) = rest.split_once('/').ok_or(err("no index"))?;
        let level = parse_decimal(level_s).ok_or(err("level is not a decimal number"))?;
        if level > MAX_LEVEL as u64 {
            return Err(err("level above 63"));
        }
        let (index_s, width) = match rest.split_once(".p/") {
            Some((index_s, width_s)) => {
                let w = parse_decimal(width_s).ok_or(err("width is not a decimal number"))?;
                if w == 0 || w >= TILE_WIDTH as u64 {
                    return Err(err("partial width must be 1..=255"));
                }
                (index_s, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index_s.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i == groups.len() - 1;
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or(err("index group without x prefix"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("index group is not 3 digits"));
            }
            let value: u64 = digits.parse().expect("3 ASCII digits");
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(value))
                .ok_or(err("index too large"))?;
        }
        // Exactly one canonical encoding: no superfluous leading zero groups.
        if groups.len() > 1 && groups[0] == "x000" {
            return Err(err("index has a leading zero group"));
        }
        Ok(TileId {
            level: level as u8,
            index,
            width,
        })
    }

    /// The first leaf this tile covers: `index · 256^(level+1)`, or `None` if
    /// that does not fit in a `u64`.
    pub fn start_leaf(&self) -> Option<u64> {
        let shift = TILE_HEIGHT as u32 * (self.level as u32 + 1);
        if shift >= 64 {
            return if self.index == 0 { Some(0) } else { None };
        }
        self.index.checked_mul(1u64 << shift)
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Decimal without sign or leading zeros ("0" itself is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// `1234067` → `x001/x234/067`.
fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Number of hashes at tree level `8·level` in a tree of `size` leaves
/// (complete subtrees of 256^level leaves).
pub fn entries_at_level(size: u64, level: u8) -> u64 {
    let shift = TILE_HEIGHT as u32 * level as u32;
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// Every tile of a tree of `size` leaves, levels ≥ `min_level`, level by level:
/// the full tiles, then the partial one if any. (Level 0 alone has `size/256`
/// tiles, so this is lazy.)
pub fn tiles_for_size(size: u64, min_level: u8) -> impl Iterator<Item = TileId> {
    (min_level..=MAX_LEVEL)
        .take_while(move |&level| entries_at_level(size, level) > 0)
        .flat_map(move |level| {
            let entries = entries_at_level(size, level);
            let full = entries / TILE_WIDTH as u64;
            let rest = (entries % TILE_WIDTH as u64) as u16;
            (0..full)
                .map(move |index| TileId::full(level, index))
                .chain((rest > 0).then_some(TileId {
                    level,
                    index: full,
                    width: rest,
                }))
        })
}

/// The tiles of level ≥ `min_level` that a tree of `new_size` leaves has and a
/// tree of `old_size` leaves does not (new tiles and tiles that grew wider).
pub fn new_tiles(old_size: u64, new_size: u64, min_level: u8) -> Vec<TileId> {
    let mut out = Vec::new();
    if new_size <= old_size {
        return out;
    }
    for level in min_level..=MAX_LEVEL {
        let new_entries = entries_at_level(new_size, level);
        if new_entries == 0 {
            break;
        }
        let old_entries = entries_at_level(old_size, level);
        if old_entries == new_entries {
            continue;
        }
        let first = old_entries / TILE_WIDTH as u64;
        let last = (new_entries - 1) / TILE_WIDTH as u64;
        for index in first..=last {
            if let Some(tile) = TileId::for_size(level, index, new_size) {
                if TileId::for_size(level, index, old_size) != Some(tile) {
                    out.push(tile);
                }
            }
        }
    }
    out
}

/// Splits tile bytes into hashes.
pub fn tile_hashes(data: &[u8]) -> Result<Vec<Hash>, LedgerError> {
    if data.is_empty() || data.len() & 31 != 0 || data.len() > FULL_TILE_BYTES {
        return Err(LedgerError::BadTile {
            path: String::from("(tile data)"),
            len: data.len(),
            expected: FULL_TILE_BYTES,
        });
    }
    Ok(data
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect())
}

/// Concatenates hashes into tile bytes.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// The root of a full tile: the level-(L+1) entry that stands for it.
pub fn full_tile_root(hashes: &[Hash]) -> Result<Hash, LedgerError> {
    if hashes.len() != TILE_WIDTH as usize {
        return Err(LedgerError::InvalidArgument(format!(
            "a full tile has 256 hashes, not {}",
            hashes.len()
        )));
    }
    Ok(perfect_root(hashes))
}

/// Level-(L) tile contents from the level-(L−1) full tiles it covers, in
/// order (one entry per lower tile). At level 1 the lower "tiles" are runs
/// of 256 leaf hashes.
pub fn tile_from_lower(lower_full_tiles: &[Vec<Hash>]) -> Result<Vec<Hash>, LedgerError> {
    if lower_full_tiles.is_empty() || lower_full_tiles.len() > TILE_WIDTH as usize {
        return Err(LedgerError::InvalidArgument(format!(
            "a tile is built from 1..=256 lower tiles, not {}",
            lower_full_tiles.len()
        )));
    }
    lower_full_tiles.iter().map(|t| full_tile_root(t)).collect()
}

type TileCache = HashMap<(u8, u64), Arc<Vec<Hash>>>;

/// Reads node hashes of a tree of `size` leaves from stored tiles of level ≥ 1
/// and from level-0 tiles recomputed out of [`LeafHashes`].
///
/// Create it with the size the store was last flushed at
/// ([`crate::Appender::flushed_size`]); it then serves nodes, proofs and tiles
/// for every tree up to that size. Tiles it reads are cached for its lifetime,
/// so make one per request or batch.
pub struct TileHashReader<'a, S: TileStore + ?Sized, L: LeafHashes + ?Sized> {
    store: &'a S,
    leaves: &'a L,
    size: u64,
    cache: Mutex<TileCache>,
    repairs: Mutex<Vec<(TileId, Vec<Hash>)>>,
}

impl<'a, S: TileStore + ?Sized, L: LeafHashes + ?Sized> TileHashReader<'a, S, L> {
    pub fn new(store: &'a S, leaves: &'a L, size: u64) -> Self {
        TileHashReader {
            store,
            leaves,
            size,
            cache: Mutex::new(HashMap::new()),
            repairs: Mutex::new(Vec::new()),
        }
    }

    /// The tree size this reader serves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Tiles of level ≥ 1 that were missing from the store and had to be
    /// recomputed from the level below, with their contents.
    pub fn take_repairs(&self) -> Vec<(TileId, Vec<Hash>)> {
        std::mem::take(&mut *self.repairs.lock().expect("repairs lock"))
    }

    /// The bytes of any C2SP tile of a tree up to this reader's size, as a tile
    /// server would serve them: level 0 recomputed from the records, level ≥ 1
    /// from the store. A partial tile narrower than the tile in this reader's
    /// tree is served as its prefix (tile contents never change, they only
    /// grow).
    pub fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, LedgerError> {
        let have = TileId::for_size(tile.level, tile.index, self.size);
        match have {
            Some(have) if have.width >= tile.width => {
                let hashes = self.tile(tile.level, tile.index)?;
                Ok(tile_bytes(&hashes[..tile.width as usize]))
            }
            _ => Err(LedgerError::OutOfRange {
                what: format!("tile {tile}"),
                size: self.size,
            }),
        }
    }

    /// The root of the tree of `size` leaves (≤ this reader's size).
    pub fn tree_root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        crate::merkle::tree_root(self, size)
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size)?;
        crate::merkle::inclusion_proof(self, index, size)
    }

    /// Consistency proof between trees of `old_size` and `new_size` leaves.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(new_size)?;
        crate::merkle::consistency_proof(self, old_size, new_size)
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size {
            return Err(LedgerError::OutOfRange {
                what: format!("tree of size {size}"),
                size: self.size,
            });
        }
        Ok(())
    }

    /// The entries of tile (level, index) as it is in this reader's tree.
    pub(crate) fn tile_entries(
        &self,
        level: u8,
        index: u64,
    ) -> Result<Arc<Vec<Hash>>, LedgerError> {
        self.tile(level, index)
    }

    /// The hashes of tile (level, index) as it is in this reader's tree.
    fn tile(&self, level: u8, index: u64) -> Result<Arc<Vec<Hash>>, LedgerError> {
        if let Some(hit) = self.cache.lock().expect("cache lock").get(&(level, index)) {
            return Ok(hit.clone());
        }
        let tile =
            TileId::for_size(level, index, self.size).ok_or_else(|| LedgerError::OutOfRange {
                what: format!("tile at level {level}, index {index}"),
                size: self.size,
            })?;
        let hashes = if level == 0 {
            let start = index * TILE_WIDTH as u64;
            read_leaves(self.leaves, start, start + tile.width as u64)?
        } else {
            self.stored_tile(tile)?
        };
        let hashes = Arc::new(hashes);
        self.cache
            .lock()
            .expect("cache lock")
            .insert((level, index), hashes.clone());
        Ok(hashes)
    }

    /// A tile of level ≥ 1: the exact object, else a prefix of the full tile,
    /// else recomputed from the level below.
    fn stored_tile(&self, tile: TileId) -> Result<Vec<Hash>, LedgerError> {
        let path = tile.path();
        if let Some(data) = self.store.get(&path)? {
            return checked_hashes(&path, &data, tile.width);
        }
        if !tile.is_full() {
            let full = TileId::full(tile.level, tile.index);
            let full_path = full.path();
            if let Some(data) = self.store.get(&full_path)? {
                let mut hashes = checked_hashes(&full_path, &data, TILE_WIDTH)?;
                hashes.truncate(tile.width as usize);
                return Ok(hashes);
            }
        }
        // Recompute: entry j is the root of the full tile (level-1, index·256+j).
        let mut hashes = Vec::with_capacity(tile.width as usize);
        for j in 0..tile.width as u64 {
            let lower = self.tile(tile.level - 1, tile.index * TILE_WIDTH as u64 + j)?;
            hashes.push(full_tile_root(&lower)?);
        }
        self.repairs
            .lock()
            .expect("repairs lock")
            .push((tile, hashes.clone()));
        Ok(hashes)
    }
}

fn checked_hashes(path: &str, data: &[u8], width: u16) -> Result<Vec<Hash>, LedgerError> {
    let expected = width as usize * 32;
    if data.len() != expected {
        return Err(LedgerError::BadTile {
            path: path.to_owned(),
            len: data.len(),
            expected,
        });
    }
    tile_hashes(data)
}

impl<S: TileStore + ?Sized, L: LeafHashes + ?Sized> HashReader for TileHashReader<'_, S, L> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let out_of_range = || LedgerError::OutOfRange {
            what: format!("node (level {level}, index {index})"),
            size: self.size,
        };
        // The node covers leaves [index·2^level, (index+1)·2^level).
        let end = (level < 64)
            .then(|| index.checked_add(1))
            .flatten()
            .and_then(|i| i.checked_mul(1u64 << level))
            .ok_or_else(out_of_range)?;
        if end > self.size {
            return Err(out_of_range());
        }
        // It is the root of 2^r consecutive hashes at tree level 8·k.
        let k = level / TILE_HEIGHT;
        let r = level % TILE_HEIGHT;
        let first = index << r;
        let count = 1usize << r;
        let tile = self.tile(k, first / TILE_WIDTH as u64)?;
        let offset = (first % TILE_WIDTH as u64) as usize;
        let run = tile.get(offset..offset + count).ok_or_else(out_of_range)?;
        Ok(perfect_root(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let cases = [
            (TileId::full(0, 0), "tile/0/000"),
            (TileId::full(1, 7), "tile/1/007"),
            (
                TileId::new(0, 1234067, 8).unwrap(),
                "tile/0/x001/x234/067.p/8",
            ),
            (TileId::new(1, 1234, 17).unwrap(), "tile/1/x001/234.p/17"),
            (TileId::full(3, 1000), "tile/3/x001/000"),
            (
                TileId::full(63, u64::MAX),
                "tile/63/x018/x446/x744/x073/x709/x551/615",
            ),
        ];
        for (tile, path) in cases {
            assert_eq!(tile.path(), path);
            assert_eq!(TileId::parse(path).unwrap(), tile, "{path}");
        }
    }

    #[test]
    fn bad_paths() {
        for p in [
            "tile/0/1",
            "tile/0/0001",
            "tile/00/000",
            "tile/64/000",
            "tile/0/001/234",
            "tile/0/x001",
            "tile/0/x000/001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/08",
            "tile/0/000.p/",
            "tile/entries/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/1/abc",
            "tiles/0/000",
        ] {
            assert!(TileId::parse(p).is_err(), "{p} should not parse");
        }
    }

    #[test]
    fn spec_example_70000() {
        // C2SP: "a tree of size 70,000 will be represented by 273 full level 0
        // tiles, one partial level 0 tile of width 112, one full level 1 tile,
        // one partial level 1 tile of width 17, and one partial level 2 tile of
        // width 1."
        let tiles: Vec<TileId> = tiles_for_size(70_000, 0).collect();
        let level0: Vec<_> = tiles.iter().filter(|t| t.level == 0).collect();
        assert_eq!(level0.len(), 274);
        assert_eq!(level0.iter().filter(|t| t.is_full()).count(), 273);
        assert_eq!(level0.last().unwrap().width, 112);
        let rest: Vec<_> = tiles.iter().filter(|t| t.level > 0).copied().collect();
        assert_eq!(
            rest,
            vec![
                TileId::full(1, 0),
                TileId::new(1, 1, 17).unwrap(),
                TileId::new(2, 0, 1).unwrap()
            ]
        );
        // "a tree of size 256 will be represented by a full level 0 tile and a
        // partial level 1 tile of width 1."
        let t256: Vec<TileId> = tiles_for_size(256, 0).collect();
        assert_eq!(
            t256,
            vec![TileId::full(0, 0), TileId::new(1, 0, 1).unwrap()]
        );
        assert_eq!(tiles_for_size(0, 0).count(), 0);
    }

    #[test]
    fn new_tiles_between_sizes() {
        assert_eq!(
            new_tiles(255, 257, 0),
            vec![
                TileId::full(0, 0),
                TileId::new(0, 1, 1).unwrap(),
                TileId::new(1, 0, 1).unwrap()
            ]
        );
        assert_eq!(new_tiles(300, 310, 1), vec![]);
        assert_eq!(new_tiles(10, 10, 0), vec![]);
        let all: Vec<TileId> = tiles_for_size(70_000, 0).collect();
        assert_eq!(new_tiles(0, 70_000, 0), all);
    }

    #[test]
    fn start_leaf() {
        assert_eq!(TileId::full(0, 3).start_leaf(), Some(768));
        assert_eq!(TileId::full(1, 3).start_leaf(), Some(3 * 65536));
        assert_eq!(TileId::full(7, 0).start_leaf(), Some(0));
        assert_eq!(TileId::full(7, 1).start_leaf(), None);
    }
}
