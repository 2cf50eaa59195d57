//! Published test vectors.
//!
//! * transparency-dev/merkle (the Certificate Transparency reference tree):
//!   `testonly/constants.go` (leaf inputs, every node hash, roots of sizes
//!   0..=8), `testonly/reference_test.go` and `proof/verify_test.go` (inclusion
//!   and consistency proofs, and the corruptions a verifier must reject).
//! * C2SP merkle-tree.md: the worked 7-leaf example, proofs given by node label.
//! * golang.org/x/mod/sumdb/note `note_test.go`: the PeterNeumann and EnochRoot
//!   keys and signatures, and the malformed notes `Open` must reject.
//! * C2SP signed-note.md and tlog-checkpoint.md: the spec examples (their
//!   public keys are not published, so they are checked for syntax).
//!
//! Proofs made by `merkle` are compared with the published ones, and the
//! published ones are checked by `verify`, a separate code path.

use pramaan_ledger::merkle::{
    self, consistency_proof, empty_root, inclusion_proof, leaf_hash, tree_root, HashReader,
};
use pramaan_ledger::note::{self, Signature};
use pramaan_ledger::verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion};
use pramaan_ledger::{
    Appender, Checkpoint, CheckpointError, Hash, KeyError, MemStore, Note, NoteError, SignerKey,
    TileHashReader, VerifierKey, Verifiers,
};
use sha2::{Digest, Sha256};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

// ---------------------------------------------------------------------------
// transparency-dev/merkle testonly/constants.go

fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

/// NodeHashes(): [level][index] for every complete subtree of the 8-leaf tree.
fn node_hashes() -> Vec<Vec<Hash>> {
    vec![
        vec![
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        ],
        vec![
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        ],
        vec![
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
        vec![h(
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        )],
    ]
}

/// RootHashes(): roots of sizes 0..=8.
fn root_hashes() -> Vec<Hash> {
    vec![
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
        h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
        h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ]
}

fn ct_leaves() -> Vec<Hash> {
    leaf_inputs().iter().map(|d| leaf_hash(d)).collect()
}

/// (index, size, proof): reference_test.go TestRefInclusionProof, plus
/// verify_test.go inclusionProofs (whose leaf numbers count from 1).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    let a = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
    let b = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7";
    let ab = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125";
    let cd = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e";
    let e = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b";
    let efgh = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4";
    let gh = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0";
    let abcd = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7";
    let v = |idx: u64, size: u64, hs: &[&str]| (idx, size, hs.iter().map(|s| h(s)).collect());
    vec![
        v(0, 1, &[]),
        v(0, 2, &[b]),
        v(1, 2, &[a]),
        v(2, 3, &[ab]),
        v(1, 5, &[a, cd, e]),
        v(0, 8, &[b, cd, efgh]),
        v(5, 8, &[e, gh, abcd]),
        // verify_test.go, leaf numbers 1-based: {1,8}, {6,8}, {3,3}, {2,5}.
        v(2, 3, &[ab]),
    ]
}

