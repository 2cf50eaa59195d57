//! Logins, the caller's own account, users and tokens (admin), and the audit
//! trail (auditor). Who may call which route is in `crate::access::TABLE`.
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

use super::AppState;
use crate::access::{self, Refusal, SESSION_COOKIE};
use crate::caller::Authenticated;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_auth::audit::{action, AuditEvent, Filter};
use pramaan_auth::{AuthError, Identity, RoleSet};
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

fn bad(m: impl Into<String>) -> Error {
    Error(StatusCode::BAD_REQUEST, m.into())
}

fn json<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Error> {
    b.map(|Json(v)| v).map_err(|e| bad(e.body_text()))
}

/// Runs store work (argon2 hashing) off the async threads.
async fn blocking<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&pramaan_auth::Auth) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, Error> {
    let acc = st.access.clone();
    tokio::task::spawn_blocking(move || f(&acc.auth))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "user store task");
            Error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log".into(),
            )
        })?
        .map_err(Error::from)
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
/// and the console's password page): the current one must be right and the
/// new one differ and be strong enough; the change is recorded
/// (`user.password`, by self) and ends the user's sessions.
pub(super) async fn change_own_password(
    st: &AppState,
    id: &Identity,
    current: String,
    new: String,
) -> Result<(), Error> {
    if id.method == pramaan_auth::Method::Token {
        return Err(bad("a token has no password; log in as a user"));
    }
    if current == new {
        return Err(bad("the new password must differ from the current one"));
    }
    let name = id.name.clone();
    let ok = blocking(st, move |a| {
        if a.store().verify_password(&name, &current)?.is_none() {
            return Ok(false);
        }
        a.store().set_password(&name, &new, false, now_ns())?;
        Ok(true)
    })
    .await?;
    if !ok {
        return Err(Error(
            StatusCode::FORBIDDEN,
            "the current password is wrong".into(),
        ));
    }
    st.access()
        .audit(AuditEvent::new(action::USER_PASSWORD, &id.name, &id.name).detail("by", "self"))
        .await;
    Ok(())
}

fn user_json(u: &pramaan_auth::UserInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(u).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "created_at".into(),
            pramaan_core::time::rfc3339_ist(u.created_at_ns).into(),
        );
        o.insert(
            "changed_at".into(),
            pramaan_core::time::rfc3339_ist(u.changed_at_ns).into(),
        );
    }
    v
}

