//! The catalog in PostgreSQL (`catalog.url = "postgres://..."`), in its own
//! schema (`catalog.schema`, default `pramaan_catalog`): the same tables as
//! `catalog.db` (segments, retention's, the ledger history, the outbox) and
//! the same meaning, statement for statement, as the SQLite catalog.
//!
//! The traits are synchronous; each call runs its statements on a small
//! runtime of the catalog's own ([`Bridge::own`]), which also drives the
//! connection, so a caller may block on it from anywhere (a runtime worker,
//! the sealer's thread, a test's current-thread runtime). One connection,
//! behind one lock, as SQLite's one connection is; when PostgreSQL drops it
//! (a restart), the next call connects again.
//!
//! Ids are the server's (`BIGSERIAL`), so several processes may share one
//! schema; where SQLite takes its write lock (`BEGIN IMMEDIATE`) to decide
//! and change together, these transactions lock what they decide on (see
//! `retention`).

mod history;
pub mod lease;
mod outbox;
mod retention;

use super::error::CatalogError;
use super::{Catalog, SegmentMeta};
use crate::bridge::Bridge;
use pramaan_db::pg::{self, Found, PgSchema};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls};

/// Where a PostgreSQL catalog is: the server's URL (it may carry a
/// password: [`PgLocation::shown`] is what messages print) and the schema.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    pub url: String,
    pub schema: String,
}

impl PgLocation {
    /// The URL without its password (`postgres://user@host:port/db`), for
    /// messages and logs.
    pub fn shown(&self) -> String {
        shown_url(&self.url)
    }
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLocation")
            .field("url", &self.shown())
            .field("schema", &self.schema)
            .finish()
    }
}

/// `url` rebuilt from what it connects to, never its password; text that
/// is not a valid connection string is not shown at all.
fn shown_url(url: &str) -> String {
    let Ok(cfg) = url.parse::<tokio_postgres::Config>() else {
        return "postgres://(an invalid URL)".to_owned();
    };
    let user = cfg.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = cfg
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let db = cfg.get_dbname().unwrap_or_default();
    format!("postgres://{user}{host}{port}/{db}")
}

/// The catalog's PostgreSQL schema, as steps (`{schema}`: its name);
/// append a step to change it, never edit one.
pub const PG_SCHEMA: PgSchema = PgSchema {
    component: "catalog",
    steps: &[PG_V1],
};

/// Version 1: the tables of `catalog.db` at its version 3.
const PG_V1: &str = "
CREATE TABLE IF NOT EXISTS {schema}.segments (
    id            BIGSERIAL PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    seq_min       BIGINT NOT NULL,
    seq_max       BIGINT NOT NULL,
    time_min_ns   BIGINT NOT NULL,
    time_max_ns   BIGINT NOT NULL,
    rows          BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    raw_bytes     BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    sources       TEXT NOT NULL,
    created_at_ns BIGINT NOT NULL,
    compact_level INT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS segments_time ON {schema}.segments(time_min_ns, time_max_ns);
CREATE INDEX IF NOT EXISTS segments_seq ON {schema}.segments(seq_min);
CREATE TABLE IF NOT EXISTS {schema}.holds (
    id             BIGSERIAL PRIMARY KEY,
    from_ns        BIGINT NOT NULL,
    to_ns          BIGINT NOT NULL,
    source         TEXT,
    ip             TEXT,
    reason         TEXT NOT NULL,
    order_ref      TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ns  BIGINT NOT NULL,
    released_at_ns BIGINT,
    released_by    TEXT,
    release_reason TEXT
);
CREATE TABLE IF NOT EXISTS {schema}.deletions (
    id                   BIGSERIAL PRIMARY KEY,
    segment_id           BIGINT NOT NULL UNIQUE,
    path                 TEXT NOT NULL UNIQUE,
    seq_min              BIGINT NOT NULL,
    seq_max              BIGINT NOT NULL,
    time_min_ns          BIGINT NOT NULL,
    time_max_ns          BIGINT NOT NULL,
    rows                 BIGINT NOT NULL,
    bytes                BIGINT NOT NULL,
    raw_bytes            BIGINT NOT NULL,
    sha256               TEXT NOT NULL,
    sources              TEXT NOT NULL,
    created_at_ns        BIGINT NOT NULL,
    policy               TEXT NOT NULL,
    cutoff_ns            BIGINT NOT NULL,
    run                  BIGINT NOT NULL,
    deleted_at_ns        BIGINT NOT NULL,
    object_deleted_at_ns BIGINT
);
CREATE TABLE IF NOT EXISTS {schema}.retention_runs (
    id             BIGSERIAL PRIMARY KEY,
    now_ns         BIGINT NOT NULL,
    started_at_ns  BIGINT NOT NULL,
    finished_at_ns BIGINT,
    deleted        BIGINT NOT NULL DEFAULT 0,
    held           BIGINT NOT NULL DEFAULT 0,
    error          TEXT
);
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id            BIGSERIAL PRIMARY KEY,
    source        TEXT NOT NULL,
    body          BYTEA NOT NULL,
    watermark     BIGINT NOT NULL,
    created_at_ns BIGINT NOT NULL,
    ref_id        BIGINT,
    seq           BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON {schema}.outbox(id) WHERE seq IS NULL;
CREATE TABLE IF NOT EXISTS {schema}.ledger_checkpoints (
    size            BIGINT PRIMARY KEY,
    note            TEXT NOT NULL,
    published_at_ns BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.ledger_rebuilds (
    id      BIGSERIAL PRIMARY KEY,
    at_ns   BIGINT NOT NULL,
    by_whom TEXT NOT NULL,
    reason  TEXT NOT NULL,
    records BIGINT NOT NULL,
    seq     BIGINT
);";

/// A schema name: letters, digits and `_`, not starting with a digit, at
/// most 63 bytes (PostgreSQL's limit), as `catalog.schema` is checked.
pub fn check_schema(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a usable schema name (letters, digits and _, not starting with a digit, at most 63)"
        ))
    }
}

