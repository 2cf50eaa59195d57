//! Lawful orders: the register in `<data_dir>/orders.db` and the operations
//! on it (register, list, show, approve, deliver, close, export), written
//! once for the API, the console and the CLI.
//!
//! The rules (the states, the four-eyes rule, what a reference may hold,
//! exactly which lines a scope covers) are `pramaan_orders`'; these
//! operations compose them with the legal holds and the subscriber register.
//! The actor of every step is the caller ([`Caller::name`]): over HTTP the
//! authenticated user, on the data directory `<os user> (local)`. Nobody
//! names themselves, so the four-eyes rule compares two identities the
//! caller cannot choose.
//!
//! References contain `/` (`CERT-In/2026/042`): they travel in the query
//! string or the body, never in the path.

mod export;

pub use export::{Bundle, ExportOrder};

use crate::{App, AppError, Caller, Operation};
use pramaan_core::time::{now_ns, parse_user_time, rfc3339_ist, rfc3339_utc};
use pramaan_core::LedgerSink;
use pramaan_orders::store::{Event, NewOrder, Order, Register, StoreError};
use pramaan_orders::{Action, IpSelector, Scope};
use pramaan_vault::retention::NewHold;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The orders register, opened at first use (so that [`App::new`] cannot
/// fail) and then shared: one connection, one flush at a time.
pub struct Orders {
    path: PathBuf,
    sink: Arc<dyn LedgerSink>,
    register: Mutex<Option<Arc<Register>>>,
}

impl Orders {
    pub fn new(data_dir: &std::path::Path, sink: Arc<dyn LedgerSink>) -> Orders {
        Orders {
            path: data_dir.join("orders.db"),
            sink,
            register: Mutex::new(None),
        }
    }

    /// The register (opened now if this is the first use; a failed open is
    /// tried again at the next use).
    pub fn open(&self) -> Result<Arc<Register>, StoreError> {
        let mut slot = self.register.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let r = Arc::new(Register::open(&self.path, self.sink.clone())?);
        *slot = Some(r.clone());
        Ok(r)
    }

    fn register(&self) -> Result<Arc<Register>, AppError> {
        self.open().map_err(store_error)
    }

    /// Appends the events a failed ledger write left pending (each change
    /// appends its own; this catches up before the vault closes).
    pub async fn close(&self) {
        let open = self
            .register
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(r) = open {
            let pending = r.flush().await;
            if pending > 0 {
                tracing::warn!(
                    pending,
                    "order records are not yet in the ledger; they are appended at the next change"
                );
            }
        }
    }
}

/// A register error as the caller sees it (as the API has always answered:
/// a refused step or bad input is a 400).
fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound(_) => AppError::Missing(e.to_string()),
        StoreError::Duplicate(_) | StoreError::Invalid(_) | StoreError::Refused(_) => {
            AppError::Invalid(e.to_string())
        }
        other => AppError::internal(other),
    }
}

/// An order as every caller sees it: the register's fields and its
/// deadline in UTC, in IST and as the time left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: Order,
    pub due_at: String,
    pub due_at_ist: String,
    pub time_left: String,
}

impl OrderView {
    pub fn new(order: Order, now: i64) -> OrderView {
        OrderView {
            due_at: rfc3339_utc(order.due_at_ns),
            due_at_ist: rfc3339_ist(order.due_at_ns),
            time_left: order.deadline_text(now),
            order,
        }
    }
}

/// One order with its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub view: OrderView,
    pub events: Vec<Event>,
}

/// Every order, the soonest deadline first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOrders {}

impl Operation for ListOrders {
    type Output = Vec<OrderView>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/orders";

    async fn run(self, app: &App, who: &Caller) -> Result<Vec<OrderView>, AppError> {
        app.authorise::<Self>(who)?;
        let now = now_ns();
        let orders = app.orders().register()?.list().map_err(store_error)?;
        Ok(orders.into_iter().map(|o| OrderView::new(o, now)).collect())
    }
}

