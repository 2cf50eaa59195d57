//! The ledger over HTTP: the signed checkpoint, inclusion and consistency
//! proofs, co-signatures, and the tiles at their C2SP paths (read-only).
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/checkpoint` | the latest signed checkpoint (C2SP signed note), `text/plain` |
//! | `GET /api/v1/checkpoints` | the kept checkpoints (history), JSON |
//! | `POST /api/v1/checkpoint/cosign` | `{"note", "vkey"}`: a kept checkpoint signed by another key; the signature is checked and kept |
//! | `GET /api/v1/proof/inclusion?seq=N[&size=M]` | JSON: leaf index, tree size, leaf hash, proof, the checkpoint of size M, the record's canonical fields (its bytes only for a caller who may read that record: see `pramaan_app::ledger::may_read_record`) |
//! | `GET /api/v1/proof/consistency?from=A&to=B` | JSON: proof and the checkpoints of both sizes |
//! | `GET /ledger/checkpoint` | the latest checkpoint, as a C2SP tlog-tiles client expects it |
//! | `GET /ledger/tile/<L>/<N>[.p/<W>]` | a tile; level 0 is recomputed from the records |

use super::op::answer;
use super::{internal, ApiError, AppState};
use crate::caller::Authenticated;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_app::ledger::{Consistency, Cosign, Inclusion, LatestCheckpoint};
use pramaan_vault::ledger::proofs::{self, ConsistencyProof, InclusionProof, ProofRequestError};
use pramaan_vault::ledger::StoredCheckpoint;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/checkpoint", get(checkpoint))
        .route("/api/v1/checkpoints", get(checkpoints))
        .route("/api/v1/checkpoint/cosign", post(cosign))
        .route("/api/v1/proof/inclusion", get(inclusion))
        .route("/api/v1/proof/consistency", get(consistency))
        .route("/ledger/checkpoint", get(checkpoint))
        .route("/ledger/tile/{*path}", get(tile))
}

impl From<ProofRequestError> for ApiError {
    fn from(e: ProofRequestError) -> Self {
        pramaan_app::ledger::proof_error(e).into()
    }
}

fn note_response(note: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note.to_owned(),
    )
        .into_response()
}

async fn checkpoint(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
) -> Result<Response, ApiError> {
    let note = pramaan_app::Operation::run(LatestCheckpoint {}, &st.app, &who).await?;
    Ok(note_response(&note))
}

async fn checkpoints(
    State(st): State<Arc<AppState>>,
) -> Result<Json<Vec<StoredCheckpoint>>, ApiError> {
    let vault = st.vault.clone();
    let list = tokio::task::spawn_blocking(move || proofs::checkpoints(&vault))
        .await
        .map_err(internal)??;
    Ok(Json(list))
}

/// The proof, with the record's bytes only for a caller who may read the
/// record; any other caller gets the leaf hash and the proof.
async fn inclusion(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    params: Result<Query<Inclusion>, QueryRejection>,
) -> Result<Json<InclusionProof>, ApiError> {
    let Query(op) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &caller, op).await
}

async fn consistency(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    params: Result<Query<Consistency>, QueryRejection>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let Query(op) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &caller, op).await
}

async fn tile(
    State(st): State<Arc<AppState>>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = proofs::tile(&st.vault, &format!("tile/{path}")).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn cosign(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
    body: Result<Json<Cosign>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let merged = pramaan_app::Operation::run(op, &st.app, &who).await?;
    Ok(note_response(&merged))
}
