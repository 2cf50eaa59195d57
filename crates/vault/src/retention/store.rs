//! Retention's tables, in the catalog's SQLite database (created with the
//! catalog's, in [`crate::catalog::schema`]):
//!
//! * `holds`: legal holds. Releasing one keeps the row (`released_at_ns`,
//!   `released_by`, `release_reason`).
//! * `deletions`: the catalog rows of deleted segments, moved out of
//!   `segments` in the same transaction that removes them there, with the
//!   policy, cutoff and run that deleted them. `object_deleted_at_ns` stays
//!   NULL until the object is known to be gone.
//! * `retention_runs`: one row per (non-dry) run.
//! * `outbox`: internal records (deletions, holds added and released) to
//!   append to the vault exactly once: the shared outbox of every component
//!   (`pramaan_db::outbox`). A row is written in the same transaction as the
//!   change it records, with the vault's committed count at that moment
//!   (`watermark`); `seq` is filled once the record is in the vault. After a
//!   crash, a row without `seq` is looked for among the records from
//!   `watermark` on before it is appended again.

use crate::catalog::error::CatalogError;
use crate::catalog::sqlite::SqliteCatalog;
use crate::SegmentMeta;
use pramaan_db::outbox;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Highest sequence number of a deleted segment (a catalog opened read-only
/// may predate the table).
pub(crate) fn deleted_through(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    if !has_table(conn, "deletions")? {
        return Ok(None);
    }
    conn.query_row("SELECT MAX(seq_max) FROM deletions", [], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// A legal hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: i64,
    /// received_at range held, inclusive at both ends.
    pub from_ns: i64,
    pub to_ns: i64,
    /// A source name or pattern; `None` = every source.
    pub source: Option<String>,
    /// An IP address (canonical text); `None` = any.
    pub ip: Option<String>,
    pub reason: String,
    /// The order (court, CERT-In direction, internal case) behind the hold.
    pub order_ref: String,
    pub created_by: String,
    pub created_at_ns: i64,
    pub released_at_ns: Option<i64>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
}

impl Hold {
    pub fn active(&self) -> bool {
        self.released_at_ns.is_none()
    }
}

/// A hold to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHold {
    pub from_ns: i64,
    pub to_ns: i64,
    pub source: Option<String>,
    pub ip: Option<String>,
    pub reason: String,
    pub order_ref: String,
    pub created_by: String,
}

/// A deleted segment's catalog row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deletion {
    pub id: i64,
    pub segment: SegmentMeta,
    /// `default:180d`, `firewalls:365d`.
    pub policy: String,
    pub cutoff_ns: i64,
    pub run: i64,
    /// When the row left `segments`.
    pub deleted_at_ns: i64,
    /// When the object was known to be gone; `None` while it may remain.
    pub object_deleted_at_ns: Option<i64>,
}

/// A retention run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: i64,
    /// The time the run decided with (injected in tests).
    pub now_ns: i64,
    pub started_at_ns: i64,
    pub finished_at_ns: Option<i64>,
    pub deleted: u64,
    pub held: u64,
    pub error: Option<String>,
}

/// An internal record waiting to be appended to the vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub peer: String,
    pub body: String,
    pub watermark: u64,
    pub seq: Option<u64>,
}

/// An internal record to append, written with the change it records.
#[derive(Clone, Debug)]
pub struct OutboxEntry {
    pub peer: String,
    /// One JSON object; must be unique (it names the hold, or the run and segment).
    pub body: String,
    /// The vault's committed count before the change.
    pub watermark: u64,
}

/// What [`RetentionCatalog::retire_segment`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retired {
    /// Moved to `deletions` (this id), with its outbox row.
    Moved(i64),
    /// Left alone: these active holds touch it (added since the decision).
    Held(Vec<i64>),
    /// No such segment in the catalog (already retired).
    Gone,
}

/// What [`RetentionCatalog::release_hold`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    Released(Hold),
    AlreadyReleased(Hold),
    Unknown,
}

/// The deletion facts retention records with a retired segment.
#[derive(Clone, Debug)]
pub struct RetireInfo {
    pub policy: String,
    pub cutoff_ns: i64,
    pub run: i64,
    pub deleted_at_ns: i64,
}

