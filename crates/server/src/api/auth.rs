//! Logins, the caller's own account, users and tokens (admin), and the audit
//! trail (auditor). Who may call which route is in `crate::access::TABLE`.
//! Logins and sessions are the server's; users, tokens, the password rules
//! and the audit trail are operations of `pramaan_app` (`users`, `tokens`,
//! `audit_trail`), answered here.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/login` | `{"user", "password"}` → session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) and `csrf_token` |
//! | `POST /api/v1/logout` | ends the session |
//! | `GET /api/v1/me` | the caller: name, roles, how authenticated |
//! | `POST /api/v1/password` | `{"current", "new"}`: the caller changes their own password |
//! | `GET/POST /api/v1/users` | list; add `{"name", "roles", "password"?}` (a one-time password is made when none is given) |
//! | `POST /api/v1/users/{name}/password` | a new one-time password `{"password"?}` |
//! | `POST /api/v1/users/{name}/disable`, `/enable`, `/roles` | |
//! | `GET/POST /api/v1/tokens` | list; create `{"name", "roles", "expires"?}` (the secret is in the answer only) |
//! | `POST /api/v1/tokens/{name}/revoke` | |
//! | `GET /api/v1/audit?from&to&actor&action&limit` | audit records as NDJSON |

use super::{op, ApiError, AppState};
use crate::access::{self, Refusal, SESSION_COOKIE};
use crate::caller::Authenticated;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_app::audit_trail::SearchAudit;
use pramaan_app::tokens::{CreateToken, ListTokens, RevokeToken};
use pramaan_app::users::{
    password, AddUser, DisableUser, EnableUser, ListUsers, ResetPassword, SetRoles,
};
use pramaan_app::AppError;
use pramaan_auth::audit::{action, AuditEvent};
use pramaan_auth::{AuthError, Identity};
use pramaan_core::time::now_ns;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/password", post(own_password))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{name}/password", post(reset_password))
        .route("/api/v1/users/{name}/disable", post(disable_user))
        .route("/api/v1/users/{name}/enable", post(enable_user))
        .route("/api/v1/users/{name}/roles", post(set_roles))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{name}/revoke", post(revoke_token))
        .route("/api/v1/audit", get(audit_search))
}

/// Errors of these routes, as `{"error": "..."}` with a status code.
pub struct Error(StatusCode, String);

impl Error {
    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// What the client is told.
    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::UnknownUser(_) | AuthError::UnknownToken(_) => StatusCode::NOT_FOUND,
            AuthError::UserExists(_) | AuthError::TokenExists(_) => StatusCode::CONFLICT,
            AuthError::UnknownRole(_)
            | AuthError::NoRole
            | AuthError::BadName(_)
            | AuthError::WeakPassword { .. } => StatusCode::BAD_REQUEST,
            _ => {
                tracing::error!(error = %e, "user store");
                return Error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log".into(),
                );
            }
        };
        Error(code, e.to_string())
    }
}

impl From<AppError> for Error {
    fn from(e: AppError) -> Self {
        let message = e.to_string();
        Error(ApiError::from(e).into_response().status(), message)
    }
}

fn bad(m: impl Into<String>) -> Error {
    Error(StatusCode::BAD_REQUEST, m.into())
}

