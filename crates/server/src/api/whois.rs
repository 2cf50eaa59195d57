//! IP attribution over HTTP (`GET /api/v1/whois`), the temporary bulk
//! import (`POST /api/v1/whois/import-bindings`), and the task in `serve`
//! that feeds session logs from the vault into the attribution store.

use super::{ApiError, AppState};
use axum::extract::{Query as QueryParams, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::{BindingStore, StoreError, WhoisError};
use pramaan_config::Config;
use pramaan_vault::search::{self, Order};
use pramaan_vault::{Query, Vault};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The attribution store of a running server, opened at first use.
pub struct Attribution {
    data_dir: std::path::PathBuf,
    url: String,
    pub max_session: Duration,
    default_offset: i32,
    store: tokio::sync::OnceCell<Arc<dyn BindingStore>>,
}

impl Attribution {
    pub fn new(cfg: &Config) -> Attribution {
        Attribution {
            data_dir: cfg.data_dir.clone(),
            url: cfg.registry.url.clone(),
            max_session: cfg.attribution.max_session,
            default_offset: cfg.syslog.default_timezone,
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

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/whois", get(whois))
        .route("/api/v1/whois/import-bindings", post(import_bindings))
        .route("/api/v1/whois/stats", get(stats))
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-pramaan-actor")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("cli")
        .to_owned()
}

fn store_err(e: StoreError) -> ApiError {
    super::internal(e)
}

#[derive(Deserialize)]
struct WhoisParams {
    ip: Option<String>,
    port: Option<String>,
    at: Option<String>,
    purpose: Option<String>,
}

async fn whois(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<WhoisParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    lookup(&st, &actor(&headers), p.ip, p.port, p.at, p.purpose)
        .await
        .map(Json)
}

/// One audited lookup with the subscribers' details joined: what
/// `GET /api/v1/whois` answers and the console's whois page shows.
pub(super) async fn lookup(
    st: &AppState,
    actor: &str,
    ip: Option<String>,
    port: Option<String>,
    at: Option<String>,
    purpose: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let ip = ip
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("ip= is required".into()))?;
    let addr: std::net::IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("ip=`{ip}` is not an IPv4 or IPv6 address")))?;
    let port = match port.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<u16>()
                .map_err(|_| ApiError::BadRequest(format!("port=`{s}` is not a port (0-65535)")))?,
        ),
        None => None,
    };
    let at = at
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("at= is required (RFC 3339 with an offset)".into()))?;
    let at_ns = pramaan_core::time::parse_user_time(&at, pramaan_core::time::now_ns())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let purpose = purpose.unwrap_or_default();
    let store = st.attribution.store().await.map_err(store_err)?;
    let registry = st.registry().get().await.map_err(super::internal)?;
    let answer = audited_lookup(&*store, &registry, actor, addr, port, at_ns, &purpose)
        .await
        .map_err(|e| match e {
            LookupError::Whois(WhoisError::PurposeRequired)
            | LookupError::Registry(pramaan_registry::RegistryError::NoPurpose) => {
                ApiError::BadRequest(e.to_string())
            }
            LookupError::Whois(WhoisError::Audit(_))
            | LookupError::Registry(pramaan_registry::RegistryError::Ledger { .. }) => {
                ApiError::Unavailable
            }
            LookupError::Whois(WhoisError::Store(e)) => store_err(e),
            LookupError::Registry(e) => super::internal(e),
        })?;
    serde_json::to_value(answer).map_err(super::internal)
}

#[derive(Deserialize)]
struct ImportBody {
    path: String,
}

/// Temporary (until `pramaan registry import` takes bindings files): imports
/// a bindings CSV that the server can read, all or nothing.
async fn import_bindings(
    State(st): State<Arc<AppState>>,
    Json(b): Json<ImportBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = st.attribution.store().await.map_err(store_err)?;
    let path = std::path::PathBuf::from(&b.path);
    let read = tokio::task::spawn_blocking(move || {
        pramaan_attribution::read_bindings_csv(&path, &|_, _| {})
    })
    .await
    .map_err(super::internal)?;
    let (idx, mut report) = match read {
        Ok(x) => x,
        Err(pramaan_attribution::ImportError::Invalid { total, errors, .. }) => {
            let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            return Err(ApiError::BadRequest(format!(
                "{total} invalid line(s), nothing imported: {}",
                list.join("; ")
            )));
        }
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    let t = std::time::Instant::now();
    store.import(idx).await.map_err(store_err)?;
    report.store_secs = t.elapsed().as_secs_f64();
    Ok(Json(serde_json::to_value(report).map_err(super::internal)?))
}

async fn stats(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = st.attribution.store().await.map_err(store_err)?;
    let s = store.stats().await.map_err(store_err)?;
    Ok(Json(serde_json::to_value(s).map_err(super::internal)?))
}

/// How many records the feeder reads at a time.
const FEED_BATCH: usize = 5000;

/// The lines that can be session lines: those holding one of the parsers'
/// markers. Filtering in the vault keeps the feeder from turning every log
/// line into a search hit (it took about half the CPU of a full-rate ingest).
fn session_lines() -> regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let alts: Vec<String> = pramaan_attribution::parse::MARKERS
            .iter()
            .map(|m| regex::escape(m))
            .collect();
        regex::bytes::Regex::new(&alts.join("|")).expect("escaped literals form a regex")
    })
    .clone()
}

