//! Schema versions for the PostgreSQL stores (the registry's and the
//! attribution's), the same idea as [`crate::schema`] for SQLite: a list of
//! steps, oldest first, only ever appended; step 1 the schema from before
//! versions were kept (`IF NOT EXISTS`); a newer schema refused.
//!
//! PostgreSQL has no `user_version`, so each component's PostgreSQL schema
//! holds a table `pramaan_schema (component TEXT PRIMARY KEY, version INT)`.
//! Every step runs in one transaction with the version's update, under a
//! lock on that table, so two processes starting at once take turns.

/// A PostgreSQL store's migrations. Each step is SQL in which `{schema}`
/// stands for the store's (configurable) PostgreSQL schema name.
#[derive(Debug)]
pub struct PgSchema {
    /// The component, as kept in `pramaan_schema` and named in messages.
    pub component: &'static str,
    /// Step `i` (0-based) takes version `i` to `i + 1`.
    pub steps: &'static [&'static str],
}

impl PgSchema {
    /// The version this binary writes.
    pub fn latest(&self) -> u32 {
        self.steps.len() as u32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PgSchemaError {
    #[error(
        "PostgreSQL schema {schema} ({component}) has schema version {found}, newer than this pramaan knows ({known}): \
         it was written by a newer release; run that release (or newer), never an older one"
    )]
    Newer {
        component: &'static str,
        schema: String,
        found: u32,
        known: u32,
    },
    #[error("PostgreSQL schema {schema} ({component}): migrating from schema version {from} to {to}: {why}")]
    Step {
        component: &'static str,
        schema: String,
        from: u32,
        to: u32,
        why: String,
    },
    #[error(
        "PostgreSQL schema {schema} ({component}) has schema version {found}, older than this pramaan's ({known}): \
         start `pramaan serve` once to migrate it (a read-only open never migrates)"
    )]
    Older {
        component: &'static str,
        schema: String,
        found: u32,
        known: u32,
    },
    #[error("PostgreSQL schema {schema} ({component}): reading the schema version: {why}")]
    Read {
        component: &'static str,
        schema: String,
        why: String,
    },
}

/// The server's message when it gave one (the error's own Display says
/// only "db error").
pub fn why(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Brings `schema` (a plain identifier the caller has checked) up to
/// `steps.latest()`; returns the version it was at.
pub async fn migrate(
    client: &mut tokio_postgres::Client,
    schema: &str,
    steps: &PgSchema,
) -> Result<u32, PgSchemaError> {
    let read = |e| PgSchemaError::Read {
        component: steps.component,
        schema: schema.to_owned(),
        why: why(e),
    };
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.pramaan_schema (
                 component TEXT PRIMARY KEY,
                 version INT NOT NULL
             );"
        ))
        .await
        .map_err(read)?;
    let mut first = None;
    loop {
        let tx = client.transaction().await.map_err(read)?;
        // One migrating process at a time; the others wait, then find the
        // version already raised.
        tx.batch_execute(&format!(
            "LOCK TABLE {schema}.pramaan_schema IN SHARE ROW EXCLUSIVE MODE"
        ))
        .await
        .map_err(read)?;
        let now: u32 = tx
            .query_opt(
                &format!("SELECT version FROM {schema}.pramaan_schema WHERE component = $1"),
                &[&steps.component],
            )
            .await
            .map_err(read)?
            .map(|r| r.get::<_, i32>(0).max(0) as u32)
            .unwrap_or(0);
        let start = *first.get_or_insert(now);
        if now > steps.latest() {
            return Err(PgSchemaError::Newer {
                component: steps.component,
                schema: schema.to_owned(),
                found: now,
                known: steps.latest(),
            });
        }
        let Some(sql) = steps.steps.get(now as usize) else {
            return Ok(start);
        };
        let (from, to) = (now, now + 1);
        let step = |e| PgSchemaError::Step {
            component: steps.component,
            schema: schema.to_owned(),
            from,
            to,
            why: why(e),
        };
        tx.batch_execute(&sql.replace("{schema}", schema))
            .await
            .map_err(step)?;
        tx.execute(
            &format!(
                "INSERT INTO {schema}.pramaan_schema (component, version) VALUES ($1, $2)
                 ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version"
            ),
            &[&steps.component, &(to as i32)],
        )
        .await
        .map_err(step)?;
        tx.commit().await.map_err(step)?;
    }
}

