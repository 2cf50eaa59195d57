//! [`App`]: the components every operation reaches, and the two checks
//! every operation makes (authorise, audit first).

use crate::options::retention_policy;
use crate::{access, AppError, Caller, Operation};
use pramaan_attribution::store::{BindingStore, StoreError as AttributionError};
use pramaan_auth::audit::{self, AuditEvent};
use pramaan_config::Config;
use pramaan_core::LedgerSink;
use pramaan_registry::{LazyRegistry, RegistryOptions};
use pramaan_vault::retention::Retention;
use pramaan_vault::sink::VaultSink;
use pramaan_vault::Vault;
use std::sync::Arc;

/// What the operations work on. `serve` makes one and shares it with the
/// API and the console; the CLI makes one on the data directory
/// ([`crate::local::Local`]).
pub struct App {
    cfg: Arc<Config>,
    vault: Vault,
    sink: Arc<VaultSink>,
    /// Legal holds and retention runs (one lock serialises them: `serve`
    /// shares this one with its schedule).
    retention: Arc<Retention>,
    /// The subscriber register (`crate::registry`), opened at first use.
    registry: Arc<LazyRegistry>,
    /// IP bindings and whois (`crate::whois`); `serve` runs its feeder.
    attribution: Arc<crate::whois::Attribution>,
    orders: crate::orders::Orders,
    /// The incident desk, opened at first use (`crate::desk`).
    desk: crate::desk::DeskState,
    /// SQL queries running per caller (`sql.max_concurrent_per_user`).
    sql_slots: Arc<crate::search::SqlSlots>,
    /// The clock monitor, made at first use (`serve` runs it; elsewhere it
    /// only reads what its database kept).
    clock: std::sync::OnceLock<Arc<pramaan_clock::Monitor>>,
    /// The user store (`crate::users`): the server's guard and the
    /// operations share it.
    users: crate::users::Users,
    /// VASP transactions (`crate::vasp`), opened at first use.
    vasp: crate::vasp::VaspState,
}

impl App {
    pub fn new(cfg: &Config, vault: Vault) -> App {
        let sink = Arc::new(VaultSink::new(vault.clone()));
        let shared = Arc::new(cfg.clone());
        App {
            retention: Arc::new(Retention::new(vault.clone(), retention_policy(cfg))),
            registry: Arc::new(LazyRegistry::new(
                RegistryOptions::from_config(cfg),
                sink.clone(),
            )),
            attribution: Arc::new(crate::whois::Attribution::new(cfg)),
            orders: crate::orders::Orders::new(&cfg.data_dir, sink.clone()),
            desk: crate::desk::DeskState::new(shared.clone(), sink.clone()),
            sql_slots: Arc::new(crate::search::SqlSlots::new(
                cfg.sql.max_concurrent_per_user,
            )),
            clock: Default::default(),
            users: crate::users::Users::new(cfg),
            vasp: Default::default(),
            cfg: shared,
            sink,
            vault,
        }
    }

    /// The incident desk (`serve` runs its reminders).
    pub fn desk(&self) -> &crate::desk::DeskState {
        &self.desk
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn retention(&self) -> &Arc<Retention> {
        &self.retention
    }

    /// The attribution store: PostgreSQL when `registry.url` is
    /// `postgres://...`, else the embedded one in `<data_dir>/attribution`
    /// (opened at first use, one for the process: `whois` and exports share it).
    pub async fn binding_store(&self) -> Result<Arc<dyn BindingStore>, AttributionError> {
        self.attribution.store().await
    }

    /// The clock monitor (opens `clock.db` at first use).
    pub fn clock(&self) -> &Arc<pramaan_clock::Monitor> {
        self.clock.get_or_init(|| {
            Arc::new(pramaan_clock::Monitor::new(
                crate::options::clock_options(&self.cfg),
                self.sink.clone(),
            ))
        })
    }

    /// SQL queries running per caller.
    pub fn sql_slots(&self) -> &Arc<crate::search::SqlSlots> {
        &self.sql_slots
    }

    /// VASP transactions.
    pub fn vasp(&self) -> &crate::vasp::VaspState {
        &self.vasp
    }

    pub fn orders(&self) -> &crate::orders::Orders {
        &self.orders
    }

    /// Where components append their records to the ledger.
    pub fn sink(&self) -> Arc<dyn LedgerSink> {
        self.sink.clone()
    }

    /// The subscriber register (`serve` erases expired subscribers on a schedule).
    pub fn registry(&self) -> &Arc<pramaan_registry::LazyRegistry> {
        &self.registry
    }

    /// IP attribution (`serve` runs its log feeder).
    pub fn attribution(&self) -> &Arc<crate::whois::Attribution> {
        &self.attribution
    }

    /// Refuses `who` unless the access table's row for `O`'s route lets them in.
    pub fn authorise<O: Operation>(&self, who: &Caller) -> Result<(), AppError> {
        self.authorise_route(who, O::METHOD, O::ROUTE)
    }

    /// As [`App::authorise`], for a route named by method and pattern.
    pub fn authorise_route(&self, who: &Caller, method: &str, route: &str) -> Result<(), AppError> {
        let rule = access::lookup(method, route);
        if access::allowed(rule, who, self.cfg.metrics.public) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{method} {route} needs one of the roles: {}",
                access::needs(rule)
            )))
        }
    }

    /// Writes an audit record and waits until it is durable. Reads call it
    /// before they answer: when it cannot be written the read is refused
    /// (503), never served unaudited.
    pub async fn audit_first(&self, ev: AuditEvent) -> Result<(), AppError> {
        audit::record(&*self.sink, &ev).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, action = %ev.action, "an audit record could not be written; the request is refused");
            AppError::NotNow(
                "the audit trail cannot be written right now, so nothing is answered; retry later"
                    .into(),
            )
        })
    }
}

impl App {
    /// Users, tokens and sessions (opened at first use; one store for the
    /// process: the server's guard checks credentials against it).
    pub fn users(&self) -> &crate::users::Users {
        &self.users
    }
}

impl App {
    /// Before the vault closes: components append what their outboxes
    /// still hold (each component adds its flush here).
    pub async fn close(&self) {
        self.orders.close().await;
        let pending = self.desk.flush().await;
        if pending > 0 {
            tracing::warn!(
                pending,
                "desk records are not yet in the ledger; they are appended at the next change"
            );
        }
    }
}
