//! Who is calling: `Authorization: Bearer <token>` (machines), HTTP Basic
//! (people, scripts; or machines that only do Basic, with a token as the
//! password and any user name: rsyslog, Promtail, `systemd-journal-upload`
//! with the token in its URL's user info) or the `pramaan_session` cookie of
//! a login (people in a browser), each checked against the user store; and
//! the CSRF token a cookie request carries.

use super::refusal::{Refusal, Unauthenticated};
use super::state::AccessState;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap};
use base64::Engine;
use pramaan_auth::audit::{self, AuditEvent};
use pramaan_auth::{Identity, LoginError};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pramaan_session";
/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a console form carries the session's CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Whether the body is an HTML form (`application/x-www-form-urlencoded`).
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// One field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

enum Credentials {
    None,
    Bearer(String),
    Basic(String, String),
    Session(String),
    Malformed,
}

fn credentials(headers: &HeaderMap) -> Credentials {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else {
            return Credentials::Malformed;
        };
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Credentials::Bearer(rest.trim().to_owned()),
            "basic" => base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
                .map(|(u, p)| Credentials::Basic(u, p))
                .unwrap_or(Credentials::Malformed),
            _ => Credentials::Malformed,
        };
    }
    match session_cookie(headers) {
        Some(s) => Credentials::Session(s),
        None => Credentials::None,
    }
}

/// The address the request came from (loopback when the server runs
/// without connection info, as in tests of the router alone).
pub(super) fn peer(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn store_failed(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "authentication failed");
    Refusal::Internal
}

/// Who is calling (`None`: no credentials at all), or why they are refused.
pub(super) async fn authenticate(
    st: &Arc<AccessState>,
    headers: &HeaderMap,
    from: IpAddr,
) -> Result<Option<Identity>, Refusal> {
    let now = pramaan_core::time::now_ns();
    let refused = |why| Refusal::Unauthenticated(why);
    match credentials(headers) {
        Credentials::None => Ok(None),
        Credentials::Malformed => Err(refused(Unauthenticated::Malformed)),
        Credentials::Bearer(t) => match st.auth.by_token(&t, now).map_err(store_failed)? {
            Some(id) => Ok(Some(id)),
            None => {
                tracing::info!(from = %from, "refused a request: unknown, revoked or expired token");
                Err(refused(Unauthenticated::UnknownToken))
            }
        },
        Credentials::Session(s) => match st.auth.by_session(&s, now).map_err(store_failed)? {
            Some(id) => Ok(Some(id)),
            None => Err(refused(Unauthenticated::SessionEnded)),
        },
        Credentials::Basic(user, password) => {
            // Shippers that only do Basic (rsyslog, Filebeat, Promtail,
            // Vector...) send an ingest token as the password, with any user
            // name. A password that is no live token is checked as a
            // password, so a refusal is counted by the limiter as any is.
            if password.starts_with(pramaan_auth::store::TOKEN_PREFIX) {
                if let Some(id) = st.auth.by_token(&password, now).map_err(store_failed)? {
                    return Ok(Some(id));
                }
            }
            // argon2 is CPU work: off the async threads.
            let (st2, u) = (st.clone(), user.clone());
            let res = tokio::task::spawn_blocking(move || {
                st2.auth.check_password(&u, &password, from, now)
            })
            .await
            .map_err(store_failed)?;
            match res {
                Ok(id) => Ok(Some(id)),
                Err(e) => Err(login_refused(st, &user, from, e, "basic").await),
            }
        }
    }
}

/// Why a login (or HTTP Basic authentication) was refused, after recording
/// it (`login.failed`, with the reason, the address and how).
pub async fn login_refused(
    st: &AccessState,
    user: &str,
    from: IpAddr,
    e: LoginError,
    how: &str,
) -> Refusal {
    tracing::info!(user = %user, from = %from, reason = %e, "refused a login");
    st.audit(
        AuditEvent::new(audit::action::LOGIN_FAILED, user, user)
            .outcome("refused")
            .detail("reason", e.to_string())
            .detail("from", from.to_string())
            .detail("method", how),
    )
    .await;
    match e {
        LoginError::BadCredentials => Refusal::Unauthenticated(Unauthenticated::BadCredentials),
        LoginError::Locked { .. } | LoginError::RateLimited => Refusal::LoginLimited(e.to_string()),
        LoginError::Store(e) => {
            tracing::error!(error = %e, "login failed");
            Refusal::Internal
        }
    }
}