/// (old, new, proof): TestRefConsistencyProof and verify_test.go
/// consistencyProofs.
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    let v = |m: u64, n: u64, hs: &[&str]| (m, n, hs.iter().map(|s| h(s)).collect());
    vec![
        v(1, 1, &[]),
        v(
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        v(
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        v(
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        v(
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ]
}

#[test]
fn ct_reference_leaf_and_node_hashes() {
    let leaves = ct_leaves();
    for (level, row) in node_hashes().iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(
                leaves.as_slice().node(level as u8, index as u64).unwrap(),
                *want,
                "node ({level}, {index})"
            );
        }
    }
}

#[test]
fn ct_reference_roots() {
    let leaves = ct_leaves();
    let roots = root_hashes();
    assert_eq!(empty_root(), roots[0]);
    for size in 0..=8usize {
        assert_eq!(
            merkle::root_of(&leaves[..size]),
            roots[size],
            "root_of {size}"
        );
        assert_eq!(
            tree_root(leaves.as_slice(), size as u64).unwrap(),
            roots[size]
        );
        let mut app = Appender::new();
        app.extend(leaves[..size].iter().copied());
        assert_eq!(app.root(), roots[size], "appender {size}");
        // And through the tile reader (the whole tree is in level 0 here).
        let store = MemStore::new();
        let reader = TileHashReader::new(&store, &leaves[..size], size as u64);
        assert_eq!(reader.tree_root(size as u64).unwrap(), roots[size]);
    }
}

#[test]
fn ct_reference_inclusion_proofs() {
    let leaves = ct_leaves();
    let roots = root_hashes();
    for (index, size, want) in inclusion_vectors() {
        let got = inclusion_proof(leaves.as_slice(), index, size).unwrap();
        assert_eq!(got, want, "generated proof for {index} in {size}");
        let root = roots[size as usize];
        let leaf = leaves[index as usize];
        assert_eq!(
            root_from_inclusion_proof(&leaf, index, size, &want).unwrap(),
            root
        );
        verify_inclusion(&leaf, index, size, &want, &root).unwrap();
        for (desc, probe) in corrupt_inclusion(index, size, &want, &root, &leaf) {
            assert!(
                verify_inclusion(
                    &probe.leaf,
                    probe.index,
                    probe.size,
                    &probe.proof,
                    &probe.root
                )
                .is_err(),
                "{desc} verified for {index} in {size}"
            );
        }
    }
}

struct InclusionProbe {
    index: u64,
    size: u64,
    root: Hash,
    leaf: Hash,
    proof: Vec<Hash>,
}

/// verify_test.go corruptInclusionProof (byte-slice garbage like an empty
/// hash cannot be a `Hash` here, so those probes use other wrong hashes).
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    let empty = empty_root();
    let p = |desc: &str, index: u64, size: u64, root: Hash, leaf: Hash, proof: Vec<Hash>| {
        (
            desc.to_owned(),
            InclusionProbe {
                index,
                size,
                root,
                leaf,
                proof,
            },
        )
    };
    let with = |front: &[Hash], back: &[Hash]| {
        let mut v = front.to_vec();
        v.extend_from_slice(proof);
        v.extend_from_slice(back);
        v
    };
    let mut out = vec![
        p(
            "index - 1",
            index.wrapping_sub(1),
            size,
            *root,
            *leaf,
            proof.to_vec(),
        ),
        p("index + 1", index + 1, size, *root, *leaf, proof.to_vec()),
        p("index ^ 2", index ^ 2, size, *root, *leaf, proof.to_vec()),
        p("size * 2", index, size * 2, *root, *leaf, proof.to_vec()),
        p("size / 2", index, size / 2, *root, *leaf, proof.to_vec()),
        p(
            "wrong leaf",
            index,
            size,
            *root,
            leaf_hash(b"WrongLeaf"),
            proof.to_vec(),
        ),
        p("empty root", index, size, empty, *leaf, proof.to_vec()),
        p("random root", index, size, some, *leaf, proof.to_vec()),
        p(
            "trailing garbage",
            index,
            size,
            *root,
            *leaf,
            with(&[], &[some]),
        ),
        p(
            "trailing root",
            index,
            size,
            *root,
            *leaf,
            with(&[], &[*root]),
        ),
        p(
            "preceding garbage",
            index,
            size,
            *root,
            *leaf,
            with(&[some], &[]),
        ),
        p(
            "preceding root",
            index,
            size,
            *root,
            *leaf,
            with(&[*root], &[]),
        ),
    ];
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i][0] ^= 8;
        out.push(p(
            &format!("modified proof[{i}] bit 3"),
            index,
            size,
            *root,
            *leaf,
            wrong,
        ));
    }
    if !proof.is_empty() {
        out.push(p(
            "removed component",
            index,
            size,
            *root,
            *leaf,
            proof[..proof.len() - 1].to_vec(),
        ));
    }
    if proof.len() > 1 {
        let mut wrong = vec![proof[0], some];
        wrong.extend_from_slice(&proof[1..]);
        out.push(p("inserted component", index, size, *root, *leaf, wrong));
    }
    // A probe equal to the real proof is not a corruption (e.g. index ^ 2 when
    // the index does not change, or size / 2 of a 1-leaf tree is 0).
    out.retain(|(_, pr)| {
        !(pr.index == index
            && pr.size == size
            && pr.root == *root
            && pr.leaf == *leaf
            && pr.proof == proof)
    });
    out
}

