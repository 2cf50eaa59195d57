//! Sigma rules over HTTP: `POST /api/v1/detect/test`, a rule's back-test
//! over stored lines (the operation is `pramaan_app::detect::Test`), and
//! `GET /api/v1/detect/detections`, what `serve`'s rules detected; the
//! compliance alerts (`GET /api/v1/alerts`, `POST /api/v1/alerts/ack`).

use super::op::answer;
use super::{ApiError, AppState};
use crate::caller::Authenticated;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_app::alerting::{Ack, AlertView, List};
use pramaan_app::detect::{DetectionView, Detections, Test, TestReport};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/detect/test", post(test))
        .route("/api/v1/detect/detections", get(detections))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/ack", post(ack))
}

async fn alerts(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    answer(&st.app, &who, List {}).await
}

async fn ack(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
    body: Result<Json<Ack>, JsonRejection>,
) -> Result<Json<AlertView>, ApiError> {
    let Json(op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &who, op).await
}

async fn detections(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
    Query(op): Query<Detections>,
) -> Result<Json<Vec<DetectionView>>, ApiError> {
    answer(&st.app, &who, op).await
}

async fn test(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
    body: Result<Json<Test>, JsonRejection>,
) -> Result<Json<TestReport>, ApiError> {
    let Json(op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &who, op).await
}