/// One order and its history.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowOrder {
    pub reference: String,
}

impl Operation for ShowOrder {
    type Output = OrderDetail;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/orders/show";

    async fn run(self, app: &App, who: &Caller) -> Result<OrderDetail, AppError> {
        app.authorise::<Self>(who)?;
        let r = app.orders().register()?;
        let order = r.get(&self.reference).map_err(store_error)?;
        let events = r.events(&self.reference).map_err(store_error)?;
        Ok(OrderDetail {
            view: OrderView::new(order, now_ns()),
            events,
        })
    }
}

/// Registers an order and, unless `hold` is false, places its legal holds.
/// Times are RFC 3339, a date or time read in IST, or an age like `2h`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterOrder {
    pub reference: String,
    #[serde(default = "cert_in")]
    pub authority: String,
    /// Default: now.
    #[serde(default)]
    pub received: Option<String>,
    pub due: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `192.0.2.7`, `192.0.2.7:443`, `[2001:db8::1]:443`.
    #[serde(default)]
    pub ips: Vec<String>,
    #[serde(default)]
    pub subscribers: Vec<String>,
    #[serde(default)]
    pub texts: Vec<String>,
    /// Wallet addresses (VASP transactions from or to them).
    #[serde(default)]
    pub wallets: Vec<String>,
    /// Chain transaction hashes (VASP transactions carrying them).
    #[serde(default)]
    pub transactions: Vec<String>,
    pub legal_basis: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default = "yes")]
    pub hold: bool,
}

/// `0x...` and bare 64-digit hex as lower-case; anything else as given.
fn hex_lower(s: &str) -> String {
    let t = s.trim();
    if t.starts_with("0x") || (t.len() == 64 && t.bytes().all(|c| c.is_ascii_hexdigit())) {
        t.to_ascii_lowercase()
    } else {
        t.to_owned()
    }
}

fn cert_in() -> String {
    "CERT-In".into()
}

fn yes() -> bool {
    true
}

impl RegisterOrder {
    /// The order as the register takes it; bad times and addresses are
    /// refused naming the field.
    fn new_order(&self, now: i64) -> Result<NewOrder, AppError> {
        let t = |s: &str, what: &str| {
            parse_user_time(s, now).map_err(|e| AppError::Invalid(format!("{what}: {e}")))
        };
        let ips = self
            .ips
            .iter()
            .map(|s| s.parse::<IpSelector>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AppError::Invalid(format!("ips: {e}")))?;
        Ok(NewOrder {
            reference: self.reference.trim().to_owned(),
            authority: self.authority.clone(),
            received_at_ns: match &self.received {
                Some(r) => t(r, "received")?,
                None => now,
            },
            due_at_ns: t(&self.due, "due")?,
            scope: Scope {
                from_ns: t(&self.from, "from")?,
                to_ns: t(&self.to, "to")?,
                sources: self.sources.clone(),
                hosts: self.hosts.clone(),
                ips,
                subscribers: self.subscribers.clone(),
                texts: self.texts.clone(),
                // As transactions keep them: EVM addresses and hex hashes lower-case.
                wallets: self.wallets.iter().map(|w| hex_lower(w)).collect(),
                transactions: self.transactions.iter().map(|h| hex_lower(h)).collect(),
            },
            legal_basis: self.legal_basis.clone(),
            notes: self.notes.clone(),
        })
    }
}

impl Operation for RegisterOrder {
    type Output = OrderView;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/orders";

