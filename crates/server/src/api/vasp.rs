//! VASP transactions over HTTP (each route one operation of
//! `pramaan_app::vasp`, for the caller the guard authenticated):
//!
//! * `POST /api/v1/vasp/transactions`: a JSON array of transactions, all or
//!   nothing (400 names every bad field by record; 409 when an id is stored
//!   with other content); `{"added","unchanged","recovered"}` once they are
//!   in the ledger.
//! * `GET /api/v1/vasp/trail?customer=|wallet=|tx=&from=&to=&hops=&purpose=`:
//!   the trail, after its audit record.

use super::op::answer;
use super::{ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query as QueryParams, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pramaan_app::vasp::{ImportTransactions, Imported, TrailAnswer, TrailQuery};
use pramaan_app::Caller;
use std::sync::Arc;

/// The routes as literals (the access table's test reads them from this
/// source); each is its operation's `ROUTE`.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/vasp/transactions", post(import))
        .route("/api/v1/vasp/trail", get(trail))
}

async fn import(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    body: Result<Json<ImportTransactions>, JsonRejection>,
) -> Result<Json<Imported>, ApiError> {
    let op = body
        .map(|Json(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &who, op).await
}

async fn trail(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    QueryParams(op): QueryParams<TrailQuery>,
) -> Result<Json<TrailAnswer>, ApiError> {
    answer(&st.app, &who, op).await
}
