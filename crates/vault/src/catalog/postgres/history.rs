//! The ledger's checkpoint history and rebuilds in the PostgreSQL catalog:
//! the same statements as `ledger::history` on SQLite.

use super::PgCatalog;
use crate::catalog::error::CatalogError;
use crate::ledger::history::{LedgerCatalog, LedgerRebuild, StoredCheckpoint};
use tokio_postgres::Row;

fn checkpoint(r: &Row) -> Result<StoredCheckpoint, tokio_postgres::Error> {
    Ok(StoredCheckpoint {
        size: r.try_get::<_, i64>(0)? as u64,
        note: r.try_get(1)?,
        published_at_ns: r.try_get(2)?,
    })
}

impl PgCatalog {
    /// Checkpoints chosen by `tail` (a `WHERE`/`ORDER BY` clause, `$1` the size).
    fn checkpoints_where(
        &self,
        tail: &str,
        size: Option<i64>,
    ) -> Result<Vec<StoredCheckpoint>, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let sql = self.q(&format!(
                "SELECT size, note, published_at_ns FROM {{s}}.ledger_checkpoints {tail}"
            ));
            let rows = match &size {
                Some(s) => c.query(&sql, &[s]).await,
                None => c.query(&sql, &[]).await,
            }
            .map_err(self.err())?;
            rows.iter()
                .map(|r| checkpoint(r).map_err(self.err()))
                .collect()
        })
    }

    fn put_checkpoint(&self, cp: &StoredCheckpoint, on_conflict: &str) -> Result<(), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                &self.q(&format!(
                    "INSERT INTO {{s}}.ledger_checkpoints (size, note, published_at_ns) VALUES ($1, $2, $3)
                     ON CONFLICT (size) {on_conflict}"
                )),
                &[&(cp.size as i64), &cp.note, &cp.published_at_ns],
            )
            .await
            .map_err(self.err())?;
            Ok(())
        })
    }
}

impl LedgerCatalog for PgCatalog {
    fn add_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError> {
        self.put_checkpoint(cp, "DO NOTHING")
    }

    fn replace_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), CatalogError> {
        self.put_checkpoint(cp, "DO UPDATE SET note = EXCLUDED.note")
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, CatalogError> {
        self.checkpoints_where("ORDER BY size", None)
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, CatalogError> {
        Ok(self
            .checkpoints_where("WHERE size = $1", Some(size as i64))?
            .pop())
    }

    fn last_checkpoint(&self) -> Result<Option<StoredCheckpoint>, CatalogError> {
        Ok(self
            .checkpoints_where("ORDER BY size DESC LIMIT 1", None)?
            .pop())
    }

    fn add_rebuild(&self, r: &LedgerRebuild) -> Result<i64, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.query_one(
                &self.q("INSERT INTO {s}.ledger_rebuilds (at_ns, by_whom, reason, records) VALUES ($1, $2, $3, $4) RETURNING id"),
                &[&r.at_ns, &r.by, &r.reason, &(r.records as i64)],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(self.err())
        })
    }

    fn set_rebuild_seq(&self, id: i64, seq: u64) -> Result<(), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                &self.q("UPDATE {s}.ledger_rebuilds SET seq = $2 WHERE id = $1"),
                &[&id, &(seq as i64)],
            )
            .await
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn rebuilds(&self) -> Result<Vec<LedgerRebuild>, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &self.q("SELECT id, at_ns, by_whom, reason, records, seq FROM {s}.ledger_rebuilds ORDER BY id"),
                    &[],
                )
                .await
                .map_err(self.err())?;
            rows.iter()
                .map(|r| {
                    let at_ns: i64 = r.try_get(1)?;
                    Ok(LedgerRebuild {
                        id: r.try_get(0)?,
                        at_ns,
                        at: pramaan_core::time::rfc3339_ist(at_ns),
                        by: r.try_get(2)?,
                        reason: r.try_get(3)?,
                        records: r.try_get::<_, i64>(4)? as u64,
                        seq: r.try_get::<_, Option<i64>>(5)?.map(|s| s as u64),
                    })
                })
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(self.err())
        })
    }
}
