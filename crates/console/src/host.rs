//! What the console needs from the server that runs it and that is not a
//! component of the application ([`pramaan_app::App`]): the user store's
//! sessions (log in, log out, change one's own password: the same code as
//! the API's), the clock monitor `serve` runs, the audit trail read back,
//! and the bundle download the API streams too. `pramaan-server`
//! implements [`Host`] for its state; the console never names the server.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pramaan_app::orders::Bundle;
use pramaan_app::{App, AppError, Caller};
use std::future::Future;
use std::net::IpAddr;

/// A new session: its id (the cookie's value) and who it is for.
pub struct Session {
    pub who: Caller,
    pub id: String,
}

/// A refused login or password change: the status to answer with and
/// what the person is told.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

/// The server the console runs in.
pub trait Host: Send + Sync + 'static {
    /// The application layer: the operations and the components they share.
    fn app(&self) -> &App;

    /// Checks a password and opens a session, recording `login` (or
    /// `login.failed`, counted by the limiter) with the method `console`:
    /// the API's login. A refusal's message is [`crate::login_message`]'s.
    fn log_in(
        &self,
        user: String,
        password: String,
        from: IpAddr,
    ) -> impl Future<Output = Result<Session, Refused>> + Send;

    /// Ends the session the request's cookie names (if any) and records `logout`.
    fn log_out(
        &self,
        who: &Caller,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<(), AppError>> + Send;

    /// The caller changes their own password (the API's `POST
    /// /api/v1/password`: same rules, same audit record; it ends every
    /// session of the user).
    fn change_own_password(
        &self,
        who: &Caller,
        current: String,
        new: String,
    ) -> impl Future<Output = Result<(), Refused>> + Send;

    /// A new session for `who` (after a password change ended theirs),
    /// recorded as a `login` with `how` as the method.
    fn open_session(
        &self,
        who: &Caller,
        how: &'static str,
    ) -> impl Future<Output = Result<String, AppError>> + Send;

    /// The `Set-Cookie` value carrying session `id`, or (`None`) the one
    /// that ends the cookie.
    fn session_cookie(&self, id: Option<&str>) -> String;

    /// An order's bundle as a download (`application/zip`), as the API answers it.
    fn bundle_download(&self, bundle: Bundle) -> Response;
}
