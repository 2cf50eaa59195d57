//! `POST /upload`: what `systemd-journal-upload` sends
//! (`Content-Type: application/vnd.fdo.journal`, chunked, the journal
//! export format), as `systemd-journal-remote` takes it.
//!
//! journal-upload keeps one request open while it follows the journal (its
//! default), writing entries into the body as they are logged, and ends it
//! only when it stops. So the body is read as a stream: each entry ended by
//! its empty line is split off ([`journal::complete`]) and the entries a
//! piece of the body completes are stored at once (with an ingest turn for
//! the store only, so a following upload holds no turn while it waits), and
//! the route is outside `http.request_timeout`. What waits for its end (an
//! entry not yet complete) may be at most `http.max_body` bytes (413). An
//! entry over `syslog.max_line` is refused (`too_long`) and the others
//! stored. A body that breaks the format is refused with 400 naming the
//! entry and byte (what came before it is stored already). The answer, once
//! everything is in the WAL, is `202 Accepted` with a line of text, as
//! journal-remote answers. journal-upload, following, saves its cursor as
//! it sends (no acknowledgement per entry: hence storing each entry as soon
//! as it is complete); run once (`--follow=no`) it saves it only after a
//! 2xx. On any other status it stops with an error that shows our message,
//! and its next run starts again after the last cursor it saved: entries
//! stored before a failure are then sent again, and stored again (each
//! keeps its `__CURSOR`, which tells the copies).
//!
//! A compressed body (`Content-Encoding`, from newer journal-uploads) is
//! read whole under `http.max_body` and inflated first.

use super::intake::{content_encoding, inflate, read_body, refused, store};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use pramaan_core::peer::Via;
use pramaan_ingest::journal::{self, ExportError};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

const CONTENT_TYPE: &str = "application/vnd.fdo.journal";

/// What an upload stored and refused so far, and where it is in the body.
#[derive(Default)]
struct Progress {
    stored: usize,
    long: u64,
    /// Entries and bytes of the body already split off.
    entries: usize,
    bytes: usize,
}

impl Progress {
    fn bad(&self, from: &SocketAddr, e: ExportError) -> ApiError {
        // The entries of the rest of the body are not known: it counts once.
        refused(Some(Via::Journal), from, "malformed", 1);
        let e = e.shifted(self.entries, self.bytes);
        ApiError::BadRequest(format!(
            "the body is not journal export format: {e}{}",
            if self.stored > 0 {
                format!(" ({} entries before it were stored)", self.stored)
            } else {
                String::new()
            }
        ))
    }

    /// Stores the entries at `ranges` of `piece` (those within `syslog.max_line`).
    async fn store(
        &mut self,
        st: &AppState,
        from: SocketAddr,
        piece: Bytes,
        ranges: Vec<Range<usize>>,
    ) -> Result<(), ApiError> {
        self.entries += ranges.len();
        self.bytes += piece.len();
        let total = ranges.len();
        let lines: Vec<Bytes> = ranges
            .into_iter()
            .filter(|r| r.len() <= st.max_line)
            .map(|r| piece.slice(r))
            .collect();
        let long = (total - lines.len()) as u64;
        refused(Some(Via::Journal), &from, "too_long", long);
        self.long += long;
        if !lines.is_empty() {
            let n = lines.len();
            let _turn = st.ingest.take().await?;
            store(st, Some(Via::Journal), from, lines).await?;
            self.stored += n;
        }
        Ok(())
    }
}

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
    let mut p = Progress::default();
    let rest = if matches!(content_encoding(&headers).as_str(), "" | "identity") {
        stream(&st, from, body, &mut p).await?
    } else {
        let max_body = st.max_body;
        let body = {
            let _turn = st.ingest.take().await?;
            let body = read_body(&headers, body, max_body).await?;
            tokio::task::spawn_blocking(move || inflate(&headers, body, max_body))
                .await
                .map_err(internal)??
        };
        body.to_vec()
    };
    // The body has ended: its last piece must be whole entries.
    let ranges = journal::entries(&rest).map_err(|e| p.bad(&from, e))?;
    p.store(&st, from, Bytes::from(rest), ranges).await?;
    let mut text = format!("OK. {} entries stored.", p.stored);
    if p.long > 0 {
        text.push_str(&format!(
            " {} refused: longer than syslog.max_line ({} bytes).",
            p.long, st.max_line
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

/// Reads the body as it comes, storing the entries each piece completes;
/// returns what is left when it ends.
async fn stream(
    st: &AppState,
    from: SocketAddr,
    body: Body,
    p: &mut Progress,
) -> Result<Vec<u8>, ApiError> {
    let mut pending: Vec<u8> = Vec::new();
    let mut body = body.into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "reading a journal upload");
            ApiError::BadRequest("the request body could not be read to its end".into())
        })?;
        // An entry ends with an empty line: only then can one be complete
        // (so a long field arriving in many pieces is not read again each time).
        let joint = pending
            .last()
            .copied()
            .into_iter()
            .chain(chunk.iter().take(1).copied());
        let ends = chunk.windows(2).any(|w| w == b"\n\n") || joint.eq([b'\n', b'\n']);
        pending.extend_from_slice(&chunk);
        if ends {
            let (ranges, used) = journal::complete(&pending, 0).map_err(|e| p.bad(&from, e))?;
            if !ranges.is_empty() {
                let piece = Bytes::copy_from_slice(&pending[..used]);
                pending.drain(..used);
                p.store(st, from, piece, ranges).await?;
            }
        }
        if pending.len() > st.max_body {
            return Err(ApiError::TooLarge(format!(
                "an entry not yet complete is more than http.max_body ({} bytes); {} entries \
                 before it were stored",
                st.max_body, p.stored
            )));
        }
    }
    Ok(pending)
}
