//! The outbox to the ledger: how a component records a change in the ledger
//! exactly once.
//!
//! A change and its ledger record are written together: inside the
//! component's own transaction, [`stage`] adds an `outbox` row holding the
//! record (source and body) and the ledger's committed count at that moment
//! (`watermark`). After the commit a [`Flusher`] takes the pending rows in id
//! order and, for each, either finds the record already in the ledger or
//! appends it, then marks the row with the record's sequence number (and,
//! where the component shows that number, its own row: the mark-back).
//!
//! What a crash leaves, and what the next flush does about it:
//!
//! | crash between | left behind | next flush |
//! |---|---|---|
//! | the change and its commit | nothing (one transaction) | nothing |
//! | the commit and the append | a pending row | appends it |
//! | the append and the mark | a pending row whose record is in the ledger | finds it from the watermark on (it cannot be earlier: it was appended after the row was staged), marks it |
//! | the mark and the mark-back | nothing: both are one transaction | nothing |
//!
//! Finding looks for a record of the same source with exactly the same body
//! whose sequence number no other outbox row of the same database claims, so
//! two identical bodies staged one after the other are still each appended
//! once. Bodies should name what they record (an event id, a time) anyway.
//! A failure (the ledger refused, a search failed) stops the flush there:
//! that row and the rest stay pending, in order, for the next flush.
//!
//! **Test hook.** `PRAMAAN_TEST_CRASH_AFTER_APPEND` (read once per process):
//! when it is `1`, or names the row's source (`pramaan:incident`), the flusher
//! calls `std::process::abort()` right after an append succeeded and before
//! the mark, as a `kill -9` there would. `crates/cli/tests/outbox_exactly_once.rs`
//! uses it; nothing else may set it.
//!
//! The table lives in each component's own database (SQLite); a component
//! whose rows are elsewhere (the registry on PostgreSQL) implements [`Rows`].

use pramaan_core::{LedgerSink, SinkError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// The outbox table (one per database). `ref_id` is the component's own row
/// the record is about, for the mark-back; `seq` stays NULL until the record
/// is in the ledger.
pub const DDL: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    body BLOB NOT NULL,
    watermark INTEGER NOT NULL,
    created_at_ns INTEGER NOT NULL,
    ref_id INTEGER,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE seq IS NULL;
CREATE INDEX IF NOT EXISTS outbox_ref ON outbox(source, ref_id);
";

/// The environment variable of the crash hook (see the module docs).
pub const CRASH_AFTER_APPEND: &str = "PRAMAAN_TEST_CRASH_AFTER_APPEND";

/// Creates the table where it is missing. Until the table is a schema step
/// of every database, each component's open calls this.
pub fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(DDL)
}

/// Adds the pending record `body` of `source` inside the caller's
/// transaction; `watermark` is the ledger's committed count before the
/// change (`LedgerSink::committed`). Returns the row's id.
pub fn stage(
    tx: &Transaction<'_>,
    source: &str,
    body: &[u8],
    watermark: u64,
) -> rusqlite::Result<i64> {
    insert(tx, source, body, watermark, None)
}

/// As [`stage`], for a record about the component's row `ref_id`, which the
/// flusher marks back with the record's sequence number.
pub fn stage_for(
    tx: &Transaction<'_>,
    source: &str,
    body: &[u8],
    watermark: u64,
    ref_id: i64,
) -> rusqlite::Result<i64> {
    insert(tx, source, body, watermark, Some(ref_id))
}

fn insert(
    conn: &Connection,
    source: &str,
    body: &[u8],
    watermark: u64,
    ref_id: Option<i64>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO outbox (source, body, watermark, created_at_ns, ref_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![source, body, watermark as i64, pramaan_core::time::now_ns(), ref_id],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Rows not yet in the ledger.
pub fn pending(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM outbox WHERE seq IS NULL", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

/// Every row of `source`, oldest first (tests and audits).
pub fn rows(conn: &Connection, source: &str) -> rusqlite::Result<Vec<Row>> {
    let mut st = conn.prepare(
        "SELECT id, source, body, watermark, ref_id, seq FROM outbox WHERE source = ?1 ORDER BY id",
    )?;
    let v = st
        .query_map([source], |r| {
            Ok(Row {
                pending: read_pending(r)?,
                seq: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
            })
        })?
        .collect();
    v
}

/// Deletes rows of `source` already in the ledger and staged before
/// `before_ns` (for components that prune their own rows, like the clock).
pub fn prune(conn: &Connection, source: &str, before_ns: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM outbox WHERE source = ?1 AND seq IS NOT NULL AND created_at_ns < ?2",
        params![source, before_ns],
    )
}

/// A row waiting for the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub source: String,
    pub body: Vec<u8>,
    pub watermark: u64,
    pub ref_id: Option<i64>,
}

/// A row, pending or marked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub pending: Pending,
    pub seq: Option<u64>,
}