/// Retention's part of the catalog.
pub trait RetentionCatalog {
    /// Every hold, released ones too, by id.
    fn holds(&self) -> Result<Vec<Hold>, CatalogError>;
    fn hold(&self, id: i64) -> Result<Option<Hold>, CatalogError>;
    /// Adds a hold and its `hold.added` outbox row (built by `body` from the
    /// new hold) in one transaction.
    fn add_hold(
        &self,
        h: &NewHold,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Hold, CatalogError>;
    /// Releases an active hold and writes its `hold.released` outbox row in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn release_hold(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Released, CatalogError>;
    /// In one transaction: unless `blocked` names an active hold touching the
    /// segment, moves its row from `segments` to `deletions` and writes the
    /// outbox row.
    fn retire_segment(
        &self,
        segment_id: i64,
        info: &RetireInfo,
        blocked: &dyn Fn(&[Hold]) -> Vec<i64>,
        record: &OutboxEntry,
    ) -> Result<Retired, CatalogError>;
    /// Deletions whose object may still exist.
    fn pending_object_deletions(&self) -> Result<Vec<Deletion>, CatalogError>;
    fn mark_object_deleted(&self, deletion_id: i64, at_ns: i64) -> Result<(), CatalogError>;
    /// Every deletion, oldest first.
    fn deletions(&self) -> Result<Vec<Deletion>, CatalogError>;
    /// How many segments were deleted, and how many of those objects may remain.
    fn deletion_counts(&self) -> Result<(usize, usize), CatalogError>;
    fn begin_run(&self, now_ns: i64, started_at_ns: i64) -> Result<i64, CatalogError>;
    fn finish_run(
        &self,
        id: i64,
        deleted: u64,
        held: u64,
        finished_at_ns: i64,
        error: Option<&str>,
    ) -> Result<(), CatalogError>;
    fn last_run(&self) -> Result<Option<RunRow>, CatalogError>;
    /// Outbox rows not yet in the vault, oldest first.
    fn outbox_pending(&self) -> Result<Vec<OutboxRow>, CatalogError>;
    /// Every outbox row, oldest first (tests and audits).
    fn outbox(&self) -> Result<Vec<OutboxRow>, CatalogError>;
    /// The catalog's outbox as the shared flusher reads and marks it
    /// (`pramaan_db::outbox::Rows`: the same contract on every backend).
    fn outbox_rows(&self) -> Box<dyn outbox::Rows + '_>;
}

const HOLD_COLS: &str = "id, from_ns, to_ns, source, ip, reason, order_ref, created_by, created_at_ns, released_at_ns, released_by, release_reason";

fn hold_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        id: r.get(0)?,
        from_ns: r.get(1)?,
        to_ns: r.get(2)?,
        source: r.get(3)?,
        ip: r.get(4)?,
        reason: r.get(5)?,
        order_ref: r.get(6)?,
        created_by: r.get(7)?,
        created_at_ns: r.get(8)?,
        released_at_ns: r.get(9)?,
        released_by: r.get(10)?,
        release_reason: r.get(11)?,
    })
}

fn holds_in(conn: &Connection, only_active: bool) -> rusqlite::Result<Vec<Hold>> {
    if !has_table(conn, "holds")? {
        return Ok(Vec::new());
    }
    let sql = if only_active {
        format!("SELECT {HOLD_COLS} FROM holds WHERE released_at_ns IS NULL ORDER BY id")
    } else {
        format!("SELECT {HOLD_COLS} FROM holds ORDER BY id")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], hold_row)?;
    rows.collect()
}

fn hold_in(conn: &Connection, id: i64) -> rusqlite::Result<Option<Hold>> {
    if !has_table(conn, "holds")? {
        return Ok(None);
    }
    conn.query_row(
        &format!("SELECT {HOLD_COLS} FROM holds WHERE id = ?1"),
        [id],
        hold_row,
    )
    .optional()
}

fn insert_outbox(
    tx: &Transaction<'_>,
    peer: &str,
    body: &str,
    watermark: u64,
) -> rusqlite::Result<()> {
    outbox::stage(tx, peer, body.as_bytes(), watermark).map(|_| ())
}

const DELETION_COLS: &str = "id, segment_id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns, policy, cutoff_ns, run, deleted_at_ns, object_deleted_at_ns";

fn deletions_where(conn: &Connection, filter: &str) -> rusqlite::Result<Vec<(Deletion, String)>> {
    if !has_table(conn, "deletions")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELETION_COLS} FROM deletions {filter} ORDER BY id"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            Deletion {
                id: r.get(0)?,
                segment: SegmentMeta {
                    id: r.get(1)?,
                    path: r.get(2)?,
                    seq_min: r.get::<_, i64>(3)? as u64,
                    seq_max: r.get::<_, i64>(4)? as u64,
                    time_min_ns: r.get(5)?,
                    time_max_ns: r.get(6)?,
                    rows: r.get::<_, i64>(7)? as u64,
                    bytes: r.get::<_, i64>(8)? as u64,
                    raw_bytes: r.get::<_, i64>(9)? as u64,
                    sha256: r.get(10)?,
                    sources: BTreeMap::new(),
                    created_at_ns: r.get(12)?,
                },
                policy: r.get(13)?,
                cutoff_ns: r.get(14)?,
                run: r.get(15)?,
                deleted_at_ns: r.get(16)?,
                object_deleted_at_ns: r.get(17)?,
            },
            r.get::<_, String>(11)?,
        ))
    })?;
    rows.collect()
}

