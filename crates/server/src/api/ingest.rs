//! `POST /api/v1/ingest`: lines (NDJSON or plain) over HTTP, the body plain,
//! gzip or zstd.
//!
//! What one request may cost is bounded, and so is how many run at once:
//!
//! * The body is read only once the request has its turn: at most
//!   `http.max_concurrent_ingests` are read and decoded at once. One beyond
//!   that waits up to `http.ingest_wait` for a turn, then is answered 503
//!   with `Retry-After` (nothing of it stored).
//! * A compressed body is inflated as a stream, piece by piece, and split into
//!   lines as it comes ([`NdjsonSplitter`]). More than `http.max_body` bytes
//!   inflated is refused with 413 as soon as it is reached (a bomb is never
//!   inflated further), and a line over `syslog.max_line` is counted, not kept.
//!   A request thus holds its compressed body and at most `http.max_body` of
//!   lines, never the whole inflated body twice over.

use super::{internal, ApiError, AppState};
use crate::listeners::refused;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use futures::StreamExt;
use pramaan_config::Config;
use pramaan_core::Transport;
use pramaan_ingest::ndjson::{LineRefusal, NdjsonSplitter};
use pramaan_vault::AppendError;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Bytes inflated at a time from a compressed body.
const PIECE: usize = 256 * 1024;

/// Turns for ingest requests (`http.max_concurrent_ingests`, `http.ingest_wait`).
#[derive(Debug)]
pub struct IngestTurns {
    turns: Arc<Semaphore>,
    max: usize,
    wait: Duration,
}

impl IngestTurns {
    pub fn new(cfg: &Config) -> Self {
        let max = cfg.http.max_concurrent_ingests.max(1);
        IngestTurns {
            turns: Arc::new(Semaphore::new(max)),
            max,
            wait: cfg.http.ingest_wait,
        }
    }

    /// A turn, at once or within the wait; else 503.
    async fn take(&self) -> Result<Turn, ApiError> {
        let permit = match self.turns.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if self.wait.is_zero() => None,
            Err(_) => tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(permit) = permit else {
            metrics::counter!("pramaan_http_ingests_refused_total").increment(1);
            return Err(ApiError::Busy(format!(
                "{} ingest requests are being read already (http.max_concurrent_ingests) and \
                 none finished within http.ingest_wait ({:?}); nothing of this request was \
                 stored: retry later",
                self.max, self.wait
            )));
        };
        metrics::gauge!("pramaan_http_ingests_in_flight").increment(1.0);
        Ok(Turn { _permit: permit })
    }
}

/// An ingest request's turn; given back when it ends, however it ends.
struct Turn {
    _permit: OwnedSemaphorePermit,
}

impl Drop for Turn {
    fn drop(&mut self) {
        metrics::gauge!("pramaan_http_ingests_in_flight").decrement(1.0);
    }
}

/// The lines of a body, split as it is inflated.
#[derive(Debug, Default)]
struct Split {
    lines: Vec<Bytes>,
    refused: Vec<RefusedLine>,
    empty: u64,
}

impl Split {
    fn take(&mut self, r: Result<Bytes, LineRefusal>) {
        match r {
            Ok(l) => self.lines.push(l),
            Err(r) => self.refused.push(RefusedLine {
                line: r.line_no,
                reason: r.reason.to_string(),
            }),
        }
    }
}

fn too_large(what: &str, max: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "the body {what} more than http.max_body ({max} bytes); nothing was stored: send \
         smaller requests"
    ))
}

/// Reads the body (at most `max` bytes) once the request has its turn.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large("is", max));
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "reading an ingest body");
            ApiError::BadRequest("the request body could not be read to its end".into())
        })?;
        if buf.len() + chunk.len() > max {
            return Err(too_large("is", max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Splits `body` into lines, inflating it first as its `Content-Encoding`
/// says, piece by piece, refusing it past `max` bytes inflated.
fn split_body(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
    max_line: usize,
) -> Result<Split, ApiError> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut split = Split::default();
    let mut splitter = NdjsonSplitter::new(max_line);
    let mut reader: Box<dyn Read + '_> = match enc.as_str() {
        "" | "identity" => {
            splitter.push(body, &mut |r| split.take(r));
            splitter.finish(&mut |r| split.take(r));
            split.empty = splitter.empty_lines() as u64;
            return Ok(split);
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(&body[..])
                .map_err(|e| ApiError::BadRequest(format!("zstd body: {e}")))?,
        ),
        other => {
            return Err(ApiError::UnsupportedEncoding(format!(
                "Content-Encoding `{other}` is not supported; use gzip, zstd or none"
            )))
        }
    };
    let mut total = 0usize;
    let mut eof = false;
    while !eof {
        let mut piece = vec![0u8; PIECE];
        let mut n = 0;
        while n < piece.len() {
            match reader.read(&mut piece[n..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(ApiError::BadRequest(format!(
                        "the {enc} body does not decompress: {e}"
                    )))
                }
            }
        }
        total += n;
        if total > max {
            return Err(too_large("decompresses to", max));
        }
        piece.truncate(n);
        splitter.push(Bytes::from(piece), &mut |r| split.take(r));
    }
    splitter.finish(&mut |r| split.take(r));
    split.empty = splitter.empty_lines() as u64;
    Ok(split)
}

pub(super) async fn ingest(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let _turn = st.ingest.take().await?;
    let max_body = st.max_body;
    let max_line = st.max_line;
    let body = read_body(&headers, body, max_body).await?;
    let split = tokio::task::spawn_blocking(move || split_body(&headers, body, max_body, max_line))
        .await
        .map_err(internal)??;
    let Split {
        lines,
        refused: refused_lines,
        empty,
    } = split;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    fn headers(enc: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, enc.parse().unwrap());
        h
    }

    #[test]
    fn a_gzip_body_is_split_as_it_inflates() {
        // Lines across the 256 KiB pieces, one over-long, blank ones.
        let mut body = Vec::new();
        for i in 0..40_000 {
            body.extend_from_slice(format!("line {i:05} {}\n", "x".repeat(i % 17)).as_bytes());
            if i == 20_000 {
                body.extend_from_slice(&vec![b'y'; 5000]);
                body.extend_from_slice(b"\n \r\n");
            }
        }
        let s = split_body(&headers("gzip"), gz(&body), 16 << 20, 1024).unwrap();
        assert_eq!(s.lines.len(), 40_000);
        assert_eq!(
            &s.lines[39_999][..],
            b"line 39999 xxxxxxxxxxxxxxx".as_slice()
        );
        assert_eq!(s.refused.len(), 1);
        assert_eq!(s.refused[0].line, 20_002);
        assert_eq!(s.empty, 1);
    }

    #[test]
    fn inflating_stops_past_the_limit() {
        // 64 MiB of zeros in well under 1 MiB: refused once 1 MiB is inflated.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = Bytes::from(e.finish().unwrap());
        match split_body(&headers("gzip"), bomb, 1 << 20, 1024) {
            Err(ApiError::TooLarge(m)) => {
                assert!(m.contains("http.max_body (1048576 bytes)"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Exactly at the limit is fine.
        let at = vec![b'a'; 1 << 20];
        let s = split_body(&headers("gzip"), gz(&at), 1 << 20, 2 << 20).unwrap();
        assert_eq!(s.lines.len(), 1);
    }
}
