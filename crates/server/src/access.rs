//! Access control for the HTTP API and the console: the middleware's
//! decision over THE access table (`pramaan_app::access`, re-exported
//! here), which it enforces on the whole router.
//!
//! * Every request is matched against [`TABLE`] by method and route pattern
//!   (axum's `MatchedPath`, e.g. `/api/v1/holds/{id}/release`). A pattern
//!   ending in `*` covers every route that starts with what comes before it.
//!   The most specific (longest) matching row wins.
//! * A route that no row covers is refused with 403 to everyone but `admin`
//!   (fail closed): a route added without a row cannot leak.
//!   `crates/server/tests/access.rs` walks the router and fails on such a route.
//! * `admin` passes every check.
//! * Callers authenticate with `Authorization: Bearer <token>` (machines),
//!   HTTP Basic (people, scripts; a shipper that only does Basic sends an
//!   ingest token as the password, any user name) or the `pramaan_session` cookie from a
//!   login (people in a browser). A state-changing request made with the
//!   cookie must carry the session's CSRF token in `X-CSRF-Token` (a
//!   console form: the `_csrf` field). A console form sent with Basic or a
//!   token must come from a console page (a same-origin `Origin` or
//!   `Sec-Fetch-Site`), and any state-changing request a browser marks as
//!   sent by another site is refused, whatever the credentials
//!   ([`cross_site`]).
//! * A caller whose password is one-time reaches only the routes that
//!   change it (`PASSWORD_CHANGE_ROUTES`).
//! * The handler finds the caller as the `Identity` request extension (the
//!   server's `caller::Authenticated` extractor takes it). No header names
//!   the caller: an `X-Pramaan-Actor` a client sends is removed.
//! * Rows with an audit action make the middleware append an audit record
//!   (`pramaan:audit`): who, what, the query or body (for rows that say so).
//!   Reads (searches, SQL: `Audit::Read*`) are recorded before the handler
//!   runs, with outcome `allowed`; when the record cannot be written the
//!   request is refused (503) and never runs (reads of the audit trail are
//!   recorded the same way by their operation, `pramaan_app::audit_trail`).
//!   Other rows are recorded once the handler answered, with the status.
//!
//! Owns: the decision ([`pass`] returns the handler's answer or a typed
//! [`Refusal`]), credentials, the user store's state. May not touch: how an
//! answer looks (JSON, pages: the server's `gate` renders a refusal), the
//! API's or the console's handlers.

mod credentials;
mod guard;
mod origin;
mod refusal;
mod state;

pub use credentials::{
    form_field, login_refused, session_cookie, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE,
};
pub use guard::{is_console, pass};
pub use origin::{cross_site, same_origin};
pub use pramaan_app::audit_trail::search_audit;
pub use refusal::{Refusal, Unauthenticated};
pub use state::{bootstrap, limiter_config, AccessState, ENV_ADMIN_PASSWORD, ENV_BOOTSTRAP_TOKEN};

pub use pramaan_app::access::{allowed, Audit, Need, Rule, TABLE};
pub use pramaan_auth::Identity as Caller;

/// The row for a request (see `pramaan_app::access::lookup`).
pub fn lookup(method: &axum::http::Method, pattern: &str) -> Option<&'static Rule> {
    pramaan_app::access::lookup(method.as_str(), pattern)
}
