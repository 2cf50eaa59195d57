//! What every way of sending lines over HTTP shares: turns (at most
//! `http.max_concurrent_ingests` bodies read and decoded at once), reading a
//! body under `http.max_body`, inflating a compressed one under the same
//! limit, and storing the lines with their acknowledgement (the answer is
//! sent only once they are in the WAL, fsync'd), with the same metrics and
//! refusals whatever the protocol: NDJSON (`ingest`), and the shippers'
//! protocols, whose records' peer names the protocol ([`Via`]).

use super::{ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use futures::StreamExt;
use pramaan_config::Config;
use pramaan_core::peer::Via;
use pramaan_core::Transport;
use pramaan_vault::{AppendError, SeqRange};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes inflated at a time from a compressed body.
pub(super) const PIECE: usize = 256 * 1024;

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
    pub(super) async fn take(&self) -> Result<Turn, ApiError> {
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
pub(super) struct Turn {
    _permit: OwnedSemaphorePermit,
}

impl Drop for Turn {
    fn drop(&mut self) {
        metrics::gauge!("pramaan_http_ingests_in_flight").decrement(1.0);
    }
}

pub(super) fn too_large(what: &str, max: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "the body {what} more than http.max_body ({max} bytes); nothing was stored: send \
         smaller requests"
    ))
}

/// Reads the body (at most `max` bytes) once the request has its turn.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, ApiError> {
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

/// The whole body, inflated as its `Content-Encoding` says (gzip, zstd or
/// none), refused with 413 once more than `max` bytes come out. For
/// protocols whose bodies are read whole (JSON documents, protobuf).
pub(super) fn inflate(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Bytes, ApiError> {
    let enc = content_encoding(headers);
    let reader: Box<dyn Read + '_> = match enc.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(&body[..])
                .map_err(|e| ApiError::BadRequest(format!("zstd body: {e}")))?,
        ),
        other => return Err(unsupported_encoding(other)),
    };
    let mut out = Vec::new();
    // One byte past the limit tells "at the limit" from "over it".
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("the {enc} body does not decompress: {e}")))?;
    if out.len() > max {
        return Err(too_large("decompresses to", max));
    }
    Ok(Bytes::from(out))
}

/// The request's `Content-Encoding`, lower case, `""` when it has none.
pub(super) fn content_encoding(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(super) fn unsupported_encoding(enc: &str) -> ApiError {
    ApiError::UnsupportedEncoding(format!(
        "Content-Encoding `{enc}` is not supported; use gzip, zstd or none"
    ))
}

/// The `transport` label of a protocol's metrics: its name, `http` for NDJSON.
fn transport_label(via: Option<Via>) -> &'static str {
    via.map_or(Transport::Http.as_str(), Via::name)
}

/// Counts `n` events of a request from `from` that were not stored, by reason.
pub(super) fn refused(via: Option<Via>, from: &SocketAddr, reason: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("pramaan_lines_refused_total", "transport" => transport_label(via), "source" => from.ip().to_canonical().to_string(), "reason" => reason).increment(n);
    }
}

/// Stores `lines` as records of transport `http` whose peer is `from`
/// (NDJSON) or `via`'s peer for `from`, and returns their sequence numbers
/// once they are durable. Nothing is stored when it fails.
pub(super) async fn store(
    st: &AppState,
    via: Option<Via>,
    from: SocketAddr,
    lines: Vec<Bytes>,
) -> Result<SeqRange, ApiError> {
    let n = lines.len() as u64;
    metrics::counter!("pramaan_lines_received_total", "transport" => transport_label(via), "source" => from.ip().to_canonical().to_string())
        .increment(n);
    let peer = match via {
        Some(v) => v.peer(from),
        None => from.to_string(),
    };
    st.vault
        .append(Transport::Http, Arc::from(peer.as_str()), lines)
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
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_whole_body_inflates_up_to_the_limit_and_no_further() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        let gz = |n: usize| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&vec![b'a'; n]).unwrap();
            Bytes::from(e.finish().unwrap())
        };
        assert_eq!(inflate(&h, gz(1000), 1000).unwrap().len(), 1000);
        match inflate(&h, gz(1001), 1000) {
            Err(ApiError::TooLarge(m)) => assert!(m.contains("http.max_body (1000 bytes)"), "{m}"),
            other => panic!("{other:?}"),
        }
        h.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert!(matches!(
            inflate(&h, gz(1), 10),
            Err(ApiError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            inflate(&HeaderMap::new(), Bytes::from_static(b"xy"), 10).unwrap(),
            &b"xy"[..]
        );
    }
}