async fn list_users(
    State(st): State<Arc<AppState>>,
) -> Result<Json<Vec<serde_json::Value>>, Error> {
    let users = st.access().auth.store().users()?;
    Ok(Json(users.iter().map(user_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUser {
    name: String,
    roles: String,
    password: Option<String>,
}

async fn add_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    body: Result<Json<AddUser>, JsonRejection>,
) -> Result<Response, Error> {
    let b = json(body)?;
    let roles = RoleSet::parse(&b.roles)?;
    let generated = b.password.is_none();
    let password = match b.password {
        Some(p) => p,
        None => pramaan_auth::secret::one_time_password()?,
    };
    let (name, pw) = (b.name.clone(), password.clone());
    let u = blocking(&st, move |a| {
        a.store().add_user(&name, &pw, roles, true, now_ns())
    })
    .await?;
    st.access()
        .audit(
            AuditEvent::new(action::USER_ADD, &id.name, &u.name).detail("roles", roles.to_string()),
        )
        .await;
    let mut v = user_json(&u);
    if generated {
        v["one_time_password"] = password.into();
    }
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    password: Option<String>,
}

async fn reset_password(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
    body: Option<Json<ResetPassword>>,
) -> Result<Json<serde_json::Value>, Error> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let generated = b.password.is_none();
    let password = match b.password {
        Some(p) => p,
        None => pramaan_auth::secret::one_time_password()?,
    };
    let (n, pw) = (name.clone(), password.clone());
    blocking(&st, move |a| {
        a.store().set_password(&n, &pw, true, now_ns())
    })
    .await?;
    st.access()
        .audit(AuditEvent::new(action::USER_PASSWORD, &id.name, &name).detail("by", "admin"))
        .await;
    let mut v = serde_json::json!({ "user": name, "must_change_password": true });
    if generated {
        v["one_time_password"] = password.into();
    }
    Ok(Json(v))
}

async fn set_disabled(
    st: Arc<AppState>,
    id: Identity,
    name: String,
    disabled: bool,
) -> Result<Json<serde_json::Value>, Error> {
    if disabled && name == id.name {
        return Err(bad("you cannot disable yourself"));
    }
    st.access()
        .auth
        .store()
        .set_disabled(&name, disabled, now_ns())?;
    let act = if disabled {
        action::USER_DISABLE
    } else {
        action::USER_ENABLE
    };
    st.access()
        .audit(AuditEvent::new(act, &id.name, &name))
        .await;
    Ok(Json(user_json(&st.access().auth.store().user(&name)?)))
}

async fn disable_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, Error> {
    set_disabled(st, id, name, true).await
}

async fn enable_user(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, Error> {
    set_disabled(st, id, name, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Roles {
    roles: String,
}

async fn set_roles(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
    body: Result<Json<Roles>, JsonRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let roles = RoleSet::parse(&json(body)?.roles)?;
    st.access().auth.store().set_roles(&name, roles, now_ns())?;
    st.access()
        .audit(
            AuditEvent::new(action::USER_ROLES, &id.name, &name).detail("roles", roles.to_string()),
        )
        .await;
    Ok(Json(user_json(&st.access().auth.store().user(&name)?)))
}

pub fn token_json(t: &pramaan_auth::TokenInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("active".into(), t.active(now_ns()).into());
        o.insert(
            "created_at".into(),
            pramaan_core::time::rfc3339_ist(t.created_at_ns).into(),
        );
        if let Some(e) = t.expires_at_ns {
            o.insert(
                "expires_at".into(),
                pramaan_core::time::rfc3339_ist(e).into(),
            );
        }
        if let Some(r) = t.revoked_at_ns {
            o.insert(
                "revoked_at".into(),
                pramaan_core::time::rfc3339_ist(r).into(),
            );
        }
    }
    v
}

async fn list_tokens(
    State(st): State<Arc<AppState>>,
) -> Result<Json<Vec<serde_json::Value>>, Error> {
    let t = st.access().auth.store().tokens()?;
    Ok(Json(t.iter().map(token_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    roles: String,
    /// An age (`90d`) or a time (RFC 3339, a date).
    expires: Option<String>,
}

/// `90d` → now + 90 days; otherwise a time as `--to` takes it.
pub fn parse_expiry(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(secs) = pramaan_core::time::parse_age_secs(s) {
        return Ok(now.saturating_add(secs.saturating_mul(1_000_000_000)));
    }
    let t = pramaan_core::time::parse_user_time(s, now).map_err(|e| format!("expires: {e}"))?;
    if t <= now {
        return Err(format!("expires: `{s}` is in the past"));
    }
    Ok(t)
}

async fn create_token(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response, Error> {
    let b = json(body)?;
    let roles = RoleSet::parse(&b.roles)?;
    let now = now_ns();
    let expires = b
        .expires
        .as_deref()
        .map(|e| parse_expiry(e, now))
        .transpose()
        .map_err(bad)?;
    let t = st
        .access()
        .auth
        .store()
        .create_token(&b.name, roles, &id.name, expires, now)?;
    st.access()
        .audit(
            AuditEvent::new(action::TOKEN_CREATE, &id.name, &t.info.name)
                .detail("roles", roles.to_string())
                .detail("expires_at", expires.map(pramaan_core::time::rfc3339_utc)),
        )
        .await;
    let mut v = token_json(&t.info);
    v["secret"] = t.secret.into();
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn revoke_token(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, Error> {
    let t = st
        .access()
        .auth
        .store()
        .revoke_token(&name, &id.name, now_ns())?;
    st.access()
        .audit(AuditEvent::new(action::TOKEN_REVOKE, &id.name, &t.name))
        .await;
    Ok(Json(token_json(&t)))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: Option<usize>,
}

impl AuditParams {
    pub fn filter(&self, now: i64) -> Result<Filter, String> {
        let t = |n: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    pramaan_core::time::parse_user_time(s, now).map_err(|e| format!("{n}: {e}"))
                })
                .transpose()
        };
        Ok(Filter {
            from_ns: t("from", &self.from)?,
            to_ns: t("to", &self.to)?,
            actor: self.actor.clone().filter(|s| !s.is_empty()),
            action: self.action.clone().filter(|s| !s.is_empty()),
        })
    }
}

async fn audit_search(
    State(st): State<Arc<AppState>>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(p) = params.map_err(|e| bad(e.body_text()))?;
    let f = p.filter(now_ns()).map_err(bad)?;
    let recs = access::search_audit(&st.vault, &f, p.limit.unwrap_or(0))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "audit search");
            Error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log".into(),
            )
        })?;
    let mut out = Vec::new();
    for r in recs {
        serde_json::to_writer(&mut out, &r).unwrap_or_default();
        out.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
