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

use super::intake::{content_encoding, read_body, refused, store, too_large, unsupported_encoding};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;
use pramaan_ingest::ndjson::{LineRefusal, NdjsonSplitter};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

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

use super::intake::PIECE;

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

/// Splits `body` into lines, inflating it first as its `Content-Encoding`
/// says, piece by piece, refusing it past `max` bytes inflated.
fn split_body(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
    max_line: usize,
) -> Result<Split, ApiError> {
    let enc = content_encoding(headers);
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
        other => return Err(unsupported_encoding(other)),
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
    refused(None, &from, "too_long", refused_lines.len() as u64);
    refused(None, &from, "empty", empty);
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
    let range = store(&st, None, from, lines).await?;
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
    use axum::http::header;
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
