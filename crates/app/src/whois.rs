//! IP attribution's operations: `whois` (who held an address, and port, at
//! an instant, with each holder's registered details joined in; audited
//! before anything is answered), the store's figures, and the bulk import
//! of a bindings CSV (audited before anything is stored).
//!
//! The lookup, the CSV checks and the stores live in `pramaan_attribution`;
//! the log feeder that fills the store from the vault runs in `serve`.

use crate::{App, AppError, Caller, Operation};
use pramaan_attribution::index::Index;
use pramaan_attribution::parse::Parser;
use pramaan_attribution::{
    Answer, BindingStore, CsvChecker, ImportError, ImportReport, SourceRule, Sources, StoreError,
    WhoisError,
};
use pramaan_auth::audit::AuditEvent;
use pramaan_config::Config;
use pramaan_registry::RegistryError;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

/// The attribution store and its settings, the store opened at first use.
pub struct Attribution {
    data_dir: std::path::PathBuf,
    url: String,
    /// `attribution.max_session`: a session whose Stop never came ends here.
    pub max_session: Duration,
    /// `syslog.default_timezone`: the offset of times without one.
    pub default_offset: i32,
    /// `attribution.sources`: whose lines the parsers read.
    pub sources: Sources,
    /// `attribution.import_max_body`.
    pub import_max_body: u64,
    /// `radius.max_clock_skew`: how far a NAS's Event-Timestamp may be off.
    pub radius_max_skew: Duration,
    store: tokio::sync::OnceCell<Arc<dyn BindingStore>>,
}

/// `attribution.sources` as the feeder matches them.
pub fn sources(cfg: &Config) -> Sources {
    Sources::new(
        cfg.attribution
            .sources
            .iter()
            .map(|s| SourceRule {
                peer: s.peer,
                host: s.host.clone(),
                app: s.app.clone(),
                file: s.file.clone(),
                parsers: s
                    .parsers
                    .iter()
                    .filter_map(|p| Parser::from_name(p))
                    .collect(),
            })
            .collect(),
    )
}

impl Attribution {
    pub fn new(cfg: &Config) -> Attribution {
        Attribution {
            data_dir: cfg.data_dir.clone(),
            url: cfg.registry.url.clone(),
            max_session: cfg.attribution.max_session,
            default_offset: cfg.syslog.default_timezone,
            sources: sources(cfg),
            import_max_body: cfg.attribution.import_max_body,
            radius_max_skew: cfg.radius.max_clock_skew,
            store: tokio::sync::OnceCell::new(),
        }
    }

    /// The store: PostgreSQL when `registry.url` is `postgres://...`, else
    /// the embedded one in `<data_dir>/attribution`.
    pub async fn store(&self) -> Result<Arc<dyn BindingStore>, StoreError> {
        self.store
            .get_or_try_init(|| pramaan_attribution::open_store(&self.data_dir, Some(&self.url)))
            .await
            .cloned()
    }
}

async fn store(app: &App) -> Result<Arc<dyn BindingStore>, AppError> {
    app.attribution().store().await.map_err(AppError::internal)
}

/// `GET /api/v1/whois?ip=&port=&at=&purpose=`: the fields as a person
/// types them (the console's form, the CLI's arguments), checked here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Whois {
    /// IPv4 or IPv6; an IPv6 address is matched against the prefixes holding it.
    #[serde(default)]
    pub ip: String,
    /// The port (public side of a CGNAT); empty or absent: every holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// RFC 3339 with an offset, a civil time in IST, or an age like 2h.
    #[serde(default)]
    pub at: String,
    /// Why (order or case reference); recorded in the audit trail. Required.
    #[serde(default)]
    pub purpose: String,
}

impl Whois {
    fn parsed(&self) -> Result<(std::net::IpAddr, Option<u16>, i64), AppError> {
        let bad = AppError::Invalid;
        let ip = self.ip.trim();
        if ip.is_empty() {
            return Err(bad("ip= is required".into()));
        }
        let addr = ip
            .parse()
            .map_err(|_| bad(format!("ip=`{ip}` is not an IPv4 or IPv6 address")))?;
        let port = match self
            .port
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(
                s.parse::<u16>()
                    .map_err(|_| bad(format!("port=`{s}` is not a port (0-65535)")))?,
            ),
            None => None,
        };
        if self.at.trim().is_empty() {
            return Err(bad("at= is required (RFC 3339 with an offset)".into()));
        }
        let at_ns = pramaan_core::time::parse_user_time(&self.at, pramaan_core::time::now_ns())
            .map_err(|e| bad(e.to_string()))?;
        Ok((addr, port, at_ns))
    }
}

