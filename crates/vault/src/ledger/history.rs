//! The checkpoint history, in the catalog's SQLite database (its tables are
//! created with the catalog's, in [`crate::catalog::schema`]).
//!
//! `ledger_checkpoints` keeps signed checkpoints (the whole signed note, node
//! signature and any co-signatures) by tree size: at most one per
//! `ledger.history_interval`, the one published at each clean shutdown, and
//! every checkpoint an auditor co-signed. `pramaan verify` checks each one's
//! signatures and that each extends the one before. A row is about 200 bytes.
//!
//! `ledger_rebuilds` keeps, for good, every time an operator rebuilt the
//! tree over stored records because its checkpoints were missing
//! (`pramaan ledger rebuild --reason`): when, by whom, why, over how many
//! records, and the sequence number of the `pramaan:ledger` record saying so.
//! Status shows them all.

use crate::catalog::error::CatalogError;
use crate::catalog::sqlite::SqliteCatalog;
use rusqlite::{params, Connection, OptionalExtension};

fn has_rebuilds(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_rebuilds'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// One rebuild of the tree over stored records whose checkpoints were missing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerRebuild {
    pub id: i64,
    /// When, as nanoseconds since the epoch.
    pub at_ns: i64,
    /// When, as IST with UTC (for people).
    pub at: String,
    /// Who ran it (the operating-system user).
    pub by: String,
    /// Why, as the operator said.
    pub reason: String,
    /// The records the rebuilt tree covered (its first checkpoint's size).
    pub records: u64,
    /// The `pramaan:ledger` record saying so (`None` until it is appended).
    pub seq: Option<u64>,
}

fn has_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_checkpoints'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// One kept checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCheckpoint {
    pub size: u64,
    /// The signed note, as published (C2SP signed-note text).
    pub note: String,
    pub published_at_ns: i64,
}

/// The ledger's part of the catalog.
pub trait LedgerCatalog {
    /// Keeps a checkpoint unless one of the same size is kept already.
    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError>;
    /// Keeps a checkpoint, replacing the note of one of the same size (a
    /// co-signature was added).
    fn replace_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError>;
    /// Every kept checkpoint, smallest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, CatalogError>;
    /// The kept checkpoint of this size.
    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, CatalogError>;
    /// The largest kept checkpoint.
    fn last_checkpoint(&self) -> Result<Option<StoredCheckpoint>, CatalogError>;
    /// Keeps a rebuild (its `id` and `seq` are ignored); returns its id.
    fn add_rebuild(&self, r: &LedgerRebuild) -> Result<i64, CatalogError>;
    /// Notes the sequence number of the record of rebuild `id`.
    fn set_rebuild_seq(&self, id: i64, seq: u64) -> Result<(), CatalogError>;
    /// Every rebuild, oldest first.
    fn rebuilds(&self) -> Result<Vec<LedgerRebuild>, CatalogError>;
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: r.get::<_, i64>(0)? as u64,
        note: r.get(1)?,
        published_at_ns: r.get(2)?,
    })
}

impl LedgerCatalog for SqliteCatalog {
    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO ledger_checkpoints (size, note, published_at_ns) VALUES (?1, ?2, ?3)",
            params![cp.size as i64, cp.note, cp.published_at_ns],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn replace_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO ledger_checkpoints (size, note, published_at_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT(size) DO UPDATE SET note = excluded.note",
            params![cp.size as i64, cp.note, cp.published_at_ns],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, CatalogError> {
        let conn = self.conn();
        if !has_table(&conn).map_err(self.err())? {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT size, note, published_at_ns FROM ledger_checkpoints ORDER BY size",
            )
            .map_err(self.err())?;
        let rows = stmt.query_map([], row).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, CatalogError> {
        let conn = self.conn();
        if !has_table(&conn).map_err(self.err())? {
            return Ok(None);
        }
        conn.query_row(
            "SELECT size, note, published_at_ns FROM ledger_checkpoints WHERE size = ?1",
            [size as i64],
            row,
        )
        .optional()
        .map_err(self.err())
    }

    fn last_checkpoint(&self) -> Result<Option<StoredCheckpoint>, CatalogError> {
        let conn = self.conn();
        if !has_table(&conn).map_err(self.err())? {
            return Ok(None);
        }
        conn.query_row(
            "SELECT size, note, published_at_ns FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            row,
        )
        .optional()
        .map_err(self.err())
    }

    fn add_rebuild(&self, r: &LedgerRebuild) -> Result<i64, CatalogError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO ledger_rebuilds (at_ns, by, reason, records) VALUES (?1, ?2, ?3, ?4)",
            params![r.at_ns, r.by, r.reason, r.records as i64],
        )
        .map_err(self.err())?;
        Ok(conn.last_insert_rowid())
    }

    fn set_rebuild_seq(&self, id: i64, seq: u64) -> Result<(), CatalogError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE ledger_rebuilds SET seq = ?2 WHERE id = ?1",
            params![id, seq as i64],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn rebuilds(&self) -> Result<Vec<LedgerRebuild>, CatalogError> {
        let conn = self.conn();
        if !has_rebuilds(&conn).map_err(self.err())? {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, at_ns, by, reason, records, seq FROM ledger_rebuilds ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                let at_ns: i64 = r.get(1)?;
                Ok(LedgerRebuild {
                    id: r.get(0)?,
                    at_ns,
                    at: pramaan_core::time::rfc3339_ist(at_ns),
                    by: r.get(2)?,
                    reason: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    seq: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(size: u64, note: &str) -> StoredCheckpoint {
        StoredCheckpoint {
            size,
            note: note.into(),
            published_at_ns: size as i64,
        }
    }

    #[test]
    fn keeps_one_row_per_size() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(&dir.path().join("c.db")).unwrap();
        assert_eq!(c.last_checkpoint().unwrap(), None);
        c.add_checkpoint(&cp(10, "a")).unwrap();
        c.add_checkpoint(&cp(5, "b")).unwrap();
        c.add_checkpoint(&cp(10, "ignored")).unwrap();
        assert_eq!(c.checkpoints().unwrap(), vec![cp(5, "b"), cp(10, "a")]);
        c.replace_checkpoint(&cp(10, "cosigned")).unwrap();
        assert_eq!(c.checkpoint_at(10).unwrap(), Some(cp(10, "cosigned")));
        assert_eq!(c.last_checkpoint().unwrap().unwrap().size, 10);
        assert_eq!(c.checkpoint_at(7).unwrap(), None);
    }
}