impl SqliteCatalog {
    fn deletions_filtered(&self, filter: &str) -> Result<Vec<Deletion>, CatalogError> {
        let conn = self.conn();
        let rows = deletions_where(&conn, filter).map_err(self.err())?;
        rows.into_iter()
            .map(|(mut d, sources)| {
                d.segment.sources =
                    serde_json::from_str(&sources).map_err(|e| CatalogError::Malformed {
                        path: d.segment.path.clone(),
                        reason: format!("sources: {e}"),
                    })?;
                Ok(d)
            })
            .collect()
    }

    fn outbox_where(&self, filter: &str) -> Result<Vec<OutboxRow>, CatalogError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<OutboxRow>> {
            if !has_table(&conn, "outbox")? {
                return Ok(Vec::new());
            }
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT id, source, body, watermark, seq FROM outbox {filter} ORDER BY id"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    peer: r.get(1)?,
                    body: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(2)?).into_owned(),
                    watermark: r.get::<_, i64>(3)? as u64,
                    seq: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                })
            })?;
            rows.collect()
        };
        run().map_err(self.err())
    }
}

impl RetentionCatalog for SqliteCatalog {
    fn holds(&self) -> Result<Vec<Hold>, CatalogError> {
        holds_in(&self.conn(), false).map_err(self.err())
    }

    fn hold(&self, id: i64) -> Result<Option<Hold>, CatalogError> {
        hold_in(&self.conn(), id).map_err(self.err())
    }

    fn add_hold(
        &self,
        h: &NewHold,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Hold, CatalogError> {
        let mut conn = self.conn();
        let run = |conn: &mut Connection| -> rusqlite::Result<Hold> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO holds (from_ns, to_ns, source, ip, reason, order_ref, created_by, created_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![h.from_ns, h.to_ns, h.source, h.ip, h.reason, h.order_ref, h.created_by, now_ns],
            )?;
            let id = tx.last_insert_rowid();
            let hold = hold_in(&tx, id)?.expect("just inserted");
            insert_outbox(&tx, peer, &body(&hold), watermark)?;
            tx.commit()?;
            Ok(hold)
        };
        run(&mut conn).map_err(self.err())
    }

    #[allow(clippy::too_many_arguments)]
    fn release_hold(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Released, CatalogError> {
        let mut conn = self.conn();
        let run = |conn: &mut Connection| -> rusqlite::Result<Released> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(before) = hold_in(&tx, id)? else {
                return Ok(Released::Unknown);
            };
            if !before.active() {
                return Ok(Released::AlreadyReleased(before));
            }
            tx.execute(
                "UPDATE holds SET released_at_ns = ?2, released_by = ?3, release_reason = ?4 WHERE id = ?1",
                params![id, now_ns, by, reason],
            )?;
            let hold = hold_in(&tx, id)?.expect("exists");
            insert_outbox(&tx, peer, &body(&hold), watermark)?;
            tx.commit()?;
            Ok(Released::Released(hold))
        };
        run(&mut conn).map_err(self.err())
    }

