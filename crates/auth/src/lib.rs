//! Access control for pramaan: who may do what, and the trace of what they did.
//!
//! * [`Role`]: the seven roles of the role matrix (README, "Access control").
//! * [`store::AuthStore`]: users (argon2id password hashes), API tokens (only
//!   their SHA-256 is stored) and login sessions, in `<data_dir>/auth.db`.
//! * [`limiter::Limiter`]: login rate limiting per source address and
//!   temporary lock-out per user after repeated failures; pure, the time is
//!   passed in.
//! * [`Auth`]: the two together, as `serve` uses them: log in, authenticate a
//!   bearer token, HTTP Basic credentials or a session cookie.
//! * [`audit`]: the record every access to personal data (and every login,
//!   export, approval...) leaves in the ledger.
//!
//! Secrets (passwords, tokens, session ids) are never logged and never
//! stored in the clear.
//!
//! Owns: users, tokens, sessions, roles, the login limiter, the audit record's
//! shape.
//! May not touch: HTTP (no headers, no cookies: the server's guard reads
//! those), which route needs which role (the access table is in `pramaan-app`).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod audit;
pub mod limiter;
pub mod role;
pub mod schema;
pub mod secret;
pub mod store;

pub use role::{Role, RoleSet};
pub use store::{AuthStore, NewToken, TokenInfo, UserInfo};

use limiter::{Limiter, LimiterConfig};
use std::net::IpAddr;
use std::sync::Mutex;

/// Everything that can go wrong, naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the user store {path}: {source}")]
    Db {
        path: String,
        source: rusqlite::Error,
    },
    #[error("opening the user store: {0}")]
    Open(#[from] pramaan_db::OpenError),
    #[error("`{0}` is not a role; the roles are admin, ingest, analyst, registry-officer, approver, poc, auditor")]
    UnknownRole(String),
    #[error("give at least one role")]
    NoRole,
    #[error("no user named `{0}`")]
    UnknownUser(String),
    #[error("a user named `{0}` exists already")]
    UserExists(String),
    #[error("user name `{0}`: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`")]
    BadName(String),
    #[error("no token named or numbered `{0}`")]
    UnknownToken(String),
    #[error(
        "a token named `{0}` exists already (revoked tokens keep their name); choose another name"
    )]
    TokenExists(String),
    #[error("the password is too short: at least {min} characters")]
    WeakPassword { min: usize },
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// How the caller proved who it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `Authorization: Bearer <token>` (machines).
    Token,
    /// `Authorization: Basic` (people, scripts).
    Basic,
    /// The login session cookie (people in a browser); state-changing
    /// requests must carry the session's CSRF token.
    Session,
    /// The CLI working on the data directory itself (no server): the
    /// operating-system user who can open the directory's files, acting as
    /// admin (they could read the files anyway); recorded as `<user> (local)`.
    Local,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Identity {
    /// The user's name, or `token:<name>` for an API token.
    pub name: String,
    pub roles: RoleSet,
    pub method: Method,
    /// The session's CSRF token (only for [`Method::Session`]).
    #[serde(skip)]
    pub csrf: Option<String>,
    /// The user must change the one-time password before anything else.
    pub must_change_password: bool,
}

impl Identity {
    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(r)
    }
}

/// Why a login (or Basic authentication) was refused. The client is told
/// only "bad credentials", "locked" or "too many attempts".
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("too many failed logins for this user; locked until {until}")]
    Locked { until: String, until_ns: i64 },
    #[error("too many login attempts from this address; wait a minute")]
    RateLimited,
    #[error(transparent)]
    Store(#[from] AuthError),
}

/// The store and the limiter, as `serve` uses them.
pub struct Auth {
    store: AuthStore,
    limiter: Mutex<Limiter>,
    /// How long a login session lasts.
    pub session_ttl_ns: i64,
}

impl Auth {
    /// Opens with the lock-outs the store kept (a restart does not lift one).
    pub fn new(
        store: AuthStore,
        limits: LimiterConfig,
        session_ttl_ns: i64,
    ) -> Result<Self, AuthError> {
        let mut limiter = Limiter::new(limits);
        for (user, failures, locked_until) in store.login_failures()? {
            limiter.restore(&user, failures, locked_until);
        }
        Ok(Auth {
            store,
            limiter: Mutex::new(limiter),
            session_ttl_ns,
        })
    }

    pub fn store(&self) -> &AuthStore {
        &self.store
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a user name and password (login or HTTP Basic), applying the
    /// rate limit of `from` and the user's lock-out at time `now_ns`.
    pub fn check_password(
        &self,
        user: &str,
        password: &str,
        from: IpAddr,
        now_ns: i64,
    ) -> Result<Identity, LoginError> {
        self.limiter().admit(user, from, now_ns)?;
        match self.store.verify_password(user, password)? {
            Some(u) => {
                let had_failures = self.limiter().succeeded(user);
                if had_failures {
                    self.store.clear_login_failures(user)?;
                }
                Ok(Identity {
                    name: u.name,
                    roles: u.roles,
                    method: Method::Basic,
                    csrf: None,
                    must_change_password: u.must_change_password,
                })
            }
            None => {
                let (state, window) = {
                    let mut l = self.limiter();
                    l.failed(user, now_ns);
                    (l.user_state(user), l.window_ns())
                };
                if let Some((failures, locked_until)) = state {
                    self.store.save_login_failures(
                        user,
                        &failures,
                        locked_until,
                        now_ns,
                        window,
                    )?;
                }
                Err(LoginError::BadCredentials)
            }
        }
    }

    /// Logs in: checks the password, then opens a session. Returns the
    /// identity, the session id (for the cookie) and its CSRF token.
    pub fn login(
        &self,
        user: &str,
        password: &str,
        from: IpAddr,
        now_ns: i64,
    ) -> Result<(Identity, String, String), LoginError> {
        let mut id = self.check_password(user, password, from, now_ns)?;
        let (sid, csrf) = self.store.create_session(
            &id.name,
            now_ns,
            now_ns.saturating_add(self.session_ttl_ns),
        )?;
        id.method = Method::Session;
        id.csrf = Some(csrf.clone());
        Ok((id, sid, csrf))
    }

    /// The identity of a bearer token, if it is known, not revoked and not expired.
    pub fn by_token(&self, token: &str, now_ns: i64) -> Result<Option<Identity>, AuthError> {
        Ok(self.store.token_identity(token, now_ns)?.map(|t| Identity {
            name: format!("token:{}", t.name),
            roles: t.roles,
            method: Method::Token,
            csrf: None,
            must_change_password: false,
        }))
    }

    /// The identity of a session id, if the session is live and its user enabled.
    pub fn by_session(&self, sid: &str, now_ns: i64) -> Result<Option<Identity>, AuthError> {
        Ok(self
            .store
            .session_identity(sid, now_ns)?
            .map(|(u, csrf)| Identity {
                name: u.name,
                roles: u.roles,
                method: Method::Session,
                csrf: Some(csrf),
                must_change_password: u.must_change_password,
            }))
    }
}

#[cfg(test)]
mod tests;
