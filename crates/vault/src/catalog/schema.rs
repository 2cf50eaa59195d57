//! The catalog database (`catalog.db`): every table in it, as the steps
//! that build them, oldest first. The segments are the catalog's own;
//! retention's tables (`holds`, `deletions`, `retention_runs`, `outbox`; see
//! `retention::store`) and the ledger's history (`ledger_checkpoints`,
//! `ledger_rebuilds`; see `ledger::history`) live in the same file so that
//! a deletion and its catalog change are one transaction, and are created
//! here with the rest, in one place.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{has_column, outbox, Schema, Step};
use rusqlite::{Connection, Transaction};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "catalog.db",
    steps: &[V1, V2_COMPACT_LEVEL, V3_OUTBOX],
};

/// Version 1: the tables from before versions were kept, as they were (a
/// file made then is at version 0 with these tables; `IF NOT EXISTS` keeps
/// them).
const V1: Step = Step::Sql(
    r#"
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    seq_min INTEGER NOT NULL,
    seq_max INTEGER NOT NULL,
    time_min_ns INTEGER NOT NULL,
    time_max_ns INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_time ON segments(time_min_ns, time_max_ns);
CREATE INDEX IF NOT EXISTS segments_seq ON segments(seq_min);
CREATE TABLE IF NOT EXISTS holds (
    id INTEGER PRIMARY KEY,
    from_ns INTEGER NOT NULL,
    to_ns INTEGER NOT NULL,
    source TEXT,
    ip TEXT,
    reason TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    released_at_ns INTEGER,
    released_by TEXT,
    release_reason TEXT
);
CREATE TABLE IF NOT EXISTS deletions (
    id INTEGER PRIMARY KEY,
    segment_id INTEGER NOT NULL UNIQUE,
    path TEXT NOT NULL UNIQUE,
    seq_min INTEGER NOT NULL,
    seq_max INTEGER NOT NULL,
    time_min_ns INTEGER NOT NULL,
    time_max_ns INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    policy TEXT NOT NULL,
    cutoff_ns INTEGER NOT NULL,
    run INTEGER NOT NULL,
    deleted_at_ns INTEGER NOT NULL,
    object_deleted_at_ns INTEGER
);
CREATE TABLE IF NOT EXISTS retention_runs (
    id INTEGER PRIMARY KEY,
    now_ns INTEGER NOT NULL,
    started_at_ns INTEGER NOT NULL,
    finished_at_ns INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    peer TEXT NOT NULL,
    body TEXT NOT NULL,
    watermark INTEGER NOT NULL,
    created_at_ns INTEGER NOT NULL,
    seq INTEGER
);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL,
    published_at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_rebuilds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ns INTEGER NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL,
    records INTEGER NOT NULL,
    seq INTEGER
);
"#,
);

/// Version 2: the zstd level compaction rewrote a segment at. Catalogs made
/// before compaction lack the column and get it here; those made after it
/// but before versions already have it (it used to be added at every open
/// when missing), so it is added only where missing.
const V2_COMPACT_LEVEL: Step = Step::Code(|tx| {
    if !has_column(tx, "segments", "compact_level")? {
        tx.execute_batch(
            "ALTER TABLE segments ADD COLUMN compact_level INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
});

/// Version 3: the shared outbox to the ledger (`pramaan_db::outbox`);
/// retention's own outbox (rows, marks and watermarks) moves into it.
const V3_OUTBOX: Step = Step::Code(|tx| {
    move_outbox(tx)?;
    pramaan_db::outbox::create_table(tx)
});

/// The one-off move of retention's own outbox (`peer`, `body TEXT`, before
/// the shared outbox) into the shared table, keeping ids, watermarks and
/// marks, so rows a crash left pending are still appended exactly once. Does
/// nothing when there is no such table. For a schema step of `catalog.db`.
pub fn move_outbox(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    if !has_table_named(tx, "outbox")? || !pramaan_db::schema::has_column(tx, "outbox", "peer")? {
        return Ok(());
    }
    tx.execute_batch(&format!(
        "ALTER TABLE outbox RENAME TO retention_outbox_old;
         {}
         INSERT INTO outbox (id, source, body, watermark, created_at_ns, seq)
             SELECT id, peer, CAST(body AS BLOB), watermark, created_at_ns, seq
             FROM retention_outbox_old ORDER BY id;
         DROP TABLE retention_outbox_old;",
        outbox::DDL
    ))
}

fn has_table_named(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
