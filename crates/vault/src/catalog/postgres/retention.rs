//! Retention's part of the PostgreSQL catalog: the same statements as
//! `retention::store` on SQLite.
//!
//! SQLite decides and changes under its one write lock (`BEGIN
//! IMMEDIATE`). Here a segment's deletion locks its row (`FOR UPDATE`: a
//! second retention run finds it gone) and the holds table against
//! writers (`SHARE`: a hold added meanwhile waits, then is seen by the next
//! decision), and a hold's release locks its row, so a deletion is never
//! decided on holds another transaction is changing.

use super::{segment_at, PgCatalog};
use crate::catalog::error::CatalogError;
use crate::retention::store::{
    Deletion, Hold, NewHold, OutboxEntry, OutboxRow, Released, RetentionCatalog, RetireInfo,
    Retired, RunRow,
};
use pramaan_db::outbox;
use tokio_postgres::{GenericClient, Row};

const HOLD_COLS: &str = "id, from_ns, to_ns, source, ip, reason, order_ref, created_by, created_at_ns, released_at_ns, released_by, release_reason";

fn hold_row(r: &Row) -> Result<Hold, tokio_postgres::Error> {
    Ok(Hold {
        id: r.try_get(0)?,
        from_ns: r.try_get(1)?,
        to_ns: r.try_get(2)?,
        source: r.try_get(3)?,
        ip: r.try_get(4)?,
        reason: r.try_get(5)?,
        order_ref: r.try_get(6)?,
        created_by: r.try_get(7)?,
        created_at_ns: r.try_get(8)?,
        released_at_ns: r.try_get(9)?,
        released_by: r.try_get(10)?,
        release_reason: r.try_get(11)?,
    })
}

const DELETION_COLS: &str = "id, segment_id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes, sha256, sources, created_at_ns, policy, cutoff_ns, run, deleted_at_ns, object_deleted_at_ns";

fn deletion_row(r: &Row) -> Result<(Deletion, String), tokio_postgres::Error> {
    let (segment, sources) = segment_at(r, 1)?;
    Ok((
        Deletion {
            id: r.try_get(0)?,
            segment,
            policy: r.try_get(13)?,
            cutoff_ns: r.try_get(14)?,
            run: r.try_get(15)?,
            deleted_at_ns: r.try_get(16)?,
            object_deleted_at_ns: r.try_get(17)?,
        },
        sources,
    ))
}

impl PgCatalog {
    async fn hold_in(
        &self,
        c: &impl GenericClient,
        id: i64,
        lock: &str,
    ) -> Result<Option<Hold>, CatalogError> {
        let r = c
            .query_opt(
                &self.q(&format!(
                    "SELECT {HOLD_COLS} FROM {{s}}.holds WHERE id = $1 {lock}"
                )),
                &[&id],
            )
            .await
            .map_err(self.err())?;
        r.as_ref().map(hold_row).transpose().map_err(self.err())
    }

    async fn holds_in(
        &self,
        c: &impl GenericClient,
        only_active: bool,
    ) -> Result<Vec<Hold>, CatalogError> {
        let filter = if only_active {
            "WHERE released_at_ns IS NULL"
        } else {
            ""
        };
        let rows = c
            .query(
                &self.q(&format!(
                    "SELECT {HOLD_COLS} FROM {{s}}.holds {filter} ORDER BY id"
                )),
                &[],
            )
            .await
            .map_err(self.err())?;
        rows.iter()
            .map(|r| hold_row(r).map_err(self.err()))
            .collect()
    }

    /// Stages an outbox row in the caller's transaction (as
    /// `pramaan_db::outbox::stage` does in SQLite).
    async fn stage(
        &self,
        tx: &impl GenericClient,
        source: &str,
        body: &str,
        watermark: u64,
    ) -> Result<(), CatalogError> {
        tx.execute(
            &self.q("INSERT INTO {s}.outbox (source, body, watermark, created_at_ns) VALUES ($1, $2, $3, $4)"),
            &[
                &source,
                &body.as_bytes(),
                &(watermark as i64),
                &pramaan_core::time::now_ns(),
            ],
        )
        .await
        .map_err(self.err())?;
        Ok(())
    }

