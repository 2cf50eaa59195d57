//! Pictures drawn on the server as SVG, each a pure function of its data:
//! the coverage heatmap, NTP offset over time with the threshold band, one
//! bar per unreported incident's 6-hour window, and the ingest rate.
//! Every shape carries a `<title>` (read by screen readers and shown on
//! hover) and `data-*` attributes naming what it stands for, and each chart
//! has a text alternative.

use maud::{html, Markup};

const DAY_NS: i64 = 86_400_000_000_000;
const IST_NS: i64 = pramaan_core::time::IST_OFFSET_SECS as i64 * 1_000_000_000;

/// The IST calendar day of a time, as days since 1970-01-01 (IST).
pub fn ist_day(ns: i64) -> i64 {
    (ns + IST_NS).div_euclid(DAY_NS)
}

/// `2026-03-03` for an IST day number.
pub fn day_label(day: i64) -> String {
    pramaan_core::time::ts(day * DAY_NS)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Lines one source sent on each IST day (days without lines may be absent).
#[derive(Clone, Debug)]
pub struct SourceDays {
    pub source: String,
    pub counts: Vec<(i64, u64)>,
}

/// What a heatmap cell shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Before the source's first line in the window: nothing expected.
    Before,
    /// No line on a day after the source had started sending: stands out.
    Silent,
    /// Lines, shaded by order of magnitude (1: 1-9 lines, ... 4: 1,000 or more).
    Lines(u8),
}

impl Cell {
    pub fn class(self) -> &'static str {
        match self {
            Cell::Before => "before",
            Cell::Silent => "silent",
            Cell::Lines(1) => "l1",
            Cell::Lines(2) => "l2",
            Cell::Lines(3) => "l3",
            Cell::Lines(_) => "l4",
        }
    }
}

/// Lines per day of one source over `days` days ending with `last_day` (oldest first).
fn per_day(s: &SourceDays, last_day: i64, days: usize) -> Vec<u64> {
    let first_day = last_day - days as i64 + 1;
    let mut v = vec![0u64; days];
    for (d, n) in &s.counts {
        if (first_day..=last_day).contains(d) {
            v[(d - first_day) as usize] += n;
        }
    }
    v
}

/// The cells of one source over `days` days ending with `last_day` (oldest first).
pub fn coverage_row(s: &SourceDays, last_day: i64, days: usize) -> Vec<(i64, u64, Cell)> {
    let first_day = last_day - days as i64 + 1;
    let v = per_day(s, last_day, days);
    let first_seen = v.iter().position(|n| *n > 0);
    v.into_iter()
        .enumerate()
        .map(|(i, n)| {
            let cell = match (n, first_seen) {
                (0, Some(f)) if i > f => Cell::Silent,
                (0, _) => Cell::Before,
                (n, _) => Cell::Lines((n.ilog10() + 1).min(4) as u8),
            };
            (first_day + i as i64, n, cell)
        })
        .collect()
}

/// What one source's row says: what ranks it and what the sources table shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSummary {
    pub source: String,
    /// Lines in the window.
    pub lines: u64,
    /// Days without a line after the source's first line in the window.
    pub silent_days: usize,
    /// No line on the last day, after lines earlier in the window.
    pub silent_today: bool,
    /// Days since the last line (0: lines on the last day).
    pub silent_for: usize,
    /// The last day with lines in the window.
    pub last_day: Option<i64>,
}

/// The summary of one source's row.
pub fn summary(s: &SourceDays, last_day: i64, days: usize) -> SourceSummary {
    let first_day = last_day - days as i64 + 1;
    let v = per_day(s, last_day, days);
    let first = v.iter().position(|n| *n > 0);
    let last = v.iter().rposition(|n| *n > 0);
    let silent_days = match first {
        Some(f) => v[f..].iter().filter(|n| **n == 0).count(),
        None => 0,
    };
    let silent_for = last.map(|l| days - 1 - l).unwrap_or(0);
    SourceSummary {
        source: s.source.clone(),
        lines: v.iter().sum(),
        silent_days,
        silent_today: silent_for > 0,
        silent_for,
        last_day: last.map(|l| first_day + l as i64),
    }
}

