//! The conventions every pramaan SQLite database follows (`catalog.db`,
//! `desk.db`, `orders.db`, `auth.db`, `clock.db`, `registry.db`):
//!
//! * [`open`]: one way to open one (parent directory created, WAL journal,
//!   `synchronous=FULL`, a busy timeout), read-write or read-only;
//! * [`schema`]: its schema version (`PRAGMA user_version`) and the forward
//!   migrations that bring an older file up to date; a file newer than the
//!   binary is refused, naming the database and both versions;
//! * [`pg`] (feature `postgres`): the same for the PostgreSQL stores, with
//!   the version in a `pramaan_schema` table.
//! * [`outbox`]: the table each component stages its ledger records in,
//!   inside its own transactions, and the one flusher that appends them to
//!   the ledger exactly once.
//!
//! Owns: how a database file is opened and versioned, and the outbox table
//! and its flusher. May not touch: what the tables mean (each component
//! keeps its own), the vault, the network (the outbox reaches the ledger
//! only through `pramaan_core::LedgerSink`).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod outbox;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod schema;

pub use schema::{has_column, migrate, version, Schema, SchemaError, Step};

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
    #[error("making {path} readable by its owner only: {source}")]
    Private {
        path: PathBuf,
        source: std::io::Error,
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
    open_from(path, schema, mode).map(|(conn, _)| conn)
}

/// Like [`open`], also saying the version the file was at (for a log line
/// when a start migrated it).
pub fn open_from(path: &Path, schema: &Schema, mode: Mode) -> Result<(Connection, u32), OpenError> {
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
    let from = match mode {
        Mode::Write => {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(err)?;
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(err)?;
            migrate(&mut conn, schema)?
        }
        Mode::ReadOnly => {
            schema::check(&conn, schema)?;
            version(&conn, schema)?
        }
    };
    Ok((conn, from))
}

/// Like [`open`] in [`Mode::Write`], for a file only its owner may read
/// (`auth.db`, `registry.db`): the file is made (or kept) 0600 before SQLite
/// opens it, so its `-wal` and `-shm` files, which SQLite creates with the
/// database file's permissions, are private from the start as well.
pub fn open_private(path: &Path, schema: &Schema) -> Result<Connection, OpenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let private = |source| OpenError::Private {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new();
    file.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        file.mode(0o600);
        file.open(path).map_err(private)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(private)?;
    }
    #[cfg(not(unix))]
    file.open(path).map_err(private)?;
    open(path, schema, Mode::Write)
}

/// A consistent copy of the SQLite database at `src` written to `dest`
/// (which must not exist), while other connections may be writing it:
/// `VACUUM INTO` reads one snapshot of the file, so the copy holds whole
/// transactions only. The source is never created, migrated or changed.
/// The copy is made readable by its owner only.
pub fn snapshot(src: &Path, dest: &Path) -> Result<(), OpenError> {
    let err = |source| OpenError::Open {
        path: src.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let dest_text = dest.to_str().ok_or_else(|| OpenError::Dir {
        path: dest.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a UTF-8 path"),
    })?;
    conn.execute("VACUUM INTO ?1", [dest_text]).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| OpenError::Private {
                path: dest.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}

/// An in-memory database at `schema`'s latest version (tests, scratch stores).
pub fn open_in_memory(schema: &Schema) -> Result<Connection, OpenError> {
    let mut conn = Connection::open_in_memory().map_err(|source| OpenError::Open {
        path: PathBuf::from(":memory:"),
        source,
    })?;
    migrate(&mut conn, schema)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Schema = Schema {
        database: "t.db",
        steps: &[Step::Sql("CREATE TABLE IF NOT EXISTS t (a INTEGER)")],
    };

    #[test]
    fn a_write_open_creates_the_directory_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("t.db");
        let c = open(&path, &T, Mode::Write).unwrap();
        assert_eq!(version(&c, &T).unwrap(), 1);
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(c);
        let ro = open(&path, &T, Mode::ReadOnly).unwrap();
        assert!(ro.execute("INSERT INTO t VALUES (1)", []).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_private_database_and_its_wal_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let c = open_private(&path, &T).unwrap();
        c.execute("INSERT INTO t VALUES (1)", []).unwrap();
        for f in ["p.db", "p.db-wal", "p.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    #[test]
    fn a_snapshot_holds_committed_rows_while_a_writer_holds_a_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut w = open(&path, &T, Mode::Write).unwrap();
        w.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let tx = w.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let copy = dir.path().join("copy.db");
        snapshot(&path, &copy).unwrap();
        tx.commit().unwrap();
        let c = open(&copy, &T, Mode::ReadOnly).unwrap();
        let rows: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the open transaction is not in the copy");
        // A missing source is an error naming it, and nothing is created.
        let missing = dir.path().join("missing.db");
        let e = snapshot(&missing, &dir.path().join("c2.db"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.db"), "{e}");
        assert!(!missing.exists());
        // An existing destination is never overwritten.
        assert!(snapshot(&path, &copy).is_err());
    }

    #[test]
    fn a_read_only_open_never_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        let e = open(&path, &T, Mode::ReadOnly).unwrap_err().to_string();
        assert!(e.contains("missing.db"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn a_newer_file_is_refused_by_both_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        open(&path, &T, Mode::Write)
            .unwrap()
            .pragma_update(None, "user_version", 7)
            .unwrap();
        for mode in [Mode::Write, Mode::ReadOnly] {
            let e = open(&path, &T, mode).unwrap_err().to_string();
            assert!(
                e.contains("t.db has schema version 7") && e.contains("(1)"),
                "{e}"
            );
        }
    }
}
