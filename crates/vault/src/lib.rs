//! The vault: where every log line is kept, unaltered, and found again.
//!
//! Data flow: [`vault`] (opened by `open`, configured by [`options`])
//! sequences submitted lines and makes them durable in the [`wal`] (group
//! commit, the `writer` thread), indexes them into the [`memtable`] (searchable
//! from then on), and seals generations into Parquet [`segment`]s recorded in
//! the [`catalog`]; [`compact`] later rewrites them smaller. Segments, ledger
//! tiles and checkpoints all live in one object store, [`objects`]. [`search`] and [`sql`] read a consistent [`vault::Snapshot`].
//!
//! Owns: the WAL, sequencing, memtable, segments, catalog, search, SQL,
//! retention and holds, the ledger wired to records, `verify`.
//! May not touch: HTTP, users and roles (callers are authorised before they
//! reach it), the other components' databases.

// No function over 150 lines (clippy.toml): a long one is split into named steps.
#![warn(clippy::too_many_lines)]

pub mod backup;
pub mod bridge;
pub mod catalog;
pub mod compact;
pub mod full;
pub mod ledger;
pub mod memtable;
pub mod modes;
pub mod objects;
mod open;
pub mod options;
pub mod priority;
pub mod retention;
pub mod schema;
pub mod search;
pub mod segment;
pub mod sink;
pub mod sql;
pub mod vault;
pub mod wal;
mod writer;

pub use catalog::{Catalog, CatalogError, SegmentMeta};
pub use options::VaultOptions;
pub use search::{Hit, Order, Query};
pub use vault::{is_locked, AppendError, SeqRange, Snapshot, Submit, Vault, Workers};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {0} is in use by another pramaan process (a running `pramaan serve`?)"
    )]
    Locked(PathBuf),
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    Segment(#[from] segment::SegmentError),
    #[error("object store: {0}")]
    Store(String),
    #[error("reading segment {path}: {reason}")]
    Read { path: String, reason: String },
    /// The object store did not answer for a segment (down, unreachable,
    /// refusing): nothing is known to be wrong with the segment itself.
    #[error("fetching segment {path} from the object store: {reason}")]
    Unreachable { path: String, reason: String },
    /// A SQL query refused, failed or stopped at a limit ([`sql::SqlError`]).
    /// Its message is in this one (not also a source: the CLI prints each
    /// cause of a chain, and would say it twice).
    #[error("SQL: {0}")]
    Sql(sql::SqlError),
    /// The vault closed while a search was running on its threads.
    #[error("the search was stopped: the vault is closing")]
    SearchStopped,
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerFault),
}

impl From<sql::SqlError> for VaultError {
    fn from(e: sql::SqlError) -> Self {
        VaultError::Sql(e)
    }
}

impl VaultError {
    /// What a client may be told about a failed search or read: which
    /// segment (its path in the objects directory) cannot be read, never an
    /// absolute path nor the reader's own words (they go to the log).
    pub fn client_message(&self) -> String {
        match self {
            VaultError::Read { path, .. } => format!(
                "segment {path} cannot be read, so this answer would be incomplete; the damage is \
                 named by `pramaan verify` (run it on the server)"
            ),
            VaultError::Unreachable { path, .. } => format!(
                "the object store holding the sealed segments is not answering (segment {path} \
                 could not be fetched), so this answer would be incomplete; try again when it is \
                 back (`pramaan status` shows the store)"
            ),
            VaultError::SearchStopped => self.to_string(),
            _ => "the search failed; see the server log".into(),
        }
    }

    /// A failure to read segment `path`: [`VaultError::Unreachable`] when
    /// its cause is the object store failing to answer (anything but a
    /// missing object), else [`VaultError::Read`] (the bytes are wrong).
    pub(crate) fn reading(path: &str, e: &(dyn std::error::Error + 'static)) -> VaultError {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cur {
            if let Some(store) = c.downcast_ref::<object_store::Error>() {
                if !matches!(store, object_store::Error::NotFound { .. }) {
                    return VaultError::Unreachable {
                        path: path.to_owned(),
                        reason: objects::store_cause(store),
                    };
                }
            }
            cur = c.source();
        }
        VaultError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
        move |source| VaultError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn store(e: object_store::Error) -> VaultError {
        // Kept as an I/O error of kind StorageFull, so that the sealer can
        // tell a full disk (wait for space) from other failures.
        // The text as well: not every backend keeps the I/O error as a source.
        let text = e.to_string();
        if full::chain_is_full(&e) || text.contains("No space left on device") {
            return VaultError::Io {
                path: PathBuf::from("object store"),
                source: std::io::Error::new(std::io::ErrorKind::StorageFull, text),
            };
        }
        VaultError::Store(text)
    }

    /// The filesystem (or quota) was full: retrying after space is freed may succeed.
    pub fn is_storage_full(&self) -> bool {
        full::chain_is_full(self)
    }
}
