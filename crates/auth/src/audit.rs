//! The audit trail: one ledger record (source `pramaan:audit`) per login,
//! search, read of personal data, export, approval, hold, deletion,
//! configuration change, user or token change.
//!
//! ```ignore
//! pramaan_auth::audit::record(&sink, &AuditEvent::new("search", &identity.name, "logs")
//!     .purpose("order 12/2026").detail("query", "ip=203.0.113.7")).await?;
//! ```
//!
//! The record is a JSON object: `action`, `actor`, `at` (RFC 3339 UTC),
//! `subject`, `purpose` (when given), `outcome` (`ok` unless set), and the
//! details. It never holds a password, token or session id: callers pass
//! what was done, not the credentials.

use pramaan_core::{LedgerSink, SinkError};
use serde_json::{Map, Value};

/// The ledger source (the record's peer) of every audit record.
pub const SOURCE: &str = "pramaan:audit";

/// Actions recorded by pramaan itself (other components may add their own).
pub mod action {
    pub const LOGIN: &str = "login";
    pub const LOGIN_FAILED: &str = "login.failed";
    pub const LOGOUT: &str = "logout";
    pub const ACCESS_DENIED: &str = "access.denied";
    pub const SEARCH: &str = "search";
    pub const SQL: &str = "sql";
    /// A Sigma rule run over stored lines (`pramaan detect test`).
    pub const DETECT_TEST: &str = "detect.test";
    pub const EXPORT: &str = "export";
    pub const PERSONAL_DATA_READ: &str = "personal_data.read";
    pub const APPROVAL: &str = "approval";
    pub const HOLD_ADD: &str = "hold.add";
    pub const HOLD_RELEASE: &str = "hold.release";
    pub const DELETION: &str = "deletion";
    pub const CONFIG_CHANGE: &str = "config.change";
    pub const USER_ADD: &str = "user.add";
    pub const USER_PASSWORD: &str = "user.password";
    pub const USER_DISABLE: &str = "user.disable";
    pub const USER_ENABLE: &str = "user.enable";
    pub const USER_ROLES: &str = "user.roles";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const AUDIT_SEARCH: &str = "audit.search";
}

#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub purpose: Option<String>,
    pub outcome: String,
    pub details: Map<String, Value>,
}

impl AuditEvent {
    pub fn new(action: &str, actor: &str, subject: &str) -> Self {
        AuditEvent {
            action: action.to_owned(),
            actor: actor.to_owned(),
            subject: subject.to_owned(),
            purpose: None,
            outcome: "ok".to_owned(),
            details: Map::new(),
        }
    }

    pub fn purpose(mut self, p: impl Into<String>) -> Self {
        let p = p.into();
        if !p.trim().is_empty() {
            self.purpose = Some(p);
        }
        self
    }

    pub fn outcome(mut self, o: impl Into<String>) -> Self {
        self.outcome = o.into();
        self
    }

    pub fn detail(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), v.into());
        self
    }

    /// The JSON document at `at_ns`. Fixed fields win over details of the same name.
    pub fn to_json(&self, at_ns: i64) -> Value {
        let mut o = self.details.clone();
        o.insert("action".into(), self.action.clone().into());
        o.insert("actor".into(), self.actor.clone().into());
        o.insert("at".into(), pramaan_core::time::rfc3339_utc(at_ns).into());
        o.insert("subject".into(), self.subject.clone().into());
        o.insert("outcome".into(), self.outcome.clone().into());
        if let Some(p) = &self.purpose {
            o.insert("purpose".into(), p.clone().into());
        }
        Value::Object(o)
    }
}

/// Appends `ev` to the ledger now; returns its sequence number once durable.
pub async fn record(sink: &dyn LedgerSink, ev: &AuditEvent) -> Result<u64, SinkError> {
    record_at(sink, ev, pramaan_core::time::now_ns()).await
}

/// As [`record`], at a given time (tests).
pub async fn record_at(
    sink: &dyn LedgerSink,
    ev: &AuditEvent,
    at_ns: i64,
) -> Result<u64, SinkError> {
    let body = serde_json::to_vec(&ev.to_json(at_ns)).unwrap_or_default();
    sink.append(SOURCE, body).await
}

/// Which audit records a search wants (every field optional).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

impl Filter {
    /// Does the record `v` (an audit JSON document) match? `action` matches
    /// the action or, with a trailing `.*`/`*`, a family (`user.*`).
    pub fn matches(&self, v: &Value) -> bool {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        if let Some(a) = &self.actor {
            if s("actor") != a {
                return false;
            }
        }
        if let Some(a) = &self.action {
            let act = s("action");
            let ok = match a.strip_suffix('*') {
                Some(prefix) => act.starts_with(prefix),
                None => act == a,
            };
            if !ok {
                return false;
            }
        }
        if self.from_ns.is_some() || self.to_ns.is_some() {
            let Ok(at) = pramaan_core::time::parse_user_time(s("at"), 0) else {
                return false;
            };
            if self.from_ns.is_some_and(|f| at < f) || self.to_ns.is_some_and(|t| at >= t) {
                return false;
            }
        }
        true
    }
}
