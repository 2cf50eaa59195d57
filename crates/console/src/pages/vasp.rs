//! A VASP's trail of funds: the form, then the graph (SVG, drawn here from
//! the trail) and every transaction in a table. The read is the
//! application's operation, which records it with its purpose first.

use crate::caller::Signed;
use crate::layout::field;
use crate::web::{page, Problem};
use crate::{html, Host};
use axum::extract::{Query as QueryParams, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use pramaan_app::vasp::TrailQuery;
use pramaan_app::Operation;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new().route("/console/vasp", get(trail::<H>))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TrailForm {
    start: String,
    from: String,
    to: String,
    hops: String,
    purpose: String,
}

async fn trail<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(f): QueryParams<TrailForm>,
) -> Result<Response, Problem> {
    let form = html! {
        form.grid method="get" action="/console/vasp" {
            (field("start", "Customer, wallet or transaction hash", &f.start, "a customer id, an address, or a chain hash"))
            (field("from", "From", &f.from, "optional, e.g. 2026-03-01"))
            (field("to", "To", &f.to, "optional"))
            (field("hops", "Hops", &f.hops, "steps from the start, 3 if empty, at most 10"))
            (super::whois::purpose_field(&f.purpose))
            div { button type="submit" { "Follow the funds" } }
        }
    };
    let start = f.start.trim();
    if start.is_empty() {
        return Ok(page(&id, "Transactions", "/console/vasp", None, form));
    }
    // A hash is 0x and 64 hex digits or 64 hex digits (or a solana signature);
    // an address is 0x and 40, or a chain's own form; else a customer id.
    let hexish = |s: &str| s.bytes().all(|c| c.is_ascii_hexdigit());
    let body = start.strip_prefix("0x").unwrap_or(start);
    let (customer, wallet, tx) = if hexish(body) && body.len() == 64 || start.len() > 80 {
        (None, None, Some(start.to_owned()))
    } else if (start.starts_with("0x") && hexish(body))
        || start.starts_with("bc1")
        || (start.starts_with('T') && start.len() == 34)
        || (32..=44).contains(&start.len())
    {
        (None, Some(start.to_owned()), None)
    } else {
        (Some(start.to_owned()), None, None)
    };
    let op = TrailQuery {
        customer,
        wallet,
        tx,
        from: Some(f.from.clone()),
        to: Some(f.to.clone()),
        hops: f.hops.trim().parse().ok(),
        purpose: f.purpose.clone(),
    };
    let (flash, result) = match op.run(st.app(), &id).await {
        Ok(t) => (None, shown(&t.trail)),
        Err(e) => (Some(super::whois::flash_or_problem(e)?), html! {}),
    };
    Ok(page(
        &id,
        "Transactions",
        "/console/vasp",
        flash,
        html! { (form) (result) },
    ))
}

fn shown(t: &pramaan_app::vasp::Trail) -> crate::Markup {
    let label = |id: &str| {
        t.nodes
            .iter()
            .find(|n| n.id == id)
            .map_or(id.to_owned(), |n| n.label.clone())
    };
    html! {
        section aria-labelledby="trail" {
            h2 #trail { (t.edges.len()) " transactions between " (t.nodes.len()) " parties" }
            @if t.truncated { p.muted { "The trail was cut at its limit: narrow the window or the hops." } }
            (crate::charts::trail_graph(t))
            table {
                caption { "Every transaction on the trail, oldest first" }
                thead { tr { th { "Time (UTC)" } th { "Kind" } th { "From" } th { "To" } th { "Amount" } th { "Hash" } th { "Customer's IP" } th { "Record" } } }
                tbody {
                    @for e in &t.edges {
                        tr {
                            td { (e.tx.time) }
                            td { (e.tx.kind.as_str()) }
                            td { (label(&e.from)) }
                            td { (label(&e.to)) }
                            td.num { (e.tx.amount) " " (e.tx.asset)
                                @if let (Some(a), Some(ca)) = (&e.tx.counter_amount, &e.tx.counter_asset) { " for " (a) " " (ca) } }
                            td.mono { (e.tx.tx_hash.as_deref().unwrap_or("")) }
                            td { (e.tx.ip.as_deref().unwrap_or("")) }
                            td { @if let Some(s) = e.seq { a href=(format!("/console/records/{s}")) { "#" (s) } } }
                        }
                    }
                }
            }
            h3 { "Parties" }
            table {
                thead { tr { th { "Hop" } th { "Kind" } th { "Party" } th { "IP addresses used" } } }
                tbody { @for n in &t.nodes { tr { td.num { (n.hop) } td { (n.kind) } td.mono { (n.label) } td { (n.ips.join(", ")) } } } }
            }
        }
    }
}