/// Reads records after the last processed sequence number, parses session
/// lines into bindings and stores them with the progress; polls every second
/// once caught up. Stops on `stop`.
pub async fn feed_task(
    att: Arc<Attribution>,
    vault: Vault,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let store = loop {
        match att.store().await {
            Ok(s) => break s,
            Err(e) => {
                tracing::error!(error = %e, "attribution store cannot be opened; retrying in 30 s");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
            }
        }
    };
    let mut feeder = match Feeder::resume(&*store, att.max_session).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "attribution feeder cannot resume; session logs are not read");
            return;
        }
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let n = match feed_once(&att, &vault, &*store, &mut feeder).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "attribution feeder: batch failed; retrying");
                0
            }
        };
        if n < FEED_BATCH {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// One batch; returns how many records were read.
pub async fn feed_once(
    att: &Attribution,
    vault: &Vault,
    store: &dyn BindingStore,
    feeder: &mut Feeder,
) -> Result<usize, String> {
    let next = feeder.next_seq();
    let committed = vault.committed();
    if next >= committed {
        return Ok(0);
    }
    // Everything committed is searchable once the search begins.
    let upto = committed - 1;
    let q = Query {
        seq_from: Some(next),
        seq_to: Some(upto),
        limit: FEED_BATCH,
        order: Order::Oldest,
        regex: Some(session_lines()),
        ..Query::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let v = vault.clone();
    let h = tokio::spawn(async move { search::search(&v, &q, tx).await });
    let mut recs = Vec::new();
    while let Some(b) = rx.recv().await {
        for hit in search::hits(&b) {
            let time = hit
                .event_time
                .as_deref()
                .or(Some(hit.received_at.as_str()))
                .and_then(|t| pramaan_core::time::parse_user_time(t, 0).ok())
                .unwrap_or(0);
            // A search leaves out the internal records (audit, clock...): only log lines come.
            let message = hit
                .message
                .clone()
                .or_else(|| hit.raw.clone())
                .unwrap_or_default();
            recs.push(LogRecord {
                seq: hit.seq,
                time_ns: time,
                offset_secs: att.default_offset,
                message,
            });
        }
    }
    h.await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    recs.sort_by_key(|r| r.seq);
    let n = recs.len();
    // Fewer lines than asked for: every log line through `upto` was read.
    let through = (n < FEED_BATCH).then_some(upto);
    let rep = feeder
        .process_through(store, &recs, through)
        .await
        .map_err(|e| e.to_string())?;
    if rep.events > 0 || rep.errors > 0 {
        tracing::debug!(
            records = rep.records,
            events = rep.events,
            bindings = rep.bindings,
            errors = rep.errors,
            "attribution feeder batch"
        );
    }
    Ok(n)
}

/// Why an audited lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Whois(#[from] WhoisError),
    #[error(transparent)]
    Registry(#[from] pramaan_registry::RegistryError),
}

/// One lookup with each holder's registered details joined in. The
/// lookup's audit record and one `registry.read` record per holder are
/// appended in a single write (one fsync), before anything is decrypted or
/// answered; an unknown subscriber keeps `details: None`.
pub async fn audited_lookup(
    store: &dyn pramaan_attribution::BindingStore,
    registry: &pramaan_registry::Registry,
    actor: &str,
    addr: std::net::IpAddr,
    port: Option<u16>,
    at_ns: i64,
    purpose: &str,
) -> Result<pramaan_attribution::Answer, LookupError> {
    use pramaan_attribution::whois as w;
    let purpose = w::checked_purpose(purpose)?;
    let matches = w::resolve(store, addr, port, at_ns)
        .await
        .map_err(WhoisError::from)?;
    let audit = w::audit_record(actor, addr, port, at_ns, purpose, &matches)?;
    let holders: Vec<&str> = matches
        .iter()
        .map(|m| m.subscriber.as_str())
        .filter(|s| !s.starts_with("inside:"))
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
