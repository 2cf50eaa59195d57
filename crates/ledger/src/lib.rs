//! The pramaan ledger: every stored record is a leaf of one append-only Merkle
//! tree, kept as [C2SP tlog-tiles] and published as signed [C2SP
//! tlog-checkpoints].
//!
//! # What a leaf is
//!
//! Leaf `i` is the record with sequence number `i`. Its leaf hash is the
//! [RFC 6962] leaf hash of pramaan's canonical record encoding,
//! `SHA-256(0x00 || canonical)`, which `pramaan_core::RecordRef::leaf_hash`
//! computes (the encoding is described in `crates/core/src/record.rs`).
//! Interior nodes are `SHA-256(0x01 || left || right)` and the root of the empty
//! tree is `SHA-256("")`. This crate only ever sees leaf hashes: it does not
//! depend on the record type.
//!
//! # Layout in the object store
//!
//! The tree is cut into tiles of height 8 as C2SP tlog-tiles describes: a tile at
//! level `L` holds up to 256 consecutive hashes of tree level `8·L`, and lives at
//! `tile/<L>/<N>` (full) or `tile/<L>/<N>.p/<W>` (partial, `W` in 1..=255), with
//! `N` written in 3-digit groups, all but the last prefixed by `x`
//! (`tile/1/x001/234.p/17`). See [`tiles::TileId`].
//!
//! **Level-0 tiles (the leaf hashes) are not stored.** They would cost 32 bytes
//! per record, more than twice what a compressed segment costs per record, and
//! they can always be recomputed from the records (which the vault keeps anyway)
//! through the [`LeafHashes`] trait. Only tiles of level ≥ 1 are written:
//! 32 bytes per 256 records at level 1, 32 bytes per 65 536 records at level 2,
//! and so on, about 0.126 bytes per record in all (under 1% of a segment's
//! ≈ 13 bytes per record). A partial tile is written when a checkpoint needs
//! it and deleted once a wider partial or the full tile has been written
//! (C2SP allows this; clients fall back to the full tile), so the store holds
//! the full tiles plus at most one partial tile per level.
//!
//! # Modules
//!
//! * [`merkle`]: RFC 6962 hashing, tree heads, and *generation* of inclusion and
//!   consistency proofs (RFC 9162 §2.1.3.1 `PATH` and §2.1.4.1 `SUBPROOF`) from
//!   any [`merkle::HashReader`].
//! * [`verify`]: *verification* of those proofs (RFC 9162 §2.1.3.2 and
//!   §2.1.4.2). It shares no code with [`merkle`], not even the node hash, so a
//!   mistake in one cannot hide a mistake in the other.
//! * [`tiles`]: tile geometry and paths, and [`tiles::TileHashReader`], which
//!   answers "hash of node (level, index)" from stored tiles and recomputed
//!   level-0 tiles, and serves any C2SP tile.
//! * [`appender`]: [`Appender`] takes leaf hashes in order, keeps the compact
//!   right edge of the tree in memory (the root is O(log n)), writes tiles of
//!   level ≥ 1 on [`Appender::flush`], and is rebuilt after a restart by
//!   [`Appender::recover`].
//! * [`store`]: the in-memory and directory-backed [`TileStore`]s.
//! * [`checkpoint`] and [`note`]: the C2SP checkpoint body and the C2SP signed
//!   note that carries it, with Ed25519 keys in the Go `vkey`/`skey` formats and
//!   co-signatures (e.g. an auditor's) verified against a set of keys.
//!
//! # Why not the `tlog_tiles` and `signed_note` crates
//!
//! Both (Cloudflare's ports of Go's `golang.org/x/mod/sumdb`, version 0.2) were
//! evaluated and are used in this crate's tests as an independent second
//! implementation to cross-check ours, but not at run time:
//!
//! * `tlog_tiles` follows Go's sumdb storage model, in which every level
//!   including level 0 is stored and addressed by "stored hash index"; its
//!   tile paths are sumdb's `tile/<H>/<L>/<N>` (with the height, e.g.
//!   `tile/8/1/000`), not C2SP's `tile/<L>/<N>`; it has no compact appender,
//!   no way to serve level 0 from the records, and its proof generation and
//!   checking live side by side in one module, while pramaan needs level 0
//!   *not* stored and verification kept apart from generation. It also pulls
//!   `url`, `serde_json`, `thiserror` 1 and `base64` 0.21.
//! * `signed_note` is a faithful port, but every parse failure is the single
//!   error "malformed note" (pramaan must say *what* is wrong: too long, not
//!   UTF-8, missing newline, which signature line), it has no key file
//!   handling, and it brings `thiserror` 1, `base64` 0.21 and `rand_core` 0.6.
//!   The format is small (a few hundred lines here), so it is implemented
//!   directly on `ed25519-dalek`, and tested against Go's own vectors and
//!   against `signed_note`.
//!
//! # Example
//!
//! ```
//! use pramaan_ledger::merkle::leaf_hash;
//! use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
//! use pramaan_ledger::{Appender, Checkpoint, MemStore, SignerKey, TileHashReader, Verifiers};
//!
//! // The vault's records, as leaf hashes (the vault reads them from its
//! // segments and calls `RecordRef::leaf_hash`; a Vec<Hash> will do here).
//! let records: Vec<[u8; 32]> = (0..1000u64)
//!     .map(|i| leaf_hash(format!("record {i}").as_bytes()))
//!     .collect();
//! let store = MemStore::new();
//! let key = SignerKey::generate("Acme-Bank/node-1")?;
//!
//! let mut app = Appender::new();
//! app.extend(records[..600].iter().copied());
//! app.flush(&store)?; // tiles first, then the checkpoint that needs them
//! let old = Checkpoint::new(key.name(), app.size(), app.root())?;
//! app.extend(records[600..].iter().copied());
//! app.flush(&store)?;
//! let signed = Checkpoint::new(key.name(), app.size(), app.root())?.sign(&key)?.to_bytes();
//! assert!(store.paths().iter().all(|p| !p.starts_with("tile/0/"))); // level 0 is not stored
//!
//! // Serving proofs: a reader at the flushed size answers for any tree up to it.
//! let reader = TileHashReader::new(&store, &records, app.flushed_size());
//! let inclusion = reader.inclusion_proof(123, 1000)?;
//! let consistency = reader.consistency_proof(old.size, 1000)?;
//!
//! // A client: check the checkpoint's signature, then the proofs.
//! let cp = Checkpoint::open(&signed, "Acme-Bank/node-1", &Verifiers::new([key.verifier()]))?
//!     .checkpoint;
//! verify_inclusion(&records[123], 123, cp.size, &inclusion, &cp.root)?;
//! verify_consistency(old.size, cp.size, &old.root, &cp.root, &consistency)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [C2SP tlog-tiles]: https://c2sp.org/tlog-tiles
//! [C2SP tlog-checkpoints]: https://c2sp.org/tlog-checkpoint
//! [RFC 6962]: https://www.rfc-editor.org/rfc/rfc6962
//!
//! Owns: Merkle hashing, tiles, checkpoints, signed notes, proofs and their
//! verification.
//! May not touch: records and how they are stored (it sees leaf hashes only),
//! the file system beyond the tile store it is given, the network.

