//! Inclusion proofs for many records at once, without repeating hashes.
//!
//! The RFC 9162 inclusion proof of leaf `m` in a tree of `n` leaves is a list
//! of subtree hashes, each the root of a range of leaves `[start, end)`;
//! which ranges is a pure function of `m` and `n` ([`path_ranges`]). For the
//! records of a bundle, most of those subtrees are made only of records that
//! are in the bundle too, so the recipient computes them from the records
//! themselves. The bundle stores just the others ([`needed_ranges`]): for a
//! contiguous run of records a few dozen hashes, instead of ~20 per record.
//!
//! The verifier rebuilds each record's full RFC 9162 proof from those stored
//! hashes and the records' own leaf hashes ([`Resolver`]), then checks it with
//! `pramaan_ledger::verify::verify_inclusion` against the signed checkpoint's
//! root, one record at a time.

use pramaan_ledger::Hash;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A range of leaves `[start, end)`: a subtree of the RFC 6962 tree.
pub type Range = (u64, u64);

/// The ranges whose hashes make up the inclusion proof of leaf `m` in the
/// tree of `n` leaves, in proof order (nearest the leaf first).
pub fn path_ranges(m: u64, n: u64) -> Vec<Range> {
    // RFC 9162 2.1.3.1: PATH(m, D[n]) splits at k, the largest power of two
    // smaller than n, and recurses into the side holding m.
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0u64, n);
    let mut m = m;
    while hi - lo > 1 {
        let k = largest_pow2_below(hi - lo);
        if m < k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            m -= k;
        }
    }
    out.reverse();
    out
}

fn largest_pow2_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// How many of `sorted` (ascending, distinct) fall in `[a, b)`.
fn count_in(sorted: &[u64], (a, b): Range) -> u64 {
    (sorted.partition_point(|&x| x < b) - sorted.partition_point(|&x| x < a)) as u64
}

/// The ranges the proofs of `seqs` (ascending, distinct, all below `n`) need
/// and that the records themselves do not give: those not wholly made of
/// records in `seqs`. Sorted by start, then end.
pub fn needed_ranges(seqs: &[u64], n: u64) -> Vec<Range> {
    let mut out = std::collections::BTreeSet::new();
    for &m in seqs {
        for r in path_ranges(m, n) {
            if count_in(seqs, r) != r.1 - r.0 {
                out.insert(r);
            }
        }
    }
    out.into_iter().collect()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Answers "hash of range [a, b)" from the records' leaf hashes and the
/// stored hashes, computing (and remembering) subtrees made of records.
pub struct Resolver {
    known: HashMap<Range, Hash>,
    leaves: Vec<u64>,
}

/// A proof hash that neither the records nor the stored hashes give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the hash of leaves [{0}, {1}) is missing from the bundle's proof hashes")]
pub struct Missing(pub u64, pub u64);

impl Resolver {
    /// `leaves`: (sequence number, leaf hash) of every record in the bundle;
    /// `stored`: the bundle's proof hashes.
    pub fn new(leaves: &[(u64, Hash)], stored: impl IntoIterator<Item = (Range, Hash)>) -> Self {
        let mut known: HashMap<Range, Hash> = stored.into_iter().collect();
        let mut seqs = Vec::with_capacity(leaves.len());
        for (s, h) in leaves {
            known.insert((*s, s + 1), *h);
            seqs.push(*s);
        }
        seqs.sort_unstable();
        Resolver {
            known,
            leaves: seqs,
        }
    }

    pub fn hash(&mut self, r: Range) -> Result<Hash, Missing> {
        if let Some(h) = self.known.get(&r) {
            return Ok(*h);
        }
        // Only a subtree made entirely of records can be computed.
        if r.1 - r.0 < 2 || count_in(&self.leaves, r) != r.1 - r.0 {
            return Err(Missing(r.0, r.1));
        }
        let k = largest_pow2_below(r.1 - r.0);
        let l = self.hash((r.0, r.0 + k))?;
        let rt = self.hash((r.0 + k, r.1))?;
        let h = node(&l, &rt);
        self.known.insert(r, h);
        Ok(h)
    }

    /// The RFC 9162 inclusion proof of leaf `m` in the tree of `n` leaves.
    pub fn proof(&mut self, m: u64, n: u64) -> Result<Vec<Hash>, Missing> {
        path_ranges(m, n)
            .into_iter()
            .map(|r| self.hash(r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_ledger::merkle::{inclusion_proof, leaf_hash, subtree_root};
    use pramaan_ledger::verify::verify_inclusion;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The proofs rebuilt from the records and the needed ranges are the
        /// ledger's own proofs, and they verify.
        #[test]
        fn rebuilt_proofs_are_the_ledgers(n in 1u64..300, picks in prop::collection::vec(any::<prop::sample::Index>(), 1..40)) {
            let all = leaves(n);
            let mut seqs: Vec<u64> = picks.iter().map(|p| p.index(n as usize) as u64).collect();
            seqs.sort_unstable();
            seqs.dedup();
            let root = pramaan_ledger::merkle::root_of(&all);
            let stored: Vec<(Range, Hash)> = needed_ranges(&seqs, n)
                .into_iter()
                .map(|r| (r, subtree_root(&all, r.0, r.1).unwrap()))
                .collect();
            let mine: Vec<(u64, Hash)> = seqs.iter().map(|&s| (s, all[s as usize])).collect();
            let mut res = Resolver::new(&mine, stored);
            for &s in &seqs {
                let p = res.proof(s, n).unwrap();
                prop_assert_eq!(&p, &inclusion_proof(&all, s, n).unwrap());
                prop_assert!(verify_inclusion(&all[s as usize], s, n, &p, &root).is_ok());
            }
        }
    }

    #[test]
    fn a_contiguous_run_needs_few_hashes() {
        let seqs: Vec<u64> = (1000..101_000).collect();
        let needed = needed_ranges(&seqs, 1_000_000);
        assert!(needed.len() < 64, "{}", needed.len());
    }

    #[test]
    fn a_missing_hash_is_named() {
        let all = leaves(8);
        let mut res = Resolver::new(&[(3, all[3])], []);
        assert_eq!(res.proof(3, 8).unwrap_err(), Missing(2, 3));
    }
}
