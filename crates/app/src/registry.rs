//! The subscriber register's operations (CERT-In direction 6): writes,
//! imports, the purpose-bound read of personal data, completeness,
//! termination, erasure, key rotation and legal holds. The rules (what a
//! valid subscriber is, what is erased when, how reads are audited before
//! anything is decrypted) live in `pramaan_registry`; each operation here
//! authorises the caller and records them as the actor.
//!
//! Path parameters (`{id}`) are `#[serde(skip)]`: a client puts them in
//! the path ([`Operation::path`]) and the handler takes them from there.

use crate::op::fill;
use crate::{App, AppError, Caller, Operation};
use pramaan_core::time::{now_ns, parse_user_time};
use pramaan_registry::{
    EraseRun, ErasureReport, Hold, ImportSummary, Incomplete, LazyRegistry, MasterKey, Registry,
    RegistryError, RegistryOptions, RotateReport, StoreError, Subscriber, SubscriberInput,
    WriteMode, WriteOutcome,
};
use pramaan_vault::sink::VaultSink;
use pramaan_vault::Vault;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The register `App` holds, opened at first use (the server starts
/// without waiting for PostgreSQL).
pub fn lazy(cfg: &pramaan_config::Config, vault: &Vault) -> Arc<LazyRegistry> {
    Arc::new(LazyRegistry::new(
        RegistryOptions::from_config(cfg),
        Arc::new(VaultSink::new(vault.clone())),
    ))
}

/// The register, or 503 when it cannot be opened (retried at the next use).
pub(crate) async fn open(app: &App) -> Result<Arc<Registry>, AppError> {
    app.registry().get().await.map_err(|e| {
        tracing::error!(error = %e, "cannot open the subscriber register");
        AppError::NotNow("the subscriber register cannot be opened; see the server log".into())
    })
}

/// What a caller is told about a register failure.
pub(crate) fn refused(e: RegistryError) -> AppError {
    match e {
        RegistryError::NoPurpose | RegistryError::Invalid(_) => AppError::Invalid(e.to_string()),
        RegistryError::NotFound(_) | RegistryError::Store(StoreError::UnknownHold(_)) => {
            AppError::Missing(e.to_string())
        }
        RegistryError::Conflict(_) | RegistryError::Store(StoreError::AlreadyReleased(_)) => {
            AppError::Conflict(e.to_string())
        }
        // Nothing was changed or read: the ledger did not take the record.
        RegistryError::Ledger { .. } => AppError::NotNow(e.to_string()),
        e => AppError::internal(e),
    }
}

/// Every bad field of `input`, joined, or the subscriber it describes.
fn validated(input: &SubscriberInput) -> Result<Subscriber, AppError> {
    input.validate().map_err(|errs| {
        AppError::Invalid(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// What a write did to one subscriber (`{"result": "created", "subscriber_id": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub subscriber_id: String,
    #[serde(flatten)]
    pub outcome: WriteOutcome,
}

/// `POST /api/v1/registry/subscribers`: creates a subscriber; the same one
/// sent again is `unchanged`, other data under its id a conflict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CreateSubscriber {
    pub input: SubscriberInput,
}

impl Operation for CreateSubscriber {
    type Output = Written;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/subscribers";

    async fn run(self, app: &App, who: &Caller) -> Result<Written, AppError> {
        app.authorise::<Self>(who)?;
        let s = validated(&self.input)?;
        let subscriber_id = s.external_id.clone();
        let reg = open(app).await?;
        let outcome = reg
            .write(s, WriteMode::Create, &who.name)
            .await
            .map_err(refused)?;
        Ok(Written {
            subscriber_id,
            outcome,
        })
    }
}

/// `PUT /api/v1/registry/subscribers/{id}`: replaces a subscriber's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UpdateSubscriber {
    #[serde(skip)]
    pub id: String,
    pub input: SubscriberInput,
}

impl Operation for UpdateSubscriber {
    type Output = Written;
    const METHOD: &'static str = "PUT";
    const ROUTE: &'static str = "/api/v1/registry/subscribers/{id}";

    fn path(&self) -> String {
        fill(Self::ROUTE, "id", &self.id)
    }

    async fn run(mut self, app: &App, who: &Caller) -> Result<Written, AppError> {
        app.authorise::<Self>(who)?;
        let id = self.id;
        self.input.subscriber_id.get_or_insert_with(|| id.clone());
        let s = validated(&self.input)?;
        if s.external_id != id {
            return Err(AppError::Invalid(format!(
                "subscriber_id `{}` in the body is not `{id}` of the path",
                s.external_id
            )));
        }
        let reg = open(app).await?;
        let outcome = reg
            .write(s, WriteMode::Update, &who.name)
            .await
            .map_err(refused)?;
        Ok(Written {
            subscriber_id: id,
            outcome,
        })
    }
}

/// What ending a period of hire did, with the periods as they are now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Terminated {
    #[serde(flatten)]
    pub written: Written,
    /// As a subscriber's record shows them (`from`/`to` in IST and UTC).
    pub periods: serde_json::Value,
}

/// `POST /api/v1/registry/subscribers/{id}/terminate`: ends the open period
/// of hire at `at` (default now); repeating it is `unchanged`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terminate {
    #[serde(skip)]
    pub id: String,
    /// RFC 3339, a date (IST) or an age like 2d.
    #[serde(default)]
    pub at: Option<String>,
}