fn read_pending(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    Ok(Pending {
        id: r.get(0)?,
        source: r.get(1)?,
        body: r.get(2)?,
        watermark: r.get::<_, i64>(3)?.max(0) as u64,
        ref_id: r.get(4)?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox table: {0}")]
    Db(#[from] rusqlite::Error),
    /// A store other than SQLite failed (its own message).
    #[error("outbox table: {0}")]
    Store(String),
    #[error("outbox row {id} ({of}) was not appended: {error}")]
    Ledger {
        id: i64,
        /// The record's source (`pramaan:incident`).
        of: String,
        error: SinkError,
    },
    /// Tests only: the flush stopped at this point of this row.
    #[error("stopped at {0:?} of outbox row {1} (fault injection)")]
    Injected(Point, i64),
}

/// What one flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Records appended now.
    pub appended: u64,
    /// Records an interrupted flush had appended, found and marked now.
    pub found: u64,
}

/// The future [`Rows`] methods return.
pub type RowsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, OutboxError>> + Send + 'a>>;

/// Where outbox rows are kept: the flusher's view of them.
pub trait Rows: Send + Sync {
    /// The first pending row whose id is above `after`.
    fn next_pending(&self, after: i64) -> RowsFuture<'_, Option<Pending>>;
    /// True when a row other than `row` is marked with `seq` for the same source.
    fn claimed<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, bool>;
    /// Marks `row` (and its component row) with `seq`, in one transaction.
    fn mark<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, ()>;
}

/// The outbox of an SQLite database a component keeps under a std
/// [`Mutex`]. Each call locks it only for its own statements, never across
/// an `.await`.
pub struct SqliteRows<'a> {
    pub db: &'a Mutex<Connection>,
    /// `UPDATE ... SET ledger_seq = ?1 WHERE id = ?2`: run with the sequence
    /// number and the row's `ref_id` when it has one.
    pub mark_back: Option<&'a str>,
}

impl SqliteRows<'_> {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, OutboxError> {
        let mut g = self.db.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&mut g)?)
    }
}

impl Rows for SqliteRows<'_> {
    fn next_pending(&self, after: i64) -> RowsFuture<'_, Option<Pending>> {
        let r = self.with(|c| next_pending_in(c, after));
        Box::pin(std::future::ready(r))
    }

    fn claimed<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, bool> {
        let r = self.with(|c| claimed_in(c, row, seq));
        Box::pin(std::future::ready(r))
    }

    fn mark<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, ()> {
        let r = self.with(|c| mark_in(c, row, seq, self.mark_back));
        Box::pin(std::future::ready(r))
    }
}

// The statements behind [`Rows`] for SQLite, for a component whose
// connection sits behind its own lock (the clock's `Mutex<Option<Store>>`).

/// [`Rows::next_pending`] on one connection.
pub fn next_pending_in(c: &Connection, after: i64) -> rusqlite::Result<Option<Pending>> {
    c.query_row(
        "SELECT id, source, body, watermark, ref_id FROM outbox WHERE seq IS NULL AND id > ?1 ORDER BY id LIMIT 1",
        [after],
        read_pending,
    )
    .optional()
}

/// [`Rows::claimed`] on one connection.
pub fn claimed_in(c: &Connection, row: &Pending, seq: u64) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT COUNT(*) FROM outbox WHERE source = ?1 AND seq = ?2 AND id <> ?3",
        params![row.source, seq as i64, row.id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// [`Rows::mark`] on one connection: the row, and with `mark_back` (run with
/// the sequence number and the row's `ref_id`) the component's row, in one
/// transaction.
pub fn mark_in(
    c: &mut Connection,
    row: &Pending,
    seq: u64,
    mark_back: Option<&str>,
) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    tx.execute(
        "UPDATE outbox SET seq = ?1 WHERE id = ?2 AND seq IS NULL",
        params![seq as i64, row.id],
    )?;
    if let (Some(sql), Some(r)) = (mark_back, row.ref_id) {
        tx.execute(sql, params![seq as i64, r])?;
    }
    tx.commit()
}

/// One component's flusher: one flush at a time (so records reach the
/// ledger in staging order), and a failure logged once until a flush
/// succeeds again, not at every retry.
pub struct Flusher {
    component: &'static str,
    turn: tokio::sync::Mutex<()>,
    failing: AtomicBool,
}

