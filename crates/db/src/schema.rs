//! Schema versions and forward migrations.
//!
//! A database's version is SQLite's `PRAGMA user_version`: the number of
//! [`Schema::steps`] applied to it. Step `n` (counting from 1) takes a file
//! at version `n - 1` to version `n`, inside one transaction with the
//! version update, so a crash leaves either version, never half a step.
//!
//! Step 1 of every database is the schema pramaan created before versions
//! were kept, written with `IF NOT EXISTS`: a file made then is at version 0
//! with its tables present, and step 1 leaves them as they are.
//!
//! A file at a version above the binary's last step was written by a newer
//! pramaan: it is refused (never "migrated" down or opened anyway), and the
//! message names the database and both versions.

use rusqlite::{Connection, TransactionBehavior};

/// A database's migrations, oldest first. Steps are only ever appended.
#[derive(Debug)]
pub struct Schema {
    /// The file's name as people know it (`desk.db`), for messages.
    pub database: &'static str,
    /// Step `i` (0-based) takes version `i` to `i + 1`.
    pub steps: &'static [Step],
}

/// One migration step.
#[derive(Debug)]
pub enum Step {
    /// An SQL batch.
    Sql(&'static str),
    /// Code, for what SQL alone cannot say (add a column only where a file
    /// from before versions lacks it, move rows whose shape changed).
    Code(fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>),
}

impl Step {
    fn apply(&self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        match self {
            Step::Sql(sql) => tx.execute_batch(sql),
            Step::Code(f) => f(tx),
        }
    }
}

/// True when `table` has a column named `column` (for [`Step::Code`] steps).
pub fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

impl Schema {
    /// The version this binary writes.
    pub fn latest(&self) -> u32 {
        self.steps.len() as u32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "{database} has schema version {found}, newer than this pramaan knows ({known}): \
         it was written by a newer release; run that release (or newer), never an older one, on this data directory"
    )]
    Newer {
        database: &'static str,
        found: u32,
        known: u32,
    },
    #[error(
        "{database} has schema version {found}, older than this pramaan's {known}, and is opened read-only: \
         start `pramaan serve` (or any command that changes it) once to migrate it"
    )]
    Older {
        database: &'static str,
        found: u32,
        known: u32,
    },
    #[error("{database}: migrating from schema version {from} to {to}: {source}")]
    Step {
        database: &'static str,
        from: u32,
        to: u32,
        source: rusqlite::Error,
    },
    #[error("{database}: reading the schema version: {source}")]
    Read {
        database: &'static str,
        source: rusqlite::Error,
    },
}

/// The file's schema version.
pub fn version(conn: &Connection, schema: &Schema) -> Result<u32, SchemaError> {
    conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map(|v| v.max(0) as u32)
        .map_err(|source| SchemaError::Read {
            database: schema.database,
            source,
        })
}

/// Brings the file up to `schema.latest()`; returns the version it was at.
pub fn migrate(conn: &mut Connection, schema: &Schema) -> Result<u32, SchemaError> {
    let start = version(conn, schema)?;
    if start > schema.latest() {
        return Err(SchemaError::Newer {
            database: schema.database,
            found: start,
            known: schema.latest(),
        });
    }
    for (i, s) in schema.steps.iter().enumerate().skip(start as usize) {
        let (from, to) = (i as u32, i as u32 + 1);
        let step = |source| SchemaError::Step {
            database: schema.database,
            from,
            to,
            source,
        };
        // IMMEDIATE: two processes opening an old file at once take turns;
        // the second finds the version already raised and skips the step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(step)?;
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(step)?;
        if now as u32 == from {
            s.apply(&tx).map_err(step)?;
            tx.pragma_update(None, "user_version", to as i64)
                .map_err(step)?;
        }
        tx.commit().map_err(step)?;
    }
    Ok(start)
}

