//! IP attribution over HTTP: `GET /api/v1/whois` and `GET /api/v1/whois/stats`
//! (operations of `pramaan_app::whois`), the bulk import of a bindings CSV
//! sent as the request body (`POST /api/v1/whois/import-bindings`: checked
//! here as it arrives, then stored by `pramaan_app::whois::import_bindings`,
//! audited before anything is stored; the server opens no file a client
//! names), and the task in `serve` that feeds session logs from the vault
//! into the attribution store, reading only the lines of the configured
//! session sources (`attribution.sources`).

use super::op::answer;
use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Query as QueryParams, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pramaan_app::whois::{
    import_bindings as store_bindings, BindingStats, BindingsCheck, Whois, WhoisStats,
};
use pramaan_app::Caller;
use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::{Answer, BindingStore, ImportError};
use pramaan_vault::search::{self, Order};
use pramaan_vault::{Query, Vault};
use std::sync::Arc;
use std::time::Duration;

pub use pramaan_app::whois::Attribution;

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

async fn whois(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    QueryParams(op): QueryParams<Whois>,
) -> Result<Json<Answer>, ApiError> {
    answer(&st.app, &who, op).await
}

async fn stats(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Result<Json<BindingStats>, ApiError> {
    answer(&st.app, &who, WhoisStats {}).await
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

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the file is larger than attribution.import_max_body ({limit} bytes); nothing imported"
    ))
}

/// Imports the bindings CSV that is the request body (`Content-Type:
/// text/csv`), all or nothing: the body is checked line by line as it
/// arrives, then handed to the operation (audited, then stored). The
/// server reads no file a client names: `{"path": ...}` is refused.
async fn import_bindings(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use futures::StreamExt;
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
    let limit = st.app.attribution().import_max_body;
    let hint = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if hint > limit {
        // Read (and drop) a body moderately over the limit, so that the
        // client gets this answer instead of a connection reset mid-send;
        // one far over it is cut off at once.
        if hint <= limit.saturating_add(DRAIN_OVER_LIMIT) {
            drain(body).await;
        }
        return Err(too_large(limit));
    }
    // Checking is CPU work: on a blocking thread, fed as the body arrives.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let checker = tokio::task::spawn_blocking(move || {
        let mut c = BindingsCheck::new("the request body", hint);
        while let Some(b) = rx.blocking_recv() {
            c.push(&b)?;
        }
        c.finish()
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
                    failed = Some(too_large(limit));
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
    let checked = match checked {
        Ok(c) => c,
        Err(ImportError::Invalid { total, errors, .. }) => {
            return Ok(invalid_answer(total, &errors))
        }
        Err(ImportError::Store(e)) => return Err(super::internal(e)),
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    let done = store_bindings(&st.app, &who, checked).await?;
    Ok(Json(done).into_response())
}

/// How far past `attribution.import_max_body` a refused body is still read
/// to its end before the refusal is sent.
const DRAIN_OVER_LIMIT: u64 = 64 << 20;

/// Reads a request body to its end, dropping it.
async fn drain(body: axum::body::Body) {
    let mut frames = body.into_data_stream();
    while let Some(Ok(_)) = futures::StreamExt::next(&mut frames).await {}
}

/// How many records the feeder reads at a time.
const FEED_BATCH: usize = 5000;

/// The lines that can be session lines: those holding one of the parsers'
/// markers, and Kea's lease-file rows (a shape, not a word) when a session
/// source may use the DHCP parser. Filtering in the vault keeps the feeder
/// from turning every log line into a search hit (it took about half the
/// CPU of a full-rate ingest); the row shape has no literal to look for
/// first, so it slows the filter about 5 times and is left out where no
/// source could take a lease row.
fn session_lines(lease_rows: bool) -> regex::bytes::Regex {
    static RE: [std::sync::OnceLock<regex::bytes::Regex>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    RE[usize::from(lease_rows)]
        .get_or_init(|| {
            let markers = pramaan_attribution::parse::MARKERS
                .iter()
                .map(|m| regex::escape(m));
            // and the packets the RADIUS server stored (code 4, Accounting-Request, first),
            // and the WireGuard poller's lines.
            let mut alts = vec![
                r"(?-u:\A\x04)".to_owned(),
                format!(
                    r"\A{}",
                    regex::escape(pramaan_attribution::parse::wireguard::LINE_PREFIX)
                ),
            ];
            if lease_rows {
                alts.push(pramaan_attribution::parse::dhcp::LEASE_ROW_REGEX.to_owned());
            }
            alts.extend(markers);
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
        tracing::info!("attribution.sources is empty: no log line creates bindings (whois answers from imported bindings, the RADIUS server and the WireGuard poller only)");
    }
    let mut feeder = match Feeder::resume(&*store, att.max_session, att.sources.clone()).await {
        Ok(mut f) => {
            f.radius_max_skew_ns =
                i64::try_from(att.radius_max_skew.as_nanos()).unwrap_or(i64::MAX);
            f
        }
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
            // A batch cut by the shutdown (the vault stops reads first) is
            // no failure: the next start reads it again from the feeder's mark.
            Err(_) if *stop.borrow() => return,
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

/// A record of the RADIUS server as the feeder reads it: the packet, and
/// its arrival as the time (the record carries no parsed event time).
fn radius_record(hit: &search::Hit) -> LogRecord {
    use base64::Engine;
    let packet = match (&hit.raw, &hit.raw_b64) {
        (Some(r), _) => r.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    LogRecord {
        seq: hit.seq,
        time_ns: pramaan_core::time::parse_user_time(&hit.received_at, 0).unwrap_or(0),
        offset_secs: 0,
        message: String::new(),
        peer: hit.peer.clone(),
        host: None,
        app: None,
        packet: Some(packet),
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
        regex: Some(session_lines(
            att.sources.allows(pramaan_attribution::parse::Parser::Dhcp),
        )),
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
            // The RADIUS server's records: the packet (raw bytes, base64 when
            // not UTF-8), at its arrival. No other listener's peer starts so.
            if matches!(
                pramaan_core::peer::Via::of(&hit.peer),
                Some((pramaan_core::peer::Via::Radius, _))
            ) {
                recs.push(radius_record(&hit));
                continue;
            }
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
                packet: None,
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
    if rep.skewed > 0 {
        metrics::counter!("pramaan_radius_clock_skewed_total").increment(rep.skewed as u64);
    }
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
