//! Sigma rules over HTTP: `POST /api/v1/detect/test`, a rule's back-test
//! over stored lines (the operation is `pramaan_app::detect::Test`).

use super::op::answer;
use super::{ApiError, AppState};
use crate::caller::Authenticated;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use pramaan_app::detect::{Test, TestReport};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/detect/test", post(test))
}

async fn test(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
    body: Result<Json<Test>, JsonRejection>,
) -> Result<Json<TestReport>, ApiError> {
    let Json(op) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    answer(&st.app, &who, op).await
}
