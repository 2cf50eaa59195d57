//! Lawful orders in the browser: the register with each deadline, a new
//! order, one order with its history, approve (a second user), export and
//! download the bundle, deliver and close. Each form runs the same
//! operation as `/api/v1/orders` (`pramaan_app::orders`) for the signed-in
//! user; these pages only read forms and render.

use crate::caller::Signed;
use crate::layout::Flash;
use crate::web::{
    correctable, csrf, get1, may, page, page_refreshing, pairs, see_other, with_query, FlashParams,
    Problem,
};
use crate::{html, when, Host, Markup};
use axum::body::Bytes;
use axum::extract::{Query as QueryParams, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use pramaan_app::orders::{
    ApproveOrder, CloseOrder, DeliverOrder, ExportOrder, ListOrders, OrderView, RegisterOrder,
    ShowOrder, Step, StepOperation,
};
use pramaan_app::{App, Caller as Identity, Operation};
use pramaan_core::time::now_ns;
use pramaan_orders::store::Order;
use pramaan_orders::State as OrderState;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/orders", get(list::<H>).post(create::<H>))
        .route("/console/orders/new", get(new_form))
        .route("/console/orders/show", get(show::<H>))
        .route("/console/orders/approve", post(step::<H, ApproveOrder>))
        .route("/console/orders/export", post(export::<H>))
        .route("/console/orders/deliver", post(step::<H, DeliverOrder>))
        .route("/console/orders/close", post(step::<H, CloseOrder>))
}

/// The order page's address (references contain `/`: in the query).
fn order_path(reference: &str) -> String {
    with_query("/console/orders/show", "reference", reference)
}

/// The order page with a message (`ok` or `error`) to show.
fn order_flash(reference: &str, key: &str, msg: &str) -> String {
    format!(
        "/console/orders/show?{}",
        serde_urlencoded::to_string([("reference", reference), (key, msg)]).unwrap_or_default()
    )
}

