//! Property tests: proofs, the appender's tiles, recovery, tile serving.

use pramaan_ledger::merkle::{consistency_proof, inclusion_proof, leaf_hash, root_of};
use pramaan_ledger::tiles::{self, tile_bytes, tiles_for_size, TileId};
use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
use pramaan_ledger::{Appender, Hash, MemStore, TileHashReader, TileStore};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// The level ≥ 1 tiles a tree of `n` leaves should have in the store, computed
/// straight from the leaves.
fn expected_tiles(l: &[Hash]) -> Vec<(String, Vec<u8>)> {
    let n = l.len() as u64;
    tiles_for_size(n, 1)
        .map(|t| {
            let span = 1usize << (8 * t.level as u32);
            let start = t.index as usize * 256 * span;
            let entries: Vec<Hash> = (0..t.width as usize)
                .map(|j| root_of(&l[start + j * span..start + (j + 1) * span]))
                .collect();
            (t.path(), tile_bytes(&entries))
        })
        .collect()
}

fn store_contents(store: &MemStore) -> Vec<(String, Vec<u8>)> {
    store
        .paths()
        .into_iter()
        .map(|p| {
            let d = store.get(&p).unwrap().unwrap();
            (p, d)
        })
        .collect()
}

fn sorted(mut v: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    v.sort();
    v
}

