//! Reading the audit trail back: pramaan's own `pramaan:audit` records in
//! the vault, filtered (the API's `/api/v1/audit`, the console's audit page
//! and `pramaan audit search`). A read of the trail is itself recorded
//! before it answers (`audit.search`), and refused when that record
//! cannot be written.

use crate::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{self, AuditEvent, Filter};
use pramaan_core::time::{now_ns, parse_user_time};
use serde::{Deserialize, Serialize};

/// The audit records matching `filter`, oldest first, each with its `seq`
/// (internal records with peer `pramaan:audit`, read with SQL); at most
/// `limit` (0: all).
pub async fn search_audit(
    vault: &pramaan_vault::Vault,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<serde_json::Value>, pramaan_vault::VaultError> {
    let q = format!(
        "SELECT seq, text(raw) AS body FROM logs WHERE transport = 'internal' AND peer = '{}' ORDER BY seq",
        audit::SOURCE
    );
    // The whole trail, uncapped: the filter is applied below (sql.timeout
    // and sql.memory_limit still hold).
    use pramaan_vault::sql::{Caps, Records};
    let batches = pramaan_vault::sql::run_capped(vault, &q, Records::All, Caps::NONE).await?;
    let nd = pramaan_vault::sql::to_ndjson(&batches)?;
    let mut out = Vec::new();
    for line in nd.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(row) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let body = row.get("body").and_then(|b| b.as_str()).unwrap_or_default();
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        if !filter.matches(&doc) {
            continue;
        }
        if let Some(o) = doc.as_object_mut() {
            o.insert("seq".into(), row.get("seq").cloned().unwrap_or_default());
        }
        out.push(doc);
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// `GET /api/v1/audit?from&to&actor&action&limit`: audit records, oldest
/// first (the API answers them as NDJSON, one record a line).
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SearchAudit {
    /// Records at or after this time: RFC 3339, a date (IST), or an age like 7d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Records before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Only this action, or a family with a trailing `*` (`user.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// At most this many records (0 or none: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The query string as the client sent it, for the audit record (set
    /// by the server; elsewhere it is made from the fields).
    #[serde(skip)]
    pub query: Option<String>,
}

impl SearchAudit {
    /// The filter these parameters ask for (times relative to `now`).
    pub fn filter(&self, now: i64) -> Result<Filter, String> {
        let t = |n: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_user_time(s, now).map_err(|e| format!("{n}: {e}")))
                .transpose()
        };
        Ok(Filter {
            from_ns: t("from", &self.from)?,
            to_ns: t("to", &self.to)?,
            actor: self.actor.clone().filter(|s| !s.is_empty()),
            action: self.action.clone().filter(|s| !s.is_empty()),
        })
    }

    /// The record of this read: who, the route, the query (as the API's
    /// guard records every audited read).
    fn audit_event(&self, who: &Caller) -> AuditEvent {
        let query = self
            .query
            .clone()
            .or_else(|| serde_urlencoded::to_string(self).ok())
            .filter(|q| !q.is_empty());
        let mut ev = AuditEvent::new(audit::action::AUDIT_SEARCH, &who.name, Self::ROUTE)
            .detail("method", Self::METHOD);
        if let Some(q) = query {
            ev = ev.detail("query", q);
        }
        ev.outcome("allowed")
    }
}

impl Operation for SearchAudit {
    type Output = Vec<serde_json::Value>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/audit";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        // `auth.audit_reads = false` (test rigs, benchmarks) leaves reads unrecorded.
        if app.config().auth.audit_reads {
            app.audit_first(self.audit_event(who))
                .await
                .map_err(|e| match e {
                    AppError::NotNow(_) => AppError::NotNow(
                        "the audit record of this read could not be written, so it was not run; retry later"
                            .into(),
                    ),
                    other => other,
                })?;
        }
        let f = self.filter(now_ns()).map_err(AppError::Invalid)?;
        search_audit(app.vault(), &f, self.limit.unwrap_or(0))
            .await
            .map_err(|e| AppError::internal(format!("audit search: {e}")))
    }
}
