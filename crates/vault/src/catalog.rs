//! The catalog: one row per sealed segment. It is the source of truth for
//! what is sealed; a segment object without a catalog row is an unfinished
//! seal and is removed at start (its records are still in the WAL).
//!
//! Two implementations of one contract (`tests/catalog_suite.rs` runs on
//! both): SQLite, the embedded default, whose file is opened in [`sqlite`]
//! and whose tables (the segments, retention's and the ledger history's) are
//! created in [`schema`]; and PostgreSQL ([`postgres`], `catalog.url =
//! "postgres://..."`), the same tables in a schema of their own. [`open`]
//! and [`open_read_only`] are the one place that picks one from the options.

pub mod error;
pub mod postgres;
pub mod schema;
pub mod sqlite;

pub use error::CatalogError;
pub use postgres::{PgCatalog, PgLocation};
pub use sqlite::SqliteCatalog;

use crate::options::VaultOptions;
use std::sync::Arc;

/// Opens (creating, migrating) the catalog the options name: PostgreSQL
/// when `catalog_postgres` is set, else SQLite at `catalog_path`.
pub fn open(opts: &VaultOptions) -> Result<Arc<dyn Catalog>, CatalogError> {
    Ok(match &opts.catalog_postgres {
        Some(at) => Arc::new(PgCatalog::open(at)?),
        None => Arc::new(SqliteCatalog::open(&opts.catalog_path())?),
    })
}

/// Opens the catalog the options name for reading beside a running server
/// (`verify`, searches on the data directory); never migrates it.
pub fn open_read_only(opts: &VaultOptions) -> Result<Arc<dyn Catalog>, CatalogError> {
    Ok(match &opts.catalog_postgres {
        Some(at) => Arc::new(PgCatalog::open_read_only(at)?),
        None => Arc::new(SqliteCatalog::open_read_only(&opts.catalog_path())?),
    })
}

use rusqlite::{params, OptionalExtension};
use std::collections::BTreeMap;

/// What the catalog knows about one sealed segment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SegmentMeta {
    pub id: i64,
    /// Object path inside the object store, e.g. `segments/2026/11/27/21/....parquet`.
    pub path: String,
    pub seq_min: u64,
    pub seq_max: u64,
    /// received_at range, ns since the epoch.
    pub time_min_ns: i64,
    pub time_max_ns: i64,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// Lines per source (host name when the line names one, else the peer address).
    pub sources: BTreeMap<String, u64>,
    pub raw_bytes: u64,
    pub created_at_ns: i64,
}