/// What a read-only open finds in `schema`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// No such schema: nothing was ever written there.
    Missing,
    /// At this binary's version.
    Current,
}

/// Checks `schema` without changing anything (for read-only opens): at
/// this binary's version, or missing altogether; a newer one and an older
/// one are refused, naming both versions.
pub async fn check(
    client: &tokio_postgres::Client,
    schema: &str,
    steps: &PgSchema,
) -> Result<Found, PgSchemaError> {
    let read = |e| PgSchemaError::Read {
        component: steps.component,
        schema: schema.to_owned(),
        why: why(e),
    };
    let exists: bool = client
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&schema])
        .await
        .map_err(read)?
        .get(0);
    if !exists {
        return Ok(Found::Missing);
    }
    let table = format!("{schema}.pramaan_schema");
    let has_table: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(read)?
        .get(0);
    let found = if has_table {
        client
            .query_opt(
                &format!("SELECT version FROM {table} WHERE component = $1"),
                &[&steps.component],
            )
            .await
            .map_err(read)?
            .map(|r| r.get::<_, i32>(0).max(0) as u32)
            .unwrap_or(0)
    } else {
        0
    };
    let known = steps.latest();
    match found.cmp(&known) {
        std::cmp::Ordering::Equal => Ok(Found::Current),
        std::cmp::Ordering::Greater => Err(PgSchemaError::Newer {
            component: steps.component,
            schema: schema.to_owned(),
            found,
            known,
        }),
        std::cmp::Ordering::Less => Err(PgSchemaError::Older {
            component: steps.component,
            schema: schema.to_owned(),
            found,
            known,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    const ONE: PgSchema = PgSchema {
        component: "test",
        steps: &["CREATE TABLE IF NOT EXISTS {schema}.t (a INT)"],
    };
    const TWO: PgSchema = PgSchema {
        component: "test",
        steps: &[
            "CREATE TABLE IF NOT EXISTS {schema}.t (a INT)",
            "ALTER TABLE {schema}.t ADD COLUMN IF NOT EXISTS b TEXT NOT NULL DEFAULT 'x'",
        ],
    };

    async fn client() -> tokio_postgres::Client {
        let (c, conn) = tokio_postgres::connect(URL, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test starts it)");
        tokio::spawn(conn);
        c
    }

    fn schema_name() -> String {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!(
            "pramaan_db_test_{}_{}",
            std::process::id(),
            n % 1_000_000_000
        )
    }

    #[tokio::test]
    async fn migrates_keeps_rows_and_refuses_a_newer_schema() {
        let mut c = client().await;
        let s = schema_name();
        // Made before versions: the table with a row, no pramaan_schema.
        c.batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.t (a INT); INSERT INTO {s}.t VALUES (7);"
        ))
        .await
        .unwrap();
        assert_eq!(migrate(&mut c, &s, &TWO).await.unwrap(), 0);
        let row = c
            .query_one(&format!("SELECT a, b FROM {s}.t"), &[])
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, i32>(0), row.get::<_, String>(1)),
            (7, "x".into())
        );
        // Again: nothing to do.
        assert_eq!(migrate(&mut c, &s, &TWO).await.unwrap(), 2);
        // An older binary meets it.
        let e = migrate(&mut c, &s, &ONE).await.unwrap_err().to_string();
        assert!(
            e.contains(&s) && e.contains("version 2") && e.contains("(1)"),
            "{e}"
        );
        c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failing_step_leaves_the_previous_version() {
        const BAD: PgSchema = PgSchema {
            component: "test",
            steps: &[
                "CREATE TABLE IF NOT EXISTS {schema}.t (a INT)",
                "ALTER TABLE {schema}.missing ADD COLUMN c INT",
            ],
        };
        let mut c = client().await;
        let s = schema_name();
        let e = migrate(&mut c, &s, &BAD).await.unwrap_err().to_string();
        assert!(e.contains("from schema version 1 to 2"), "{e}");
        assert_eq!(migrate(&mut c, &s, &ONE).await.unwrap(), 1);
        c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
            .await
            .unwrap();
    }
}
