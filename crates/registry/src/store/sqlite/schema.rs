//! The subscriber register's SQLite database (`registry.db` by default): its schema, as the steps that build it, oldest first.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{Schema, Step};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "registry.db",
    steps: &[V1, V2_OUTBOX],
};

/// Version 1: the schema from before versions were kept, as it was (a file
/// made then is at version 0 with these tables; `IF NOT EXISTS` keeps them).
const V1: Step = Step::Sql(
    r#"
CREATE TABLE IF NOT EXISTS subscribers (
    external_id   TEXT PRIMARY KEY,
    periods       TEXT NOT NULL,
    last_end_ns   INTEGER,
    missing       TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BLOB NOT NULL,
    sealed        BLOB NOT NULL,
    created_at_ns INTEGER NOT NULL,
    updated_at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS subscribers_last_end ON subscribers(last_end_ns);
CREATE TABLE IF NOT EXISTS holds (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id  TEXT NOT NULL,
    reason         TEXT NOT NULL,
    order_ref      TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ns  INTEGER NOT NULL,
    released_at_ns INTEGER,
    released_by    TEXT,
    release_reason TEXT
);
CREATE INDEX IF NOT EXISTS holds_subscriber ON holds(subscriber_id);
CREATE TABLE IF NOT EXISTS erasures (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id   TEXT NOT NULL,
    erased_at_ns    INTEGER NOT NULL,
    last_end_ns     INTEGER NOT NULL,
    retain_until_ns INTEGER NOT NULL,
    key_id          TEXT NOT NULL,
    fields          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    ledger_seq      INTEGER
);
"#,
);

/// Version 2: the shared outbox to the ledger (`pramaan_db::outbox`): a
/// change and its ledger record commit together.
const V2_OUTBOX: Step = Step::Code(|tx| pramaan_db::outbox::create_table(tx));