impl Operation for Whois {
    type Output = Answer;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/whois";

    async fn run(self, app: &App, who: &Caller) -> Result<Answer, AppError> {
        app.authorise::<Self>(who)?;
        let (addr, port, at_ns) = self.parsed()?;
        let store = store(app).await?;
        let registry = crate::registry::open(app).await?;
        let answer = audited_lookup(
            &*store,
            &registry,
            &who.name,
            addr,
            port,
            at_ns,
            &self.purpose,
        )
        .await
        .map_err(|e| match e {
            LookupError::Whois(WhoisError::PurposeRequired)
            | LookupError::Registry(RegistryError::NoPurpose) => AppError::Invalid(e.to_string()),
            LookupError::Whois(WhoisError::Audit(_))
            | LookupError::Registry(RegistryError::Ledger { .. }) => {
                tracing::error!(error = %e, "a whois was refused: its audit record could not be written");
                AppError::NotNow(
                    "the audit trail cannot be written right now, so nothing is answered; retry later"
                        .into(),
                )
            }
            e => AppError::internal(e),
        })?;
        Ok(with_evidence_records(app.vault(), answer).await)
    }
}

/// Most evidence records looked up for one answer (a shared address can
/// match many bindings; the sequence numbers are all in `evidence` anyway).
const EVIDENCE_RECORDS_SHOWN: usize = 64;

/// Each match's evidence records as the vault keeps them (how, when and
/// from whom each arrived), so the answer says which source made the
/// binding. A record that cannot be read (deleted by retention) is left
/// out; its sequence number stays in `evidence`.
async fn with_evidence_records(vault: &pramaan_vault::Vault, mut answer: Answer) -> Answer {
    let mut budget = EVIDENCE_RECORDS_SHOWN;
    for m in &mut answer.matches {
        for &seq in &m.evidence {
            if budget == 0 {
                return answer;
            }
            budget -= 1;
            if let Some(r) = evidence_record(vault, seq).await {
                m.source.records.push(r);
            }
        }
    }
    answer
}

/// One record by its sequence number, as the vault keeps it.
async fn evidence_record(
    vault: &pramaan_vault::Vault,
    seq: u64,
) -> Option<pramaan_attribution::EvidenceRecord> {
    let r = vault.records(seq, seq + 1).await.ok()?.into_iter().next()?;
    Some(pramaan_attribution::EvidenceRecord {
        seq: r.seq,
        received_at: pramaan_core::time::rfc3339_utc(r.received_at_ns),
        transport: r.transport.as_str().to_owned(),
        peer: r.peer,
    })
}

/// Why an audited lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Whois(#[from] WhoisError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One lookup with each holder's registered details joined in. The
/// lookup's audit record and one `registry.read` record per holder are
/// appended in a single write (one fsync), before anything is decrypted or
/// answered; an unknown subscriber keeps `details: None`.
pub async fn audited_lookup(
    store: &dyn BindingStore,
    registry: &pramaan_registry::Registry,
    actor: &str,
    addr: std::net::IpAddr,
    port: Option<u16>,
    at_ns: i64,
    purpose: &str,
) -> Result<Answer, LookupError> {
    use pramaan_attribution::whois as w;
    let purpose = w::checked_purpose(purpose)?;
    let matches = w::resolve(store, addr, port, at_ns)
        .await
        .map_err(WhoisError::from)?;
    let audit = w::audit_record(actor, addr, port, at_ns, purpose, &matches)?;
    let holders: Vec<&str> = matches
        .iter()
        .map(|m| m.subscriber.as_str())
        // CGNAT inside addresses, and what erasure left (nobody), are no register entries.
        .filter(|s| !s.starts_with("inside:") && !s.is_empty())
        .collect();
    let reads = registry
        .read_subscribers(&holders, purpose, actor, vec![audit])
        .await?;
    let seq = reads
        .first_seq
        .ok_or_else(|| WhoisError::Audit("the lookup's record was not appended".into()))?;
    let mut answer = w::answer(addr, port, at_ns, purpose, matches, seq);
    for m in &mut answer.matches {
        if let Some(Some(sub)) = reads
            .ids
            .iter()
            .position(|id| *id == m.subscriber)
            .map(|i| &reads.subscribers[i])
        {
            m.details = Some(sub.to_json());
        }
    }
    Ok(answer)
}

/// The attribution store's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindingStats {
    pub bindings: u64,
    /// Sessions started and not stopped yet.
    pub open: u64,
    /// The last vault record the feeder read.
    pub last_seq: Option<u64>,
    pub backend: String,
    /// How many session sources `attribution.sources` names.
    pub sources: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_note: Option<String>,
}

