//! The HTTP API. Handlers translate HTTP to vault calls and back; errors map
//! to status codes in one place ([`ApiError`]).

use crate::listeners::refused;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query as QueryParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use pramaan_auth::Role;
use pramaan_config::Config;
use pramaan_core::Transport;
use pramaan_vault::search::{self, parse_severity, Order};
use pramaan_vault::{AppendError, Query, Vault};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

mod auth;
mod clock;
pub mod console;
pub mod desk;
mod ledger;
pub mod orders;
mod registry;
mod retention;
pub mod whois;
pub use auth::{parse_expiry, token_json, AuditParams};
pub use clock::clock_options;
pub use retention::hold_json;

#[derive(Clone)]
pub struct AppState {
    vault: Vault,
    /// Runs, holds and the schedule share it (one lock serialises them).
    retention: Arc<pramaan_vault::retention::Retention>,
    max_line: usize,
    max_body: usize,
    request_timeout: std::time::Duration,
    metrics: Option<PrometheusHandle>,
    /// Users, tokens, sessions, the audit sink (see `crate::access`).
    access: Arc<crate::access::AccessState>,
    /// The clock monitor (`serve` runs it; `GET /api/v1/clock` shows it).
    clock: Arc<pramaan_clock::Monitor>,
    /// The subscriber register, opened at first use (`crate::api::registry`).
    registry: Arc<pramaan_registry::LazyRegistry>,
    /// IP bindings and `whois` (`crate::api::whois`); its feeder runs in `serve`.
    attribution: Arc<whois::Attribution>,
    /// The incident desk (`crate::api::desk`); its reminders run in `serve`.
    desk: Arc<desk::DeskState>,
}

impl AppState {
    pub fn new(vault: Vault, cfg: &Config, metrics: PrometheusHandle) -> Self {
        AppState {
            retention: Arc::new(pramaan_vault::retention::Retention::new(
                vault.clone(),
                crate::retention_policy(cfg),
            )),
            access: Arc::new(crate::access::AccessState::open_or_closed(&vault, cfg)),
            clock: Arc::new(pramaan_clock::Monitor::new(
                clock::clock_options(cfg),
                Arc::new(crate::sink::VaultSink::new(vault.clone())),
            )),
            registry: Arc::new(pramaan_registry::LazyRegistry::new(
                pramaan_registry::RegistryOptions::from_config(cfg),
                Arc::new(crate::sink::VaultSink::new(vault.clone())),
            )),
            attribution: Arc::new(whois::Attribution::new(cfg)),
            desk: Arc::new(desk::DeskState::new(vault.clone(), cfg)),
            vault,
            max_line: cfg.syslog.max_line as usize,
            max_body: cfg.http.max_body as usize,
            request_timeout: cfg.http.request_timeout,
            metrics: cfg.metrics.enabled.then_some(metrics),
        }
    }

    /// IP attribution (`serve` runs its log feeder).
    pub fn attribution(&self) -> Arc<whois::Attribution> {
        self.attribution.clone()
    }

    /// The subscriber register (`serve` erases expired subscribers on a schedule).
    pub fn registry(&self) -> Arc<pramaan_registry::LazyRegistry> {
        self.registry.clone()
    }

    /// Retention for this vault (`serve` runs it on a schedule).
    pub fn retention(&self) -> Arc<pramaan_vault::retention::Retention> {
        self.retention.clone()
    }

    /// Users, tokens, sessions and the audit sink.
    pub fn access(&self) -> &crate::access::AccessState {
        &self.access
    }

    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The clock monitor (`serve` runs it).
    pub fn clock(&self) -> Arc<pramaan_clock::Monitor> {
        self.clock.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    let body_limit = state.max_body;
    let timeout = state.request_timeout;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/status", get(status))
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/search", get(search_ndjson))
        .route("/api/v1/sql", post(sql))
        .merge(retention::routes())
        .merge(ledger::routes())
        .merge(clock::routes())
        .merge(auth::routes())
        .merge(registry::routes())
        .merge(whois::routes())
        .merge(desk::routes())
        .merge(console::routes())
        .merge(orders::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        // A client that stalls mid-request is cut off (408) instead of holding a task forever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .merge(retention::long_routes().layer(DefaultBodyLimit::max(body_limit)))
        .merge(whois::long_routes())
        // Keep this layer last: it guards every route above (crate::access::TABLE).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::access::guard,
        ))
        .with_state(state)
}