impl Operation for Terminate {
    type Output = Terminated;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/subscribers/{id}/terminate";

    fn path(&self) -> String {
        fill(Self::ROUTE, "id", &self.id)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Terminated, AppError> {
        app.authorise::<Self>(who)?;
        let now = now_ns();
        let at = match &self.at {
            Some(t) => {
                parse_user_time(t, now).map_err(|e| AppError::Invalid(format!("at: {e}")))?
            }
            None => now,
        };
        let reg = open(app).await?;
        let (outcome, periods) = reg
            .terminate(&self.id, at, &who.name)
            .await
            .map_err(refused)?;
        let periods = Subscriber {
            external_id: self.id.clone(),
            periods,
            personal: Default::default(),
        }
        .to_json()["periods"]
            .take();
        Ok(Terminated {
            written: Written {
                subscriber_id: self.id,
                outcome,
            },
            periods,
        })
    }
}

/// `GET /api/v1/registry/subscribers/{id}?purpose=TEXT`: one subscriber's
/// personal data. The read (who, whom, why, whether found) is on the audit
/// trail before anything is decrypted; without a purpose nothing is read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadSubscriber {
    #[serde(skip)]
    pub id: String,
    /// Why, or the order's reference.
    #[serde(default)]
    pub purpose: String,
}

impl Operation for ReadSubscriber {
    /// The record as `Subscriber::to_json` shows it.
    type Output = serde_json::Value;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/registry/subscribers/{id}";

    fn path(&self) -> String {
        fill(Self::ROUTE, "id", &self.id)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let reg = open(app).await?;
        // The registry appends the audit record and waits for it before it decrypts.
        match reg
            .read_subscriber(&self.id, &self.purpose, &who.name)
            .await
            .map_err(refused)?
        {
            Some(s) => Ok(s.to_json()),
            None => Err(AppError::Missing(format!(
                "no subscriber {} (the lookup was recorded)",
                self.id
            ))),
        }
    }
}

/// How complete the register is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completeness {
    /// Subscribers registered.
    pub subscribers: u64,
    /// Those missing a field the directions require.
    pub incomplete: Vec<Incomplete>,
}

/// `GET /api/v1/registry/completeness`: subscribers missing required
/// fields (names of fields only, no personal data).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckCompleteness {}

impl Operation for CheckCompleteness {
    type Output = Completeness;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/registry/completeness";

    async fn run(self, app: &App, who: &Caller) -> Result<Completeness, AppError> {
        app.authorise::<Self>(who)?;
        let reg = open(app).await?;
        Ok(Completeness {
            incomplete: reg.completeness().await.map_err(refused)?,
            subscribers: reg.count().await.map_err(refused)?,
        })
    }
}

/// `POST /api/v1/registry/import?dry_run=BOOL` with a JSON array of
/// subscribers: created or replaced by id, all or nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImportSubscribers {
    /// In the query string, not the body (the body is the array).
    #[serde(skip)]
    pub dry_run: bool,
    pub subscribers: Vec<SubscriberInput>,
}

