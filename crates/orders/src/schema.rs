//! The orders register's database (`orders.db`): its schema, as the steps that build it, oldest first.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{Schema, Step};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "orders.db",
    steps: &[V1, V2_OUTBOX],
};

/// Version 1: the schema from before versions were kept, as it was (a file
/// made then is at version 0 with these tables; `IF NOT EXISTS` keeps them).
const V1: Step = Step::Sql(
    r#"
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    authority TEXT NOT NULL,
    received_at_ns INTEGER NOT NULL,
    due_at_ns INTEGER NOT NULL,
    scope TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    registered_at_ns INTEGER NOT NULL,
    approved_by TEXT, approved_at_ns INTEGER,
    exported_by TEXT, exported_at_ns INTEGER,
    delivered_by TEXT, delivered_at_ns INTEGER,
    closed_by TEXT, closed_at_ns INTEGER,
    holds TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    at_ns INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    ledger_seq INTEGER
);
"#,
);

/// Version 2: the shared outbox to the ledger (`pramaan_db::outbox`); events
/// an older binary left pending move into it, so they are appended exactly once.
const V2_OUTBOX: Step = Step::Code(|tx| {
    pramaan_db::outbox::create_table(tx)?;
    crate::record::move_pending_events(tx)
});