/// Every error a client can see, with its status code. Internal details stay in our log.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
    #[error("the write-ahead log cannot take lines right now; retry later")]
    Unavailable,
    /// The caller may use the route, but not in the way asked (403).
    #[error("{0}")]
    Forbidden(String),
    /// The data directory's disk is full (507 Insufficient Storage); the
    /// message says so, and nothing of the request was stored.
    #[error("{0}")]
    StorageFull(String),
    #[error("not found")]
    NotFound,
    /// A named thing that does not exist (404), said in the message.
    #[error("{0}")]
    Missing(String),
    #[error("internal error; see the server log")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::NotFound | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut resp = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INSUFFICIENT_STORAGE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "request failed");
    ApiError::Internal
}

async fn metrics_text(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let handle = st.metrics.as_ref().ok_or(ApiError::NotFound)?;
    let snap = st.vault.snapshot().await;
    metrics::gauge!("pramaan_segments").set(snap.segments.len() as f64);
    metrics::gauge!("pramaan_segments_bytes")
        .set(snap.segments.iter().map(|s| s.bytes).sum::<u64>() as f64);
    metrics::gauge!("pramaan_memtable_rows").set(st.vault.memtable_size().0 as f64);
    metrics::gauge!("pramaan_committed_records").set(st.vault.committed() as f64);
    metrics::gauge!("pramaan_storage_full").set(if st.vault.storage().storage_full {
        1.0
    } else {
        0.0
    });
    if let Some(h) = crate::telemetry::heap_stats() {
        metrics::gauge!("pramaan_heap_allocated_bytes").set(h.allocated as f64);
        metrics::gauge!("pramaan_heap_resident_bytes").set(h.resident as f64);
    }
    retention::set_gauges(&st);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response())
}

#[derive(Serialize)]
struct StatusBody {
    committed_records: u64,
    sealed_through: Option<u64>,
    segments: usize,
    segment_bytes: u64,
    raw_bytes_sealed: u64,
    memtable_rows: u64,
    memtable_bytes: u64,
    oldest_received_at: Option<String>,
    newest_sealed_received_at: Option<String>,
    unparsable_lines: u64,
    wal_errors: u64,
    seal_errors: u64,
    /// `storage_full`, `storage_full_reason`, `lines_refused_storage_full`.
    #[serde(flatten)]
    storage: pramaan_vault::full::StorageStatus,
    /// Policy, compliance, holds and the latest run.
    retention: serde_json::Value,
    ledger: Option<pramaan_vault::ledger::LedgerStatus>,
    /// The allocator's account of the heap (absent where the binary cannot read it).
    heap: Option<crate::telemetry::HeapStats>,
}

async fn status(State(st): State<Arc<AppState>>) -> Json<StatusBody> {
    let snap = st.vault.snapshot().await;
    let (rows, bytes) = st.vault.memtable_size();
    let s = st.vault.stats();
    use std::sync::atomic::Ordering::Relaxed;
    Json(StatusBody {
        committed_records: st.vault.committed(),
        sealed_through: st.vault.sealed_through(),
        segments: snap.segments.len(),
        segment_bytes: snap.segments.iter().map(|s| s.bytes).sum(),
        raw_bytes_sealed: snap.segments.iter().map(|s| s.raw_bytes).sum(),
        memtable_rows: rows,
        memtable_bytes: bytes,
        oldest_received_at: snap
            .segments
            .first()
            .map(|s| pramaan_core::time::rfc3339_ist(s.time_min_ns)),
        newest_sealed_received_at: snap
            .segments
            .last()
            .map(|s| pramaan_core::time::rfc3339_ist(s.time_max_ns)),
        unparsable_lines: s.unparsable.load(Relaxed),
        wal_errors: s.wal_errors.load(Relaxed),
        seal_errors: s.seal_errors.load(Relaxed),
        storage: st.vault.storage(),
        retention: retention::status_json(&st),
        ledger: st.vault.ledger().map(|l| l.status(st.vault.committed())),
        heap: crate::telemetry::heap_stats(),
    })
}

