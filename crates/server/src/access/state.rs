//! What the access checks work with: the user store and limiter, the audit
//! sink, and the settings that change a decision; and, at start, the first
//! admin and the bootstrap token.

use pramaan_auth::audit::{self, AuditEvent};
use pramaan_auth::{Auth, AuthStore, Role};
use pramaan_config::Config;
use pramaan_vault::sink::VaultSink;

/// The access part of the server's state (shared by the guard and the
/// handlers of logins and accounts).
pub struct AccessState {
    pub auth: Auth,
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

/// Configuration of the limiter from `[auth]`.
pub fn limiter_config(cfg: &Config) -> pramaan_auth::limiter::LimiterConfig {
    pramaan_auth::limiter::LimiterConfig {
        max_failures: cfg.auth.max_failures as u32,
        lockout_ns: cfg.auth.lockout.as_nanos().min(i64::MAX as u128) as i64,
        per_address_per_minute: cfg.auth.login_rate as u32,
    }
}

impl AccessState {
    pub fn open(
        vault: &pramaan_vault::Vault,
        cfg: &Config,
    ) -> Result<Self, pramaan_auth::AuthError> {
        let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir))?;
        Ok(AccessState {
            auth: Auth::new(
                store,
                limiter_config(cfg),
                cfg.auth.session_ttl.as_nanos().min(i64::MAX as u128) as i64,
            )?,
            sink: VaultSink::new(vault.clone()),
            tls: cfg.http.tls_cert.is_some() && cfg.http.tls_key.is_some(),
            metrics_public: cfg.metrics.public,
            audit_reads: cfg.auth.audit_reads,
            max_body: cfg.http.max_body as usize,
        })
    }

    /// [`AccessState::open`], or, when the store cannot be opened, a state
    /// with no users and no tokens: everything but public routes is refused
    /// (`serve` opens the store first in [`bootstrap`] and stops on an error).
    pub fn open_or_closed(vault: &pramaan_vault::Vault, cfg: &Config) -> Self {
        match AccessState::open(vault, cfg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the user store; refusing every authenticated request");
                let auth = match AuthStore::in_memory()
                    .and_then(|store| Auth::new(store, limiter_config(cfg), 0))
                {
                    Ok(a) => a,
                    Err(e) => panic!("an in-memory SQLite database cannot be opened: {e}"),
                };
                AccessState {
                    auth,
                    sink: VaultSink::new(vault.clone()),
                    tls: false,
                    metrics_public: cfg.metrics.public,
                    audit_reads: true,
                    max_body: cfg.http.max_body as usize,
                }
            }
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
