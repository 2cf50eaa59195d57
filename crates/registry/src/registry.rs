//! The register as a service: writes (create, update, terminate, import),
//! audited reads, retention with legal holds and crypto-shredding, and master
//! key rotation, over any [`Store`]. Every change stages a `pramaan:registry`
//! ledger record in the store's outbox, in the change's own transaction, and
//! the flusher appends it exactly once (`pramaan_db::outbox`; erasure reports
//! keep their own report row and mark); every read of personal data appends
//! a `pramaan:audit` record before anything is decrypted. Neither ever
//! carries a personal field (only the external id, field names, dates and
//! counts).

use crate::crypto::{CryptoError, KeyRing, MasterKey};
use crate::model::{last_end, Personal, Subscriber};
use crate::store::{
    EraseOutcome, ErasureReport, Hold, PgStore, RowMeta, SqliteStore, Staged, Store, StoreError,
    StoredRow,
};
use pramaan_core::time::{now_ns, rfc3339_utc};
use pramaan_core::LedgerSink;
use pramaan_db::outbox;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The retention period the directions require: 5 years after the service ends.
pub const CERT_IN_YEARS: u32 = 5;
/// Ledger source of registry changes.
pub const SOURCE_REGISTRY: &str = "pramaan:registry";
/// Ledger source of reads of personal data.
pub const SOURCE_AUDIT: &str = "pramaan:audit";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("reading a subscriber's personal data needs a purpose or order reference (with at least one visible character)")]
    NoPurpose,
    #[error("no subscriber {0}")]
    NotFound(String),
    #[error("subscriber {0} exists with different data; update it instead (PUT)")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the ledger did not take the {what} record, so nothing was {done}: {source}")]
    Ledger {
        what: &'static str,
        done: &'static str,
        source: pramaan_core::SinkError,
    },
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("stored personal data of {0} does not decode: {1}")]
    Corrupt(String, String),
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A file of 64 hex digits, created (0600) at first use.
    File(PathBuf),
    /// The named environment variable holds 64 hex digits.
    Env(String),
    /// Given directly (tests, embedding).
    Key(MasterKey),
}

/// Which store.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub backend: Backend,
    pub master_key: KeySource,
    /// Years kept after the end of the last period of hire.
    pub retention_years: u32,
}