#[test]
fn ct_reference_consistency_proofs() {
    let leaves = ct_leaves();
    let roots = root_hashes();
    for (m, n, want) in consistency_vectors() {
        let got = consistency_proof(leaves.as_slice(), m, n).unwrap();
        assert_eq!(got, want, "generated proof {m} -> {n}");
        let (r1, r2) = (roots[m as usize], roots[n as usize]);
        verify_consistency(m, n, &r1, &r2, &want).unwrap();
        if want.is_empty() {
            continue;
        }
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let with = |front: &[Hash], back: &[Hash]| {
            let mut v = front.to_vec();
            v.extend_from_slice(&want);
            v.extend_from_slice(back);
            v
        };
        // verify_test.go corruptConsistencyProof.
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("size1 - 1".into(), m - 1, n, r1, r2, want.clone()),
            ("size1 + 1".into(), m + 1, n, r1, r2, want.clone()),
            ("size1 ^ 2".into(), m ^ 2, n, r1, r2, want.clone()),
            ("size2 * 2".into(), m, n * 2, r1, r2, want.clone()),
            ("size2 / 2".into(), m, n / 2, r1, r2, want.clone()),
            ("wrong root1".into(), m, n, some, r2, want.clone()),
            ("wrong root2".into(), m, n, r1, some, want.clone()),
            ("swapped roots".into(), m, n, r2, r1, want.clone()),
            ("empty proof".into(), m, n, r1, r2, vec![]),
            ("trailing garbage".into(), m, n, r1, r2, with(&[], &[some])),
            ("trailing root1".into(), m, n, r1, r2, with(&[], &[r1])),
            ("trailing root2".into(), m, n, r1, r2, with(&[], &[r2])),
            ("preceding garbage".into(), m, n, r1, r2, with(&[some], &[])),
            ("preceding root1".into(), m, n, r1, r2, with(&[r1], &[])),
            ("preceding root2".into(), m, n, r1, r2, with(&[r2], &[])),
            (
                "preceding proof[0]".into(),
                m,
                n,
                r1,
                r2,
                with(&[want[0]], &[]),
            ),
            (
                "truncated proof".into(),
                m,
                n,
                r1,
                r2,
                want[..want.len() - 1].to_vec(),
            ),
        ];
        for i in 0..want.len() {
            let mut wrong = want.clone();
            wrong[i][0] ^= 16;
            probes.push((format!("modified proof[{i}] bit 4"), m, n, r1, r2, wrong));
        }
        for (desc, m2, n2, a, b, proof) in probes {
            if (m2, n2, a, b, &proof) == (m, n, r1, r2, &want) {
                continue;
            }
            assert!(
                verify_consistency(m2, n2, &a, &b, &proof).is_err(),
                "{desc} verified for {m} -> {n}"
            );
        }
    }
}