/// The answer to an ingest request.
#[derive(Serialize, Deserialize, Debug)]
pub struct IngestResponse {
    pub accepted: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub empty_lines: u64,
    /// Lines not stored, each with its line number and reason.
    pub refused: Vec<RefusedLine>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct RefusedLine {
    pub line: usize,
    pub reason: String,
}

/// Decompresses with a hard cap, so a small bomb cannot fill memory.
pub fn decode_body(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let reader: Box<dyn Read + '_> = match enc.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| ApiError::BadRequest(format!("zstd body: {e}")))?,
        ),
        other => {
            return Err(ApiError::UnsupportedEncoding(format!(
                "Content-Encoding `{other}` is not supported; use gzip, zstd or none"
            )))
        }
    };
    let mut out = Vec::new();
    let n = reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("the {enc} body does not decompress: {e}")))?;
    if n > max {
        return Err(ApiError::TooLarge(format!(
            "the body decompresses to more than http.max_body ({max} bytes); send smaller requests"
        )));
    }
    Ok(out)
}

async fn ingest(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestResponse>, ApiError> {
    let max_body = st.max_body;
    let max_line = st.max_line;
    let (lines, refused_lines, empty) = tokio::task::spawn_blocking(move || {
        let data = decode_body(&headers, &body, max_body)?;
        let data = Bytes::from(data);
        let mut it = pramaan_ingest::ndjson::lines(&data, max_line);
        let mut lines = Vec::new();
        let mut refused_lines = Vec::new();
        for l in it.by_ref() {
            match l {
                Ok(slice) => lines.push(data.slice_ref(slice)),
                Err(r) => refused_lines.push(RefusedLine {
                    line: r.line_no,
                    reason: r.reason.to_string(),
                }),
            }
        }
        Ok::<_, ApiError>((lines, refused_lines, it.empty_lines() as u64))
    })
    .await
    .map_err(internal)??;
    let ip = from.ip().to_canonical().to_string();
    if !refused_lines.is_empty() {
        refused(Transport::Http, &ip, "too_long", refused_lines.len() as u64);
    }
    if empty > 0 {
        refused(Transport::Http, &ip, "empty", empty);
    }
    let n = lines.len() as u64;
    if n == 0 {
        return Ok(Json(IngestResponse {
            accepted: 0,
            first_seq: None,
            last_seq: None,
            empty_lines: empty,
            refused: refused_lines,
        }));
    }
    metrics::counter!("pramaan_lines_received_total", "transport" => "http", "source" => ip)
        .increment(n);
    let range = st
        .vault
        .append(Transport::Http, Arc::from(from.to_string().as_str()), lines)
        .await
        .map_err(|e| match e {
            AppendError::Wal(msg) => {
                tracing::error!(error = %msg, "ingest refused: WAL");
                ApiError::Unavailable
            }
            AppendError::StorageFull(msg) => {
                tracing::warn!(reason = %msg, lines = n, "ingest refused: the disk is full");
                ApiError::StorageFull(format!("nothing was stored: {msg}; retry later"))
            }
            AppendError::Closed => ApiError::Unavailable,
        })?;
    Ok(Json(IngestResponse {
        accepted: n,
        first_seq: Some(range.first),
        last_seq: Some(range.last),
        empty_lines: empty,
        refused: refused_lines,
    }))
}

/// Search parameters, as in `pramaan search`.
#[derive(Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
    pub user: Option<String>,
    pub severity: Option<String>,
    /// Text that the raw line contains.
    pub q: Option<String>,
    pub regex: Option<String>,
    pub seq: Option<String>,
    pub limit: Option<usize>,
    pub order: Option<Order>,
    /// pramaan's own records (audit trail, clock, incidents, retention...)
    /// instead of log lines: auditors only.
    pub internal: Option<bool>,
}

