//! The incident desk's database (`desk.db`): its schema, as the steps that build it, oldest first.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{Schema, Step};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "desk.db",
    steps: &[V1, V2_OUTBOX, V3_DETECTIONS, V4_ALERTS],
};

/// Version 1: the schema from before versions were kept, as it was (a file
/// made then is at version 0 with these tables; `IF NOT EXISTS` keeps them).
const V1: Step = Step::Sql(V1_SQL);

/// The tables of version 1 (tests build an older binary's file from it).
pub(crate) const V1_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fields TEXT NOT NULL,
    detected_at_ns INTEGER NOT NULL,
    notified_at_ns INTEGER,
    clock_start_ns INTEGER NOT NULL,
    deadline_ns INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    first_reported_at_ns INTEGER,
    reports_sent INTEGER NOT NULL DEFAULT 0,
    closed_at_ns INTEGER,
    closed_by TEXT,
    close_reason TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER,
    at_ns INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    ledger_seq INTEGER
);
CREATE INDEX IF NOT EXISTS events_pending ON events(id) WHERE ledger_seq IS NULL;
CREATE TABLE IF NOT EXISTS poc (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    fields TEXT NOT NULL,
    set_at_ns INTEGER NOT NULL,
    set_by TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    number INTEGER NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    in_reply_to TEXT,
    to_addr TEXT NOT NULL,
    cc_addr TEXT NOT NULL,
    attempted_at_ns INTEGER NOT NULL,
    sent_at_ns INTEGER,
    smtp_reply TEXT,
    error TEXT,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS excerpts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    added_at_ns INTEGER NOT NULL,
    added_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS excerpt_lines (
    excerpt_id INTEGER NOT NULL REFERENCES excerpts(id),
    seq INTEGER NOT NULL,
    line BLOB NOT NULL,
    PRIMARY KEY (excerpt_id, seq)
);
CREATE TABLE IF NOT EXISTS reminders (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    name TEXT NOT NULL,
    decided_at_ns INTEGER NOT NULL,
    skipped INTEGER NOT NULL DEFAULT 0,
    email_done_at_ns INTEGER,
    email_error TEXT,
    webhook_done_at_ns INTEGER,
    webhook_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, name)
);
"#;

/// Version 2: the shared outbox to the ledger (`pramaan_db::outbox`); events
/// an older binary left pending move into it, so they are appended exactly once.
const V2_OUTBOX: Step = Step::Code(|tx| {
    pramaan_db::outbox::create_table(tx)?;
    crate::record::move_pending_events(tx)
});

/// Version 3: what the rules detected (`crate::detections`): each
/// detection, the runs of sequence numbers it matched, and how far the
/// detector has read, changed in one transaction with the incident.
const V3_DETECTIONS: Step = Step::Sql(
    r#"
CREATE TABLE detections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_key TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level TEXT NOT NULL,
    grp TEXT NOT NULL DEFAULT '',
    matches INTEGER NOT NULL,
    seq_min INTEGER NOT NULL,
    seq_max INTEGER NOT NULL,
    first_received_ns INTEGER NOT NULL,
    last_received_ns INTEGER NOT NULL,
    detected_at_ns INTEGER NOT NULL,
    incident_id INTEGER REFERENCES incidents(id)
);
CREATE INDEX detections_rule ON detections(rule_key, last_received_ns);
CREATE TABLE detection_runs (
    detection_id INTEGER NOT NULL REFERENCES detections(id),
    seq_from INTEGER NOT NULL,
    seq_to INTEGER NOT NULL,
    PRIMARY KEY (detection_id, seq_from)
);
CREATE TABLE detect_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    received_ns INTEGER NOT NULL
);
"#,
);

/// Version 4: compliance alerts (`crate::alerts`), one row per alert key.
const V4_ALERTS: Step = Step::Sql(
    r#"
CREATE TABLE alerts (
    key TEXT PRIMARY KEY,
    alertname TEXT NOT NULL,
    labels TEXT NOT NULL,
    summary TEXT NOT NULL,
    state TEXT NOT NULL,
    since_ns INTEGER NOT NULL,
    resolved_at_ns INTEGER,
    last_sent_ns INTEGER,
    sends INTEGER NOT NULL DEFAULT 0,
    resolved_sent INTEGER NOT NULL DEFAULT 0,
    acked_by TEXT,
    acked_at_ns INTEGER
);
"#,
);