#[test]
fn ct_verify_consistency_edge_cases() {
    // verify_test.go TestVerifyConsistency table.
    let root1 = h("0000000000000000000000000000000000000000000000000000000000000001");
    let root2 = h("0000000000000000000000000000000000000000000000000000000000000002");
    let empty = empty_root();
    let cases: Vec<(u64, u64, Hash, Hash, Vec<Hash>, bool)> = vec![
        (0, 0, root1, root2, vec![], true),
        (1, 1, root1, root2, vec![], true),
        (0, 0, root1, root1, vec![], false),
        (0, 1, root1, root2, vec![], false),
        (1, 1, root2, root2, vec![], false),
        (1, 0, root1, root2, vec![], true),
        (2, 1, root1, root2, vec![], true),
        (1, 2, root1, root2, vec![], true),
        (0, 0, empty, root2, vec![], true),
        (1, 1, empty, root2, vec![], true),
        (0, 0, empty, empty, vec![empty], true),
        (0, 1, empty, empty, vec![empty], true),
        (1, 1, empty, empty, vec![empty], true),
    ];
    for (m, n, r1, r2, proof, want_err) in cases {
        assert_eq!(
            verify_consistency(m, n, &r1, &r2, &proof).is_err(),
            want_err,
            "{m} -> {n}"
        );
    }
    // TestVerifyInclusion: impossible index/size pairs never verify.
    let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &empty).is_err());
    }
    // TestVerifyInclusionSingleEntry.
    let leaf = leaf_hash(b"data");
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    assert!(verify_inclusion(&leaf, 0, 1, &[], &empty).is_err());
}

// ---------------------------------------------------------------------------
// C2SP merkle-tree.md, "Example": 7 entries, proofs by node label.

#[test]
fn c2sp_seven_leaf_example() {
    // The spec's labels, computed straight from its formulas with sha2.
    let sha = |parts: &[&[u8]]| -> Hash {
        let mut s = Sha256::new();
        for p in parts {
            s.update(p);
        }
        s.finalize().into()
    };
    let d: Vec<Vec<u8>> = (0..7u8).map(|i| vec![b'd', i]).collect();
    let leaf = |i: usize| sha(&[&[0x00], &d[i]]);
    let node = |l: &Hash, r: &Hash| sha(&[&[0x01], l, r]);
    let (a, b, c, dd, e, f, g) = (
        leaf(0),
        leaf(1),
        leaf(2),
        leaf(3),
        leaf(4),
        leaf(5),
        leaf(6),
    );
    let hh = node(&a, &b);
    let i = node(&c, &dd);
    let j = node(&e, &f);
    let k = node(&hh, &i);
    let l = node(&j, &g);
    let root = node(&k, &l);

    let leaves: Vec<Hash> = d.iter().map(|x| leaf_hash(x)).collect();
    assert_eq!(tree_root(leaves.as_slice(), 7).unwrap(), root);

    for (index, want) in [
        (0u64, vec![b, i, l]),
        (3, vec![c, hh, l]),
        (4, vec![f, g, k]),
        (6, vec![j, k]),
    ] {
        assert_eq!(
            inclusion_proof(leaves.as_slice(), index, 7).unwrap(),
            want,
            "d[{index}]"
        );
        verify_inclusion(&leaves[index as usize], index, 7, &want, &root).unwrap();
    }
    let root_at = |n: u64| tree_root(leaves.as_slice(), n).unwrap();
    for (m, want) in [(3u64, vec![c, dd, hh, l]), (4, vec![l]), (6, vec![j, g, k])] {
        assert_eq!(
            consistency_proof(leaves.as_slice(), m, 7).unwrap(),
            want,
            "{m} -> 7"
        );
        verify_consistency(m, 7, &root_at(m), &root, &want).unwrap();
    }
}

// ---------------------------------------------------------------------------
// golang.org/x/mod/sumdb/note note_test.go

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

fn enoch() -> VerifierKey {
    VerifierKey::parse(ENOCH_VKEY).unwrap()
}

#[test]
fn go_note_keys() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier(), peter());
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    assert_eq!(signer.to_skey().as_str(), PETER_SKEY);
    assert_eq!(peter().to_string(), PETER_VKEY);
    assert_eq!(enoch().key_id(), 0xaf0cfe78);
    // The key ID is SHA-256(name || 0x0A || 0x01 || public key)[:4].
    let mut s = Sha256::new();
    s.update(b"PeterNeumann\n\x01");
    s.update(peter().public_key());
    assert_eq!(&s.finalize()[..4], &0xc74f20a3u32.to_be_bytes());
}

