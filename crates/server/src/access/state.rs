//! What the access checks work with: the user store and limiter, the audit
//! sink, and the settings that change a decision; and, at start, the first
//! admin and the bootstrap token.

use pramaan_auth::audit::{self, AuditEvent};
use pramaan_auth::{Auth, AuthStore, Role};
use pramaan_config::Config;
use pramaan_vault::sink::VaultSink;
use std::sync::Arc;

/// The access part of the server's state (shared by the guard and the
/// handlers of logins and accounts).
pub struct AccessState {
    /// The App's user store (`pramaan_app::users`): one for the process, so
    /// the guard's logins, sessions and tokens and the operations that
    /// change users and tokens see the same one.
    pub auth: Arc<Auth>,
    pub sink: VaultSink,
    /// HTTPS is on: cookies are `Secure`, responses carry HSTS.
    pub tls: bool,
    pub metrics_public: bool,
    /// `auth.audit_reads`.
    pub audit_reads: bool,
    /// `http.max_body`: the most the guard reads of a body it must look
    /// into (a console form's CSRF field, an audited request's JSON).
    pub max_body: usize,
}

pub use pramaan_app::users::limiter_config;

impl AccessState {
    /// The access state over `app`'s user store. When that store cannot be
    /// opened it is a closed one, with no users and no tokens: everything
    /// but public routes is refused (`serve` opens the store first in
    /// [`bootstrap`] and stops on an error).
    pub fn new(app: &pramaan_app::App, cfg: &Config) -> Self {
        let users = app.users();
        let closed = users.is_closed();
        AccessState {
            auth: users.auth().clone(),
            sink: VaultSink::new(app.vault().clone()),
            tls: !closed && cfg.http.tls_cert.is_some() && cfg.http.tls_key.is_some(),
            metrics_public: cfg.metrics.public,
            audit_reads: closed || cfg.auth.audit_reads,
            max_body: cfg.http.max_body as usize,
        }
    }

    /// Appends an audit record; a failure is logged (the vault is closing or read-only).
    pub async fn audit(&self, ev: AuditEvent) {
        if let Err(e) = audit::record(&self.sink, &ev).await {
            tracing::error!(error = %e, action = %ev.action, "could not append an audit record");
        }
    }
}

/// Environment variable: the first admin's password (else a one-time one is printed).
pub const ENV_ADMIN_PASSWORD: &str = "PRAMAAN_ADMIN_PASSWORD";
/// Environment variable: a token with the admin role stored at start (automation, tests).
pub const ENV_BOOTSTRAP_TOKEN: &str = "PRAMAAN_BOOTSTRAP_TOKEN";

/// At start: the first admin user when there is no user, and the bootstrap
/// token when one is given. Secrets go to standard error once, never to the log.
pub fn bootstrap(cfg: &Config) -> Result<(), pramaan_auth::AuthError> {
    let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir))?;
    let now = pramaan_core::time::now_ns();
    let admins = pramaan_auth::RoleSet::of(&[Role::Admin]);
    if store.user_count()? == 0 {
        match std::env::var(ENV_ADMIN_PASSWORD) {
            Ok(p) if !p.is_empty() => {
                store.add_user("admin", &p, admins, false, now)?;
                tracing::info!(
                    "created the user `admin` with the password from ${ENV_ADMIN_PASSWORD}"
                );
            }
            _ => {
                let p = pramaan_auth::secret::one_time_password()?;
                store.add_user("admin", &p, admins, true, now)?;
                eprintln!(
                    "\npramaan: created the user `admin` with the one-time password\n\n    {p}\n\n\
                     It is shown only now. Change it at the first console login (/console asks for a new one), or: printf '%s\\n%s\\n' OLD NEW | pramaan user passwd admin --own --server URL\n"
                );
                tracing::info!("created the user `admin` with a one-time password (printed once on standard error)");
            }
        }
    }
    if let Ok(t) = std::env::var(ENV_BOOTSTRAP_TOKEN) {
        if !t.is_empty() {
            store.ensure_token("bootstrap", &t, admins, "environment", now)?;
        }
    }
    Ok(())
}