impl Flusher {
    /// `component` names it in logs and in the status (`desk`, `orders`, ...).
    pub fn new(component: &'static str) -> Flusher {
        Flusher {
            component,
            turn: tokio::sync::Mutex::new(()),
            failing: AtomicBool::new(false),
        }
    }

    pub fn component(&self) -> &'static str {
        self.component
    }

    /// Flushes an SQLite outbox (see [`SqliteRows`]).
    pub async fn flush_sqlite(
        &self,
        db: &Mutex<Connection>,
        mark_back: Option<&str>,
        sink: &dyn LedgerSink,
    ) -> Result<Flushed, OutboxError> {
        self.flush(&SqliteRows { db, mark_back }, sink).await
    }

    /// Appends every pending row, in id order, exactly once each.
    pub async fn flush(
        &self,
        rows: &dyn Rows,
        sink: &dyn LedgerSink,
    ) -> Result<Flushed, OutboxError> {
        self.flush_with(rows, sink, &|_, _| false).await
    }

    /// As [`Flusher::flush`], also stopping where `stop` says (a component's
    /// own fault injection, in tests; see [`flush_rows`]).
    pub async fn flush_with(
        &self,
        rows: &dyn Rows,
        sink: &dyn LedgerSink,
        stop: &(dyn Fn(Point, &Pending) -> bool + Sync),
    ) -> Result<Flushed, OutboxError> {
        let _turn = self.turn.lock().await;
        let stop =
            |p: Point, row: &Pending| (p == Point::Appended && crash_hook(row)) || stop(p, row);
        let res = flush_rows(rows, sink, &stop).await;
        match &res {
            Ok(f) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        component = self.component,
                        appended = f.appended,
                        "the outbox reaches the ledger again"
                    );
                }
                if f.found > 0 {
                    tracing::info!(component = self.component, found = f.found, "records an interrupted flush had appended were found in the ledger and marked, not appended again");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(component = self.component, error = %e, "the outbox could not reach the ledger; its rows stay pending and are retried (the status shows the backlog)");
                }
            }
        }
        res
    }
}

/// Where a flush may be stopped, for fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// A row's record was appended; the row is not marked yet.
    Appended,
    /// A row was marked.
    Marked,
}

/// The flush itself. `stop(point, row)` is asked after a row's append and
/// after its mark; `true` stops there, as a crash would (tests).
pub async fn flush_rows(
    rows: &dyn Rows,
    sink: &dyn LedgerSink,
    stop: &(dyn Fn(Point, &Pending) -> bool + Sync),
) -> Result<Flushed, OutboxError> {
    let mut done = Flushed::default();
    let mut after = i64::MIN;
    while let Some(row) = rows.next_pending(after).await? {
        let seq = match locate(rows, sink, &row).await? {
            Some(seq) => {
                done.found += 1;
                seq
            }
            None => {
                let seq = sink
                    .append(&row.source, row.body.clone())
                    .await
                    .map_err(|error| OutboxError::Ledger {
                        id: row.id,
                        of: row.source.clone(),
                        error,
                    })?;
                if stop(Point::Appended, &row) {
                    return Err(OutboxError::Injected(Point::Appended, row.id));
                }
                done.appended += 1;
                seq
            }
        };
        rows.mark(&row, seq).await?;
        if stop(Point::Marked, &row) {
            return Err(OutboxError::Injected(Point::Marked, row.id));
        }
        after = row.id;
    }
    Ok(done)
}

/// The sequence number of `row`'s record if an earlier flush appended it.
async fn locate(
    rows: &dyn Rows,
    sink: &dyn LedgerSink,
    row: &Pending,
) -> Result<Option<u64>, OutboxError> {
    // Nothing appended since the row was staged: no need to look.
    if sink.committed() <= row.watermark {
        return Ok(None);
    }
    let found = sink
        .find(&row.source, &row.body, row.watermark)
        .await
        .map_err(|error| OutboxError::Ledger {
            id: row.id,
            of: row.source.clone(),
            error,
        })?;
    for seq in found {
        if !rows.claimed(row, seq).await? {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// The test hook: aborts the process when the variable asks for it.
fn crash_hook(row: &Pending) -> bool {
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    let wanted = WANTED.get_or_init(|| {
        std::env::var(CRASH_AFTER_APPEND)
            .ok()
            .filter(|v| !v.is_empty())
    });
    if let Some(w) = wanted {
        if w == "1" || *w == row.source {
            eprintln!(
                "{CRASH_AFTER_APPEND}: aborting after appending outbox row {} ({}), before marking it",
                row.id, row.source
            );
            std::process::abort();
        }
    }
    false
}

#[cfg(test)]
mod tests;