    fn deletions_where(&self, filter: &str) -> Result<Vec<Deletion>, CatalogError> {
        let rows = self.block(async {
            let c = self.client().await?;
            c.query(
                &self.q(&format!(
                    "SELECT {DELETION_COLS} FROM {{s}}.deletions {filter} ORDER BY id"
                )),
                &[],
            )
            .await
            .map_err(self.err())
        })?;
        rows.iter()
            .map(|r| {
                let (mut d, sources) = deletion_row(r).map_err(self.err())?;
                d.segment.sources = serde_json::from_str(&sources)
                    .map_err(|e| Self::malformed(&d.segment.path, e))?;
                Ok(d)
            })
            .collect()
    }

    fn outbox_where(&self, filter: &str) -> Result<Vec<OutboxRow>, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &self.q(&format!(
                        "SELECT id, source, body, watermark, seq FROM {{s}}.outbox {filter} ORDER BY id"
                    )),
                    &[],
                )
                .await
                .map_err(self.err())?;
            rows.iter()
                .map(|r| {
                    Ok(OutboxRow {
                        id: r.try_get(0)?,
                        peer: r.try_get(1)?,
                        body: String::from_utf8_lossy(&r.try_get::<_, Vec<u8>>(2)?).into_owned(),
                        watermark: r.try_get::<_, i64>(3)? as u64,
                        seq: r.try_get::<_, Option<i64>>(4)?.map(|s| s as u64),
                    })
                })
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(self.err())
        })
    }
}

impl RetentionCatalog for PgCatalog {
    fn holds(&self) -> Result<Vec<Hold>, CatalogError> {
        self.block(async { self.holds_in(&*self.client().await?, false).await })
    }

    fn hold(&self, id: i64) -> Result<Option<Hold>, CatalogError> {
        self.block(async { self.hold_in(&*self.client().await?, id, "").await })
    }

    fn add_hold(
        &self,
        h: &NewHold,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Hold, CatalogError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(self.err())?;
            let id: i64 = tx
                .query_one(
                    &self.q(
                        "INSERT INTO {s}.holds (from_ns, to_ns, source, ip, reason, order_ref, created_by, created_at_ns)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    ),
                    &[
                        &h.from_ns,
                        &h.to_ns,
                        &h.source,
                        &h.ip,
                        &h.reason,
                        &h.order_ref,
                        &h.created_by,
                        &now_ns,
                    ],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(self.err())?;
            let hold = self.hold_in(&tx, id, "").await?.expect("just inserted");
            self.stage(&tx, peer, &body(&hold), watermark).await?;
            tx.commit().await.map_err(self.err())?;
            Ok(hold)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn release_hold(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now_ns: i64,
        peer: &str,
        watermark: u64,
        body: &dyn Fn(&Hold) -> String,
    ) -> Result<Released, CatalogError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(self.err())?;
            let Some(before) = self.hold_in(&tx, id, "FOR UPDATE").await? else {
                return Ok(Released::Unknown);
            };
            if !before.active() {
                return Ok(Released::AlreadyReleased(before));
            }
            tx.execute(
                &self.q("UPDATE {s}.holds SET released_at_ns = $2, released_by = $3, release_reason = $4 WHERE id = $1"),
                &[&id, &now_ns, &by, &reason],
            )
            .await
            .map_err(self.err())?;
            let hold = self.hold_in(&tx, id, "").await?.expect("exists");
            self.stage(&tx, peer, &body(&hold), watermark).await?;
            tx.commit().await.map_err(self.err())?;
            Ok(Released::Released(hold))
        })
    }

