//! The users, tokens and sessions database (`auth.db`): its schema, as the steps that build it, oldest first.
//!
//! To change the schema, append a step (never edit one that shipped): a
//! file at version `n` runs steps `n + 1..`, see [`pramaan_db::schema`].

use pramaan_db::{Schema, Step};

/// Every step, oldest first; a file's `user_version` counts those applied.
pub const SCHEMA: Schema = Schema {
    database: "auth.db",
    steps: &[V1],
};

/// Version 1: the schema from before versions were kept, as it was (a file
/// made then is at version 0 with these tables; `IF NOT EXISTS` keeps them).
const V1: Step = Step::Sql(
    r#"
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    must_change INTEGER NOT NULL DEFAULT 0,
    created_at_ns INTEGER NOT NULL,
    changed_at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    expires_at_ns INTEGER,
    revoked_at_ns INTEGER,
    revoked_by TEXT
);
CREATE TABLE IF NOT EXISTS login_failures (
    user TEXT PRIMARY KEY,
    failures TEXT NOT NULL,
    locked_until_ns INTEGER,
    last_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    expires_at_ns INTEGER NOT NULL
);
"#,
);