/// The sources, problems first, so that a capped picture never hides one:
/// silent on the last day (longest silence first), then with silent days in
/// the window (most first), then the busiest; ties by name.
pub fn rank(sources: Vec<SourceDays>, last_day: i64, days: usize) -> Vec<SourceDays> {
    let mut keyed: Vec<(SourceSummary, SourceDays)> = sources
        .into_iter()
        .map(|s| (summary(&s, last_day, days), s))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        b.silent_today
            .cmp(&a.silent_today)
            .then(b.silent_for.cmp(&a.silent_for))
            .then(b.silent_days.cmp(&a.silent_days))
            .then(b.lines.cmp(&a.lines))
            .then_with(|| a.source.cmp(&b.source))
    });
    keyed.into_iter().map(|(_, s)| s).collect()
}

/// Sources whose row ends in silence: lines earlier in the window, none on `last_day`.
pub fn silent_today(sources: &[SourceDays], last_day: i64, days: usize) -> Vec<String> {
    sources
        .iter()
        .filter(|s| summary(s, last_day, days).silent_today)
        .map(|s| s.source.clone())
        .collect()
}

/// The sources a capped heatmap leaves out, drawn as one row of their lines added up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Others {
    /// How many sources.
    pub sources: usize,
    /// How many of them are silent on the last day.
    pub silent_today: usize,
    /// Their lines per day, added up.
    pub counts: Vec<(i64, u64)>,
}

/// The "others" row for `rest`, or None when nothing is left out.
pub fn others(rest: &[SourceDays], last_day: i64, days: usize) -> Option<Others> {
    if rest.is_empty() {
        return None;
    }
    let first_day = last_day - days as i64 + 1;
    let mut v = vec![0u64; days];
    let mut silent = 0;
    for s in rest {
        for (i, n) in per_day(s, last_day, days).into_iter().enumerate() {
            v[i] += n;
        }
        silent += usize::from(summary(s, last_day, days).silent_today);
    }
    Some(Others {
        sources: rest.len(),
        silent_today: silent,
        counts: v
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (first_day + i as i64, n))
            .collect(),
    })
}

/// A day's cell is this wide; a source's row this tall (180 days fit a laptop screen).
const CELL: i64 = 6;
const ROW: i64 = 16;
const LABEL_W: i64 = 150;
/// Longest source name drawn as a label (the whole name is the row's title).
const LABEL_CHARS: usize = 22;

/// One row's cells: a grey bar for the days before the first line, then a
/// cell with its day and count for every day after.
fn heat_row(s: &SourceDays, last_day: i64, days: usize, what: &str) -> Markup {
    html! {
        rect.before x=(LABEL_W) width=(days as i64 * CELL - 1) height=(ROW - 3) {}
        @for (j, (d, n, c)) in coverage_row(s, last_day, days).into_iter().enumerate() {
            @if c != Cell::Before {
                rect class=(c.class()) x=(LABEL_W + j as i64 * CELL) width=(CELL - 1) height=(ROW - 3)
                    data-day=(day_label(d)) data-lines=(n) {
                    title { (day_label(d)) ": " (n) " lines" (what) @if c == Cell::Silent { " (silent)" } }
                }
            }
        }
    }
}

