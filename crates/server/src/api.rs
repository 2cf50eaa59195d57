//! The HTTP API. Handlers translate HTTP to vault calls and back; errors map
//! to status codes in one place ([`ApiError`]).

use crate::caller::Authenticated;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query as QueryParams, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use pramaan_config::Config;
use pramaan_vault::search;
use pramaan_vault::Vault;
use std::sync::Arc;

mod auth;
pub(crate) mod clock;
pub mod console;
pub mod desk;
mod detect;
mod elastic;
mod ingest;
mod intake;
mod journal;
mod ledger;
mod loki;
pub mod op;
pub mod orders;
mod otlp;
mod registry;
mod retention;
mod vasp;
pub mod whois;
pub use clock::clock_options;
pub use ingest::{IngestResponse, RefusedLine};
pub use pramaan_app::tokens::{parse_expiry, token_json};
pub use retention::hold_json;

#[derive(Clone)]
pub struct AppState {
    /// The application layer: the operations and the components they share.
    app: Arc<pramaan_app::App>,
    vault: Vault,
    max_line: usize,
    max_body: usize,
    /// Turns for ingest requests (the `ingest` module).
    ingest: Arc<intake::IngestTurns>,
    request_timeout: std::time::Duration,
    metrics: Option<PrometheusHandle>,
    /// Users, tokens, sessions, the audit sink (the guard's state).
    access: Arc<crate::access::AccessState>,
}

impl AppState {
    pub fn new(vault: Vault, cfg: &Config, metrics: PrometheusHandle) -> Self {
        let app = Arc::new(pramaan_app::App::new(cfg, vault.clone()));
        AppState {
            access: Arc::new(crate::access::AccessState::new(&app, cfg)),
            vault,
            max_line: cfg.syslog.max_line as usize,
            max_body: cfg.http.max_body as usize,
            ingest: Arc::new(intake::IngestTurns::new(cfg)),
            request_timeout: cfg.http.request_timeout,
            metrics: cfg.metrics.enabled.then_some(metrics),
            app,
        }
    }

    /// IP attribution (`serve` runs its log feeder).
    pub fn attribution(&self) -> Arc<whois::Attribution> {
        self.app.attribution().clone()
    }

    /// The subscriber register (`serve` erases expired subscribers on a schedule).
    pub fn registry(&self) -> Arc<pramaan_registry::LazyRegistry> {
        self.app.registry().clone()
    }

    /// Retention for this vault (`serve` runs it on a schedule).
    pub fn retention(&self) -> Arc<pramaan_vault::retention::Retention> {
        self.app.retention().clone()
    }

    /// The application layer.
    pub fn app(&self) -> &Arc<pramaan_app::App> {
        &self.app
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
        self.app.clock().clone()
    }

    /// Appends what every component's outbox still holds (at start: records
    /// a crash left between the change and its append, or between the
    /// append and its mark, which are found rather than appended again).
    /// The clock's goes with its first round.
    pub async fn flush_outboxes(&self) {
        if let Ok(d) = self.desk().desk() {
            d.flush().await;
        }
        if self.vault.options().data_dir.join("orders.db").exists() {
            if let Ok(r) = self.app.orders().open() {
                r.flush().await;
            }
        }
        self.registry().flush_if_present().await;
        if let Err(e) = self.retention().flush_outbox().await {
            tracing::error!(error = %e, "retention's records could not be appended yet; they stay pending");
        }
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
        .route("/api/v1/ingest", post(ingest::ingest))
        .route("/v1/logs", post(otlp::logs))
        .route("/api/v1/search", get(search_ndjson))
        .route("/api/v1/sql", post(sql))
        .merge(retention::routes())
        .merge(ledger::routes())
        .merge(clock::routes())
        .merge(auth::routes())
        .merge(registry::routes())
        .merge(whois::routes())
        .merge(vasp::routes())
        .merge(desk::routes())
        .merge(console::routes())
        .merge(orders::routes())
        .merge(detect::routes())
        .merge(elastic::routes())
        .merge(loki::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        // A client that stalls mid-request is cut off (408) instead of holding a task forever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .merge(retention::long_routes().layer(DefaultBodyLimit::max(body_limit)))
        .merge(whois::long_routes())
        // journal-upload holds its request open while it follows the journal.
        .route("/upload", post(journal::upload))
        // Keep this layer last: it guards every route above (the access table).
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            crate::gate::guard,
        ))
        // Outside the guard, so that its refusals carry the headers too.
        .layer(axum::middleware::from_fn(crate::headers::security_headers))
        .with_state(state)
}

/// Every error a client can see, with its status code. Internal details stay in our log.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests of this kind at once (503 with `Retry-After`);
    /// the message names the limit.
    #[error("{0}")]
    Busy(String),
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
    /// Exists, but not in a state that allows this (409).
    #[error("{0}")]
    Conflict(String),
    /// A named thing that does not exist (404), said in the message.
    #[error("{0}")]
    Missing(String),
    #[error("internal error; see the server log")]
    Internal,
    /// Stored data cannot be read (500), said without file system paths.
    #[error("{0}")]
    Damaged(String),
    /// Well-formed, but over a limit of the server's (a SQL query's time,
    /// memory or result size): 422, the message names the limit's key.
    #[error("{0}")]
    OverLimit(String),
    /// The caller runs too many requests of this kind at once (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// Not now (the server is shutting down): 503 with Retry-After.
    #[error("{0}")]
    NotNow(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::NotFound | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal | ApiError::Damaged(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::OverLimit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotNow(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut resp = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE
            || status == StatusCode::INSUFFICIENT_STORAGE
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// A search that failed: logged in full, told to the client without paths.
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

async fn status(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
) -> Result<Json<pramaan_app::status::Report>, ApiError> {
    let Json(mut report) = op::answer(&st.app, &who, pramaan_app::status::Status {}).await?;
    report.heap = crate::telemetry::heap_stats().and_then(|h| serde_json::to_value(h).ok());
    Ok(Json(report))
}

/// Search parameters, as in `pramaan search` (the incident desk's excerpts
/// choose their lines with the same ones, so they live in the application layer).
pub use pramaan_app::search_params::{SearchParams, MAX_LIMIT};

/// `N` or `A-B` (inclusive).
pub use pramaan_core::query::parse_seq_range;

async fn search_ndjson(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    params: Result<QueryParams<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    // Started before answering: an unreadable segment is a 500 naming it,
    // not a 200 with an empty body; after the first hits (or half the
    // request timeout) it cuts the body short instead.
    let started = pramaan_app::search::Search(params)
        .start(&st.app, &caller, st.request_timeout / 2)
        .await?;
    use futures::StreamExt as _;
    let stream = futures::stream::iter(started.first.map(Ok))
        .chain(tokio_stream_from(started.rest))
        .map(|r| {
            r.map(|b| Bytes::from(search::ndjson(&b))).map_err(|e| {
                std::io::Error::other(pramaan_app::search::search_failed(e).to_string())
            })
        });
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

async fn sql(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Json(body): Json<pramaan_app::search::Sql>,
) -> Result<Response, ApiError> {
    op::answer_rows(&st.app, &caller, body).await
}