#[test]
fn go_note_key_manglings_are_rejected() {
    // TestNewVerifier / TestNewSigner: every proper substring and every
    // single-byte increment must fail.
    for (key, parse) in [
        (
            PETER_VKEY,
            (|s: &str| VerifierKey::parse(s).is_ok()) as fn(&str) -> bool,
        ),
        (PETER_SKEY, |s: &str| SignerKey::parse(s).is_ok()),
    ] {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let sub = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(!parse(sub), "{sub:?} parsed");
            }
        }
        let mut m = b.to_vec();
        for i in 0..m.len() {
            m[i] += 1;
            let s = String::from_utf8(m.clone()).unwrap();
            assert!(!parse(&s), "{s:?} parsed");
            m[i] -= 1;
        }
    }
    // Wrong key length with an adjusted key hash; unknown algorithm likewise.
    assert!(matches!(
        VerifierKey::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(KeyError::Malformed { .. })
    ));
    assert!(matches!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::UnknownAlgorithm(0x65))
    ));
}

#[test]
fn go_note_sign() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    let mut n = Note::new(TEXT).unwrap();
    n.sign(&signer).unwrap();
    let want = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(n.to_string(), want);
    assert_eq!(n.to_bytes(), want.as_bytes());
    // An existing signature by the same key is replaced.
    let mut n = Note::new(TEXT).unwrap();
    n.add_signature(Signature {
        name: "PeterNeumann".into(),
        key_id: 0xc74f20a3,
        signature: b"BADSIGN".to_vec(),
    })
    .unwrap();
    n.sign(&signer).unwrap();
    assert_eq!(n.to_string(), want);
    // Text without a final newline is refused.
    assert_eq!(Note::new("abc"), Err(NoteError::MissingNewline));
    // A signature with a bad name is refused.
    let mut n = Note::new(TEXT).unwrap();
    assert!(n
        .add_signature(Signature {
            name: "a+b".into(),
            key_id: 0,
            signature: vec![1],
        })
        .is_err());
}