/// Sources × the last `days` IST days, a cell per source and day; with
/// `others`, a last row for the sources left out. The size grows with the
/// rows drawn, never with the number of sources.
pub fn heatmap(
    sources: &[SourceDays],
    others: Option<&Others>,
    last_day: i64,
    days: usize,
) -> Markup {
    let w = LABEL_W + days as i64 * CELL + 10;
    let rows = sources.len() + usize::from(others.is_some());
    let h = 24 + rows as i64 * ROW + 8;
    let first_day = last_day - days as i64 + 1;
    html! {
        figure {
            svg.heatmap xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}"))
                role="img" aria-labelledby="heatmap-title" {
                title #heatmap-title { "Log coverage: lines per source per IST day, " (day_label(first_day)) " to " (day_label(last_day)) }
                text x=(LABEL_W) y="12" { (day_label(first_day)) }
                text x=(w - 10) y="12" text-anchor="end" { (day_label(last_day)) }
                @for (i, s) in sources.iter().enumerate() {
                    g data-source=(s.source) transform=(format!("translate(0,{})", 20 + i as i64 * ROW)) {
                        title { (s.source) }
                        text x=(LABEL_W - 6) y=(ROW - 5) text-anchor="end" { (truncate(&s.source, LABEL_CHARS)) }
                        (heat_row(s, last_day, days, ""))
                    }
                }
                @if let Some(o) = others {
                    @let all = SourceDays { source: String::new(), counts: o.counts.clone() };
                    @let what = format!(" from {} sources", o.sources);
                    g.others data-others=(o.sources) transform=(format!("translate(0,{})", 20 + sources.len() as i64 * ROW)) {
                        title { (o.sources) " other sources, their lines added up" }
                        text x=(LABEL_W - 6) y=(ROW - 5) text-anchor="end" { "others (" (o.sources) " sources)" }
                        (heat_row(&all, last_day, days, &what))
                    }
                }
            }
            figcaption {
                "Darker green: more lines (1–9, 10–99, 100–999, 1,000 or more). "
                strong { "Red: a silent day" } " (no line after the source had started sending). Grey: before the first line."
                @if others.is_some() { " The last row adds up the sources not drawn." }
            }
        }
    }
}

