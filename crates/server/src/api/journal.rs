//! `POST /upload`: what `systemd-journal-upload` sends
//! (`Content-Type: application/vnd.fdo.journal`, chunked, the journal
//! export format), as `systemd-journal-remote` takes it.
//!
//! The body is read whole under `http.max_body` (inflated first if it has a
//! `Content-Encoding`), split into entries ([`pramaan_ingest::journal`]) and
//! refused whole with 400 naming the entry and byte when it breaks the
//! format. An entry over `syslog.max_line` is refused (`too_long`) and the
//! others stored. The answer, once they are in the WAL, is
//! `202 Accepted` with a line of text, as journal-remote answers; on any
//! other status journal-upload stops with an error that shows our message,
//! and its next run starts again after the last cursor it saved (it saves
//! one only after a 2xx), so nothing is lost and nothing refused is
//! counted as sent.

use super::intake::{inflate, read_body, refused, store};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pramaan_core::peer::Via;
use pramaan_ingest::journal;
use std::net::SocketAddr;
use std::sync::Arc;

const CONTENT_TYPE: &str = "application/vnd.fdo.journal";

pub(super) async fn upload(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if ct.as_deref() != Some(CONTENT_TYPE) {
        return Err(ApiError::UnsupportedEncoding(format!(
            "journal uploads are sent as Content-Type {CONTENT_TYPE} (the journal export format)"
        )));
    }
    let _turn = st.ingest.take().await?;
    let (max_body, max_line) = (st.max_body, st.max_line);
    let body = read_body(&headers, body, max_body).await?;
    let (entries, body) = tokio::task::spawn_blocking(move || {
        let body = inflate(&headers, body, max_body)?;
        match journal::entries(&body) {
            Ok(e) => Ok((e, body)),
            Err(e) => {
                // The entries of a refused body are not known: it counts once.
                refused(Some(Via::Journal), &from, "malformed", 1);
                Err(ApiError::BadRequest(format!(
                    "the body is not journal export format: {e}"
                )))
            }
        }
    })
    .await
    .map_err(internal)??;
    let total = entries.len();
    let lines: Vec<Bytes> = entries
        .into_iter()
        .filter(|r| r.len() <= max_line)
        .map(|r| body.slice(r))
        .collect();
    let long = (total - lines.len()) as u64;
    refused(Some(Via::Journal), &from, "too_long", long);
    let stored = lines.len();
    if stored > 0 {
        store(&st, Some(Via::Journal), from, lines).await?;
    }
    let mut text = format!("OK. {stored} entries stored.");
    if long > 0 {
        text.push_str(&format!(
            " {long} refused: longer than syslog.max_line ({max_line} bytes)."
        ));
    }
    text.push('\n');
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}
