//! What every page handler shares: the frame for the signed-in caller,
//! redirects after a form, messages carried across them, the error page
//! (an operation's [`AppError`] with its status), and [`may`]: whether the
//! access table lets the caller post a form, so a page offers only the
//! forms and links its viewer can use.

use crate::layout::{self, Flash, Viewer};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use pramaan_app::{App, AppError, Caller};
use serde::Deserialize;

/// Where the console's password page is (`pages::password`; the server's
/// guard sends a person with a one-time password there).
pub const PASSWORD_PAGE: &str = "/console/password";

/// Whether a path is one of the console's (a person reads the answer).
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// Whether the access table lets `who` call `method route` (a route
/// pattern as registered, e.g. `/console/holds/{id}/release`): the same
/// row the guard checks when the form is posted.
pub fn may(app: &App, who: &Caller, method: &str, route: &str) -> bool {
    app.authorise_route(who, method, route).is_ok()
}

/// A handler's failure, shown as the error page with its status.
#[derive(Debug)]
pub struct Problem(pub StatusCode, pub String);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        error_page(self.0, &self.1)
    }
}

/// The status an operation's error is answered with (as the API's).
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Missing(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::OverLimit(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::NotNow(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
        AppError::Damaged(_) | AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        Problem(status_of(&e), e.to_string())
    }
}

/// What a person can correct and try again (a malformed field, an unknown
/// or already released thing, a rule such as four eyes) is said on the
/// page they came from; anything else (the audit trail or the disk
/// failing, a fault) is the error page with its status.
pub fn correctable(e: AppError) -> Result<String, Problem> {
    match e {
        AppError::Invalid(m)
        | AppError::Missing(m)
        | AppError::Conflict(m)
        | AppError::Forbidden(m) => Ok(m),
        other => Err(other.into()),
    }
}

/// Appends an audit record the page writes itself; a failure is logged
/// (the change it records is already made).
pub async fn record(app: &App, ev: pramaan_auth::audit::AuditEvent) {
    if let Err(e) = pramaan_auth::audit::record(&*app.sink(), &ev).await {
        tracing::error!(error = %e, action = %ev.action, "could not append an audit record");
    }
}

pub fn bad(msg: impl Into<String>) -> Problem {
    Problem(StatusCode::BAD_REQUEST, msg.into())
}

pub fn internal(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "console page failed");
    Problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log".into(),
    )
}

/// A refusal or error as a console page, with its status.
pub fn error_page(status: StatusCode, msg: &str) -> Response {
    let body = html! {
        p.flash.error role="alert" { (msg) }
        p { a href="/console" { "Back to the dashboard" } }
    };
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Html(layout::page(title, None, "", None, body).into_string()),
    )
        .into_response()
}

/// A page for the signed-in caller.
pub fn page(
    id: &Caller,
    title: &str,
    active: &str,
    flash: Option<Flash>,
    body: Markup,
) -> Response {
    page_refreshing(id, title, active, flash, body, None)
}

/// As [`page`], reloaded every `refresh_s` seconds (countdowns without JavaScript).
pub fn page_refreshing(
    id: &Caller,
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
pub fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

/// The caller's session's CSRF token as a form's hidden field.
pub fn csrf(id: &Caller) -> Markup {
    layout::csrf_field(id.csrf.as_deref().unwrap_or_default())
}

/// A message carried across a redirect in the query (`?ok=...` / `?error=...`).
#[derive(Deserialize, Default)]
pub struct FlashParams {
    pub ok: Option<String>,
    pub error: Option<String>,
}

impl FlashParams {
    pub fn flash(self) -> Option<Flash> {
        match (self.ok, self.error) {
            (_, Some(e)) => Some(Flash::Error(e)),
            (Some(m), None) => Some(Flash::Ok(m)),
            _ => None,
        }
    }
}

pub fn with_query(path: &str, key: &str, value: &str) -> String {
    format!(
        "{path}?{}",
        serde_urlencoded::to_string([(key, value)]).unwrap_or_default()
    )
}

/// Only a console path: never an open redirect to another site.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if is_console(n.split('?').next().unwrap_or_default()) && !n.contains("//") => n,
        _ => "/console",
    }
}

/// The fields of a posted form, in order (a key may repeat: check boxes).
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The first value of a form field (empty when absent).
pub fn get1<'a>(p: &'a [(String, String)], k: &str) -> &'a str {
    p.iter()
        .find(|(x, _)| x == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A JSON value as a definition table (nested values as JSON text).
pub fn json_table(v: &serde_json::Value) -> Markup {
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

pub fn json_cell(v: &serde_json::Value) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_console_page_or_the_dashboard() {
        assert_eq!(safe_next(Some("/console/holds?x=1")), "/console/holds?x=1");
        assert_eq!(safe_next(Some("https://evil.example/console")), "/console");
        assert_eq!(safe_next(Some("/console//evil.example")), "/console");
        assert_eq!(safe_next(Some("/api/v1/users")), "/console");
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn an_operations_error_keeps_its_status() {
        let p = Problem::from(AppError::Missing("no order `X`".into()));
        assert_eq!(p.0, StatusCode::NOT_FOUND);
        let r = p.into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(
            status_of(&AppError::NotNow("audit".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