/// Most results one search returns (without a limit, a default of 100 applies).
pub const MAX_LIMIT: usize = 1_000_000;

impl SearchParams {
    pub fn to_query(&self, now_ns: i64) -> Result<Query, String> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, String> {
            v.as_deref()
                .map(|s| {
                    pramaan_core::time::parse_user_time(s, now_ns)
                        .map_err(|e| format!("{name}: {e}"))
                })
                .transpose()
        };
        let ip = self
            .ip
            .as_deref()
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| format!("ip: `{s}` is not an IPv4 or IPv6 address"))
            })
            .transpose()?;
        let severity = self
            .severity
            .as_deref()
            .map(|s| {
                parse_severity(s).ok_or_else(|| {
                    format!(
                        "severity: `{s}` is not a level; use one of {}",
                        search::SEVERITIES.join(", ")
                    )
                })
            })
            .transpose()?;
        let regex = self
            .regex
            .as_deref()
            .map(|r| {
                regex::bytes::RegexBuilder::new(r)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("regex: {e}"))
            })
            .transpose()?;
        let (seq_from, seq_to) = match self.seq.as_deref() {
            None => (None, None),
            Some(s) => parse_seq_range(s)?,
        };
        let limit = self.limit.unwrap_or(100);
        if limit > MAX_LIMIT {
            return Err(format!("limit: {limit} is more than {MAX_LIMIT}"));
        }
        let q = Query {
            from_ns: time("from", &self.from)?,
            to_ns: time("to", &self.to)?,
            seq_from,
            seq_to,
            host: self.host.clone(),
            app: self.app.clone(),
            ip,
            user: self.user.clone(),
            severity,
            text: self.q.clone().filter(|s| !s.is_empty()),
            regex,
            limit,
            order: self.order.unwrap_or_default(),
            internal: self.internal.unwrap_or(false),
        };
        if let (Some(f), Some(t)) = (q.from_ns, q.to_ns) {
            if f >= t {
                return Err("from must be before to".into());
            }
        }
        Ok(q)
    }
}

/// `N` or `A-B` (inclusive).
pub use pramaan_core::query::parse_seq_range;

async fn search_ndjson(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<pramaan_auth::Identity>,
    params: Result<QueryParams<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let q = params
        .to_query(pramaan_core::time::now_ns())
        .map_err(ApiError::BadRequest)?;
    // Log lines are the analysts'; pramaan's own records (who searched what
    // among them, itself personal data) are the auditors'. The access table
    // lets both roles in; which records decides.
    let may = |r: Role| caller.has(r) || caller.has(Role::Admin);
    if q.internal && !may(Role::Auditor) {
        return Err(ApiError::Forbidden(
            "internal=true (pramaan's own records, such as the audit trail) needs the auditor role"
                .into(),
        ));
    }
    if !q.internal && !may(Role::Analyst) {
        return Err(ApiError::Forbidden(
            "searching log lines needs the analyst role (auditors search pramaan's own records with internal=true)".into(),
        ));
    }
    tracing::info!(query = ?params, "search");
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let vault = st.vault.clone();
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let res = search::search(&vault, &q, tx).await;
        if let Err(e) = res {
            tracing::error!(error = %e, "search failed");
        }
    });
    tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            let mut buf = Vec::new();
            for h in search::hits(&batch) {
                serde_json::to_writer(&mut buf, &h).expect("hit serialises");
                buf.push(b'\n');
            }
            if body_tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return;
            }
        }
    });
    let stream = tokio_stream_from(body_rx);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlBody {
    query: String,
}

async fn sql(
    State(st): State<Arc<AppState>>,
    Json(body): Json<SqlBody>,
) -> Result<Response, ApiError> {
    tracing::info!(query = %body.query, "sql");
    let snap = st.vault.snapshot().await;
    let objects = st.vault.options().objects_dir();
    let batches = pramaan_vault::sql::run(&objects, &snap, &body.query)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let out = pramaan_vault::sql::to_ndjson(&batches).map_err(internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
