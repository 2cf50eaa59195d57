//! The PostgreSQL catalog's outbox as the shared flusher reads and marks it
//! (`pramaan_db::outbox::Rows`): the statements of `SqliteRows`, async,
//! since the flusher is (no blocking here).

use super::PgCatalog;
use pramaan_db::outbox::{OutboxError, Pending, Rows, RowsFuture};

pub(super) struct PgRows<'a> {
    pub(super) catalog: &'a PgCatalog,
}

impl PgRows<'_> {
    fn fail(&self, e: crate::catalog::CatalogError) -> OutboxError {
        OutboxError::Store(e.to_string())
    }
}

impl Rows for PgRows<'_> {
    fn next_pending(&self, after: i64) -> RowsFuture<'_, Option<Pending>> {
        Box::pin(async move {
            let cat = self.catalog;
            let c = cat.client().await.map_err(|e| self.fail(e))?;
            let r = c
                .query_opt(
                    &cat.q("SELECT id, source, body, watermark, ref_id FROM {s}.outbox
                            WHERE seq IS NULL AND id > $1 ORDER BY id LIMIT 1"),
                    &[&after],
                )
                .await
                .map_err(|e| self.fail(cat.err()(e)))?;
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
            .map_err(|e| self.fail(cat.err()(e)))
        })
    }

    fn claimed<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, bool> {
        Box::pin(async move {
            let cat = self.catalog;
            let c = cat.client().await.map_err(|e| self.fail(e))?;
            let n: i64 = c
                .query_one(
                    &cat.q("SELECT COUNT(*) FROM {s}.outbox WHERE source = $1 AND seq = $2 AND id <> $3"),
                    &[&row.source, &(seq as i64), &row.id],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(|e| self.fail(cat.err()(e)))?;
            Ok(n > 0)
        })
    }

    fn mark<'a>(&'a self, row: &'a Pending, seq: u64) -> RowsFuture<'a, ()> {
        // The catalog's rows have no mark-back (rebuilds are marked apart).
        Box::pin(async move {
            let cat = self.catalog;
            let c = cat.client().await.map_err(|e| self.fail(e))?;
            c.execute(
                &cat.q("UPDATE {s}.outbox SET seq = $1 WHERE id = $2 AND seq IS NULL"),
                &[&(seq as i64), &row.id],
            )
            .await
            .map_err(|e| self.fail(cat.err()(e)))?;
            Ok(())
        })
    }
}
