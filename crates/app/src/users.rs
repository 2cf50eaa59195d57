//! Users: the user store the process shares (the server's guard checks
//! credentials against it, the operations change it), the password rules,
//! and the operations an admin runs on accounts: list, add, reset a
//! password, disable, enable, set roles.
//!
//! Each change is recorded on the audit trail once made (who, which
//! action, which user). A one-time password is returned only in the
//! operation's output, never logged.

use crate::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{self, action, AuditEvent};
use pramaan_auth::limiter::LimiterConfig;
use pramaan_auth::{Auth, AuthError, AuthStore, Method, RoleSet, UserInfo};
use pramaan_config::Config;
use pramaan_core::time::{now_ns, rfc3339_ist};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> AppError {
        match e {
            AuthError::UnknownUser(_) | AuthError::UnknownToken(_) => {
                AppError::Missing(e.to_string())
            }
            AuthError::UserExists(_) | AuthError::TokenExists(_) => {
                AppError::Conflict(e.to_string())
            }
            AuthError::UnknownRole(_)
            | AuthError::NoRole
            | AuthError::BadName(_)
            | AuthError::WeakPassword { .. } => AppError::Invalid(e.to_string()),
            other => AppError::internal(format!("user store: {other}")),
        }
    }
}

/// Configuration of the login limiter from `[auth]`.
pub fn limiter_config(cfg: &Config) -> LimiterConfig {
    LimiterConfig {
        max_failures: cfg.auth.max_failures as u32,
        lockout_ns: cfg.auth.lockout.as_nanos().min(i64::MAX as u128) as i64,
        per_address_per_minute: cfg.auth.login_rate as u32,
    }
}

/// The user store of a data directory (`<data_dir>/auth.db`), opened at
/// first use and then shared by everyone in the process.
pub struct Users {
    path: PathBuf,
    limits: LimiterConfig,
    session_ttl_ns: i64,
    opened: OnceLock<Opened>,
}

struct Opened {
    auth: Arc<Auth>,
    /// Why the store could not be opened (the store is then a closed one).
    failed: Option<String>,
}

impl Users {
    pub fn new(cfg: &Config) -> Users {
        Users {
            path: pramaan_auth::store::path_in(&cfg.data_dir),
            limits: limiter_config(cfg),
            session_ttl_ns: cfg.auth.session_ttl.as_nanos().min(i64::MAX as u128) as i64,
            opened: OnceLock::new(),
        }
    }

    fn opened(&self) -> &Opened {
        self.opened.get_or_init(|| {
            let open = AuthStore::open(&self.path)
                .and_then(|store| Auth::new(store, self.limits, self.session_ttl_ns));
            match open {
                Ok(auth) => Opened {
                    auth: Arc::new(auth),
                    failed: None,
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the user store; refusing every authenticated request");
                    Opened {
                        auth: Arc::new(closed(&self.limits)),
                        failed: Some(e.to_string()),
                    }
                }
            }
        })
    }

    /// The store the server's guard checks credentials against. When it
    /// cannot be opened: a closed one, with no users and no tokens, so
    /// everything but public routes is refused (the error is logged once).
    pub fn auth(&self) -> &Arc<Auth> {
        &self.opened().auth
    }

    /// Whether the store could not be opened ([`Users::auth`] is closed).
    pub fn is_closed(&self) -> bool {
        self.opened().failed.is_some()
    }

    /// The store for an operation; an error when it cannot be opened
    /// (nothing is changed in a closed store).
    pub fn store(&self) -> Result<Arc<Auth>, AppError> {
        let o = self.opened();
        match &o.failed {
            None => Ok(o.auth.clone()),
            Some(e) => {
                tracing::error!(error = %e, "an operation needs the user store, which could not be opened");
                Err(AppError::NotNow(
                    "the user store cannot be opened; see the server log".into(),
                ))
            }
        }
    }
}