impl ImportSubscribers {
    /// Every bad field, located by the subscriber's index in the array.
    pub fn invalid(&self) -> Vec<(usize, pramaan_registry::FieldError)> {
        self.subscribers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.validate().err().map(|errs| (i, errs)))
            .flat_map(|(i, errs)| errs.into_iter().map(move |e| (i, e)))
            .collect()
    }
}

impl Operation for ImportSubscribers {
    type Output = ImportSummary;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/import";

    fn path(&self) -> String {
        format!("{}?dry_run={}", Self::ROUTE, self.dry_run)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<ImportSummary, AppError> {
        app.authorise::<Self>(who)?;
        let bad = self.invalid().len();
        if bad > 0 {
            return Err(AppError::Invalid(format!(
                "{bad} invalid fields; nothing imported"
            )));
        }
        let subs = self
            .subscribers
            .iter()
            .map(validated)
            .collect::<Result<Vec<_>, _>>()?;
        let reg = open(app).await?;
        reg.import(subs, &who.name, self.dry_run, &|_| {})
            .await
            .map_err(refused)
    }
}

/// `POST /api/v1/registry/erase-expired?dry_run=BOOL`: erases subscribers
/// past retention (legal holds excepted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EraseExpired {
    #[serde(default)]
    pub dry_run: bool,
}

impl Operation for EraseExpired {
    type Output = EraseRun;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/erase-expired";

    fn path(&self) -> String {
        format!("{}?dry_run={}", Self::ROUTE, self.dry_run)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<EraseRun, AppError> {
        app.authorise::<Self>(who)?;
        erase_expired(app, now_ns(), self.dry_run, &who.name).await
    }
}

/// Erases the subscribers past retention (legal holds excepted), then the
/// IP bindings that named them and those past the 5-year rule
/// ([`erase_bindings`]): what `serve`'s schedule and
/// `POST /api/v1/registry/erase-expired` run. A dry run erases nothing and
/// does not count bindings.
pub async fn erase_expired(
    app: &App,
    now: i64,
    dry_run: bool,
    actor: &str,
) -> Result<EraseRun, AppError> {
    let reg = open(app).await?;
    let store = app
        .attribution()
        .store()
        .await
        .map_err(AppError::internal)?;
    // The VASP transactions, where a VASP keeps them (never made here).
    let vasp = if crate::vasp::path(app.config()).exists() {
        Some(app.vasp().store(app.config())?)
    } else {
        None
    };
    let (sink, actor) = (app.sink(), actor.to_owned());
    // Its own task: a client that gives up does not cut the run short.
    tokio::spawn(async move {
        let mut run = reg
            .erase_expired(now, dry_run, &actor)
            .await
            .map_err(refused)?;
        if !dry_run {
            run.bindings_erased = Some(erase_bindings(&*store, &reg, &*sink, &actor, now).await?);
            if let Some(v) = vasp {
                run.transactions_erased =
                    Some(crate::vasp::erase_expired(&v, &reg, &*sink, &actor, now).await?);
            }
        }
        Ok::<_, AppError>(run)
    })
    .await
    .map_err(AppError::internal)?
}

/// Erases the bindings the register's retention no longer allows
/// ([`pramaan_attribution::Erasure`]): those of every subscriber the
/// register erased (that ended by then), and, `registry.retention_years`
/// after they ended, those of subscribers it does not hold; a legal hold
/// keeps a subscriber's. What is left of each names nobody, so that `whois`
/// answers "no record kept" for that time. A ledger record
/// (`bindings.erased`: how many, no one named) follows any erasure.
/// Running it again changes nothing.
pub async fn erase_bindings(
    store: &dyn pramaan_attribution::BindingStore,
    reg: &Registry,
    sink: &dyn pramaan_core::LedgerSink,
    actor: &str,
    now: i64,
) -> Result<u64, AppError> {
    let mut e = pramaan_attribution::Erasure {
        at_ns: now,
        ended_before_ns: years_before(now, reg.retention_years()),
        years: reg.retention_years(),
        ..Default::default()
    };
    for r in reg.erasure_reports().await.map_err(refused)? {
        let at = e
            .subscribers
            .entry(r.subscriber_id)
            .or_insert(r.erased_at_ns);
        *at = (*at).max(r.erased_at_ns);
    }
    let rows = reg
        .store()
        .list_meta()
        .await
        .map_err(|e| refused(e.into()))?;
    e.kept.extend(rows.into_iter().map(|m| m.external_id));
    for h in reg.holds().await.map_err(refused)? {
        if h.active() {
            e.subscribers.remove(&h.subscriber_id);
            e.kept.insert(h.subscriber_id);
        }
    }
    let n = store.erase(e).await.map_err(AppError::internal)?;
    if n > 0 {
        let body = serde_json::json!({
            "action": "bindings.erased", "actor": actor,
            "at": pramaan_core::time::rfc3339_utc(now),
            "bindings": n,
            "rule": format!(
                "IP bindings of erased register entries, and bindings of subscribers not in the register {} years after they ended",
                reg.retention_years()
            ),
        });
        let bytes = serde_json::to_vec(&body).map_err(AppError::internal)?;
        sink.append(pramaan_registry::SOURCE_REGISTRY, bytes)
            .await
            .map_err(AppError::internal)?;
        tracing::info!(
            bindings = n,
            "IP bindings erased under the register's retention"
        );
    }
    Ok(n)
}

/// `now` less `years` calendar years (UTC).
pub(crate) fn years_before(now: i64, years: u32) -> i64 {
    pramaan_core::time::ts(now)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_sub(jiff::Span::new().years(i64::from(years)))
        .map(|z| z.timestamp().as_nanosecond() as i64)
        .unwrap_or(i64::MIN)
}

/// `POST /api/v1/registry/rotate-key`: every data key re-wrapped under a
/// new master key.
#[derive(Default, Serialize, Deserialize)]
pub struct RotateKey {
    /// The new key, when the master key comes from an environment
    /// variable. Only where the data directory is opened (never sent: a
    /// key does not travel in a request).
    #[serde(skip)]
    pub new_key: Option<MasterKey>,
}

impl Operation for RotateKey {
    type Output = RotateReport;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/rotate-key";

