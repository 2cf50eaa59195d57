//! The register in PostgreSQL (`registry.url = "postgres://..."`), in its own
//! schema (default `pramaan_registry`). Deleted rows are gone from what any
//! query sees at once; their dead tuples held only ciphertext and a wrapped
//! key, and [`Store::scrub`] runs `VACUUM` on the table so the space is reused.

use super::*;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

#[derive(Clone)]
pub struct PgStore {
    client: Arc<Mutex<Client>>,
    schema: String,
}

/// The register's PostgreSQL schema, as steps (`{schema}`: its name);
/// append a step to change it, never edit one.
pub const PG_SCHEMA: pramaan_db::pg::PgSchema = pramaan_db::pg::PgSchema {
    component: "registry",
    steps: &[PG_V1, PG_V2_OUTBOX],
};

/// Version 2: the shared outbox to the ledger (`pramaan_db::outbox`), here
/// in PostgreSQL: a change and its ledger record commit together.
const PG_V2_OUTBOX: &str = "CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id            BIGSERIAL PRIMARY KEY,
    source        TEXT NOT NULL,
    body          BYTEA NOT NULL,
    watermark     BIGINT NOT NULL,
    created_at_ns BIGINT NOT NULL,
    ref_id        BIGINT,
    seq           BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON {schema}.outbox(id) WHERE seq IS NULL;";

/// Version 1: the tables from before versions were kept, as they were.
const PG_V1: &str = "CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.subscribers (
    external_id   TEXT PRIMARY KEY,
    periods       TEXT NOT NULL,
    last_end_ns   BIGINT,
    missing       TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BYTEA NOT NULL,
    sealed        BYTEA NOT NULL,
    created_at_ns BIGINT NOT NULL,
    updated_at_ns BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscribers_last_end ON {schema}.subscribers(last_end_ns);
CREATE TABLE IF NOT EXISTS {schema}.holds (
    id             BIGSERIAL PRIMARY KEY,
    subscriber_id  TEXT NOT NULL,
    reason         TEXT NOT NULL,
    order_ref      TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ns  BIGINT NOT NULL,
    released_at_ns BIGINT,
    released_by    TEXT,
    release_reason TEXT
);
CREATE INDEX IF NOT EXISTS holds_subscriber ON {schema}.holds(subscriber_id);
CREATE TABLE IF NOT EXISTS {schema}.erasures (
    id              BIGSERIAL PRIMARY KEY,
    subscriber_id   TEXT NOT NULL,
    erased_at_ns    BIGINT NOT NULL,
    last_end_ns     BIGINT NOT NULL,
    retain_until_ns BIGINT NOT NULL,
    key_id          TEXT NOT NULL,
    fields          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    ledger_seq      BIGINT
);";

/// Stages a record in the PostgreSQL outbox, in the caller's transaction
/// (the same table and meaning as `pramaan_db::outbox` in SQLite).
async fn stage(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    r: &Staged,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO {schema}.outbox (source, body, watermark, created_at_ns) VALUES ($1, $2, $3, $4)"
        ),
        &[
            &r.source,
            &r.body,
            &(r.watermark as i64),
            &pramaan_core::time::now_ns(),
        ],
    )
    .await?;
    Ok(())
}

const ROW_COLS: &str =
    "external_id, periods, last_end_ns, missing, key_id, wrapped_key, sealed, created_at_ns, updated_at_ns";
const HOLD_COLS: &str = "id, subscriber_id, reason, order_ref, created_by, created_at_ns, released_at_ns, released_by, release_reason";

fn to_row(r: &Row) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        external_id: r.try_get(0)?,
        periods: periods_from(&r.try_get::<_, String>(1)?)?,
        last_end_ns: r.try_get(2)?,
        missing: list_from(&r.try_get::<_, String>(3)?)?,
        key_id: r.try_get(4)?,
        wrapped_key: r.try_get(5)?,
        sealed: r.try_get(6)?,
        created_at_ns: r.try_get(7)?,
        updated_at_ns: r.try_get(8)?,
    })
}

