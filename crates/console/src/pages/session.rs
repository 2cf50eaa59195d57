//! Logging in and out of the console. The checks, the limiter, the
//! session and the audit records are the API's login's
//! ([`Host::log_in`], [`Host::log_out`]); this page reads the form, says a
//! refusal for a person and sets the session cookie.

use crate::caller::Signed;
use crate::web::{internal, safe_next, see_other};
use crate::{html, layout, Host};
use axum::extract::{ConnectInfo, Form, Query as QueryParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pramaan_auth::LoginError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    // `/` is the server's: a browser is sent to `/console`, an
    // Elasticsearch client gets the version it probes for.
    Router::new()
        .route("/console/login", get(login_form).post(login::<H>))
        .route("/console/logout", post(logout::<H>))
}

/// What a person is told when a login is refused (the limiter's reasons
/// as they are; the user store's failure only as "internal error").
pub fn login_message(e: &LoginError) -> String {
    match e {
        LoginError::BadCredentials => "Wrong user name or password.".to_string(),
        LoginError::Store(_) => "internal error; see the server log".to_string(),
        other => other.to_string(),
    }
}

#[derive(Deserialize, Default)]
struct LoginParams {
    next: Option<String>,
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

async fn login<H: Host>(
    State(st): State<Arc<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_owned();
    match st
        .log_in(f.user, f.password, from.ip().to_canonical())
        .await
    {
        Err(refused) => login_page(&next, Some(&refused.message), refused.status),
        Ok(session) => with_session(&*st, see_other(&next), &session.id),
    }
}

/// An answer that sets the session cookie of a new session.
pub(super) fn with_session(host: &impl Host, mut r: Response, sid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&host.session_cookie(Some(sid))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = st.log_out(&id, &headers).await {
        return internal(e).into_response();
    }
    let mut r = see_other("/console/login");
    if let Ok(v) = HeaderValue::from_str(&st.session_cookie(None)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
