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

use super::AppState;
use crate::caller::Authenticated;
use axum::extract::{ConnectInfo, Path, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_auth::Identity;
use pramaan_core::time::{now_ns, parse_user_time, rfc3339_ist, rfc3339_utc};
use pramaan_vault::retention::{Hold, NewHold, RetentionError, RetentionStatus, RunReport};
use serde::Deserialize;
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

/// Errors of these routes, as `{"error": "..."}` with a status code.
struct Error(StatusCode, String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<RetentionError> for Error {
    fn from(e: RetentionError) -> Self {
        let code = match &e {
            RetentionError::Invalid(_) => StatusCode::BAD_REQUEST,
            RetentionError::UnknownHold(_) => StatusCode::NOT_FOUND,
            RetentionError::AlreadyReleased(_) => StatusCode::CONFLICT,
            RetentionError::Append(_) | RetentionError::ReadOnly => StatusCode::SERVICE_UNAVAILABLE,
            _ => {
                tracing::error!(error = %e, "retention request failed");
                return Error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log".into(),
                );
            }
        };
        Error(code, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error(StatusCode::BAD_REQUEST, msg.into())
}

/// A hold as the API shows it: the stored fields, and its times in RFC 3339
/// (IST, UTC alongside) and whether it is active.
pub fn hold_json(h: &Hold) -> serde_json::Value {
    let mut v = serde_json::to_value(h).expect("holds serialise");
    let o = v.as_object_mut().expect("an object");
    o.insert("active".into(), h.active().into());
    o.insert("from".into(), rfc3339_ist(h.from_ns).into());
    o.insert("to".into(), rfc3339_ist(h.to_ns).into());
    o.insert("from_utc".into(), rfc3339_utc(h.from_ns).into());
    o.insert("to_utc".into(), rfc3339_utc(h.to_ns).into());
    o.insert("created_at".into(), rfc3339_ist(h.created_at_ns).into());
    if let Some(r) = h.released_at_ns {
        o.insert("released_at".into(), rfc3339_ist(r).into());
    }
    v
}

/// Sets the retention gauges for a `/metrics` scrape.
pub(super) fn set_gauges(st: &AppState) {
    metrics::gauge!("pramaan_retention_compliant").set(if st.retention.policy().compliant() {
        1.0
    } else {
        0.0
    });
    if let Ok(holds) = st.retention.holds() {
        metrics::gauge!("pramaan_legal_holds_active")
            .set(holds.iter().filter(|h| h.active()).count() as f64);
    }
}

/// Retention's part of `GET /api/v1/status`.
pub(super) fn status_json(st: &AppState) -> serde_json::Value {
    match RetentionStatus::read(&*st.vault.catalog(), st.retention.policy()) {
        Ok(s) => serde_json::to_value(s).expect("status serialises"),
        Err(e) => {
            tracing::error!(error = %e, "reading retention status");
            serde_json::json!({ "compliant": st.retention.policy().compliant(), "error": "see the server log" })
        }
    }
}

async fn list_holds(
    State(st): State<Arc<AppState>>,
) -> Result<Json<Vec<serde_json::Value>>, Error> {
    let holds = st.retention.holds()?;
    Ok(Json(holds.iter().map(hold_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddHold {
    from: String,
    to: String,
    source: Option<String>,
    ip: Option<String>,
    reason: String,
    order_ref: String,
    by: Option<String>,
}

/// `alice (HTTP from 10.1.2.3)`: the authenticated caller and where it came
/// from; a `by` the client sent that names someone else follows as what it
/// stated (`token:ci (HTTP from 10.1.2.3; by: ravi, as stated by the client)`).
fn who(id: &Identity, by: Option<&str>, from: SocketAddr) -> Result<String, Error> {
    let at = from.ip().to_canonical();
    match by.map(str::trim).filter(|b| !b.is_empty() && *b != id.name) {
        None => Ok(format!("{} (HTTP from {at})", id.name)),
        Some(by) if by.chars().any(char::is_control) || by.len() > 200 => Err(bad(
            "by must be one line of at most 200 bytes without control characters",
        )),
        Some(by) => Ok(format!(
            "{} (HTTP from {at}; by: {by}, as stated by the client)",
            id.name
        )),
    }
}

async fn add_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: Result<Json<AddHold>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    let now = now_ns();
    let from_ns = parse_user_time(&b.from, now).map_err(|e| bad(format!("from: {e}")))?;
    let to_ns = parse_user_time(&b.to, now).map_err(|e| bad(format!("to: {e}")))?;
    let h = NewHold {
        from_ns,
        to_ns,
        source: b.source.filter(|s| !s.trim().is_empty()),
        ip: b.ip.filter(|s| !s.trim().is_empty()),
        reason: b.reason,
        order_ref: b.order_ref,
        created_by: who(&id, b.by.as_deref(), from)?,
    };
    let hold = st.retention.add_hold(&h, now).await?;
    Ok((StatusCode::CREATED, Json(hold_json(&hold))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseHold {
    reason: String,
    by: Option<String>,
}

async fn release_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<ReleaseHold>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let Path(id) = id.map_err(|e| bad(format!("the hold id: {}", e.body_text())))?;
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    let hold = st
        .retention
        .release_hold(
            id,
            &who(&caller, b.by.as_deref(), from)?,
            &b.reason,
            now_ns(),
        )
        .await?;
    Ok(Json(hold_json(&hold)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunParams {
    dry_run: Option<bool>,
}

async fn run(
    State(st): State<Arc<AppState>>,
    params: Result<QueryParams<RunParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunReport>, Error> {
    let QueryParams(p) = params.map_err(|e| bad(e.body_text()))?;
    let dry = p.dry_run.unwrap_or(false);
    tracing::info!(dry_run = dry, "retention run requested over HTTP");
    // In a task of its own, so that a client that gives up (or the request
    // timeout) does not cut the run short; the next run would finish it, but
    // there is no need.
    let retention = st.retention.clone();
    let report = tokio::spawn(async move { retention.run(now_ns(), dry).await })
        .await
        .map_err(|e| {
            Error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the retention run failed: {e}"),
            )
        })??;
    Ok(Json(report))
}