/// A store with no users and no tokens, in memory.
fn closed(limits: &LimiterConfig) -> Auth {
    match AuthStore::in_memory().and_then(|store| Auth::new(store, *limits, 0)) {
        Ok(a) => a,
        Err(e) => panic!("an in-memory SQLite database cannot be opened: {e}"),
    }
}

/// Runs store work (argon2 hashing, SQLite) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AppError> {
    let auth = app.users().store()?;
    tokio::task::spawn_blocking(move || f(&auth))
        .await
        .map_err(|e| AppError::internal(format!("user store task: {e}")))?
        .map_err(AppError::from)
}

/// Records a change that is made; a failure is logged (the vault is
/// closing or read-only), the change stands.
pub(crate) async fn record_change(app: &App, ev: AuditEvent) {
    if let Err(e) = audit::record(&*app.sink(), &ev).await {
        tracing::error!(error = %e, action = %ev.action, "could not append an audit record");
    }
}

// ------------------------------------------------------ password rules

/// The password rules, in one place. The store refuses one shorter than
/// `pramaan_auth::MIN_PASSWORD_LEN`; a password an admin sets (a new user,
/// a reset) is one-time: its user must change it before anything else; a
/// password its user chose is not.
pub mod password {
    use super::*;

    /// A password set by an admin must be changed at the next login.
    pub const SET_BY_ADMIN_IS_ONE_TIME: bool = true;
    /// A password its user chose is theirs to keep.
    pub const SET_BY_SELF_IS_ONE_TIME: bool = false;

    /// The password given, or a generated one-time password; the second
    /// value says whether it was generated (and so must be shown, once).
    pub fn given_or_generated(given: Option<String>) -> Result<(String, bool), AppError> {
        match given {
            Some(p) => Ok((p, false)),
            None => Ok((pramaan_auth::secret::one_time_password()?, true)),
        }
    }

    /// The caller changes their own password (the API's `POST
    /// /api/v1/password`, the console's password page): the current one
    /// must be right and the new one differ and be strong enough; the
    /// change is recorded (`user.password`, by self) and ends the user's
    /// sessions.
    pub async fn change_own(
        app: &App,
        who: &Caller,
        current: String,
        new: String,
    ) -> Result<(), AppError> {
        if who.method == Method::Token {
            return Err(AppError::Invalid(
                "a token has no password; log in as a user".into(),
            ));
        }
        if current == new {
            return Err(AppError::Invalid(
                "the new password must differ from the current one".into(),
            ));
        }
        let name = who.name.clone();
        let ok = blocking(app, move |a| {
            if a.store().verify_password(&name, &current)?.is_none() {
                return Ok(false);
            }
            a.store()
                .set_password(&name, &new, SET_BY_SELF_IS_ONE_TIME, now_ns())?;
            Ok(true)
        })
        .await?;
        if !ok {
            return Err(AppError::Forbidden("the current password is wrong".into()));
        }
        record_change(
            app,
            AuditEvent::new(action::USER_PASSWORD, &who.name, &who.name).detail("by", "self"),
        )
        .await;
        Ok(())
    }
}

// ------------------------------------------------------------ operations

/// A user as callers see it: the stored fields (never a hash) and its
/// times in RFC 3339 (IST).
pub fn user_json(u: &UserInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(u).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("created_at".into(), rfc3339_ist(u.created_at_ns).into());
        o.insert("changed_at".into(), rfc3339_ist(u.changed_at_ns).into());
    }
    v
}

/// `GET /api/v1/users`: every user (never a password or hash).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {}

impl Operation for ListUsers {
    type Output = Vec<serde_json::Value>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/users";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let users = blocking(app, |a| a.store().users()).await?;
        Ok(users.iter().map(user_json).collect())
    }
}

