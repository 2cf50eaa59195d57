//! Legal holds: the list, placing one and releasing one, each through the
//! application's operations (`pramaan_app::holds`) for the signed-in user.
//! Which forms the page offers is the access table's answer.

use crate::caller::Signed;
use crate::layout::field;
use crate::web::{
    correctable, csrf, internal, may, page, record, see_other, with_query, FlashParams, Problem,
};
use crate::{html, Host, Markup};
use axum::extract::{ConnectInfo, Form, Path, Query as QueryParams, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use pramaan_app::holds::{AddHold, ListHolds, ReleaseHold};
use pramaan_app::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{action, AuditEvent};
use pramaan_vault::retention::Hold;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/holds", get(holds::<H>).post(add_hold::<H>))
        .route("/console/holds/{id}/release", post(release_hold::<H>))
}

async fn holds<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let list: Vec<Hold> = ListHolds {}
        .run(st.app(), &id)
        .await?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    let body = holds_body(st.app(), &id, &list);
    Ok(page(&id, "Legal holds", "/console/holds", fl.flash(), body))
}

/// The list, with the forms the access table lets `id` post: release (on
/// each active hold) and place a hold.
fn holds_body(app: &App, id: &Caller, list: &[Hold]) -> Markup {
    let can_add = may(app, id, "POST", "/console/holds");
    let can_release = may(app, id, "POST", "/console/holds/{id}/release");
    html! {
        p { "A legal hold keeps every segment it touches past its retention window until it is released." }
        table {
            thead { tr { th scope="col" { "#" } th scope="col" { "Range (IST, UTC)" } th scope="col" { "Source / IP" } th scope="col" { "Reason" } th scope="col" { "Order" } th scope="col" { "State" } } }
            tbody {
                @for h in list {
                    tr {
                        td { (h.id) }
                        td { (crate::when(h.from_ns)) br; "to " (crate::when(h.to_ns)) }
                        td { (h.source.as_deref().unwrap_or("any source")) " / " (h.ip.as_deref().unwrap_or("any IP")) }
                        td { (h.reason) }
                        td { (h.order_ref) }
                        td {
                            @if let Some(r) = h.released_at_ns {
                                "released " (crate::when(r)) " by " (h.released_by.as_deref().unwrap_or("?")) ": " (h.release_reason.as_deref().unwrap_or(""))
                            } @else {
                                strong { "active" }
                                @if can_release {
                                    form method="post" action=(format!("/console/holds/{}/release", h.id)) {
                                        (csrf(id))
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
                    (csrf(id))
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
    }
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

/// Where the form came from, kept with who acted: `asha (console from 10.1.2.3)`.
fn via(from: SocketAddr) -> Option<String> {
    Some(format!("console from {}", from.ip().to_canonical()))
}

fn trimmed(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|s| !s.is_empty())
}

/// After a form: back to the list saying what happened; what the person
/// can correct is said there, anything else is the error page.
fn back(res: Result<String, AppError>) -> Result<Response, Problem> {
    match res {
        Ok(m) => Ok(see_other(&with_query("/console/holds", "ok", &m))),
        Err(e) => Ok(see_other(&with_query(
            "/console/holds",
            "error",
            &correctable(e)?,
        ))),
    }
}

async fn add_hold<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Form(f): Form<HoldForm>,
) -> Result<Response, Problem> {
    let op = AddHold {
        from: f.from.trim().to_owned(),
        to: f.to.trim().to_owned(),
        source: trimmed(&f.source),
        ip: trimmed(&f.ip),
        reason: f.reason.clone(),
        order_ref: f.order_ref.clone(),
        by: None,
        via: via(from),
    };
    let res = op.run(st.app(), &id).await;
    // The same audit record the API's row writes, without the form's CSRF token.
    record(
        st.app(),
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
    back(res.map(|h| format!("Hold {} placed.", h["id"])))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReleaseForm {
    reason: String,
}

async fn release_hold<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(hold): Path<i64>,
    Form(f): Form<ReleaseForm>,
) -> Result<Response, Problem> {
    let op = ReleaseHold {
        id: hold,
        reason: f.reason.clone(),
        by: None,
        via: via(from),
    };
    let res = op.run(st.app(), &id).await;
    record(
        st.app(),
        AuditEvent::new(
            action::HOLD_RELEASE,
            &id.name,
            &format!("/console/holds/{hold}/release"),
        )
        .outcome(if res.is_ok() { "ok" } else { "failed" })
        .detail("body", serde_json::json!({ "reason": f.reason })),
    )
    .await;
    back(res.map(|_| format!("Hold {hold} released.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_auth::{Method, Role, RoleSet};

    fn caller(roles: &[Role]) -> Caller {
        Caller {
            name: "someone".into(),
            roles: RoleSet::of(roles),
            method: Method::Session,
            csrf: Some("token".into()),
            must_change_password: false,
        }
    }

    fn active_hold() -> Hold {
        Hold {
            id: 7,
            from_ns: 0,
            to_ns: 1,
            source: None,
            ip: None,
            reason: "case".into(),
            order_ref: "CERT-In/2026/1".into(),
            created_by: "asha".into(),
            created_at_ns: 0,
            released_at_ns: None,
            released_by: None,
            release_reason: None,
        }
    }

    #[tokio::test]
    async fn the_forms_offered_are_the_access_tables_answer() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = pramaan_config::Config {
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        let local = pramaan_app::local::Local::open(&cfg).await.unwrap();
        let forms = |roles: &[Role]| {
            let html = holds_body(local.app(), &caller(roles), &[active_hold()]).into_string();
            (
                html.contains(r#"action="/console/holds""#),
                html.contains(r#"action="/console/holds/7/release""#),
            )
        };
        // (place a hold, release hold 7), as the rows of POST /console/holds
        // (analyst, approver) and POST /console/holds/{id}/release (approver) say.
        assert_eq!(forms(&[Role::Auditor]), (false, false));
        assert_eq!(forms(&[Role::Poc, Role::RegistryOfficer]), (false, false));
        assert_eq!(forms(&[Role::Analyst]), (true, false));
        assert_eq!(forms(&[Role::Approver]), (true, true));
        assert_eq!(forms(&[Role::Admin]), (true, true));
        local.close().await;
    }
}