fn json<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Error> {
    b.map(|Json(v)| v).map_err(|e| bad(e.body_text()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

pub(crate) fn cookie(value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A login, the API's and the console's: the password checked off the
/// async threads, the session opened, and `login` recorded with `how` as
/// the method; a refusal is recorded (`login.failed`) and counted by the
/// limiter, and comes back with what a person on the console is told.
pub(super) async fn sign_in(
    st: &AppState,
    user: &str,
    password: String,
    ip: IpAddr,
    how: &str,
) -> Result<(Identity, String, String), (Refusal, String)> {
    let now = now_ns();
    let (acc, name) = (st.access.clone(), user.to_owned());
    let res = tokio::task::spawn_blocking(move || acc.auth.login(&name, &password, ip, now))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "login task");
            (
                Refusal::Internal,
                "internal error; see the server log".to_owned(),
            )
        })?;
    let acc = st.access();
    match res {
        Err(e) => {
            let said = pramaan_console::login_message(&e);
            Err((access::login_refused(acc, user, ip, e, how).await, said))
        }
        Ok((id, sid, csrf)) => {
            acc.audit(
                AuditEvent::new(action::LOGIN, &id.name, &id.name)
                    .detail("from", ip.to_string())
                    .detail("method", how),
            )
            .await;
            Ok((id, sid, csrf))
        }
    }
}

async fn login(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, Error> {
    let b = json(body)?;
    let ip = from.ip().to_canonical();
    match sign_in(&st, &b.user, b.password, ip, "login").await {
        Err((refusal, _)) => Ok(refusal.into_response()),
        Ok((id, sid, csrf)) => {
            let acc = st.access();
            let max_age = acc.auth.session_ttl_ns / 1_000_000_000;
            Ok((
                [(header::SET_COOKIE, cookie(&sid, max_age, acc.tls))],
                Json(serde_json::json!({
                    "user": id.name,
                    "roles": id.roles,
                    "csrf_token": csrf,
                    "must_change_password": id.must_change_password,
                })),
            )
                .into_response())
        }
    }
}

/// Ends the session the request's cookie names (if any) and records
/// `logout` (the API's and the console's).
pub(super) async fn sign_out(
    st: &AppState,
    id: &Identity,
    headers: &HeaderMap,
) -> Result<(), AuthError> {
    if let Some(sid) = access::session_cookie(headers) {
        st.access().auth.store().end_session(&sid)?;
    }
    st.access()
        .audit(AuditEvent::new(action::LOGOUT, &id.name, &id.name))
        .await;
    Ok(())
}

async fn logout(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    headers: HeaderMap,
) -> Result<Response, Error> {
    sign_out(&st, &id, &headers).await?;
    Ok((
        [(header::SET_COOKIE, cookie("", 0, st.access().tls))],
        Json(serde_json::json!({ "logged_out": id.name })),
    )
        .into_response())
}

async fn me(Authenticated(id): Authenticated) -> Json<Identity> {
    Json(id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnPassword {
    current: String,
    new: String,
}

async fn own_password(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    body: Result<Json<OwnPassword>, JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let b = json(body)?;
    change_own_password(&st, &id, b.current, b.new).await?;
    Ok(Json(
        serde_json::json!({ "user": id.name, "changed": true }),
    ))
}

/// The caller changes their own password (the API's `POST /api/v1/password`
/// and the console's password page), by the rules of
/// `pramaan_app::users::password`.
pub(super) async fn change_own_password(
    st: &AppState,
    id: &Identity,
    current: String,
    new: String,
) -> Result<(), Error> {
    Ok(password::change_own(&st.app, id, current, new).await?)
}

// Users, tokens and the audit trail: the operations of `pramaan_app`.

async fn list_users(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    op::answer(&st.app, &id, ListUsers {}).await
}

async fn add_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    body: Result<Json<AddUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(o) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let v = op::answer(&st.app, &id, o).await?;
    Ok((StatusCode::CREATED, v).into_response())
}

async fn reset_password(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
    body: Option<Json<ResetPassword>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut o = body.map(|Json(b)| b).unwrap_or_default();
    o.name = name;
    op::answer(&st.app, &id, o).await
}

async fn disable_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    op::answer(&st.app, &id, DisableUser { name }).await
}

async fn enable_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    op::answer(&st.app, &id, EnableUser { name }).await
}

async fn set_roles(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
    body: Result<Json<SetRoles>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(mut o) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    o.name = name;
    op::answer(&st.app, &id, o).await
}

async fn list_tokens(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    op::answer(&st.app, &id, ListTokens {}).await
}

async fn create_token(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(o) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let v = op::answer(&st.app, &id, o).await?;
    Ok((StatusCode::CREATED, v).into_response())
}

async fn revoke_token(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    op::answer(&st.app, &id, RevokeToken { name }).await
}

/// The records as NDJSON, one a line.
async fn audit_search(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    uri: Uri,
    params: Result<Query<SearchAudit>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut o) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    o.query = uri.query().map(str::to_owned);
    let Json(recs) = op::answer(&st.app, &id, o).await?;
    let mut out = Vec::new();
    for r in recs {
        serde_json::to_writer(&mut out, &r).unwrap_or_default();
        out.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