impl RegistryOptions {
    /// What the configuration asks for: `registry.url` (empty = SQLite at
    /// `<data_dir>/registry.db`), `registry.master_key_file` /
    /// `registry.master_key_env`, `registry.retention_years`.
    pub fn from_config(cfg: &pramaan_config::Config) -> Self {
        let r = &cfg.registry;
        let url = r.url.trim();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres {
                url: url.to_owned(),
                schema: "pramaan_registry".into(),
            }
        } else if let Some(p) = url.strip_prefix("sqlite:") {
            Backend::Sqlite(PathBuf::from(p))
        } else {
            Backend::Sqlite(cfg.data_dir.join("registry.db"))
        };
        let master_key = if !r.master_key_env.trim().is_empty() {
            KeySource::Env(r.master_key_env.trim().to_owned())
        } else {
            KeySource::File(
                r.master_key_file
                    .clone()
                    .unwrap_or_else(|| cfg.data_dir.join("registry").join("master.key")),
            )
        };
        RegistryOptions {
            backend,
            master_key,
            retention_years: u32::try_from(r.retention_years).unwrap_or(CERT_IN_YEARS),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum WriteOutcome {
    Created,
    /// The names of the fields that changed.
    Updated {
        fields: Vec<String>,
    },
    /// Same data as stored: nothing changed (idempotent repeat).
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create; an identical repeat is `Unchanged`, different data a conflict.
    Create,
    /// Replace an existing subscriber's data.
    Update,
    /// Create or replace (import).
    Upsert,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub dry_run: bool,
    /// Sequence number of the ledger record of the import.
    pub ledger_seq: Option<u64>,
}

/// The retention decision for the whole register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Past retention and not held: (subscriber, last end, retain until).
    pub expired: Vec<(String, i64, i64)>,
    /// Past retention but held: (subscriber, hold ids).
    pub held: Vec<(String, Vec<i64>)>,
    /// Still within retention or active.
    pub kept: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EraseRun {
    pub dry_run: bool,
    pub at_ns: i64,
    /// Erased (or, dry run, to be erased).
    pub erased: Vec<ErasureReport>,
    pub held: Vec<(String, Vec<i64>)>,
    pub kept: u64,
    /// IP bindings erased with them (and under the 5-year rule), when the
    /// run erased bindings too (`pramaan_app::registry::erase_expired`; not
    /// counted in a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings_erased: Option<u64>,
    /// VASP transactions erased with it (`None`: a dry run, or no VASP store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions_erased: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateReport {
    pub old_key_id: String,
    pub new_key_id: String,
    pub rewrapped: u64,
}

/// A subscriber's entry in the completeness list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incomplete {
    pub subscriber_id: String,
    pub missing: Vec<String>,
}

/// The end of retention: `last_end` plus `years` calendar years (UTC).
pub fn retain_until(last_end_ns: i64, years: u32) -> i64 {
    let ts = pramaan_core::time::ts(last_end_ns);
    ts.to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .map(|z| z.timestamp().as_nanosecond() as i64)
        .unwrap_or(i64::MAX)
}

/// Pure: which subscribers are past retention at `now`, and which of those
/// an active hold keeps.
pub fn decide(rows: &[RowMeta], holds: &[Hold], years: u32, now_ns: i64) -> Decision {
    let mut d = Decision::default();
    for r in rows {
        let Some(end) = r.last_end_ns else {
            d.kept += 1;
            continue;
        };
        let until = retain_until(end, years);
        if until > now_ns {
            d.kept += 1;
            continue;
        }
        let hs: Vec<i64> = holds
            .iter()
            .filter(|h| h.active() && h.subscriber_id == r.external_id)
            .map(|h| h.id)
            .collect();
        if hs.is_empty() {
            d.expired.push((r.external_id.clone(), end, until));
        } else {
            d.held.push((r.external_id.clone(), hs));
        }
    }
    d
}

/// The names of the personal fields that differ.
fn changed_fields(a: &Subscriber, b: &Subscriber) -> Vec<String> {
    let (x, y) = (&a.personal, &b.personal);
    let mut f = Vec::new();
    macro_rules! cmp {
        ($($name:ident),*) => { $( if x.$name != y.$name { f.push(stringify!($name).to_owned()); } )* };
    }
    cmp!(
        name,
        kyc_method,
        kyc_verified_at_ns,
        email,
        registration_ip,
        registration_at_ns,
        purpose,
        address,
        phones,
        ownership,
        owners,
        pan,
        bank_accounts,
        wallets
    );
    if a.periods != b.periods {
        f.push("periods".into());
    }
    f
}

/// The personal field names of a stored subscriber (for erasure reports).
const PERSONAL_FIELDS: [&str; 14] = [
    "name",
    "kyc_method",
    "kyc_verified_at",
    "email",
    "registration_ip",
    "registration_at",
    "purpose",
    "address",
    "phones",
    "ownership",
    "owners",
    "pan",
    "bank_accounts",
    "wallets",
];

/// What [`Registry::read_subscribers`] read.
#[derive(Debug)]
pub struct Reads {
    /// Sequence number of the first audit record of the write (`None`:
    /// nothing was asked for, so nothing was read or written).
    pub first_seq: Option<u64>,
    /// The distinct ids asked for, in order...
    pub ids: Vec<String>,
    /// ...and the subscriber each names, when registered.
    pub subscribers: Vec<Option<Subscriber>>,
}

pub struct Registry {
    store: Arc<dyn Store>,
    ring: RwLock<KeyRing>,
    key_source: KeySource,
    sink: Arc<dyn LedgerSink>,
    years: u32,
    /// Serialises erasure runs, holds, rotation and writes.
    lock: tokio::sync::Mutex<()>,
    /// Appends the `pramaan:registry` records the store's outbox holds.
    flusher: outbox::Flusher,
}

/// The store's outbox as the flusher sees it.
struct StoreRows<'a>(&'a dyn Store);

fn rows_err<T: Send + 'static>(f: crate::store::StoreFuture<'_, T>) -> outbox::RowsFuture<'_, T> {
    Box::pin(async move {
        f.await
            .map_err(|e| outbox::OutboxError::Store(e.to_string()))
    })
}

impl outbox::Rows for StoreRows<'_> {
    fn next_pending(&self, after: i64) -> outbox::RowsFuture<'_, Option<outbox::Pending>> {
        rows_err(self.0.outbox_next(after))
    }

    fn claimed<'a>(&'a self, row: &'a outbox::Pending, seq: u64) -> outbox::RowsFuture<'a, bool> {
        rows_err(self.0.outbox_claimed(row.clone(), seq))
    }

    fn mark<'a>(&'a self, row: &'a outbox::Pending, seq: u64) -> outbox::RowsFuture<'a, ()> {
        rows_err(self.0.outbox_mark(row.clone(), seq))
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.store.describe())
    }
}

