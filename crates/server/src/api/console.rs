//! The web console: server-rendered pages under `/console` for the point of
//! contact, the compliance officer, analysts and auditors. Pages are HTML
//! from `pramaan-console` (maud) and work without JavaScript; forms carry the
//! session's CSRF token as the `_csrf` field (the access guard checks
//! it). Each handler calls the same library functions as the JSON API, so
//! what a page shows is what the API answers, and the same audit records
//! are written. Every route has a row in the access table; how the guard's
//! refusals look on the console (login redirect, password page, error
//! page) is `crate::gate`'s.

use super::{ApiError, AppState};
use crate::access;
use crate::caller::Authenticated;
use axum::extract::{ConnectInfo, Form, Query as QueryParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use pramaan_auth::audit::{action, AuditEvent};
use pramaan_auth::Identity;
use pramaan_console::layout::{self, Flash, Viewer};
use pramaan_console::{html, Markup};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

mod dashboard;
mod incidents;
mod orders;
mod pages;
mod password;
mod search;

pub use crate::access::is_console;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console", get(dashboard::show))
        .route("/console/sources", get(dashboard::sources))
        .merge(search::routes())
        .merge(pages::routes())
        .merge(incidents::routes())
        .merge(orders::routes())
        .merge(password::routes())
}

/// A handler's failure, shown as a page with its status.
pub struct Problem(StatusCode, String);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        crate::gate::error_page(self.0, &self.1)
    }
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        let msg = e.to_string();
        let r = e.into_response();
        Problem(r.status(), msg)
    }
}

fn bad(msg: impl Into<String>) -> Problem {
    Problem(StatusCode::BAD_REQUEST, msg.into())
}

fn internal(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "console page failed");
    Problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log".into(),
    )
}

/// A page for the signed-in caller.
fn page(id: &Identity, title: &str, active: &str, flash: Option<Flash>, body: Markup) -> Response {
    page_refreshing(id, title, active, flash, body, None)
}

/// As [`page`], reloaded every `refresh_s` seconds (countdowns without JavaScript).
fn page_refreshing(
    id: &Identity,
    title: &str,
    active: &str,
    flash: Option<Flash>,
    body: Markup,
    refresh_s: Option<u32>,
) -> Response {
    let roles = id.roles.to_string();
    let v = Viewer {
        name: &id.name,
        roles: &roles,
        csrf: id.csrf.as_deref().unwrap_or_default(),
    };
    let html = layout::page_refreshing(title, Some(&v), active, flash.as_ref(), body, refresh_s);
    let mut r = Html(html.into_string()).into_response();
    // Pages show personal data and proofs: never cached.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// After a form: back to a page (303, so a reload does not post again).
fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

fn csrf(id: &Identity) -> Markup {
    layout::csrf_field(id.csrf.as_deref().unwrap_or_default())
}

/// A message carried across a redirect in the query (`?ok=...` / `?error=...`).
#[derive(Deserialize, Default)]
struct FlashParams {
    ok: Option<String>,
    error: Option<String>,
}

impl FlashParams {
    fn flash(self) -> Option<Flash> {
        match (self.ok, self.error) {
            (_, Some(e)) => Some(Flash::Error(e)),
            (Some(m), None) => Some(Flash::Ok(m)),
            _ => None,
        }
    }
}

fn with_query(path: &str, key: &str, value: &str) -> String {
    format!(
        "{path}?{}",
        serde_urlencoded::to_string([(key, value)]).unwrap_or_default()
    )
}

/// A JSON value as a definition table (nested values as JSON text).
fn json_table(v: &serde_json::Value) -> Markup {
    html! {
        @if let Some(o) = v.as_object() {
            table {
                tbody {
                    @for (k, v) in o {
                        tr {
                            th scope="row" { (k) }
                            td { (json_cell(v)) }
                        }
                    }
                }
            }
        } @else {
            pre { (serde_json::to_string_pretty(v).unwrap_or_default()) }
        }
    }
}

fn json_cell(v: &serde_json::Value) -> Markup {
    html! {
        @match v {
            serde_json::Value::String(s) => (s),
            serde_json::Value::Null => span.muted { "—" },
            serde_json::Value::Array(a) if a.is_empty() => span.muted { "none" },
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => pre { (serde_json::to_string_pretty(v).unwrap_or_default()) },
            other => (other.to_string()),
        }
    }
}

#[derive(Deserialize, Default)]
struct LoginParams {
    next: Option<String>,
}

/// Only a console path: never an open redirect to another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if is_console(n.split('?').next().unwrap_or_default()) && !n.contains("//") => n,
        _ => "/console",
    }
}

fn login_page(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        @if let Some(e) = error { p.flash.error role="alert" { (e) } }
        form.stack method="post" action="/console/login" {
            input type="hidden" name="next" value=(next);
            div { label for="user" { "User name" } input #user name="user" type="text" autocomplete="username" required autofocus; }
            div { label for="password" { "Password" } input #password name="password" type="password" autocomplete="current-password" required; }
            div { button type="submit" { "Log in" } }
        }
    };
    (
        status,
        Html(layout::page("Log in", None, "", None, body).into_string()),
    )
        .into_response()
}

async fn login_form(QueryParams(p): QueryParams<LoginParams>) -> Response {
    login_page(safe_next(p.next.as_deref()), None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = from.ip().to_canonical();
    let now = pramaan_core::time::now_ns();
    let next = safe_next(f.next.as_deref()).to_owned();
    let (st2, user, password) = (st.clone(), f.user.clone(), f.password);
    let res = match tokio::task::spawn_blocking(move || {
        st2.access().auth.login(&user, &password, ip, now)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return internal(e).into_response(),
    };
    let acc = st.access();
    match res {
        Err(e) => {
            let msg = match &e {
                pramaan_auth::LoginError::BadCredentials => {
                    "Wrong user name or password.".to_string()
                }
                pramaan_auth::LoginError::Store(_) => {
                    "internal error; see the server log".to_string()
                }
                other => other.to_string(),
            };
            // Recorded (login.failed) and counted by the limiter as for the API.
            let refusal = access::login_refused(acc, &f.user, ip, e, "console").await;
            login_page(&next, Some(&msg), refusal.status())
        }
        Ok((id, sid, _csrf)) => {
            acc.audit(
                AuditEvent::new(action::LOGIN, &id.name, &id.name)
                    .detail("from", ip.to_string())
                    .detail("method", "console"),
            )
            .await;
            with_session(see_other(&next), acc, &sid)
        }
    }
}

/// An answer that sets the session cookie of a new session.
fn with_session(mut r: Response, acc: &access::AccessState, sid: &str) -> Response {
    let max_age = acc.auth.session_ttl_ns / 1_000_000_000;
    if let Ok(v) = HeaderValue::from_str(&super::auth::cookie(sid, max_age, acc.tls)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    headers: HeaderMap,
) -> Response {
    if let Some(sid) = access::session_cookie(&headers) {
        if let Err(e) = st.access().auth.store().end_session(&sid) {
            return internal(e).into_response();
        }
    }
    st.access()
        .audit(AuditEvent::new(action::LOGOUT, &id.name, &id.name))
        .await;
    let mut r = see_other("/console/login");
    if let Ok(v) = HeaderValue::from_str(&super::auth::cookie("", 0, st.access().tls)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
