//! The subscriber register over HTTP, for the provider's billing/KYC system
//! and for `pramaan registry` when a server holds the data directory. Each
//! route runs one operation of `pramaan_app::registry` for the caller the
//! guard authenticated:
//!
//! * `POST /api/v1/registry/subscribers`: create (201), or 200
//!   `{"result":"unchanged"}` when the same subscriber is sent again; 409 when
//!   the external id exists with other data; 400 lists every bad field.
//! * `PUT /api/v1/registry/subscribers/{id}`: replace the data (200
//!   `updated` with the changed field names, or `unchanged`); 404 if unknown.
//! * `POST /api/v1/registry/subscribers/{id}/terminate`: end the open
//!   period of hire (`{"at": TIME}`, default now); repeating it is `unchanged`.
//! * `GET /api/v1/registry/subscribers/{id}?purpose=TEXT` (or the header
//!   `X-Pramaan-Purpose`): the personal data, after an audit record.
//! * `GET /api/v1/registry/completeness`: subscribers missing required fields.
//! * `POST /api/v1/registry/import?dry_run=true`: a JSON array of
//!   subscribers, all or nothing.
//! * `POST /api/v1/registry/erase-expired?dry_run=true`,
//!   `POST /api/v1/registry/rotate-key`, `GET /api/v1/registry/erasures`.
//! * `GET|POST /api/v1/registry/holds`, `POST /api/v1/registry/holds/{id}/release`.

use super::op::answer;
use super::{ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pramaan_app::registry::*;
use pramaan_app::{Caller, Operation};
use pramaan_registry::{SubscriberInput, WriteOutcome};
use serde::Deserialize;
use std::sync::Arc;

/// The routes as literals (the access table's test reads them from this
/// source); each is its operation's `ROUTE`.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/registry/subscribers", post(create))
        .route("/api/v1/registry/subscribers/{id}", get(read).put(update))
        .route(
            "/api/v1/registry/subscribers/{id}/terminate",
            post(terminate),
        )
        .route("/api/v1/registry/completeness", get(completeness))
        .route("/api/v1/registry/import", post(import))
        .route("/api/v1/registry/erase-expired", post(erase_expired))
        .route("/api/v1/registry/rotate-key", post(rotate_key))
        .route("/api/v1/registry/erasures", get(erasures))
        .route("/api/v1/registry/holds", get(holds).post(add_hold))
        .route("/api/v1/registry/holds/{id}/release", post(release_hold))
}

type Body<T> = Result<Json<T>, JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// A 400 that lists every bad field (`errors`), beside the joined message.
fn invalid(errors: Vec<serde_json::Value>, error: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": error, "errors": errors })),
    )
        .into_response()
}

/// The field-by-field 400 for one subscriber, when it is invalid (the
/// operation refuses it too; this only says more).
fn invalid_subscriber(input: &SubscriberInput) -> Option<Response> {
    let errs = input.validate().err()?;
    let error = errs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let errors = errs.iter().map(|e| serde_json::json!(e)).collect();
    Some(invalid(errors, error))
}

async fn create(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    b: Body<SubscriberInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    if let Some(r) = invalid_subscriber(&input) {
        return Ok(r);
    }
    let w = CreateSubscriber { input }.run(&st.app, &who).await?;
    let code = if w.outcome == WriteOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(w)).into_response())
}

async fn update(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<String>,
    b: Body<SubscriberInput>,
) -> Result<Response, ApiError> {
    let mut input = body(b)?;
    input.subscriber_id.get_or_insert_with(|| id.clone());
    if let Some(r) = invalid_subscriber(&input) {
        return Ok(r);
    }
    Ok(answer(&st.app, &who, UpdateSubscriber { id, input })
        .await?
        .into_response())
}

async fn terminate(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<String>,
    b: Option<Json<Terminate>>,
) -> Result<Json<Terminated>, ApiError> {
    let op = b.map(|Json(t)| t).unwrap_or_default();
    answer(&st.app, &who, Terminate { id, ..op }).await
}

#[derive(Deserialize)]
struct Purpose {
    purpose: Option<String>,
}

async fn read(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<Purpose>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let purpose = p
        .purpose
        .or_else(|| {
            headers
                .get("x-pramaan-purpose")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    answer(&st.app, &who, ReadSubscriber { id, purpose }).await
}

async fn completeness(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Result<Json<Completeness>, ApiError> {
    answer(&st.app, &who, CheckCompleteness {}).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRun {
    dry_run: Option<bool>,
}

async fn import(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    QueryParams(p): QueryParams<DryRun>,
    b: Body<Vec<SubscriberInput>>,
) -> Result<Response, ApiError> {
    let op = ImportSubscribers {
        dry_run: p.dry_run.unwrap_or(false),
        subscribers: body(b)?,
    };
    let bad = op.invalid();
    if !bad.is_empty() {
        let error = format!("{} invalid fields; nothing imported", bad.len());
        let errors = bad
            .into_iter()
            .map(|(i, e)| serde_json::json!({ "index": i, "field": e.field, "reason": e.reason }))
            .collect();
        return Ok(invalid(errors, error));
    }
    Ok(answer(&st.app, &who, op).await?.into_response())
}

async fn erase_expired(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    QueryParams(p): QueryParams<DryRun>,
) -> Result<Response, ApiError> {
    let op = EraseExpired {
        dry_run: p.dry_run.unwrap_or(false),
    };
    Ok(answer(&st.app, &who, op).await?.into_response())
}

async fn rotate_key(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(answer(&st.app, &who, RotateKey::default())
        .await?
        .into_response())
}

async fn erasures(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(answer(&st.app, &who, ListErasures {})
        .await?
        .into_response())
}

async fn holds(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(answer(&st.app, &who, ListHolds {}).await?.into_response())
}

async fn add_hold(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    b: Body<AddHold>,
) -> Result<Response, ApiError> {
    let hold = answer(&st.app, &who, body(b)?).await?;
    Ok((StatusCode::CREATED, hold).into_response())
}

async fn release_hold(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    Path(id): Path<i64>,
    b: Body<ReleaseHold>,
) -> Result<Response, ApiError> {
    let op = ReleaseHold { id, ..body(b)? };
    Ok(answer(&st.app, &who, op).await?.into_response())
}
