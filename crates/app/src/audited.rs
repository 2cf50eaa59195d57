//! The audit record a call makes, decided once from the access table's row:
//! the server's guard writes it around each request, [`crate::local::Local`]
//! around each operation the CLI runs on the data directory, so a search
//! on the directory leaves the same record as one through the server.
//!
//! Reads are recorded before they run and refused when the record cannot be
//! written (nothing is answered unaudited); changes are recorded once they
//! have run, with their outcome.

use crate::access::{self, Audit, Rule};
use crate::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{self, AuditEvent};

/// What to record for one call, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub action: &'static str,
    /// A read: recorded (durably) before it runs.
    pub before: bool,
    /// The request body goes into the record (the query string always does).
    pub with_body: bool,
}

/// The plan for a row (`None`: the row records nothing, or it is a read and
/// `auth.audit_reads` is off).
pub fn plan(rule: Option<&Rule>, audit_reads: bool) -> Option<Plan> {
    let (action, before, with_body) = match rule.map(|r| r.audit).unwrap_or(Audit::No) {
        Audit::No => return None,
        Audit::ReadQuery(_) | Audit::ReadBody(_) if !audit_reads => return None,
        Audit::Query(a) => (a, false, false),
        Audit::Body(a) => (a, false, true),
        Audit::ReadQuery(a) => (a, true, false),
        Audit::ReadBody(a) => (a, true, true),
    };
    Some(Plan {
        action,
        before,
        with_body,
    })
}

/// The record of a call: who, which route, the query string and the JSON
/// body (its `order_ref` or `purpose` as the purpose).
pub fn event(
    action: &str,
    actor: &str,
    route: &str,
    method: &str,
    query: Option<String>,
    body: Option<serde_json::Value>,
) -> AuditEvent {
    let mut ev = AuditEvent::new(action, actor, route).detail("method", method);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        ev = ev.detail("query", q);
    }
    if let Some(b) = body {
        if let Some(p) = b
            .get("order_ref")
            .or_else(|| b.get("purpose"))
            .and_then(|v| v.as_str())
        {
            ev = ev.purpose(p);
        }
        ev = ev.detail("body", b);
    }
    ev
}

/// Runs `op` for `who` with the record its row asks for, as the guard does
/// for a request to the same route (the CLI on the data directory).
pub async fn run<O: Operation>(app: &App, who: &Caller, op: O) -> Result<O::Output, AppError> {
    around(app, who, op, |op| op.run(app, who)).await
}

/// As [`run`], with `f` doing the work (an operation that streams its
/// answer starts it here and hands the rest on).
pub async fn around<O, T, F, Fut>(app: &App, who: &Caller, op: O, f: F) -> Result<T, AppError>
where
    O: Operation,
    F: FnOnce(O) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let Some(plan) = plan(
        access::lookup(O::METHOD, O::ROUTE),
        app.config().auth.audit_reads,
    ) else {
        return f(op).await;
    };
    let (query, body) = if O::in_query() {
        (serde_urlencoded::to_string(&op).ok(), None)
    } else {
        (
            None,
            serde_json::to_value(&op).ok().filter(|_| plan.with_body),
        )
    };
    let ev = event(plan.action, &who.name, O::ROUTE, O::METHOD, query, body);
    if plan.before {
        app.audit_first(ev.outcome("allowed")).await?;
        return f(op).await;
    }
    let out = f(op).await;
    let ev = ev.outcome(if out.is_ok() { "ok" } else { "failed" });
    if let Err(e) = audit::record(&*app.sink(), &ev).await {
        tracing::error!(error = %e, action = %ev.action, "the audit record of a change could not be written");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::lookup;

    #[test]
    fn reads_are_recorded_first_and_changes_after() {
        let search = plan(lookup("GET", "/api/v1/search"), true).unwrap();
        assert!(search.before && !search.with_body);
        let sql = plan(lookup("POST", "/api/v1/sql"), true).unwrap();
        assert!(sql.before && sql.with_body);
        let hold = plan(lookup("POST", "/api/v1/holds"), true).unwrap();
        assert!(!hold.before && hold.with_body);
        assert_eq!(plan(lookup("GET", "/api/v1/search"), false), None);
        assert_eq!(plan(lookup("GET", "/api/v1/status"), true), None);
    }

    #[test]
    fn the_purpose_comes_from_the_body() {
        let ev = event(
            "search",
            "asha",
            "/api/v1/sql",
            "POST",
            Some(String::new()),
            Some(serde_json::json!({"query": "select 1", "purpose": "order 7"})),
        );
        assert_eq!(ev.purpose.as_deref(), Some("order 7"));
        assert!(!ev.details.contains_key("query"), "{:?}", ev.details);
        assert_eq!(ev.details["method"], "POST");
    }
}
