//! Why the guard refused a request, as a type: the guard decides, and the
//! API and the console each say it their own way (JSON with its status; a
//! login redirect, the password page or an error page). Nothing here knows
//! how an answer looks; [`Refusal::status`] is the HTTP meaning.

use axum::http::StatusCode;

/// A refused request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No valid credentials (401): the console sends a browser to its login page.
    #[error("{0}")]
    Unauthenticated(Unauthenticated),
    /// Too many failed logins for the user, or attempts from the address
    /// (429, retry after a minute); the message says which.
    #[error("{0}")]
    LoginLimited(String),
    /// The caller's password is one-time: nothing but changing it (403;
    /// the console sends a browser to its password page).
    #[error("change your one-time password first (the console's password page /console/password, POST /api/v1/password, or pramaan user passwd NAME --own)")]
    PasswordChange,
    /// A state-changing request a browser marks as sent by another site (403).
    #[error("a state-changing request from another site's page is refused")]
    CrossSite,
    /// A console form sent with HTTP Basic or a token, without a
    /// same-origin `Origin` or `Sec-Fetch-Site` (403).
    #[error("a console form sent with a password or a token must come from a console page (a same-origin Origin or Sec-Fetch-Site header); log in to use the console's forms")]
    FormWithoutOrigin,
    /// A state-changing request with a session cookie and without the
    /// session's CSRF token (403).
    #[error("a state-changing request with a session cookie needs the X-CSRF-Token header from the login answer")]
    CsrfMissing,
    /// A route without a row in the access table, for anyone but admin (403).
    #[error("{route} has no row in the access table; only admin may call it")]
    NoRow { route: String },
    /// The caller has none of the roles the route's row names (403).
    #[error("{method} {route} needs one of the roles {needs}; you have {has}")]
    Forbidden {
        method: String,
        route: String,
        needs: String,
        has: String,
    },
    /// A body the guard must read is larger than `http.max_body` (413).
    #[error("the {0} is larger than http.max_body")]
    TooLarge(&'static str),
    /// A read whose audit record could not be written is not run (503,
    /// retry in a few seconds): nothing is answered unaudited.
    #[error(
        "the audit record of this request could not be written, so it was not run; retry later"
    )]
    AuditUnavailable,
    /// The user store failed (500); the details are in the server's log.
    #[error("internal error; see the server log")]
    Internal,
}

/// Why a caller is not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error(
        "authentication required: a token (Authorization: Bearer), HTTP Basic, or a login session"
    )]
    NoCredentials,
    #[error("the Authorization header is not `Bearer <token>` or `Basic <base64 user:password>`")]
    Malformed,
    #[error("the token is unknown, revoked or expired")]
    UnknownToken,
    #[error("the session has ended; log in again")]
    SessionEnded,
    #[error("wrong user name or password")]
    BadCredentials,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::LoginLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::PasswordChange
            | Refusal::CrossSite
            | Refusal::FormWithoutOrigin
            | Refusal::CsrfMissing
            | Refusal::NoRow { .. }
            | Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds after which the same request may succeed, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Refusal::LoginLimited(_) => Some(60),
            Refusal::AuditUnavailable => Some(5),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_the_status_a_client_expects() {
        let cases = [
            (
                Refusal::Unauthenticated(Unauthenticated::SessionEnded),
                401,
                None,
            ),
            (Refusal::LoginLimited("locked".into()), 429, Some(60)),
            (Refusal::PasswordChange, 403, None),
            (Refusal::CrossSite, 403, None),
            (Refusal::CsrfMissing, 403, None),
            (Refusal::TooLarge("form"), 413, None),
            (Refusal::AuditUnavailable, 503, Some(5)),
            (Refusal::Internal, 500, None),
        ];
        for (r, status, retry) in cases {
            assert_eq!(r.status().as_u16(), status, "{r:?}");
            assert_eq!(r.retry_after(), retry, "{r:?}");
        }
        let f = Refusal::Forbidden {
            method: "GET".into(),
            route: "/api/v1/audit".into(),
            needs: "auditor, admin".into(),
            has: "analyst".into(),
        };
        assert_eq!(
            f.to_string(),
            "GET /api/v1/audit needs one of the roles auditor, admin; you have analyst"
        );
    }
}
