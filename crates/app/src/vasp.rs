//! Virtual asset service providers' operations: importing transactions
//! (each one a ledger record, kept in `<data_dir>/vasp.db`) and the trail
//! of funds, read only with a purpose and audited before it is answered.
//! The rules live in `pramaan_vasp`.

use crate::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{action, AuditEvent};
pub use pramaan_vasp::trail::{Edge, Node};
pub use pramaan_vasp::{Imported, Trail};
use pramaan_vasp::{Limits, Start, Store, StoreError, TransactionInput};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Most transactions one trail shows (the answer says when it was cut).
pub const MAX_TRAIL_EDGES: usize = 50_000;

/// The transaction store, opened at first use.
#[derive(Default)]
pub struct VaspState {
    store: Mutex<Option<Arc<Store>>>,
}

impl VaspState {
    pub(crate) fn store(&self, cfg: &pramaan_config::Config) -> Result<Arc<Store>, AppError> {
        let mut g = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = &*g {
            return Ok(s.clone());
        }
        let s = Arc::new(Store::open(&path(cfg)).map_err(|e| {
            tracing::error!(error = %e, "cannot open vasp.db");
            AppError::NotNow(format!("the transaction store cannot be opened: {e}"))
        })?);
        *g = Some(s.clone());
        Ok(s)
    }
}

/// `<data_dir>/vasp.db`.
pub fn path(cfg: &pramaan_config::Config) -> std::path::PathBuf {
    cfg.data_dir.join("vasp.db")
}

fn refused(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(m) => AppError::Conflict(m),
        StoreError::Ledger(_) => AppError::NotNow(e.to_string()),
        e => AppError::internal(e),
    }
}

/// `POST /api/v1/vasp/transactions`: a JSON array of transactions, all or
/// nothing; one sent again as stored is `unchanged`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImportTransactions {
    pub transactions: Vec<TransactionInput>,
}

impl Operation for ImportTransactions {
    type Output = Imported;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/vasp/transactions";

    async fn run(self, app: &App, who: &Caller) -> Result<Imported, AppError> {
        app.authorise::<Self>(who)?;
        let mut txs = Vec::with_capacity(self.transactions.len());
        let mut problems = Vec::new();
        for (i, t) in self.transactions.iter().enumerate() {
            match t.validate() {
                Ok(t) => txs.push(t),
                Err(errs) => problems.extend(errs.iter().map(|e| format!("record {}: {e}", i + 1))),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(20);
            return Err(AppError::Invalid(format!(
                "nothing imported: {n} bad fields: {}",
                problems.join("; ")
            )));
        }
        let store = app.vasp().store(app.config())?;
        let sink = app.sink();
        let out = store.import(txs, &*sink).await.map_err(refused)?;
        tracing::info!(actor = %who.name, added = out.added, unchanged = out.unchanged, "VASP transactions imported");
        Ok(out)
    }
}

/// `GET /api/v1/vasp/trail?customer=|wallet=|tx=&from=&to=&hops=&purpose=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrailQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    /// A chain transaction hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    /// The window: RFC 3339, a civil time in IST or an age (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Steps from the start (default 3, at most 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<u32>,
    /// Why (order or case reference); recorded before anything is read. Required.
    #[serde(default)]
    pub purpose: String,
}

/// A trail, and the audit record that preceded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrailAnswer {
    pub purpose: String,
    #[serde(flatten)]
    pub trail: Trail,
}

