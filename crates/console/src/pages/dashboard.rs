//! The dashboard: one card per obligation, then the pictures (coverage
//! heatmap, clock offsets, incident windows, ingest rate); and every log
//! source a page at a time (`/console/sources`). The facts are gathered
//! here; the decisions and drawings are `pramaan_console`'s.
//!
//! The heatmap draws `console.heatmap_rows` sources, problems first
//! (`charts::rank`), and the rest as one counted "others" row: the page's
//! size follows the setting, never the number of sources a sender can
//! invent.

use crate::caller::Signed;
use crate::charts::{self, IncidentWindow, OffsetSeries, SourceDays};
use crate::dashboard::{self as cards, Card, ClockFacts, LogFacts, OpenIncident};
use crate::web::{bad, internal, page, page_refreshing, Problem};
use crate::{html, Host};
use axum::extract::{Query as QueryParams, State};
use axum::response::Response;
use pramaan_app::App;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// `console.heatmap_rows`: sources the dashboard's heatmap draws (a page of sources).
fn heatmap_rows(app: &App) -> usize {
    app.config().console.heatmap_rows.max(1)
}

/// The heatmap's width in days (the retention window the directions set).
pub const COVERAGE_DAYS: usize = 180;
const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;

pub(super) async fn show<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
) -> Result<Response, Problem> {
    let now = pramaan_core::time::now_ns();
    let today = charts::ist_day(now);
    // The charts read the sealed segments: with the store away they cannot
    // be drawn, but the cards (which say why) still are.
    let (coverage, rate, charts_error) =
        match (coverage(&*st, now).await, ingest_rate(&*st, now).await) {
            (Ok(c), Ok(r)) => (c, r, None),
            (c, r) => {
                let why = [c.as_ref().err(), r.as_ref().err()]
                    .into_iter()
                    .flatten()
                    .next()
                    .map(|p| p.1.clone())
                    .unwrap_or_default();
                (c.unwrap_or_default(), r.unwrap_or_default(), Some(why))
            }
        };
    let coverage = charts::rank(coverage, today, COVERAGE_DAYS);
    let shown = &coverage[..coverage.len().min(heatmap_rows(st.app()))];
    let others = charts::others(&coverage[shown.len()..], today, COVERAGE_DAYS);

    let clock = st.app().clock().status();
    let series = offset_series(&*st, now - DAY_NS);
    let (incident_card, windows) = incidents(&*st, now);
    let mut list: Vec<Card> = vec![
        cards::clock_card(&clock_facts(&clock)),
        incident_card,
        cards::poc_card(&poc_facts(&*st, now)),
        cards::logs_card(&log_facts(&*st, &coverage, today, charts_error.clone())),
        cards::subscribers_card(&subscriber_facts(&*st).await),
        orders_card(&*st, now),
        alerts_card(&*st),
    ];
    // Worst first: what needs acting on is at the top.
    list.sort_by_key(|c| std::cmp::Reverse(c.level));
    let body = html! {
        section aria-labelledby="obligations" {
            h2 #obligations { "Obligations" }
            p.muted { "As of " (crate::when(now)) "." }
            (cards::cards(&list))
        }
        section aria-labelledby="incident-windows" {
            h2 #incident-windows { "Incidents not yet reported" }
            @if windows.is_empty() {
                p { "None: every incident has been reported." }
            } @else {
                (charts::incident_bars(&windows, now))
            }
        }
        section #coverage aria-labelledby="coverage-title" {
            h2 #coverage-title { "Log coverage, last " (COVERAGE_DAYS) " days" }
            @if let Some(why) = &charts_error {
                p.flash.error { "The coverage could not be read: " (why) }
            } @else if coverage.is_empty() {
                p { "No log line yet." }
            } @else {
                (charts::heatmap(shown, others.as_ref(), today, COVERAGE_DAYS))
                p.others {
                    (coverage.len()) " source(s), problems first: silent today, then with silent days, then the busiest. "
                    @if let Some(o) = &others {
                        strong { (o.sources) " source(s) not shown" }
                        " (" (o.silent_today) " of them silent today): "
                        a href="/console/sources?page=2" { "the next page of sources" } ". "
                    }
                    a href="/console/sources" { "Every source, as a table" } "."
                }
            }
        }
        section aria-labelledby="clock-title" {
            h2 #clock-title { "Clock offset, last 24 hours" }
            @if series.is_empty() {
                p { "No clock measurement in the last 24 hours"
                    @if !clock.enabled { " (the clock monitor is off: clock.enabled = false)" } "." }
            } @else {
                (charts::offset_chart(&series, clock.threshold_ms, now - DAY_NS, now))
            }
        }
        section aria-labelledby="rate-title" {
            h2 #rate-title { "Lines received per hour, last 24 hours" }
            (charts::ingest_rate(&rate, HOUR_NS))
        }
    };
    Ok(page_refreshing(
        &id,
        "Dashboard",
        "/console",
        None,
        body,
        Some(60),
    ))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct SourcesParams {
    page: String,
}

