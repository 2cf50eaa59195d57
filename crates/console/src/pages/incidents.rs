//! The incident desk in the browser: the list with each 6-hour window,
//! create, one incident with its countdown, edit, the report preview and
//! sending it. The desk's operations (`pramaan_app::desk`) do the work, as
//! for the JSON API; these handlers read the form and render HTML.

use crate::caller::Signed;
use crate::charts::{self, IncidentWindow};
use crate::layout::Flash;
use crate::web::{
    correctable, csrf, get1, may, page, page_refreshing, pairs, see_other, with_query, FlashParams,
    Problem,
};
use crate::{html, Host, Markup};
use axum::body::Bytes;
use axum::extract::{Path, Query as QueryParams, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use pramaan_app::desk::{
    EditIncident, ListIncidents, OpenIncident, RenderReport, SendReport, ShowIncident,
};
use pramaan_app::{App, Caller as Identity, Operation};
use pramaan_core::time::now_ns;
use pramaan_desk::kinds::KINDS;
use pramaan_desk::{IncidentView, State as IncState, System};
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/incidents", get(list::<H>).post(create::<H>))
        .route("/console/incidents/new", get(new_form))
        .route("/console/incidents/{id}", get(show::<H>).post(edit::<H>))
        .route("/console/incidents/{id}/report", get(report::<H>))
        .route("/console/incidents/{id}/send", post(send::<H>))
}

fn window(v: &IncidentView) -> IncidentWindow {
    IncidentWindow {
        id: v.incident.id,
        title: v.incident.fields.title.clone(),
        clock_start_ns: v.incident.clock_start_ns,
        deadline_ns: v.incident.deadline_ns,
    }
}

/// Whether to offer the forms that change an incident (create, edit,
/// send the report): the access table's row for the routes they post to.
fn can_write(app: &App, id: &Identity) -> bool {
    may(app, id, "POST", "/console/incidents/{id}/send")
}

async fn list<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let now = now_ns();
    let views = ListIncidents {}
        .run(st.app(), &id)
        .await
        .map_err(Problem::from)?;
    let running: Vec<IncidentWindow> = views
        .iter()
        .filter(|v| v.incident.state == IncState::Open)
        .map(window)
        .collect();
    let body = html! {
        @if can_write(st.app(), &id) { p { a.button href="/console/incidents/new" { "Report a new incident" } } }
        @if !running.is_empty() {
            h2 { "6-hour windows running" }
            (charts::incident_bars(&running, now))
        }
        table {
            thead { tr { th.num scope="col" { "#" } th scope="col" { "Title" } th scope="col" { "State" } th scope="col" { "Detected" } th scope="col" { "Deadline" } th scope="col" { "Clock" } } }
            tbody {
                @for v in &views {
                    tr {
                        td.num { (v.incident.id) }
                        td { a href=(format!("/console/incidents/{}", v.incident.id)) { (v.incident.fields.title) } }
                        td { (v.incident.state.as_str()) }
                        td { (v.detected_at.ist) }
                        td { (v.deadline.ist) }
                        td { @if v.overdue { strong { (v.clock_text) } } @else { (v.clock_text) } }
                    }
                }
            }
        }
        @if views.is_empty() { p { "No incident yet." } }
    };
    Ok(page_refreshing(
        &id,
        "Incidents",
        "/console/incidents",
        fl.flash(),
        body,
        Some(60),
    ))
}

fn text_area(name: &str, label: &str, value: &str) -> Markup {
    let id = format!("f-{name}");
    html! { div { label for=(id) { (label) } textarea id=(id) name=(name) rows="3" { (value) } } }
}