/// The PostgreSQL catalog.
pub struct PgCatalog {
    client: Mutex<Client>,
    at: PgLocation,
    read_only: bool,
    bridge: Bridge,
}

impl PgCatalog {
    /// Connects, creating or migrating the schema.
    pub fn open(at: &PgLocation) -> Result<Self, CatalogError> {
        Self::open_as(at, false)
    }

    /// Connects for reading only (`default_transaction_read_only`): the
    /// schema must be at this binary's version (or not exist yet, when it
    /// is made, as a missing `catalog.db` is); never migrates an older one.
    pub fn open_read_only(at: &PgLocation) -> Result<Self, CatalogError> {
        Self::open_as(at, true)
    }

    fn open_as(at: &PgLocation, read_only: bool) -> Result<Self, CatalogError> {
        check_schema(&at.schema).map_err(|why| CatalogError::Postgres {
            url: at.shown(),
            why,
        })?;
        let bridge = Bridge::own("pramaan-catalog").map_err(|e| CatalogError::Postgres {
            url: at.shown(),
            why: e.to_string(),
        })?;
        let client = spawn_connect(&bridge, at, read_only)?;
        Ok(PgCatalog {
            client: Mutex::new(client),
            at: at.clone(),
            read_only,
            bridge,
        })
    }

    /// Drops the schema and everything in it (tests).
    pub fn drop_schema(&self) -> Result<(), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.at.schema))
                .await
                .map_err(self.err())
        })
    }

    /// Runs `fut` (this catalog's statements) to completion from sync code.
    fn block<T>(
        &self,
        fut: impl Future<Output = Result<T, CatalogError>>,
    ) -> Result<T, CatalogError> {
        self.bridge.block_on(fut)
    }

    /// The connection, connecting again first when PostgreSQL dropped it.
    async fn client(&self) -> Result<MutexGuard<'_, Client>, CatalogError> {
        let mut c = self.client.lock().await;
        if c.is_closed() {
            tracing::warn!(catalog = %self.describe(), "the catalog's PostgreSQL connection was closed; connecting again");
            let fresh = self
                .bridge
                .handle()
                .spawn(connect(self.at.clone(), self.read_only));
            *c = fresh.await.map_err(|e| CatalogError::Postgres {
                url: self.at.shown(),
                why: e.to_string(),
            })??;
        }
        Ok(c)
    }

    /// `sql` with `{s}` replaced by the schema's name (checked at open).
    fn q(&self, sql: &str) -> String {
        sql.replace("{s}", &self.at.schema)
    }

    fn err(&self) -> impl Fn(tokio_postgres::Error) -> CatalogError + '_ {
        |e| CatalogError::Postgres {
            url: self.at.shown(),
            why: pg::why(e),
        }
    }

    fn malformed(path: &str, e: serde_json::Error) -> CatalogError {
        CatalogError::Malformed {
            path: path.to_owned(),
            reason: format!("sources: {e}"),
        }
    }
}

/// [`connect`] on the catalog's runtime, waited for.
fn spawn_connect(
    bridge: &Bridge,
    at: &PgLocation,
    read_only: bool,
) -> Result<Client, CatalogError> {
    let task = bridge.handle().spawn(connect(at.clone(), read_only));
    bridge.block_on(task).map_err(|e| CatalogError::Postgres {
        url: at.shown(),
        why: e.to_string(),
    })?
}

/// Connects and brings the schema to this binary's version (or, read-only,
/// checks it). Spawned on the catalog's runtime, which then drives the
/// connection (a task spawned elsewhere would stall with its runtime).
async fn connect(at: PgLocation, read_only: bool) -> Result<Client, CatalogError> {
    let fail = |why: String| CatalogError::Postgres {
        url: at.shown(),
        why,
    };
    let (mut client, conn) = tokio_postgres::connect(&at.url, NoTls)
        .await
        .map_err(|e| fail(format!("cannot connect: {}", pg::why(e))))?;
    let shown = at.shown();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::error!(catalog = %shown, error = %e, "the catalog's PostgreSQL connection ended");
        }
    });
    let schema_err = |source| CatalogError::PgSchema {
        url: at.shown(),
        source,
    };
    if read_only {
        let found = pg::check(&client, &at.schema, &PG_SCHEMA)
            .await
            .map_err(schema_err)?;
        if found == Found::Missing {
            pg::migrate(&mut client, &at.schema, &PG_SCHEMA)
                .await
                .map_err(schema_err)?;
        }
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(|e| fail(pg::why(e)))?;
    } else {
        pg::migrate(&mut client, &at.schema, &PG_SCHEMA)
            .await
            .map_err(schema_err)?;
    }
    Ok(client)
}