/// Every log source of the coverage window, `console.heatmap_rows` a page,
/// ranked as on the dashboard: the heatmap of the page and the same rows as a table.
pub(super) async fn sources<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    QueryParams(p): QueryParams<SourcesParams>,
) -> Result<Response, Problem> {
    let page_no: usize = match p.page.trim() {
        "" => 1,
        t => t
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad(format!("page: `{t}` is not a page number (1, 2, ...)")))?,
    };
    let now = pramaan_core::time::now_ns();
    let today = charts::ist_day(now);
    let ranked = charts::rank(coverage(&*st, now).await?, today, COVERAGE_DAYS);
    let per = heatmap_rows(st.app());
    let pages = ranked.len().div_ceil(per).max(1);
    let from = (page_no - 1).saturating_mul(per).min(ranked.len());
    let rows = &ranked[from..(from + per).min(ranked.len())];
    let silent = charts::silent_today(&ranked, today, COVERAGE_DAYS).len();
    let summaries: Vec<_> = rows
        .iter()
        .map(|s| charts::summary(s, today, COVERAGE_DAYS))
        .collect();
    let link = |n: usize| format!("/console/sources?page={n}");
    let body = html! {
        p {
            (ranked.len()) " source(s) sent lines in the last " (COVERAGE_DAYS) " days; "
            strong { (silent) " silent today" } ". "
            "Problems first: silent today (longest silence first), then with silent days, then the busiest. "
            "Page " (page_no) " of " (pages) ", " (per) " a page (console.heatmap_rows)."
        }
        @if rows.is_empty() {
            p { "No source on this page. " a href=(link(1)) { "The first page" } "." }
        } @else {
            (charts::heatmap(rows, None, today, COVERAGE_DAYS))
            (charts::sources_table(&summaries, from + 1))
        }
        nav.pager aria-label="Pages" {
            @if page_no > 1 { a href=(link(page_no - 1)) rel="prev" { "Previous page" } }
            @if page_no < pages { a href=(link(page_no + 1)) rel="next" { "Next page" } }
        }
    };
    Ok(page(&id, "Log sources", "/console", None, body))
}

/// The orders not yet delivered or closed, with their time to the due instant.
fn orders_card(st: &impl Host, now: i64) -> Card {
    use pramaan_orders::State as S;
    let listed = st
        .app()
        .orders()
        .open()
        .map_err(|e| e.to_string())
        .and_then(|r| r.list().map_err(|e| e.to_string()));
    match listed {
        Ok(all) => {
            let open: Vec<cards::OpenOrder> = all
                .iter()
                .filter(|o| !matches!(o.state, S::Delivered | S::Closed))
                .map(|o| cards::OpenOrder {
                    reference: o.reference.clone(),
                    state: o.state.as_str().to_owned(),
                    left_ns: o.due_at_ns - now,
                })
                .collect();
            cards::orders_card(Ok(&open))
        }
        Err(e) => cards::orders_card(Err(&e)),
    }
}

