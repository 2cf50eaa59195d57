//! The audit trail, filtered, newest first (the guard records each read
//! of it before the page runs).

use crate::caller::Signed;
use crate::layout::field;
use crate::web::{bad, page, Problem};
use crate::{html, Host};
use axum::extract::{Query as QueryParams, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use pramaan_auth::audit::Filter;
use pramaan_core::time::{now_ns, parse_user_time};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new().route("/console/audit", get(audit::<H>))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditForm {
    from: String,
    to: String,
    actor: String,
    action: String,
}

/// Most audit records one page shows (newest).
const AUDIT_PAGE: usize = 200;

async fn audit<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(f): QueryParams<AuditForm>,
) -> Result<Response, Problem> {
    let now = now_ns();
    let t = |name: &str, v: &str| -> Result<Option<i64>, Problem> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        parse_user_time(v, now)
            .map(Some)
            .map_err(|e| bad(format!("{name}: {e}")))
    };
    let filter = Filter {
        from_ns: t("from", &f.from)?,
        to_ns: t("to", &f.to)?,
        actor: Some(f.actor.trim().to_owned()).filter(|s| !s.is_empty()),
        action: Some(f.action.trim().to_owned()).filter(|s| !s.is_empty()),
    };
    let mut rows = pramaan_app::audit_trail::search_audit(st.app().vault(), &filter, 0)
        .await
        .map_err(|e| Problem::from(pramaan_app::AppError::internal(e)))?;
    let total = rows.len();
    rows.reverse();
    rows.truncate(AUDIT_PAGE);
    let s =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    let body = html! {
        form.grid method="get" action="/console/audit" {
            (field("from", "From", &f.from, ""))
            (field("to", "To", &f.to, ""))
            (field("actor", "Who", &f.actor, "user name"))
            (field("action", "Action", &f.action, "e.g. whois, login.*, subscriber.read"))
            div { button type="submit" { "Filter" } }
        }
        p { (total) " record(s); the newest " (rows.len()) " shown, newest first." }
        table {
            thead { tr { th.num scope="col" { "seq" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "On" } th scope="col" { "Purpose" } th scope="col" { "Outcome" } } }
            tbody {
                @for r in &rows {
                    tr {
                        td.num { (r.get("seq").map(|v| v.to_string()).unwrap_or_default()) }
                        td { (match parse_user_time(&s(r, "at"), now) { Ok(ns) => crate::when(ns), Err(_) => s(r, "at") }) }
                        td { (s(r, "actor")) }
                        td { (s(r, "action")) }
                        td.mono { (s(r, "subject")) }
                        td { (s(r, "purpose")) }
                        td { (s(r, "outcome")) }
                    }
                }
            }
        }
    };
    Ok(page(&id, "Audit trail", "/console/audit", None, body))
}
