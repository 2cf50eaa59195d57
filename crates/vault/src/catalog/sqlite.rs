//! The catalog's SQLite file (`catalog.db`): how it is opened, and the
//! connection that the catalog, retention's store and the ledger history
//! share.

use super::error::CatalogError;
use super::schema::SCHEMA;
use pramaan_db::Mode;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;

/// The SQLite catalog (the embedded default).
pub struct SqliteCatalog {
    conn: Mutex<Connection>,
    path: String,
}

impl SqliteCatalog {
    /// Opens (creating, migrating) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        Ok(SqliteCatalog {
            conn: Mutex::new(pramaan_db::open(path, &SCHEMA, Mode::Write)?),
            path: path.display().to_string(),
        })
    }

    /// Opens an existing catalog read-only (for tools running beside
    /// `serve`); see [`pramaan_db::schema::check`] for which versions pass.
    pub fn open_read_only(path: &Path) -> Result<Self, CatalogError> {
        if !path.exists() {
            return Self::open(path);
        }
        Ok(SqliteCatalog {
            conn: Mutex::new(pramaan_db::open(path, &SCHEMA, Mode::ReadOnly)?),
            path: path.display().to_string(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The connection (the catalog, retention's tables, the ledger history).
    /// The connection's lock itself, for the outbox flusher, which takes it
    /// per statement (never across an `.await`).
    pub(crate) fn conn_mutex(&self) -> &Mutex<Connection> {
        &self.conn
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("catalog lock")
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        |source| CatalogError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}
