//! Retention and legal holds over HTTP:
//!
//! * `POST /api/v1/holds`: add a hold (`from`, `to`, optional `source` and
//!   `ip`, `reason`, `order_ref`, optional `by`); 201 with the hold.
//! * `GET /api/v1/holds`: every hold, released ones too.
//! * `POST /api/v1/holds/{id}/release`: release one (`reason`, optional
//!   `by`); 404 for an unknown hold, 409 when already released.
//!
//! Who placed or released a hold is the caller the server authenticated
//! (the `Identity` the access guard set), never what the client says: a
//! client's `by` is kept only as what it stated, after the identity.
//! * `POST /api/v1/retention/run?dry_run=true`: a retention run now (or only
//!   what it would do), answered with the run's report.

use super::{op, ApiError, AppState};
use crate::caller::Authenticated;
use axum::extract::{ConnectInfo, Path, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_app::holds::{AddHold, ListHolds, ReleaseHold, RunRetention};
use pramaan_vault::retention::RunReport;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/holds", get(list_holds).post(add_hold))
        .route("/api/v1/holds/{id}/release", post(release_hold))
}

/// Routes that may legitimately run longer than `http.request_timeout`
/// (a retention run deleting many segments): merged outside the timeout.
pub(super) fn long_routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/retention/run", post(run))
}

pub use pramaan_app::holds::hold_json;

/// Sets the retention gauges for a `/metrics` scrape.
pub(super) fn set_gauges(st: &AppState) {
    metrics::gauge!("pramaan_retention_compliant").set(
        if st.app.retention().policy().compliant() {
            1.0
        } else {
            0.0
        },
    );
    if let Ok(holds) = st.app.retention().holds() {
        metrics::gauge!("pramaan_legal_holds_active")
            .set(holds.iter().filter(|h| h.active()).count() as f64);
    }
}

async fn list_holds(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    op::answer(&st.app, &caller, ListHolds {}).await
}

/// `HTTP from 10.1.2.3`: where a request came from, kept with who acted.
fn via(from: SocketAddr) -> Option<String> {
    Some(format!("HTTP from {}", from.ip().to_canonical()))
}

async fn add_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: Result<Json<AddHold>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(mut op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    op.via = via(from);
    let hold = op::answer(&st.app, &caller, op).await?;
    Ok((StatusCode::CREATED, hold).into_response())
}

async fn release_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<ReleaseHold>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) =
        id.map_err(|e| ApiError::BadRequest(format!("the hold id: {}", e.body_text())))?;
    let Json(mut op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    op.id = id;
    op.via = via(from);
    op::answer(&st.app, &caller, op).await
}

async fn run(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    params: Result<QueryParams<RunRetention>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunReport>, ApiError> {
    let QueryParams(op) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    op::answer(&st.app, &caller, op).await
}