    fn retire_segment(
        &self,
        segment_id: i64,
        info: &RetireInfo,
        blocked: &dyn Fn(&[Hold]) -> Vec<i64>,
        record: &OutboxEntry,
    ) -> Result<Retired, CatalogError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(self.err())?;
            let exists = tx
                .query_opt(
                    &self.q("SELECT id FROM {s}.segments WHERE id = $1 FOR UPDATE"),
                    &[&segment_id],
                )
                .await
                .map_err(self.err())?
                .is_some();
            if !exists {
                return Ok(Retired::Gone);
            }
            tx.batch_execute(&self.q("LOCK TABLE {s}.holds IN SHARE MODE"))
                .await
                .map_err(self.err())?;
            let by = blocked(&self.holds_in(&tx, true).await?);
            if !by.is_empty() {
                return Ok(Retired::Held(by));
            }
            let deletion: i64 = tx
                .query_one(
                    &self.q(
                        "WITH gone AS (DELETE FROM {s}.segments WHERE id = $1 RETURNING *)
                         INSERT INTO {s}.deletions (segment_id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes,
                                                    sha256, sources, created_at_ns, policy, cutoff_ns, run, deleted_at_ns)
                         SELECT id, path, seq_min, seq_max, time_min_ns, time_max_ns, rows, bytes, raw_bytes,
                                sha256, sources, created_at_ns, $2, $3, $4, $5
                         FROM gone RETURNING id",
                    ),
                    &[
                        &segment_id,
                        &info.policy,
                        &info.cutoff_ns,
                        &info.run,
                        &info.deleted_at_ns,
                    ],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(self.err())?;
            self.stage(&tx, &record.peer, &record.body, record.watermark)
                .await?;
            tx.commit().await.map_err(self.err())?;
            Ok(Retired::Moved(deletion))
        })
    }

    fn pending_object_deletions(&self) -> Result<Vec<Deletion>, CatalogError> {
        self.deletions_where("WHERE object_deleted_at_ns IS NULL")
    }

    fn mark_object_deleted(&self, deletion_id: i64, at_ns: i64) -> Result<(), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                &self.q("UPDATE {s}.deletions SET object_deleted_at_ns = $2 WHERE id = $1 AND object_deleted_at_ns IS NULL"),
                &[&deletion_id, &at_ns],
            )
            .await
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn deletions(&self) -> Result<Vec<Deletion>, CatalogError> {
        self.deletions_where("")
    }

    fn deletion_counts(&self) -> Result<(usize, usize), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let r = c
                .query_one(
                    &self.q("SELECT COUNT(*), COUNT(*) - COUNT(object_deleted_at_ns) FROM {s}.deletions"),
                    &[],
                )
                .await
                .map_err(self.err())?;
            let (all, left): (i64, i64) = (
                r.try_get(0).map_err(self.err())?,
                r.try_get(1).map_err(self.err())?,
            );
            Ok((all as usize, left as usize))
        })
    }

    fn begin_run(&self, now_ns: i64, started_at_ns: i64) -> Result<i64, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.query_one(
                &self.q("INSERT INTO {s}.retention_runs (now_ns, started_at_ns) VALUES ($1, $2) RETURNING id"),
                &[&now_ns, &started_at_ns],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.err())
        })
    }

    fn finish_run(
        &self,
        id: i64,
        deleted: u64,
        held: u64,
        finished_at_ns: i64,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                &self.q("UPDATE {s}.retention_runs SET finished_at_ns = $2, deleted = $3, held = $4, error = $5 WHERE id = $1"),
                &[&id, &finished_at_ns, &(deleted as i64), &(held as i64), &error],
            )
            .await
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn last_run(&self) -> Result<Option<RunRow>, CatalogError> {
        self.block(async {
            let c = self.client().await?;
            let r = c
                .query_opt(
                    &self.q("SELECT id, now_ns, started_at_ns, finished_at_ns, deleted, held, error FROM {s}.retention_runs ORDER BY id DESC LIMIT 1"),
                    &[],
                )
                .await
                .map_err(self.err())?;
            r.map(|r| {
                Ok(RunRow {
                    id: r.try_get(0)?,
                    now_ns: r.try_get(1)?,
                    started_at_ns: r.try_get(2)?,
                    finished_at_ns: r.try_get(3)?,
                    deleted: r.try_get::<_, i64>(4)? as u64,
                    held: r.try_get::<_, i64>(5)? as u64,
                    error: r.try_get(6)?,
                })
            })
            .transpose()
            .map_err(self.err())
        })
    }

    fn outbox_pending(&self) -> Result<Vec<OutboxRow>, CatalogError> {
        self.outbox_where("WHERE seq IS NULL")
    }

    fn outbox(&self) -> Result<Vec<OutboxRow>, CatalogError> {
        self.outbox_where("")
    }

    fn outbox_rows(&self) -> Box<dyn outbox::Rows + '_> {
        Box::new(super::outbox::PgRows { catalog: self })
    }
}