fn alerts_card(st: &impl Host) -> Card {
    let firing = st
        .app()
        .desk()
        .desk()
        .map_err(|e| e.to_string())
        .and_then(|d| d.alerts().map_err(|e| e.to_string()))
        .map(|all| {
            all.into_iter()
                .filter(|a| a.firing())
                .map(|a| cards::FiringAlert {
                    key: a.key,
                    summary: a.summary,
                    acked: a.acked_by.is_some(),
                })
                .collect::<Vec<_>>()
        });
    cards::alerts_card(firing.as_deref().map_err(String::as_str))
}

fn clock_facts(s: &pramaan_clock::Status) -> ClockFacts {
    ClockFacts {
        enabled: s.enabled,
        servers_configured: s.servers_configured.len(),
        within_threshold: s.within_threshold,
        threshold_ms: s.threshold_ms,
        worst_offset_ms: s
            .servers
            .iter()
            .filter(|v| v.state == "ok")
            .filter_map(|v| v.offset_ms.map(f64::abs))
            .reduce(f64::max),
        failing: s
            .servers
            .iter()
            .filter(|v| v.state != "ok")
            .map(|v| (v.server.clone(), v.state.clone()))
            .collect(),
        flagged_sources: s.flagged_sources,
        store_error: s.store_error.clone(),
    }
}

/// Offsets per server since `from` from `clock.db` (read-only; absent when the monitor never ran).
pub(super) fn offset_series(st: &impl Host, from: i64) -> Vec<OffsetSeries> {
    let path = &st.app().clock().options().db_path;
    if !path.exists() {
        return Vec::new();
    }
    let points = match pramaan_clock::store::Store::open_read_only(path)
        .and_then(|s| s.samples_since(from))
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading the clock series");
            return Vec::new();
        }
    };
    let mut by: BTreeMap<String, Vec<(i64, Option<f64>)>> = BTreeMap::new();
    for p in points {
        let v = (p.state == "ok")
            .then_some(p.offset_ns)
            .flatten()
            .map(|o| o as f64 / 1e6);
        by.entry(p.server).or_default().push((p.at_ns, v));
    }
    by.into_iter()
        .map(|(server, points)| OffsetSeries { server, points })
        .collect()
}

fn incidents(st: &impl Host, now: i64) -> (Card, Vec<IncidentWindow>) {
    let list = match st.app().desk().desk().map(|d| d.list()) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "listing incidents");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let open: Vec<_> = list
        .iter()
        .filter(|i| i.first_reported_at_ns.is_none() && i.closed_at_ns.is_none())
        .collect();
    let card = cards::incidents_card(
        &open
            .iter()
            .map(|i| OpenIncident {
                id: i.id,
                title: i.fields.title.clone(),
                left_ns: i.deadline_ns - now,
            })
            .collect::<Vec<_>>(),
    );
    let windows = open
        .iter()
        .map(|i| IncidentWindow {
            id: i.id,
            title: i.fields.title.clone(),
            clock_start_ns: i.clock_start_ns,
            deadline_ns: i.deadline_ns,
        })
        .collect();
    (card, windows)
}

fn poc_facts(st: &impl Host, now: i64) -> cards::PocFacts {
    match st.app().desk().poc_view(now) {
        Some(v) => cards::PocFacts {
            set: true,
            name: v.record.poc.name.clone(),
            missing: v.missing.clone(),
            warning: v.warning.clone(),
        },
        None => cards::PocFacts::default(),
    }
}

fn log_facts(
    st: &impl Host,
    coverage: &[SourceDays],
    today: i64,
    coverage_error: Option<String>,
) -> LogFacts {
    let policy = st.app().retention().policy();
    let stats = st.app().vault().stats();
    LogFacts {
        retention_days: policy
            .classes
            .iter()
            .map(|c| c.days)
            .chain([policy.default_days])
            .min()
            .unwrap_or(policy.default_days),
        retention_compliant: policy.compliant(),
        committed_records: st.app().vault().committed(),
        silent_sources: charts::silent_today(coverage, today, COVERAGE_DAYS),
        wal_errors: stats.wal_errors.load(Relaxed),
        seal_errors: stats.seal_errors.load(Relaxed),
        kept_in: st.app().vault().objects().describe(),
        location: Some(st.app().vault().objects().location().clone()),
        store_error: st
            .app()
            .vault()
            .objects()
            .requests()
            .last_error()
            .filter(|e| pramaan_core::time::now_ns() - e.at_ns < HOUR_NS),
        coverage_error,
    }
}