/// A list field: one value a line, or separated by commas (texts: a line each,
/// as a text may hold a comma).
fn list_of(p: &[(String, String)], k: &str) -> Vec<String> {
    let v = get1(p, k);
    let parts: Vec<&str> = if k == "texts" {
        v.lines().collect()
    } else {
        v.split([',', '\n']).collect()
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether to offer registering, exporting, delivering and closing: the
/// access table's row for the forms they post.
fn can_write(app: &App, id: &Identity) -> bool {
    may(app, id, "POST", "/console/orders")
}

/// Whether to offer the approval (the four-eyes rule itself is the operation's).
fn can_approve(app: &App, id: &Identity) -> bool {
    may(app, id, "POST", "/console/orders/approve")
}

fn is_open(o: &Order) -> bool {
    !matches!(o.state, OrderState::Delivered | OrderState::Closed)
}

/// The deadline as the list and the order page show it (overdue in bold).
fn time_left(o: &Order, now: i64) -> Markup {
    let text = o.deadline_text(now);
    html! {
        @if is_open(o) && o.due_at_ns < now { strong.overdue { (text) } } @else { (text) }
    }
}

async fn list<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(fl): QueryParams<FlashParams>,
) -> Result<Response, Problem> {
    let orders: Vec<Order> = ListOrders {}
        .run(st.app(), &id)
        .await
        .map_err(Problem::from)?
        .into_iter()
        .map(|v| v.order)
        .collect();
    let now = now_ns();
    let body = html! {
        @if can_write(st.app(), &id) { p { a.button href="/console/orders/new" { "Register a new order" } } }
        table.orders {
            thead { tr {
                th scope="col" { "Reference" } th scope="col" { "Authority" } th scope="col" { "State" }
                th scope="col" { "Due (IST, UTC)" } th scope="col" { "Time left" }
            } }
            tbody {
                @for o in &orders {
                    tr data-reference=(o.reference) data-state=(o.state.as_str()) {
                        td { a href=(order_path(&o.reference)) { (o.reference) } }
                        td { (o.authority) }
                        td { (o.state.as_str()) }
                        td { (when(o.due_at_ns)) }
                        td { (time_left(o, now)) }
                    }
                }
            }
        }
        @if orders.is_empty() { p { "No order yet." } }
    };
    Ok(page_refreshing(
        &id,
        "Orders",
        "/console/orders",
        fl.flash(),
        body,
        Some(60),
    ))
}

fn field(name: &str, label: &str, hint: &str, required: bool, value: &str) -> Markup {
    let id = format!("f-{name}");
    let hint_id = format!("{id}-hint");
    html! {
        div {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(value) required[required] aria-describedby=(hint_id);
            small.muted id=(hint_id) { (hint) }
        }
    }
}

fn area(name: &str, label: &str, hint: &str, value: &str) -> Markup {
    let id = format!("f-{name}");
    let hint_id = format!("{id}-hint");
    html! {
        div {
            label for=(id) { (label) }
            textarea id=(id) name=(name) rows="2" aria-describedby=(hint_id) { (value) }
            small.muted id=(hint_id) { (hint) }
        }
    }
}

const TIME_HINT: &str =
    "RFC 3339 (2026-03-03T14:02:11+05:30), a date or time read in IST, or an age like 2h.";

/// The new-order form, refilled with what was posted when it is refused.
fn order_form(id: &Identity, p: &[(String, String)]) -> Markup {
    let v = |k: &str| get1(p, k).to_owned();
    let hold = p.is_empty() || get1(p, "hold") == "on";
    html! {
        form.stack method="post" action="/console/orders" {
            (csrf(id))
            (field("reference", "Reference", "As written on the order, e.g. CERT-In/2026/042.", true, &v("reference")))
            (field("authority", "Authority", "Who issued it.", true, &if p.is_empty() { "CERT-In".into() } else { v("authority") }))
            (field("received", "Received", &format!("When it reached us (empty: now). {TIME_HINT}"), false, &v("received")))
            (field("due", "Due", &format!("When the answer is due. {TIME_HINT}"), true, &v("due")))
            fieldset {
                legend { "Scope" }
                (field("from", "Window from", TIME_HINT, true, &v("from")))
                (field("to", "Window to", TIME_HINT, true, &v("to")))
                (area("sources", "Sources", "Log sources (the address that sent the lines), comma-separated or a line each; empty: all.", &v("sources")))
                (area("hosts", "Hosts", "Host names in the lines; empty: all.", &v("hosts")))
                (area("ips", "IP addresses", "Addresses or ranges (192.0.2.1, 198.51.100.0/24), with an optional port (192.0.2.1:443).", &v("ips")))
                (area("subscribers", "Subscribers", "Subscriber IDs: their records go into the bundle (personal data: a second user must approve).", &v("subscribers")))
                (area("texts", "Texts", "Words the lines contain, a line each.", &v("texts")))
                (area("wallets", "Wallets", "VASP: wallet addresses; the transactions from or to them go into the bundle.", &v("wallets")))
                (area("transactions", "Transactions", "VASP: chain transaction hashes; the transactions carrying them go into the bundle.", &v("transactions")))
            }
            (area("legal_basis", "Legal basis", "The section and direction the order cites.", &v("legal_basis")))
            (area("notes", "Notes", "Anything else.", &v("notes")))
            div {
                input #f-hold type="checkbox" name="hold" value="on" checked[hold];
                " "
                label.inline for="f-hold" { "Place legal holds on the window (recommended)" }
            }
            div { button type="submit" { "Register the order" } }
        }
    }
}

async fn new_form(Signed(id): Signed) -> Result<Response, Problem> {
    Ok(page(
        &id,
        "Register a new order",
        "/console/orders",
        None,
        order_form(&id, &[]),
    ))
}

async fn create<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    body: Bytes,
) -> Result<Response, Problem> {
    let p = pairs(&body);
    let opt = |k: &str| Some(get1(&p, k).trim().to_owned()).filter(|s| !s.is_empty());
    let b = RegisterOrder {
        reference: get1(&p, "reference").to_owned(),
        authority: opt("authority").unwrap_or_else(|| "CERT-In".into()),
        received: opt("received"),
        due: get1(&p, "due").trim().to_owned(),
        from: get1(&p, "from").trim().to_owned(),
        to: get1(&p, "to").trim().to_owned(),
        sources: list_of(&p, "sources"),
        hosts: list_of(&p, "hosts"),
        ips: list_of(&p, "ips"),
        subscribers: list_of(&p, "subscribers"),
        texts: list_of(&p, "texts"),
        wallets: list_of(&p, "wallets"),
        transactions: list_of(&p, "transactions"),
        legal_basis: get1(&p, "legal_basis").trim().to_owned(),
        notes: get1(&p, "notes").trim().to_owned(),
        hold: get1(&p, "hold") == "on",
    };
    Ok(match b.run(st.app(), &id).await {
        Ok(OrderView { order: o, .. }) => {
            let holds = if o.holds.is_empty() {
                String::new()
            } else {
                format!(" {} legal hold(s) placed.", o.holds.len())
            };
            see_other(&order_flash(
                &o.reference,
                "ok",
                &format!("Order {} registered.{holds}", o.reference),
            ))
        }
        Err(e) => page(
            &id,
            "Register a new order",
            "/console/orders",
            Some(Flash::Error(format!("Not registered: {}", correctable(e)?))),
            order_form(&id, &p),
        ),
    })
}