/// For read-only opens: the file must be at exactly the binary's version,
/// or at version 0 with every table and column of the latest schema.
///
/// Why version 0 is let through: files written before versions were kept
/// are all at 0, and the first read-only command after an upgrade (`pramaan
/// verify`, a search, `clock status`) would otherwise be refused until
/// `serve` ran once. Such a file reads exactly as a migrated one does when
/// nothing it lacks is something a reader looks at: every step so far only
/// adds tables and columns, so "every table and column present" is the
/// test. A file at 1 or more was written by a versioned pramaan, whose later
/// steps may have changed data as well as shape, so it must migrate.
pub fn check(conn: &Connection, schema: &Schema) -> Result<(), SchemaError> {
    let found = version(conn, schema)?;
    let known = schema.latest();
    match found.cmp(&known) {
        std::cmp::Ordering::Greater => Err(SchemaError::Newer {
            database: schema.database,
            found,
            known,
        }),
        std::cmp::Ordering::Less if found == 0 && has_latest_shape(conn, schema)? => Ok(()),
        std::cmp::Ordering::Less => Err(SchemaError::Older {
            database: schema.database,
            found,
            known,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Every table (and column) of `schema`, built from nothing in memory.
fn latest_shape(schema: &Schema) -> Result<Vec<(String, String)>, SchemaError> {
    let read = |source| SchemaError::Read {
        database: schema.database,
        source,
    };
    let mut mem = Connection::open_in_memory().map_err(read)?;
    migrate(&mut mem, schema)?;
    shape(&mem).map_err(read)
}

/// (table, column) pairs of the file's own tables.
fn shape(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// True when the file has every table and column the latest schema has.
fn has_latest_shape(conn: &Connection, schema: &Schema) -> Result<bool, SchemaError> {
    let have = shape(conn).map_err(|source| SchemaError::Read {
        database: schema.database,
        source,
    })?;
    Ok(latest_shape(schema)?.iter().all(|c| have.contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_SQL: &str = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT)";
    const V1: Step = Step::Sql(V1_SQL);
    const V2: Step = Step::Code(|tx| {
        if !has_column(tx, "t", "b")? {
            tx.execute_batch("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'")?;
        }
        Ok(())
    });
    const ONE: Schema = Schema {
        database: "test.db",
        steps: &[V1],
    };
    const TWO: Schema = Schema {
        database: "test.db",
        steps: &[V1, V2],
    };

    #[test]
    fn a_new_file_gets_every_step_and_the_latest_version() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c, &TWO).unwrap(), 0);
        assert_eq!(version(&c, &TWO).unwrap(), 2);
        c.execute("INSERT INTO t (a) VALUES ('v')", []).unwrap();
        let b: String = c.query_row("SELECT b FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(b, "x");
        // Again: nothing to do.
        assert_eq!(migrate(&mut c, &TWO).unwrap(), 2);
    }

    #[test]
    fn a_file_from_before_versions_keeps_its_rows() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(V1_SQL).unwrap();
        c.execute("INSERT INTO t (a) VALUES ('old')", []).unwrap();
        assert_eq!(version(&c, &TWO).unwrap(), 0);
        migrate(&mut c, &TWO).unwrap();
        let (a, b): (String, String) = c
            .query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("old", "x"));
    }

    #[test]
    fn a_newer_file_is_refused_naming_database_and_versions() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &TWO).unwrap();
        let e = migrate(&mut c, &ONE).unwrap_err().to_string();
        assert!(
            e.contains("test.db") && e.contains("version 2") && e.contains("(1)"),
            "{e}"
        );
        let e = check(&c, &ONE).unwrap_err().to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        const BAD: Schema = Schema {
            database: "test.db",
            steps: &[V1, Step::Sql("ALTER TABLE missing ADD COLUMN c TEXT")],
        };
        let mut c = Connection::open_in_memory().unwrap();
        let e = migrate(&mut c, &BAD).unwrap_err().to_string();
        assert!(e.contains("from schema version 1 to 2"), "{e}");
        assert_eq!(version(&c, &BAD).unwrap(), 1);
    }

    #[test]
    fn read_only_checks_refuse_older_files() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &ONE).unwrap();
        let e = check(&c, &TWO).unwrap_err().to_string();
        assert!(e.contains("older") && e.contains("pramaan serve"), "{e}");
        assert!(check(&c, &ONE).is_ok());
    }

    #[test]
    fn read_only_accepts_a_file_from_before_versions_with_every_column() {
        // Made before versions, already with `b`: reads like version 2.
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(V1_SQL).unwrap();
        c.execute_batch("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'")
            .unwrap();
        assert_eq!(version(&c, &TWO).unwrap(), 0);
        assert!(check(&c, &TWO).is_ok());
        // Without `b` it must migrate first.
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(V1_SQL).unwrap();
        let e = check(&c, &TWO).unwrap_err().to_string();
        assert!(e.contains("version 0") && e.contains("older"), "{e}");
        // A versioned older file is never let through, even with the shape.
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &ONE).unwrap();
        c.execute_batch("ALTER TABLE t ADD COLUMN b TEXT").unwrap();
        assert!(check(&c, &TWO).is_err());
    }
}