    fn retire_segment(
        &self,
        segment_id: i64,
        info: &RetireInfo,
        blocked: &dyn Fn(&[Hold]) -> Vec<i64>,
        record: &OutboxEntry,
    ) -> Result<Retired, CatalogError> {
        let mut conn = self.conn();
        let run = |conn: &mut Connection| -> rusqlite::Result<Retired> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT COUNT(*) FROM segments WHERE id = ?1",
                [segment_id],
                |r| r.get::<_, i64>(0),
            )? > 0;
            if !exists {
                return Ok(Retired::Gone);
            }
            let by = blocked(&holds_in(&tx, true)?);
            if !by.is_empty() {
                return Ok(Retired::Held(by));
            }
            tx.execute(
                "INSERT INTO deletions (segment_id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes,
                                        sha256, sources, created_at_ns, policy, cutoff_ns, run, deleted_at_ns)
                 SELECT id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes,
                        sha256, sources, created_at_ns, ?2, ?3, ?4, ?5
                 FROM segments WHERE id = ?1",
                params![segment_id, info.policy, info.cutoff_ns, info.run, info.deleted_at_ns],
            )?;
            let deletion = tx.last_insert_rowid();
            tx.execute("DELETE FROM segments WHERE id = ?1", [segment_id])?;
            insert_outbox(&tx, &record.peer, &record.body, record.watermark)?;
            tx.commit()?;
            Ok(Retired::Moved(deletion))
        };
        run(&mut conn).map_err(self.err())
    }

    fn pending_object_deletions(&self) -> Result<Vec<Deletion>, CatalogError> {
        self.deletions_filtered("WHERE object_deleted_at_ns IS NULL")
    }

    fn mark_object_deleted(&self, deletion_id: i64, at_ns: i64) -> Result<(), CatalogError> {
        self.conn()
            .execute(
                "UPDATE deletions SET object_deleted_at_ns = ?2 WHERE id = ?1 AND object_deleted_at_ns IS NULL",
                params![deletion_id, at_ns],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn deletions(&self) -> Result<Vec<Deletion>, CatalogError> {
        self.deletions_filtered("")
    }

    fn deletion_counts(&self) -> Result<(usize, usize), CatalogError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<(usize, usize)> {
            if !has_table(&conn, "deletions")? {
                return Ok((0, 0));
            }
            conn.query_row(
                "SELECT COUNT(*), COUNT(*) - COUNT(object_deleted_at_ns) FROM deletions",
                [],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
            )
        };
        run().map_err(self.err())
    }

    fn begin_run(&self, now_ns: i64, started_at_ns: i64) -> Result<i64, CatalogError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO retention_runs (now_ns, started_at_ns) VALUES (?1, ?2)",
            params![now_ns, started_at_ns],
        )
        .map_err(self.err())?;
        Ok(conn.last_insert_rowid())
    }

    fn finish_run(
        &self,
        id: i64,
        deleted: u64,
        held: u64,
        finished_at_ns: i64,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.conn()
            .execute(
                "UPDATE retention_runs SET finished_at_ns = ?2, deleted = ?3, held = ?4, error = ?5 WHERE id = ?1",
                params![id, finished_at_ns, deleted as i64, held as i64, error],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn last_run(&self) -> Result<Option<RunRow>, CatalogError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Option<RunRow>> {
            if !has_table(&conn, "retention_runs")? {
                return Ok(None);
            }
            conn.query_row(
                "SELECT id, now_ns, started_at_ns, finished_at_ns, deleted, held, error FROM retention_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        now_ns: r.get(1)?,
                        started_at_ns: r.get(2)?,
                        finished_at_ns: r.get(3)?,
                        deleted: r.get::<_, i64>(4)? as u64,
                        held: r.get::<_, i64>(5)? as u64,
                        error: r.get(6)?,
                    })
                },
            )
            .optional()
        };
        run().map_err(self.err())
    }

    fn outbox_pending(&self) -> Result<Vec<OutboxRow>, CatalogError> {
        self.outbox_where("WHERE seq IS NULL")
    }

    fn outbox(&self) -> Result<Vec<OutboxRow>, CatalogError> {
        self.outbox_where("")
    }

    fn outbox_rows(&self) -> Box<dyn outbox::Rows + '_> {
        Box::new(outbox::SqliteRows {
            db: self.conn_mutex(),
            mark_back: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn seg(path: &str, seq: (u64, u64)) -> SegmentMeta {
        SegmentMeta {
            id: 0,
            path: path.into(),
            seq_min: seq.0,
            seq_max: seq.1,
            time_min_ns: 10,
            time_max_ns: 20,
            rows: seq.1 - seq.0 + 1,
            bytes: 10,
            raw_bytes: 100,
            sha256: "ab".into(),
            sources: BTreeMap::from([("h".to_string(), 3)]),
            created_at_ns: 5,
        }
    }

    #[test]
    fn retiring_moves_the_row_and_keeps_the_sealed_mark() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(&dir.path().join("c.db")).unwrap();
        let a = c.insert(&seg("a", (0, 9))).unwrap();
        let b = c.insert(&seg("b", (10, 19))).unwrap();
        let info = RetireInfo {
            policy: "default:180d".into(),
            cutoff_ns: 100,
            run: 1,
            deleted_at_ns: 200,
        };
        let rec = |body: &str| OutboxEntry {
            peer: "p".into(),
            body: body.into(),
            watermark: 20,
        };
        // A hold blocks it: nothing changes.
        assert_eq!(
            c.retire_segment(b, &info, &|_| vec![7], &rec("x")).unwrap(),
            Retired::Held(vec![7])
        );
        assert_eq!(c.segments(None, None).unwrap().len(), 2);
        assert!(c.outbox().unwrap().is_empty());

        let Retired::Moved(d) = c
            .retire_segment(b, &info, &|_| vec![], &rec("deleted b"))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            c.retire_segment(b, &info, &|_| vec![], &rec("again"))
                .unwrap(),
            Retired::Gone
        );
        assert_eq!(
            c.segments(None, None)
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>(),
            vec![a]
        );
        // Sequence numbers of deleted segments are never handed out again.
        assert_eq!(c.sealed_through().unwrap(), Some(19));
        let dels = c.deletions().unwrap();
        assert_eq!(dels.len(), 1);
        assert_eq!(dels[0].id, d);
        assert_eq!(dels[0].segment.path, "b");
        assert_eq!(dels[0].segment.id, b);
        assert_eq!(dels[0].segment.sources["h"], 3);
        assert_eq!(dels[0].policy, "default:180d");
        assert_eq!(c.pending_object_deletions().unwrap().len(), 1);
        assert_eq!(c.deletion_counts().unwrap(), (1, 1));
        c.mark_object_deleted(d, 300).unwrap();
        assert!(c.pending_object_deletions().unwrap().is_empty());
        assert_eq!(c.deletion_counts().unwrap(), (1, 0));
        let out = c.outbox_pending().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].body.as_str(), out[0].watermark), ("deleted b", 20));
        c.conn()
            .execute("UPDATE outbox SET seq = 42 WHERE id = ?1", [out[0].id])
            .unwrap();
        assert!(c.outbox_pending().unwrap().is_empty());
        assert_eq!(c.outbox().unwrap()[0].seq, Some(42));
    }

    #[test]
    fn holds_are_added_and_released_with_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(&dir.path().join("c.db")).unwrap();
        let new = NewHold {
            from_ns: 1,
            to_ns: 2,
            source: Some("fw-*".into()),
            ip: None,
            reason: "case".into(),
            order_ref: "W.P. 1/2026".into(),
            created_by: "me".into(),
        };
        let h = c
            .add_hold(&new, 50, "pramaan:holds", 3, &|h| format!("added {}", h.id))
            .unwrap();
        assert!(h.active());
        assert_eq!(h.created_at_ns, 50);
        assert_eq!(c.holds().unwrap(), vec![h.clone()]);
        let r = c
            .release_hold(h.id, "you", "done", 60, "pramaan:holds", 4, &|h| {
                format!("released {}", h.id)
            })
            .unwrap();
        let Released::Released(r) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (
                r.released_at_ns,
                r.released_by.as_deref(),
                r.release_reason.as_deref()
            ),
            (Some(60), Some("you"), Some("done"))
        );
        assert!(matches!(
            c.release_hold(h.id, "you", "again", 70, "p", 5, &|_| String::new())
                .unwrap(),
            Released::AlreadyReleased(_)
        ));
        assert_eq!(
            c.release_hold(99, "you", "x", 70, "p", 5, &|_| String::new())
                .unwrap(),
            Released::Unknown
        );
        let bodies: Vec<String> = c.outbox().unwrap().into_iter().map(|o| o.body).collect();
        assert_eq!(
            bodies,
            vec![format!("added {}", h.id), format!("released {}", h.id)]
        );
        assert_eq!(c.holds().unwrap().len(), 1, "a released hold keeps its row");
    }

    #[test]
    fn an_outbox_of_the_old_shape_moves_into_the_shared_table_with_its_marks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE outbox (id INTEGER PRIMARY KEY, peer TEXT NOT NULL, body TEXT NOT NULL,
                     watermark INTEGER NOT NULL, created_at_ns INTEGER NOT NULL, seq INTEGER);
                 INSERT INTO outbox VALUES (1, 'pramaan:holds', '{\"hold\":1}', 3, 10, 4);
                 INSERT INTO outbox VALUES (2, 'pramaan:retention', '{\"run\":2}', 5, 11, NULL);",
            )
            .unwrap();
        }
        let c = SqliteCatalog::open(&path).unwrap();
        let rows = c.outbox().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].peer.as_str(), rows[0].body.as_str(), rows[0].seq),
            ("pramaan:holds", "{\"hold\":1}", Some(4))
        );
        let pending = c.outbox_pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].watermark), (2, 5));
        assert_eq!(pending[0].body, "{\"run\":2}");
        // Reopening moves nothing again.
        drop(c);
        assert_eq!(
            SqliteCatalog::open(&path).unwrap().outbox().unwrap().len(),
            2
        );
    }
}