fn to_hold(r: &Row) -> Result<Hold, StoreError> {
    Ok(Hold {
        id: r.try_get(0)?,
        subscriber_id: r.try_get(1)?,
        reason: r.try_get(2)?,
        order_ref: r.try_get(3)?,
        created_by: r.try_get(4)?,
        created_at_ns: r.try_get(5)?,
        released_at_ns: r.try_get(6)?,
        released_by: r.try_get(7)?,
        release_reason: r.try_get(8)?,
    })
}

/// A schema name: letters, digits and `_`, not starting with a digit.
fn check_schema(s: &str) -> Result<(), StoreError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "`{s}` is not a usable schema name (letters, digits, _)"
        )))
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and creates the
    /// tables in `schema` if needed.
    pub async fn connect(url: &str, schema: &str) -> Result<Self, StoreError> {
        check_schema(schema)?;
        let (mut client, conn) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::error!(error = %e, "registry PostgreSQL connection ended");
            }
        });
        pramaan_db::pg::migrate(&mut client, schema, &PG_SCHEMA).await?;
        Ok(PgStore {
            client: Arc::new(Mutex::new(client)),
            schema: schema.to_owned(),
        })
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Every subscriber row rendered as text (for tests and audits that
    /// look for plaintext: `SELECT t::text FROM subscribers t`), plus the
    /// erasure reports and holds.
    pub async fn rows_as_text(&self) -> Result<Vec<String>, StoreError> {
        let c = self.client.lock().await;
        let mut out = Vec::new();
        for t in ["subscribers", "erasures", "holds"] {
            for r in c
                .query(&format!("SELECT t::text FROM {}.{t} t", self.schema), &[])
                .await?
            {
                out.push(r.try_get(0)?);
            }
        }
        Ok(out)
    }

    /// Drops the schema and everything in it (tests).
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let c = self.client.lock().await;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await?;
        Ok(())
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!("postgres (schema {})", self.schema)
    }

    fn get(&self, external_id: &str) -> StoreFuture<'_, Option<StoredRow>> {
        let id = external_id.to_owned();
        Box::pin(async move {
            let c = self.client.lock().await;
            let r = c
                .query_opt(
                    &format!(
                        "SELECT {ROW_COLS} FROM {}.subscribers WHERE external_id = $1",
                        self.schema
                    ),
                    &[&id],
                )
                .await?;
            r.as_ref().map(to_row).transpose()
        })
    }

    fn get_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<StoredRow>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!(
                        "SELECT {ROW_COLS} FROM {}.subscribers WHERE external_id = ANY($1)",
                        self.schema
                    ),
                    &[&ids],
                )
                .await?;
            rows.iter().map(to_row).collect()
        })
    }

    fn put_many(&self, rows: Vec<StoredRow>, record: Option<Staged>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            if let Some(r) = &record {
                stage(&tx, &self.schema, r).await?;
            }
            let st = tx
                .prepare(&format!(
                    "INSERT INTO {}.subscribers ({ROW_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (external_id) DO UPDATE SET periods = EXCLUDED.periods,
                       last_end_ns = EXCLUDED.last_end_ns, missing = EXCLUDED.missing,
                       key_id = EXCLUDED.key_id, wrapped_key = EXCLUDED.wrapped_key,
                       sealed = EXCLUDED.sealed, created_at_ns = EXCLUDED.created_at_ns,
                       updated_at_ns = EXCLUDED.updated_at_ns",
                    self.schema
                ))
                .await?;
            for r in &rows {
                tx.execute(
                    &st,
                    &[
                        &r.external_id,
                        &periods_json(&r.periods),
                        &r.last_end_ns,
                        &list_json(&r.missing),
                        &r.key_id,
                        &r.wrapped_key,
                        &r.sealed,
                        &r.created_at_ns,
                        &r.updated_at_ns,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn list_meta(&self) -> StoreFuture<'_, Vec<RowMeta>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!(
                        "SELECT external_id, last_end_ns, missing, key_id FROM {}.subscribers ORDER BY external_id",
                        self.schema
                    ),
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(RowMeta {
                        external_id: r.try_get(0)?,
                        last_end_ns: r.try_get(1)?,
                        missing: list_from(&r.try_get::<_, String>(2)?)?,
                        key_id: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let r = c
                .query_one(
                    &format!("SELECT count(*) FROM {}.subscribers", self.schema),
                    &[],
                )
                .await?;
            Ok(r.try_get::<_, i64>(0)? as u64)
        })
    }

    fn wrapped_keys(&self) -> StoreFuture<'_, Vec<(String, String, Vec<u8>)>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!(
                        "SELECT external_id, key_id, wrapped_key FROM {}.subscribers",
                        self.schema
                    ),
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })
    }

    fn rewrap(&self, rows: Vec<(String, String, Vec<u8>)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            let st = tx
                .prepare(&format!(
                    "UPDATE {}.subscribers SET key_id = $2, wrapped_key = $3 WHERE external_id = $1",
                    self.schema
                ))
                .await?;
            for (id, kid, w) in &rows {
                tx.execute(&st, &[id, kid, w]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn erase(&self, report: ErasureReport) -> StoreFuture<'_, EraseOutcome> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            // Serialise with hold changes on this subscriber.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&report.subscriber_id],
            )
            .await?;
            let held: Vec<i64> = tx
                .query(
                    &format!(
                        "SELECT id FROM {}.holds WHERE subscriber_id = $1 AND released_at_ns IS NULL",
                        self.schema
                    ),
                    &[&report.subscriber_id],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if !held.is_empty() {
                return Ok(EraseOutcome::Held(held));
            }
            let n = tx
                .execute(
                    &format!(
                        "DELETE FROM {}.subscribers WHERE external_id = $1",
                        self.schema
                    ),
                    &[&report.subscriber_id],
                )
                .await?;
            if n == 0 {
                return Ok(EraseOutcome::Gone);
            }
            let r = tx
                .query_one(
                    &format!(
                        "INSERT INTO {}.erasures (subscriber_id, erased_at_ns, last_end_ns, retain_until_ns, key_id, fields, reason)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        self.schema
                    ),
                    &[
                        &report.subscriber_id,
                        &report.erased_at_ns,
                        &report.last_end_ns,
                        &report.retain_until_ns,
                        &report.key_id,
                        &list_json(&report.fields),
                        &report.reason,
                    ],
                )
                .await?;
            let id: i64 = r.try_get(0)?;
            tx.commit().await?;
            Ok(EraseOutcome::Erased(ErasureReport { id, ..report }))
        })
    }

    fn erasure_reports(&self) -> StoreFuture<'_, Vec<ErasureReport>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!(
                        "SELECT id, subscriber_id, erased_at_ns, last_end_ns, retain_until_ns, key_id, fields, reason, ledger_seq
                         FROM {}.erasures ORDER BY id",
                        self.schema
                    ),
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ErasureReport {
                        id: r.try_get(0)?,
                        subscriber_id: r.try_get(1)?,
                        erased_at_ns: r.try_get(2)?,
                        last_end_ns: r.try_get(3)?,
                        retain_until_ns: r.try_get(4)?,
                        key_id: r.try_get(5)?,
                        fields: list_from(&r.try_get::<_, String>(6)?)?,
                        reason: r.try_get(7)?,
                        ledger_seq: r.try_get::<_, Option<i64>>(8)?.map(|s| s as u64),
                    })
                })
                .collect()
        })
    }

    fn mark_reported(&self, report_id: i64, seq: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client.lock().await;
            c.execute(
                &format!(
                    "UPDATE {}.erasures SET ledger_seq = $2 WHERE id = $1",
                    self.schema
                ),
                &[&report_id, &(seq as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn add_hold(&self, hold: Hold, record: Staged) -> StoreFuture<'_, Hold> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&hold.subscriber_id],
            )
            .await?;
            let r = tx
                .query_one(
                    &format!(
                        "INSERT INTO {}.holds (subscriber_id, reason, order_ref, created_by, created_at_ns)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        self.schema
                    ),
                    &[
                        &hold.subscriber_id,
                        &hold.reason,
                        &hold.order_ref,
                        &hold.created_by,
                        &hold.created_at_ns,
                    ],
                )
                .await?;
            let id: i64 = r.try_get(0)?;
            stage(&tx, &self.schema, &record).await?;
            tx.commit().await?;
            Ok(Hold { id, ..hold })
        })
    }

    fn release_hold(
        &self,
        id: i64,
        by: String,
        reason: String,
        at_ns: i64,
        record: Staged,
    ) -> StoreFuture<'_, Hold> {
        Box::pin(async move {
            let mut c = self.client.lock().await;
            let tx = c.transaction().await?;
            let h = tx
                .query_opt(
                    &format!(
                        "SELECT {HOLD_COLS} FROM {}.holds WHERE id = $1 FOR UPDATE",
                        self.schema
                    ),
                    &[&id],
                )
                .await?
                .ok_or(StoreError::UnknownHold(id))?;
            let h = to_hold(&h)?;
            if !h.active() {
                return Err(StoreError::AlreadyReleased(id));
            }
            tx.execute(
                &format!(
                    "UPDATE {}.holds SET released_at_ns = $2, released_by = $3, release_reason = $4 WHERE id = $1",
                    self.schema
                ),
                &[&id, &at_ns, &by, &reason],
            )
            .await?;
            stage(&tx, &self.schema, &record).await?;
            tx.commit().await?;
            Ok(Hold {
                released_at_ns: Some(at_ns),
                released_by: Some(by),
                release_reason: Some(reason),
                ..h
            })
        })
    }

    fn outbox_next(&self, after: i64) -> StoreFuture<'_, Option<Pending>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let r = c
                .query_opt(
                    &format!(
                        "SELECT id, source, body, watermark, ref_id FROM {}.outbox
                         WHERE seq IS NULL AND id > $1 ORDER BY id LIMIT 1",
                        self.schema
                    ),
                    &[&after],
                )
                .await?;
            r.map(|r| {
                Ok(Pending {
                    id: r.try_get(0)?,
                    source: r.try_get(1)?,
                    body: r.try_get(2)?,
                    watermark: r.try_get::<_, i64>(3)?.max(0) as u64,
                    ref_id: r.try_get(4)?,
                })
            })
            .transpose()
        })
    }

    fn outbox_claimed(&self, row: Pending, seq: u64) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let r = c
                .query_one(
                    &format!(
                        "SELECT COUNT(*) FROM {}.outbox WHERE source = $1 AND seq = $2 AND id <> $3",
                        self.schema
                    ),
                    &[&row.source, &(seq as i64), &row.id],
                )
                .await?;
            Ok(r.try_get::<_, i64>(0)? > 0)
        })
    }

    fn outbox_mark(&self, row: Pending, seq: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client.lock().await;
            c.execute(
                &format!(
                    "UPDATE {}.outbox SET seq = $1 WHERE id = $2 AND seq IS NULL",
                    self.schema
                ),
                &[&(seq as i64), &row.id],
            )
            .await?;
            Ok(())
        })
    }

    fn outbox_pending(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let r = c
                .query_one(
                    &format!(
                        "SELECT COUNT(*) FROM {}.outbox WHERE seq IS NULL",
                        self.schema
                    ),
                    &[],
                )
                .await?;
            Ok(r.try_get::<_, i64>(0)?.max(0) as u64)
        })
    }

    fn holds(&self) -> StoreFuture<'_, Vec<Hold>> {
        Box::pin(async move {
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!("SELECT {HOLD_COLS} FROM {}.holds ORDER BY id", self.schema),
                    &[],
                )
                .await?;
            rows.iter().map(to_hold).collect()
        })
    }

    fn scrub(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client.lock().await;
            c.batch_execute(&format!("VACUUM {}.subscribers", self.schema))
                .await?;
            Ok(())
        })
    }
}