#[test]
fn go_note_open() {
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    // One known key: Peter verified, Enoch ignored.
    let (n, v) = note::open(msg.as_bytes(), &Verifiers::new([peter()])).unwrap();
    assert_eq!(n.text(), TEXT);
    assert_eq!(v.verified.len(), 1);
    assert_eq!(v.verified[0].name, "PeterNeumann");
    assert_eq!(v.verified[0].key_id, 0xc74f20a3);
    assert_eq!(v.unknown.len(), 1);
    assert_eq!(v.unknown[0].name, "EnochRoot");
    assert_eq!(v.unknown[0].key_id, 0xaf0cfe78);
    // Both known: a co-signed note.
    let both = Verifiers::new([peter(), enoch()]);
    let (_, v) = note::open(msg.as_bytes(), &both).unwrap();
    assert_eq!(v.verified.len(), 2);
    assert!(v.unknown.is_empty());
    v.require([&peter(), &enoch()]).unwrap();
    // No known key.
    assert_eq!(
        note::open(msg.as_bytes(), &Verifiers::default()),
        Err(NoteError::NoKnownSignature { unknown: 2 })
    );
    let (_, v) = note::open(msg.as_bytes(), &Verifiers::new([peter()])).unwrap();
    assert!(matches!(
        v.require([&peter(), &enoch()]),
        Err(NoteError::MissingSignature { .. })
    ));
    // Too many signatures.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(
        Note::parse(many.as_bytes()),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    // A corrupted signature by a known key fails the whole note.
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        note::open(bad.as_bytes(), &Verifiers::new([peter()])),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // Duplicated verified and unverified signatures count once.
    let dup = format!(
        "{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    let (_, v) = note::open(dup.as_bytes(), &Verifiers::new([peter()])).unwrap();
    assert_eq!(v.verified.len(), 1);
    assert_eq!(v.unknown.len(), 2);
}

#[test]
fn go_note_malformed_messages() {
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (TEXT.into(), NoteError::NoSignatureBlock),
        (format!("{TEXT}\n").into(), NoteError::NoSignatures),
        (
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]).into(),
            NoteError::MissingNewline,
        ),
        (
            format!("\x01{TEXT}\n{PETER_SIG}").into(),
            NoteError::ControlCharacter {
                offset: 0,
                byte: 1,
            },
        ),
        (
            [b"\xff".as_slice(), format!("{TEXT}\n{PETER_SIG}").as_bytes()].concat(),
            NoteError::NotUtf8 { offset: 0 },
        ),
        (
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
            NoteError::MissingNewline,
        ),
        (
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
            NoteError::BadSignatureLine {
                line: 1,
                reason: "signature is not padded standard base64",
            },
        ),
        (
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
            NoteError::BadSignatureLine {
                line: 2,
                reason: "does not start with an em dash (U+2014) and a space",
            },
        ),
        (
            format!("{TEXT}\n- PeterNeumann AAAAAAA=\n").into(),
            NoteError::BadSignatureLine {
                line: 1,
                reason: "does not start with an em dash (U+2014) and a space",
            },
        ),
        (
            format!("{TEXT}\n— PeterNeumann AAAA\n").into(),
            NoteError::BadSignatureLine {
                line: 1,
                reason: "signature is shorter than a key ID and one byte",
            },
        ),
        (
            format!("{TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n").into(),
            NoteError::BadSignatureLine {
                line: 1,
                reason: "signature is not padded standard base64",
            },
        ),
        (
            [TEXT.as_bytes(), &vec![b'a'; note::MAX_NOTE_SIZE]].concat(),
            NoteError::TooLong {
                len: TEXT.len() + note::MAX_NOTE_SIZE,
                max: note::MAX_NOTE_SIZE,
            },
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(
            note::open(&msg, &Verifiers::new([peter()])),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&msg)
        );
        // The error message says what is wrong.
        assert!(!want.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------
// C2SP signed-note.md and tlog-checkpoint.md examples.

#[test]
fn c2sp_signed_note_example() {
    let msg = "Ognuno sta solo sul cuor della terra\n\
               trafitto da un raggio di sole:\n\
               \n\
               ed è subito sera.\n\
               \n\
               — quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let n = Note::parse(msg.as_bytes()).unwrap();
    // The text may contain blank lines; the last one separates the signatures.
    assert_eq!(
        n.text(),
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(n.signatures().len(), 1);
    assert_eq!(n.signatures()[0].name, "quasimodo.example/salvatore");
    assert_eq!(n.signatures()[0].signature.len(), 64);
    assert_eq!(n.to_string(), msg);
    // Its key is not known to us: the note is not accepted.
    assert_eq!(
        note::open(msg.as_bytes(), &Verifiers::new([peter()])),
        Err(NoteError::NoKnownSignature { unknown: 1 })
    );
}

#[test]
fn c2sp_checkpoint_example() {
    let msg = "example.com/behind-the-sofa\n\
               20852163\n\
               CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
               \n\
               — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    let n = Note::parse(msg.as_bytes()).unwrap();
    let cp = Checkpoint::parse(n.text()).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(
        cp.root.to_vec(),
        base64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), n.text());
    assert_eq!(n.signatures()[0].name, cp.origin);
    assert!(matches!(
        Checkpoint::open(msg.as_bytes(), &cp.origin, &Verifiers::new([peter()])),
        Err(CheckpointError::Note(NoteError::NoKnownSignature {
            unknown: 1
        }))
    ));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

// ---------------------------------------------------------------------------
// The example in docs/ledger.md: keep it true.

#[test]
fn docs_ledger_md_example() {
    let msg = "Acme-Bank/node-1\n\
               1000\n\
               mXwAZ8XucWmQ1EpnMacEiQrHlXQBuXYF/fJms8q4tO8=\n\
               \n\
               — Acme-Bank/node-1 wCfUVBsFlxBZahcW7zak84deDMWRUPe0Ecf2bxA/OgJaaivbtTXUvwdYef+PZvuHK6gOj7ipbNMa5cjb3nyyhAZU7wg=\n\
               — auditor.example/cert-in 14FvFOwwF+BvN1uNBwQrjkg01i9bVEGecSm3G08Jgg9TzHnGA7/97njoiHIZLVUHtaxJ4TvmfcyR/S163+SeDoyaHQM=\n";
    let node = VerifierKey::parse(
        "Acme-Bank/node-1+c027d454+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3",
    )
    .unwrap();
    let auditor = VerifierKey::parse(
        "auditor.example/cert-in+d7816f14+AaCapfR6Z1mAL/lV+NwtKhSlyZ0jvpf4ZBJ/+Tg0VaTw",
    )
    .unwrap();
    let opened = Checkpoint::open(
        msg.as_bytes(),
        "Acme-Bank/node-1",
        &Verifiers::new([node.clone(), auditor.clone()]),
    )
    .unwrap();
    opened.verified.require([&node, &auditor]).unwrap();
    // The toy records of the example: "record 0" … "record 999".
    let leaves: Vec<Hash> = (0..1000u64)
        .map(|i| leaf_hash(format!("record {i}").as_bytes()))
        .collect();
    assert_eq!(opened.checkpoint.size, 1000);
    assert_eq!(opened.checkpoint.root, merkle::root_of(&leaves));
    let proof: Vec<Hash> = [
        "1xxkbtZgit1EcSzcGeWziongbqxhe/tghfU+INBp/os=",
        "k4BFs8+F8hOF+t+J9QxnyPg5lduuiW2tR3vCdB5hDzE=",
        "lJgXXW+VjQNgzgtqrRzcjZ8fFaRyBt4mXNBBiJpQ/nI=",
        "LEjxHxvGSBuP8NPcH8nJJxTmTNz9K8m7q2BWB3XltG8=",
        "y8INO4frni0fE0fCPlT4Vcys0FgNjyshCMhUAOuuoik=",
        "tkJ9ZUJDynaivnV0YeWE0Zr0/ku44aFN5DROKhaxUCI=",
        "tNmI7XQ4V8ZkwmxNSmCn7NPkT8xyTNXzL1L3mvqojcg=",
        "yLG1nn/eywY2+aI+2+hYZWFLKkmVE30DZVCTumCqmbY=",
        "D3o0EMCjWERb2I8tpHHn+3Jo88hiadm1peBEWPnu2Hc=",
        "uJyt7L8t+FsjdigTOfVuWFjMVzKibVWrK+oo20RNGFQ=",
    ]
    .iter()
    .map(|s| base64_decode(s).try_into().unwrap())
    .collect();
    assert_eq!(
        inclusion_proof(leaves.as_slice(), 123, 1000).unwrap(),
        proof
    );
    verify_inclusion(&leaves[123], 123, 1000, &proof, &opened.checkpoint.root).unwrap();
    // docs/ledger.md quotes the leaf hash of docs/record-encoding.md's example
    // record (seq 7, 1000 ns, UDP, peer "a", raw "hi").
    let canonical = hex::decode(concat!(
        "01",
        "0000000000000007",
        "00000000000003e8",
        "01",
        "0001",
        "61",
        "00000002",
        "6869"
    ))
    .unwrap();
    assert_eq!(
        leaf_hash(&canonical),
        h("ff240360c5aba769047d291afa44a54328a1abc2fb99583f63c784563fbe8b54")
    );
    // And it is what the keys of the example produce.
    let node_key = SignerKey::from_seed("Acme-Bank/node-1", &[0x11; 32]).unwrap();
    let auditor_key = SignerKey::from_seed("auditor.example/cert-in", &[0x22; 32]).unwrap();
    let mut n = opened.checkpoint.sign(&node_key).unwrap();
    n.sign(&auditor_key).unwrap();
    assert_eq!(n.to_string(), msg);
}
