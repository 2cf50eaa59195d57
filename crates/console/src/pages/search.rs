//! Search: the form, results a page at a time (by sequence number, so a
//! page never shifts as lines arrive), downloads as NDJSON or CSV, and one
//! record's raw bytes with its inclusion proof.

use crate::caller::Signed;
use crate::layout::field;
use crate::web::{bad, internal, json_table, page, Problem};
use crate::{html, Host, Markup};
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pramaan_app::search::Search;
use pramaan_app::search_params::SearchParams;
use pramaan_app::{Caller, Operation};
use pramaan_vault::search::{self, Hit};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console/search", get(show::<H>))
        .route("/console/search/download", get(download::<H>))
        .route("/console/records/{seq}", get(record::<H>))
        .route("/console/records/{seq}/raw", get(raw::<H>))
}

/// Results per page.
pub const PAGE: usize = 50;
/// Most lines one download holds.
pub const MAX_DOWNLOAD: usize = 100_000;

/// The form's fields (all text, as typed).
#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(default)]
pub struct Form {
    from: String,
    to: String,
    host: String,
    app: String,
    ip: String,
    user: String,
    severity: String,
    q: String,
    /// The last sequence number of the previous page.
    after: Option<u64>,
    format: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Form {
    fn is_empty(&self) -> bool {
        [
            &self.from,
            &self.to,
            &self.host,
            &self.app,
            &self.ip,
            &self.user,
            &self.severity,
            &self.q,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }

    /// The search this form asks for (the API's parameters; a next page
    /// is the range after the previous page's last sequence number).
    fn params(&self, limit: usize) -> Result<Search, String> {
        let p = SearchParams {
            from: opt(&self.from),
            to: opt(&self.to),
            host: opt(&self.host),
            app: opt(&self.app),
            ip: opt(&self.ip),
            user: opt(&self.user),
            severity: opt(&self.severity),
            q: opt(&self.q),
            limit: Some(limit),
            seq: self
                .after
                .map(|a| format!("{}-{}", a.saturating_add(1), u64::MAX)),
            ..Default::default()
        };
        // Said on the form before anything runs.
        p.to_query(pramaan_core::time::now_ns())?;
        Ok(Search(p))
    }

    /// The query string of this search (for links), without paging and format.
    fn link(&self, path: &str, extra: &[(&str, String)]) -> String {
        let mut f = self.clone();
        f.after = None;
        f.format.clear();
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&serde_urlencoded::to_string(&f).unwrap_or_default())
                .unwrap_or_default();
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }
}

/// Runs the application's search for the signed-in caller.
async fn hits(app: &pramaan_app::App, who: &Caller, op: Search) -> Result<Vec<Hit>, Problem> {
    Ok(op.run(app, who).await?)
}

fn form_markup(f: &Form) -> Markup {
    html! {
        form.grid method="get" action="/console/search" role="search" {
            (field("from", "From", &f.from, "e.g. 2026-03-03T14:00:00+05:30, 2026-03-03 (IST) or 2h"))
            (field("to", "To", &f.to, "exclusive; same forms"))
            (field("host", "Host", &f.host, ""))
            (field("app", "Application", &f.app, ""))
            (field("ip", "IP address", &f.ip, "IPv4 or IPv6, anywhere in the line"))
            (field("user", "User", &f.user, ""))
            (field("severity", "Severity at least", &f.severity, "emerg … debug"))
            (field("q", "Text", &f.q, "the raw line or its structured data contains it"))
            div { button type="submit" { "Search" } }
        }
    }
}

async fn show<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(f): QueryParams<Form>,
) -> Result<Response, Problem> {
    if f.is_empty() && f.after.is_none() {
        let body = html! {
            (form_markup(&f))
            p.muted { "Give at least one field. Times without a zone are read in IST." }
        };
        return Ok(page(&id, "Search", "/console/search", None, body));
    }
    let q = match f.params(PAGE + 1) {
        Ok(q) => q,
        Err(e) => {
            let body = form_markup(&f);
            return Ok(page(
                &id,
                "Search",
                "/console/search",
                Some(crate::layout::Flash::Error(e)),
                body,
            ));
        }
    };
    let mut found = hits(st.app(), &id, q).await?;
    let more = found.len() > PAGE;
    found.truncate(PAGE);
    let body = html! {
        (form_markup(&f))
        section aria-labelledby="results" {
            h2 #results { "Results" }
            p {
                (found.len()) @if more { "+" } " line(s)"
                @if let Some(a) = f.after { " after sequence number " (a) } ". "
                "Download this search: "
                a href=(f.link("/console/search/download", &[("format", "ndjson".into())])) { "NDJSON" } ", "
                a href=(f.link("/console/search/download", &[("format", "csv".into())])) { "CSV" }
                " (up to " (MAX_DOWNLOAD) " lines)."
            }
            @if !found.is_empty() {
                table {
                    thead { tr { th.num scope="col" { "seq" } th scope="col" { "Received" } th scope="col" { "Host" } th scope="col" { "App" } th scope="col" { "Line" } } }
                    tbody {
                        @for h in &found {
                            tr {
                                td.num { a href=(format!("/console/records/{}", h.seq)) aria-label=(format!("record {}", h.seq)) { (h.seq) } }
                                td { (h.received_at_ist) br; span.muted { (h.received_at) } }
                                td { (h.host.as_deref().unwrap_or("—")) }
                                td { (h.app.as_deref().unwrap_or("—")) }
                                td.mono { (shorten(&String::from_utf8_lossy(&h.raw_bytes()), 240)) }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if f.after.is_some() {
                    a href=(f.link("/console/search", &[])) { "First page" }
                }
                @if more {
                    @if let Some(last) = found.last() {
                        a href=(f.link("/console/search", &[("after", last.seq.to_string())])) rel="next" { "Next page" }
                    }
                }
            }
        }
    };
    Ok(page(&id, "Search", "/console/search", None, body))
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n).chain(['…']).collect()
    }
}

/// Hits as CSV ([`Hit::csv_row`]: the columns and cells `pramaan search
/// --format csv` prints).
pub fn to_csv(hits: &[Hit]) -> Vec<u8> {
    let mut out = pramaan_core::csv::row(search::CSV_COLUMNS);
    for h in hits {
        out.push_str(&h.csv_row());
    }
    out.into_bytes()
}

async fn download<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(f): QueryParams<Form>,
) -> Result<Response, Problem> {
    let q = f.params(MAX_DOWNLOAD).map_err(bad)?;
    let found = hits(st.app(), &id, q).await?;
    let (body, kind, ext) = match f.format.as_str() {
        "" | "ndjson" => {
            let mut buf = Vec::new();
            for h in &found {
                serde_json::to_writer(&mut buf, h).map_err(internal)?;
                buf.push(b'\n');
            }
            (buf, "application/x-ndjson", "ndjson")
        }
        "csv" => (to_csv(&found), "text/csv; charset=utf-8", "csv"),
        other => return Err(bad(format!("format: `{other}` is not ndjson or csv"))),
    };
    let mut r = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"pramaan-search.{ext}\""))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