// No function over 150 lines (clippy.toml): a long one is split into named steps.
#![warn(clippy::too_many_lines)]

pub mod appender;
pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod sha_lanes;
pub mod store;
pub mod tiles;
pub mod verify;

pub use appender::{Appender, FlushStats};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use merkle::HashReader;
pub use note::{KeyError, Note, NoteError, SignerKey, VerifierKey, Verifiers};
pub use store::{DirStore, MemStore};
pub use tiles::{TileHashReader, TileId};
pub use verify::ProofError;

use std::error::Error as StdError;
use std::sync::Arc;

/// A SHA-256 hash: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// Errors from the ledger's I/O-facing parts: stores, leaf sources, tiles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// An error from a [`TileStore`] or [`LeafHashes`] implementation.
    #[error("{context}: {source}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A [`LeafHashes`] source returned the wrong number of hashes.
    #[error("leaf hashes [{start}, {end}): got {got} hashes, expected {}", end - start)]
    LeafCount { start: u64, end: u64, got: usize },
    /// A stored tile has the wrong length for its path.
    #[error("tile {path} has {len} bytes, expected {expected}")]
    BadTile {
        path: String,
        len: usize,
        expected: usize,
    },
    /// A node, tile or leaf outside the tree was asked for.
    #[error("{what} is outside a tree of size {size}")]
    OutOfRange { what: String, size: u64 },
    /// The store holds tiles that only a larger tree would have.
    #[error("store is ahead of the tree: {0}")]
    Inconsistent(String),
    /// A caller passed an argument that makes no sense (e.g. old size > new size).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl LedgerError {
    /// Wraps a store or record-source error, with a short context such as
    /// `"get tile/1/000"`.
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        LedgerError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Level-0 hashes come from the records themselves.
///
/// `leaf_hashes(start, end)` returns the leaf hashes of records
/// `start..end` (sequence numbers), exactly `end - start` of them, in order.
/// The vault implements it by reading the records and calling
/// `RecordRef::leaf_hash`. The ledger asks for at most one level-0 tile
/// (256 leaves) per call when answering proofs, and for larger batches only
/// when catching up after a restart.
pub trait LeafHashes {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError>;
}

