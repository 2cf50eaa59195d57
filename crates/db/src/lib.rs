//! The conventions every pramaan SQLite database follows (`catalog.db`,
//! `desk.db`, `orders.db`, `auth.db`, `clock.db`, `registry.db`):
//!
//! * [`open`]: one way to open one (parent directory created, WAL journal,
//!   `synchronous=FULL`, a busy timeout), read-write or read-only;
//! * [`schema`]: its schema version (`PRAGMA user_version`) and the forward
//!   migrations that bring an older file up to date; a file newer than the
//!   binary is refused, naming the database and both versions;
//! * [`outbox`]: the table each component stages its ledger records in,
//!   inside its own transactions, and the one flusher that appends them to
//!   the ledger exactly once.
//!
//! Owns: how a database file is opened and versioned, and the outbox table
//! and its flusher. May not touch: what the tables mean (each component
//! keeps its own), the vault, the network (the outbox reaches the ledger
//! only through `pramaan_core::LedgerSink`).

pub mod outbox;
pub mod schema;

pub use schema::{migrate, Schema, SchemaError, Step};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a statement waits for another connection's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("creating {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Read-write or read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Created when missing, migrated to the binary's schema.
    Write,
    /// Never created or changed; refused unless its schema is exactly the
    /// binary's (an older file needs a write open first, which migrates it).
    ReadOnly,
}

/// Opens the database at `path` the one way pramaan opens a database, and
/// brings (or checks) its schema to `schema`'s latest version.
pub fn open(path: &Path, schema: &Schema, mode: Mode) -> Result<Connection, OpenError> {
    let conn = match mode {
        Mode::Write => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            Connection::open(path)
        }
        Mode::ReadOnly => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
    };
    let err = |source| OpenError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = conn.map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    match mode {
        Mode::Write => {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(err)?;
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(err)?;
            migrate(&mut conn, schema)?;
        }
        Mode::ReadOnly => schema::check(&conn, schema)?,
    }
    Ok(conn)
}