async fn subscriber_facts(st: &impl Host) -> cards::SubscriberFacts {
    let reg = match st.app().registry().get().await {
        Ok(r) => r,
        Err(e) => {
            return cards::SubscriberFacts {
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    match (reg.count().await, reg.completeness().await) {
        (Ok(total), Ok(incomplete)) => cards::SubscriberFacts {
            error: None,
            total,
            incomplete: incomplete.len() as u64,
        },
        (Err(e), _) | (_, Err(e)) => cards::SubscriberFacts {
            error: Some(e.to_string()),
            ..Default::default()
        },
    }
}

/// Rows of a SQL answer as JSON objects.
async fn sql_rows(st: &impl Host, q: &str) -> Result<Vec<serde_json::Value>, Problem> {
    let batches = pramaan_vault::sql::run(st.app().vault(), q)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "a dashboard query failed");
            Problem(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                e.client_message(),
            )
        })?;
    let nd = pramaan_vault::sql::to_ndjson(&batches).map_err(internal)?;
    Ok(nd
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
}

/// Lines per source (the syslog host, else the sender's address without
/// its port: one source per sender, not per connection) per IST day of the
/// line's own time (else the time received), over the window. Only
/// segments received within the window plus a day are read.
pub(super) async fn coverage(st: &impl Host, now: i64) -> Result<Vec<SourceDays>, Problem> {
    let ist = i64::from(pramaan_core::time::IST_OFFSET_SECS) * 1_000_000_000;
    let since = now - (COVERAGE_DAYS as i64 + 1) * DAY_NS;
    let q = format!(
        "SELECT {source} AS source, \
                (CAST(COALESCE(event_time, received_at) AS BIGINT) + {ist}) / {DAY_NS} AS day, \
                COUNT(*) AS n \
         FROM logs WHERE transport <> 'internal' AND CAST(received_at AS BIGINT) >= {since} \
         GROUP BY 1, 2",
        source = pramaan_app::alerting::SOURCE_SQL
    );
    let first = charts::ist_day(now) - COVERAGE_DAYS as i64 + 1;
    let mut by: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for r in sql_rows(st, &q).await? {
        let (Some(src), Some(day), Some(n)) = (
            r.get("source").and_then(|v| v.as_str()),
            r.get("day").and_then(|v| v.as_i64()),
            r.get("n").and_then(|v| v.as_u64()),
        ) else {
            continue;
        };
        if day >= first {
            by.entry(src.to_owned()).or_default().push((day, n));
        }
    }
    Ok(by
        .into_iter()
        .map(|(source, counts)| SourceDays { source, counts })
        .collect())
}

/// Lines received per hour over the last 24 hours (24 buckets, oldest first).
async fn ingest_rate(st: &impl Host, now: i64) -> Result<Vec<(i64, u64)>, Problem> {
    let last = now.div_euclid(HOUR_NS);
    let since = (last - 23) * HOUR_NS;
    let q = format!(
        "SELECT CAST(received_at AS BIGINT) / {HOUR_NS} AS h, COUNT(*) AS n FROM logs \
         WHERE transport <> 'internal' AND CAST(received_at AS BIGINT) >= {since} GROUP BY 1"
    );
    let mut counts: BTreeMap<i64, u64> = (last - 23..=last).map(|h| (h, 0)).collect();
    for r in sql_rows(st, &q).await? {
        if let (Some(h), Some(n)) = (
            r.get("h").and_then(|v| v.as_i64()),
            r.get("n").and_then(|v| v.as_u64()),
        ) {
            if let Some(c) = counts.get_mut(&h) {
                *c += n;
            }
        }
    }
    Ok(counts.into_iter().map(|(h, n)| (h * HOUR_NS, n)).collect())
}