/// The sources of a heatmap as a table (its text alternative), ranked from `first_rank`.
pub fn sources_table(rows: &[SourceSummary], first_rank: usize) -> Markup {
    html! {
        table.sources {
            thead { tr {
                th.num scope="col" { "#" } th scope="col" { "Source" } th scope="col" { "State" }
                th.num scope="col" { "Lines" } th.num scope="col" { "Silent days" } th scope="col" { "Last line (IST day)" }
            } }
            tbody {
                @for (i, r) in rows.iter().enumerate() {
                    tr data-source=(r.source) {
                        td.num { (first_rank + i) }
                        td.mono { (r.source) }
                        td {
                            @if r.silent_today { strong { "silent for " (r.silent_for) " day(s)" } }
                            @else if r.silent_days > 0 { "sending, with silent days" }
                            @else { "sending" }
                        }
                        td.num { (r.lines) }
                        td.num { (r.silent_days) }
                        td { (r.last_day.map(day_label).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// One NTP server's offsets over time (None: no usable answer at that time).
#[derive(Clone, Debug)]
pub struct OffsetSeries {
    pub server: String,
    pub points: Vec<(i64, Option<f64>)>,
}

/// Geometry of the offset chart: where an offset in ms lands.
#[derive(Clone, Copy, Debug)]
pub struct OffsetScale {
    pub top: f64,
    pub height: f64,
    /// The chart spans -limit_ms..+limit_ms.
    pub limit_ms: f64,
}

impl OffsetScale {
    pub fn new(series: &[OffsetSeries], threshold_ms: f64) -> Self {
        let worst = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(0.0f64, |a, b| a.max(b.abs()));
        OffsetScale {
            top: 20.0,
            height: 200.0,
            limit_ms: (threshold_ms * 1.5).max(worst * 1.1).max(1.0),
        }
    }
    pub fn y(&self, ms: f64) -> f64 {
        let ms = ms.clamp(-self.limit_ms, self.limit_ms);
        self.top + self.height / 2.0 - ms / self.limit_ms * self.height / 2.0
    }
}

const PALETTE: &[&str] = &["#1f4e9c", "#b35806", "#542788", "#01665e", "#8c510a"];

/// Offset over time per server, with the ±threshold band.
pub fn offset_chart(
    series: &[OffsetSeries],
    threshold_ms: f64,
    from_ns: i64,
    to_ns: i64,
) -> Markup {
    let sc = OffsetScale::new(series, threshold_ms);
    let (left, width) = (60.0, 720.0);
    let span = (to_ns - from_ns).max(1) as f64;
    let x = |ns: i64| left + (ns - from_ns) as f64 / span * width;
    let (band_top, band_bottom) = (sc.y(threshold_ms), sc.y(-threshold_ms));
    html! {
        figure {
            svg.offsets xmlns="http://www.w3.org/2000/svg" width="800" height="260" viewBox="0 0 800 260" role="img" aria-labelledby="offset-title" {
                title #offset-title { "Clock offset per time server, ms, with the ±" (threshold_ms) " ms band" }
                rect.band x=(left) y=(band_top) width=(width) height=(band_bottom - band_top) fill="#e3f4e8" data-threshold-ms=(threshold_ms) {
                    title { "Allowed: ±" (threshold_ms) " ms" }
                }
                line x1=(left) x2=(left + width) y1=(sc.y(0.0)) y2=(sc.y(0.0)) stroke="#888" {}
                text x=(left - 4.0) y=(band_top + 4.0) text-anchor="end" { "+" (threshold_ms) }
                text x=(left - 4.0) y=(band_bottom + 4.0) text-anchor="end" { "−" (threshold_ms) }
                text x=(left - 4.0) y=(sc.top + 4.0) text-anchor="end" { "+" (format!("{:.0}", sc.limit_ms)) }
                text x=(left - 4.0) y=(sc.top + sc.height + 4.0) text-anchor="end" { "−" (format!("{:.0}", sc.limit_ms)) }
                text x=(left) y="250" { (crate::when(from_ns)) }
                text x=(left + width) y="250" text-anchor="end" { (crate::when(to_ns)) }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = PALETTE[i % PALETTE.len()];
                    @let pts: Vec<String> = s.points.iter().filter_map(|(t, v)| v.map(|v| format!("{:.1},{:.1}", x(*t), sc.y(v)))).collect();
                    polyline fill="none" stroke=(colour) stroke-width="2" points=(pts.join(" ")) data-server=(s.server) {}
                    @for (t, v) in &s.points {
                        @match v {
                            Some(v) => {
                                circle cx=(format!("{:.1}", x(*t))) cy=(format!("{:.1}", sc.y(*v))) r="2.5" fill=(colour)
                                    class=(if v.abs() > threshold_ms { "outside" } else { "inside" }) {
                                    title { (s.server) " " (crate::when(*t)) ": " (format!("{v:.2}")) " ms" }
                                }
                            }
                            None => {
                                text.noanswer x=(format!("{:.1}", x(*t))) y=(sc.top + sc.height + 12.0) text-anchor="middle" fill="#a4161a" {
                                    "×" title { (s.server) " " (crate::when(*t)) ": no usable answer" }
                                }
                            }
                        }
                    }
                    text x=(left + width + 4.0) y=(20 + i * 14) fill=(colour) font-size="10" { (s.server) }
                }
            }
            figcaption { "Green band: within ±" (threshold_ms) " ms. × at the bottom: the server gave no usable answer." }
        }
    }
}

/// An incident whose 6-hour clock runs.
#[derive(Clone, Debug)]
pub struct IncidentWindow {
    pub id: i64,
    pub title: String,
    pub clock_start_ns: i64,
    pub deadline_ns: i64,
}

/// One bar per unreported incident: its 6-hour window, how much is used, time left.
pub fn incident_bars(incidents: &[IncidentWindow], now_ns: i64) -> Markup {
    let (left, width) = (230.0, 440.0);
    let h = 16 + incidents.len() * 30;
    html! {
        figure {
            svg.incidents xmlns="http://www.w3.org/2000/svg" width="800" height=(h) viewBox=(format!("0 0 800 {h}")) role="img" aria-labelledby="incident-bars-title" {
                title #incident-bars-title { "The 6-hour reporting window of each unreported incident" }
                @for (i, inc) in incidents.iter().enumerate() {
                    @let y = 8.0 + i as f64 * 30.0;
                    @let span = (inc.deadline_ns - inc.clock_start_ns).max(1) as f64;
                    @let used = ((now_ns - inc.clock_start_ns) as f64 / span).clamp(0.0, 1.0);
                    @let left_ns = inc.deadline_ns - now_ns;
                    @let overdue = left_ns < 0;
                    g data-incident=(inc.id) class=(if overdue { "overdue" } else { "running" }) {
                        text x=(left - 6.0) y=(y + 14.0) text-anchor="end" { "#" (inc.id) " " (truncate(&inc.title, 28)) }
                        rect x=(left) y=(y) width=(width) height="20" fill="#eee" stroke="#777" {}
                        rect.used x=(left) y=(y) width=(format!("{:.1}", used * width)) height="20" fill=(if overdue { "#a4161a" } else if left_ns < 3_600_000_000_000 { "#b35806" } else { "#1f4e9c" }) {
                            title { "Clock started " (crate::when(inc.clock_start_ns)) "; deadline " (crate::when(inc.deadline_ns)) }
                        }
                        text x=(left + width + 6.0) y=(y + 14.0) {
                            @if overdue { "OVERDUE " (crate::duration(left_ns)) } @else { (crate::duration(left_ns)) " left" }
                        }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Lines received per bucket (oldest first), as bars.
pub fn ingest_rate(buckets: &[(i64, u64)], bucket_ns: i64) -> Markup {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let (left, width, top, height) = (60.0, 720.0, 10.0, 150.0);
    let bw = width / n;
    html! {
        figure {
            svg.ingest xmlns="http://www.w3.org/2000/svg" width="800" height="190" viewBox="0 0 800 190" role="img" aria-labelledby="ingest-title" {
                title #ingest-title { "Lines received per " (crate::duration(bucket_ns)) }
                text x=(left - 4.0) y=(top + 4.0) text-anchor="end" { (max as u64) }
                text x=(left - 4.0) y=(top + height) text-anchor="end" { "0" }
                @for (i, (t, c)) in buckets.iter().enumerate() {
                    @let bh = *c as f64 / max * height;
                    rect x=(format!("{:.1}", left + i as f64 * bw)) y=(format!("{:.1}", top + height - bh)) width=(format!("{:.1}", (bw - 1.0).max(1.0))) height=(format!("{:.1}", bh)) fill="#1f4e9c" data-lines=(c) {
                        title { (crate::when(*t)) ": " (c) " lines" }
                    }
                }
                @if let (Some(f), Some(l)) = (buckets.first(), buckets.last()) {
                    text x=(left) y="180" { (crate::when(f.0)) }
                    text x=(left + width) y="180" text-anchor="end" { (crate::when(l.0)) }
                }
            }
        }
    }
}

/// Most parties drawn in one column of a trail (the table lists every one).
pub const TRAIL_COLUMN: usize = 30;

/// A trail of funds as a graph: one column per hop, a box per party
/// (customers, wallets, the order book), an arrow per transaction between
/// them (several between the same two parties are one arrow with a count).
pub fn trail_graph(trail: &pramaan_app::vasp::Trail) -> Markup {
    use std::collections::BTreeMap;
    const COL: i64 = 250;
    const ROW: i64 = 40;
    const BOX_W: i64 = 190;
    const BOX_H: i64 = 26;
    let mut place: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut per_col: BTreeMap<u32, usize> = BTreeMap::new();
    let mut hidden: BTreeMap<u32, usize> = BTreeMap::new();
    for n in &trail.nodes {
        let i = per_col.entry(n.hop).or_default();
        if *i < TRAIL_COLUMN {
            place.insert(&n.id, (10 + i64::from(n.hop) * COL, 30 + *i as i64 * ROW));
        } else {
            *hidden.entry(n.hop).or_default() += 1;
        }
        *i += 1;
    }
    let cols = per_col.keys().max().map_or(1, |m| i64::from(*m) + 1);
    let rows = per_col
        .values()
        .map(|n| (*n).min(TRAIL_COLUMN) + 1)
        .max()
        .unwrap_or(1) as i64;
    let (w, h) = (20 + cols * COL, 40 + rows * ROW);
    let mut arrows: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in &trail.edges {
        *arrows.entry((e.from.as_str(), e.to.as_str())).or_default() += 1;
    }
    html! {
        figure {
            svg.trail xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}"))
                role="img" aria-labelledby="trail-title" {
                title #trail-title { "The trail: " (trail.nodes.len()) " parties and " (trail.edges.len()) " transactions, by steps from the start" }
                defs {
                    marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" {}
                    }
                }
                @for hop in per_col.keys() {
                    text x=(10 + i64::from(*hop) * COL) y="16" { "hop " (hop) }
                }
                @for ((from, to), n) in &arrows {
                    @if let (Some(a), Some(b)) = (place.get(from), place.get(to)) {
                        @let (x1, y1, x2, y2) = if a.0 <= b.0 {
                            (a.0 + BOX_W, a.1 + BOX_H / 2, b.0, b.1 + BOX_H / 2)
                        } else {
                            (a.0, a.1 + BOX_H / 2, b.0 + BOX_W, b.1 + BOX_H / 2)
                        };
                        @let (x2, y2) = if a == b { (x1 + 20, y1 + 8) } else { (x2, y2) };
                        g.flow data-from=(from) data-to=(to) {
                            title { (from) " → " (to) ": " (n) " transaction(s)" }
                            line x1=(x1) y1=(y1) x2=(x2) y2=(y2) marker-end="url(#arrow)" {}
                            @if *n > 1 { text x=((x1 + x2) / 2) y=((y1 + y2) / 2 - 3) { (n) } }
                        }
                    }
                }
                @for n in &trail.nodes {
                    @if let Some((x, y)) = place.get(n.id.as_str()) {
                        g class=(n.kind.as_str()) data-node=(n.id) transform=(format!("translate({x},{y})")) {
                            title { (n.label) @if !n.ips.is_empty() { " (IP " (n.ips.join(", ")) ")" } }
                            rect width=(BOX_W) height=(BOX_H) rx="4" {}
                            text x="6" y="17" { (truncate(&n.label, 23)) }
                        }
                    }
                }
                @for (hop, n) in &hidden {
                    text x=(10 + i64::from(*hop) * COL) y=(h - 10) { "+" (n) " more (see the table)" }
                }
            }
            figcaption { "Arrows go the way the funds went; blue: customers, grey: wallets on a chain, amber: the order book. Hover a box for its IP addresses." }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_trail_graph_closes_its_shapes_and_says_what_it_leaves_out() {
        use pramaan_app::vasp::{Node, Trail};
        let node = |id: String, hop: u32| Node {
            label: id.trim_start_matches("customer:").to_owned(),
            kind: "customer".into(),
            id,
            hop,
            ips: vec!["198.51.100.1".into()],
        };
        let mut t = Trail::default();
        t.nodes.push(node("customer:C-0".into(), 0));
        for i in 1..=(TRAIL_COLUMN + 5) {
            t.nodes.push(node(format!("customer:C-{i}"), 1));
        }
        let svg = trail_graph(&t).into_string();
        // Inside HTML, an SVG shape must be closed, or what follows becomes its child.
        assert_eq!(svg.matches("<rect").count(), TRAIL_COLUMN + 1);
        assert_eq!(svg.matches("</rect>").count(), TRAIL_COLUMN + 1);
        assert!(
            svg.contains(">C-0</text>") && svg.contains("(IP 198.51.100.1)"),
            "{svg}"
        );
        assert!(svg.contains("+5 more (see the table)"), "{svg}");
    }

    use super::*;

    #[test]
    fn the_gap_day_is_the_silent_cell() {
        let today = ist_day(1_764_300_000_000_000_000);
        let s = SourceDays {
            source: "fw1".into(),
            counts: vec![(today - 3, 5), (today - 1, 120), (today, 4000)],
        };
        let row = coverage_row(&s, today, 10);
        assert_eq!(row.len(), 10);
        let cell = |d: i64| row.iter().find(|r| r.0 == d).unwrap().2;
        assert_eq!(cell(today - 4), Cell::Before);
        assert_eq!(cell(today - 3), Cell::Lines(1));
        assert_eq!(cell(today - 2), Cell::Silent);
        assert_eq!(cell(today - 1), Cell::Lines(3));
        assert_eq!(cell(today), Cell::Lines(4));
        let svg = heatmap(&[s], None, today, 10).into_string();
        let gap = day_label(today - 2);
        assert!(
            svg.contains(&format!(
                r#"<rect class="silent" x="{}""#,
                LABEL_W + 7 * CELL
            )),
            "{svg}"
        );
        assert_eq!(svg.matches(r#"class="silent""#).count(), 1);
        assert!(svg.contains(r#"<g data-source="fw1""#), "{svg}");
        assert!(svg.contains(&format!(r#"data-day="{gap}" data-lines="0""#)));
        // The days before the first line are one grey bar, not a cell each.
        assert_eq!(svg.matches(r#"class="before""#).count(), 1);
        assert_eq!(svg.matches("data-day=").count(), 4);
    }

    fn src(name: &str, counts: &[(i64, u64)]) -> SourceDays {
        SourceDays {
            source: name.into(),
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn problems_rank_first_then_the_busiest() {
        let t = 1000;
        let ranked = rank(
            vec![
                src("busy", &[(t - 2, 900), (t - 1, 900), (t, 900)]),
                src("quiet", &[(t - 2, 1), (t - 1, 1), (t, 1)]),
                src("gappy", &[(t - 2, 5), (t, 5)]),
                src("silent-1", &[(t - 2, 5), (t - 1, 5)]),
                src("silent-2", &[(t - 2, 5000)]),
                src("new", &[(t, 1)]),
            ],
            t,
            10,
        );
        let names: Vec<&str> = ranked.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(
            names,
            ["silent-2", "silent-1", "gappy", "busy", "quiet", "new"]
        );
        let s = summary(&ranked[0], t, 10);
        assert_eq!(
            s,
            SourceSummary {
                source: "silent-2".into(),
                lines: 5000,
                silent_days: 2,
                silent_today: true,
                silent_for: 2,
                last_day: Some(t - 2),
            }
        );
    }

    #[test]
    fn the_others_row_adds_up_what_is_left_out() {
        let t = 1000;
        let rest = vec![
            src("a", &[(t - 1, 3)]),
            src("b", &[(t - 1, 4), (t, 1)]),
            src("c", &[(t - 50, 9)]),
        ];
        let o = others(&rest, t, 10).unwrap();
        assert_eq!(o.sources, 3);
        assert_eq!(o.silent_today, 1, "c is outside the window");
        assert_eq!(o.counts, vec![(t - 1, 7), (t, 1)]);
        assert!(others(&[], t, 10).is_none());
        let svg = heatmap(&rest[..1], Some(&o), t, 10).into_string();
        assert!(svg.contains("others (3 sources)"), "{svg}");
        assert!(svg.contains(r#"data-others="3""#));
        assert!(svg.contains(": 7 lines from 3 sources"), "{svg}");
    }

    #[test]
    fn a_heatmap_grows_with_its_rows_not_with_long_names() {
        let t = 20_000;
        let full: Vec<(i64, u64)> = (t - 179..=t).map(|d| (d, 1234)).collect();
        let long = "h".repeat(255);
        let rows: Vec<SourceDays> = (0..50).map(|i| src(&format!("{long}{i}"), &full)).collect();
        let o = others(&rows, t, 180);
        let svg = heatmap(&rows, o.as_ref(), t, 180).into_string();
        // 51 rows of 180 days each, every cell drawn: at most about 24 KB a row.
        assert!(svg.len() < 51 * 24_500, "{} bytes", svg.len());
        assert_eq!(
            svg.matches(&long).count(),
            2 * 50,
            "the name twice per row, never per cell"
        );
        assert!(svg.contains(&format!(">{}…</text>", "h".repeat(21))));
    }

    #[test]
    fn a_source_silent_today_is_named() {
        let today = 20_000;
        let s = vec![
            SourceDays {
                source: "a".into(),
                counts: vec![(today - 1, 3)],
            },
            SourceDays {
                source: "b".into(),
                counts: vec![(today, 3)],
            },
        ];
        assert_eq!(silent_today(&s, today, 180), vec!["a".to_string()]);
    }

    #[test]
    fn ist_days_turn_at_ist_midnight() {
        // 2026-03-02T18:29:59Z is 23:59:59 IST on the 2nd; a second later it is the 3rd.
        let t = 1_772_476_199_000_000_000i64;
        assert_eq!(day_label(ist_day(t)), "2026-03-02");
        assert_eq!(day_label(ist_day(t + 1_000_000_000)), "2026-03-03");
    }

    #[test]
    fn the_threshold_band_sits_at_plus_and_minus_the_threshold() {
        let s = vec![OffsetSeries {
            server: "ntp".into(),
            points: vec![(0, Some(10.0)), (10, Some(-40.0)), (20, None)],
        }];
        let sc = OffsetScale::new(&s, 100.0);
        assert_eq!(sc.limit_ms, 150.0);
        // 200 px for ±150 ms, centred at 120: +100 ms is 120 - 100/150*100.
        assert!((sc.y(100.0) - (120.0 - 200.0 / 3.0)).abs() < 1e-9);
        assert!((sc.y(-100.0) - (120.0 + 200.0 / 3.0)).abs() < 1e-9);
        let svg = offset_chart(&s, 100.0, 0, 20).into_string();
        assert!(svg.contains(&format!(r#"y="{}""#, sc.y(100.0))), "{svg}");
        assert!(svg.contains(&format!(r#"height="{}""#, sc.y(-100.0) - sc.y(100.0))));
        assert_eq!(svg.matches("class=\"inside\"").count(), 2);
        assert_eq!(
            svg.matches("no usable answer").count(),
            2,
            "the point and the caption"
        );
        // A point outside the band widens the scale and is marked outside.
        let s2 = vec![OffsetSeries {
            server: "ntp".into(),
            points: vec![(0, Some(400.0))],
        }];
        assert!((OffsetScale::new(&s2, 100.0).limit_ms - 440.0).abs() < 1e-9);
        assert!(offset_chart(&s2, 100.0, 0, 1)
            .into_string()
            .contains("class=\"outside\""));
    }

    #[test]
    fn incident_bars_show_time_left_and_overdue() {
        let h = 3_600_000_000_000i64;
        let svg = incident_bars(
            &[
                IncidentWindow {
                    id: 1,
                    title: "scan".into(),
                    clock_start_ns: 0,
                    deadline_ns: 6 * h,
                },
                IncidentWindow {
                    id: 2,
                    title: "leak".into(),
                    clock_start_ns: -7 * h,
                    deadline_ns: -h,
                },
            ],
            2 * h,
        )
        .into_string();
        assert!(svg.contains("4 h 0 min left"), "{svg}");
        assert!(svg.contains("OVERDUE 3 h 0 min"));
        // a third of the window used: 440 / 3
        assert!(svg.contains(r#"width="146.7""#), "{svg}");
    }

    #[test]
    fn ingest_bars_scale_to_the_busiest_bucket() {
        let svg = ingest_rate(&[(0, 10), (1, 5), (2, 0)], 3_600_000_000_000).into_string();
        assert!(
            svg.contains(r##"height="150.0" fill="#1f4e9c" data-lines="10""##),
            "{svg}"
        );
        assert!(svg.contains(r##"height="75.0" fill="#1f4e9c" data-lines="5""##));
    }

    proptest::proptest! {
        #[test]
        fn a_row_has_one_cell_per_day_and_silence_only_after_the_first_line(
            counts in proptest::collection::vec((0i64..40, 0u64..2000), 0..30)
        ) {
            let s = SourceDays { source: "x".into(), counts };
            let row = coverage_row(&s, 39, 40);
            proptest::prop_assert_eq!(row.len(), 40);
            let first = row.iter().position(|r| r.1 > 0);
            for (i, (_, n, c)) in row.iter().enumerate() {
                match c {
                    Cell::Silent => proptest::prop_assert!(*n == 0 && first.is_some_and(|f| i > f)),
                    Cell::Before => proptest::prop_assert!(*n == 0 && first.is_none_or(|f| i < f)),
                    Cell::Lines(_) => proptest::prop_assert!(*n > 0),
                }
            }
        }
    }
}
