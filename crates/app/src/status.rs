//! How the vault stands ([`Status`]): records committed and sealed,
//! segments, the memtable, ingest errors, storage, retention's compliance,
//! each component's outbox backlog and the ledger. The same answer from
//! `GET /api/v1/status` and from `pramaan status` on the data directory.

use crate::{App, AppError, Caller, Operation};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering::Relaxed;

/// `GET /api/v1/status`.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Status {}

/// The answer (the server adds its process's `heap`).
#[derive(Serialize, Deserialize, Debug)]
pub struct Report {
    pub committed_records: u64,
    pub sealed_through: Option<u64>,
    pub segments: usize,
    pub segment_bytes: u64,
    pub raw_bytes_sealed: u64,
    pub memtable_rows: u64,
    pub memtable_bytes: u64,
    pub oldest_received_at: Option<String>,
    pub newest_sealed_received_at: Option<String>,
    pub unparsable_lines: u64,
    pub wal_errors: u64,
    pub seal_errors: u64,
    /// `storage_full`, `storage_full_reason`, `lines_refused_storage_full`.
    #[serde(flatten)]
    pub storage: pramaan_vault::full::StorageStatus,
    /// Policy, compliance, holds and the latest run.
    pub retention: serde_json::Value,
    /// Per component, its records not yet in the ledger (`pramaan_db::outbox`).
    pub outbox: serde_json::Value,
    pub ledger: Option<pramaan_vault::ledger::LedgerStatus>,
    /// Where sealed evidence is kept and how far sealing is behind.
    pub store: Store,
    /// The allocator's account of the answering process's heap (absent
    /// where the binary cannot read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<serde_json::Value>,
}

impl Operation for Status {
    type Output = Report;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/status";

    async fn run(self, app: &App, who: &Caller) -> Result<Report, AppError> {
        app.authorise::<Self>(who)?;
        let vault = app.vault();
        let snap = vault.snapshot().await;
        let (rows, bytes) = vault.memtable_size();
        let s = vault.stats();
        let first = snap.segments.first().map(|s| s.time_min_ns);
        let last = snap.segments.last().map(|s| s.time_max_ns);
        Ok(Report {
            committed_records: vault.committed(),
            sealed_through: vault.sealed_through(),
            segments: snap.segments.len(),
            segment_bytes: snap.segments.iter().map(|s| s.bytes).sum(),
            raw_bytes_sealed: snap.segments.iter().map(|s| s.raw_bytes).sum(),
            memtable_rows: rows,
            memtable_bytes: bytes,
            oldest_received_at: first.map(pramaan_core::time::rfc3339_ist),
            newest_sealed_received_at: last.map(pramaan_core::time::rfc3339_ist),
            unparsable_lines: s.unparsable.load(Relaxed),
            wal_errors: s.wal_errors.load(Relaxed),
            seal_errors: s.seal_errors.load(Relaxed),
            storage: vault.storage(),
            retention: retention_json(app),
            outbox: outbox_json(app).await,
            ledger: vault.ledger().map(|l| l.status(vault.committed())),
            store: Store::of(vault),
            heap: None,
        })
    }
}

/// Where sealed evidence (segments, tiles, checkpoints) is kept.
#[derive(Serialize, Deserialize, Debug)]
pub struct Store {
    /// `file:///dir` or `s3://bucket/prefix`.
    pub url: String,
    /// The S3 server (a password redacted); empty for a directory or AWS.
    pub endpoint: String,
    /// In a bucket rather than on this machine's disk.
    pub remote: bool,
    /// The catalog of sealed segments: `sqlite:PATH` or
    /// `postgres://user@host:port/db (schema S)` (no password).
    pub catalog: String,
    /// Records committed (durable in the WAL) but not yet in a sealed
    /// segment: what sealing has still to write to the store.
    pub unsealed_records: u64,
    /// Where the store is (`storage.location`), and whether the bucket's
    /// own answer agrees (`verdict`: `mismatch` is red).
    pub location: pramaan_vault::objects::region::LocationCheck,
    /// `compliance` when every segment, full tile and checkpoint is kept
    /// under the bucket's Object Lock (checked enabled at start), or `off`.
    pub object_lock: String,
    /// Requests to the store since start and those that failed (after the
    /// client's own retries: up to 4 within 30 s for a bucket; a failed
    /// seal is then retried by the sealer, counted in `seal_errors`), with
    /// the latest failure in the store's words.
    pub requests: pramaan_vault::objects::counted::StoreCounts,
}

impl Store {
    /// The store of `vault` as the status and the console's settings show it.
    pub fn of(vault: &pramaan_vault::Vault) -> Store {
        let o = vault.objects();
        let sealed = vault.sealed_through().map_or(0, |s| s + 1);
        Store {
            url: o.url().to_owned(),
            endpoint: o.endpoint().to_owned(),
            remote: o.is_remote(),
            catalog: vault.catalog().describe(),
            unsealed_records: vault.committed().saturating_sub(sealed),
            location: o.location().clone(),
            object_lock: if o.object_lock().is_some() {
                "compliance"
            } else {
                "off"
            }
            .into(),
            requests: o.requests().counts(),
        }
    }
}

/// Retention's policy, compliance, holds and latest run.
pub fn retention_json(app: &App) -> serde_json::Value {
    let policy = app.retention().policy();
    match pramaan_vault::retention::RetentionStatus::read(&*app.vault().catalog(), policy) {
        Ok(s) => serde_json::to_value(s).unwrap_or_default(),
        Err(e) => {
            tracing::error!(error = %e, "reading retention status");
            serde_json::json!({ "compliant": policy.compliant(), "error": "see the server log" })
        }
    }
}

/// Each component's records not yet in the ledger (`null`: not known
/// without opening it, e.g. a register on PostgreSQL not used yet).
pub async fn outbox_json(app: &App) -> serde_json::Value {
    let orders_db = app.config().data_dir.join("orders.db");
    serde_json::json!({
        "desk": app.desk().desk().ok().map(|d| d.pending()),
        "orders": pramaan_orders::store::pending_in(&orders_db).ok(),
        "registry": app.registry().pending().await,
        "retention": app.retention().outbox_pending().ok(),
        "clock": app.clock().pending(),
    })
}
