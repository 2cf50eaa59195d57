//! The clock monitor's database (`clock.db`): its schema, as the steps that build it, oldest first.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{Schema, Step};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "clock.db",
    steps: &[V1, V2_OUTBOX],
};

/// Version 1: the schema from before versions were kept, as it was (a file
/// made then is at version 0 with these tables; `IF NOT EXISTS` keeps them).
const V1: Step = Step::Sql(
    r#"
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    round_id INTEGER NOT NULL,
    at_ns INTEGER NOT NULL,
    server TEXT NOT NULL,
    address TEXT,
    state TEXT NOT NULL,
    detail TEXT,
    offset_ns INTEGER,
    delay_ns INTEGER,
    stratum INTEGER,
    refid TEXT,
    leap TEXT,
    root_delay_ns INTEGER,
    root_dispersion_ns INTEGER,
    ledger_seq INTEGER
);
CREATE INDEX IF NOT EXISTS samples_server_at ON samples(server, at_ns);
CREATE INDEX IF NOT EXISTS samples_at ON samples(at_ns);
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY,
    at_ns INTEGER NOT NULL,
    host_state TEXT NOT NULL,
    host_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rounds_at ON rounds(at_ns);
CREATE TABLE IF NOT EXISTS skew (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    updated_ns INTEGER NOT NULL,
    last_seq INTEGER,
    sources_json TEXT NOT NULL
);
"#,
);

/// Version 2: the shared outbox to the ledger (`pramaan_db::outbox`): a
/// sample and its record are written in one transaction, then appended.
const V2_OUTBOX: Step = Step::Code(|tx| pramaan_db::outbox::create_table(tx));
