//! The guard in front of every route: asks [`access::pass`] whether a
//! request may pass, and says a refusal the way its audience reads it:
//! JSON with its status to programs; to a person on a console page, the
//! login page (not authenticated), the password page (a one-time password
//! to change first) or an error page. Answers carry HSTS over HTTPS.

use crate::access::{self, AccessState, Refusal};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
pub use pramaan_console::web::{error_page, PASSWORD_PAGE};
use std::sync::Arc;

/// Who a refusal is said to: a person on a console page, or a program.
pub struct Audience {
    console: bool,
    method: Method,
    uri: Uri,
}

impl Audience {
    pub fn of(req: &Request) -> Audience {
        Audience {
            console: access::is_console(req.uri().path()),
            method: req.method().clone(),
            uri: req.uri().clone(),
        }
    }
}

/// The middleware (`api::router` puts it around every route).
pub async fn guard(State(st): State<Arc<AccessState>>, req: Request, next: Next) -> Response {
    let to = Audience::of(&req);
    let r = match access::pass(&st, req, next).await {
        Ok(r) => r,
        Err(refusal) => render(&refusal, &to),
    };
    with_hsts(r, st.tls)
}

/// A refusal as its audience reads it.
pub fn render(refusal: &Refusal, to: &Audience) -> Response {
    if !to.console {
        return refusal.clone().into_response();
    }
    let mut r = match refusal {
        Refusal::Unauthenticated(_) => to_login(&to.uri),
        Refusal::PasswordChange => to_password(to),
        other => error_page(other.status(), &other.to_string()),
    };
    retry_after(&mut r, refusal);
    r
}

/// The API's way: `{"error": "..."}` with the status (401 with
/// `WWW-Authenticate`; 429 and 503 with `Retry-After`).
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"pramaan\", charset=\"UTF-8\""),
            );
        }
        retry_after(&mut r, &self);
        r
    }
}

fn retry_after(r: &mut Response, refusal: &Refusal) {
    if let Some(s) = refusal.retry_after() {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
}

fn with_hsts(mut r: Response, tls: bool) -> Response {
    if tls {
        r.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    r
}

fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

/// `path?next=<where the person was going>`.
fn with_next(path: &str, next: &str) -> String {
    let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("{path}?{q}")
}

/// The login page, coming back to where the person was going.
pub fn to_login(uri: &Uri) -> Response {
    let next = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/console");
    see_other(&with_next("/console/login", next))
}

/// The password page; a page the person opened is where they go once the
/// password is changed (a form they sent is not sent again: the dashboard).
fn to_password(to: &Audience) -> Response {
    let next = match to.method {
        Method::GET | Method::HEAD => to.uri.path_and_query().map(|p| p.as_str()),
        _ => None,
    };
    see_other(&with_next(PASSWORD_PAGE, next.unwrap_or("/console")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Unauthenticated;

    fn to(method: Method, uri: &str) -> Audience {
        Audience {
            console: access::is_console(uri.split('?').next().unwrap_or_default()),
            method,
            uri: uri.parse().unwrap(),
        }
    }

    fn location(r: &Response) -> &str {
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn a_program_gets_json_with_the_status() {
        let r = render(
            &Refusal::Unauthenticated(Unauthenticated::NoCredentials),
            &to(Method::GET, "/api/v1/search"),
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        let r = render(&Refusal::AuditUnavailable, &to(Method::GET, "/api/v1/sql"));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn a_person_is_sent_to_log_in_or_to_change_the_password() {
        let r = render(
            &Refusal::Unauthenticated(Unauthenticated::SessionEnded),
            &to(Method::GET, "/console/search?q=x"),
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&r),
            "/console/login?next=%2Fconsole%2Fsearch%3Fq%3Dx"
        );
        let r = render(&Refusal::PasswordChange, &to(Method::GET, "/console/holds"));
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/console/password?next=%2Fconsole%2Fholds");
        // A form is not sent again after the change: the dashboard.
        let r = render(
            &Refusal::PasswordChange,
            &to(Method::POST, "/console/holds"),
        );
        assert_eq!(location(&r), "/console/password?next=%2Fconsole");
    }

    #[test]
    fn other_refusals_are_an_error_page_with_their_status() {
        let r = render(&Refusal::CsrfMissing, &to(Method::POST, "/console/holds"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}
