//! Whois, a subscriber (audited read), legal holds, the audit trail and the
//! settings page.

use super::{
    bad, csrf, json_cell, json_table, page, see_other, with_query, AppState, FlashParams, Problem,
};
use crate::caller::Authenticated;
use axum::extract::{ConnectInfo, Form, Path, Query as QueryParams, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use pramaan_app::desk::SetPoc;
use pramaan_app::Operation;
use pramaan_auth::audit::{action, AuditEvent, Filter};
use pramaan_auth::{Identity, Role};
use pramaan_console::layout::{field, Flash};
use pramaan_console::{html, Markup};
use pramaan_core::time::{now_ns, parse_user_time};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console/whois", get(whois))
        .route("/console/subscribers", get(subscriber))
        .route("/console/holds", get(holds).post(add_hold))
        .route("/console/holds/{id}/release", post(release_hold))
        .route("/console/audit", get(audit))
        .route("/console/settings", get(settings))
        .route("/console/settings/poc", post(set_poc))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WhoisForm {
    ip: String,
    port: String,
    at: String,
    purpose: String,
}

fn purpose_field(value: &str) -> Markup {
    html! {
        div {
            label for="f-purpose" { "Purpose (required, recorded in the audit trail)" }
            input #f-purpose name="purpose" type="text" value=(value) required aria-required="true";
        }
    }
}

/// What the caller can correct (a missing purpose, an unknown
/// subscriber, a malformed address) is said on the page; anything else is
/// the error page with its status.
fn flash_or_problem(e: pramaan_app::AppError) -> Result<Flash, Problem> {
    use pramaan_app::AppError::{Invalid, Missing};
    match e {
        Invalid(m) | Missing(m) => Ok(Flash::Error(m)),
        e => Err(crate::api::ApiError::from(e).into()),
    }
}

async fn whois(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    QueryParams(f): QueryParams<WhoisForm>,
) -> Result<Response, Problem> {
    let form = html! {
        form.grid method="get" action="/console/whois" {
            (field("ip", "IP address", &f.ip, "as seen by the other side, e.g. 203.0.113.7"))
            (field("port", "Port", &f.port, "optional (CGNAT)"))
            (field("at", "At", &f.at, "e.g. 2026-03-03T14:02:11+05:30"))
            (purpose_field(&f.purpose))
            div { button type="submit" { "Look up" } }
        }
    };
    if f.ip.trim().is_empty() {
        return Ok(page(&id, "Whois", "/console/whois", None, form));
    }
    let op = pramaan_app::whois::Whois {
        ip: f.ip.clone(),
        port: Some(f.port.clone()),
        at: f.at.clone(),
        purpose: f.purpose.clone(),
    };
    let answer = match op.run(&st.app, &id).await {
        Ok(a) => Ok(serde_json::to_value(a).map_err(super::internal)?),
        Err(e) => Err(flash_or_problem(e)?),
    };
    let (flash, result) = match answer {
        Err(e) => (Some(e), html! {}),
        Ok(a) => {
            let matches = a
                .get("matches")
                .and_then(|m| m.as_array())
                .cloned()
                .unwrap_or_default();
            (
                None,
                html! {
                    section aria-labelledby="answer" {
                        h2 #answer { (matches.len()) " match(es) for " (a["ip"].as_str().unwrap_or_default())
                            @if let Some(p) = a["port"].as_u64() { " port " (p) }
                            " at " (a["at_ist"].as_str().unwrap_or_default()) " (" (a["at_utc"].as_str().unwrap_or_default()) ")" }
                        p.muted { "Outcome: " (json_cell(&a["outcome"])) ". This lookup is audit record " (a["audit_seq"].to_string()) "." }
                        @for (i, m) in matches.iter().enumerate() {
                            h3 { "Match " (i + 1) }
                            (json_table(m))
                        }
                    }
                },
            )
        }
    };
    Ok(page(
        &id,
        "Whois",
        "/console/whois",
        flash,
        html! { (form) (result) },
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SubscriberForm {
    id: String,
    purpose: String,
}

async fn subscriber(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    QueryParams(f): QueryParams<SubscriberForm>,
) -> Result<Response, Problem> {
    let form = html! {
        form.grid method="get" action="/console/subscribers" {
            (field("id", "Subscriber id", &f.id, "the provider's id"))
            (purpose_field(&f.purpose))
            div { button type="submit" { "Open" } }
        }
        p.muted { "Each view of a subscriber's personal details is recorded with who, when and why." }
    };
    if f.id.trim().is_empty() {
        return Ok(page(&id, "Subscribers", "/console/subscribers", None, form));
    }
    let op = pramaan_app::registry::ReadSubscriber {
        id: f.id.trim().to_owned(),
        purpose: f.purpose.clone(),
    };
    let (flash, result) = match op.run(&st.app, &id).await {
        Ok(s) => (
            None,
            html! { h2 { "Subscriber " (f.id.trim()) } (json_table(&s)) },
        ),
        Err(e) => (Some(flash_or_problem(e)?), html! {}),
    };
    Ok(page(
        &id,
        "Subscribers",
        "/console/subscribers",
        flash,
        html! { (form) (result) },
    ))
}

async fn holds(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let list = st.app.retention().holds().map_err(super::internal)?;
    let can_add = id.has(Role::Analyst) || id.has(Role::Approver) || id.has(Role::Admin);
    let can_release = id.has(Role::Approver) || id.has(Role::Admin);
    let body = html! {
        p { "A legal hold keeps every segment it touches past its retention window until it is released." }
        table {
            thead { tr { th scope="col" { "#" } th scope="col" { "Range (IST, UTC)" } th scope="col" { "Source / IP" } th scope="col" { "Reason" } th scope="col" { "Order" } th scope="col" { "State" } } }
            tbody {
                @for h in &list {
                    tr {
                        td { (h.id) }
                        td { (pramaan_console::when(h.from_ns)) br; "to " (pramaan_console::when(h.to_ns)) }
                        td { (h.source.as_deref().unwrap_or("any source")) " / " (h.ip.as_deref().unwrap_or("any IP")) }
                        td { (h.reason) }
                        td { (h.order_ref) }
                        td {
                            @if let Some(r) = h.released_at_ns {
                                "released " (pramaan_console::when(r)) " by " (h.released_by.as_deref().unwrap_or("?")) ": " (h.release_reason.as_deref().unwrap_or(""))
                            } @else {
                                strong { "active" }
                                @if can_release {
                                    form method="post" action=(format!("/console/holds/{}/release", h.id)) {
                                        (csrf(&id))
                                        label for=(format!("rel-{}", h.id)) { "Reason to release" }
                                        input id=(format!("rel-{}", h.id)) name="reason" type="text" required;
                                        button type="submit" { "Release hold " (h.id) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if list.is_empty() { p { "No hold." } }
        @if can_add {
            section aria-labelledby="add-hold" {
                h2 #add-hold { "Place a hold" }
                form.grid method="post" action="/console/holds" {
                    (csrf(&id))
                    (field("from", "From", "", "received time, e.g. 2026-03-01 (IST)"))
                    (field("to", "To", "", "inclusive"))
                    (field("source", "Source", "", "optional"))
                    (field("ip", "IP address", "", "optional"))
                    (field("reason", "Reason", "", ""))
                    (field("order_ref", "Order reference", "", "the order behind the hold"))
                    div { button type="submit" { "Place the hold" } }
                }
            }
        }
    };
    Ok(page(&id, "Legal holds", "/console/holds", fl.flash(), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HoldForm {
    from: String,
    to: String,
    source: String,
    ip: String,
    reason: String,
    order_ref: String,
}

fn who(id: &Identity, from: SocketAddr) -> String {
    format!("{} (console from {})", id.name, from.ip().to_canonical())
}

async fn add_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Form(f): Form<HoldForm>,
) -> Result<Response, Problem> {
    let now = now_ns();
    let parse =
        |name: &str, v: &str| parse_user_time(v.trim(), now).map_err(|e| format!("{name}: {e}"));
    let res = async {
        let h = pramaan_vault::retention::NewHold {
            from_ns: parse("from", &f.from)?,
            to_ns: parse("to", &f.to)?,
            source: Some(f.source.trim().to_owned()).filter(|s| !s.is_empty()),
            ip: Some(f.ip.trim().to_owned()).filter(|s| !s.is_empty()),
            reason: f.reason.clone(),
            order_ref: f.order_ref.clone(),
            created_by: who(&id, from),
        };
        st.app()
            .retention()
            .add_hold(&h, now)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    // The same audit record the API's row writes, without the form's CSRF token.
    st.access()
        .audit(
            AuditEvent::new(action::HOLD_ADD, &id.name, "/console/holds")
                .purpose(f.order_ref.clone())
                .outcome(if res.is_ok() { "ok" } else { "failed" })
                .detail(
                    "body",
                    serde_json::json!({
                        "from": f.from, "to": f.to, "source": f.source, "ip": f.ip,
                        "reason": f.reason, "order_ref": f.order_ref,
                    }),
                ),
        )
        .await;
    Ok(match res {
        Ok(h) => see_other(&with_query(
            "/console/holds",
            "ok",
            &format!("Hold {} placed.", h.id),
        )),
        Err(e) => see_other(&with_query("/console/holds", "error", &e)),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReleaseForm {
    reason: String,
}

async fn release_hold(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(hold): Path<i64>,
    Form(f): Form<ReleaseForm>,
) -> Result<Response, Problem> {
    let res = st
        .app()
        .retention()
        .release_hold(hold, &who(&id, from), &f.reason, now_ns())
        .await
        .map_err(|e| e.to_string());
    st.access()
        .audit(
            AuditEvent::new(
                action::HOLD_RELEASE,
                &id.name,
                &format!("/console/holds/{hold}/release"),
            )
            .outcome(if res.is_ok() { "ok" } else { "failed" })
            .detail("body", serde_json::json!({ "reason": f.reason })),
        )
        .await;
    Ok(match res {
        Ok(_) => see_other(&with_query(
            "/console/holds",
            "ok",
            &format!("Hold {hold} released."),
        )),
        Err(e) => see_other(&with_query("/console/holds", "error", &e)),
    })
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

async fn audit(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
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
    let mut rows = crate::access::search_audit(&st.vault, &filter, 0)
        .await
        .map_err(super::internal)?;
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
                        td { (match parse_user_time(&s(r, "at"), now) { Ok(ns) => pramaan_console::when(ns), Err(_) => s(r, "at") }) }
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

async fn settings(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let now = now_ns();
    let poc = st.app.desk().poc_view(now);
    let can_edit = id.has(Role::Poc) || id.has(Role::Admin);
    let policy = st.app.retention().policy();
    let clock = st.clock.status();
    let v = |name: &str| {
        poc.as_ref()
            .map(|p| match name {
                "name" => p.record.poc.name.clone(),
                "designation" => p.record.poc.designation.clone(),
                "organisation" => p.record.poc.organisation.clone(),
                "address" => p.record.poc.address.clone(),
                "email" => p.record.poc.email.clone(),
                "mobile" => p.record.poc.mobile.clone(),
                _ => p.record.poc.office_phone.clone(),
            })
            .unwrap_or_default()
    };
    let body = html! {
        section #poc aria-labelledby="poc-title" {
            h2 #poc-title { "Point of contact" }
            @match &poc {
                Some(p) => {
                    p { "Version " (p.record.version) ", set " (p.set_at.ist) " by " (p.record.set_by) "." }
                    @if let Some(w) = &p.warning { p.flash.error { (w) } }
                    @if !p.missing.is_empty() { p.flash.error { "Missing: " (p.missing.join(", ")) } }
                }
                None => { p.flash.error { "No point of contact is designated." } }
            }
            @if can_edit {
                form.grid method="post" action="/console/settings/poc" {
                    (csrf(&id))
                    @for (k, label) in [("name", "Name"), ("designation", "Designation"), ("organisation", "Organisation"), ("address", "Address"), ("email", "E-mail"), ("mobile", "Mobile"), ("office_phone", "Office phone")] {
                        (field(k, label, &v(k), ""))
                    }
                    div { label { input type="checkbox" name="reviewed" value="true"; " The details were reviewed" } }
                    div { button type="submit" { "Save the point of contact" } }
                }
            } @else if let Some(p) = &poc {
                (json_table(&serde_json::to_value(&p.record.poc).unwrap_or_default()))
            }
        }
        section #retention aria-labelledby="ret-title" {
            h2 #ret-title { "Retention" }
            p.muted { "Set in the configuration file ([retention]); read-only here." }
            p { "Default window: " strong { (policy.default_days) " days" }
                @if policy.compliant() { " (meets the 180 days)." } @else { " — " strong { "less than the 180 days the directions require." } } }
            @if !policy.classes.is_empty() {
                table { thead { tr { th { "Class" } th { "Days" } } }
                    tbody { @for c in &policy.classes { tr { td { (c.name) } td { (c.days) } } } } }
            }
        }
        section #audit aria-labelledby="audit-title" {
            h2 #audit-title { "Audit trail" }
            p.muted { "Set in the configuration file (auth.audit_reads); read-only here." }
            @if st.access.audit_reads {
                p { "Logins, changes, holds, deletions, exports, approvals and reads of personal data are recorded, and so are searches, SQL queries and reads of the audit trail." }
            } @else {
                p.flash.error { "Searches, SQL queries and reads of the audit trail are not recorded (auth.audit_reads = false). Logins, changes, holds, deletions, exports, approvals and reads of personal data still are." }
            }
        }
        section #clock aria-labelledby="clock-title" {
            h2 #clock-title { "Time servers" }
            p.muted { "Set in the configuration file (clock.servers); read-only here. Allowed offset: ±" (clock.threshold_ms) " ms." }
            @if !clock.enabled { p.flash.error { "The clock monitor is off (clock.enabled = false)." } }
            table {
                thead { tr { th { "Server" } th { "State" } th.num { "Offset (ms)" } th { "Last sample" } } }
                tbody {
                    @for s in &clock.servers_configured {
                        @let latest = clock.servers.iter().find(|x| &x.server == s);
                        tr {
                            td { (s) }
                            td { (latest.map(|l| l.state.as_str()).unwrap_or("not measured yet")) }
                            td.num { (latest.and_then(|l| l.offset_ms).map(|o| format!("{o:.2}")).unwrap_or_default()) }
                            td { (latest.map(|l| format!("{} ({})", l.at.ist, l.at.utc)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&id, "Settings", "/console/settings", fl.flash(), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PocForm {
    name: String,
    designation: String,
    organisation: String,
    address: String,
    email: String,
    mobile: String,
    office_phone: String,
    reviewed: Option<String>,
}

async fn set_poc(
    State(st): State<Arc<AppState>>,
    Authenticated(id): Authenticated,
    Form(f): Form<PocForm>,
) -> Result<Response, Problem> {
    let e = pramaan_desk::model::PocEdit {
        name: Some(f.name),
        designation: Some(f.designation),
        organisation: Some(f.organisation),
        address: Some(f.address),
        email: Some(f.email),
        mobile: Some(f.mobile),
        office_phone: Some(f.office_phone),
        reviewed: f.reviewed.is_some(),
        note: Some("console".into()),
    };
    Ok(match SetPoc(e).run(&st.app, &id).await {
        Ok(p) => see_other(&with_query(
            "/console/settings",
            "ok",
            &format!("Point of contact saved (version {}).", p.record.version),
        )),
        Err(e) => see_other(&with_query("/console/settings", "error", &e.to_string())),
    })
}