/// Appends `l` in chunks ending at `cuts`, flushing after each.
fn build(l: &[Hash], cuts: &[u64], store: &MemStore) -> Appender {
    let mut app = Appender::new();
    let mut at = 0u64;
    let mut cuts: Vec<u64> = cuts.iter().map(|c| c % (l.len() as u64 + 1)).collect();
    cuts.sort();
    cuts.push(l.len() as u64);
    for cut in cuts {
        app.extend(l[at as usize..cut as usize].iter().copied());
        at = cut;
        app.flush(store).unwrap();
    }
    app
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_proofs_verify_and_flips_fail(
        size in 1u64..3000,
        index_seed: u64,
        flip_seed: u64,
        bit in 0u8..8,
    ) {
        let l = leaves(size);
        let index = index_seed % size;
        let root = root_of(&l);
        let proof = inclusion_proof(l.as_slice(), index, size).unwrap();
        prop_assert!(verify_inclusion(&l[index as usize], index, size, &proof, &root).is_ok());
        // Flip one bit of one proof hash.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let which = (flip_seed % proof.len() as u64) as usize;
            let byte = (flip_seed / 7 % 32) as usize;
            bad[which][byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(&l[index as usize], index, size, &bad, &root).is_err());
        }
        // Flip one bit of the leaf, or of the root.
        let mut leaf = l[index as usize];
        leaf[(flip_seed % 32) as usize] ^= 1 << bit;
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root[(flip_seed % 32) as usize] ^= 1 << bit;
        prop_assert!(verify_inclusion(&l[index as usize], index, size, &proof, &bad_root).is_err());
        // Another index does not verify with this proof.
        if size > 1 {
            let other = (index + 1 + flip_seed % (size - 1)) % size;
            prop_assert!(verify_inclusion(&l[index as usize], other, size, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_flips_fail(
        new_size in 1u64..3000,
        old_seed: u64,
        flip_seed: u64,
        bit in 0u8..8,
    ) {
        let l = leaves(new_size);
        let old_size = old_seed % (new_size + 1);
        let old_root = root_of(&l[..old_size as usize]);
        let new_root = root_of(&l);
        let proof = consistency_proof(l.as_slice(), old_size, new_size).unwrap();
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let which = (flip_seed % proof.len() as u64) as usize;
            bad[which][(flip_seed / 3 % 32) as usize] ^= 1 << bit;
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &bad).is_err());
            let mut bad_old = old_root;
            bad_old[0] ^= 1 << bit;
            prop_assert!(verify_consistency(old_size, new_size, &bad_old, &new_root, &proof).is_err());
            let mut bad_new = new_root;
            bad_new[31] ^= 1 << bit;
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &bad_new, &proof).is_err());
        }
    }

    #[test]
    fn appender_tiles_match_direct_computation(
        size in 0u64..2000,
        cuts in proptest::collection::vec(any::<u64>(), 0..5),
    ) {
        let l = leaves(size);
        let store = MemStore::new();
        let app = build(&l, &cuts, &store);
        prop_assert_eq!(app.size(), size);
        prop_assert_eq!(app.root(), root_of(&l));
        prop_assert_eq!(app.flushed_size(), size);
        prop_assert_eq!(sorted(store_contents(&store)), sorted(expected_tiles(&l)));
        // The tiles give the same root and proofs as the leaves do.
        let reader = TileHashReader::new(&store, &l, size);
        prop_assert_eq!(reader.tree_root(size).unwrap(), root_of(&l));
        if size > 0 {
            let index = cuts.first().copied().unwrap_or(0) % size;
            prop_assert_eq!(
                reader.inclusion_proof(index, size).unwrap(),
                inclusion_proof(l.as_slice(), index, size).unwrap()
            );
            let old = cuts.last().copied().unwrap_or(0) % (size + 1);
            prop_assert_eq!(
                reader.consistency_proof(old, size).unwrap(),
                consistency_proof(l.as_slice(), old, size).unwrap()
            );
        }
        prop_assert!(reader.take_repairs().is_empty());
    }

    #[test]
    fn recovery_gives_the_same_state(
        size in 0u64..2000,
        more in 0u64..1500,
        cuts in proptest::collection::vec(any::<u64>(), 0..4),
    ) {
        let l = leaves(size + more);
        let store = MemStore::new();
        let app = build(&l[..size as usize], &cuts, &store);
        // Exactly the state the appender had.
        let recovered = Appender::recover(&store, &l, size).unwrap();
        prop_assert_eq!(&recovered, &app);
        // Carry on from both: same store, same root.
        let mut a = app;
        let mut b = recovered;
        a.extend(l[size as usize..].iter().copied());
        b.catch_up(&l, size + more).unwrap();
        prop_assert_eq!(&a, &b);
        let store_b = MemStore::new();
        for (p, d) in store_contents(&store) {
            store_b.put(&p, &d).unwrap();
        }
        a.flush(&store).unwrap();
        b.flush(&store_b).unwrap();
        prop_assert_eq!(store_contents(&store), store_contents(&store_b));
        prop_assert_eq!(sorted(store_contents(&store)), sorted(expected_tiles(&l)));
    }

    #[test]
    fn recovery_past_the_last_flush(
        flushed in 0u64..1500,
        more in 0u64..1500,
    ) {
        // Crash after committing records past the last flush: recover at the
        // full size directly. Missing tiles are recomputed and rewritten.
        let size = flushed + more;
        let l = leaves(size);
        let store = MemStore::new();
        build(&l[..flushed as usize], &[], &store);
        let mut app = Appender::recover(&store, &l, size).unwrap();
        prop_assert_eq!(app.root(), root_of(&l));
        let mut reference = Appender::new();
        reference.extend(l.iter().copied());
        prop_assert_eq!(app.compact_range(), reference.compact_range());
        app.flush(&store).unwrap();
        prop_assert_eq!(app.flushed_size(), size);
        // Everything expected is there; at most the old partials linger.
        let have: BTreeSet<(String, Vec<u8>)> = store_contents(&store).into_iter().collect();
        let want: BTreeSet<(String, Vec<u8>)> = expected_tiles(&l).into_iter().collect();
        prop_assert!(want.is_subset(&have));
        for (p, _) in have.difference(&want) {
            prop_assert!(TileId::parse(p).unwrap().width < 256, "stray full tile {}", p);
        }
    }

    #[test]
    fn read_tile_serves_every_tile(size in 1u64..1500, cut: u64) {
        let l = leaves(size);
        let store = MemStore::new();
        build(&l, &[cut], &store);
        let reader = TileHashReader::new(&store, &l, size);
        for tile in tiles_for_size(size, 0) {
            let span = 1usize << (8 * tile.level as u32);
            let start = tile.index as usize * 256 * span;
            let entries: Vec<Hash> = (0..tile.width as usize)
                .map(|j| root_of(&l[start + j * span..start + (j + 1) * span]))
                .collect();
            prop_assert_eq!(reader.read_tile(tile).unwrap(), tile_bytes(&entries));
            // A narrower partial is served as a prefix.
            if tile.width > 1 {
                let narrow = TileId::new(tile.level, tile.index, tile.width - 1).unwrap();
                prop_assert_eq!(reader.read_tile(narrow).unwrap(), tile_bytes(&entries[..entries.len() - 1]));
            }
        }
        // Nothing beyond the tree.
        let beyond = TileId::new(0, size / 256, (size % 256 + 1) as u16).unwrap();
        prop_assert!(reader.read_tile(beyond).is_err());
    }

    #[test]
    fn missing_tiles_are_recomputed(size in 256u64..1500, pick: u64) {
        let l = leaves(size);
        let store = MemStore::new();
        build(&l, &[], &store);
        let paths = store.paths();
        let victim = &paths[(pick % paths.len() as u64) as usize];
        store.delete(victim).unwrap();
        let reader = TileHashReader::new(&store, &l, size);
        prop_assert_eq!(reader.tree_root(size).unwrap(), root_of(&l));
        for index in [0, size / 2, size - 1] {
            prop_assert_eq!(
                reader.inclusion_proof(index, size).unwrap(),
                inclusion_proof(l.as_slice(), index, size).unwrap()
            );
        }
        let repaired: Vec<String> = reader.take_repairs().into_iter().map(|(t, _)| t.path()).collect();
        prop_assert!(repaired.iter().all(|p| p == victim));
    }
}

