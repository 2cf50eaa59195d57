//! The CLI's way to run operations without a server: the data directory
//! opened by this process, the caller being the local operator.
//!
//! Whoever can open the data directory's files could read them anyway, so
//! the local operator acts as admin; every change is recorded under
//! `<os user> (local)`, as the server records its callers.

use crate::{options, App, AppError, Caller, Operation};
use pramaan_auth::{Method, Role, RoleSet};
use pramaan_config::Config;
use pramaan_vault::{Vault, Workers};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("opening the data directory {dir}: {source}")]
pub struct OpenError {
    dir: String,
    #[source]
    source: pramaan_vault::VaultError,
}

/// The data directory opened for operations (the vault's writer runs, so
/// changes reach the ledger).
pub struct Local {
    app: Arc<App>,
    vault: Vault,
    workers: Workers,
    who: Caller,
}

impl Local {
    pub async fn open(cfg: &Config) -> Result<Local, OpenError> {
        let (vault, workers) =
            Vault::open(options::vault_options(cfg))
                .await
                .map_err(|source| OpenError {
                    dir: cfg.data_dir.display().to_string(),
                    source,
                })?;
        Ok(Local {
            app: Arc::new(App::new(cfg, vault.clone())),
            vault,
            workers,
            who: operator(),
        })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    pub fn caller(&self) -> &Caller {
        &self.who
    }

    /// Runs `op` as the local operator, audited as the server audits the
    /// same route (a read is refused when its record cannot be written).
    pub async fn run<O: Operation>(&self, op: O) -> Result<O::Output, AppError> {
        crate::audited::run(&self.app, &self.who, op).await
    }

    /// Lets every component finish its ledger records, then closes the
    /// vault and waits for its threads (WAL drained, last checkpoint signed).
    pub async fn close(self) {
        let Local {
            app,
            vault,
            workers,
            ..
        } = self;
        app.close().await;
        drop(app);
        vault.shutdown(workers).await;
    }
}

/// The operating-system user running this process (`$USER`, `$LOGNAME`).
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The operating-system user running the CLI, as admin.
pub fn operator() -> Caller {
    Caller {
        name: format!("{} (local)", os_user()),
        roles: RoleSet::of(&[Role::Admin]),
        method: Method::Local,
        csrf: None,
        must_change_password: false,
    }
}