    async fn run(self, app: &App, who: &Caller) -> Result<RotateReport, AppError> {
        app.authorise::<Self>(who)?;
        let reg = open(app).await?;
        let who = who.name.clone();
        tokio::spawn(async move { reg.rotate_key(self.new_key, &who).await })
            .await
            .map_err(AppError::internal)?
            .map_err(|e| match e {
                RegistryError::MasterKey(m) => AppError::Invalid(m),
                e => refused(e),
            })
    }
}

/// `GET /api/v1/registry/erasures`: what erasure destroyed, and when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListErasures {}

impl Operation for ListErasures {
    type Output = Vec<ErasureReport>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/registry/erasures";

    async fn run(self, app: &App, who: &Caller) -> Result<Vec<ErasureReport>, AppError> {
        app.authorise::<Self>(who)?;
        open(app).await?.erasure_reports().await.map_err(refused)
    }
}

/// `GET /api/v1/registry/holds`: every hold on a subscriber, released ones too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListHolds {}

impl Operation for ListHolds {
    type Output = Vec<Hold>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/registry/holds";

    async fn run(self, app: &App, who: &Caller) -> Result<Vec<Hold>, AppError> {
        app.authorise::<Self>(who)?;
        open(app).await?.holds().await.map_err(refused)
    }
}

/// `POST /api/v1/registry/holds`: holds a subscriber's record (not erased
/// until released).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddHold {
    pub subscriber_id: String,
    pub reason: String,
    pub order_ref: String,
}

impl Operation for AddHold {
    type Output = Hold;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/holds";

    async fn run(self, app: &App, who: &Caller) -> Result<Hold, AppError> {
        app.authorise::<Self>(who)?;
        open(app)
            .await?
            .add_hold(
                &self.subscriber_id,
                &self.reason,
                &self.order_ref,
                &who.name,
            )
            .await
            .map_err(refused)
    }
}

/// `POST /api/v1/registry/holds/{id}/release`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHold {
    #[serde(skip)]
    pub id: i64,
    pub reason: String,
}

impl Operation for ReleaseHold {
    type Output = Hold;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/registry/holds/{id}/release";

    fn path(&self) -> String {
        fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Hold, AppError> {
        app.authorise::<Self>(who)?;
        open(app)
            .await?
            .release_hold(self.id, &who.name, &self.reason)
            .await
            .map_err(refused)
    }
}
