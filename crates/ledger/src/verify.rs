//! Proof *verification*, following RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency) step by step.
//!
//! This module deliberately shares no code with the `merkle` module (which
//! generates proofs): it hashes with its own few lines over `sha2`, and walks
//! the proof with the iterative bit-twiddling algorithms of the RFC rather than
//! the recursive definitions the generator uses. Tests check each against the
//! other and against published vectors.

use crate::Hash;
use sha2::{Digest, Sha256};

/// Why a proof did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("proof has {extra} more hash(es) than the tree sizes allow")]
    TooLong { extra: usize },
    #[error("proof is too short for the tree sizes")]
    TooShort,
    #[error("proof must be empty for these tree sizes, it has {len} hash(es)")]
    NotEmpty { len: usize },
    #[error("consistency proof is empty")]
    Empty,
    #[error("computed root does not match the expected root")]
    RootMismatch,
    #[error("computed old root does not match the old tree's root")]
    OldRootMismatch,
    #[error("computed new root does not match the new tree's root")]
    NewRootMismatch,
}

/// `SHA-256(0x01 || left || right)`, kept local to this module on purpose.
fn hash_children(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2, steps 1–3),
/// returning it if the proof has exactly the right length.
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    // 1. leaf_index must be below tree_size.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // 2. fn = leaf_index, sn = tree_size - 1, r = hash.
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf_hash;
    // 3. For each p in the inclusion path:
    for (i, p) in proof.iter().enumerate() {
        // a. If sn is 0, fail.
        if sn == 0 {
            return Err(ProofError::TooLong {
                extra: proof.len() - i,
            });
        }
        // b. If LSB(fn) is set, or fn == sn:
        if fn_ & 1 == 1 || fn_ == sn {
            // 1. r = HASH(0x01 || p || r)
            r = hash_children(p, &r);
            // 2. If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is
            //    set or fn is 0.
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            // Otherwise r = HASH(0x01 || r || p)
            r = hash_children(&r, p);
        }
        // c. Right-shift fn and sn once.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 4. sn must be 0.
    if sn != 0 {
        return Err(ProofError::TooShort);
    }
    Ok(r)
}

/// Verifies that the leaf with hash `leaf_hash` is leaf `index` of the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf_hash, index, size, proof)?;
    // 4. r must equal root_hash.
    if &computed != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a prefix
/// of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Sizes the RFC leaves to the caller, as C2SP merkle-tree specifies them:
/// equal sizes need an empty proof and equal roots; an old size of 0 needs an
/// empty proof (every tree extends the empty tree, whatever `old_root` says).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::NotEmpty { len: proof.len() });
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if old_size == 0 {
        // Every tree extends the empty tree; the proof must be empty.
        if !proof.is_empty() {
            return Err(ProofError::NotEmpty { len: proof.len() });
        }
        return Ok(());
    }
    // 1. An empty consistency_path fails.
    if proof.is_empty() {
        return Err(ProofError::Empty);
    }
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    // 3. fn = first - 1, sn = second - 1.
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    // 4. If LSB(fn) is set, right-shift fn and sn until LSB(fn) is not set.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. fr = sr = first value of the path.
    let mut fr = path[0];
    let mut sr = path[0];
    // 6. For each subsequent value c:
    for (i, c) in path.iter().enumerate().skip(1) {
        // a. If sn is 0, fail.
        if sn == 0 {
            return Err(ProofError::TooLong {
                extra: path.len() - i,
            });
        }
        // b. If LSB(fn) is set, or fn == sn:
        if fn_ & 1 == 1 || fn_ == sn {
            fr = hash_children(c, &fr);
            sr = hash_children(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = hash_children(&sr, c);
        }
        // c. Right-shift fn and sn once.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. sn must be 0, fr must equal first_hash and sr second_hash.
    if sn != 0 {
        return Err(ProofError::TooShort);
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}
