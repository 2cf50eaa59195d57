//! The register in an SQLite file (default `<data_dir>/registry.db`).
//! `secure_delete` is on, so deleted rows are overwritten with zeros in the
//! database file, and [`Store::scrub`] checkpoints and truncates the WAL, so
//! after an erasure no byte of the erased row is left in either file.

mod schema;

use super::*;
use pramaan_db::outbox;
use rusqlite::{params, Connection, OptionalExtension};
pub use schema::SCHEMA;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

const ROW_COLS: &str =
    "external_id, periods, last_end_ns, missing, key_id, wrapped_key, sealed, created_at_ns, updated_at_ns";

impl SqliteStore {
    /// Opens (creating) the database file, readable by its owner only.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = pramaan_db::open_private(path, &schema::SCHEMA)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(|source| StoreError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// Runs `f` on the connection on a blocking thread.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let conn = self.conn.clone();
        let path = self.path.display().to_string();
        Box::pin(async move {
            let r = tokio::task::spawn_blocking(move || {
                let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut c)
            })
            .await
            .map_err(|e| StoreError::Other(format!("SQLite task: {e}")))?;
            r.map_err(|source| StoreError::Sqlite { path, source })
        })
    }

    /// A read by key (a lookup's holders) on the calling thread when the
    /// connection is free: it takes microseconds, less than handing it to
    /// a blocking thread and back (as the auth store's token check runs).
    /// When the connection is busy (an import's transaction), on a blocking
    /// thread as [`Self::with_store`], so that no async thread waits for it.
    /// Readers never wait on SQLite's own locks here: the file is in WAL
    /// mode and no other process opens it while `serve` holds the directory.
    fn read_now<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        match self.conn.try_lock() {
            Ok(mut c) => {
                let r = f(&mut c);
                Box::pin(async move { r })
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let r = f(&mut p.into_inner());
                Box::pin(async move { r })
            }
            Err(std::sync::TryLockError::WouldBlock) => self.with_store(f),
        }
    }

    /// Like [`Self::with`] for closures that can fail in their own way.
    fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut c)
            })
            .await
            .map_err(|e| StoreError::Other(format!("SQLite task: {e}")))?
        })
    }
}

fn sq(path: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

type RawRow = (
    String,
    String,
    Option<i64>,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
);

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn to_row(r: RawRow) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        external_id: r.0,
        periods: periods_from(&r.1)?,
        last_end_ns: r.2,
        missing: list_from(&r.3)?,
        key_id: r.4,
        wrapped_key: r.5,
        sealed: r.6,
        created_at_ns: r.7,
        updated_at_ns: r.8,
    })
}

fn hold_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        id: r.get(0)?,
        subscriber_id: r.get(1)?,
        reason: r.get(2)?,
        order_ref: r.get(3)?,
        created_by: r.get(4)?,
        created_at_ns: r.get(5)?,
        released_at_ns: r.get(6)?,
        released_by: r.get(7)?,
        release_reason: r.get(8)?,
    })
}

