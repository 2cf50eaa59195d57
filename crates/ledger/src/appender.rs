//! The [`Appender`]: grows the tree one leaf hash at a time and writes the
//! tiles of level ≥ 1.
//!
//! In memory it keeps
//!
//! * the compact right edge: the roots of the complete subtrees that make up
//!   the tree (one per set bit of the size, at most 64), so appending costs
//!   one hash amortised and the root costs at most 63;
//! * for each tile level ≥ 1, the entries of the rightmost (partial) tile,
//!   at most 255 hashes per level, so tiles can be written without reading
//!   anything back;
//! * full tiles completed since the last flush, and which partial tile of each
//!   level was last written (so it can be deleted once superseded).
//!
//! Every node of tree level `8·k` (k ≥ 1) is created exactly once, when the
//! compact edge merges two subtrees into it; that is when it joins the tile at
//! level `k`. Leaves (level 0) are not kept at all.

use crate::merkle::{complete_subtree_root, empty_root, node_hash};
use crate::tiles::{entries_at_level, tile_bytes, TileHashReader, TileId, TILE_HEIGHT, TILE_WIDTH};
use crate::{read_leaves, Hash, HashReader, LeafHashes, LedgerError, TileStore};

/// Largest batch of leaf hashes [`Appender::catch_up`] reads at once.
const CATCH_UP_BATCH: u64 = 1 << 16;

/// Builds the tree incrementally and keeps its tiles of level ≥ 1 in a
/// [`TileStore`]. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Appender {
    size: u64,
    /// Roots of the complete subtrees of the tree, largest (leftmost) first;
    /// `edge[i]` has height equal to the i-th highest set bit of `size`.
    edge: Vec<Hash>,
    /// `partial[k - 1]`: entries of the rightmost tile at level k (< 256).
    partial: Vec<Vec<Hash>>,
    /// Full tiles completed since the last successful flush.
    pending_full: Vec<(TileId, Vec<Hash>)>,
    /// `written[k - 1]`: the partial tile of level k last written to the store.
    written: Vec<Option<TileId>>,
    /// Superseded partial tiles still to delete.
    pending_delete: Vec<TileId>,
    /// The size all stored tiles correspond to.
    flushed_size: u64,
}

/// What a [`Appender::flush`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Tiles written (full and partial).
    pub tiles_written: usize,
    /// Bytes written.
    pub bytes_written: u64,
    /// Superseded partial tiles deleted.
    pub tiles_deleted: usize,
}

