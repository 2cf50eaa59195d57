//! `POST /loki/api/v1/push`: Loki's push API, for Promtail, Grafana Alloy,
//! Fluent Bit, Vector and the Loki client libraries.
//!
//! The body is protobuf (`Content-Type: application/x-protobuf`, or none),
//! snappy block compressed, or JSON (`application/json`, plain, gzip or
//! zstd). Each entry is stored as one record (`pramaan_ingest::loki` says
//! what its raw bytes are) with peer `loki:ADDRESS`. The answer is Loki's:
//! 204 once every entry is in the WAL (fsync'd); 400 with a message for a
//! body that does not decode (nothing stored); 413 past `http.max_body`
//! (compressed, or as the snappy block declares, or inflated). An entry over
//! `syslog.max_line` is refused (counted as `too_long`) and the others are
//! stored, then the answer is 400 naming how many were refused, as Loki
//! answers entries it refuses.

use super::intake::{content_encoding, inflate, read_body, refused, store};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use pramaan_core::peer::Via;
use pramaan_ingest::loki::{self, PushError};
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new().route("/loki/api/v1/push", axum::routing::post(push))
}

/// Whether the body is JSON (else protobuf, Loki's default).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// The entries' raw bytes, or why the body is refused.
fn decode(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Vec<Vec<u8>>, ApiError> {
    // Snappy is the protobuf body's own format, whatever a client says of it.
    let body = match content_encoding(headers).as_str() {
        "snappy" => body,
        _ => inflate(headers, body, max)?,
    };
    let decoded = if is_json(headers) {
        loki::split_json(&body)
    } else {
        loki::unsnappy(&body, max).and_then(|b| loki::split_proto(&b))
    };
    decoded.map_err(|e: PushError| {
        let msg = format!("loki push: {e}; nothing was stored");
        if e.too_large() {
            ApiError::TooLarge(msg)
        } else {
            ApiError::BadRequest(msg)
        }
    })
}

/// The reason a whole body's refusal is counted under (one per body: how
/// many entries it held is not known).
pub(super) fn body_refusal(e: &ApiError) -> &'static str {
    match e {
        ApiError::TooLarge(_) => "body_too_large",
        _ => "malformed_body",
    }
}

async fn push(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let _turn = st.ingest.take().await?;
    let (max_body, max_line) = (st.max_body, st.max_line);
    let body = read_body(&headers, body, max_body).await?;
    let entries = tokio::task::spawn_blocking(move || decode(&headers, body, max_body))
        .await
        .map_err(internal)?
        .inspect_err(|e| refused(Some(Via::Loki), &from, body_refusal(e), 1))?;
    let (lines, long): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        entries.into_iter().partition(|e| e.len() <= max_line);
    refused(Some(Via::Loki), &from, "too_long", long.len() as u64);
    if !lines.is_empty() {
        store(
            &st,
            Some(Via::Loki),
            from,
            lines.into_iter().map(Bytes::from).collect(),
        )
        .await?;
    }
    if !long.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "loki push: {} entries are longer than syslog.max_line ({max_line} bytes) and were not \
             stored; the others were",
            long.len()
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