fn next_path(p: &std::path::Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}

impl Registry {
    /// Opens the store the options name and loads (or, for a new file
    /// register, creates) the master key. Finishes a key rotation that a
    /// crash interrupted.
    pub async fn open(
        opts: RegistryOptions,
        sink: Arc<dyn LedgerSink>,
    ) -> Result<Self, RegistryError> {
        let store: Arc<dyn Store> = match &opts.backend {
            Backend::Sqlite(path) => {
                let path = path.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                        .await
                        .map_err(|e| StoreError::Other(e.to_string()))??,
                )
            }
            Backend::Postgres { url, schema } => Arc::new(PgStore::connect(url, schema).await?),
        };
        Self::with_store(store, opts.master_key, opts.retention_years, sink).await
    }

    /// Over a given store (tests use this for both backends).
    pub async fn with_store(
        store: Arc<dyn Store>,
        key_source: KeySource,
        years: u32,
        sink: Arc<dyn LedgerSink>,
    ) -> Result<Self, RegistryError> {
        let (ring, pending_next) = match &key_source {
            KeySource::Key(k) => (KeyRing::new(k.clone()), false),
            KeySource::Env(var) => {
                let v = std::env::var(var).map_err(|_| CryptoError::EnvUnset(var.clone()))?;
                (
                    KeyRing::new(MasterKey::from_hex(&v, &format!("in ${var}"))?),
                    false,
                )
            }
            KeySource::File(path) => {
                let next = next_path(path);
                let main_exists = path.exists();
                if !main_exists {
                    let n = store.count().await?;
                    if n > 0 {
                        return Err(RegistryError::MasterKey(format!(
                            "the key file {} is missing but the register ({}) holds {n} subscribers encrypted under a master key: restore the key file",
                            path.display(),
                            store.describe()
                        )));
                    }
                    let k = MasterKey::generate();
                    k.write_new_file(path)?;
                    tracing::info!(path = %path.display(), key_id = k.id(), "created the registry master key");
                    (KeyRing::new(k), false)
                } else {
                    let main = MasterKey::read_file(path)?;
                    if next.exists() {
                        // A rotation was interrupted: the next key becomes current.
                        let n = MasterKey::read_file(&next)?;
                        let mut ring = KeyRing::new(main);
                        ring.rotate_to(n);
                        (ring, true)
                    } else {
                        (KeyRing::new(main), false)
                    }
                }
            }
        };
        let reg = Registry {
            store,
            ring: RwLock::new(ring),
            key_source,
            sink,
            years,
            lock: tokio::sync::Mutex::new(()),
            flusher: outbox::Flusher::new("registry"),
        };
        // Records a crash left staged go now (found, not appended twice,
        // when the crash came between the append and the mark).
        reg.flush().await;
        if pending_next {
            let n = reg.rewrap_all().await?;
            reg.commit_next_file()?;
            tracing::warn!(
                rewrapped = n,
                "finished a registry master key rotation that had been interrupted"
            );
        }
        Ok(reg)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn retention_years(&self) -> u32 {
        self.years
    }

    pub fn master_key_id(&self) -> String {
        self.ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .current()
            .id()
            .to_owned()
    }

    /// A `pramaan:registry` record to stage with a change.
    fn staged(&self, body: serde_json::Value) -> Staged {
        Staged {
            source: SOURCE_REGISTRY.to_owned(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            watermark: self.sink.committed(),
        }
    }

    /// Appends the staged records not yet in the ledger, in order, exactly
    /// once; returns how many are still pending (a failure is logged once
    /// and retried at the next change or open).
    pub async fn flush(&self) -> u64 {
        let _ = self
            .flusher
            .flush(&StoreRows(&*self.store), &*self.sink)
            .await;
        self.pending().await
    }

    /// Records staged but not yet in the ledger.
    pub async fn pending(&self) -> u64 {
        self.store.outbox_pending().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "counting the registry's pending ledger records");
            0
        })
    }

    /// Flushes, then the sequence number of the staged record `r` once it is
    /// in the ledger (`None` while it is pending).
    async fn flushed_seq(&self, r: &Staged) -> Option<u64> {
        self.flush().await;
        self.sink
            .find(&r.source, &r.body, r.watermark)
            .await
            .ok()
            .and_then(|v| v.first().copied())
    }

    async fn record(
        &self,
        source: &'static str,
        what: &'static str,
        done: &'static str,
        body: serde_json::Value,
    ) -> Result<u64, RegistryError> {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.sink
            .append(source, bytes)
            .await
            .map_err(|source| RegistryError::Ledger { what, done, source })
    }

    fn seal(
        &self,
        s: &Subscriber,
        prev: Option<&StoredRow>,
        now: i64,
    ) -> Result<StoredRow, RegistryError> {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let (key_id, wrapped, dk) = match prev {
            Some(p) => (
                p.key_id.clone(),
                p.wrapped_key.clone(),
                ring.unwrap_key(&p.external_id, &p.key_id, &p.wrapped_key)?,
            ),
            None => {
                let dk = KeyRing::new_data_key();
                let (kid, w) = ring.wrap(&s.external_id, &dk)?;
                (kid, w, dk)
            }
        };
        let plain = serde_json::to_vec(&s.personal)
            .map_err(|e| RegistryError::Corrupt(s.external_id.clone(), e.to_string()))?;
        let sealed = dk.seal(&s.external_id, &plain)?;
        Ok(StoredRow {
            external_id: s.external_id.clone(),
            periods: s.periods.clone(),
            last_end_ns: s.last_end_ns(),
            missing: s.missing().into_iter().map(str::to_owned).collect(),
            key_id,
            wrapped_key: wrapped,
            sealed,
            created_at_ns: prev.map(|p| p.created_at_ns).unwrap_or(now),
            updated_at_ns: now,
        })
    }

    fn unseal(&self, r: &StoredRow) -> Result<Subscriber, RegistryError> {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let dk = ring.unwrap_key(&r.external_id, &r.key_id, &r.wrapped_key)?;
        let plain = dk.open(&r.external_id, &r.sealed)?;
        let personal: Personal = serde_json::from_slice(&plain)
            .map_err(|e| RegistryError::Corrupt(r.external_id.clone(), e.to_string()))?;
        Ok(Subscriber {
            external_id: r.external_id.clone(),
            periods: r.periods.clone(),
            personal,
        })
    }

    /// Creates, updates or upserts one subscriber (the HTTP API's create and
    /// update). Idempotent: the same data again is [`WriteOutcome::Unchanged`].
    pub async fn write(
        &self,
        s: Subscriber,
        mode: WriteMode,
        actor: &str,
    ) -> Result<WriteOutcome, RegistryError> {
        let _g = self.lock.lock().await;
        let now = now_ns();
        let prev = self.store.get(&s.external_id).await?;
        let outcome = match (&prev, mode) {
            (None, WriteMode::Update) => return Err(RegistryError::NotFound(s.external_id)),
            (None, _) => WriteOutcome::Created,
            (Some(p), mode) => {
                let old = self.unseal(p)?;
                let fields = changed_fields(&old, &s);
                // "unchanged" or "exists with other data" tells the caller
                // whether the personal data they sent is what is stored: a
                // read, audited like one before it is answered.
                if fields.is_empty() || mode == WriteMode::Create {
                    let same = fields.is_empty();
                    self.audit_compared(
                        actor,
                        &[s.external_id.as_str()],
                        same as u64,
                        !same as u64,
                        false,
                        now,
                    )
                    .await?;
                    if same {
                        return Ok(WriteOutcome::Unchanged);
                    }
                    return Err(RegistryError::Conflict(s.external_id));
                }
                WriteOutcome::Updated { fields }
            }
        };
        let row = self.seal(&s, prev.as_ref(), now)?;
        // The change and its record in one transaction, then the record is
        // appended (exactly once: `pramaan_db::outbox`).
        let (action, fields) = match &outcome {
            WriteOutcome::Created => ("registry.created", Vec::new()),
            WriteOutcome::Updated { fields } => ("registry.updated", fields.clone()),
            WriteOutcome::Unchanged => ("registry.unchanged", Vec::new()),
        };
        let record = self.staged(serde_json::json!({
            "action": action, "actor": actor, "at": rfc3339_utc(now),
            "subject": s.external_id, "fields": fields,
            "missing": row.missing, "last_period_end": row.last_end_ns.map(rfc3339_utc),
        }));
        self.store.put_many(vec![row], Some(record)).await?;
        self.flush().await;
        Ok(outcome)
    }

    /// The audit record of a comparison of sent personal data with the
    /// stored (a create or import that found the subscriber, a dry run):
    /// who, which subscribers (up to 1,000 named, all in the SHA-256), how
    /// many were the same. Appended before the answer says anything.
    async fn audit_compared(
        &self,
        actor: &str,
        ids: &[&str],
        same: u64,
        differ: u64,
        dry_run: bool,
        now: i64,
    ) -> Result<u64, RegistryError> {
        let mut h = Sha256::new();
        for id in ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        let mut body = serde_json::json!({
            "action": "registry.compared", "actor": actor, "at": rfc3339_utc(now),
            "compared": ids.len(), "same": same, "different": differ, "dry_run": dry_run,
            "subjects_sha256": hex::encode(h.finalize()),
        });
        if ids.len() == 1 {
            body["subject"] = ids[0].into();
        }
        if ids.len() <= 1000 {
            body["subjects"] = ids.into();
        }
        self.record(SOURCE_AUDIT, "audit", "answered", body).await
    }

    /// Ends the open period of hire at `at_ns`. Idempotent: a subscriber with
    /// no open period is left as it is (`Unchanged`).
    pub async fn terminate(
        &self,
        external_id: &str,
        at_ns: i64,
        actor: &str,
    ) -> Result<(WriteOutcome, Vec<crate::model::Period>), RegistryError> {
        let _g = self.lock.lock().await;
        let now = now_ns();
        let mut row = self
            .store
            .get(external_id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(external_id.to_owned()))?;
        let Some(open) = row.periods.iter_mut().find(|p| p.to_ns.is_none()) else {
            return Ok((WriteOutcome::Unchanged, row.periods));
        };
        if at_ns <= open.from_ns {
            return Err(RegistryError::Invalid(format!(
                "the end ({}) is not after the start of the open period ({})",
                rfc3339_utc(at_ns),
                rfc3339_utc(open.from_ns)
            )));
        }
        open.to_ns = Some(at_ns);
        row.last_end_ns = last_end(&row.periods);
        row.updated_at_ns = now;
        let record = self.staged(serde_json::json!({
            "action": "registry.terminated", "actor": actor, "at": rfc3339_utc(now),
            "subject": external_id, "period_end": rfc3339_utc(at_ns),
            "retain_until": row.last_end_ns.map(|e| rfc3339_utc(retain_until(e, self.years))),
        }));
        let periods = row.periods.clone();
        self.store.put_many(vec![row], Some(record)).await?;
        self.flush().await;
        Ok((
            WriteOutcome::Updated {
                fields: vec!["periods".into()],
            },
            periods,
        ))
    }

    /// Imports validated subscribers (create or replace by external id), all
    /// or nothing in one transaction. `progress(done)` counts subscribers
    /// prepared. A dry run changes nothing and says what would change.
    pub async fn import(
        &self,
        subs: Vec<Subscriber>,
        actor: &str,
        dry_run: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportSummary, RegistryError> {
        let _g = self.lock.lock().await;
        let now = now_ns();
        let mut sum = ImportSummary {
            dry_run,
            ..ImportSummary::default()
        };
        let mut rows = Vec::with_capacity(subs.len());
        let mut ids_hash = Sha256::new();
        let mut done = 0u64;
        // Subscribers found, whose stored data was compared with the sent.
        let mut compared: Vec<&str> = Vec::new();
        for chunk in subs.chunks(1000) {
            let prev = self
                .store
                .get_many(chunk.iter().map(|s| s.external_id.clone()).collect())
                .await?;
            let prev: std::collections::HashMap<&str, &StoredRow> =
                prev.iter().map(|r| (r.external_id.as_str(), r)).collect();
            for s in chunk {
                let p = prev.get(s.external_id.as_str()).copied();
                match p {
                    None => sum.created += 1,
                    Some(p) => {
                        compared.push(s.external_id.as_str());
                        if changed_fields(&self.unseal(p)?, s).is_empty() {
                            sum.unchanged += 1;
                            continue;
                        }
                        sum.updated += 1;
                    }
                }
                ids_hash.update(s.external_id.as_bytes());
                ids_hash.update(b"\n");
                if !dry_run {
                    rows.push(self.seal(s, p, now)?);
                }
            }
            done += chunk.len() as u64;
            progress(done);
        }
        if !compared.is_empty() {
            self.audit_compared(actor, &compared, sum.unchanged, sum.updated, dry_run, now)
                .await?;
        }
        if dry_run || rows.is_empty() {
            return Ok(sum);
        }
        let record = self.staged(serde_json::json!({
            "action": "registry.imported", "actor": actor, "at": rfc3339_utc(now),
            "created": sum.created, "updated": sum.updated, "unchanged": sum.unchanged,
            "subjects_sha256": hex::encode(ids_hash.finalize()),
        }));
        self.store.put_many(rows, Some(record.clone())).await?;
        sum.ledger_seq = self.flushed_seq(&record).await;
        Ok(sum)
    }

    /// Reads one subscriber's personal data. `purpose` (the reason, or the
    /// order's reference) is required; a `pramaan:audit` record (actor,
    /// subscriber, purpose, whether found) is appended and durable BEFORE
    /// anything is returned. `Ok(None)`: no such subscriber (also audited).
    pub async fn read_subscriber(
        &self,
        external_id: &str,
        purpose: &str,
        actor: &str,
    ) -> Result<Option<Subscriber>, RegistryError> {
        let mut r = self
            .read_subscribers(&[external_id], purpose, actor, Vec::new())
            .await?;
        Ok(r.subscribers.pop().flatten())
    }

    /// Reads several subscribers for one purpose with a single ledger
    /// write: the `lead` records (the act that named them, e.g. a whois
    /// lookup's audit record) and then one `registry.read` record per
    /// distinct id are appended together as `pramaan:audit` records, and
    /// only then is anything decrypted. Returns the first record's sequence
    /// number and, per distinct id in order, the subscriber if found.
    pub async fn read_subscribers(
        &self,
        ids: &[&str],
        purpose: &str,
        actor: &str,
        lead: Vec<Vec<u8>>,
    ) -> Result<Reads, RegistryError> {
        let purpose = pramaan_core::purpose::checked(purpose).ok_or(RegistryError::NoPurpose)?;
        let mut distinct: Vec<&str> = Vec::with_capacity(ids.len());
        for id in ids {
            if !distinct.contains(id) {
                distinct.push(id);
            }
        }
        // One store round trip for all of them (one blocking task or query).
        let mut found: std::collections::HashMap<String, StoredRow> = if distinct.is_empty() {
            Default::default()
        } else {
            self.store
                .get_many(distinct.iter().map(|s| (*s).to_owned()).collect())
                .await?
                .into_iter()
                .map(|r| (r.external_id.clone(), r))
                .collect()
        };
        let mut rows = Vec::with_capacity(distinct.len());
        let mut bodies = lead;
        let at = rfc3339_utc(now_ns());
        for id in &distinct {
            let row = found.remove(*id);
            bodies.push(
                serde_json::to_vec(&serde_json::json!({
                    "action": "registry.read", "actor": actor, "at": at,
                    "purpose": purpose, "subject": id, "found": row.is_some(),
                }))
                .unwrap_or_default(),
            );
            rows.push(row);
        }
        let first_seq = if bodies.is_empty() {
            None
        } else {
            Some(
                self.sink
                    .append_all(SOURCE_AUDIT, bodies)
                    .await
                    .map_err(|source| RegistryError::Ledger {
                        what: "audit",
                        done: "read",
                        source,
                    })?,
            )
        };
        let subscribers = rows
            .iter()
            .map(|r| r.as_ref().map(|r| self.unseal(r)).transpose())
            .collect::<Result<_, _>>()?;
        Ok(Reads {
            first_seq,
            ids: distinct.into_iter().map(str::to_owned).collect(),
            subscribers,
        })
    }

    /// Subscribers missing a field the directions require (names only).
    pub async fn completeness(&self) -> Result<Vec<Incomplete>, RegistryError> {
        Ok(self
            .store
            .list_meta()
            .await?
            .into_iter()
            .filter(|m| !m.missing.is_empty())
            .map(|m| Incomplete {
                subscriber_id: m.external_id,
                missing: m.missing,
            })
            .collect())
    }

    pub async fn count(&self) -> Result<u64, RegistryError> {
        Ok(self.store.count().await?)
    }

    /// What retention would do at `now`.
    pub async fn decide(&self, now: i64) -> Result<Decision, RegistryError> {
        let rows = self.store.list_meta().await?;
        let holds = self.store.holds().await?;
        Ok(decide(&rows, &holds, self.years, now))
    }

    /// Erases every subscriber past retention that no hold keeps: the row
    /// and its wrapped data key are deleted (crypto-shredding) and an erasure
    /// report kept, in one transaction that re-checks the holds; then the
    /// report goes to the ledger. Reports whose ledger record a crash
    /// prevented are appended first.
    pub async fn erase_expired(
        &self,
        now: i64,
        dry_run: bool,
        actor: &str,
    ) -> Result<EraseRun, RegistryError> {
        let _g = self.lock.lock().await;
        if !dry_run {
            self.report_pending(actor).await?;
        }
        let d = self.decide(now).await?;
        let mut run = EraseRun {
            dry_run,
            at_ns: now,
            held: d.held,
            kept: d.kept,
            erased: Vec::new(),
            bindings_erased: None,
            transactions_erased: None,
        };
        let key_ids: std::collections::HashMap<String, String> = if dry_run {
            Default::default()
        } else {
            self.store
                .list_meta()
                .await?
                .into_iter()
                .map(|m| (m.external_id, m.key_id))
                .collect()
        };
        for (id, end, until) in d.expired {
            let report = ErasureReport {
                id: 0,
                subscriber_id: id.clone(),
                erased_at_ns: now,
                last_end_ns: end,
                retain_until_ns: until,
                key_id: key_ids.get(&id).cloned().unwrap_or_default(),
                fields: PERSONAL_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
                reason: format!(
                    "retention: {} years after the last period of hire ended",
                    self.years
                ),
                ledger_seq: None,
            };
            if dry_run {
                run.erased.push(report);
                continue;
            }
            match self.store.erase(report).await? {
                EraseOutcome::Erased(mut r) => {
                    let seq = self.report_erasure(&r, actor).await?;
                    self.store.mark_reported(r.id, seq).await?;
                    r.ledger_seq = Some(seq);
                    run.erased.push(r);
                }
                EraseOutcome::Held(h) => run.held.push((id, h)),
                EraseOutcome::Gone => {}
            }
        }
        if !dry_run && !run.erased.is_empty() {
            self.store.scrub().await?;
        }
        Ok(run)
    }

    async fn report_erasure(&self, r: &ErasureReport, actor: &str) -> Result<u64, RegistryError> {
        self.record(
            SOURCE_REGISTRY,
            "erasure",
            "reported (the subscriber is erased; the report is appended at the next run)",
            serde_json::json!({
                "action": "registry.erased", "actor": actor, "at": rfc3339_utc(r.erased_at_ns),
                "subject": r.subscriber_id, "report": r.id,
                "last_period_end": rfc3339_utc(r.last_end_ns),
                "retain_until": rfc3339_utc(r.retain_until_ns),
                "destroyed": { "data_key_wrapped_by": r.key_id, "fields": r.fields },
                "reason": r.reason,
            }),
        )
        .await
    }

    /// Appends the ledger records of erasure reports that have none.
    async fn report_pending(&self, actor: &str) -> Result<(), RegistryError> {
        for r in self.store.erasure_reports().await? {
            if r.ledger_seq.is_none() {
                let seq = self.report_erasure(&r, actor).await?;
                self.store.mark_reported(r.id, seq).await?;
            }
        }
        Ok(())
    }

    pub async fn erasure_reports(&self) -> Result<Vec<ErasureReport>, RegistryError> {
        Ok(self.store.erasure_reports().await?)
    }

    /// Puts a legal hold on a subscriber: erasure skips them until released.
    pub async fn add_hold(
        &self,
        subscriber_id: &str,
        reason: &str,
        order_ref: &str,
        by: &str,
    ) -> Result<Hold, RegistryError> {
        if reason.trim().is_empty() || order_ref.trim().is_empty() {
            return Err(RegistryError::Invalid(
                "a hold needs a reason and an order reference".into(),
            ));
        }
        let _g = self.lock.lock().await;
        let now = now_ns();
        let record = self.staged(serde_json::json!({
            "action": "registry.hold_added", "actor": by, "at": rfc3339_utc(now),
            "subject": subscriber_id, "reason": reason, "order_ref": order_ref,
        }));
        let hold = self
            .store
            .add_hold(
                Hold {
                    id: 0,
                    subscriber_id: subscriber_id.to_owned(),
                    reason: reason.to_owned(),
                    order_ref: order_ref.to_owned(),
                    created_by: by.to_owned(),
                    created_at_ns: now,
                    released_at_ns: None,
                    released_by: None,
                    release_reason: None,
                },
                record,
            )
            .await?;
        self.flush().await;
        Ok(hold)
    }

    pub async fn release_hold(
        &self,
        id: i64,
        by: &str,
        reason: &str,
    ) -> Result<Hold, RegistryError> {
        let _g = self.lock.lock().await;
        let now = now_ns();
        // The record names the subscriber; an unknown hold is refused by
        // the store (and nothing is staged).
        let subject = self
            .store
            .holds()
            .await?
            .into_iter()
            .find(|h| h.id == id)
            .map(|h| h.subscriber_id)
            .unwrap_or_default();
        let record = self.staged(serde_json::json!({
            "action": "registry.hold_released", "actor": by, "at": rfc3339_utc(now),
            "subject": subject, "hold": id, "reason": reason,
        }));
        let h = self
            .store
            .release_hold(id, by.to_owned(), reason.to_owned(), now, record)
            .await?;
        self.flush().await;
        Ok(h)
    }

    pub async fn holds(&self) -> Result<Vec<Hold>, RegistryError> {
        Ok(self.store.holds().await?)
    }

    /// Re-wraps every data key not under the current master key.
    async fn rewrap_all(&self) -> Result<u64, RegistryError> {
        let rows = self.store.wrapped_keys().await?;
        let mut out = Vec::new();
        {
            let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
            let cur = ring.current().id().to_owned();
            for (id, kid, w) in rows {
                if kid == cur {
                    continue;
                }
                let dk = ring.unwrap_key(&id, &kid, &w)?;
                let (nk, nw) = ring.wrap(&id, &dk)?;
                out.push((id, nk, nw));
            }
        }
        let n = out.len() as u64;
        self.store.rewrap(out).await?;
        Ok(n)
    }

    fn commit_next_file(&self) -> Result<(), RegistryError> {
        if let KeySource::File(path) = &self.key_source {
            let next = next_path(path);
            std::fs::rename(&next, path).map_err(|e| {
                RegistryError::MasterKey(format!(
                    "renaming {} to {}: {e}",
                    next.display(),
                    path.display()
                ))
            })?;
            crate::crypto::sync_dir(path).map_err(|e| RegistryError::MasterKey(e.to_string()))?;
        }
        Ok(())
    }

    /// Rotates the master key: every data key is re-wrapped under a new one.
    /// With a key file, the new key is generated, written beside the old
    /// (`master.key.next`), every row re-wrapped in one transaction, then
    /// renamed over the old key (a crash in between is finished at the next
    /// open). With a key from the environment, `new` must be given, and the
    /// variable must hold it from then on.
    pub async fn rotate_key(
        &self,
        new: Option<MasterKey>,
        actor: &str,
    ) -> Result<RotateReport, RegistryError> {
        let _g = self.lock.lock().await;
        let old_id = self.master_key_id();
        let new = match (&self.key_source, new) {
            (_, Some(k)) => k,
            (KeySource::File(_), None) => MasterKey::generate(),
            (KeySource::Env(var), None) => {
                return Err(RegistryError::MasterKey(format!(
                    "the master key comes from ${var}: give the new key (64 hex digits) to rotate to, then put it in ${var}"
                )))
            }
            (KeySource::Key(_), None) => MasterKey::generate(),
        };
        if new.id() == old_id {
            return Err(RegistryError::MasterKey(
                "the new master key is the current one".into(),
            ));
        }
        if let KeySource::File(path) = &self.key_source {
            let next = next_path(path);
            let _ = std::fs::remove_file(&next);
            new.write_new_file(&next)?;
        }
        let new_id = new.id().to_owned();
        self.ring
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .rotate_to(new.clone());
        let n = self.rewrap_all().await?;
        self.commit_next_file()?;
        // Only the new key is needed from now on.
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = KeyRing::new(new);
        self.record(
            SOURCE_REGISTRY,
            "key rotation",
            "recorded (the keys are rotated)",
            serde_json::json!({
                "action": "registry.key_rotated", "actor": actor, "at": rfc3339_utc(now_ns()),
                "old_key_id": old_id, "new_key_id": new_id, "rewrapped": n,
            }),
        )
        .await?;
        Ok(RotateReport {
            old_key_id: old_id,
            new_key_id: new_id,
            rewrapped: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, end: Option<i64>) -> RowMeta {
        RowMeta {
            external_id: id.into(),
            last_end_ns: end,
            missing: vec![],
            key_id: "k".into(),
        }
    }

    #[test]
    fn retention_is_calendar_years_after_the_last_end() {
        let end = crate::model::parse_instant("2020-02-29T00:00:00Z").unwrap();
        assert_eq!(rfc3339_utc(retain_until(end, 5)), "2025-02-28T00:00:00Z");
        let holds = vec![Hold {
            id: 9,
            subscriber_id: "b".into(),
            reason: "r".into(),
            order_ref: "o".into(),
            created_by: "x".into(),
            created_at_ns: 0,
            released_at_ns: None,
            released_by: None,
            release_reason: None,
        }];
        let rows = [
            meta("a", Some(end)),
            meta("b", Some(end)),
            meta("c", None),
            meta("d", Some(end + 1)),
        ];
        let at = retain_until(end, 5);
        let d = decide(&rows, &holds, 5, at);
        assert_eq!(d.expired, vec![("a".to_owned(), end, at)]);
        assert_eq!(d.held, vec![("b".to_owned(), vec![9])]);
        assert_eq!(d.kept, 2);
        // One nanosecond earlier nothing is due.
        assert!(decide(&rows, &holds, 5, at - 1).expired.is_empty());
    }
}
