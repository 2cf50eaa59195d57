//! Cross-checks against independent implementations: the `tlog_tiles` and
//! `signed_note` crates (Rust ports of Go's `golang.org/x/mod/sumdb/tlog` and
//! `sumdb/note`), used here only as test oracles.

use pramaan_ledger::merkle::{consistency_proof, inclusion_proof, leaf_hash, root_of};
use pramaan_ledger::note::{self, Signature};
use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
use pramaan_ledger::{Checkpoint, Hash, Note, SignerKey, TileId, VerifierKey, Verifiers};
use proptest::prelude::*;
use signed_note::{Signer as _, Verifier as _};
use tlog_tiles::{HashReader as _, Tile};

/// Go's tlog "stored hashes" for a list of leaf hashes, in a vector.
struct GoStorage(Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for GoStorage {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

fn go_storage(leaves: &[Hash]) -> GoStorage {
    let mut s = GoStorage(Vec::new());
    for (i, l) in leaves.iter().enumerate() {
        let new =
            tlog_tiles::stored_hashes_for_record_hash(i as u64, tlog_tiles::Hash(*l), &s).unwrap();
        s.0.extend(new);
    }
    s
}

fn go(hashes: &[Hash]) -> Vec<tlog_tiles::Hash> {
    hashes.iter().map(|h| tlog_tiles::Hash(*h)).collect()
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("record {i}").as_bytes()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn proofs_agree_with_go_tlog(size in 1u64..1200, a: u64, b: u64) {
        let l = leaves(size);
        let storage = go_storage(&l);
        let root = root_of(&l);
        prop_assert_eq!(storage.read_hashes(&[0]).unwrap()[0].0, l[0]);
        prop_assert_eq!(tlog_tiles::tree_hash(size, &storage).unwrap().0, root);

        let index = a % size;
        let ours = inclusion_proof(l.as_slice(), index, size).unwrap();
        let theirs = tlog_tiles::prove_record(size, index, &storage).unwrap();
        prop_assert_eq!(&go(&ours), &theirs);
        tlog_tiles::check_record(&go(&ours), size, tlog_tiles::Hash(root), index, tlog_tiles::Hash(l[index as usize])).unwrap();
        prop_assert!(verify_inclusion(&l[index as usize], index, size, &theirs.iter().map(|h| h.0).collect::<Vec<_>>(), &root).is_ok());

        let old = 1 + b % size;
        let old_root = root_of(&l[..old as usize]);
        let ours = consistency_proof(l.as_slice(), old, size).unwrap();
        let theirs = tlog_tiles::prove_tree(size, old, &storage).unwrap();
        prop_assert_eq!(&go(&ours), &theirs);
        tlog_tiles::check_tree(&go(&ours), size, tlog_tiles::Hash(root), old, tlog_tiles::Hash(old_root)).unwrap();
        prop_assert!(verify_consistency(old, size, &old_root, &root, &ours).is_ok());
    }

    #[test]
    fn tile_paths_agree_with_go_tlog(level in 0u8..64, index: u64, width in 1u16..=256) {
        let ours = TileId::new(level, index, width).unwrap();
        let theirs = Tile::new(8, level, index, u32::from(width), false);
        // Go's sumdb paths carry the tile height ("tile/8/…"); C2SP drops it.
        let go_path = theirs.path();
        let c2sp = go_path.replacen("tile/8/", "tile/", 1);
        prop_assert_eq!(ours.path(), c2sp.clone());
        prop_assert_eq!(TileId::parse(&c2sp).unwrap(), ours);
        let back = Tile::from_path(&go_path).unwrap();
        prop_assert_eq!(back, theirs);
    }
}

#[test]
fn new_tiles_agree_with_go_tlog() {
    for (old, new) in [
        (0, 1),
        (0, 256),
        (255, 257),
        (1000, 70_000),
        (65_535, 65_537),
        (70_000, 70_000),
    ] {
        let mut ours: Vec<String> = pramaan_ledger::tiles::new_tiles(old, new, 0)
            .iter()
            .map(|t| t.path())
            .collect();
        let mut theirs: Vec<String> = Tile::new_tiles(8, old, new)
            .iter()
            .map(|t| t.path().replacen("tile/8/", "tile/", 1))
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{old} -> {new}");
    }
}

#[test]
fn notes_interoperate_with_signed_note() {
    let ours = SignerKey::generate("example.org/pramaan/node-1").unwrap();
    let auditor = SignerKey::generate("auditor.example/cert-in").unwrap();
    let cp = Checkpoint::new(ours.name(), 42, root_of(&leaves(42))).unwrap();

    // We sign, they verify.
    let mut n = cp.sign(&ours).unwrap();
    n.sign(&auditor).unwrap();
    let their_note = signed_note::Note::from_bytes(&n.to_bytes()).unwrap();
    let their_keys = signed_note::VerifierList::new(vec![
        Box::new(signed_note::StandardVerifier::new(&ours.verifier().to_vkey()).unwrap()),
        Box::new(signed_note::StandardVerifier::new(&auditor.verifier().to_vkey()).unwrap()),
    ]);
    let (verified, unverified) = their_note.verify(&their_keys).unwrap();
    assert_eq!(verified.len(), 2);
    assert!(unverified.is_empty());
    assert_eq!(their_note.text(), cp.to_text().as_bytes());

    // They sign with our key (from our skey string), we verify.
    let their_signer = signed_note::StandardSigner::new(&ours.to_skey()).unwrap();
    assert_eq!(their_signer.key_id(), ours.key_id());
    let mut theirs = signed_note::Note::new(cp.to_text().as_bytes(), &[]).unwrap();
    theirs.add_sigs(&[&their_signer]).unwrap();
    // Ed25519 is deterministic: the same bytes as ours.
    assert_eq!(theirs.to_bytes(), cp.sign(&ours).unwrap().to_bytes());
    let opened = Checkpoint::open(
        &theirs.to_bytes(),
        ours.name(),
        &Verifiers::new([ours.verifier()]),
    )
    .unwrap();
    assert_eq!(opened.checkpoint, cp);

    // Their verifier key strings are ours, and key IDs agree.
    let their_vkey = signed_note::new_ed25519_verifier_key(
        ours.name(),
        &ed25519_dalek::VerifyingKey::from_bytes(&ours.verifier().public_key()).unwrap(),
    );
    assert_eq!(their_vkey, ours.verifier().to_vkey());
    let v = signed_note::StandardVerifier::new(&their_vkey).unwrap();
    assert_eq!(v.key_id(), ours.key_id());
    assert_eq!(VerifierKey::parse(&their_vkey).unwrap(), ours.verifier());

    // A signature they reject, we reject.
    let mut tampered = n.clone();
    let mut sig: Signature = tampered.signatures()[0].clone();
    sig.signature[10] ^= 1;
    tampered.add_signature(sig).unwrap();
    assert!(signed_note::Note::from_bytes(&tampered.to_bytes())
        .unwrap()
        .verify(&their_keys)
        .is_err());
    assert!(note::open(&tampered.to_bytes(), &Verifiers::new([ours.verifier()])).is_err());
    let _ = Note::parse(&tampered.to_bytes()).unwrap();
}