/// `GET /api/v1/whois/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WhoisStats {}

impl Operation for WhoisStats {
    type Output = BindingStats;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/whois/stats";

    async fn run(self, app: &App, who: &Caller) -> Result<BindingStats, AppError> {
        app.authorise::<Self>(who)?;
        let s = store(app)
            .await?
            .stats()
            .await
            .map_err(AppError::internal)?;
        let sources = app.attribution().sources.len();
        Ok(BindingStats {
            bindings: s.bindings,
            open: s.open,
            last_seq: s.last_seq,
            backend: s.backend.to_owned(),
            sources,
            sources_note: (sources == 0).then(|| {
                "attribution.sources is empty: no log line creates bindings (imports still do)"
                    .to_owned()
            }),
        })
    }
}

/// The route of a bindings import. Its body is the CSV itself, streamed
/// (no JSON value), so it is not an [`Operation`]: the API checks the body
/// as it arrives and the CLI checks a file where it runs; both hand the
/// checked result to [`import_bindings`].
pub const IMPORT_ROUTE: &str = "/api/v1/whois/import-bindings";

/// The audit action of a bindings import.
pub const IMPORT_ACTION: &str = "bindings.import";

/// A bindings CSV checked whole, ready to store.
pub struct CheckedBindings {
    index: Index,
    report: ImportReport,
    sha256: String,
}

/// Checks a bindings CSV as its bytes come (an HTTP body, a file read in
/// chunks), hashing them so that the very file can be recognised later.
pub struct BindingsCheck {
    checker: CsvChecker,
    sha: sha2::Sha256,
}

impl BindingsCheck {
    /// `name` names the input in errors; `size_hint` sizes the index (0: unknown).
    pub fn new(name: &str, size_hint: u64) -> BindingsCheck {
        BindingsCheck {
            checker: CsvChecker::new(name, size_hint),
            sha: sha2::Sha256::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ImportError> {
        self.sha.update(bytes);
        self.checker.push(bytes)
    }

    /// The end of the input: every line valid, or every error.
    pub fn finish(self) -> Result<CheckedBindings, ImportError> {
        let (index, report) = self.checker.finish()?;
        Ok(CheckedBindings {
            index,
            report,
            sha256: hex::encode(self.sha.finalize()),
        })
    }
}

/// Reads through, hashing what it reads.
struct HashingReader<R> {
    inner: R,
    sha: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Checks a bindings CSV file where the caller runs (the CLI on the data
/// directory); `progress(read, total)` now and then. Blocking.
pub fn check_bindings_file(
    path: &std::path::Path,
    progress: &dyn Fn(u64, u64),
) -> Result<CheckedBindings, ImportError> {
    let name = path.display().to_string();
    let io = |source| ImportError::Io {
        path: name.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let total = f.metadata().map_err(io)?.len();
    let mut r = HashingReader {
        inner: f,
        sha: sha2::Sha256::new(),
    };
    let (index, report) = pramaan_attribution::read_bindings(&mut r, &name, total, progress)?;
    Ok(CheckedBindings {
        index,
        report,
        sha256: hex::encode(r.sha.finalize()),
    })
}

/// What a bindings import did, and the file's SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedBindings {
    #[serde(flatten)]
    pub report: ImportReport,
    pub sha256: String,
}

/// The audit record of a bindings import: who, how many rows, the file's
/// size and SHA-256.
pub fn import_audit(actor: &str, report: &ImportReport, sha256: &str) -> AuditEvent {
    AuditEvent::new(IMPORT_ACTION, actor, "attribution")
        .detail("rows", report.rows)
        .detail("networks", report.networks)
        .detail("bytes", report.bytes)
        .detail("sha256", sha256)
}

/// Stores checked bindings for `who`, all or nothing: on the audit trail
/// first (no record, no import), then stored.
pub async fn import_bindings(
    app: &App,
    who: &Caller,
    checked: CheckedBindings,
) -> Result<ImportedBindings, AppError> {
    app.authorise_route(who, "POST", IMPORT_ROUTE)?;
    let CheckedBindings {
        index,
        mut report,
        sha256,
    } = checked;
    let store = store(app).await?;
    app.audit_first(import_audit(&who.name, &report, &sha256))
        .await?;
    let t = std::time::Instant::now();
    store.import(index).await.map_err(AppError::internal)?;
    report.store_secs = t.elapsed().as_secs_f64();
    Ok(ImportedBindings { report, sha256 })
}
