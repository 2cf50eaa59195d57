//! The incident desk over HTTP: each route extracts its operation
//! (`pramaan_app::desk`) from the path, query or body and answers it.
//!
//! * `GET /api/v1/incidents`: every incident, newest first, each with its
//!   deadline (IST and UTC), time left and `overdue`.
//! * `POST /api/v1/incidents`: a new one (`title`, `kinds`, `detected_at`,
//!   optional `notified_at`, `occurred_at`, `systems`, text fields); 201.
//! * `GET /api/v1/incidents/kinds`: the 20 kinds of Annexure I with their codes.
//! * `GET /api/v1/incidents/{id}`: the incident, its history (each change with
//!   its ledger sequence number), report attempts, excerpts, reminders.
//! * `PATCH /api/v1/incidents/{id}`: change fields.
//! * `POST /api/v1/incidents/{id}/excerpts`: attach the log lines a search
//!   finds (`name`, `search`: the parameters of `GET /api/v1/search`).
//! * `GET /api/v1/incidents/{id}/report?format=text|html|json`: the next report, rendered.
//! * `GET /api/v1/incidents/{id}/export?file=ndjson|manifest`: the attached logs.
//! * `POST /api/v1/incidents/{id}/send`: send the next report (the first or a
//!   follow-up); 200 with the attempt, whose `error` says why when unsent.
//! * `POST /api/v1/incidents/{id}/close`: close it (`reason`).
//! * `GET /api/v1/poc`, `PUT /api/v1/poc`, `GET /api/v1/poc/history`: the point of contact.
//!
//! The acting user is the caller the guard authenticated.

use super::op::answer;
use super::{ApiError, AppState};
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pramaan_app::desk::{
    AttachExcerpt, CloseIncident, EditIncident, ExportLogs, ListIncidents, OpenIncident,
    PocHistory, RenderReport, SendReport, SetPoc, ShowIncident, ShowPoc,
};
use pramaan_app::{Caller, Operation};
use std::sync::Arc;

impl AppState {
    /// The incident desk (`serve` runs its reminders).
    pub fn desk(&self) -> &pramaan_app::desk::DeskState {
        self.app.desk()
    }
}

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/incidents", get(list).post(create))
        .route("/api/v1/incidents/kinds", get(kinds))
        .route("/api/v1/incidents/{id}", get(show).patch(edit))
        .route("/api/v1/incidents/{id}/excerpts", post(attach))
        .route("/api/v1/incidents/{id}/report", get(report))
        .route("/api/v1/incidents/{id}/export", get(export))
        .route("/api/v1/incidents/{id}/send", post(send))
        .route("/api/v1/incidents/{id}/close", post(close))
        .route("/api/v1/poc", get(poc_show).put(poc_set))
        .route("/api/v1/poc/history", get(poc_history))
}

type Answer<O> = Result<Json<<O as Operation>::Output>, ApiError>;

async fn kinds() -> Json<serde_json::Value> {
    Json(serde_json::to_value(&pramaan_desk::kinds::KINDS[..]).unwrap_or_default())
}

async fn list(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Answer<ListIncidents> {
    answer(&st.app, &who, ListIncidents {}).await
}

async fn create(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Json(op): Json<OpenIncident>,
) -> Result<Response, ApiError> {
    let inc = op.run(&st.app, &who).await?;
    Ok((StatusCode::CREATED, Json(inc)).into_response())
}

async fn show(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
) -> Answer<ShowIncident> {
    answer(&st.app, &who, ShowIncident { id }).await
}

async fn edit(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    Json(op): Json<EditIncident>,
) -> Answer<EditIncident> {
    answer(&st.app, &who, EditIncident { id, ..op }).await
}

async fn attach(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    Json(op): Json<AttachExcerpt>,
) -> Answer<AttachExcerpt> {
    answer(&st.app, &who, AttachExcerpt { id, ..op }).await
}

async fn report(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    QueryParams(op): QueryParams<RenderReport>,
) -> Result<Response, ApiError> {
    let format = op.format.clone().unwrap_or_else(|| "text".into());
    let p = RenderReport { id, ..op }.run(&st.app, &who).await?;
    Ok(match format.as_str() {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            p.text,
        )
            .into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], p.html).into_response(),
        "json" => Json(p).into_response(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "format: `{other}` is not text, html or json"
            )))
        }
    })
}

async fn export(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    QueryParams(op): QueryParams<ExportLogs>,
) -> Result<Response, ApiError> {
    let file = op.file.clone().unwrap_or_else(|| "ndjson".into());
    let e = ExportLogs { id, ..op }.run(&st.app, &who).await?;
    Ok(match file.as_str() {
        "ndjson" => ([(header::CONTENT_TYPE, "application/x-ndjson")], e.ndjson).into_response(),
        "manifest" => ([(header::CONTENT_TYPE, "application/json")], e.manifest).into_response(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "file: `{other}` is not ndjson or manifest"
            )))
        }
    })
}

/// No body is read: the incident's number is the whole request.
async fn send(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
) -> Answer<SendReport> {
    answer(&st.app, &who, SendReport { id }).await
}

async fn close(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    Json(op): Json<CloseIncident>,
) -> Answer<CloseIncident> {
    answer(&st.app, &who, CloseIncident { id, ..op }).await
}

async fn poc_show(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Answer<ShowPoc> {
    answer(&st.app, &who, ShowPoc {}).await
}

async fn poc_set(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Json(op): Json<SetPoc>,
) -> Answer<SetPoc> {
    answer(&st.app, &who, op).await
}

async fn poc_history(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Answer<PocHistory> {
    answer(&st.app, &who, PocHistory {}).await
}