/// Retention's tables (holds, deletions, runs, the internal-record outbox)
/// live in the same database; see [`crate::retention::store`].
pub trait Catalog:
    Send + Sync + crate::retention::store::RetentionCatalog + crate::ledger::history::LedgerCatalog
{
    /// Where it is, for status and messages (never a password).
    fn describe(&self) -> String;
    /// Records a sealed segment; returns its id.
    fn insert(&self, seg: &SegmentMeta) -> Result<i64, CatalogError>;
    /// Segments whose received_at range meets `[from, to]` (inclusive), in sequence order.
    fn segments(
        &self,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Vec<SegmentMeta>, CatalogError>;
    /// Highest sequence number in a sealed segment, counting segments that
    /// retention has since deleted (so sequence numbers are never reused).
    fn sealed_through(&self) -> Result<Option<u64>, CatalogError>;
    /// Ids of segments whose object was written at a zstd level below
    /// `level` by compaction (0: as sealed).
    fn below_level(&self, level: i32) -> Result<std::collections::HashSet<i64>, CatalogError>;
    /// Points segment `id` at a rewritten object, if its row still names
    /// `old_path` (false: retention deleted it meanwhile).
    fn switch_object(
        &self,
        id: i64,
        old_path: &str,
        new_path: &str,
        bytes: u64,
        sha256: &str,
        level: i32,
    ) -> Result<bool, CatalogError>;
}

impl Catalog for SqliteCatalog {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path())
    }

    fn insert(&self, s: &SegmentMeta) -> Result<i64, CatalogError> {
        let conn = self.conn();
        let sources = serde_json::to_string(&s.sources).expect("map serialises");
        conn.execute(
            "INSERT INTO segments (path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                s.path,
                s.seq_min as i64,
                s.seq_max as i64,
                s.time_min_ns,
                s.time_max_ns,
                s.rows as i64,
                s.bytes as i64,
                s.raw_bytes as i64,
                s.sha256,
                sources,
                s.created_at_ns
            ],
        )
        .map_err(self.err())?;
        Ok(conn.last_insert_rowid())
    }

    fn segments(
        &self,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Vec<SegmentMeta>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns
                 FROM segments WHERE time_max_ns >= ?1 AND time_min_ns <= ?2 ORDER BY seq_min",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(
                params![from_ns.unwrap_or(i64::MIN), to_ns.unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        SegmentMeta {
                            id: r.get(0)?,
                            path: r.get(1)?,
                            seq_min: r.get::<_, i64>(2)? as u64,
                            seq_max: r.get::<_, i64>(3)? as u64,
                            time_min_ns: r.get(4)?,
                            time_max_ns: r.get(5)?,
                            rows: r.get::<_, i64>(6)? as u64,
                            bytes: r.get::<_, i64>(7)? as u64,
                            raw_bytes: r.get::<_, i64>(8)? as u64,
                            sha256: r.get(9)?,
                            sources: BTreeMap::new(),
                            created_at_ns: r.get(11)?,
                        },
                        r.get::<_, String>(10)?,
                    ))
                },
            )
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (mut meta, sources) = row.map_err(self.err())?;
            meta.sources = serde_json::from_str(&sources).map_err(|e| CatalogError::Malformed {
                path: meta.path.clone(),
                reason: format!("sources: {e}"),
            })?;
            out.push(meta);
        }
        Ok(out)
    }

    fn below_level(&self, level: i32) -> Result<std::collections::HashSet<i64>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id FROM segments WHERE compact_level < ?1")
            .map_err(self.err())?;
        let ids = stmt
            .query_map([level], |r| r.get::<_, i64>(0))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(ids)
    }

    fn switch_object(
        &self,
        id: i64,
        old_path: &str,
        new_path: &str,
        bytes: u64,
        sha256: &str,
        level: i32,
    ) -> Result<bool, CatalogError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "UPDATE segments SET path = ?3, bytes = ?4, sha256 = ?5, compact_level = ?6
                 WHERE id = ?1 AND path = ?2",
                params![id, old_path, new_path, bytes as i64, sha256, level],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    fn sealed_through(&self) -> Result<Option<u64>, CatalogError> {
        let conn = self.conn();
        let v: Option<i64> = conn
            .query_row("SELECT MAX(seq_max) FROM segments", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?
            .flatten();
        let deleted = crate::retention::store::deleted_through(&conn).map_err(self.err())?;
        Ok(v.max(deleted).map(|v| v as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str, seq: (u64, u64), t: (i64, i64)) -> SegmentMeta {
        SegmentMeta {
            id: 0,
            path: path.into(),
            seq_min: seq.0,
            seq_max: seq.1,
            time_min_ns: t.0,
            time_max_ns: t.1,
            rows: seq.1 - seq.0 + 1,
            bytes: 10,
            raw_bytes: 100,
            sha256: "00".into(),
            sources: BTreeMap::from([("h".to_string(), 3)]),
            created_at_ns: 0,
        }
    }

    #[test]
    fn prunes_by_time_and_tracks_the_sealed_mark() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(&dir.path().join("c.db")).unwrap();
        assert_eq!(c.sealed_through().unwrap(), None);
        c.insert(&seg("a", (0, 9), (100, 200))).unwrap();
        c.insert(&seg("b", (10, 19), (300, 400))).unwrap();
        assert_eq!(c.sealed_through().unwrap(), Some(19));
        let got: Vec<_> = c
            .segments(Some(250), None)
            .unwrap()
            .into_iter()
            .map(|s| s.path)
            .collect();
        assert_eq!(got, vec!["b"]);
        let got = c.segments(Some(200), Some(300)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].sources["h"], 3);
        assert!(
            c.insert(&seg("a", (20, 29), (500, 600))).is_err(),
            "paths are unique"
        );
    }
}
