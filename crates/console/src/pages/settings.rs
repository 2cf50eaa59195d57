//! The settings page: the point of contact (changed through the desk's
//! operation, by whom the access table lets), and read-only views of
//! retention, the audit setting and the time servers.

use crate::caller::Signed;
use crate::layout::field;
use crate::web::{
    correctable, csrf, json_table, may, page, see_other, with_query, FlashParams, Problem,
};
use crate::{html, Host};
use axum::extract::{Form, Query as QueryParams, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use pramaan_app::desk::SetPoc;
use pramaan_app::Operation;
use pramaan_core::time::now_ns;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/settings", get(settings::<H>))
        .route("/console/settings/poc", post(set_poc::<H>))
}

async fn settings<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let now = now_ns();
    let poc = st.app().desk().poc_view(now);
    let can_edit = may(st.app(), &id, "POST", "/console/settings/poc");
    let policy = st.app().retention().policy();
    let clock = st.app().clock().status();
    let store = pramaan_app::status::Store::of(st.app().vault());
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
        (storage(&store))
        section #audit aria-labelledby="audit-title" {
            h2 #audit-title { "Audit trail" }
            p.muted { "Set in the configuration file (auth.audit_reads); read-only here." }
            @if st.app().config().auth.audit_reads {
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

/// Where sealed evidence is kept: the store and where it is, the catalog,
/// what is not sealed yet, and the store's requests and failures.
fn storage(s: &pramaan_app::status::Store) -> maud::Markup {
    let place = &s.location;
    let r = &s.requests;
    html! {
        section #storage aria-labelledby="storage-title" {
            h2 #storage-title { "Storage" }
            p.muted { "Set in the configuration file ([storage], [catalog]); read-only here." }
            table {
                tbody {
                    tr { th { "Evidence store" } td { (s.url) @if !s.endpoint.is_empty() { " at " (s.endpoint) } } }
                    tr { th { "Where it is" } td {
                        @if place.declared.is_empty() { "not declared (storage.location)" } @else { (place.declared) }
                        @if let Some(reported) = &place.reported_region { " — the bucket reports " (reported) }
                    } }
                    tr { th { "Check" } td {
                        @if place.is_mismatch() { strong.flash.error { (place.detail) } } @else { (place.detail) }
                    } }
                    tr { th { "Write once (Object Lock)" } td {
                        @if s.object_lock == "compliance" {
                            "compliance: every segment, full tile and checkpoint is locked until its window ends"
                        } @else { "off" }
                    } }
                    tr { th { "Catalog" } td { (s.catalog) } }
                    tr { th { "Records not yet sealed" } td.num { (s.unsealed_records) } }
                }
            }
            table {
                thead { tr { th { "Requests since start" } @for op in r.requests.keys() { th.num { (op) } } } }
                tbody {
                    tr { td { "made" } @for n in r.requests.values() { td.num { (n) } } }
                    tr { td { "failed" } @for n in r.errors.values() { td.num { (n) } } }
                }
            }
            @if let Some(e) = &r.last_error {
                p.flash.error { "Latest failure: " (e.op) " at " (e.at) ": " (e.error) }
            }
        }
    }
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

async fn set_poc<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
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
    Ok(match SetPoc(e).run(st.app(), &id).await {
        Ok(p) => see_other(&with_query(
            "/console/settings",
            "ok",
            &format!("Point of contact saved (version {}).", p.record.version),
        )),
        Err(e) => see_other(&with_query("/console/settings", "error", &correctable(e)?)),
    })
}