impl TrailQuery {
    fn parsed(&self) -> Result<(Start, Limits), AppError> {
        let bad = AppError::Invalid;
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let start = match (given(&self.customer), given(&self.wallet), given(&self.tx)) {
            (Some(c), None, None) => Start::Customer(c),
            // EVM addresses and hashes are stored lower-case.
            (None, Some(w), None) => Start::Wallet(if w.starts_with("0x") {
                w.to_ascii_lowercase()
            } else {
                w
            }),
            (None, None, Some(h)) => Start::Hash(if h.starts_with("0x") || h.len() == 64 {
                h.to_ascii_lowercase()
            } else {
                h
            }),
            _ => return Err(bad("give exactly one of customer=, wallet= and tx=".into())),
        };
        let now = pramaan_core::time::now_ns();
        let time = |v: &Option<String>, name: &str, default: i64| match given(v) {
            Some(t) => pramaan_core::time::parse_user_time(&t, now)
                .map_err(|e| bad(format!("{name}=: {e}"))),
            None => Ok(default),
        };
        let from_ns = time(&self.from, "from", i64::MIN)?;
        let to_ns = time(&self.to, "to", i64::MAX)?;
        if from_ns >= to_ns {
            return Err(bad("from= must be before to=".into()));
        }
        let hops = self.hops.unwrap_or(3);
        if hops > 10 {
            return Err(bad(format!("hops={hops}: at most 10")));
        }
        if self.purpose.trim().is_empty() {
            return Err(bad("purpose= is required: the order or case this trail is for (it is recorded in the audit trail)".into()));
        }
        Ok((
            start,
            Limits {
                from_ns,
                to_ns,
                hops,
                max_edges: MAX_TRAIL_EDGES,
            },
        ))
    }
}

impl Operation for TrailQuery {
    type Output = TrailAnswer;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/vasp/trail";

    async fn run(self, app: &App, who: &Caller) -> Result<TrailAnswer, AppError> {
        app.authorise::<Self>(who)?;
        let (start, limits) = self.parsed()?;
        let subject = match &start {
            Start::Customer(c) => format!("vasp trail: customer {c}"),
            Start::Wallet(w) => format!("vasp trail: wallet {w}"),
            Start::Hash(h) => format!("vasp trail: transaction {h}"),
        };
        let mut ev = AuditEvent::new(action::PERSONAL_DATA_READ, &who.name, &subject)
            .purpose(self.purpose.clone());
        ev.details.insert("hops".into(), limits.hops.into());
        app.audit_first(ev).await?;
        let store = app.vasp().store(app.config())?;
        let trail =
            tokio::task::spawn_blocking(move || pramaan_vasp::trail(&store, &start, limits))
                .await
                .map_err(AppError::internal)?
                .map_err(refused)?;
        Ok(TrailAnswer {
            purpose: self.purpose,
            trail,
        })
    }
}

/// Erases the transactions made more than `registry.retention_years` ago
/// in which no party is under an active legal hold of the register; a
/// ledger record (`transactions.erased`: how many, no one named) follows
/// any erasure. Their ledger records stay as long as the vault keeps them
/// (a retention class for `pramaan:vasp`).
pub async fn erase_expired(
    store: &Store,
    reg: &pramaan_registry::Registry,
    sink: &dyn pramaan_core::LedgerSink,
    actor: &str,
    now: i64,
) -> Result<u64, AppError> {
    let years = reg.retention_years();
    let before = crate::registry::years_before(now, years);
    let held: std::collections::HashSet<String> = reg
        .holds()
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .filter(|h| h.active())
        .map(|h| h.subscriber_id)
        .collect();
    let n = store.erase_before(before, &held).map_err(refused)?;
    if n > 0 {
        let body = serde_json::json!({
            "action": "transactions.erased", "actor": actor,
            "at": pramaan_core::time::rfc3339_utc(now),
            "transactions": n,
            "rule": format!("VASP transactions made more than {years} years ago, no party under a legal hold"),
        });
        let bytes = serde_json::to_vec(&body).map_err(AppError::internal)?;
        sink.append(pramaan_registry::SOURCE_REGISTRY, bytes)
            .await
            .map_err(AppError::internal)?;
        tracing::info!(
            transactions = n,
            "VASP transactions erased under the register's retention"
        );
    }
    Ok(n)
}