#[test]
fn larger_trees_cross_level_two() {
    // 70 000 leaves: full level-1 tile, partial level-1 tile of width 17,
    // partial level-2 tile of width 1 (the C2SP example).
    let l = leaves(70_000);
    let store = MemStore::new();
    let app = build(&l, &[65_535, 65_536, 65_537, 69_000], &store);
    assert_eq!(app.root(), root_of(&l));
    assert_eq!(sorted(store_contents(&store)), sorted(expected_tiles(&l)));
    assert_eq!(
        store.paths(),
        vec!["tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]
    );
    assert_eq!(Appender::recover(&store, &l, 70_000).unwrap(), app);
    let reader = TileHashReader::new(&store, &l, 70_000);
    for (index, size) in [
        (0, 70_000),
        (65_535, 65_536),
        (69_999, 70_000),
        (12_345, 66_000),
    ] {
        let proof = reader.inclusion_proof(index, size).unwrap();
        verify_inclusion(
            &l[index as usize],
            index,
            size,
            &proof,
            &root_of(&l[..size as usize]),
        )
        .unwrap();
    }
    for (old, new) in [
        (1, 70_000),
        (65_536, 70_000),
        (300, 65_536),
        (69_999, 70_000),
    ] {
        let proof = reader.consistency_proof(old, new).unwrap();
        verify_consistency(
            old,
            new,
            &root_of(&l[..old as usize]),
            &root_of(&l[..new as usize]),
            &proof,
        )
        .unwrap();
    }
}

#[test]
fn ledger_bytes_stay_under_budget() {
    // 300 000 records, flushed every 3 000 (a checkpoint every few seconds at
    // ~1 000 records/s): the store must hold full tiles plus one partial per
    // level, about 0.126 bytes per record, far below 5% of ~13 bytes.
    let n = 300_000u64;
    let store = MemStore::new();
    let mut app = Appender::new();
    for i in 0..n {
        app.append(leaf_hash(&i.to_be_bytes()));
        if i % 3_000 == 0 {
            app.flush(&store).unwrap();
        }
    }
    app.flush(&store).unwrap();
    let per_record = store.total_bytes() as f64 / n as f64;
    assert!(per_record < 0.13, "{per_record} bytes per record");
    assert!(per_record < 0.05 * 13.0);
    let want: Vec<String> = {
        let mut v: Vec<String> = tiles::tiles_for_size(n, 1).map(|t| t.path()).collect();
        v.sort();
        v
    };
    assert_eq!(store.paths(), want);
}

#[test]
fn recovery_after_an_interrupted_flush() {
    // Flushed (and checkpointed) at 1 000; a later flush at 70 000 wrote the
    // full level-1 tile and then crashed before its other writes.
    let l = leaves(70_000);
    let store = MemStore::new();
    build(&l[..1_000], &[], &store);
    let later = MemStore::new();
    build(&l, &[], &later);
    store
        .put("tile/1/000", &later.get("tile/1/000").unwrap().unwrap())
        .unwrap();
    let mut app = Appender::recover(&store, &l, 1_000).unwrap();
    assert_eq!(app.root(), root_of(&l[..1_000]));
    app.catch_up(&l, 70_000).unwrap();
    app.flush(&store).unwrap();
    assert_eq!(sorted(store_contents(&store)), sorted(expected_tiles(&l)));
}

#[test]
fn recovery_refuses_a_store_that_disagrees_with_the_records() {
    // A full level-1 tile that does not start with the partial tile the
    // records give means records were lost or changed.
    let l = leaves(1_000);
    let store = MemStore::new();
    build(&l, &[], &store);
    let other: Vec<Hash> = (0..70_000u64)
        .map(|i| leaf_hash(&(i + 1).to_be_bytes()))
        .collect();
    let elsewhere = MemStore::new();
    build(&other, &[], &elsewhere);
    store
        .put("tile/1/000", &elsewhere.get("tile/1/000").unwrap().unwrap())
        .unwrap();
    let err = Appender::recover(&store, &l, 1_000).unwrap_err();
    assert!(err.to_string().contains("tile/1/000"), "{err}");
}

#[test]
fn dir_store_holds_the_same_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let store = pramaan_ledger::DirStore::new(dir.path()).unwrap();
    let l = leaves(5_000);
    let mut app = Appender::new();
    for chunk in l.chunks(700) {
        app.extend(chunk.iter().copied());
        app.flush(&store).unwrap();
    }
    for (path, data) in expected_tiles(&l) {
        assert_eq!(
            std::fs::read(dir.path().join(&path)).unwrap(),
            data,
            "{path}"
        );
    }
    // Superseded partials are gone: only tile/1/000.p/19 is left at level 1.
    let level1: Vec<_> = std::fs::read_dir(dir.path().join("tile/1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(level1, vec!["000.p"]);
    let partials: Vec<_> = std::fs::read_dir(dir.path().join("tile/1/000.p"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(partials, vec!["19"]);
    let recovered = Appender::recover(&store, &l, 5_000).unwrap();
    assert_eq!(recovered, app);
}
