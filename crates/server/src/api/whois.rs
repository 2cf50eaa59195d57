//! IP attribution over HTTP (`GET /api/v1/whois`), the bulk import of a
//! bindings CSV sent as the request body (`POST /api/v1/whois/import-bindings`,
//! audited before anything is stored; the server opens no file a client
//! names), and the task in `serve` that feeds session logs from the vault
//! into the attribution store, reading only the lines of the configured
//! session sources (`attribution.sources`).

use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Query as QueryParams, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::parse::Parser;
use pramaan_attribution::{
    BindingStore, CsvChecker, ImportError, ImportReport, SourceRule, Sources, StoreError,
    WhoisError,
};
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
    /// `attribution.sources`: whose lines the parsers read.
    pub sources: Sources,
    /// `attribution.import_max_body`.
    pub import_max_body: u64,
    /// Shared with the application (`pramaan_app::App::bindings`).
    store: Arc<pramaan_app::app::BindingCell>,
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
    pub fn new(cfg: &Config, store: Arc<pramaan_app::app::BindingCell>) -> Attribution {
        Attribution {
            data_dir: cfg.data_dir.clone(),
            url: cfg.registry.url.clone(),
            max_session: cfg.attribution.max_session,
            default_offset: cfg.syslog.default_timezone,
            sources: sources(cfg),
            import_max_body: cfg.attribution.import_max_body,
            store,
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
        .route("/api/v1/whois/stats", get(stats))
}

/// The import: merged outside `http.request_timeout` (a large file takes
/// a while to send) and without `http.max_body` (its body is read as a
/// stream, up to `attribution.import_max_body`).
pub(super) fn long_routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/whois/import-bindings", post(import_bindings))
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

/// The audit action of a bindings import.
pub const IMPORT_ACTION: &str = "bindings.import";

/// The audit record of a bindings import: who, how many rows, the file's
/// size and SHA-256 (so the very file can be recognised later).
pub fn import_audit(
    actor: &str,
    report: &ImportReport,
    sha256: &str,
) -> pramaan_auth::audit::AuditEvent {
    pramaan_auth::audit::AuditEvent::new(IMPORT_ACTION, actor, "attribution")
        .detail("rows", report.rows)
        .detail("networks", report.networks)
        .detail("bytes", report.bytes)
        .detail("sha256", sha256)
}

/// Reads through, hashing what it reads.
struct HashingReader<R> {
    inner: R,
    sha: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Checks a bindings CSV file where the caller runs (`pramaan whois
/// import-bindings` on a data directory no server holds): the index, the
/// report and the file's SHA-256 for [`import_audit`]. Blocking.
pub fn read_bindings_file(
    path: &std::path::Path,
    progress: &dyn Fn(u64, u64),
) -> Result<(pramaan_attribution::index::Index, ImportReport, String), ImportError> {
    use sha2::Digest;
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
    let (idx, report) = pramaan_attribution::read_bindings(&mut r, &name, total, progress)?;
    Ok((idx, report, hex::encode(r.sha.finalize())))
}

/// A 400 that lists every invalid line by number and field (never its text).
fn invalid_answer(total: u64, errors: &[pramaan_attribution::LineError]) -> Response {
    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({
            "error": format!("{total} invalid line(s), nothing imported; first: {first}"),
            "total": total,
            "errors": errors,
        })),
    )
        .into_response()
}

/// Imports the bindings CSV that is the request body (`Content-Type:
/// text/csv`), all or nothing: the body is checked line by line as it
/// arrives, the import is recorded in the audit trail, then stored. The
/// server reads no file a client names: `{"path": ...}` is refused.
async fn import_bindings(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use futures::StreamExt;
    use sha2::Digest;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ctype.starts_with("application/json") {
        return Err(ApiError::BadRequest(
            "send the bindings CSV itself as the body (Content-Type: text/csv); the server opens no file named in a request".into(),
        ));
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(ApiError::UnsupportedEncoding(
                "send the bindings CSV uncompressed".into(),
            ));
        }
    }
    let limit = st.attribution.import_max_body;
    let hint = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if hint > limit {
        return Err(ApiError::TooLarge(format!(
            "the file is larger than attribution.import_max_body ({limit} bytes); nothing imported"
        )));
    }
    let store = st.attribution.store().await.map_err(store_err)?;
    // Checking is CPU work: on a blocking thread, fed as the body arrives.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let checker = tokio::task::spawn_blocking(move || {
        let mut c = CsvChecker::new("the request body", hint);
        let mut sha = sha2::Sha256::new();
        while let Some(b) = rx.blocking_recv() {
            sha.update(&b);
            c.push(&b)?;
        }
        let (idx, report) = c.finish()?;
        Ok::<_, ImportError>((idx, report, hex::encode(sha.finalize())))
    });
    let mut frames = body.into_data_stream();
    let mut read: u64 = 0;
    let mut failed = None;
    // Once the checker stopped (a wrong header), the rest is read and
    // dropped, so that the client gets the answer, not a reset connection.
    let mut draining = false;
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(b) => {
                read += b.len() as u64;
                if read > limit {
                    failed = Some(ApiError::TooLarge(format!(
                        "the file is larger than attribution.import_max_body ({limit} bytes); nothing imported"
                    )));
                    break;
                }
                if !draining && tx.send(b).await.is_err() {
                    draining = true; // the checker stopped at an error it will report
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "a bindings import's body could not be read");
                failed = Some(ApiError::BadRequest(
                    "the body could not be read to its end; nothing imported".into(),
                ));
                break;
            }
        }
    }
    drop(tx);
    let checked = checker.await.map_err(super::internal)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let (idx, mut report, sha256) = match checked {
        Ok(x) => x,
        Err(ImportError::Invalid { total, errors, .. }) => {
            return Ok(invalid_answer(total, &errors))
        }
        Err(ImportError::Store(e)) => return Err(store_err(e)),
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    // On the audit trail before anything is stored: no record, no import.
    pramaan_auth::audit::record(&st.access().sink, &import_audit(&actor(&headers), &report, &sha256))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a bindings import was refused: its audit record could not be written");
            ApiError::Unavailable
        })?;
    let t = std::time::Instant::now();
    store.import(idx).await.map_err(store_err)?;
    report.store_secs = t.elapsed().as_secs_f64();
    let mut v = serde_json::to_value(report).map_err(super::internal)?;
    v["sha256"] = sha256.into();
    Ok(Json(v).into_response())
}

async fn stats(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = st.attribution.store().await.map_err(store_err)?;
    let s = store.stats().await.map_err(store_err)?;
    let mut v = serde_json::to_value(s).map_err(super::internal)?;
    let n = st.attribution.sources.len();
    v["sources"] = n.into();
    if n == 0 {
        v["sources_note"] =
            "attribution.sources is empty: no log line creates bindings (imports still do)".into();
    }
    Ok(Json(v))
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
    if att.sources.is_empty() {
        tracing::info!("attribution.sources is empty: no log line creates bindings (whois answers from imported bindings only)");
    }
    let mut feeder = match Feeder::resume(&*store, att.max_session, att.sources.clone()).await {
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
                peer: hit.peer.clone(),
                host: hit.host.clone(),
                app: hit.app.clone(),
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
            foreign = rep.foreign,
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
