//! The subscriber register over HTTP, for the provider's billing/KYC system
//! and for `pramaan registry` when a server holds the data directory.
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
//!
//! The acting user comes from `X-Pramaan-Actor` (default `cli`) until
//! access control gives real identities.

use super::AppState;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_core::time::{now_ns, parse_user_time};
use pramaan_registry::{
    Registry, RegistryError, StoreError, SubscriberInput, WriteMode, WriteOutcome,
};
use serde::Deserialize;
use std::sync::Arc;

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

struct Error(StatusCode, serde_json::Value);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn err(code: StatusCode, msg: impl std::fmt::Display) -> Error {
    Error(code, serde_json::json!({ "error": msg.to_string() }))
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        let code = match &e {
            RegistryError::NoPurpose | RegistryError::Invalid(_) => StatusCode::BAD_REQUEST,
            RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistryError::Store(StoreError::UnknownHold(_)) => StatusCode::NOT_FOUND,
            RegistryError::Conflict(_) | RegistryError::Store(StoreError::AlreadyReleased(_)) => {
                StatusCode::CONFLICT
            }
            RegistryError::Ledger { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => {
                tracing::error!(error = %e, "registry request failed");
                return err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log",
                );
            }
        };
        err(code, e)
    }
}

fn bad(msg: impl std::fmt::Display) -> Error {
    err(StatusCode::BAD_REQUEST, msg)
}

async fn registry(st: &AppState) -> Result<Arc<Registry>, Error> {
    st.registry().get().await.map_err(|e| {
        tracing::error!(error = %e, "cannot open the subscriber register");
        err(
            StatusCode::SERVICE_UNAVAILABLE,
            "the subscriber register cannot be opened; see the server log",
        )
    })
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-pramaan-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("cli")
        .to_owned()
}

/// Validates a body into a subscriber; 400 names every bad field.
fn validated(
    body: Result<Json<SubscriberInput>, axum::extract::rejection::JsonRejection>,
) -> Result<pramaan_registry::Subscriber, Error> {
    let Json(input) = body.map_err(|e| bad(e.body_text()))?;
    input.validate().map_err(|errs| {
        Error(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                "errors": errs,
            }),
        )
    })
}

fn outcome_json(id: &str, o: &WriteOutcome) -> serde_json::Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("subscriber_id".into(), id.into());
    }
    v
}

async fn create(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<SubscriberInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let s = validated(body)?;
    let id = s.external_id.clone();
    let reg = registry(&st).await?;
    let o = reg.write(s, WriteMode::Create, &actor(&headers)).await?;
    let code = if o == WriteOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(outcome_json(&id, &o))).into_response())
}

async fn update(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<SubscriberInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let body = body.map(|Json(mut i)| {
        if i.subscriber_id.is_none() {
            i.subscriber_id = Some(id.clone());
        }
        Json(i)
    });
    let s = validated(body)?;
    if s.external_id != id {
        return Err(bad(format!(
            "subscriber_id `{}` in the body is not `{id}` of the path",
            s.external_id
        )));
    }
    let reg = registry(&st).await?;
    let o = reg.write(s, WriteMode::Update, &actor(&headers)).await?;
    Ok(Json(outcome_json(&id, &o)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TerminateBody {
    at: Option<String>,
}

async fn terminate(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<TerminateBody>>,
) -> Result<Json<serde_json::Value>, Error> {
    let now = now_ns();
    let at = match body.and_then(|Json(b)| b.at) {
        Some(t) => parse_user_time(&t, now).map_err(|e| bad(format!("at: {e}")))?,
        None => now,
    };
    let reg = registry(&st).await?;
    let (o, periods) = reg.terminate(&id, at, &actor(&headers)).await?;
    let mut v = outcome_json(&id, &o);
    v["periods"] = pramaan_registry::Subscriber {
        external_id: id.clone(),
        periods,
        personal: Default::default(),
    }
    .to_json()["periods"]
        .clone();
    Ok(Json(v))
}

#[derive(Deserialize)]
struct ReadParams {
    purpose: Option<String>,
}

async fn read(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<ReadParams>,
) -> Result<Json<serde_json::Value>, Error> {
    let purpose = p
        .purpose
        .or_else(|| {
            headers
                .get("x-pramaan-purpose")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let reg = registry(&st).await?;
    match reg.read_subscriber(&id, &purpose, &actor(&headers)).await? {
        Some(s) => Ok(Json(s.to_json())),
        None => Err(err(StatusCode::NOT_FOUND, format!("no subscriber {id}"))),
    }
}

async fn completeness(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, Error> {
    let reg = registry(&st).await?;
    let list = reg.completeness().await?;
    let total = reg.count().await?;
    Ok(Json(serde_json::json!({
        "subscribers": total,
        "incomplete": list,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRun {
    dry_run: Option<bool>,
}

async fn import(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<DryRun>,
    body: Result<Json<Vec<SubscriberInput>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let Json(inputs) = body.map_err(|e| bad(e.body_text()))?;
    let mut subs = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match input.validate() {
            Ok(s) => subs.push(s),
            Err(errs) => {
                errors.extend(errs.into_iter().map(
                    |e| serde_json::json!({ "index": i, "field": e.field, "reason": e.reason }),
                ))
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": format!("{} invalid fields; nothing imported", errors.len()), "errors": errors }),
        ));
    }
    let reg = registry(&st).await?;
    let sum = reg
        .import(subs, &actor(&headers), p.dry_run.unwrap_or(false), &|_| {})
        .await?;
    Ok(Json(serde_json::to_value(sum).unwrap_or_default()))
}

async fn erase_expired(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<DryRun>,
) -> Result<Json<serde_json::Value>, Error> {
    let reg = registry(&st).await?;
    let who = actor(&headers);
    let dry = p.dry_run.unwrap_or(false);
    // Its own task: a client that gives up does not cut the run short.
    let run = tokio::spawn(async move { reg.erase_expired(now_ns(), dry, &who).await })
        .await
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e))??;
    Ok(Json(serde_json::to_value(run).unwrap_or_default()))
}

async fn rotate_key(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Error> {
    let reg = registry(&st).await?;
    let who = actor(&headers);
    let rep = tokio::spawn(async move { reg.rotate_key(None, &who).await })
        .await
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let rep = rep.map_err(|e| match e {
        RegistryError::MasterKey(m) => bad(m),
        e => Error::from(e),
    })?;
    Ok(Json(serde_json::to_value(rep).unwrap_or_default()))
}

async fn erasures(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, Error> {
    let reg = registry(&st).await?;
    Ok(Json(
        serde_json::to_value(reg.erasure_reports().await?).unwrap_or_default(),
    ))
}

async fn holds(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, Error> {
    let reg = registry(&st).await?;
    Ok(Json(
        serde_json::to_value(reg.holds().await?).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddHold {
    subscriber_id: String,
    reason: String,
    order_ref: String,
}

async fn add_hold(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<AddHold>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    let reg = registry(&st).await?;
    let h = reg
        .add_hold(&b.subscriber_id, &b.reason, &b.order_ref, &actor(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(h).unwrap_or_default()),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    reason: String,
}

async fn release_hold(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Result<Json<Release>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    let reg = registry(&st).await?;
    let h = reg.release_hold(id, &actor(&headers), &b.reason).await?;
    Ok(Json(serde_json::to_value(h).unwrap_or_default()))
}
