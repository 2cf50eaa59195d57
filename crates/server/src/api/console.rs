//! The web console's host: the console's pages live in `pramaan-console`
//! (`pramaan_console::routes`), mounted here behind the access guard; this
//! module gives them what is the server's and not the application's
//! ([`pramaan_console::Host`]): sessions (the API's login, logout and
//! password change, `super::auth`), the clock monitor, the audit trail read
//! back, and the bundle download. How the guard's refusals look on the
//! console (login redirect, password page, error page) is `crate::gate`'s.

use super::{auth, AppState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Router;
use pramaan_app::orders::Bundle;
use pramaan_app::{App, AppError, Caller};
use pramaan_auth::audit::{action, AuditEvent};
use pramaan_console::{Host, Refused, Session};
use std::net::IpAddr;
use std::sync::Arc;

pub use pramaan_console::web::is_console;

/// Every console route (and `/`, which leads to it).
pub(super) fn routes() -> Router<Arc<AppState>> {
    pramaan_console::routes::<AppState>()
}

impl Host for AppState {
    fn app(&self) -> &App {
        &self.app
    }

    async fn log_in(
        &self,
        user: String,
        password: String,
        from: IpAddr,
    ) -> Result<Session, Refused> {
        match auth::sign_in(self, &user, password, from, "console").await {
            Ok((who, id, _csrf)) => Ok(Session { who, id }),
            Err((refusal, message)) => Err(Refused {
                status: refusal.status(),
                message,
            }),
        }
    }

    async fn log_out(&self, who: &Caller, headers: &HeaderMap) -> Result<(), AppError> {
        auth::sign_out(self, who, headers)
            .await
            .map_err(AppError::internal)
    }

    async fn change_own_password(
        &self,
        who: &Caller,
        current: String,
        new: String,
    ) -> Result<(), Refused> {
        auth::change_own_password(self, who, current, new)
            .await
            .map_err(|e| Refused {
                status: e.status(),
                message: e.message().to_owned(),
            })
    }

    async fn open_session(&self, who: &Caller, how: &'static str) -> Result<String, AppError> {
        let acc = self.access();
        let now = pramaan_core::time::now_ns();
        let expires = now.saturating_add(acc.auth.session_ttl_ns);
        let (sid, _csrf) = acc
            .auth
            .store()
            .create_session(&who.name, now, expires)
            .map_err(AppError::internal)?;
        acc.audit(AuditEvent::new(action::LOGIN, &who.name, &who.name).detail("method", how))
            .await;
        Ok(sid)
    }

    fn session_cookie(&self, id: Option<&str>) -> String {
        let acc = self.access();
        match id {
            Some(sid) => auth::cookie(sid, acc.auth.session_ttl_ns / 1_000_000_000, acc.tls),
            None => auth::cookie("", 0, acc.tls),
        }
    }

    fn bundle_download(&self, bundle: Bundle) -> Response {
        super::orders::zip_download(bundle)
    }
}