/// Storage for tiles of level ≥ 1, addressed by C2SP paths such as
/// `tile/1/000` or `tile/1/x001/234.p/17`.
///
/// `put` must replace an existing object atomically (readers see the old or
/// the new bytes, never a mix) and be durable when it returns. `delete` of a
/// missing object is not an error.
pub trait TileStore {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError>;
    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError>;
    fn delete(&self, path: &str) -> Result<(), LedgerError>;
}

impl LeafHashes for [Hash] {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        if start > end || end > self.len() as u64 {
            return Err(LedgerError::OutOfRange {
                what: format!("leaves [{start}, {end})"),
                size: self.len() as u64,
            });
        }
        Ok(self[start as usize..end as usize].to_vec())
    }
}

impl LeafHashes for Vec<Hash> {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        self.as_slice().leaf_hashes(start, end)
    }
}

impl<T: LeafHashes + ?Sized> LeafHashes for &T {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        (**self).leaf_hashes(start, end)
    }
}

impl<T: LeafHashes + ?Sized> LeafHashes for Arc<T> {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        (**self).leaf_hashes(start, end)
    }
}

impl<T: TileStore + ?Sized> TileStore for &T {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        (**self).get(path)
    }
    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError> {
        (**self).put(path, data)
    }
    fn delete(&self, path: &str) -> Result<(), LedgerError> {
        (**self).delete(path)
    }
}

impl<T: TileStore + ?Sized> TileStore for Arc<T> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        (**self).get(path)
    }
    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError> {
        (**self).put(path, data)
    }
    fn delete(&self, path: &str) -> Result<(), LedgerError> {
        (**self).delete(path)
    }
}

/// Reads leaf hashes `start..end` and checks the count.
pub(crate) fn read_leaves<L: LeafHashes + ?Sized>(
    leaves: &L,
    start: u64,
    end: u64,
) -> Result<Vec<Hash>, LedgerError> {
    let got = leaves.leaf_hashes(start, end)?;
    if got.len() as u64 != end - start {
        return Err(LedgerError::LeafCount {
            start,
            end,
            got: got.len(),
        });
    }
    Ok(got)
}