impl Appender {
    /// An appender for the empty tree.
    pub fn new() -> Appender {
        Appender::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree size that the stored tiles correspond to: every tile of level
    /// ≥ 1 of this tree is in the store. Build [`TileHashReader`]s with it.
    pub fn flushed_size(&self) -> u64 {
        self.flushed_size
    }

    /// Whether [`Appender::flush`] has anything to write or delete.
    pub fn needs_flush(&self) -> bool {
        self.flushed_size != self.size
            || !self.pending_full.is_empty()
            || !self.pending_delete.is_empty()
    }

    /// The root of the current tree, from the compact edge (O(log n)).
    pub fn root(&self) -> Hash {
        let mut iter = self.edge.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The compact edge as `(height, hash)` pairs, largest subtree first.
    pub fn compact_range(&self) -> Vec<(u8, Hash)> {
        let heights = (0..64u8).rev().filter(|h| (self.size >> h) & 1 == 1);
        heights.zip(self.edge.iter().copied()).collect()
    }

    /// Appends the next leaf hash (leaf number [`Appender::size`]).
    pub fn append(&mut self, leaf_hash: Hash) {
        self.push_subtree(0, leaf_hash);
    }

    /// Appends leaf hashes in order: the same tree as [`Appender::append`]
    /// of each, with the interior nodes of each aligned run of up to 256
    /// leaves hashed several at a time.
    pub fn append_many(&mut self, leaf_hashes: &[Hash]) {
        let mut rest = leaf_hashes;
        while !rest.is_empty() {
            // The largest complete subtree that starts here, fits and has no
            // tile entry below its root (height ≤ 8).
            let mut height = self.size.trailing_zeros().min(TILE_HEIGHT as u32);
            while (1usize << height) > rest.len() {
                height -= 1;
            }
            let (run, tail) = rest.split_at(1 << height);
            self.push_subtree(height as u8, complete_subtree_root(run));
            rest = tail;
        }
    }

    /// Appends a complete subtree of `2^height` leaves given only its root,
    /// e.g. a level-1 tile entry (`height` 8) standing for 256 records that
    /// are no longer at hand. The tree must be at a multiple of `2^height`
    /// leaves. The result is the same as appending the leaves one by one.
    pub fn append_subtree(&mut self, height: u8, root: Hash) -> Result<(), LedgerError> {
        if height >= 64 || self.size & ((1u64 << height) - 1) != 0 {
            return Err(LedgerError::InvalidArgument(format!(
                "a subtree of height {height} cannot be appended to a tree of {} leaves",
                self.size
            )));
        }
        if self.size.checked_add(1u64 << height).is_none() {
            return Err(LedgerError::InvalidArgument(format!(
                "a subtree of height {height} would overflow a tree of {} leaves",
                self.size
            )));
        }
        self.push_subtree(height, root);
        Ok(())
    }

    /// Pushes a complete subtree (a leaf when `height` is 0) onto the right
    /// edge; `size` is a multiple of `2^height`.
    fn push_subtree(&mut self, height: u8, root: Hash) {
        let new_size = self.size + (1u64 << height);
        let mut hash = root;
        let mut height = height as u32;
        if height > 0 && height & (TILE_HEIGHT as u32 - 1) == 0 {
            self.record_tile_entry((height / TILE_HEIGHT as u32) as u8, hash, new_size);
        }
        // Merge with every complete subtree of equal height on the right edge.
        while (self.size >> height) & 1 == 1 {
            let left = self.edge.pop().expect("edge has a subtree per set bit");
            hash = node_hash(&left, &hash);
            height += 1;
            if height & (TILE_HEIGHT as u32 - 1) == 0 {
                self.record_tile_entry((height / TILE_HEIGHT as u32) as u8, hash, new_size);
            }
        }
        self.edge.push(hash);
        self.size = new_size;
    }

    /// A node of tree level `8·level` was just created, making the tree
    /// `new_size` leaves: add it to its tile.
    fn record_tile_entry(&mut self, level: u8, hash: Hash, new_size: u64) {
        let k = level as usize;
        while self.partial.len() < k {
            self.partial.push(Vec::new());
            self.written.push(None);
        }
        let entries = &mut self.partial[k - 1];
        entries.push(hash);
        if entries.len() == TILE_WIDTH as usize {
            // Entries at this level before this node, divided into tiles.
            let completed = entries_at_level(new_size, level) / TILE_WIDTH as u64 - 1;
            let full = std::mem::take(entries);
            self.pending_full
                .push((TileId::full(level, completed), full));
        }
    }

    /// Writes the tiles that changed since the last flush: full tiles completed
    /// since, then the current partial tile of each level that grew, then
    /// deletes the partial tiles those replace. Call it before publishing a
    /// checkpoint of [`Appender::size`]; afterwards
    /// `flushed_size() == size()`.
    ///
    /// If a write fails nothing is forgotten: the next flush writes it again.
    /// If a delete fails, the error is returned after the writes took effect,
    /// and the next flush retries the delete.
    pub fn flush<S: TileStore + ?Sized>(&mut self, store: &S) -> Result<FlushStats, LedgerError> {
        let mut stats = self.write_tiles(store)?;
        stats.tiles_deleted = self.delete_superseded(store)?;
        Ok(stats)
    }

    /// The first half of [`Appender::flush`]: writes the full tiles completed
    /// since the last flush and the current partial tile of each level that
    /// grew, and queues the partial tiles they replace for
    /// [`Appender::delete_superseded`]. Afterwards `flushed_size() == size()`.
    ///
    /// The vault calls this, publishes the checkpoint, and only then deletes:
    /// so the partial tiles of the checkpoint that was current until then
    /// stay in the store until a newer checkpoint is published, and a crash
    /// at any point leaves every published checkpoint's tiles readable.
    pub fn write_tiles<S: TileStore + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<FlushStats, LedgerError> {
        let mut stats = FlushStats::default();
        for (tile, hashes) in &self.pending_full {
            let data = tile_bytes(hashes);
            store.put(&tile.path(), &data)?;
            stats.tiles_written += 1;
            stats.bytes_written += data.len() as u64;
        }
        let mut new_written = self.written.clone();
        let mut superseded = Vec::new();
        for (i, entries) in self.partial.iter().enumerate() {
            let level = (i + 1) as u8;
            let entries_here = entries_at_level(self.size, level);
            let current = TileId::for_size(level, entries_here / TILE_WIDTH as u64, self.size);
            debug_assert_eq!(current.map_or(0, |t| t.width as usize), entries.len());
            if let Some(tile) = current {
                if Some(tile) != self.written[i] {
                    let data = tile_bytes(entries);
                    store.put(&tile.path(), &data)?;
                    stats.tiles_written += 1;
                    stats.bytes_written += data.len() as u64;
                }
            }
            if let Some(old) = self.written[i] {
                if Some(old) != current {
                    superseded.push(old);
                }
            }
            new_written[i] = current;
        }
        // All writes done: the store now matches `size`.
        self.written = new_written;
        self.pending_full.clear();
        self.flushed_size = self.size;
        self.pending_delete.extend(superseded);
        Ok(stats)
    }

    /// The second half of [`Appender::flush`]: deletes the partial tiles that
    /// wider partial tiles or full tiles have replaced. Returns how many were
    /// deleted; on error the rest stay queued for the next call.
    pub fn delete_superseded<S: TileStore + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<usize, LedgerError> {
        let mut deleted = 0;
        while let Some(tile) = self.pending_delete.last().copied() {
            store.delete(&tile.path())?;
            self.pending_delete.pop();
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The partial tile of each level ≥ 1 in the current tree, lowest level
    /// first (levels whose tile is full or empty are left out). Any other
    /// partial tile in the store is left over from an earlier size.
    pub fn current_partials(&self) -> Vec<TileId> {
        (1..=self.partial.len() as u8)
            .filter_map(|level| {
                let entries = entries_at_level(self.size, level);
                TileId::for_size(level, entries / TILE_WIDTH as u64, self.size)
            })
            .collect()
    }

    /// Rebuilds the appender for a tree of `size` leaves from the store and the
    /// records: the partial tile of each level ≥ 1 from the store, the last
    /// `size % 256` leaf hashes from `leaves`.
    ///
    /// The intended restart sequence is: `recover` at the size of the last
    /// published checkpoint (tiles are always flushed before a checkpoint is
    /// published, so they are all there), compare [`Appender::root`] with that
    /// checkpoint's root, then [`Appender::catch_up`] to the number of
    /// committed records and [`Appender::flush`].
    ///
    /// `recover` also works at a size the tiles were never flushed for: tiles
    /// missing from the store are recomputed from the level below (down to the
    /// records) and queued, so the next flush writes them, and until then
    /// [`Appender::flushed_size`] is 0. Partial tiles from the last flush
    /// before the crash are then not known, so not deleted: a few KiB of
    /// garbage, which the sequence above avoids.
    ///
    /// Fails with [`LedgerError::Inconsistent`] if the store holds a full tile
    /// that does not extend the tree computed from the records, which means
    /// records the ledger already covered have been lost or changed.
    pub fn recover<S: TileStore + ?Sized, L: LeafHashes + ?Sized>(
        store: &S,
        leaves: &L,
        size: u64,
    ) -> Result<Appender, LedgerError> {
        let reader = TileHashReader::new(store, leaves, size);
        let mut app = Appender {
            size,
            ..Appender::default()
        };
        // Levels whose hashes exist in this tree: 1..=top.
        let top = (1..=crate::tiles::MAX_LEVEL)
            .take_while(|&l| entries_at_level(size, l) > 0)
            .last()
            .unwrap_or(0);
        for level in 1..=top {
            let entries = entries_at_level(size, level);
            let index = entries / TILE_WIDTH as u64;
            let width = entries % TILE_WIDTH as u64;
            let hashes = if width > 0 {
                let tile = reader.tile_entries(level, index)?;
                app.written
                    .push(Some(TileId::new(level, index, width as u16)?));
                tile.to_vec()
            } else {
                app.written.push(None);
                Vec::new()
            };
            // A full tile here means the tree grew past `size` before (e.g. a
            // flush was cut short): fine if it starts with the same hashes,
            // proof that the records changed if not.
            if let Some(data) = store.get(&TileId::full(level, index).path())? {
                let full = crate::tiles::tile_hashes(&data)?;
                if full.len() != TILE_WIDTH as usize || full[..hashes.len()] != hashes[..] {
                    return Err(LedgerError::Inconsistent(format!(
                        "{} does not extend the tree of {size} leaves computed from the records",
                        TileId::full(level, index)
                    )));
                }
            }
            app.partial.push(hashes);
        }
        // The compact edge: one complete subtree per set bit of size.
        let mut start = 0u64;
        for height in (0..64u8).rev() {
            if (size >> height) & 1 == 1 {
                app.edge.push(reader.node(height, start >> height)?);
                start += 1 << height;
            }
        }
        // Tiles that had to be recomputed are written by the next flush.
        for (tile, hashes) in reader.take_repairs() {
            if tile.is_full() {
                app.pending_full.push((tile, hashes));
            } else if let Some(w) = app.written.get_mut(tile.level as usize - 1) {
                if *w == Some(tile) {
                    *w = None;
                }
            }
        }
        app.flushed_size = if app.pending_full.is_empty() && app.written_matches() {
            size
        } else {
            0
        };
        Ok(app)
    }

    /// Whether the partial tiles recorded as written are all the current ones.
    fn written_matches(&self) -> bool {
        self.partial.iter().zip(&self.written).all(|(entries, w)| {
            entries.is_empty() == w.is_none() && w.is_none_or(|t| t.width as usize == entries.len())
        })
    }

    /// Appends the leaf hashes of records `size()..size` read from `leaves`, in
    /// batches.
    pub fn catch_up<L: LeafHashes + ?Sized>(
        &mut self,
        leaves: &L,
        size: u64,
    ) -> Result<(), LedgerError> {
        if size < self.size {
            return Err(LedgerError::InvalidArgument(format!(
                "cannot catch up from {} down to {size}",
                self.size
            )));
        }
        while self.size < size {
            let end = size.min(self.size + CATCH_UP_BATCH);
            for hash in read_leaves(leaves, self.size, end)? {
                self.append(hash);
            }
        }
        Ok(())
    }
}

impl Extend<Hash> for Appender {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, iter: I) {
        for hash in iter {
            self.append(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root_of};
    use crate::MemStore;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn root_matches_direct_computation() {
        let l = leaves(600);
        let mut app = Appender::new();
        assert_eq!(app.root(), empty_root());
        for (i, h) in l.iter().enumerate() {
            app.append(*h);
            assert_eq!(app.root(), root_of(&l[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn stores_only_level_one_and_up() {
        let l = leaves(70_000);
        let store = MemStore::new();
        let mut app = Appender::new();
        app.extend(l.iter().copied());
        app.flush(&store).unwrap();
        let paths = store.paths();
        let expected: Vec<String> = crate::tiles::tiles_for_size(70_000, 1)
            .map(|t| t.path())
            .collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(paths, expected_sorted);
        assert_eq!(store.total_bytes(), (256 + 17 + 1) * 32);
    }

    proptest::proptest! {
        #[test]
        fn append_many_builds_the_same_tree_and_tiles_as_append(
            start in 0u64..1_200,
            runs in proptest::collection::vec(0usize..700, 1..6),
        ) {
            let l = leaves(start + runs.iter().sum::<usize>() as u64);
            let (mut one, mut many) = (Appender::new(), Appender::new());
            one.extend(l[..start as usize].iter().copied());
            many.extend(l[..start as usize].iter().copied());
            let mut at = start as usize;
            for n in runs {
                one.extend(l[at..at + n].iter().copied());
                many.append_many(&l[at..at + n]);
                at += n;
                proptest::prop_assert_eq!(&many, &one);
                proptest::prop_assert_eq!(many.root(), root_of(&l[..at]));
            }
            let (a, b) = (MemStore::new(), MemStore::new());
            one.flush(&a).unwrap();
            many.flush(&b).unwrap();
            proptest::prop_assert_eq!(a.paths(), b.paths());
            proptest::prop_assert_eq!(a.total_bytes(), b.total_bytes());
        }
    }

    #[test]
    fn append_many_fills_full_tiles_as_append_does() {
        // Past a full level-1 tile (65,536 leaves), in uneven batches.
        let l = leaves(70_000);
        let (mut one, mut many) = (Appender::new(), Appender::new());
        one.extend(l.iter().copied());
        let mut at = 0;
        for n in (1..).map(|i| (i * 977) % 5_000 + 1) {
            let end = (at + n).min(l.len());
            many.append_many(&l[at..end]);
            at = end;
            if at == l.len() {
                break;
            }
        }
        assert_eq!(many, one);
        let (a, b) = (MemStore::new(), MemStore::new());
        one.flush(&a).unwrap();
        many.flush(&b).unwrap();
        assert_eq!(a.paths(), b.paths());
        assert!(a.paths().iter().any(|p| !p.contains(".p/")), "a full tile");
    }

    #[test]
    fn appending_subtrees_equals_appending_their_leaves() {
        let l = leaves(70_000);
        let by_leaf = MemStore::new();
        let mut a = Appender::new();
        a.extend(l.iter().copied());
        a.flush(&by_leaf).unwrap();
        // Leaves 0..300 one by one, then 256-leaf blocks as level-1 entries
        // from 512 (after 212 more leaves), then the rest as leaves.
        let by_block = MemStore::new();
        let mut b = Appender::new();
        b.extend(l[..300].iter().copied());
        assert!(
            b.append_subtree(8, root_of(&l[300..556])).is_err(),
            "not aligned"
        );
        b.extend(l[300..512].iter().copied());
        let mut at = 512;
        while at + 256 <= 66_048 {
            b.append_subtree(8, root_of(&l[at..at + 256])).unwrap();
            at += 256;
            if at == 65_536 + 512 {
                assert_eq!(b.root(), root_of(&l[..at]));
            }
        }
        b.extend(l[at..].iter().copied());
        b.flush(&by_block).unwrap();
        assert_eq!(b.size(), a.size());
        assert_eq!(b.root(), a.root());
        assert_eq!(by_block.paths(), by_leaf.paths());
        for p in by_leaf.paths() {
            assert_eq!(by_block.get(&p).unwrap(), by_leaf.get(&p).unwrap(), "{p}");
        }
        // A level-2 entry (65 536 leaves) at once.
        let mut c = Appender::new();
        c.append_subtree(16, root_of(&l[..65_536])).unwrap();
        c.extend(l[65_536..].iter().copied());
        assert_eq!(c.root(), a.root());
    }

    #[test]
    fn deletes_wait_for_delete_superseded() {
        let l = leaves(1000);
        let store = MemStore::new();
        let mut app = Appender::new();
        app.extend(l[..600].iter().copied());
        app.flush(&store).unwrap();
        assert_eq!(app.current_partials(), vec![TileId::new(1, 0, 2).unwrap()]);
        app.extend(l[600..].iter().copied());
        let stats = app.write_tiles(&store).unwrap();
        assert_eq!(stats.tiles_deleted, 0);
        // Both the old and the new partial tile are there until the delete.
        assert_eq!(store.paths(), vec!["tile/1/000.p/2", "tile/1/000.p/3"]);
        assert!(app.needs_flush());
        assert_eq!(app.delete_superseded(&store).unwrap(), 1);
        assert_eq!(store.paths(), vec!["tile/1/000.p/3"]);
        assert!(!app.needs_flush());
    }

    #[test]
    fn superseded_partials_are_deleted() {
        let l = leaves(70_000);
        let store = MemStore::new();
        let mut app = Appender::new();
        for chunk in l.chunks(1000) {
            app.extend(chunk.iter().copied());
            app.flush(&store).unwrap();
        }
        let mut expected: Vec<String> = crate::tiles::tiles_for_size(70_000, 1)
            .map(|t| t.path())
            .collect();
        expected.sort();
        assert_eq!(store.paths(), expected);
        assert!(!app.needs_flush());
    }
}