const HOLD_COLS: &str = "id, subscriber_id, reason, order_ref, created_by, created_at_ns, released_at_ns, released_by, release_reason";

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn get(&self, external_id: &str) -> StoreFuture<'_, Option<StoredRow>> {
        let id = external_id.to_owned();
        let path = self.path.display().to_string();
        self.read_now(move |c| {
            let r = c
                .prepare_cached(&format!(
                    "SELECT {ROW_COLS} FROM subscribers WHERE external_id = ?1"
                ))
                .and_then(|mut st| st.query_row([&id], raw_row).optional())
                .map_err(sq(&path))?;
            r.map(to_row).transpose()
        })
    }

    fn get_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<StoredRow>> {
        let path = self.path.display().to_string();
        self.read_now(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {ROW_COLS} FROM subscribers WHERE external_id = ?1"
                ))
                .map_err(sq(&path))?;
            let mut out = Vec::new();
            for id in &ids {
                if let Some(r) = st.query_row([id], raw_row).optional().map_err(sq(&path))? {
                    out.push(to_row(r)?);
                }
            }
            Ok(out)
        })
    }

    fn put_many(&self, rows: Vec<StoredRow>, record: Option<Staged>) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            if let Some(r) = &record {
                outbox::stage(&tx, &r.source, &r.body, r.watermark)?;
            }
            {
                let mut st = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO subscribers ({ROW_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ))?;
                for r in &rows {
                    st.execute(params![
                        r.external_id,
                        periods_json(&r.periods),
                        r.last_end_ns,
                        list_json(&r.missing),
                        r.key_id,
                        r.wrapped_key,
                        r.sealed,
                        r.created_at_ns,
                        r.updated_at_ns
                    ])?;
                }
            }
            tx.commit()
        })
    }

    fn list_meta(&self) -> StoreFuture<'_, Vec<RowMeta>> {
        let path = self.path.display().to_string();
        self.with_store(move |c| {
            let mut st = c
                .prepare(
                    "SELECT external_id, last_end_ns, missing, key_id FROM subscribers ORDER BY external_id",
                )
                .map_err(sq(&path))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(sq(&path))?;
            let mut out = Vec::new();
            for r in rows {
                let (external_id, last_end_ns, missing, key_id) = r.map_err(sq(&path))?;
                out.push(RowMeta {
                    external_id,
                    last_end_ns,
                    missing: list_from(&missing)?,
                    key_id,
                });
            }
            Ok(out)
        })
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM subscribers", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        })
    }

    fn wrapped_keys(&self) -> StoreFuture<'_, Vec<(String, String, Vec<u8>)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT external_id, key_id, wrapped_key FROM subscribers")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    fn rewrap(&self, rows: Vec<(String, String, Vec<u8>)>) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE subscribers SET key_id = ?2, wrapped_key = ?3 WHERE external_id = ?1",
                )?;
                for (id, kid, w) in &rows {
                    st.execute(params![id, kid, w])?;
                }
            }
            tx.commit()
        })
    }

    fn erase(&self, report: ErasureReport) -> StoreFuture<'_, EraseOutcome> {
        let path = self.path.display().to_string();
        self.with_store(move |c| {
            let e = sq(&path);
            let tx = c.transaction().map_err(&e)?;
            let held: Vec<i64> = {
                let mut st = tx
                    .prepare(
                        "SELECT id FROM holds WHERE subscriber_id = ?1 AND released_at_ns IS NULL",
                    )
                    .map_err(&e)?;
                let ids = st
                    .query_map([&report.subscriber_id], |r| r.get(0))
                    .map_err(&e)?
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(&e)?;
                ids
            };
            if !held.is_empty() {
                return Ok(EraseOutcome::Held(held));
            }
            let n = tx
                .execute(
                    "DELETE FROM subscribers WHERE external_id = ?1",
                    [&report.subscriber_id],
                )
                .map_err(&e)?;
            if n == 0 {
                return Ok(EraseOutcome::Gone);
            }
            tx.execute(
                "INSERT INTO erasures (subscriber_id, erased_at_ns, last_end_ns, retain_until_ns, key_id, fields, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    report.subscriber_id,
                    report.erased_at_ns,
                    report.last_end_ns,
                    report.retain_until_ns,
                    report.key_id,
                    list_json(&report.fields),
                    report.reason
                ],
            )
            .map_err(&e)?;
            let id = tx.last_insert_rowid();
            tx.commit().map_err(&e)?;
            Ok(EraseOutcome::Erased(ErasureReport { id, ..report }))
        })
    }

    fn erasure_reports(&self) -> StoreFuture<'_, Vec<ErasureReport>> {
        let path = self.path.display().to_string();
        self.with_store(move |c| {
            let mut st = c
                .prepare(
                    "SELECT id, subscriber_id, erased_at_ns, last_end_ns, retain_until_ns, key_id, fields, reason, ledger_seq
                     FROM erasures ORDER BY id",
                )
                .map_err(sq(&path))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<i64>>(8)?,
                    ))
                })
                .map_err(sq(&path))?;
            let mut out = Vec::new();
            for r in rows {
                let r = r.map_err(sq(&path))?;
                out.push(ErasureReport {
                    id: r.0,
                    subscriber_id: r.1,
                    erased_at_ns: r.2,
                    last_end_ns: r.3,
                    retain_until_ns: r.4,
                    key_id: r.5,
                    fields: list_from(&r.6)?,
                    reason: r.7,
                    ledger_seq: r.8.map(|s| s as u64),
                });
            }
            Ok(out)
        })
    }

    fn mark_reported(&self, report_id: i64, seq: u64) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            c.execute(
                "UPDATE erasures SET ledger_seq = ?2 WHERE id = ?1",
                params![report_id, seq as i64],
            )
            .map(|_| ())
        })
    }

    fn add_hold(&self, hold: Hold, record: Staged) -> StoreFuture<'_, Hold> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO holds (subscriber_id, reason, order_ref, created_by, created_at_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hold.subscriber_id, hold.reason, hold.order_ref, hold.created_by, hold.created_at_ns],
            )?;
            let id = tx.last_insert_rowid();
            outbox::stage(&tx, &record.source, &record.body, record.watermark)?;
            tx.commit()?;
            Ok(Hold { id, ..hold })
        })
    }

    fn release_hold(
        &self,
        id: i64,
        by: String,
        reason: String,
        at_ns: i64,
        record: Staged,
    ) -> StoreFuture<'_, Hold> {
        let path = self.path.display().to_string();
        self.with_store(move |c| {
            let e = sq(&path);
            let tx = c.transaction().map_err(&e)?;
            let h = tx
                .query_row(
                    &format!("SELECT {HOLD_COLS} FROM holds WHERE id = ?1"),
                    [id],
                    hold_row,
                )
                .optional()
                .map_err(&e)?
                .ok_or(StoreError::UnknownHold(id))?;
            if !h.active() {
                return Err(StoreError::AlreadyReleased(id));
            }
            tx.execute(
                "UPDATE holds SET released_at_ns = ?2, released_by = ?3, release_reason = ?4 WHERE id = ?1",
                params![id, at_ns, by, reason],
            )
            .map_err(&e)?;
            outbox::stage(&tx, &record.source, &record.body, record.watermark).map_err(&e)?;
            tx.commit().map_err(&e)?;
            Ok(Hold {
                released_at_ns: Some(at_ns),
                released_by: Some(by),
                release_reason: Some(reason),
                ..h
            })
        })
    }

    fn holds(&self) -> StoreFuture<'_, Vec<Hold>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {HOLD_COLS} FROM holds ORDER BY id"))?;
            let rows = st.query_map([], hold_row)?;
            rows.collect()
        })
    }

    fn outbox_next(&self, after: i64) -> StoreFuture<'_, Option<Pending>> {
        self.with(move |c| outbox::next_pending_in(c, after))
    }

    fn outbox_claimed(&self, row: Pending, seq: u64) -> StoreFuture<'_, bool> {
        self.with(move |c| outbox::claimed_in(c, &row, seq))
    }

    fn outbox_mark(&self, row: Pending, seq: u64) -> StoreFuture<'_, ()> {
        self.with(move |c| outbox::mark_in(c, &row, seq, None))
    }

    fn outbox_pending(&self) -> StoreFuture<'_, u64> {
        self.with(|c| outbox::pending(c))
    }

    fn scrub(&self) -> StoreFuture<'_, ()> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}
