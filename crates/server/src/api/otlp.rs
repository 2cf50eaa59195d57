//! `POST /v1/logs`: OTLP/HTTP logs, protobuf (`application/x-protobuf`) or
//! JSON (`application/json`), plain or gzip/zstd (`Content-Encoding`).
//!
//! The body is read and decoded whole under `http.max_body`
//! ([`pramaan_ingest::otlp`]: one record per log record, refused whole with
//! 400 when it does not decode or a value nests too deep). A record over
//! `syslog.max_line` is refused (`too_long`) and the others stored. The
//! answer, sent once the records are in the WAL, is an
//! `ExportLogsServiceResponse` in the request's encoding, with
//! `partialSuccess` naming how many were refused and why; a refusal of the
//! whole request is a `google.rpc.Status` in that encoding, as OTLP/HTTP
//! says, with the HTTP status of [`ApiError`].

use super::intake::{inflate, read_body, refused, store};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pramaan_core::peer::Via;
use pramaan_ingest::otlp::{self, Encoding};
use std::net::SocketAddr;
use std::sync::Arc;

/// The request's encoding, by its `Content-Type`.
fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next()?.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

fn content_type(enc: Encoding) -> HeaderValue {
    HeaderValue::from_static(match enc {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    })
}

pub(super) async fn logs(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(enc) = encoding(&headers) else {
        return refusal(
            Encoding::Json,
            ApiError::UnsupportedEncoding(
                "OTLP/HTTP logs are sent as Content-Type application/x-protobuf or \
                 application/json"
                    .into(),
            ),
        );
    };
    match export(&st, from, &headers, body, enc).await {
        Ok(r) => r,
        Err(e) => refusal(enc, e),
    }
}

async fn export(
    st: &AppState,
    from: SocketAddr,
    headers: &HeaderMap,
    body: Body,
    enc: Encoding,
) -> Result<Response, ApiError> {
    let _turn = st.ingest.take().await?;
    let (max_body, max_line) = (st.max_body, st.max_line);
    let body = read_body(headers, body, max_body).await?;
    let h = headers.clone();
    let split = tokio::task::spawn_blocking(move || {
        let body = inflate(&h, body, max_body)?;
        otlp::split(&body, enc).map_err(|e| {
            let reason = match e {
                otlp::OtlpError::TooDeep { .. } => "too_deep",
                _ => "malformed",
            };
            // The records of a refused request are not known: it counts once.
            refused(Some(Via::Otlp), &from, reason, 1);
            ApiError::BadRequest(format!("the OTLP logs request does not decode: {e}"))
        })
    })
    .await
    .map_err(internal)??;
    let (keep, long): (Vec<_>, Vec<_>) = split
        .into_iter()
        .enumerate()
        .partition(|(_, r)| r.len() <= max_line);
    let rejected = long.len() as u64;
    refused(Some(Via::Otlp), &from, "too_long", rejected);
    let message = match long.first() {
        None => String::new(),
        Some((i, r)) => format!(
            "{rejected} log record(s) longer than syslog.max_line ({max_line} bytes) as stored \
             were refused; the first is log record {} of the request ({} bytes)",
            i + 1,
            r.len()
        ),
    };
    let lines: Vec<Bytes> = keep.into_iter().map(|(_, r)| Bytes::from(r)).collect();
    if !lines.is_empty() {
        store(st, Some(Via::Otlp), from, lines).await?;
    }
    Ok((
        [(header::CONTENT_TYPE, content_type(enc))],
        otlp::response(enc, rejected, &message),
    )
        .into_response())
}

/// `err` as OTLP/HTTP says: its status, a `google.rpc.Status` in the body.
fn refusal(enc: Encoding, err: ApiError) -> Response {
    let message = err.to_string();
    let mut r = err.into_response();
    // gRPC codes: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL.
    let code = match r.status() {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::INSUFFICIENT_STORAGE => 8,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        _ => 13,
    };
    *r.body_mut() = Body::from(otlp::status(enc, code, &message));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(enc));
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}