/// `POST /api/v1/users`: a new user with a one-time password (the one
/// given, else a generated one, returned once as `one_time_password`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    pub name: String,
    /// Comma-separated role names.
    pub roles: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for AddUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddUser")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Operation for AddUser {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/users";

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let roles = RoleSet::parse(&self.roles)?;
        let (pw, generated) = password::given_or_generated(self.password)?;
        let (name, secret) = (self.name, pw.clone());
        let u = blocking(app, move |a| {
            a.store().add_user(
                &name,
                &secret,
                roles,
                password::SET_BY_ADMIN_IS_ONE_TIME,
                now_ns(),
            )
        })
        .await?;
        record_change(
            app,
            AuditEvent::new(action::USER_ADD, &who.name, &u.name)
                .detail("roles", roles.to_string()),
        )
        .await;
        let mut v = user_json(&u);
        if generated {
            v["one_time_password"] = pw.into();
        }
        Ok(v)
    }
}

/// `POST /api/v1/users/{name}/password`: a new one-time password for a
/// user (the one given, else a generated one, returned once).
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The user (in the route, not the body).
    #[serde(default, skip_serializing)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for ResetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPassword")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Operation for ResetPassword {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/users/{name}/password";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "name", &self.name)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let (pw, generated) = password::given_or_generated(self.password)?;
        let (name, secret) = (self.name.clone(), pw.clone());
        blocking(app, move |a| {
            a.store()
                .set_password(&name, &secret, password::SET_BY_ADMIN_IS_ONE_TIME, now_ns())
        })
        .await?;
        record_change(
            app,
            AuditEvent::new(action::USER_PASSWORD, &who.name, &self.name).detail("by", "admin"),
        )
        .await;
        let mut v = serde_json::json!({ "user": self.name, "must_change_password": true });
        if generated {
            v["one_time_password"] = pw.into();
        }
        Ok(v)
    }
}

/// Disables or enables a user; answers the user as it is now.
async fn set_disabled(
    app: &App,
    who: &Caller,
    name: String,
    disabled: bool,
) -> Result<serde_json::Value, AppError> {
    if disabled && name == who.name {
        return Err(AppError::Invalid("you cannot disable yourself".into()));
    }
    let n = name.clone();
    blocking(app, move |a| a.store().set_disabled(&n, disabled, now_ns())).await?;
    let act = if disabled {
        action::USER_DISABLE
    } else {
        action::USER_ENABLE
    };
    record_change(app, AuditEvent::new(act, &who.name, &name)).await;
    let u = blocking(app, move |a| a.store().user(&name)).await?;
    Ok(user_json(&u))
}

/// `POST /api/v1/users/{name}/disable`: logins, sessions and Basic
/// credentials of the user stop working (an admin cannot disable themself).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DisableUser {
    #[serde(default, skip_serializing)]
    pub name: String,
}

impl Operation for DisableUser {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/users/{name}/disable";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "name", &self.name)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        set_disabled(app, who, self.name, true).await
    }
}

/// `POST /api/v1/users/{name}/enable`: a disabled user works again.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableUser {
    #[serde(default, skip_serializing)]
    pub name: String,
}

impl Operation for EnableUser {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/users/{name}/enable";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "name", &self.name)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        set_disabled(app, who, self.name, false).await
    }
}

/// `POST /api/v1/users/{name}/roles`: replaces a user's roles.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    #[serde(default, skip_serializing)]
    pub name: String,
    /// Comma-separated role names.
    pub roles: String,
}

impl Operation for SetRoles {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/users/{name}/roles";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "name", &self.name)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let roles = RoleSet::parse(&self.roles)?;
        let n = self.name.clone();
        blocking(app, move |a| a.store().set_roles(&n, roles, now_ns())).await?;
        record_change(
            app,
            AuditEvent::new(action::USER_ROLES, &who.name, &self.name)
                .detail("roles", roles.to_string()),
        )
        .await;
        let n = self.name;
        let u = blocking(app, move |a| a.store().user(&n)).await?;
        Ok(user_json(&u))
    }
}