async fn one(app: &pramaan_app::App, who: &Caller, seq: u64) -> Result<Hit, Problem> {
    let q = Search(SearchParams {
        seq: Some(seq.to_string()),
        limit: Some(1),
        ..Default::default()
    });
    hits(app, who, q).await?.into_iter().next().ok_or_else(|| {
        Problem(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "no record with sequence number {seq} (deleted by retention, or not yet written)"
            ),
        )
    })
}

async fn record<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(seq): Path<u64>,
) -> Result<Response, Problem> {
    let h = one(st.app(), &id, seq).await?;
    let raw = h.raw_bytes();
    let proof = pramaan_app::ledger::Inclusion { seq, size: None }
        .run(st.app(), &id)
        .await;
    let fields = serde_json::to_value(&h).map_err(internal)?;
    let body = html! {
        section aria-labelledby="raw-title" {
            h2 #raw-title { "The line as received (" (raw.len()) " bytes)" }
            pre.mono { (String::from_utf8_lossy(&raw)) }
            p {
                a href=(format!("/console/records/{seq}/raw")) download=(format!("record-{seq}.bin")) { "Download the raw bytes" }
                " · SHA-256 of the raw bytes: " code { (hex_sha256(&raw)) }
            }
        }
        section aria-labelledby="proof-title" {
            h2 #proof-title { "Inclusion proof" }
            @match &proof {
                Ok(p) => {
                    p { "Record " (p.leaf_index) " is leaf " (p.leaf_index) " of the tree of " (p.tree_size) " records signed in the checkpoint below (RFC 9162 hashing)." }
                    table { tbody {
                        tr { th scope="row" { "Leaf hash" } td.mono { (p.leaf_hash) } }
                        tr { th scope="row" { "Tree size" } td { (p.tree_size) } }
                        tr { th scope="row" { "Proof (" (p.proof.len()) " hashes)" } td.mono { @for h in &p.proof { (h) br; } } }
                    } }
                    h3 { "Signed checkpoint" }
                    pre.mono { (p.checkpoint) }
                    p { a href=(format!("/api/v1/proof/inclusion?seq={seq}")) { "The proof as JSON" } " (check it offline with " code { "pramaan proof" } ")." }
                }
                Err(e) => { p.flash.error { "No proof yet: " (e) } }
            }
        }
        section aria-labelledby="fields-title" {
            h2 #fields-title { "Parsed fields" }
            (json_table(&fields))
        }
    };
    Ok(page(
        &id,
        &format!("Record {seq}"),
        "/console/search",
        None,
        body,
    ))
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

async fn raw<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Path(seq): Path<u64>,
) -> Result<Response, Problem> {
    let h = one(st.app(), &id, seq).await?;
    let mut r = (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        h.raw_bytes(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"record-{seq}.bin\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