    async fn run(self, app: &App, who: &Caller) -> Result<OrderView, AppError> {
        app.authorise::<Self>(who)?;
        let now = now_ns();
        let new = self.new_order(now)?;
        let r = app.orders().register()?;
        let order = r
            .register(&new, &who.name, now)
            .await
            .map_err(store_error)?;
        if self.hold {
            let mut ids = Vec::new();
            for hold in holds_for(&order, &who.name) {
                let placed = app
                    .retention()
                    .add_hold(&hold, now)
                    .await
                    .map_err(AppError::internal)?;
                ids.push(placed.id);
            }
            r.set_holds(&order.reference, &ids, &who.name, now, false)
                .await
                .map_err(store_error)?;
        }
        let order = r.get(&order.reference).map_err(store_error)?;
        Ok(OrderView::new(order, now))
    }
}

/// The legal holds registering `order` places: one per IP selector (each
/// with the address), else one over the whole window.
pub fn holds_for(order: &Order, created_by: &str) -> Vec<NewHold> {
    let base = NewHold {
        from_ns: order.scope.from_ns,
        to_ns: order.scope.to_ns,
        source: None,
        ip: None,
        reason: format!("order {} ({})", order.reference, order.authority),
        order_ref: order.reference.clone(),
        created_by: created_by.to_owned(),
    };
    if order.scope.ips.is_empty() {
        return vec![base];
    }
    order
        .scope
        .ips
        .iter()
        .map(|s| NewHold {
            ip: Some(s.ip.to_string()),
            ..base.clone()
        })
        .collect()
}

/// What approving, delivering and closing take. `release_hold` matters to
/// closing only (the API has always accepted it on each step).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub reference: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub release_hold: bool,
}

impl Step {
    pub fn new(reference: impl Into<String>, note: impl Into<String>) -> Step {
        Step {
            reference: reference.into(),
            note: note.into(),
            release_hold: false,
        }
    }

    /// Applies `action` for `who`; closing with `release_hold` releases the
    /// order's legal holds and records that.
    async fn apply(self, app: &App, who: &Caller, action: Action) -> Result<OrderView, AppError> {
        let now = now_ns();
        let r = app.orders().register()?;
        let details = serde_json::json!({ "note": self.note });
        let o = r
            .act(&self.reference, action, &who.name, now, details)
            .await
            .map_err(store_error)?;
        if action == Action::Close && self.release_hold && !o.holds.is_empty() {
            let reason = format!("order {} closed", o.reference);
            for id in &o.holds {
                app.retention()
                    .release_hold(*id, &who.name, &reason, now)
                    .await
                    .map_err(AppError::internal)?;
            }
            r.set_holds(&o.reference, &o.holds, &who.name, now, true)
                .await
                .map_err(store_error)?;
        }
        let o = r.get(&self.reference).map_err(store_error)?;
        Ok(OrderView::new(o, now))
    }
}

/// Approving, delivering or closing: the request is a [`Step`], the route
/// its own (and with it the access table's row: only approvers approve).
pub trait StepOperation: Operation<Output = OrderView> + From<Step> {
    const ACTION: Action;
}

macro_rules! step_operation {
    ($(#[$doc:meta])* $name:ident, $route:literal, $action:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Step);

        impl From<Step> for $name {
            fn from(s: Step) -> $name {
                $name(s)
            }
        }

        impl StepOperation for $name {
            const ACTION: Action = $action;
        }

        impl Operation for $name {
            type Output = OrderView;
            const METHOD: &'static str = "POST";
            const ROUTE: &'static str = $route;

            async fn run(self, app: &App, who: &Caller) -> Result<OrderView, AppError> {
                app.authorise::<Self>(who)?;
                self.0.apply(app, who, $action).await
            }
        }
    };
}

step_operation!(
    /// Approves an order: an approver other than the user who registered it.
    ApproveOrder,
    "/api/v1/orders/approve",
    Action::Approve
);
step_operation!(
    /// Records that the bundle reached the authority.
    DeliverOrder,
    "/api/v1/orders/deliver",
    Action::Deliver
);
step_operation!(
    /// Closes an order (with `release_hold`, releasing its legal holds).
    CloseOrder,
    "/api/v1/orders/close",
    Action::Close
);