#[derive(Deserialize)]
struct ShowParams {
    reference: String,
    ok: Option<String>,
    error: Option<String>,
}

/// A form posting to `action` with the reference (and what else `extra` adds).
fn step_form(id: &Identity, action: &str, reference: &str, extra: Markup, label: &str) -> Markup {
    html! {
        form.step method="post" action=(action) {
            (csrf(id))
            input type="hidden" name="reference" value=(reference);
            (extra)
            button type="submit" { (label) }
        }
    }
}

fn note_field(action: &str) -> Markup {
    let id = format!("f-{action}-note");
    html! { div { label for=(id) { "Note" } input id=(id) name="note" type="text"; } }
}

async fn show<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(q): QueryParams<ShowParams>,
) -> Result<Response, Problem> {
    let shown = ShowOrder {
        reference: q.reference,
    }
    .run(st.app(), &id)
    .await
    .map_err(Problem::from)?;
    let (o, events) = (shown.view.order, shown.events);
    let now = now_ns();
    let (write, approve) = (can_write(st.app(), &id), can_approve(st.app(), &id));
    let personal = o.scope.names_subscribers();
    let join = |v: &[String]| {
        if v.is_empty() {
            "any".to_string()
        } else {
            v.join(", ")
        }
    };
    let ips: Vec<String> = o.scope.ips.iter().map(|i| i.to_string()).collect();
    let reference = o.reference.as_str();
    let body = html! {
        section aria-labelledby="deadline" {
            h2 #deadline { "Deadline" }
            p.countdown role="status" { (time_left(&o, now)) }
            p { "Due " strong { (when(o.due_at_ns)) } "; received " (when(o.received_at_ns)) "." }
        }
        section aria-labelledby="details" {
            h2 #details { "The order" }
            table { tbody {
                tr { th scope="row" { "State" } td #state { (o.state.as_str()) } }
                tr { th scope="row" { "Authority" } td { (o.authority) } }
                tr { th scope="row" { "Legal basis" } td { (o.legal_basis) } }
                tr { th scope="row" { "Window" } td { (when(o.scope.from_ns)) " to " (when(o.scope.to_ns)) } }
                tr { th scope="row" { "Sources" } td { (join(&o.scope.sources)) } }
                tr { th scope="row" { "Hosts" } td { (join(&o.scope.hosts)) } }
                tr { th scope="row" { "IP addresses" } td { (join(&ips)) } }
                tr { th scope="row" { "Subscribers" } td { (join(&o.scope.subscribers)) } }
                tr { th scope="row" { "Texts" } td { (join(&o.scope.texts)) } }
                @if !o.scope.wallets.is_empty() { tr { th scope="row" { "Wallets" } td { (join(&o.scope.wallets)) } } }
                @if !o.scope.transactions.is_empty() { tr { th scope="row" { "Transactions" } td { (join(&o.scope.transactions)) } } }
                tr { th scope="row" { "Notes" } td { (o.notes) } }
                tr { th scope="row" { "Registered by" } td { (o.registered_by) " at " (when(o.registered_at_ns)) } }
                tr { th scope="row" { "Approved by" } td { @if let (Some(b), Some(t)) = (&o.approved_by, o.approved_at_ns) { (b) " at " (when(t)) } @else { span.muted { "not yet" } } } }
                tr { th scope="row" { "Legal holds" } td { @if o.holds.is_empty() { span.muted { "none" } } @else { (o.holds.iter().map(|h| format!("#{h}")).collect::<Vec<_>>().join(", ")) " " a href="/console/holds" { "(see the holds)" } } } }
            } }
        }
        section aria-labelledby="act" {
            h2 #act { "Act on it" }
            @if o.state == OrderState::Closed {
                p { "This order is closed." }
            }
            @if o.state == OrderState::Received {
                @if approve {
                    (step_form(&id, "/console/orders/approve", reference, note_field("approve"), "Approve the order"))
                    p.muted { "Four eyes: the user who registered the order (" (o.registered_by) ") cannot approve it." }
                } @else {
                    p.muted { "Approval: a user with the approver role, other than " (o.registered_by) "." }
                }
            }
            @if !write && o.state != OrderState::Closed {
                p.muted #no-steps { "Export, delivery and closing are for analysts and the point of contact." }
            }
            @if write && matches!(o.state, OrderState::Received | OrderState::Approved | OrderState::Exported) {
                @if o.state == OrderState::Received && personal {
                    p.muted { "The scope names subscribers: the bundle can be exported once a second user approved the order." }
                } @else {
                    (step_form(&id, "/console/orders/export", reference, html! {}, "Export and download the bundle"))
                    p.muted { "A ZIP with the records in scope, their inclusion proofs and the signed checkpoint; check it with " code { "pramaan verify-bundle" } "." }
                }
            }
            @if write && o.state == OrderState::Exported {
                (step_form(&id, "/console/orders/deliver", reference, note_field("deliver"), "Mark as delivered"))
            }
            @if write && o.state != OrderState::Closed {
                (step_form(&id, "/console/orders/close", reference, html! {
                    (note_field("close"))
                    @if !o.holds.is_empty() {
                        div {
                            input #f-release_hold type="checkbox" name="release_hold" value="on";
                            " "
                            label.inline for="f-release_hold" { "Release the order's legal holds" }
                        }
                    }
                }, "Close the order"))
            }
        }
        section aria-labelledby="history" {
            h2 #history { "History" }
            table { thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Ledger" } } }
                tbody { @for e in &events { tr {
                    td { (when(e.at_ns)) } td { (e.actor) } td { (e.action) }
                    td { @if let Some(s) = e.ledger_seq { (s) } @else { span.muted { "pending" } } }
                } } } }
        }
        p { a href="/console/orders" { "All orders" } }
    };
    let fl = FlashParams {
        ok: q.ok,
        error: q.error,
    };
    Ok(page(
        &id,
        &format!("Order {}", o.reference),
        "/console/orders",
        fl.flash(),
        body,
    ))
}

/// Approve, deliver or close from a form, as the signed-in user; back to
/// the order, saying what happened.
async fn step<H: Host, O: StepOperation>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    body: Bytes,
) -> Result<Response, Problem> {
    let p = pairs(&body);
    let reference = get1(&p, "reference").to_owned();
    let step = Step {
        reference: reference.clone(),
        note: get1(&p, "note").trim().to_owned(),
        release_hold: get1(&p, "release_hold") == "on",
    };
    let done = O::ACTION.past();
    Ok(match O::from(step).run(st.app(), &id).await {
        Ok(v) => see_other(&order_flash(
            &reference,
            "ok",
            &format!("Order {} {done}.", v.order.reference),
        )),
        Err(e) => see_other(&order_flash(
            &reference,
            "error",
            &format!("Not {done}: {}", correctable(e)?),
        )),
    })
}

/// The bundle as a download; a refusal goes back to the order page.
async fn export<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    body: Bytes,
) -> Result<Response, Problem> {
    let p = pairs(&body);
    let reference = get1(&p, "reference").to_owned();
    Ok(
        match (ExportOrder {
            reference: reference.clone(),
        })
        .run(st.app(), &id)
        .await
        {
            Ok(bundle) => {
                let mut r = st.bundle_download(bundle);
                r.headers_mut().insert(
                    axum::http::header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_static("no-store"),
                );
                r
            }
            Err(e) => see_other(&order_flash(
                &reference,
                "error",
                &format!("Not exported: {}", correctable(e)?),
            )),
        },
    )
}
