//! Whois and a subscriber's details: both reads of personal data, each
//! run as the application's operation, which records it with its purpose
//! before it answers.

use crate::caller::Signed;
use crate::layout::{field, Flash};
use crate::web::{internal, json_cell, json_table, page, Problem};
use crate::{html, Host, Markup};
use axum::extract::{Query as QueryParams, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use pramaan_app::Operation;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/whois", get(whois::<H>))
        .route("/console/subscribers", get(subscriber::<H>))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WhoisForm {
    ip: String,
    port: String,
    at: String,
    purpose: String,
}

pub(super) fn purpose_field(value: &str) -> Markup {
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
pub(super) fn flash_or_problem(e: pramaan_app::AppError) -> Result<Flash, Problem> {
    use pramaan_app::AppError::{Invalid, Missing};
    match e {
        Invalid(m) | Missing(m) => Ok(Flash::Error(m)),
        e => Err(e.into()),
    }
}

async fn whois<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
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
    let answer = match op.run(st.app(), &id).await {
        Ok(a) => Ok(serde_json::to_value(a).map_err(internal)?),
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
                        @if let Some(note) = a["note"].as_str() { p #erased { (note) } }
                        @for (i, m) in matches.iter().enumerate() {
                            h3 { "Match " (i + 1) }
                            p { "Source: " (m["source"]["what"].as_str().unwrap_or_default()) ". Evidence: "
                                @for (j, seq) in m["evidence"].as_array().into_iter().flatten().filter_map(|x| x.as_u64()).enumerate() {
                                    @if j > 0 { ", " }
                                    a href=(format!("/console/records/{seq}")) aria-label=(format!("record {seq}")) { "record " (seq) }
                                }
                            }
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

async fn subscriber<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
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
    let (flash, result) = match op.run(st.app(), &id).await {
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