const SEGMENT_COLS: &str = "id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns";

/// A `segments` (or `deletions`, from column `at`) row as [`SegmentMeta`],
/// its `sources` still JSON text.
fn segment_at(
    r: &tokio_postgres::Row,
    at: usize,
) -> Result<(SegmentMeta, String), tokio_postgres::Error> {
    Ok((
        SegmentMeta {
            id: r.try_get(at)?,
            path: r.try_get(at + 1)?,
            seq_min: r.try_get::<_, i64>(at + 2)? as u64,
            seq_max: r.try_get::<_, i64>(at + 3)? as u64,
            time_min_ns: r.try_get(at + 4)?,
            time_max_ns: r.try_get(at + 5)?,
            rows: r.try_get::<_, i64>(at + 6)? as u64,
            bytes: r.try_get::<_, i64>(at + 7)? as u64,
            raw_bytes: r.try_get::<_, i64>(at + 8)? as u64,
            sha256: r.try_get(at + 9)?,
            sources: BTreeMap::new(),
            created_at_ns: r.try_get(at + 11)?,
        },
        r.try_get(at + 10)?,
    ))
}

impl Catalog for PgCatalog {
    /// The URL without its password, and the schema.
    fn describe(&self) -> String {
        format!("{} (schema {})", self.at.shown(), self.at.schema)
    }

    fn insert(&self, s: &SegmentMeta) -> Result<i64, CatalogError> {
        let sources = serde_json::to_string(&s.sources).expect("map serialises");
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    &self.q(
                        "INSERT INTO {s}.segments (path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    ),
                    &[
                        &s.path,
                        &(s.seq_min as i64),
                        &(s.seq_max as i64),
                        &s.time_min_ns,
                        &s.time_max_ns,
                        &(s.rows as i64),
                        &(s.bytes as i64),
                        &(s.raw_bytes as i64),
                        &s.sha256,
                        &sources,
                        &s.created_at_ns,
                    ],
                )
                .await
                .map_err(self.err())?;
            row.try_get(0).map_err(self.err())
        })
    }

    fn segments(
        &self,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Vec<SegmentMeta>, CatalogError> {
        let rows = self.block(async {
            let c = self.client().await?;
            c.query(
                &self.q(&format!(
                    "SELECT {SEGMENT_COLS} FROM {{s}}.segments WHERE time_max_ns >= $1 AND time_min_ns <= $2 ORDER BY seq_min"
                )),
                &[&from_ns.unwrap_or(i64::MIN), &to_ns.unwrap_or(i64::MAX)],
            )
            .await
            .map_err(self.err())
        })?;
        rows.iter()
            .map(|r| {
                let (mut meta, sources) = segment_at(r, 0).map_err(self.err())?;
                meta.sources =
                    serde_json::from_str(&sources).map_err(|e| Self::malformed(&meta.path, e))?;
                Ok(meta)
            })
            .collect()
    }

    fn sealed_through(&self) -> Result<Option<u64>, CatalogError> {
        // One statement: one snapshot of both tables.
        self.block(async {
            let c = self.client().await?;
            let r = c
                .query_one(
                    &self.q(
                        "SELECT GREATEST((SELECT MAX(seq_max) FROM {s}.segments), (SELECT MAX(seq_max) FROM {s}.deletions))",
                    ),
                    &[],
                )
                .await
                .map_err(self.err())?;
            let v: Option<i64> = r.try_get(0).map_err(self.err())?;
            Ok(v.map(|v| v as u64))
        })
    }

    fn below_level(&self, level: i32) -> Result<HashSet<i64>, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &self.q("SELECT id FROM {s}.segments WHERE compact_level < $1"),
                    &[&level],
                )
                .await
                .map_err(self.err())?;
            rows.iter()
                .map(|r| r.try_get::<_, i64>(0).map_err(self.err()))
                .collect()
        })
    }

    fn switch_object(
        &self,
        id: i64,
        old_path: &str,
        new_path: &str,
        bytes: u64,
        sha256: &str,
        level: i32,
    ) -> Result<bool, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    &self.q(
                        "UPDATE {s}.segments SET path = $3, bytes = $4, sha256 = $5, compact_level = $6
                         WHERE id = $1 AND path = $2",
                    ),
                    &[&id, &old_path, &new_path, &(bytes as i64), &sha256, &level],
                )
                .await
                .map_err(self.err())?;
            Ok(n == 1)
        })
    }
}