fn kinds_fieldset(chosen: &[String]) -> Markup {
    html! {
        fieldset {
            legend { "Kinds of incident (Annexure I; at least one)" }
            div.kinds {
                @for k in KINDS.iter() {
                    div {
                        input type="checkbox" id=(format!("k-{}", k.code)) name="kinds" value=(k.code) checked[chosen.iter().any(|c| c == k.code)];
                        " "
                        label.inline for=(format!("k-{}", k.code)) { "(" (k.roman) ") " (k.wording) }
                    }
                }
            }
        }
    }
}

fn incident_form(action: &str, id: &Identity, v: Option<&IncidentView>, submit: &str) -> Markup {
    let f = v.map(|v| v.incident.fields.clone()).unwrap_or_default();
    let at = |ns: Option<i64>| ns.map(pramaan_core::time::rfc3339_ist).unwrap_or_default();
    html! {
        form.stack method="post" action=(action) {
            (csrf(id))
            div { label for="f-title" { "Title" } input #f-title name="title" type="text" value=(f.title) required; }
            (kinds_fieldset(&f.kinds))
            div { label for="f-detected_at" { "Detected at" }
                input #f-detected_at name="detected_at" type="text" value=(at(v.map(|v| v.incident.detected_at_ns))) required[v.is_none()] aria-describedby="f-detected_at-hint";
                small.muted #f-detected_at-hint { "RFC 3339 (2026-03-03T14:02:11+05:30), a time read in IST, or an age like 30m. The 6 hours run from the earlier of this and the notification." } }
            div { label for="f-notified_at" { "Notified at (if told by someone else)" }
                input #f-notified_at name="notified_at" type="text" value=(at(v.and_then(|v| v.incident.notified_at_ns))); }
            div { label for="f-occurred_at" { "Occurred at (if known)" }
                input #f-occurred_at name="occurred_at" type="text" value=(at(f.occurred_at_ns)); }
            (text_area("symptoms", "Symptoms", &f.symptoms))
            (text_area("description", "Description", &f.description))
            (text_area("scope_impact", "Scope and impact", &f.scope_impact))
            (text_area("iocs", "Indicators of compromise", &f.iocs))
            (text_area("actions_taken", "Actions taken so far", &f.actions_taken))
            (text_area("security_systems", "Security systems deployed", &f.security_systems))
            (text_area("other_info", "Anything else", &f.other_info))
            fieldset {
                legend { @if v.is_some() { "Add an affected system" } @else { "Affected system" } }
                @for (k, l) in [("sys_ip", "IP address"), ("sys_hostname", "Host name"), ("sys_os", "Operating system"), ("sys_function", "Function"), ("sys_location", "Location")] {
                    div { label for=(format!("f-{k}")) { (l) } input id=(format!("f-{k}")) name=(k) type="text"; }
                }
            }
            div { button type="submit" { (submit) } }
        }
    }
}

async fn new_form(Signed(id): Signed) -> Result<Response, Problem> {
    Ok(page(
        &id,
        "Report a new incident",
        "/console/incidents",
        None,
        incident_form("/console/incidents", &id, None, "Create the incident"),
    ))
}

fn system(p: &[(String, String)]) -> Option<System> {
    let s = System {
        ip: get1(p, "sys_ip").trim().to_owned(),
        hostname: get1(p, "sys_hostname").trim().to_owned(),
        os: get1(p, "sys_os").trim().to_owned(),
        function: get1(p, "sys_function").trim().to_owned(),
        location: get1(p, "sys_location").trim().to_owned(),
    };
    let any = [&s.ip, &s.hostname, &s.os, &s.function, &s.location]
        .iter()
        .any(|v| !v.is_empty());
    any.then_some(s)
}

fn kinds_of(p: &[(String, String)]) -> Vec<String> {
    p.iter()
        .filter(|(k, _)| k == "kinds")
        .map(|(_, v)| v.clone())
        .collect()
}

fn opt(p: &[(String, String)], k: &str) -> Option<String> {
    Some(get1(p, k).trim().to_owned()).filter(|s| !s.is_empty())
}

async fn create<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    body: Bytes,
) -> Result<Response, Problem> {
    let p = pairs(&body);
    let op = OpenIncident {
        title: get1(&p, "title").to_owned(),
        kinds: kinds_of(&p),
        detected_at: opt(&p, "detected_at"),
        notified_at: opt(&p, "notified_at"),
        occurred_at: opt(&p, "occurred_at"),
        systems: system(&p).into_iter().collect(),
        symptoms: get1(&p, "symptoms").to_owned(),
        description: get1(&p, "description").to_owned(),
        scope_impact: get1(&p, "scope_impact").to_owned(),
        iocs: get1(&p, "iocs").to_owned(),
        actions_taken: get1(&p, "actions_taken").to_owned(),
        security_systems: get1(&p, "security_systems").to_owned(),
        other_info: get1(&p, "other_info").to_owned(),
    };
    Ok(match op.run(st.app(), &id).await {
        Ok(inc) => see_other(&with_query(
            &format!("/console/incidents/{}", inc.incident.id),
            "ok",
            "Incident created: the 6-hour clock runs.",
        )),
        Err(e) => page(
            &id,
            "Report a new incident",
            "/console/incidents",
            Some(Flash::Error(correctable(e)?)),
            incident_form("/console/incidents", &id, None, "Create the incident"),
        ),
    })
}

async fn show<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(n): Path<i64>,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let detail = ShowIncident { id: n }
        .run(st.app(), &id)
        .await
        .map_err(Problem::from)?;
    let now = now_ns();
    let (v, reports, poc_warning) = (detail.incident, detail.reports, detail.poc_warning);
    let write = can_write(st.app(), &id);
    let inc = &v.incident;
    let body = html! {
        section aria-labelledby="clock" {
            h2 #clock { "The 6-hour clock" }
            p.countdown role="status" data-overdue=(v.overdue) {
                @if v.overdue { strong { (v.clock_text) } } @else { strong { (v.clock_text) } }
            }
            p { "Clock started " (v.clock_start.ist) "; deadline " strong { (v.deadline.ist) } "." }
            @if inc.state == IncState::Open { (charts::incident_bars(&[window(&v)], now)) }
            @if let Some(w) = &poc_warning { p.flash.error { (w) } }
        }
        section aria-labelledby="details" {
            h2 #details { "Details" }
            table { tbody {
                tr { th scope="row" { "State" } td { (inc.state.as_str()) } }
                tr { th scope="row" { "Kinds" } td { ul { @for k in &v.kinds_detail { li { "(" (k.roman) ") " (k.wording) } } } } }
                tr { th scope="row" { "Detected" } td { (v.detected_at.ist) } }
                @if let Some(t) = &v.notified_at { tr { th scope="row" { "Notified" } td { (t.ist) } } }
                @if let Some(t) = &v.occurred_at { tr { th scope="row" { "Occurred" } td { (t.ist) } } }
                tr { th scope="row" { "Created by" } td { (inc.created_by) } }
                tr { th scope="row" { "Reports sent" } td { (inc.reports_sent) } }
                tr { th scope="row" { "Description" } td { (inc.fields.description) } }
                tr { th scope="row" { "Systems" } td { @for s in &inc.fields.systems { (s.ip) " " (s.hostname) " " (s.os) " " (s.function) " " (s.location) br; } } }
            } }
        }
        section aria-labelledby="report-title" {
            h2 #report-title { "Report to CERT-In" }
            p { a href=(format!("/console/incidents/{n}/report")) { "Preview the report" } }
            @if write && inc.state != IncState::Closed {
                form method="post" action=(format!("/console/incidents/{n}/send")) {
                    (csrf(&id))
                    button type="submit" { @if inc.reports_sent == 0 { "Send the report now" } @else { "Send a follow-up report" } }
                }
            }
            @if !reports.is_empty() {
                h3 { "Attempts" }
                pre { (serde_json::to_string_pretty(&reports).unwrap_or_default()) }
            }
        }
        @if write && inc.state != IncState::Closed {
            section aria-labelledby="edit-title" {
                h2 #edit-title { "Edit" }
                (incident_form(&format!("/console/incidents/{n}"), &id, Some(&v), "Save the changes"))
            }
        }
    };
    // No automatic reload here: it would wipe an edit being typed below. The
    // list and the dashboard, which hold no form, reload each minute.
    Ok(page(
        &id,
        &format!("Incident {n}: {}", inc.fields.title),
        "/console/incidents",
        fl.flash(),
        body,
    ))
}

async fn edit<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(n): Path<i64>,
    body: Bytes,
) -> Result<Response, Problem> {
    let p = pairs(&body);
    let kinds = kinds_of(&p);
    let op = EditIncident {
        id: n,
        title: opt(&p, "title"),
        kinds: (!kinds.is_empty()).then_some(kinds),
        detected_at: opt(&p, "detected_at"),
        notified_at: opt(&p, "notified_at"),
        occurred_at: opt(&p, "occurred_at"),
        systems: None,
        add_systems: system(&p).into_iter().collect(),
        symptoms: Some(get1(&p, "symptoms").to_owned()),
        description: Some(get1(&p, "description").to_owned()),
        scope_impact: Some(get1(&p, "scope_impact").to_owned()),
        iocs: Some(get1(&p, "iocs").to_owned()),
        actions_taken: Some(get1(&p, "actions_taken").to_owned()),
        security_systems: Some(get1(&p, "security_systems").to_owned()),
        other_info: Some(get1(&p, "other_info").to_owned()),
    };
    let path = format!("/console/incidents/{n}");
    Ok(match op.run(st.app(), &id).await {
        Ok(_) => see_other(&with_query(&path, "ok", "Saved.")),
        Err(e) => see_other(&with_query(&path, "error", &correctable(e)?)),
    })
}

async fn report<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(n): Path<i64>,
) -> Result<Response, Problem> {
    let prepared = RenderReport {
        id: n,
        ..RenderReport::default()
    }
    .run(st.app(), &id)
    .await;
    let body = match prepared {
        Ok(p) => html! {
            p { "To: " (p.to) " · From: " (p.from) " · Cc: " (p.cc) }
            p { "Subject: " strong { (p.subject) } }
            h2 { "Text" }
            pre { (p.text) }
            p { a href=(format!("/api/v1/incidents/{n}/report?format=html")) { "The HTML version" } }
            p { a href=(format!("/console/incidents/{n}")) { "Back to the incident" } }
        },
        Err(e) => html! {
            p.flash.error role="alert" { "The report cannot be prepared: " (correctable(e)?) }
            p { a href=(format!("/console/incidents/{n}")) { "Back to the incident" } }
        },
    };
    Ok(page(
        &id,
        &format!("Report for incident {n}"),
        "/console/incidents",
        None,
        body,
    ))
}

async fn send<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(n): Path<i64>,
) -> Result<Response, Problem> {
    let res = SendReport { id: n }.run(st.app(), &id).await;
    let path = format!("/console/incidents/{n}");
    // A failed attempt is kept by the desk and returned as Ok: say what happened.
    Ok(match res {
        Ok(o) if o.attempt.sent_at_ns.is_some() => see_other(&with_query(
            &path,
            "ok",
            &format!(
                "The report was sent to {} ({}).",
                o.attempt.to,
                o.attempt.smtp_reply.as_deref().unwrap_or("accepted")
            ),
        )),
        Ok(o) => see_other(&with_query(
            &path,
            "error",
            &format!(
                "Not sent: {}",
                o.attempt
                    .error
                    .as_deref()
                    .unwrap_or("the mail server did not take it")
            ),
        )),
        Err(e) => see_other(&with_query(
            &path,
            "error",
            &format!("Not sent: {}", correctable(e)?),
        )),
    })
}
